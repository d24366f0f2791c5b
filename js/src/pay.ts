// Payments: a balance proof signed by the sender's wallet (eth_signTypedData_v4: the wallet
// shows the receiver, the open block and the balance), and the one rule for taking a balance
// from a server.

import { type Account, type Address, type Hex, type WalletClient, recoverTypedDataAddress } from "viem";
import { type Channel, sameAddress } from "./channel.js";
import { UraidenError } from "./errors.js";
import { balanceProof, channelDomain } from "./typedData.js";

/** What signs: a viem wallet client and the account it signs for (a local account or an address the wallet holds). */
export interface Signer {
  wallet: WalletClient;
  account: Account | Address;
}

/** The signer's address. */
export function signerAddress(signer: Signer): Address {
  return typeof signer.account === "string" ? signer.account : signer.account.address;
}

/** A balance proof: a cumulative balance and the sender's signature of it. */
export interface SignedBalance {
  balance: bigint;
  signature: Hex;
}

/** Signs the proof of `balance` on `channel` (nothing is recorded). */
export async function signBalance(signer: Signer, channel: Channel, balance: bigint): Promise<Hex> {
  if (!sameAddress(signerAddress(signer), channel.sender)) {
    throw new UraidenError("protocol", `the channel's sender is ${channel.sender}, not ${signerAddress(signer)}`);
  }
  const domain = channelDomain(channel.chainId, channel.contract);
  return signer.wallet.signTypedData({
    account: signer.account,
    ...balanceProof(domain, channel.receiver, channel.openBlock, balance),
  });
}

/**
 * Signs a payment of `amount` on `channel`: the proof of the acknowledged balance plus
 * `amount`, recorded as `channel.signed`. Refused when the channel is not open or its deposit
 * is short (`insufficient_deposit`: top up first).
 */
export async function signPayment(signer: Signer, channel: Channel, amount: bigint): Promise<SignedBalance> {
  if (amount < 0n) throw new UraidenError("protocol", `a price of ${amount} is negative`);
  if (channel.status !== "open") throw new UraidenError("not_open", `the channel is ${channel.status}`);
  const balance = channel.balance + amount;
  if (balance > channel.deposit) {
    throw new UraidenError(
      "insufficient_deposit",
      `paying ${amount} needs a balance of ${balance}, above the deposit of ${channel.deposit}`,
    );
  }
  const signature = await signBalance(signer, channel, balance);
  channel.signed = { balance, signature };
  return channel.signed;
}

/**
 * The adopt rule: a balance a server offers (a refusal's last registered balance) is taken
 * only when its signature is this sender's for exactly this channel and balance, and it is not
 * above the last balance this client signed (or, for a channel found without memory of its
 * payments, the deposit). Anything else is a protocol error and changes nothing.
 */
export async function adoptBalance(channel: Channel, offered: SignedBalance): Promise<void> {
  const domain = channelDomain(channel.chainId, channel.contract);
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({
      ...balanceProof(domain, channel.receiver, channel.openBlock, offered.balance),
      signature: offered.signature,
    });
  } catch (cause) {
    throw new UraidenError("protocol", `the server's balance ${offered.balance} carries no valid signature`, { cause });
  }
  if (!sameAddress(signer, channel.sender)) {
    throw new UraidenError(
      "protocol",
      `the server's balance ${offered.balance} is signed by ${signer}, not by this channel's sender`,
    );
  }
  const limit = channel.recovered ? channel.deposit : (channel.signed?.balance ?? channel.deposit);
  if (offered.balance > limit) {
    throw new UraidenError(
      "protocol",
      `the server's balance ${offered.balance} is above the last balance signed (${limit})`,
    );
  }
  channel.balance = offered.balance;
  if (channel.recovered || channel.signed === undefined || channel.signed.balance < offered.balance) {
    channel.signed = offered;
  }
  channel.recovered = false;
}

/**
 * A paid answer's receipt: the balance the server registered must be exactly the one this
 * client signed last; then it becomes the acknowledged balance.
 */
export function acknowledge(channel: Channel, registered: bigint): void {
  if (channel.signed === undefined) throw new UraidenError("protocol", "the server reports a payment never signed");
  if (registered !== channel.signed.balance) {
    throw new UraidenError(
      "protocol",
      `the server reports balance ${registered}, but the last balance signed is ${channel.signed.balance}`,
    );
  }
  channel.balance = registered;
}
