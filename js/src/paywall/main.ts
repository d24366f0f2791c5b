// The paywall page's script (served at /api/1/paywall.js on a 402 to a browser): finds the
// person's wallet and channel, opens or tops it up when asked, signs the balance proof, fetches
// the page again with the payment and shows the paid answer. Every control is found by its
// `data-uraiden` hook only; an operator's page may leave any of them out. Nothing is signed or
// sent before the person acts.

import { type Address, type EIP1193Provider, formatUnits, getAddress, parseUnits, toHex } from "viem";
import type { Channel } from "../channel.js";
import { ChannelClient } from "../client.js";
import { UraidenError, isUserRejection } from "../errors.js";
import type { SignedBalance } from "../pay.js";
import { ChannelStore, defaultStorage } from "../storage.js";
import { authorizedAccount, discoverWallets, providerContext, requestAccount } from "../wallet.js";
import {
  PAYMENT_REQUIRED,
  PAYMENT_RESPONSE,
  PAYMENT_SIGNATURE,
  type PaymentRequired,
  type PaymentRequirements,
  SCHEME,
  type SettleResponse,
  chainIdOf,
  decodeHeader,
  encodeHeader,
  paymentPayload,
} from "../x402.js";

/** What the server puts in `#uraiden-paywall`. */
interface PageConfig {
  paymentRequired: PaymentRequired;
  token: { address: string; symbol: string; decimals: number };
  apiBase: string;
}

/** How long the page keeps retrying while the deposit waits for its confirmations. */
const CONFIRMATION_WAIT_MS = 180_000;
/** The µRaiden header saying how many confirmations are still missing. */
const RDN_INSUFFICIENT_CONFIRMATIONS = "RDN-Insufficient-Confirmations";

const hook = <T extends HTMLElement = HTMLElement>(name: string) =>
  document.querySelector<T>(`[data-uraiden="${name}"]`) ?? undefined;

function show(name: string, visible: boolean) {
  const element = hook(name);
  if (element) element.hidden = !visible;
}

function say(text: string) {
  const element = hook("status");
  if (element) element.textContent = text;
}

function readConfig(): PageConfig {
  const element = document.getElementById("uraiden-paywall");
  if (!element?.textContent) throw new UraidenError("server", "this page holds no payment terms");
  return JSON.parse(element.textContent) as PageConfig;
}

class Paywall {
  readonly requirements: PaymentRequirements;
  readonly chainId: number;
  readonly contract: Address;
  readonly receiver: Address;
  readonly price: bigint;
  readonly autoPayKey: string;
  provider?: EIP1193Provider;
  /** Settles once the wallets have announced themselves (a click may come before). */
  discovery?: Promise<void>;
  account?: Address;
  client?: ChannelClient;
  channel?: Channel;
  /** After a cooperative close failed: the next click on `close` closes without the receiver. */
  closeAlone = false;
  busy = false;

  constructor(readonly config: PageConfig) {
    const requirements = config.paymentRequired.accepts.find((a) => a.scheme === SCHEME);
    if (!requirements) throw new UraidenError("server", `the server offers no ${SCHEME} payment`);
    this.requirements = requirements;
    this.chainId = chainIdOf(requirements.network);
    this.contract = getAddress(requirements.extra?.verifyingContract ?? "");
    this.receiver = getAddress(requirements.payTo);
    this.price = BigInt(requirements.amount);
    this.autoPayKey = `uraiden:auto-pay:${location.origin}`;
  }

  tokens(amount: bigint): string {
    return `${formatUnits(amount, this.config.token.decimals)} ${this.config.token.symbol}`;
  }

  /** Runs a person's action: one at a time, every failure said in words. */
  async act(what: () => Promise<void>) {
    if (this.busy) return;
    this.busy = true;
    try {
      await what();
    } catch (error) {
      say(describe(error));
      console.warn("uraiden:", error);
    } finally {
      this.busy = false;
    }
  }

  async start() {
    for (const name of ["connect", "switch-chain", "open", "topup", "pay", "close", "settle"]) {
      hook(name)?.addEventListener("click", () => this.act(() => this.onClick(name)));
    }
    hook<HTMLInputElement>("auto-pay")?.addEventListener("change", () => this.saveAutoPay());
    hook<HTMLInputElement>("auto-pay-limit")?.addEventListener("change", () => this.saveAutoPay());
    this.loadAutoPay();
    this.discovery = discoverWallets().then((wallets) => {
      this.provider = wallets[0]?.provider;
    });
    await this.discovery;
    // For tests and restyled pages: the script has found (or not) the wallet.
    document.documentElement.dataset.uraidenReady = "true";
    if (!this.provider) {
      say("No wallet found: install a browser wallet (an EIP-1193 wallet such as MetaMask) to pay.");
      const connect = hook<HTMLButtonElement>("connect");
      if (connect) connect.disabled = true;
      return;
    }
    this.provider.on?.("chainChanged", () => this.act(() => this.refresh()));
    this.provider.on?.("accountsChanged", () => this.act(() => this.reconnect()));
    // An account the wallet authorised earlier is used without a prompt (eth_accounts).
    const known = await authorizedAccount(this.provider).catch(() => undefined);
    if (known) {
      this.account = known;
      await this.act(() => this.refresh());
      if (this.autoPayLimit() !== undefined && this.canPay()) await this.act(() => this.pay());
    }
  }

  async onClick(name: string) {
    switch (name) {
      case "connect":
        return this.connect();
      case "switch-chain":
        return this.switchChain();
      case "open":
        return this.open();
      case "topup":
        return this.topUp();
      case "pay":
        return this.pay();
      case "close":
        return this.close();
      case "settle":
        return this.settle();
    }
  }

  async connect() {
    await this.discovery;
    if (!this.provider) return;
    say("Connecting: confirm in your wallet…");
    this.account = await requestAccount(this.provider);
    await this.refresh();
  }

  async reconnect() {
    if (!this.provider) return;
    this.account = await authorizedAccount(this.provider);
    this.client = undefined;
    this.channel = undefined;
    if (this.account) await this.refresh();
    else this.render();
  }

  /** Reads the wallet's network and the person's channel, and shows them. */
  async refresh() {
    if (!this.provider || !this.account) return;
    const walletChain = Number(await this.provider.request({ method: "eth_chainId" }));
    if (walletChain !== this.chainId) {
      this.client = undefined;
      this.channel = undefined;
      this.render();
      show("switch-chain", true);
      say(`Your wallet is on network ${walletChain}; this page is paid on network ${this.chainId}. Switch network to pay.`);
      return;
    }
    show("switch-chain", false);
    const ctx = providerContext(this.provider, this.account, this.chainId, this.contract);
    this.client = new ChannelClient(ctx, { store: new ChannelStore(defaultStorage()) });
    say("Looking for your channel…");
    this.channel = await this.client.channel(this.receiver);
    this.render();
    say(this.describeChannel());
  }

  describeChannel(): string {
    const channel = this.channel;
    if (!channel) return `No channel to this receiver yet: type a deposit (for example ${this.tokens(this.price * 10n)}) and open one.`;
    if (channel.status === "closing") return "Your channel is closing: settle it once the challenge period is over.";
    const left = channel.deposit - channel.balance;
    if (left < this.price) return `Your deposit has run out (${this.tokens(left)} left): top up to pay ${this.tokens(this.price)}.`;
    return `Ready to pay ${this.tokens(this.price)} from your channel (${this.tokens(left)} left).`;
  }

  canPay(): boolean {
    const channel = this.channel;
    return !!this.client && channel?.status === "open" && channel.deposit - channel.balance >= this.price;
  }

  render() {
    const channel = this.channel;
    const connected = !!this.account;
    show("connect", !connected);
    const display = hook("channel");
    if (display) {
      display.hidden = !channel;
      if (channel) {
        display.dataset.openBlock = String(channel.openBlock);
        display.dataset.deposit = channel.deposit.toString();
        display.dataset.balance = channel.balance.toString();
        display.dataset.status = channel.status;
      }
    }
    const summary = hook("channel-summary");
    if (summary) {
      summary.textContent = channel
        ? `opened in block ${channel.openBlock}, deposit ${this.tokens(channel.deposit)}, paid ${this.tokens(channel.balance)}, ${channel.status}`
        : "";
    }
    const ready = !!this.client;
    show("open", ready && !channel);
    show("topup", ready && channel?.status === "open");
    show("pay", ready && channel?.status === "open");
    show("close", ready && channel?.status === "open");
    show("settle", ready && channel?.status === "closing");
    const close = hook("close");
    if (close) close.textContent = this.closeAlone ? "Close without the receiver" : "Close channel";
  }

  depositInput(): bigint {
    const raw = hook<HTMLInputElement>("deposit")?.value.trim() ?? "";
    if (raw === "") throw new UraidenError("insufficient_deposit", "Type the deposit, in whole tokens.");
    let amount: bigint;
    try {
      amount = parseUnits(raw, this.config.token.decimals);
    } catch {
      throw new UraidenError("insufficient_deposit", `"${raw}" is not an amount of ${this.config.token.symbol}.`);
    }
    if (amount <= 0n) throw new UraidenError("insufficient_deposit", "The deposit must be more than zero.");
    return amount;
  }

  async open() {
    if (!this.client) return;
    const deposit = this.depositInput();
    if (deposit < this.price) {
      throw new UraidenError("insufficient_deposit", `A deposit of ${this.tokens(deposit)} does not cover the price of ${this.tokens(this.price)}.`);
    }
    say(`Opening a channel with ${this.tokens(deposit)}: confirm in your wallet…`);
    this.channel = await this.client.open(this.receiver, deposit);
    this.render();
    await this.pay();
  }

  async topUp() {
    if (!this.client || !this.channel) return;
    const added = this.depositInput();
    say(`Adding ${this.tokens(added)} to your channel: confirm in your wallet…`);
    this.channel = await this.client.topUp(this.channel, added);
    this.render();
    if (this.canPay()) await this.pay();
  }

  /** Pays the price and shows the paid answer. */
  async pay() {
    if (!this.client || !this.channel) return;
    if (!this.canPay()) {
      this.render();
      say(this.describeChannel());
      return;
    }
    say(`Paying ${this.tokens(this.price)}: sign in your wallet…`);
    let signed = await this.client.pay(this.channel, this.price);
    let resynced = false;
    const deadline = Date.now() + CONFIRMATION_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      const response = await this.send(signed);
      if (response.ok) return this.showPaid(response);
      if (response.type === "opaqueredirect") {
        // A redirect costs nothing, and a payment is never sent after one (it could go elsewhere).
        throw new UraidenError("server", "The server redirects this address elsewhere: nothing was paid. Open the address it points to.");
      }
      if (response.status !== 402) {
        const retry = response.headers.get("retry-after");
        throw new UraidenError("server", `The server answered ${response.status}${retry ? `; try again in ${retry} s` : ""}.`);
      }
      const required = decodeHeader<PaymentRequired>(response.headers.get(PAYMENT_REQUIRED) ?? "");
      const refusal = required.error ?? "unknown";
      // A channel the chain shows but the receiver has not seen yet (it follows the chain a
      // little behind) is waited for as its confirmations are.
      const waiting = refusal === "insufficient_confirmations" || refusal === "channel_not_found";
      if (waiting && Date.now() < deadline) {
        const missing = response.headers.get(RDN_INSUFFICIENT_CONFIRMATIONS);
        say(`Waiting for your deposit's confirmations${missing ? ` (${missing} to go)` : ""}…`);
        // The same proof again: the server registered nothing.
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** Math.min(attempt, 2), 4000)));
        continue;
      }
      if (refusal === "amount_mismatch" && !resynced) {
        const offered = required.accepts.find((a) => a.scheme === SCHEME)?.extra?.channel;
        if (!offered) throw new UraidenError("protocol", "The server refused the amount without saying the balance it holds.");
        // Only this sender's own signature, never above what it signed (the adopt rule).
        await this.client.adopt(this.channel, { balance: BigInt(offered.balance), signature: offered.signature as `0x${string}` });
        resynced = true;
        this.render();
        if (!this.canPay()) return say(this.describeChannel());
        say(`Paying ${this.tokens(this.price)} from the balance the server holds: sign in your wallet…`);
        signed = await this.client.pay(this.channel, this.price);
        continue;
      }
      throw refused(refusal, this);
    }
  }

  async send(signed: SignedBalance): Promise<Response> {
    if (!this.channel) throw new UraidenError("protocol", "no channel");
    const payment = { x402Version: 2, accepted: this.requirements, payload: paymentPayload(this.channel, signed) };
    return fetch(location.href, {
      headers: { [PAYMENT_SIGNATURE]: encodeHeader(payment), accept: "text/html,*/*;q=0.8" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual",
    });
  }

  async showPaid(response: Response) {
    if (!this.client || !this.channel) return;
    const receipt = response.headers.get(PAYMENT_RESPONSE);
    if (!receipt) throw new UraidenError("protocol", "The server served the page without a payment receipt.");
    const settlement = decodeHeader<SettleResponse>(receipt);
    if (settlement.extra?.openBlockNumber !== this.channel.openBlock) {
      throw new UraidenError("protocol", "The server's receipt is for another channel.");
    }
    this.client.acknowledge(this.channel, BigInt(settlement.extra?.balance ?? "-1"));
    const type = response.headers.get("content-type") ?? "";
    if (type.startsWith("text/html") || type.startsWith("application/xhtml")) {
      const html = await response.text();
      document.open();
      document.write(html);
      document.close();
      return;
    }
    // Anything else: shown as the browser shows that type, from the paid bytes.
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    document.body.replaceChildren();
    const frame = document.createElement("iframe");
    frame.src = url;
    frame.title = "paid content";
    frame.style.cssText = "border:0;width:100%;height:100vh";
    document.body.append(frame);
  }

  async close() {
    if (!this.client || !this.channel) return;
    if (this.closeAlone) {
      say("Asking the contract to close your channel without the receiver: confirm in your wallet…");
      this.channel = await this.client.requestClose(this.channel);
      this.closeAlone = false;
      this.render();
      return this.waitToSettle();
    }
    say("Asking the receiver to agree to close: sign the close request in your wallet…");
    try {
      this.channel = await this.client.closeCooperatively(this.channel, { apiBase: this.config.apiBase });
    } catch (error) {
      if (isUserRejection(error)) throw error;
      this.closeAlone = true;
      this.render();
      say(`The receiver did not agree to close (${describe(error)}). Click "Close without the receiver" to close alone: you can settle after the challenge period.`);
      return;
    }
    this.channel = undefined;
    this.render();
    say("Your channel is closed and settled: the rest of your deposit is back in your wallet.");
  }

  /** Shows how many blocks are left until the channel can be settled. */
  async waitToSettle() {
    if (!this.client || !this.channel || this.channel.status !== "closing") return;
    const left = await this.client.blocksToSettle(this.channel);
    if (left === 0n) {
      say("The challenge period is over: settle to get your tokens back.");
      return;
    }
    say(`Your channel is closing: it can be settled in ${left} blocks.`);
    setTimeout(() => this.act(() => this.waitToSettle()), 3000);
  }

  async settle() {
    if (!this.client || !this.channel) return;
    say("Settling your channel: confirm in your wallet…");
    await this.client.settle(this.channel);
    this.channel = undefined;
    this.render();
    say("Your channel is settled: the rest of your deposit is back in your wallet.");
  }

  async switchChain() {
    if (!this.provider) return;
    say("Switching network: confirm in your wallet…");
    await this.provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: toHex(this.chainId) }] });
    await this.refresh();
  }

  autoPayLimit(): bigint | undefined {
    try {
      const stored = defaultStorage().getItem(this.autoPayKey);
      if (stored === null) return undefined;
      const limit = BigInt(stored);
      return this.price <= limit ? limit : undefined;
    } catch {
      return undefined;
    }
  }

  loadAutoPay() {
    const stored = defaultStorage().getItem(this.autoPayKey);
    const box = hook<HTMLInputElement>("auto-pay");
    const limit = hook<HTMLInputElement>("auto-pay-limit");
    if (stored === null) return;
    if (box) box.checked = true;
    try {
      if (limit) limit.value = formatUnits(BigInt(stored), this.config.token.decimals);
    } catch {
      defaultStorage().removeItem(this.autoPayKey);
    }
  }

  saveAutoPay() {
    const box = hook<HTMLInputElement>("auto-pay");
    const storage = defaultStorage();
    if (!box?.checked) {
      storage.removeItem(this.autoPayKey);
      return;
    }
    const raw = hook<HTMLInputElement>("auto-pay-limit")?.value.trim() || formatUnits(this.price, this.config.token.decimals);
    try {
      const limit = parseUnits(raw, this.config.token.decimals);
      storage.setItem(this.autoPayKey, limit.toString());
      say(`Pages on this site up to ${this.tokens(limit)} will be paid without a click.`);
    } catch {
      box.checked = false;
      say(`"${raw}" is not an amount of ${this.config.token.symbol}.`);
    }
  }
}

/** A refusal, in words, with what to do. */
function refused(reason: string, page: Paywall): UraidenError {
  switch (reason) {
    case "insufficient_confirmations":
      return new UraidenError("server", "Your deposit is still not confirmed; reload the page in a minute to pay.");
    case "balance_exceeds_deposit":
      show("topup", true);
      return new UraidenError("insufficient_deposit", "Your deposit has run out: type an amount and top up.");
    case "channel_not_found":
    case "channel_closing":
      return new UraidenError("not_open", "The receiver does not take payments on this channel (it is closing, or not known yet).");
    case "invalid_signature":
      return new UraidenError("protocol", "The receiver refused the signature.");
    case "contract_mismatch":
      return new UraidenError("protocol", "The receiver uses another channel contract than this page names.");
    case "amount_mismatch":
      return new UraidenError("protocol", `The receiver still refused the amount of ${page.tokens(page.price)}.`);
    default:
      return new UraidenError("server", `The receiver refused the payment: ${reason}.`);
  }
}

/** An error, in words for the person. */
function describe(error: unknown): string {
  if (isUserRejection(error)) return "You declined in your wallet: nothing was signed or sent.";
  if (error instanceof UraidenError) return error.message;
  const message = (error as { shortMessage?: string; message?: string })?.shortMessage ?? (error as Error)?.message;
  return `Something went wrong: ${message ?? String(error)}`;
}

try {
  const paywall = new Paywall(readConfig());
  paywall.start().catch((error) => say(describe(error)));
} catch (error) {
  say(describe(error));
}
