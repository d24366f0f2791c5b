// A channel as its sender sees it, and what the contract's events make of it (the same
// transition as the crate's channel::ChannelState::after).

import type { Address, Hex } from "viem";

/** Open, closing (the sender asked to close; the challenge period runs) or settled. */
export type ChannelStatus = "open" | "closing" | "settled";

/** Which channel: the contract on its chain, the sender, the receiver and the open block. */
export interface ChannelRef {
  chainId: number;
  contract: Address;
  sender: Address;
  receiver: Address;
  openBlock: number;
}

/** A channel and what its sender knows of it. */
export interface Channel extends ChannelRef {
  /** The deposit (token base units). */
  deposit: bigint;
  /** The balance the receiver acknowledged: what is paid. */
  balance: bigint;
  /** The last balance this client signed (≥ `balance`), with its signature. */
  signed?: { balance: bigint; signature: Hex };
  status: ChannelStatus;
  /** The balance of the sender's close request, once made. */
  closingBalance?: bigint;
  /** The block after which the sender may settle, once a close was requested. */
  settleBlock?: bigint;
  /**
   * Found on chain without this client's memory of its payments: `balance` is unknown (0) until
   * the receiver offers one, which the adopt rule then bounds by the deposit.
   */
  recovered?: boolean;
}

/** One of the contract's four channel events, as a change to the channel it names. */
export type ChannelEvent =
  | { kind: "opened"; deposit: bigint }
  | { kind: "toppedUp"; added: bigint; deposit: bigint }
  | { kind: "closeRequested"; balance: bigint; settleBlock: bigint }
  | { kind: "settled"; balance: bigint };

/** The chain's part of a channel's state. */
export interface ChainState {
  deposit: bigint;
  status: ChannelStatus;
  closingBalance?: bigint;
  settleBlock?: bigint;
}

/**
 * The state after `event`. A close request never reopens a settled channel; an opening seen
 * again gives the channel its deposit back.
 */
export function after(state: ChainState | undefined, event: ChannelEvent): ChainState | undefined {
  switch (event.kind) {
    case "opened":
      return state === undefined ? { deposit: event.deposit, status: "open" } : { ...state, deposit: event.deposit };
    case "toppedUp":
      return state && { ...state, deposit: event.deposit };
    case "closeRequested":
      if (!state || state.status === "settled") return state;
      return { ...state, status: "closing", closingBalance: event.balance, settleBlock: event.settleBlock };
    case "settled":
      return state && { ...state, status: "settled" };
  }
}

/** Whether two addresses are the same (any case). */
export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

/** Whether `a` and `b` are the same channel. */
export function sameChannel(a: ChannelRef, b: ChannelRef): boolean {
  return (
    a.chainId === b.chainId &&
    sameAddress(a.contract, b.contract) &&
    sameAddress(a.sender, b.sender) &&
    sameAddress(a.receiver, b.receiver) &&
    a.openBlock === b.openBlock
  );
}
