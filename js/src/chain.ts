// The chain a client works on: its public client (reads, simulations, receipts), the signer
// (transactions, signatures) and the channel contract.

import type { Address, Hash, PublicClient, TransactionReceipt } from "viem";
import { channelsAbi } from "./abi.js";
import { UraidenError, isUserRejection } from "./errors.js";
import { type Signer, signerAddress } from "./pay.js";

/** Where channels live and who acts. */
export interface ChainContext {
  publicClient: PublicClient;
  signer: Signer;
  /** The chain the contract is on. */
  chainId: number;
  /** The channel contract. */
  contract: Address;
}

/** The sender: the signer's address. */
export function senderOf(ctx: ChainContext): Address {
  return signerAddress(ctx.signer);
}

/** The token the contract escrows. */
export async function tokenOf(ctx: ChainContext): Promise<Address> {
  return ctx.publicClient.readContract({ address: ctx.contract, abi: channelsAbi, functionName: "token_address" });
}

/** The contract's challenge period, in blocks. */
export async function challengePeriodOf(ctx: ChainContext): Promise<bigint> {
  const period = await ctx.publicClient.readContract({
    address: ctx.contract,
    abi: channelsAbi,
    functionName: "challenge_period",
  });
  return BigInt(period);
}

/** Throws `wrong_network` unless the wallet is on the context's chain. */
export async function checkNetwork(ctx: ChainContext): Promise<void> {
  const walletChain = await ctx.signer.wallet.getChainId();
  if (walletChain !== ctx.chainId) {
    throw new UraidenError("wrong_network", `the wallet is on chain ${walletChain}, the channel on ${ctx.chainId}`);
  }
}

/**
 * Simulates a contract call from the sender (nothing is asked of the wallet if it would
 * revert), then has the wallet send it and waits for its receipt with `confirmations`.
 */
export async function send(
  ctx: ChainContext,
  call: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] },
  confirmations = 1,
): Promise<TransactionReceipt> {
  await checkNetwork(ctx);
  const account = ctx.signer.account;
  let request: object;
  try {
    // On the pending block: the next transaction's block number, which a channel's key holds
    // (at `latest`, an open in the block after another open to the same receiver collides).
    ({ request } = await ctx.publicClient.simulateContract({ ...(call as object), account, blockTag: "pending" } as never));
  } catch (cause) {
    const reason = (cause as { shortMessage?: string }).shortMessage ?? String(cause);
    throw new UraidenError("would_revert", `${call.functionName} would fail: ${reason}`, { cause });
  }
  let hash: Hash;
  try {
    hash = await ctx.signer.wallet.writeContract({ ...request, chain: null } as never);
  } catch (cause) {
    if (isUserRejection(cause)) throw new UraidenError("rejected", `the wallet refused ${call.functionName}`, { cause });
    throw cause;
  }
  const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash, confirmations });
  if (receipt.status !== "success") {
    throw new UraidenError("would_revert", `${call.functionName} reverted in transaction ${hash}`);
  }
  return receipt;
}
