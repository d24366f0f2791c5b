// Opening and topping up a channel: by ERC20 (approve only when the allowance is short, then the
// contract call) or ERC223 (one transfer carrying the receiver, and the open block for a
// top-up), each simulated before the wallet is asked and waited for with its confirmations.

import { type Address, type Hex, type TransactionReceipt, encodePacked, parseEventLogs } from "viem";
import { channelsAbi, tokenAbi } from "./abi.js";
import { type ChainContext, send, senderOf, tokenOf } from "./chain.js";
import type { Channel } from "./channel.js";
import { UraidenError } from "./errors.js";

/** How a deposit moves: `erc20` (approve, then the contract pulls) or `erc223` (one transfer). */
export type DepositMethod = "erc20" | "erc223";

/** Options of a deposit. */
export interface DepositOptions {
  /** Default `erc20`. */
  method?: DepositMethod;
  /** Confirmations to wait for (default 1: mined). */
  confirmations?: number;
}

/** The largest deposit the contract holds (uint192). */
const MAX_DEPOSIT = (1n << 192n) - 1n;

function checkAmount(amount: bigint) {
  if (amount <= 0n || amount > MAX_DEPOSIT) {
    throw new UraidenError("would_revert", `a deposit of ${amount} is not between 1 and 2^192 - 1`);
  }
}

async function approveIfShort(ctx: ChainContext, token: Address, amount: bigint) {
  const allowance = await ctx.publicClient.readContract({
    address: token,
    abi: tokenAbi,
    functionName: "allowance",
    args: [senderOf(ctx), ctx.contract],
  });
  if (allowance < amount) {
    await send(ctx, { address: token, abi: tokenAbi, functionName: "approve", args: [ctx.contract, amount] });
  }
}

/**
 * Moves `amount` of the token into the contract: ERC223, one transfer carrying `data` (the
 * receiver, and the open block for a top-up); ERC20, an approval when the allowance is short,
 * then the contract's own call.
 */
async function move(
  ctx: ChainContext,
  amount: bigint,
  data: Hex,
  erc20: { functionName: "createChannelERC20" | "topUpERC20"; args: readonly unknown[] },
  { method = "erc20", confirmations = 1 }: DepositOptions,
): Promise<TransactionReceipt> {
  checkAmount(amount);
  const token = await tokenOf(ctx);
  if (method === "erc223") {
    const transfer = { address: token, abi: tokenAbi, functionName: "transfer", args: [ctx.contract, amount, data] };
    return send(ctx, transfer, confirmations);
  }
  await approveIfShort(ctx, token, amount);
  return send(ctx, { address: ctx.contract, abi: channelsAbi, ...erc20 }, confirmations);
}

/** Opens a channel to `receiver` with `deposit`; resolves once it has its confirmations. */
export async function openChannel(
  ctx: ChainContext,
  receiver: Address,
  deposit: bigint,
  options: DepositOptions = {},
): Promise<Channel> {
  const data = encodePacked(["address"], [receiver]);
  const call = { functionName: "createChannelERC20", args: [receiver, deposit] } as const;
  const receipt = await move(ctx, deposit, data, call, options);
  const [created] = parseEventLogs({ abi: channelsAbi, eventName: "ChannelCreated", logs: receipt.logs });
  if (!created) throw new UraidenError("protocol", `transaction ${receipt.transactionHash} opened no channel`);
  return {
    chainId: ctx.chainId,
    contract: ctx.contract,
    sender: senderOf(ctx),
    receiver,
    openBlock: Number(receipt.blockNumber),
    deposit: created.args._deposit,
    balance: 0n,
    status: "open",
  };
}

/** Adds `added` to `channel`'s deposit; updates `channel` once it has its confirmations. */
export async function topUp(
  ctx: ChainContext,
  channel: Channel,
  added: bigint,
  options: DepositOptions = {},
): Promise<Channel> {
  if (channel.status !== "open") throw new UraidenError("not_open", `the channel is ${channel.status}`);
  const data = encodePacked(["address", "uint32"], [channel.receiver, channel.openBlock]);
  const call = { functionName: "topUpERC20", args: [channel.receiver, channel.openBlock, added] } as const;
  const receipt = await move(ctx, added, data, call, options);
  const [topped] = parseEventLogs({ abi: channelsAbi, eventName: "ChannelToppedUp", logs: receipt.logs });
  if (!topped) throw new UraidenError("protocol", `transaction ${receipt.transactionHash} topped up no channel`);
  channel.deposit = topped.args._deposit;
  return channel;
}
