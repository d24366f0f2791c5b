// Where a client remembers its channels: per (chain, contract, account, receiver), the channel
// it pays with, in localStorage in a browser and in memory in Node (or any Storage-like object).

import type { Address } from "viem";
import type { Channel } from "./channel.js";

/** The part of the Web Storage API this needs (`localStorage` is one). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A Storage in memory: for Node, and for pages where localStorage is refused. */
export class MemoryStorage implements KeyValueStorage {
  #items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.#items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.#items.delete(key);
  }
}

/** `localStorage` where a page has it, else a MemoryStorage. */
export function defaultStorage(): KeyValueStorage {
  try {
    const storage = (globalThis as { localStorage?: KeyValueStorage }).localStorage;
    if (storage) {
      const probe = "uraiden:probe";
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return storage;
    }
  } catch {
    // Storage refused (private mode, a sandboxed frame): remember in memory.
  }
  return new MemoryStorage();
}

/** Which channel slot: one per (chain, contract, account, receiver). */
export interface ChannelSlot {
  chainId: number;
  contract: Address;
  sender: Address;
  receiver: Address;
}

/** The storage key of a slot. */
export function channelKey(slot: ChannelSlot): string {
  return ["uraiden", "v1", slot.chainId, slot.contract, slot.sender, slot.receiver]
    .map((part) => String(part).toLowerCase())
    .join(":");
}

const BIGINTS = ["deposit", "balance", "closingBalance", "settleBlock"] as const;

function encode(channel: Channel): string {
  return JSON.stringify(channel, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
}

function decode(text: string): Channel | undefined {
  try {
    const raw = JSON.parse(text);
    for (const key of BIGINTS) if (raw[key] !== undefined) raw[key] = BigInt(raw[key]);
    if (raw.signed) raw.signed.balance = BigInt(raw.signed.balance);
    if (typeof raw.openBlock !== "number" || typeof raw.chainId !== "number") return undefined;
    return raw as Channel;
  } catch {
    return undefined;
  }
}

/** The channels a client remembers. */
export class ChannelStore {
  constructor(readonly storage: KeyValueStorage = defaultStorage()) {}

  /** The remembered channel of `slot`, if any (an unreadable entry is no channel). */
  get(slot: ChannelSlot): Channel | undefined {
    const text = this.storage.getItem(channelKey(slot));
    return text === null ? undefined : decode(text);
  }

  /** Remembers `channel` as its slot's; a settled channel is forgotten instead. */
  put(channel: Channel): void {
    if (channel.status === "settled") {
      this.forget(channel);
      return;
    }
    this.storage.setItem(channelKey(channel), encode(channel));
  }

  /** Forgets the channel of `slot`. */
  forget(slot: ChannelSlot): void {
    this.storage.removeItem(channelKey(slot));
  }
}
