// Wallets: in a page, any EIP-1193 provider, discovered with EIP-6963 (window.ethereum as the
// fallback); in Node, a viem account over HTTP. Either way a `ChainContext` for the rest.

import {
  type Account,
  type Address,
  type EIP1193Provider,
  createPublicClient,
  createWalletClient,
  custom,
  getAddress,
  http,
} from "viem";
import type { ChainContext } from "./chain.js";
import { UraidenError, isUserRejection } from "./errors.js";

/** What an EIP-6963 wallet announces. */
export interface WalletInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}

/** An announced wallet. */
export interface AnnouncedWallet {
  info: WalletInfo;
  provider: EIP1193Provider;
}

/**
 * The wallets the page's extensions announce (EIP-6963), waiting `timeoutMs` for answers; with
 * none, `window.ethereum` if a wallet set it.
 */
export async function discoverWallets(timeoutMs = 300): Promise<AnnouncedWallet[]> {
  const target = globalThis as unknown as {
    addEventListener?: (type: string, listener: (event: Event) => void) => void;
    removeEventListener?: (type: string, listener: (event: Event) => void) => void;
    dispatchEvent?: (event: Event) => boolean;
    ethereum?: EIP1193Provider;
  };
  const found: AnnouncedWallet[] = [];
  if (target.addEventListener && target.dispatchEvent) {
    const listener = (event: Event) => {
      const detail = (event as CustomEvent<AnnouncedWallet>).detail;
      if (detail?.provider && !found.some((w) => w.info?.uuid === detail.info?.uuid)) found.push(detail);
    };
    target.addEventListener("eip6963:announceProvider", listener);
    target.dispatchEvent(new Event("eip6963:requestProvider"));
    await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    target.removeEventListener?.("eip6963:announceProvider", listener);
  }
  if (found.length === 0 && target.ethereum) {
    found.push({ info: { uuid: "window.ethereum", name: "Browser wallet", icon: "", rdns: "" }, provider: target.ethereum });
  }
  return found;
}

/**
 * A context over an EIP-1193 `provider` for `account` (ask for it with `requestAccount`): reads
 * and transactions go through the wallet, which signs.
 */
export function providerContext(
  provider: EIP1193Provider,
  account: Address,
  chainId: number,
  contract: Address,
): ChainContext {
  const transport = custom(provider);
  return {
    publicClient: createPublicClient({ transport }),
    signer: { wallet: createWalletClient({ transport }), account: getAddress(account) },
    chainId,
    contract: getAddress(contract),
  };
}

/** Asks the wallet for the person's account (a prompt, once the person acted). */
export async function requestAccount(provider: EIP1193Provider): Promise<Address> {
  let accounts: readonly Address[];
  try {
    accounts = await createWalletClient({ transport: custom(provider) }).requestAddresses();
  } catch (cause) {
    if (isUserRejection(cause)) throw new UraidenError("rejected", "the wallet refused to connect", { cause });
    throw cause;
  }
  if (accounts.length === 0) throw new UraidenError("rejected", "the wallet gave no account");
  return getAddress(accounts[0]);
}

/** The account the wallet already authorised for this page, without a prompt (`eth_accounts`). */
export async function authorizedAccount(provider: EIP1193Provider): Promise<Address | undefined> {
  const accounts = await createWalletClient({ transport: custom(provider) }).getAddresses();
  return accounts.length > 0 ? getAddress(accounts[0]) : undefined;
}

/** A context in Node (or anywhere): a viem account signing locally, a node at `rpcUrl`. */
export function accountContext(account: Account, rpcUrl: string, chainId: number, contract: Address): ChainContext {
  const transport = http(rpcUrl);
  return {
    publicClient: createPublicClient({ transport }),
    signer: { wallet: createWalletClient({ transport, account }), account },
    chainId,
    contract: getAddress(contract),
  };
}
