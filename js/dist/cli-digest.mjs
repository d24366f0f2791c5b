// src/cli-digest.ts
import { getAddress } from "viem";

// src/typedData.ts
import { hashTypedData } from "viem";
var DOMAIN_NAME = "RaidenMicroTransferChannels";
var DOMAIN_VERSION = "1";
var BALANCE_PROOF_TYPES = {
  BalanceProof: [
    { name: "receiver", type: "address" },
    { name: "openBlockNumber", type: "uint32" },
    { name: "balance", type: "uint192" }
  ]
};
function channelDomain(chainId2, contract2) {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: Number(chainId2), verifyingContract: contract2 };
}
function balanceProof(domain, receiver2, openBlock2, balance2) {
  return {
    domain,
    types: BALANCE_PROOF_TYPES,
    primaryType: "BalanceProof",
    message: { receiver: receiver2, openBlockNumber: openBlock2, balance: balance2 }
  };
}
function balanceProofDigest(chainId2, contract2, receiver2, openBlock2, balance2) {
  return hashTypedData(balanceProof(channelDomain(chainId2, contract2), receiver2, openBlock2, balance2));
}

// src/cli-digest.ts
var [chainId, contract, receiver, openBlock, balance] = process.argv.slice(2);
if (balance === void 0) {
  console.error("usage: cli-digest <chainId> <contract> <receiver> <openBlock> <balance>");
  process.exit(2);
}
console.log(
  balanceProofDigest(BigInt(chainId), getAddress(contract), getAddress(receiver), Number(openBlock), BigInt(balance))
);
