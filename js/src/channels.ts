// Finding a sender's channels to a receiver from the contract's events, their state folded by
// the one transition (channel.ts `after`).

import type { Address } from "viem";
import { channelsAbi } from "./abi.js";
import { type ChainContext, senderOf } from "./chain.js";
import { type ChainState, type Channel, type ChannelEvent, after } from "./channel.js";

/** One event, where it is in the chain. */
interface Placed {
  openBlock: number;
  block: bigint;
  index: number;
  event: ChannelEvent;
}

/**
 * The sender's channels to `receiver` on the context's contract, oldest first, each in its
 * state after every event up to the latest block (`fromBlock`: where to start reading, the
 * contract's deployment block at best). Balances are unknown to the chain: each is 0 here, to
 * be taken from what the client remembers or, by the adopt rule, from the receiver.
 */
export async function findChannels(
  ctx: ChainContext,
  receiver: Address,
  { fromBlock = 0n }: { fromBlock?: bigint } = {},
): Promise<Channel[]> {
  const sender = senderOf(ctx);
  const args = { _sender: sender, _receiver: receiver };
  const read = (eventName: "ChannelCreated" | "ChannelToppedUp" | "ChannelCloseRequested" | "ChannelSettled") =>
    ctx.publicClient.getContractEvents({
      address: ctx.contract,
      abi: channelsAbi,
      eventName,
      args,
      fromBlock,
      toBlock: "latest",
      strict: true,
    });
  const period = BigInt(
    await ctx.publicClient.readContract({ address: ctx.contract, abi: channelsAbi, functionName: "challenge_period" }),
  );
  const [created, toppedUp, closeRequested, settled] = await Promise.all([
    read("ChannelCreated"),
    read("ChannelToppedUp"),
    read("ChannelCloseRequested"),
    read("ChannelSettled"),
  ]);
  const placed: Placed[] = [];
  const at = (log: { blockNumber: bigint | null; logIndex: number | null }) => ({
    block: log.blockNumber ?? 0n,
    index: log.logIndex ?? 0,
  });
  for (const log of created) {
    const args = log.args as { _deposit: bigint };
    placed.push({ openBlock: Number(log.blockNumber), ...at(log), event: { kind: "opened", deposit: args._deposit } });
  }
  for (const log of toppedUp) {
    const args = log.args as { _open_block_number: number; _added_deposit: bigint; _deposit: bigint };
    const event: ChannelEvent = { kind: "toppedUp", added: args._added_deposit, deposit: args._deposit };
    placed.push({ openBlock: Number(args._open_block_number), ...at(log), event });
  }
  for (const log of closeRequested) {
    const args = log.args as { _open_block_number: number; _balance: bigint };
    const settleBlock = (log.blockNumber ?? 0n) + period;
    const event: ChannelEvent = { kind: "closeRequested", balance: args._balance, settleBlock };
    placed.push({ openBlock: Number(args._open_block_number), ...at(log), event });
  }
  for (const log of settled) {
    const args = log.args as { _open_block_number: number; _balance: bigint };
    placed.push({ openBlock: Number(args._open_block_number), ...at(log), event: { kind: "settled", balance: args._balance } });
  }
  placed.sort((a, b) => (a.block === b.block ? a.index - b.index : a.block < b.block ? -1 : 1));
  const states = new Map<number, ChainState | undefined>();
  for (const { openBlock, event } of placed) states.set(openBlock, after(states.get(openBlock), event));
  const channels: Channel[] = [];
  for (const [openBlock, state] of states) {
    if (!state) continue;
    channels.push({
      chainId: ctx.chainId,
      contract: ctx.contract,
      sender,
      receiver,
      openBlock,
      balance: 0n,
      recovered: true,
      ...state,
    });
  }
  return channels.sort((a, b) => a.openBlock - b.openBlock);
}
