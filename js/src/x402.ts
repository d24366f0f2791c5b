// x402 version 2, scheme `uraiden-channel` (docs/http-protocol.md): the header codecs, and a
// scheme client for the official SDK (@x402/core) that opens and tops up its channel itself.

import { type Address, type Hex, getAddress } from "viem";
import { tokenOf } from "./chain.js";
import { type Channel, sameAddress } from "./channel.js";
import type { ChannelClient } from "./client.js";
import type { DepositMethod } from "./deposit.js";
import { UraidenError } from "./errors.js";
import type { SessionOffer } from "./sessions.js";
import { DOMAIN_NAME, DOMAIN_VERSION } from "./typedData.js";

/** The scheme's name. */
export const SCHEME = "uraiden-channel";
/** The request header carrying a payment. */
export const PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE";
/** The 402 header carrying the terms. */
export const PAYMENT_REQUIRED = "PAYMENT-REQUIRED";
/** The paid answer's receipt header. */
export const PAYMENT_RESPONSE = "PAYMENT-RESPONSE";

/** One entry of `accepts` (the fields this scheme reads). */
export interface PaymentRequirements {
  scheme: string;
  network: string;
  amount: string;
  asset: string;
  payTo: string;
  maxTimeoutSeconds?: number;
  extra?: {
    name?: string;
    version?: string;
    verifyingContract?: string;
    challengePeriod?: number;
    confirmations?: number;
    /** With `amount_mismatch`: the last registered balance and its proof. */
    channel?: { balance: string; signature: string };
    /** Prepaid sessions, when the route sells them. */
    session?: SessionOffer;
  };
}

/** The decoded `PAYMENT-REQUIRED`. */
export interface PaymentRequired {
  x402Version: number;
  error?: string;
  resource?: { url: string; description?: string; mimeType?: string };
  accepts: PaymentRequirements[];
}

/** The decoded `PAYMENT-RESPONSE`. */
export interface SettleResponse {
  success: boolean;
  network?: string;
  payer?: string;
  amount?: string;
  extra?: { openBlockNumber?: number; balance?: string };
}

/** base64 of the UTF-8 JSON of `value`. */
export function encodeHeader(value: unknown): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The JSON in a base64 header value. */
export function decodeHeader<T>(value: string): T {
  const binary = atob(value.trim());
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as T;
}

/** The chain id of a CAIP-2 `eip155:<id>` network. */
export function chainIdOf(network: string): number {
  const match = /^eip155:(\d+)$/.exec(network);
  if (!match) throw new UraidenError("protocol", `network ${JSON.stringify(network)} is not eip155:<chain id>`);
  return Number(match[1]);
}

/**
 * Throws unless `requirements` are this scheme's on the client's chain and contract, paid in the
 * contract's token: a server never chooses where a sender's tokens go.
 */
export function checkRequirements(requirements: PaymentRequirements, chainId: number, contract: Address, token?: Address) {
  if (requirements.scheme !== SCHEME) throw new UraidenError("protocol", `scheme ${requirements.scheme} is not ${SCHEME}`);
  const extra = requirements.extra ?? {};
  if (extra.name !== DOMAIN_NAME || extra.version !== DOMAIN_VERSION) {
    throw new UraidenError("protocol", `the requirements' domain is ${extra.name} ${extra.version}, not ${DOMAIN_NAME} ${DOMAIN_VERSION}`);
  }
  if (chainIdOf(requirements.network) !== chainId) {
    throw new UraidenError("wrong_network", `the server asks payment on ${requirements.network}; this client is on eip155:${chainId}`);
  }
  if (!sameAddress(extra.verifyingContract, contract)) {
    throw new UraidenError("protocol", `the server names contract ${extra.verifyingContract}; this client's is ${contract}`);
  }
  if (token !== undefined && !sameAddress(requirements.asset, token)) {
    throw new UraidenError("protocol", `the server asks for asset ${requirements.asset}; the contract's token is ${token}`);
  }
  if (!/^\d+$/.test(requirements.amount)) throw new UraidenError("protocol", `the amount ${requirements.amount} is not an integer`);
}

/** The payload of a payment of `signed` on `channel` (buying `sessionRequests` requests, if given). */
export function paymentPayload(channel: Channel, signed: { balance: bigint; signature: Hex }, sessionRequests?: number) {
  return {
    sender: channel.sender,
    openBlockNumber: channel.openBlock,
    balance: signed.balance.toString(),
    signature: signed.signature,
    ...(sessionRequests !== undefined && sessionRequests > 1 ? { sessionRequests } : {}),
  };
}

/** Options of the scheme client. */
export interface UraidenSchemeOptions {
  /** The most one payment may cost (token base units); more is refused. */
  maxAmount?: bigint;
  /** The deposit of a new channel, and the least of a top-up (default: 10 prices). */
  deposit?: bigint;
  /** The most this client may deposit in one channel, over all its top-ups (default: no cap). */
  maxDeposit?: bigint;
  /** How deposits move (default `erc20`). */
  method?: DepositMethod;
  /**
   * Where a route sells prepaid sessions, the most requests one payment may buy (default 1:
   * never prepay). Use the SDK's paying fetch over `withSessions(fetch)`, which spends them.
   */
  maxPrepay?: number;
}

/**
 * The scheme client for `@x402/core`: pays each request from the sender's channel to the
 * requirements' `payTo`, opening it (or topping it up) from the signer's tokens when needed
 * and waiting for the confirmations the server asks. Call `acknowledge` with each paid answer's
 * settlement response.
 */
export class UraidenChannelScheme {
  readonly scheme = SCHEME;
  #channels = new Map<string, Channel>();
  /** The contract's token, read once: the only asset this scheme pays in. */
  #token?: Address;

  constructor(
    readonly client: ChannelClient,
    readonly options: UraidenSchemeOptions = {},
  ) {}

  /** The channel the last payment to `receiver` was signed on. */
  channelTo(receiver: string): Channel | undefined {
    return this.#channels.get(receiver.toLowerCase());
  }

  async createPaymentPayload(x402Version: number, requirements: PaymentRequirements) {
    const { ctx } = this.client;
    this.#token ??= await tokenOf(ctx);
    checkRequirements(requirements, ctx.chainId, ctx.contract, this.#token);
    const amount = BigInt(requirements.amount);
    if (this.options.maxAmount !== undefined && amount > this.options.maxAmount) {
      throw new UraidenError("protocol", `the server asks ${amount}; the cap is ${this.options.maxAmount}`);
    }
    const receiver = getAddress(requirements.payTo);
    const confirmations = (requirements.extra?.confirmations ?? 0) + 1;
    let channel = this.channelTo(receiver) ?? (await this.client.channel(receiver));
    if (channel && channel.status !== "open") channel = undefined;
    const offered = requirements.extra?.channel;
    if (channel && offered) {
      await this.client.adopt(channel, { balance: BigInt(offered.balance), signature: offered.signature as Hex });
    }
    const least = this.options.deposit ?? amount * 10n;
    if (!channel) {
      this.checkCap(0n, least);
      channel = await this.client.open(receiver, least, { method: this.options.method, confirmations });
    } else if (channel.balance + amount > channel.deposit) {
      const needed = channel.balance + amount - channel.deposit;
      const added = needed > least ? needed : least;
      this.checkCap(channel.deposit, added);
      channel = await this.client.topUp(channel, added, { method: this.options.method, confirmations });
    }
    this.#channels.set(receiver.toLowerCase(), channel);
    const requests = this.requestsToBuy(requirements, channel, amount);
    const signed = await this.client.pay(channel, amount * BigInt(requests));
    return { x402Version, payload: paymentPayload(channel, signed, requests) };
  }

  /** 1, or a session of up to the offer's and `maxPrepay` requests that the deposit covers. */
  private requestsToBuy(requirements: PaymentRequirements, channel: Channel, amount: bigint): number {
    const offer = requirements.extra?.session;
    const most = Math.min(offer?.maxRequests ?? 1, this.options.maxPrepay ?? 1);
    if (most < 2 || amount === 0n) return 1;
    const affordable = (channel.deposit - channel.balance) / amount;
    const n = affordable < BigInt(most) ? Number(affordable) : most;
    return n >= 2 ? n : 1;
  }

  private checkCap(deposit: bigint, added: bigint) {
    const cap = this.options.maxDeposit;
    if (cap !== undefined && deposit + added > cap) {
      throw new UraidenError("insufficient_deposit", `a deposit of ${deposit + added} would pass the cap of ${cap}`);
    }
  }

  /**
   * Adopts a paid answer's settlement: only the balance this client signed last on that
   * channel; any other balance is a protocol error and changes nothing.
   */
  acknowledge(settlement: SettleResponse, receiver: string): Channel {
    if (!settlement?.success) throw new UraidenError("server", "the payment was not settled");
    const channel = this.channelTo(receiver);
    if (!channel || settlement.extra?.openBlockNumber !== channel.openBlock) {
      throw new UraidenError("protocol", "the settlement is for another channel");
    }
    let reported: bigint;
    try {
      reported = BigInt(settlement.extra?.balance ?? "");
    } catch {
      throw new UraidenError("protocol", `the settlement's balance ${JSON.stringify(settlement.extra?.balance)} is not an integer`);
    }
    return this.client.acknowledge(channel, reported);
  }
}
