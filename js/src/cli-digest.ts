// Prints the BalanceProof digest: node dist/cli-digest.mjs <chainId> <contract> <receiver> <openBlock> <balance>
// (tests/js.rs compares it with the crate's src/proof).

import { getAddress } from "viem";
import { balanceProofDigest } from "./typedData.js";

const [chainId, contract, receiver, openBlock, balance] = process.argv.slice(2);
if (balance === undefined) {
  console.error("usage: cli-digest <chainId> <contract> <receiver> <openBlock> <balance>");
  process.exit(2);
}
console.log(
  balanceProofDigest(BigInt(chainId), getAddress(contract), getAddress(receiver), Number(openBlock), BigInt(balance)),
);
