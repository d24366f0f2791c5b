// A sender's channels to receivers, remembered: the library's front door for a page or a
// program. Each operation updates the remembered channel (a settled one is forgotten).

import type { Address } from "viem";
import { type ChainContext, senderOf } from "./chain.js";
import type { Channel } from "./channel.js";
import { findChannels } from "./channels.js";
import { type CooperativeCloseOptions, blocksToSettle, closeCooperatively, requestClose, settle } from "./close.js";
import { type DepositOptions, openChannel, topUp } from "./deposit.js";
import { type SignedBalance, acknowledge, adoptBalance, signPayment } from "./pay.js";
import { ChannelStore } from "./storage.js";

/** Options of a client. */
export interface ChannelClientOptions {
  /** Where channels are remembered (default: localStorage in a page, memory elsewhere). */
  store?: ChannelStore;
  /** The block to read the contract's events from (its deployment block at best; default 0). */
  fromBlock?: bigint;
}

/** A sender's channels on one contract. */
export class ChannelClient {
  readonly store: ChannelStore;
  readonly fromBlock: bigint;

  constructor(
    readonly ctx: ChainContext,
    { store = new ChannelStore(), fromBlock = 0n }: ChannelClientOptions = {},
  ) {
    this.store = store;
    this.fromBlock = fromBlock;
  }

  /** The sender's address. */
  get sender(): Address {
    return senderOf(this.ctx);
  }

  private slot(receiver: Address) {
    return { chainId: this.ctx.chainId, contract: this.ctx.contract, sender: this.sender, receiver };
  }

  /** Remembers `channel` (forgets it once settled). */
  remember(channel: Channel): Channel {
    this.store.put(channel);
    return channel;
  }

  /**
   * The channel to pay `receiver` with: the remembered one with the chain's current state, or,
   * when none is remembered (or it was settled), the newest channel the chain shows that is not
   * settled. `undefined` when there is none.
   */
  async channel(receiver: Address): Promise<Channel | undefined> {
    const onChain = await findChannels(this.ctx, receiver, { fromBlock: this.fromBlock });
    const remembered = this.store.get(this.slot(receiver));
    if (remembered) {
      const current = onChain.find((c) => c.openBlock === remembered.openBlock);
      if (current && current.status !== "settled") {
        remembered.deposit = current.deposit;
        remembered.status = current.status;
        remembered.closingBalance = current.closingBalance;
        remembered.settleBlock = current.settleBlock;
        return this.remember(remembered);
      }
      // Settled, or gone with a reorg: forgotten.
      this.store.forget(remembered);
    }
    const live = onChain.filter((c) => c.status !== "settled");
    const newest = live[live.length - 1];
    return newest && this.remember(newest);
  }

  /** Opens a channel to `receiver` with `deposit` and remembers it. */
  async open(receiver: Address, deposit: bigint, options?: DepositOptions): Promise<Channel> {
    return this.remember(await openChannel(this.ctx, receiver, deposit, options));
  }

  /** Adds `added` to the channel's deposit. */
  async topUp(channel: Channel, added: bigint, options?: DepositOptions): Promise<Channel> {
    return this.remember(await topUp(this.ctx, channel, added, options));
  }

  /** Signs a payment of `amount` (see `signPayment`). */
  async pay(channel: Channel, amount: bigint): Promise<SignedBalance> {
    const signed = await signPayment(this.ctx.signer, channel, amount);
    this.remember(channel);
    return signed;
  }

  /** Takes a server's balance by the adopt rule (see `adoptBalance`). */
  async adopt(channel: Channel, offered: SignedBalance): Promise<Channel> {
    await adoptBalance(channel, offered);
    return this.remember(channel);
  }

  /** A paid answer's registered balance (see `acknowledge`). */
  acknowledge(channel: Channel, registered: bigint): Channel {
    acknowledge(channel, registered);
    return this.remember(channel);
  }

  /** Closes with the receiver's agreement (see `closeCooperatively`). */
  async closeCooperatively(channel: Channel, options?: CooperativeCloseOptions): Promise<Channel> {
    return this.remember(await closeCooperatively(this.ctx, channel, options));
  }

  /** Asks to close alone (see `requestClose`). */
  async requestClose(channel: Channel, options?: { confirmations?: number }): Promise<Channel> {
    return this.remember(await requestClose(this.ctx, channel, options));
  }

  /** Blocks left before the channel can be settled. */
  async blocksToSettle(channel: Channel): Promise<bigint> {
    return blocksToSettle(this.ctx, channel);
  }

  /** Settles after the challenge period (see `settle`). */
  async settle(channel: Channel, options?: { confirmations?: number }): Promise<Channel> {
    return this.remember(await settle(this.ctx, channel, options));
  }
}
