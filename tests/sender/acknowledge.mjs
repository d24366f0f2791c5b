// The x402 scheme client of web/uraiden-x402.mjs adopts only the balance it signed last: run by
// tests/sender (`a_server_claiming_more_than_signed_stops_the_client`), one JSON line on stdout.
import { privateKeyToAccount } from "viem/accounts";
import { SCHEME, UraidenChannelScheme } from "../../web/uraiden-x402.mjs";

const account = privateKeyToAccount(`0x${"11".repeat(32)}`);
const channel = {
  receiver: `0x${"33".repeat(20)}`,
  chainId: 31337,
  contract: `0x${"44".repeat(20)}`,
  openBlockNumber: 7,
  balance: 0n,
};
const scheme = new UraidenChannelScheme(account, channel);
const requirements = {
  scheme: SCHEME,
  network: "eip155:31337",
  amount: "3",
  asset: `0x${"22".repeat(20)}`,
  payTo: `0x${"33".repeat(20)}`,
  extra: { name: "uraiden", version: "1", verifyingContract: `0x${"44".repeat(20)}` },
};
const settlement = (balance, openBlockNumber = 7) => ({ success: true, extra: { openBlockNumber, balance } });
const outcome = (f) => {
  try {
    f();
    return "adopted";
  } catch (error) {
    return error.message;
  }
};

const before = outcome(() => UraidenChannelScheme.acknowledge(channel, settlement("0")));
await scheme.createPaymentPayload(2, requirements);
const above = outcome(() => UraidenChannelScheme.acknowledge(channel, settlement("27")));
const afterAbove = channel.balance;
const below = outcome(() => UraidenChannelScheme.acknowledge(channel, settlement("2")));
const other = outcome(() => UraidenChannelScheme.acknowledge(channel, settlement("3", 8)));
const exact = outcome(() => UraidenChannelScheme.acknowledge(channel, settlement("3")));
const next = await scheme.createPaymentPayload(2, requirements);
// Requirements for another receiver, chain or contract than the channel's are refused.
const refused = async (changed) => {
  try {
    await scheme.createPaymentPayload(2, { ...requirements, ...changed });
    return "signed";
  } catch (error) {
    return error.message;
  }
};
const otherReceiver = await refused({ payTo: `0x${"55".repeat(20)}` });
const otherChain = await refused({ network: "eip155:1" });
const otherContract = await refused({ extra: { ...requirements.extra, verifyingContract: `0x${"66".repeat(20)}` } });
const signedAfter = channel.signed;
console.log(
  JSON.stringify({
    before,
    above,
    afterAbove: `${afterAbove}`,
    below,
    other,
    exact,
    next: next.payload.balance,
    otherReceiver,
    otherChain,
    otherContract,
    signedAfter: `${signedAfter}`,
  }),
);
