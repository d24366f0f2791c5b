// The library against a real chain (anvil, the contracts deployed by the uraiden binary): opens
// and top-ups by ERC20 and ERC223, channels found from events, proofs the contract verifies,
// closes alone and settled, cooperative closes against a receiver's API written here from the
// spec (docs/http-protocol.md), and one that lies.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { createPublicClient, http } from "viem";
import {
  ChannelClient,
  ChannelStore,
  MemoryStorage,
  accountContext,
  balanceProofDigest,
  channelDomain,
  channelsAbi,
  closingAgreement,
  findChannels,
  tokenAbi,
  UraidenChannelScheme,
} from "../../build/index.js";
import { ACCOUNTS, deploy, fund, rpc, startAnvil, tokenBalance } from "../support/chain.mjs";

const [, receiver, sender, other] = ACCOUNTS;
let anvil;
let record;
let publicClient;

before(async () => {
  anvil = await startAnvil();
  record = deploy(anvil.url, { challengePeriod: 5 });
  publicClient = createPublicClient({ transport: http(anvil.url) });
  await fund(anvil.url, record.token, sender.address, 10_000n);
});
after(() => anvil?.stop());

const client = (account = sender) =>
  new ChannelClient(accountContext(account, anvil.url, 31337, record.channels), {
    store: new ChannelStore(new MemoryStorage()),
  });
const nonce = (who) => publicClient.getTransactionCount({ address: who });

test("ERC20 and ERC223 deposits open and top up channels the events then show", async () => {
  const c = client();
  const a = await c.open(receiver.address, 100n);
  assert.equal(a.deposit, 100n);
  const before = await nonce(sender.address);
  await c.topUp(a, 50n, { method: "erc223" });
  assert.equal(await nonce(sender.address), before + 1, "an ERC223 top-up is one transaction");
  assert.equal(a.deposit, 150n);
  const b = await c.open(other.address, 30n, { method: "erc223" });
  const [found] = await findChannels(c.ctx, receiver.address);
  assert.deepEqual([found.openBlock, found.deposit, found.status], [a.openBlock, 150n, "open"]);
  const [toOther] = await findChannels(c.ctx, other.address);
  assert.deepEqual([toOther.openBlock, toOther.deposit], [b.openBlock, 30n]);
  const [, deposit] = await publicClient.readContract({
    address: record.channels,
    abi: channelsAbi,
    functionName: "getChannelInfo",
    args: [sender.address, receiver.address, a.openBlock],
  });
  assert.equal(deposit, 150n);
});

test("an ERC20 deposit approves only when the allowance is short", async () => {
  const c = client();
  const start = await nonce(sender.address);
  await c.open(other.address, 20n); // approve + create
  assert.equal(await nonce(sender.address), start + 2);
  const wallet = c.ctx.signer.wallet;
  await publicClient.waitForTransactionReceipt({
    hash: await wallet.writeContract({ address: record.token, abi: tokenAbi, functionName: "approve", args: [record.channels, 1000n], chain: null }),
  });
  const next = await nonce(sender.address);
  await c.open(other.address, 20n);
  assert.equal(await nonce(sender.address), next + 1, "enough allowance: no approve");
});

test("a deposit that would fail asks the wallet nothing", async () => {
  const c = client();
  const start = await nonce(sender.address);
  await assert.rejects(c.open(receiver.address, 1_000_000n, { method: "erc223" }), (e) => e.code === "would_revert");
  await assert.rejects(c.open(receiver.address, 0n), (e) => e.code === "would_revert");
  assert.equal(await nonce(sender.address), start);
});

test("a payment's proof is what the contract verifies, and its digest the contract's", async () => {
  const c = client();
  const ch = await c.open(receiver.address, 40n);
  const signed = await c.pay(ch, 15n);
  const signer = await publicClient.readContract({
    address: record.channels,
    abi: channelsAbi,
    functionName: "verifyBalanceProof",
    args: [receiver.address, ch.openBlock, 15n, signed.signature],
  });
  assert.equal(signer, sender.address);
  const digest = await publicClient.readContract({
    address: record.channels,
    abi: channelsAbi,
    functionName: "balanceMessageHash",
    args: [receiver.address, ch.openBlock, 15n],
  });
  assert.equal(balanceProofDigest(31337, record.channels, receiver.address, ch.openBlock, 15n), digest);
});

test("closing alone: a close request, settle refused before the challenge period, then settled as paid", async () => {
  const c = client();
  const ch = await c.open(receiver.address, 60n);
  await c.pay(ch, 25n);
  c.acknowledge(ch, 25n);
  const [receiverBefore, senderBefore] = [await tokenBalance(anvil.url, record.token, receiver.address), await tokenBalance(anvil.url, record.token, sender.address)];
  await c.requestClose(ch);
  assert.equal(ch.status, "closing");
  assert.equal(ch.closingBalance, 25n);
  await assert.rejects(c.settle(ch), (e) => e.code === "too_early");
  await rpc(anvil.url, "anvil_mine", ["0x6"]);
  assert.equal(await c.blocksToSettle(ch), 0n);
  await c.settle(ch);
  assert.equal(await tokenBalance(anvil.url, record.token, receiver.address), receiverBefore + 25n);
  assert.equal(await tokenBalance(anvil.url, record.token, sender.address), senderBefore + 35n);
  const found = (await findChannels(c.ctx, receiver.address)).find((x) => x.openBlock === ch.openBlock);
  assert.equal(found.status, "settled");
  assert.equal(c.store.get(ch), undefined, "a settled channel is forgotten");
});

/**
 * A receiver's cooperative-close route from the spec: signs the closing agreement with `key`.
 * It has no channel route (the spec's `unused_prepaid` is optional): a GET is a 404.
 */
async function receiverApi(signerAccount) {
  const seen = [];
  const server = createServer(async (request, response) => {
    if (request.method === "GET") {
      response.statusCode = 404;
      response.end();
      return;
    }
    let body = "";
    for await (const chunk of request) body += chunk;
    seen.push({ method: request.method, url: request.url, body: JSON.parse(body || "null") });
    const { balance_signature } = JSON.parse(body);
    const signature = await signerAccount.signTypedData(closingAgreement(channelDomain(31337, record.channels), balance_signature));
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ close_signature: signature }));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { origin: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
}

test("a cooperative close sends the receiver's closing signature on chain and settles as paid", async () => {
  const c = client();
  const ch = await c.open(receiver.address, 50n);
  await c.pay(ch, 20n);
  c.acknowledge(ch, 20n);
  const api = await receiverApi(receiver);
  try {
    const receiverBefore = await tokenBalance(anvil.url, record.token, receiver.address);
    await c.closeCooperatively(ch, { origin: api.origin });
    assert.equal(api.seen[0].method, "DELETE");
    assert.equal(api.seen[0].url, `/api/1/channels/${sender.address}/${ch.openBlock}`);
    assert.equal(api.seen[0].body.balance, "20");
    assert.equal(await tokenBalance(anvil.url, record.token, receiver.address), receiverBefore + 20n);
    const found = (await findChannels(c.ctx, receiver.address)).find((x) => x.openBlock === ch.openBlock);
    assert.equal(found.status, "settled");
  } finally {
    api.close();
  }
});

test("a closing signature that is not the receiver's is refused and nothing is sent", async () => {
  const c = client();
  const ch = await c.open(receiver.address, 50n);
  const api = await receiverApi(other);
  try {
    const start = await nonce(sender.address);
    await assert.rejects(c.closeCooperatively(ch, { origin: api.origin }), (e) => e.code === "protocol");
    assert.equal(await nonce(sender.address), start);
    const found = (await findChannels(c.ctx, receiver.address)).find((x) => x.openBlock === ch.openBlock);
    assert.equal(found.status, "open");
  } finally {
    api.close();
  }
});

test("the remembered channel comes back with the chain's state; without memory, the newest one not settled", async () => {
  const storage = new MemoryStorage();
  const ctx = accountContext(sender, anvil.url, 31337, record.channels);
  const first = new ChannelClient(ctx, { store: new ChannelStore(storage) });
  const ch = await first.open(ACCOUNTS[3].address, 10n);
  await first.pay(ch, 4n);
  first.acknowledge(ch, 4n);
  const again = await new ChannelClient(ctx, { store: new ChannelStore(storage) }).channel(ACCOUNTS[3].address);
  assert.deepEqual([again.openBlock, again.balance, again.deposit], [ch.openBlock, 4n, 10n]);
  const forgetful = await new ChannelClient(ctx, { store: new ChannelStore(new MemoryStorage()) }).channel(ACCOUNTS[3].address);
  assert.deepEqual([forgetful.openBlock, forgetful.balance, forgetful.deposit], [ch.openBlock, 0n, 10n]);
});

test("the x402 scheme pays only in the contract's token, and asks nothing of the wallet otherwise", async () => {
  const c = client();
  const scheme = new UraidenChannelScheme(c, { deposit: 30n });
  const requirements = {
    scheme: "uraiden-channel",
    network: "eip155:31337",
    amount: "3",
    asset: record.token,
    payTo: other.address,
    extra: { name: "RaidenMicroTransferChannels", version: "1", verifyingContract: record.channels },
  };
  const start = await nonce(sender.address);
  await assert.rejects(scheme.createPaymentPayload(2, { ...requirements, asset: record.channels }), (e) => e.code === "protocol");
  assert.equal(await nonce(sender.address), start, "no deposit for a foreign asset");
  const paid = await scheme.createPaymentPayload(2, requirements);
  assert.equal(paid.payload.balance, "3");
});
