// An @x402/fetch user buys prepaid sessions: the official SDK's paying fetch over this
// package's `withSessions`, with the scheme client's `maxPrepay`; each request's outcome, then
// the cooperative close (which refunds what the last session did not use), one JSON line each.
// Run by tests/proxy against the real `uraiden proxy`; environment: URL, RPC_URL, PRIVATE_KEY,
// CHAIN_ID, CONTRACT, TOKEN, RECEIVER, DEPOSIT, COUNT, MAX_PREPAY.
import { x402Client, x402HTTPClient } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";
import {
  ChannelClient,
  ChannelStore,
  MemoryStorage,
  SESSION_REMAINING,
  UraidenChannelScheme,
  accountContext,
  withSessions,
} from "../../dist/index.js";

const { URL: url, RPC_URL, PRIVATE_KEY, CHAIN_ID, CONTRACT, TOKEN, RECEIVER, DEPOSIT, COUNT, MAX_PREPAY } = process.env;
const account = privateKeyToAccount(PRIVATE_KEY);
const channels = new ChannelClient(accountContext(account, RPC_URL, Number(CHAIN_ID), CONTRACT), {
  store: new ChannelStore(new MemoryStorage()),
});
const scheme = new UraidenChannelScheme(channels, { deposit: BigInt(DEPOSIT), maxAmount: 100n, maxPrepay: Number(MAX_PREPAY) });
const network = `eip155:${CHAIN_ID}`;
const spendControls = { allowedAssets: [{ network, asset: TOKEN, maxAmountPerPayment: "100" }] };
const http = new x402HTTPClient(x402Client.fromConfig({ schemes: [{ network, client: scheme }], spendControls }));
const pay = wrapFetchWithPayment(withSessions(fetch), http);
const out = (line) => console.log(JSON.stringify(line, (_, v) => (typeof v === "bigint" ? v.toString() : v)));

for (let i = 0; i < Number(COUNT); i++) {
  const paid = await pay(`${url}/${i}`);
  const body = await paid.text();
  // A request served from a session carries no settlement: nothing was paid.
  const settled = paid.ok && paid.headers.has("PAYMENT-RESPONSE");
  const settlement = settled ? http.getPaymentSettleResponse((name) => paid.headers.get(name)) : null;
  if (settlement?.success) scheme.acknowledge(settlement, RECEIVER);
  out({ step: "request", i, status: paid.status, body, paid: settlement?.amount ?? null, remaining: paid.headers.get(SESSION_REMAINING) });
}
const channel = scheme.channelTo(RECEIVER);
const acknowledged = channel.balance;
const closed = await channels.closeCooperatively(channel, { origin: new URL(url).origin });
out({ step: "closed", acknowledged, balance: closed.balance, status: closed.status });
