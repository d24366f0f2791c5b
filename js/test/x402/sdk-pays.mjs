// An @x402/fetch user pays a uraiden paywall from zero: the official SDK (@x402/core, @x402/fetch)
// with this package's scheme client, which opens the channel on the first 402 and tops it up
// when its deposit runs out, one JSON line per step on stdout. Run by tests/proxy against the
// real `uraiden proxy`; environment: URL, RPC_URL, PRIVATE_KEY, CHAIN_ID, CONTRACT, TOKEN,
// RECEIVER, DEPOSIT, COUNT.
import { x402Client, x402HTTPClient } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";
import {
  ChannelClient,
  ChannelStore,
  MemoryStorage,
  SCHEME,
  UraidenChannelScheme,
  accountContext,
  paymentPayload,
} from "../../dist/index.js";

const { URL: url, RPC_URL, PRIVATE_KEY, CHAIN_ID, CONTRACT, TOKEN, RECEIVER, DEPOSIT, COUNT } = process.env;
const account = privateKeyToAccount(PRIVATE_KEY);
const channels = new ChannelClient(accountContext(account, RPC_URL, Number(CHAIN_ID), CONTRACT), {
  store: new ChannelStore(new MemoryStorage()),
});
const scheme = new UraidenChannelScheme(channels, { deposit: BigInt(DEPOSIT), maxAmount: 100n });
const network = `eip155:${CHAIN_ID}`;
// The SDK pays only in assets it is told of, each with a cap per payment.
const spendControls = { allowedAssets: [{ network, asset: TOKEN, maxAmountPerPayment: "100" }] };
const http = new x402HTTPClient(x402Client.fromConfig({ schemes: [{ network, client: scheme }], spendControls }));
const pay = wrapFetchWithPayment(fetch, http);
const out = (line) => console.log(JSON.stringify(line, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
const header = (response) => (name) => response.headers.get(name);

for (let i = 0; i < Number(COUNT); i++) {
  const paid = await pay(url);
  const body = await paid.text();
  const settlement = paid.ok ? http.getPaymentSettleResponse(header(paid)) : null;
  const channel = settlement ? scheme.acknowledge(settlement, RECEIVER) : scheme.channelTo(RECEIVER);
  out({ step: "paid", i, status: paid.status, body, settlement, openBlock: channel?.openBlock, deposit: channel?.deposit });
}
// The last payment again: refused, with the state to resynchronise, read by the SDK.
const unpaid = await fetch(url);
const required = http.getPaymentRequiredResponse(header(unpaid), await unpaid.json().catch(() => undefined));
const accepted = required.accepts.find((a) => a.scheme === SCHEME);
const channel = scheme.channelTo(RECEIVER);
const replayed = http.encodePaymentSignatureHeader({ x402Version: 2, accepted, payload: paymentPayload(channel, channel.signed) });
const replay = await fetch(url, { headers: replayed });
const refusal = http.getPaymentRequiredResponse(header(replay), await replay.json().catch(() => undefined));
out({ step: "replay", status: replay.status, error: refusal.error, channel: refusal.accepts[0]?.extra?.channel });
out({ step: "done", balance: channel.balance, deposit: channel.deposit });
