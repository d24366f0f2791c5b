// Prepaid sessions (docs/http-protocol.md, "Prepaid sessions"): one payment buys `n` requests of
// a route, and the next ones carry the server's credential instead of a payment. `withSessions`
// wraps a fetch so that it sends a credential it holds for the URL, and keeps the credentials
// the server answers with; under the x402 SDK's paying fetch (`wrapFetchWithPayment`), a refused
// credential's 402 is paid as any other.

import { UraidenError } from "./errors.js";
import { PAYMENT_SIGNATURE } from "./x402.js";

/** Request: a session's credential; response: the credential a payment bought. */
export const SESSION = "RDN-Session";
/** Response: requests the session has left. */
export const SESSION_REMAINING = "RDN-Session-Remaining";
/** Request beside an RDN payment: how many requests it buys (x402: `payload.sessionRequests`). */
export const SESSION_REQUESTS = "RDN-Session-Requests";

/** A route's offer of sessions (x402's `extra.session`). */
export interface SessionOffer {
  maxRequests: number;
  scope: string;
  ttlSeconds: number;
}

/** What a credential grants, as far as a client reads it. */
export interface Grant {
  /** The path it is good for: a prefix ending in `/`, or one path. */
  scope: string;
  /** Requests bought. */
  requests: number;
  /** When it ends (unix seconds). */
  expires: number;
}

/** The bytes of a grant before its scope (receiver, contract, chain, sender, block, price, requests, balance, expiry). */
const FIXED = 20 + 20 + 8 + 20 + 4 + 24 + 4 + 24 + 8;

function base64url(text: string): Uint8Array {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** Reads what a credential (`v1.<grant>.<mac>`) grants; throws if it is not one. */
export function grantOf(credential: string): Grant {
  const [version, grant, mac, extra] = credential.trim().split(".");
  if (version !== "v1" || !grant || !mac || extra !== undefined) {
    throw new UraidenError("protocol", "the session credential is not v1.<grant>.<mac>");
  }
  const bytes = base64url(grant);
  if (bytes.length < FIXED) throw new UraidenError("protocol", "the session credential's grant is too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    requests: view.getUint32(96),
    expires: Number(view.getBigUint64(124)),
    scope: new TextDecoder().decode(bytes.subarray(FIXED)),
  };
}

/** Whether `path` is in `scope`. */
export function inScope(scope: string, path: string): boolean {
  return scope.endsWith("/") ? path.startsWith(scope) : path === scope;
}

interface Held {
  credential: string;
  scope: string;
  remaining: number;
  expires: number;
}

/** The credentials a client bought, by origin and scope. */
export class SessionWallet {
  #held = new Map<string, Held>();

  /** A live credential for `url`, if one was bought with requests left. */
  forUrl(url: URL): Held | undefined {
    const now = Date.now() / 1000;
    let best: Held | undefined;
    for (const [key, held] of this.#held) {
      if (!key.startsWith(`${url.origin} `) || !inScope(held.scope, url.pathname)) continue;
      if (held.remaining <= 0 || held.expires <= now) continue;
      if (!best || held.scope.length > best.scope.length) best = held;
    }
    return best;
  }

  /** Keeps (or updates) what the server answered for `url`. */
  keep(url: URL, credential: string, remaining: number) {
    const grant = grantOf(credential);
    this.#held.set(`${url.origin} ${grant.scope}`, { credential, scope: grant.scope, remaining, expires: grant.expires });
  }

  /** Forgets `held` (the server refused it). */
  forget(url: URL, held: Held) {
    this.#held.delete(`${url.origin} ${held.scope}`);
  }
}

/**
 * A fetch that sends the credential of a session bought for the URL (unless the request
 * carries a payment), keeps the credentials and counts the server answers with, and forgets a
 * credential the server refuses (its 402 is returned, to be paid).
 */
export function withSessions(fetcher: typeof fetch = globalThis.fetch, wallet = new SessionWallet()): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const paying = request.headers.has(PAYMENT_SIGNATURE);
    const held = paying ? undefined : wallet.forUrl(url);
    if (held) request.headers.set(SESSION, held.credential);
    const response = await fetcher(request);
    const remaining = Number(response.headers.get(SESSION_REMAINING));
    const bought = response.headers.get(SESSION);
    if (bought) {
      wallet.keep(url, bought, remaining);
    } else if (held && response.status === 402) {
      wallet.forget(url, held);
    } else if (held && response.ok && Number.isInteger(remaining)) {
      held.remaining = Math.min(held.remaining, remaining);
    }
    return response;
  };
}
