// The library without a chain: storage, the adopt rule, receipts, the x402 terms check, the
// generated ABI module.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  ChannelStore,
  MemoryStorage,
  UraidenError,
  acknowledge,
  adoptBalance,
  channelKey,
  channelsAbi,
  checkRequirements,
  decodeHeader,
  encodeHeader,
  signBalance,
  signPayment,
  tokenAbi,
} from "../../build/index.js";

const sender = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const stranger = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const RECEIVER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
// No request reaches this URL: signing with a local account is local.
const signer = (account) => ({ wallet: createWalletClient({ account, transport: http("http://127.0.0.1:9") }), account });

function channel(overrides = {}) {
  return {
    chainId: 31337,
    contract: CONTRACT,
    sender: sender.address,
    receiver: RECEIVER,
    openBlock: 42,
    deposit: 100n,
    balance: 0n,
    status: "open",
    ...overrides,
  };
}

const protocolError = (error) => error instanceof UraidenError && error.code === "protocol";

test("the ABI module is the ABI files", () => {
  const file = (name) => JSON.parse(readFileSync(new URL(`../../src/abi/${name}`, import.meta.url), "utf8"));
  assert.deepEqual(channelsAbi, file("channels.json"));
  assert.deepEqual(tokenAbi, file("token.json"));
});

test("a channel is remembered per chain, contract, account and receiver, and forgotten once settled", () => {
  const storage = new MemoryStorage();
  const store = new ChannelStore(storage);
  const ch = channel({ signed: { balance: 7n, signature: "0x01" }, balance: 5n });
  store.put(ch);
  const key = channelKey(ch);
  assert.equal(key, `uraiden:v1:31337:${CONTRACT.toLowerCase()}:${sender.address.toLowerCase()}:${RECEIVER.toLowerCase()}`);
  assert.deepEqual(store.get({ ...ch, sender: sender.address.toUpperCase().replace("0X", "0x") }), ch, "any case");
  for (const other of [{ chainId: 1 }, { contract: RECEIVER }, { sender: stranger.address }, { receiver: CONTRACT }]) {
    assert.equal(store.get({ ...ch, ...other }), undefined, JSON.stringify(other));
  }
  storage.setItem(key, "{not json");
  assert.equal(store.get(ch), undefined, "an unreadable entry is no channel");
  store.put(ch);
  store.put({ ...ch, status: "settled" });
  assert.equal(storage.getItem(key), null, "settled: forgotten");
});

test("a payment signs the acknowledged balance plus the price, never past the deposit", async () => {
  const ch = channel({ balance: 90n });
  const signed = await signPayment(signer(sender), ch, 10n);
  assert.equal(signed.balance, 100n);
  assert.deepEqual(ch.signed, signed);
  await assert.rejects(signPayment(signer(sender), ch, 1n + 10n), (e) => e.code === "insufficient_deposit");
  await assert.rejects(signPayment(signer(sender), { ...ch, status: "closing" }, 1n), (e) => e.code === "not_open");
  await assert.rejects(signPayment(signer(stranger), channel(), 1n), protocolError, "another account's channel");
});

test("the adopt rule: only the sender's own signature, for this channel, not above what it signed", async () => {
  const ch = channel();
  await signPayment(signer(sender), ch, 30n); // signed 30, acknowledged 0
  const own = async (balance, c = ch) => ({ balance, signature: await signBalance(signer(sender), c, balance) });

  const lower = await own(20n);
  await adoptBalance(ch, lower);
  assert.equal(ch.balance, 20n, "own signature below the last signed: adopted");
  assert.equal(ch.signed.balance, 30n, "the last signed stays");

  const before = structuredClone(ch);
  await assert.rejects(adoptBalance(ch, await own(31n)), protocolError, "above the last signed");
  const foreign = { balance: 25n, signature: await signBalance(signer(stranger), { ...ch, sender: stranger.address }, 25n) };
  await assert.rejects(adoptBalance(ch, foreign), protocolError, "someone else's signature");
  for (const other of [{ openBlock: 43 }, { contract: RECEIVER }, { chainId: 1 }, { receiver: CONTRACT }]) {
    const elsewhere = await own(25n, { ...ch, ...other });
    await assert.rejects(adoptBalance(ch, elsewhere), protocolError, `a proof for ${JSON.stringify(other)}`);
  }
  await assert.rejects(adoptBalance(ch, { balance: 25n, signature: "0x1234" }), protocolError, "not a signature");
  assert.deepEqual(ch, before, "a refused balance changes nothing");

  const fresh = channel(); // nothing signed yet: the deposit bounds it
  await adoptBalance(fresh, await own(100n, fresh));
  assert.equal(fresh.balance, 100n);
  await assert.rejects(adoptBalance(channel(), await own(101n)), protocolError);

  // Found on chain without memory, then a payment signed on the unknown balance (0 + 10): the
  // receiver's own-signed 60 is adopted (the deposit bounds it), and memory is whole again.
  const recovered = channel({ recovered: true });
  await signPayment(signer(sender), recovered, 10n);
  await adoptBalance(recovered, await own(60n, recovered));
  assert.deepEqual([recovered.balance, recovered.signed.balance, recovered.recovered], [60n, 60n, false]);
  await assert.rejects(adoptBalance(recovered, await own(70n, recovered)), protocolError, "now bounded by what it signed");
});

test("a receipt moves the balance only to the balance signed last", async () => {
  const ch = channel();
  assert.throws(() => acknowledge(ch, 0n), protocolError, "nothing signed");
  await signPayment(signer(sender), ch, 10n);
  assert.throws(() => acknowledge(ch, 11n), protocolError);
  assert.throws(() => acknowledge(ch, 9n), protocolError);
  assert.equal(ch.balance, 0n);
  acknowledge(ch, 10n);
  assert.equal(ch.balance, 10n);
});

test("x402 terms naming another contract, network, asset, scheme or domain are refused", () => {
  const TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
  const good = {
    scheme: "uraiden-channel",
    network: "eip155:31337",
    amount: "7",
    asset: TOKEN,
    payTo: RECEIVER,
    extra: { name: "RaidenMicroTransferChannels", version: "1", verifyingContract: CONTRACT.toLowerCase() },
  };
  checkRequirements(good, 31337, CONTRACT, TOKEN);
  const bad = [
    [{ scheme: "exact" }, "protocol"],
    [{ network: "eip155:1" }, "wrong_network"],
    [{ network: "solana:1" }, "protocol"],
    [{ asset: RECEIVER }, "protocol"],
    [{ amount: "-1" }, "protocol"],
    [{ extra: { ...good.extra, verifyingContract: RECEIVER } }, "protocol"],
    [{ extra: { ...good.extra, name: "Other" } }, "protocol"],
  ];
  for (const [change, code] of bad) {
    assert.throws(() => checkRequirements({ ...good, ...change }, 31337, CONTRACT, TOKEN), (e) => e.code === code, JSON.stringify(change));
  }
});

test("header codecs round-trip UTF-8 JSON", () => {
  const value = { x402Version: 2, resource: { description: "µ-article ✓" }, accepts: [] };
  assert.deepEqual(decodeHeader(encodeHeader(value)), value);
});
