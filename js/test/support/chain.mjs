// A real chain for the tests: the pinned anvil on a free loopback port, the contracts deployed
// by the uraiden binary (URAIDEN_BIN, default ../target/release/uraiden: tests/js.rs passes the
// one cargo built), and, for the browser tests, `uraiden proxy` in front of a directory.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createPublicClient, createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { tokenAbi } from "../../build/index.js";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const URAIDEN = process.env.URAIDEN_BIN ?? join(REPO, "target/release/uraiden");
export const ANVIL = join(REPO, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");

/** anvil's first accounts (its default mnemonic). */
export const KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];
export const ACCOUNTS = KEYS.map((key) => privateKeyToAccount(key));

export async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A JSON-RPC call. */
export async function rpc(url, method, params = []) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json();
  if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
  return body.result;
}

/** Starts anvil (`blockTime` seconds between blocks; none: a block per transaction). */
export async function startAnvil({ blockTime } = {}) {
  if (!existsSync(ANVIL)) throw new Error(`anvil is missing at ${ANVIL}: run npm ci at the repository's root`);
  const port = await freePort();
  const args = ["--port", String(port), "--host", "127.0.0.1", "--silent"];
  if (blockTime) args.push("--block-time", String(blockTime));
  const child = spawn(ANVIL, args, { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await until("anvil answers", async () => (await rpc(url, "eth_chainId")) !== undefined);
  return { url, port, stop: () => child.kill("SIGKILL") };
}

/** Deploys the test token and the channel contract; the deployment record. */
export function deploy(url, { challengePeriod = 5 } = {}) {
  if (!existsSync(URAIDEN)) throw new Error(`the uraiden binary is missing at ${URAIDEN}: set URAIDEN_BIN or run cargo build --release`);
  const dir = mkdtempSync(join(tmpdir(), "uraiden-js-deploy-"));
  try {
    const out = spawnSync(
      URAIDEN,
      ["deploy", "--rpc-url", url, "--challenge-period", String(challengePeriod), "--json", "--deployments-dir", dir],
      { env: { ...process.env, PRIVATE_KEY: KEYS[0] }, encoding: "utf8" },
    );
    if (out.status !== 0) throw new Error(`uraiden deploy failed: ${out.stderr}`);
    return JSON.parse(out.stdout.trim().split("\n").pop());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends `amount` of the token from account 0 to `to`. */
export async function fund(url, token, to, amount) {
  const transport = http(url);
  const wallet = createWalletClient({ transport, account: ACCOUNTS[0] });
  const hash = await wallet.writeContract({ address: token, abi: tokenAbi, functionName: "transfer", args: [to, amount], chain: null });
  await createPublicClient({ transport }).waitForTransactionReceipt({ hash });
}

/** The token balance of `who`. */
export async function tokenBalance(url, token, who) {
  return createPublicClient({ transport: http(url) }).readContract({ address: token, abi: tokenAbi, functionName: "balanceOf", args: [who] });
}

/**
 * `uraiden proxy` as the receiver (account 1) in front of `files` ({name: content}) at `price`
 * a file, with `confirmations`; stopped by `stop()`.
 */
export async function startProxy(url, record, { files, price, confirmations = 2, chainExtra = "", extra = "" }) {
  const dir = mkdtempSync(join(tmpdir(), "uraiden-js-proxy-"));
  mkdirSync(join(dir, "public"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, "public", name), content);
  const port = await freePort();
  const config = [
    "[chain]",
    `rpc_url = "${url}"`,
    `contract = "${record.channels}"`,
    `confirmations = ${confirmations}`,
    chainExtra,
    "",
    "[receiver]",
    `store = "sqlite://${join(dir, "store.sqlite")}"`,
    "",
    "[server]",
    `listen = "127.0.0.1:${port}"`,
    extra,
    "",
    "[[route]]",
    'path = "/*"',
    `price = ${price}`,
    'dir = "public"',
    "",
  ].join("\n");
  writeFileSync(join(dir, "proxy.toml"), config);
  const child = spawn(URAIDEN, ["proxy", "--config", join(dir, "proxy.toml")], {
    env: { ...process.env, PRIVATE_KEY: KEYS[1] },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => {
    log += chunk;
  });
  const base = `http://127.0.0.1:${port}`;
  await until("the proxy is ready", async () => (await fetch(`${base}/ready`)).ok, 60_000).catch((error) => {
    child.kill("SIGKILL");
    throw new Error(`${error.message}\n${log}`);
  });
  return {
    base,
    dir,
    log: () => log,
    stop: () => {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
