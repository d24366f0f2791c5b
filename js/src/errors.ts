// Why a client refuses or fails, as one error type with a stable code.

/** What went wrong, for code to branch on. */
export type ErrorCode =
  /** A server or a chain broke the protocol (a balance not signed by this sender, a foreign closing signature, …). */
  | "protocol"
  /** The payment needs more deposit than the channel has: top up. */
  | "insufficient_deposit"
  /** The wallet is on another chain than the channel's. */
  | "wrong_network"
  /** The person refused in the wallet (EIP-1193 code 4001). */
  | "rejected"
  /** The channel is not open (closing or settled). */
  | "not_open"
  /** A transaction would revert (checked before the wallet is asked). */
  | "would_revert"
  /** Too early: the challenge period has not passed. */
  | "too_early"
  /** The server answered something else than the protocol says. */
  | "server";

/** An error of this library: `code` says which. */
export class UraidenError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "UraidenError";
  }
}

/** Whether `error` is a wallet's refusal (EIP-1193 code 4001, anywhere in its causes). */
export function isUserRejection(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 4001 || (e as { name?: string }).name === "UserRejectedRequestError") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
