// The EIP-712 types a channel's parties sign, mirrored from the crate's src/proof/domain.rs (the
// one source of truth; tests/js.rs checks this module's digests against it).

import { type Address, type Hex, type TypedDataDomain, hashTypedData } from "viem";

/** The domain name, as in the contract's constructor. */
export const DOMAIN_NAME = "RaidenMicroTransferChannels";
/** The domain version, as in the contract's constructor. */
export const DOMAIN_VERSION = "1";

/** What a sender signs to pay: the receiver may claim `balance` of the channel. */
export const BALANCE_PROOF_TYPES = {
  BalanceProof: [
    { name: "receiver", type: "address" },
    { name: "openBlockNumber", type: "uint32" },
    { name: "balance", type: "uint192" },
  ],
} as const;

/** What a receiver signs to agree to close at the balance of the sender's signature. */
export const CLOSING_AGREEMENT_TYPES = {
  ClosingAgreement: [{ name: "balanceMsgSig", type: "bytes" }],
} as const;

/** What a sender signs to ask its receiver for a cooperative close (off chain only). */
export const CLOSE_REQUEST_TYPES = {
  CloseRequest: [
    { name: "receiver", type: "address" },
    { name: "openBlockNumber", type: "uint32" },
    { name: "balance", type: "uint192" },
  ],
} as const;

/** The EIP-712 domain of the channel contract `contract` on chain `chainId`. */
export function channelDomain(chainId: number | bigint, contract: Address): TypedDataDomain {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: Number(chainId), verifyingContract: contract };
}

/** The typed data of a balance proof, as `signTypedData` and `recoverTypedDataAddress` take it. */
export function balanceProof(domain: TypedDataDomain, receiver: Address, openBlock: number, balance: bigint) {
  return {
    domain,
    types: BALANCE_PROOF_TYPES,
    primaryType: "BalanceProof" as const,
    message: { receiver, openBlockNumber: openBlock, balance },
  };
}

/** The typed data of a receiver's closing agreement over the sender's balance proof. */
export function closingAgreement(domain: TypedDataDomain, balanceSignature: Hex) {
  return {
    domain,
    types: CLOSING_AGREEMENT_TYPES,
    primaryType: "ClosingAgreement" as const,
    message: { balanceMsgSig: balanceSignature },
  };
}

/** The typed data of a sender's cooperative close request. */
export function closeRequest(domain: TypedDataDomain, receiver: Address, openBlock: number, balance: bigint) {
  return {
    domain,
    types: CLOSE_REQUEST_TYPES,
    primaryType: "CloseRequest" as const,
    message: { receiver, openBlockNumber: openBlock, balance },
  };
}

/** The digest a balance proof signs: the contract's `balanceMessageHash`. */
export function balanceProofDigest(
  chainId: number | bigint,
  contract: Address,
  receiver: Address,
  openBlock: number,
  balance: bigint,
): Hex {
  return hashTypedData(balanceProof(channelDomain(chainId, contract), receiver, openBlock, balance));
}
