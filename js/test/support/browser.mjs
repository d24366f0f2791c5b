// Headless Chromium (the binary inside the npm package @sparticuz/chromium) with a test wallet
// injected into every page before its scripts run: an EIP-1193 provider, announced with
// EIP-6963 and set as window.ethereum, that forwards each request to anvil's JSON-RPC, where the
// account is unlocked, so anvil signs typed data and sends transactions. Nothing here signs.
import chromium from "@sparticuz/chromium";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { REPO, rpc } from "./chain.mjs";

export const SCREENSHOTS = join(REPO, "js/test/screenshots");
/** What signs or sends: the page must not call these before the person acts. */
export const SIGNING = ["eth_signTypedData_v4", "eth_signTypedData", "eth_sign", "personal_sign", "eth_sendTransaction", "eth_sendRawTransaction"];

/** The package's flags, less those that weaken what a page may do (web security, site isolation) or crash with several contexts. */
const WEAKENING = ["--single-process", "--disable-web-security", "--allow-running-insecure-content", "--disable-site-isolation-trials"];

export async function launch() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return puppeteer.launch({
    executablePath: await chromium.executablePath(),
    args: chromium.args.filter((a) => !WEAKENING.includes(a) && !a.startsWith("--disable-features=")),
    headless: true,
    defaultViewport: { width: 900, height: 900 },
  });
}

/**
 * The wallet's state on the test's side: which account it holds, whether the page's origin is
 * authorised (after eth_requestAccounts), the chain it pretends to be on until the page asks to
 * switch, the methods it refuses (EIP-1193 4001) and every method the page called.
 */
export class Wallet {
  constructor(rpcUrl, account, { chainId } = {}) {
    this.rpcUrl = rpcUrl;
    this.account = account;
    this.pretendChainId = chainId;
    this.authorized = false;
    this.refuse = new Set();
    this.calls = [];
    this.requests = [];
  }

  signingCalls() {
    return this.calls.filter((m) => SIGNING.includes(m));
  }

  /** The typed data the wallet signed, in order (parsed from eth_signTypedData_v4). */
  signedTypedData() {
    return this.requests.filter((r) => r.method === "eth_signTypedData_v4").map((r) => (typeof r.params[1] === "string" ? JSON.parse(r.params[1]) : r.params[1]));
  }

  async handle(method, params) {
    this.calls.push(method);
    this.requests.push({ method, params });
    if (this.refuse.has(method)) return { error: { code: 4001, message: "User rejected the request." } };
    const mine = (address) => typeof address === "string" && address.toLowerCase() === this.account.toLowerCase();
    if (SIGNING.includes(method)) {
      // As a wallet does: nothing is signed or sent on another chain than the active one, nor
      // for another account than the one it holds.
      if (this.pretendChainId !== undefined) return { error: { code: 4901, message: "The wallet is on another chain." } };
      const from = method === "eth_sendTransaction" ? params?.[0]?.from : params?.[0];
      if (!mine(from)) return { error: { code: 4100, message: `not this wallet's account: ${from}` } };
    }
    switch (method) {
      case "eth_requestAccounts":
        this.authorized = true;
        return { result: [this.account] };
      case "eth_accounts":
        return { result: this.authorized ? [this.account] : [] };
      case "eth_chainId":
        if (this.pretendChainId !== undefined) return { result: `0x${this.pretendChainId.toString(16)}` };
        break;
      case "wallet_switchEthereumChain": {
        const wanted = params?.[0]?.chainId;
        const real = await rpc(this.rpcUrl, "eth_chainId");
        if (typeof wanted !== "string" || BigInt(wanted) !== BigInt(real)) {
          return { error: { code: 4902, message: `unrecognised chain ${wanted}` } };
        }
        this.pretendChainId = undefined;
        await this.emit?.("chainChanged", real);
        return { result: null };
      }
    }
    try {
      return { result: await rpc(this.rpcUrl, method, params ?? []) };
    } catch (error) {
      return { error: { code: error.code ?? -32603, message: error.message, data: error.data } };
    }
  }
}

/** A new page (in its own browser context: its own storage) with `wallet` injected. */
export async function walletPage(browser, wallet, { context } = {}) {
  const ctx = context ?? (await browser.createBrowserContext());
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (process.env.URAIDEN_BROWSER_DEBUG) console.error(`[page ${message.type()}] ${message.text()}`);
    // A refused or failed request (a 402 among them) is logged by the browser, not thrown.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      errors.push(`console.error: ${message.text()}`);
    }
  });
  await page.exposeFunction("__uraidenWallet", (method, params) => wallet.handle(method, params));
  wallet.emit = async (event, data) => {
    await page.evaluate((e, d) => window.__uraidenWalletEmit?.(e, d), event, data).catch(() => {});
  };
  await page.evaluateOnNewDocument(() => {
    const listeners = new Map();
    const provider = {
      async request({ method, params }) {
        const answer = await window.__uraidenWallet(method, params);
        if (answer.error) throw Object.assign(new Error(answer.error.message), answer.error);
        return answer.result;
      },
      on(event, listener) {
        if (!listeners.has(event)) listeners.set(event, new Set());
        listeners.get(event).add(listener);
        return provider;
      },
      removeListener(event, listener) {
        listeners.get(event)?.delete(listener);
        return provider;
      },
    };
    window.__uraidenWalletEmit = (event, data) => {
      for (const listener of listeners.get(event) ?? []) listener(data);
    };
    const info = Object.freeze({ uuid: "6c2b4c2e-0000-4000-8000-000000000001", name: "Test wallet", icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E", rdns: "dev.uraiden.test" });
    const announce = () =>
      window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
    window.addEventListener("eip6963:requestProvider", announce);
    window.ethereum = provider;
    announce();
  });
  return { page, errors, context: ctx };
}

/** Waits for `predicate` (run in the page) to hold, up to `timeout` ms; fails naming `what` and the page's status. */
export async function waitFor(page, what, predicate, timeout = 60_000, ...args) {
  try {
    await page.waitForFunction(predicate, { timeout, polling: 100 }, ...args);
  } catch (error) {
    const status = await page.evaluate(() => document.querySelector('[data-uraiden="status"]')?.textContent ?? document.body?.innerText?.slice(0, 300)).catch(() => "?");
    throw new Error(`${what}: not within ${timeout} ms (the page says: ${status})`, { cause: error });
  }
}

/** The hook's element is shown. */
export const shown = (name) => `(() => { const e = document.querySelector('[data-uraiden="${name}"]'); return !!e && !e.hidden; })()`;

export async function screenshot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
