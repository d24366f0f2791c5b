// Closing: cooperatively through the receiver's API (its closing signature checked before it
// is sent on chain), or by the sender alone (a close request, then settle after the challenge
// period).

import { type Hex, isHex, parseEventLogs, recoverTypedDataAddress } from "viem";
import { channelsAbi } from "./abi.js";
import { type ChainContext, challengePeriodOf, send } from "./chain.js";
import { type Channel, sameAddress } from "./channel.js";
import { UraidenError } from "./errors.js";
import { signBalance } from "./pay.js";
import { channelDomain, closeRequest, closingAgreement } from "./typedData.js";

/** The management API's base path (the server's `RDN-Gateway-Path`). */
export const API_BASE = "/api/1";

/** The path of one channel on the management API. */
export function channelPath(apiBase: string, channel: Channel): string {
  return `${apiBase}/channels/${channel.sender}/${channel.openBlock}`;
}

/** The balance proof of the acknowledged balance (the one last signed, when it is that). */
async function proofOfBalance(ctx: ChainContext, channel: Channel): Promise<Hex> {
  if (channel.signed && channel.signed.balance === channel.balance) return channel.signed.signature;
  return signBalance(ctx.signer, channel, channel.balance);
}

/** Options of a cooperative close. */
export interface CooperativeCloseOptions {
  /** The server's origin, e.g. `https://shop.example` (default: none, a relative URL for a page). */
  origin?: string;
  /** The management API's base path (default `/api/1`). */
  apiBase?: string;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  confirmations?: number;
}

/**
 * Closes `channel` at its acknowledged balance with the receiver's agreement: the sender signs
 * the close request, the receiver answers its closing signature, which must recover to the
 * receiver before anything is sent on chain; then one transaction settles the channel.
 */
export async function closeCooperatively(
  ctx: ChainContext,
  channel: Channel,
  { origin = "", apiBase = API_BASE, fetch: fetcher = globalThis.fetch, confirmations = 1 }: CooperativeCloseOptions = {},
): Promise<Channel> {
  if (channel.status === "settled") throw new UraidenError("not_open", "the channel is settled");
  const domain = channelDomain(channel.chainId, channel.contract);
  // Prepaid sessions' unused requests are refunded: the receiver says what they come to, and the
  // sender signs that much less (never more than it acknowledged).
  const refund = await unusedPrepaid(`${origin}${channelPath(apiBase, channel)}`, fetcher);
  const balance = refund > 0n && refund <= channel.balance ? channel.balance - refund : channel.balance;
  const balanceSignature =
    balance === channel.balance ? await proofOfBalance(ctx, channel) : await signBalance(ctx.signer, channel, balance);
  const closeRequestSignature = await ctx.signer.wallet.signTypedData({
    account: ctx.signer.account,
    ...closeRequest(domain, channel.receiver, channel.openBlock, balance),
  });
  const response = await fetcher(`${origin}${channelPath(apiBase, channel)}`, {
    method: "DELETE",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      balance: balance.toString(),
      balance_signature: balanceSignature,
      close_request_signature: closeRequestSignature,
    }),
  });
  const body = await response.json().catch(() => undefined);
  if (!response.ok) {
    const reason = body?.message ?? body?.error ?? response.statusText;
    throw new UraidenError("server", `the receiver refused the close (${response.status}): ${reason}`);
  }
  const closingSignature = body?.close_signature;
  if (typeof closingSignature !== "string" || !isHex(closingSignature)) {
    throw new UraidenError("server", "the receiver's answer holds no close_signature");
  }
  let signer;
  try {
    signer = await recoverTypedDataAddress({
      ...closingAgreement(domain, balanceSignature),
      signature: closingSignature,
    });
  } catch (cause) {
    throw new UraidenError("protocol", "the receiver's closing signature is not a signature", { cause });
  }
  if (!sameAddress(signer, channel.receiver)) {
    throw new UraidenError("protocol", `the closing signature is ${signer}'s, not the receiver's`);
  }
  await send(
    ctx,
    {
      address: channel.contract,
      abi: channelsAbi,
      functionName: "close",
      args: [channel.receiver, channel.openBlock, balance, balanceSignature, closingSignature],
    },
    confirmations,
  );
  channel.balance = balance;
  channel.status = "settled";
  return channel;
}

/**
 * What the receiver says the channel at `url` prepaid and did not use (`unused_prepaid`); 0 when
 * it does not say within 10 s.
 */
async function unusedPrepaid(url: string, fetcher: typeof fetch): Promise<bigint> {
  try {
    const response = await fetcher(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) return 0n;
    const unused = (await response.json())?.unused_prepaid;
    return typeof unused === "string" && /^\d+$/.test(unused) ? BigInt(unused) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * The sender's close request at the acknowledged balance, without the receiver: the challenge
 * period starts (the receiver may still answer with a higher proof); `settle` after it.
 */
export async function requestClose(
  ctx: ChainContext,
  channel: Channel,
  { confirmations = 1 }: { confirmations?: number } = {},
): Promise<Channel> {
  if (channel.status !== "open") throw new UraidenError("not_open", `the channel is ${channel.status}`);
  const balanceSignature = await proofOfBalance(ctx, channel);
  const receipt = await send(
    ctx,
    {
      address: channel.contract,
      abi: channelsAbi,
      functionName: "close",
      args: [channel.receiver, channel.openBlock, channel.balance, balanceSignature],
    },
    confirmations,
  );
  const [requested] = parseEventLogs({ abi: channelsAbi, eventName: "ChannelCloseRequested", logs: receipt.logs });
  const [settled] = parseEventLogs({ abi: channelsAbi, eventName: "ChannelSettled", logs: receipt.logs });
  if (settled) {
    channel.status = "settled";
    return channel;
  }
  if (!requested) throw new UraidenError("protocol", `transaction ${receipt.transactionHash} requested no close`);
  channel.status = "closing";
  channel.closingBalance = requested.args._balance;
  channel.settleBlock = receipt.blockNumber + (await challengePeriodOf(ctx));
  return channel;
}

/** Blocks left before `channel` can be settled (0: now). */
export async function blocksToSettle(ctx: ChainContext, channel: Channel): Promise<bigint> {
  if (channel.settleBlock === undefined) throw new UraidenError("not_open", "no close was requested");
  const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 });
  return head > channel.settleBlock ? 0n : channel.settleBlock - head + 1n;
}

/** Settles `channel` after its challenge period: the receiver gets the requested balance, the sender the rest. */
export async function settle(
  ctx: ChainContext,
  channel: Channel,
  { confirmations = 1 }: { confirmations?: number } = {},
): Promise<Channel> {
  const left = await blocksToSettle(ctx, channel);
  if (left > 0n) throw new UraidenError("too_early", `the challenge period ends in ${left} blocks`);
  await send(
    ctx,
    {
      address: channel.contract,
      abi: channelsAbi,
      functionName: "settle",
      args: [channel.receiver, channel.openBlock],
    },
    confirmations,
  );
  channel.status = "settled";
  return channel;
}
