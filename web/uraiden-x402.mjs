// The sender's side of the x402 scheme `uraiden-channel` (docs/http-protocol.md), as a scheme
// client for the official x402 SDK (@x402/core): each payment is an EIP-712 balance proof of
// the channel's balance plus the price, signed by a viem account or a wallet in the page.
//
//   import { x402Client, x402HTTPClient } from "@x402/core/client";
//   // an open, confirmed channel: the payment requirements must name this receiver, chain and contract
//   const channel = { receiver, chainId: 31337, contract, openBlockNumber: 42, balance: 0n };
//   const client = new x402Client().register("eip155:*", new UraidenChannelScheme(account, channel));
//   const http = new x402HTTPClient(client);
//   // on a 402: http.getPaymentRequiredResponse(...) -> createPaymentPayload -> encodePaymentSignatureHeader
//   // on a 2xx: UraidenChannelScheme.acknowledge(channel, http.getPaymentSettleResponse(...))

/** The x402 scheme name. */
export const SCHEME = "uraiden-channel";

/** The EIP-712 type of a balance proof: the contract's `BalanceProof` (src/proof/domain.rs). */
export const BALANCE_PROOF_TYPES = {
  BalanceProof: [
    { name: "receiver", type: "address" },
    { name: "openBlockNumber", type: "uint32" },
    { name: "balance", type: "uint192" },
  ],
};

/** The chain id of a CAIP-2 `eip155:<id>` network. */
export function chainIdOf(network) {
  const match = /^eip155:(\d+)$/.exec(network);
  if (!match) throw new Error(`network ${JSON.stringify(network)} is not eip155:<chain id>`);
  return Number(match[1]);
}

/** The EIP-712 domain the requirements' `extra` names. */
export function domainOf(requirements) {
  const { name, version, verifyingContract } = requirements.extra ?? {};
  if (typeof name !== "string" || typeof version !== "string" || typeof verifyingContract !== "string") {
    throw new Error("the requirements' extra lacks name, version or verifyingContract");
  }
  return { name, version, chainId: chainIdOf(requirements.network), verifyingContract };
}

/** Throws unless `requirements` (and their EIP-712 `domain`) are for `channel`'s receiver, chain and contract. */
export function checkChannel(channel, requirements, domain) {
  const same = (a, b) => typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
  if (channel.receiver === undefined || channel.chainId === undefined || channel.contract === undefined) {
    throw new Error("the channel lacks receiver, chainId or contract");
  }
  if (!same(requirements.payTo, channel.receiver)) {
    throw new Error(`the server asks payment to ${requirements.payTo}; the channel's receiver is ${channel.receiver}`);
  }
  if (domain.chainId !== Number(channel.chainId)) {
    throw new Error(`the server asks payment on ${requirements.network}; the channel is on eip155:${channel.chainId}`);
  }
  if (!same(domain.verifyingContract, channel.contract)) {
    throw new Error(
      `the server names contract ${domain.verifyingContract}; the channel's contract is ${channel.contract}`,
    );
  }
}

/**
 * A scheme client paying over one channel. `signer` is a viem account (`signTypedData`) or
 * wallet client (`account` and `signTypedData`); `channel` is
 * `{ receiver, chainId, contract, openBlockNumber, balance }`: the channel's receiver, chain and
 * contract (requirements naming another `payTo`, network or `verifyingContract` are refused:
 * a server does not choose what the sender signs for), and `balance` (a bigint) the last balance
 * the receiver acknowledged. A payment signs
 * `balance + amount` and records it as `channel.signed`; call `acknowledge` with the settlement
 * response to move the balance on: only to the balance just signed, never to one a server
 * merely claims.
 */
export class UraidenChannelScheme {
  constructor(signer, channel, { maxAmount } = {}) {
    this.scheme = SCHEME;
    this.signer = signer;
    this.channel = channel;
    this.maxAmount = maxAmount === undefined ? undefined : BigInt(maxAmount);
  }

  get sender() {
    return this.signer.account?.address ?? this.signer.address;
  }

  async createPaymentPayload(x402Version, requirements) {
    if (requirements.scheme !== SCHEME) throw new Error(`scheme ${requirements.scheme} is not ${SCHEME}`);
    const amount = BigInt(requirements.amount);
    if (this.maxAmount !== undefined && amount > this.maxAmount) {
      throw new Error(`the server asks ${amount}; the cap is ${this.maxAmount}`);
    }
    const domain = domainOf(requirements);
    checkChannel(this.channel, requirements, domain);
    const balance = BigInt(this.channel.balance) + amount;
    const signature = await this.signer.signTypedData({
      ...(this.signer.account ? { account: this.signer.account } : {}),
      domain,
      types: BALANCE_PROOF_TYPES,
      primaryType: "BalanceProof",
      message: { receiver: requirements.payTo, openBlockNumber: this.channel.openBlockNumber, balance },
    });
    this.channel.signed = balance;
    return {
      x402Version,
      payload: {
        sender: this.sender,
        openBlockNumber: this.channel.openBlockNumber,
        balance: balance.toString(),
        signature,
      },
    };
  }

  /**
   * Adopts the balance a successful settlement response reports for this channel, only when it
   * is the balance this client signed last (`channel.signed`): a server reporting any other
   * balance (above it: a balance the sender never signed) breaks the protocol, and this throws
   * without moving the balance.
   */
  static acknowledge(channel, settlement) {
    if (!settlement?.success) throw new Error("the payment was not settled");
    if (settlement.extra?.openBlockNumber !== channel.openBlockNumber) {
      throw new Error("the settlement is for another channel");
    }
    if (channel.signed === undefined) throw new Error("no payment was signed on this channel");
    let reported;
    try {
      reported = BigInt(settlement.extra.balance);
    } catch {
      throw new Error(`the settlement's balance ${JSON.stringify(settlement.extra.balance)} is not an integer`);
    }
    if (reported !== BigInt(channel.signed)) {
      throw new Error(
        `protocol error: the server reports balance ${reported}, but the last balance signed is ${channel.signed}`,
      );
    }
    channel.balance = reported;
    return channel;
  }
}
