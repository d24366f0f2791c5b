// Pays a uraiden paywall through the official x402 SDK (@x402/core) with the scheme client of
// web/uraiden-x402.mjs, one JSON line per step on stdout. Run by tests/proxy (the real
// `uraiden proxy`); environment: URL, PRIVATE_KEY, OPEN_BLOCK, CHAIN_ID, TOKEN, RECEIVER,
// CONTRACT, COUNT.
import { x402Client, x402HTTPClient } from "@x402/core/client";
import { privateKeyToAccount } from "viem/accounts";
import { SCHEME, UraidenChannelScheme } from "../../web/uraiden-x402.mjs";

const { URL: url, PRIVATE_KEY, OPEN_BLOCK, CHAIN_ID, TOKEN, RECEIVER, CONTRACT, COUNT } = process.env;
const account = privateKeyToAccount(PRIVATE_KEY);
const channel = {
  receiver: RECEIVER,
  chainId: Number(CHAIN_ID),
  contract: CONTRACT,
  openBlockNumber: Number(OPEN_BLOCK),
  balance: 0n,
};
const scheme = new UraidenChannelScheme(account, channel);
const network = `eip155:${CHAIN_ID}`;
// The SDK pays only in assets it knows or is told of, each with a cap per payment.
const spendControls = { allowedAssets: [{ network, asset: TOKEN, maxAmountPerPayment: "100" }] };
const http = new x402HTTPClient(x402Client.fromConfig({ schemes: [{ network, client: scheme }], spendControls }));
const out = (line) => console.log(JSON.stringify(line, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
const header = (response) => (name) => response.headers.get(name);

let last;
for (let i = 0; i < Number(COUNT); i++) {
  const unpaid = await fetch(url);
  const required = http.getPaymentRequiredResponse(header(unpaid), await unpaid.json().catch(() => undefined));
  const offer = required.accepts.find((a) => a.scheme === SCHEME);
  const payload = await http.createPaymentPayload(required);
  last = http.encodePaymentSignatureHeader(payload);
  const paid = await fetch(url, { headers: last });
  const body = await paid.text();
  const settlement = paid.ok ? http.getPaymentSettleResponse(header(paid)) : null;
  if (settlement) UraidenChannelScheme.acknowledge(channel, settlement);
  out({ step: "paid", i, unpaid: unpaid.status, amount: offer?.amount, status: paid.status, body, settlement });
}
// The last payment again: refused, with the state to resynchronise, read by the SDK.
const replay = await fetch(url, { headers: last });
const refusal = http.getPaymentRequiredResponse(header(replay), await replay.json().catch(() => undefined));
out({ step: "replay", status: replay.status, error: refusal.error, channel: refusal.accepts[0]?.extra?.channel });
out({ step: "done", balance: channel.balance });
