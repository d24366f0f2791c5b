// src/abi.ts
var channelsAbi = [{ "type": "constructor", "inputs": [{ "name": "_token", "type": "address", "internalType": "address" }, { "name": "_challenge_period", "type": "uint32", "internalType": "uint32" }], "stateMutability": "nonpayable" }, { "type": "function", "name": "balanceMessageHash", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }, { "name": "_balance", "type": "uint192", "internalType": "uint192" }], "outputs": [{ "name": "", "type": "bytes32", "internalType": "bytes32" }], "stateMutability": "view" }, { "type": "function", "name": "challenge_period", "inputs": [], "outputs": [{ "name": "", "type": "uint32", "internalType": "uint32" }], "stateMutability": "view" }, { "type": "function", "name": "close", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }, { "name": "_balance", "type": "uint192", "internalType": "uint192" }, { "name": "_balance_msg_sig", "type": "bytes", "internalType": "bytes" }, { "name": "_closing_sig", "type": "bytes", "internalType": "bytes" }], "outputs": [], "stateMutability": "nonpayable" }, { "type": "function", "name": "close", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }, { "name": "_balance", "type": "uint192", "internalType": "uint192" }, { "name": "_balance_msg_sig", "type": "bytes", "internalType": "bytes" }], "outputs": [], "stateMutability": "nonpayable" }, { "type": "function", "name": "closingAgreementMessageHash", "inputs": [{ "name": "_balance_msg_sig", "type": "bytes", "internalType": "bytes" }], "outputs": [{ "name": "", "type": "bytes32", "internalType": "bytes32" }], "stateMutability": "view" }, { "type": "function", "name": "createChannelERC20", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_deposit", "type": "uint192", "internalType": "uint192" }], "outputs": [], "stateMutability": "nonpayable" }, { "type": "function", "name": "eip712Domain", "inputs": [], "outputs": [{ "name": "fields", "type": "bytes1", "internalType": "bytes1" }, { "name": "name", "type": "string", "internalType": "string" }, { "name": "version", "type": "string", "internalType": "string" }, { "name": "chainId", "type": "uint256", "internalType": "uint256" }, { "name": "verifyingContract", "type": "address", "internalType": "address" }, { "name": "salt", "type": "bytes32", "internalType": "bytes32" }, { "name": "extensions", "type": "uint256[]", "internalType": "uint256[]" }], "stateMutability": "view" }, { "type": "function", "name": "getChannelInfo", "inputs": [{ "name": "_sender", "type": "address", "internalType": "address" }, { "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }], "outputs": [{ "name": "", "type": "bytes32", "internalType": "bytes32" }, { "name": "", "type": "uint192", "internalType": "uint192" }, { "name": "", "type": "uint32", "internalType": "uint32" }, { "name": "", "type": "uint192", "internalType": "uint192" }], "stateMutability": "view" }, { "type": "function", "name": "getKey", "inputs": [{ "name": "_sender", "type": "address", "internalType": "address" }, { "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }], "outputs": [{ "name": "key", "type": "bytes32", "internalType": "bytes32" }], "stateMutability": "pure" }, { "type": "function", "name": "owner", "inputs": [], "outputs": [{ "name": "", "type": "address", "internalType": "address" }], "stateMutability": "view" }, { "type": "function", "name": "settle", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }], "outputs": [], "stateMutability": "nonpayable" }, { "type": "function", "name": "tokenFallback", "inputs": [{ "name": "_sender", "type": "address", "internalType": "address" }, { "name": "_deposit", "type": "uint256", "internalType": "uint256" }, { "name": "_data", "type": "bytes", "internalType": "bytes" }], "outputs": [], "stateMutability": "nonpayable" }, { "type": "function", "name": "token_address", "inputs": [], "outputs": [{ "name": "", "type": "address", "internalType": "address" }], "stateMutability": "view" }, { "type": "function", "name": "topUpERC20", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }, { "name": "_added_deposit", "type": "uint192", "internalType": "uint192" }], "outputs": [], "stateMutability": "nonpayable" }, { "type": "function", "name": "verifyBalanceProof", "inputs": [{ "name": "_receiver", "type": "address", "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "internalType": "uint32" }, { "name": "_balance", "type": "uint192", "internalType": "uint192" }, { "name": "_balance_msg_sig", "type": "bytes", "internalType": "bytes" }], "outputs": [{ "name": "", "type": "address", "internalType": "address" }], "stateMutability": "view" }, { "type": "function", "name": "verifyClosingSignature", "inputs": [{ "name": "_balance_msg_sig", "type": "bytes", "internalType": "bytes" }, { "name": "_closing_sig", "type": "bytes", "internalType": "bytes" }], "outputs": [{ "name": "", "type": "address", "internalType": "address" }], "stateMutability": "view" }, { "type": "event", "name": "ChannelCloseRequested", "inputs": [{ "name": "_sender", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_receiver", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "indexed": true, "internalType": "uint32" }, { "name": "_balance", "type": "uint192", "indexed": false, "internalType": "uint192" }], "anonymous": false }, { "type": "event", "name": "ChannelCreated", "inputs": [{ "name": "_sender", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_receiver", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_deposit", "type": "uint192", "indexed": false, "internalType": "uint192" }], "anonymous": false }, { "type": "event", "name": "ChannelSettled", "inputs": [{ "name": "_sender", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_receiver", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "indexed": true, "internalType": "uint32" }, { "name": "_balance", "type": "uint192", "indexed": false, "internalType": "uint192" }], "anonymous": false }, { "type": "event", "name": "ChannelToppedUp", "inputs": [{ "name": "_sender", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_receiver", "type": "address", "indexed": true, "internalType": "address" }, { "name": "_open_block_number", "type": "uint32", "indexed": true, "internalType": "uint32" }, { "name": "_added_deposit", "type": "uint192", "indexed": false, "internalType": "uint192" }, { "name": "_deposit", "type": "uint192", "indexed": false, "internalType": "uint192" }], "anonymous": false }, { "type": "event", "name": "EIP712DomainChanged", "inputs": [], "anonymous": false }, { "type": "error", "name": "BalanceExceedsDeposit", "inputs": [{ "name": "balance", "type": "uint192", "internalType": "uint192" }, { "name": "deposit", "type": "uint192", "internalType": "uint192" }] }, { "type": "error", "name": "BlockNumberTooLarge", "inputs": [{ "name": "blockNumber", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "CallerNotSenderOrReceiver", "inputs": [{ "name": "caller", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "CallerNotToken", "inputs": [{ "name": "caller", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "ChallengePeriodNotOver", "inputs": [{ "name": "settleBlockNumber", "type": "uint32", "internalType": "uint32" }] }, { "type": "error", "name": "ChannelExists", "inputs": [{ "name": "key", "type": "bytes32", "internalType": "bytes32" }] }, { "type": "error", "name": "ChannelNotFound", "inputs": [{ "name": "key", "type": "bytes32", "internalType": "bytes32" }] }, { "type": "error", "name": "CloseAlreadyRequested", "inputs": [{ "name": "key", "type": "bytes32", "internalType": "bytes32" }] }, { "type": "error", "name": "CloseNotRequested", "inputs": [{ "name": "key", "type": "bytes32", "internalType": "bytes32" }] }, { "type": "error", "name": "ClosingSignerNotReceiver", "inputs": [{ "name": "signer", "type": "address", "internalType": "address" }, { "name": "receiver", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "DepositOverflow", "inputs": [{ "name": "deposit", "type": "uint192", "internalType": "uint192" }, { "name": "addedDeposit", "type": "uint192", "internalType": "uint192" }] }, { "type": "error", "name": "DepositTooLarge", "inputs": [{ "name": "deposit", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "InvalidReceiver", "inputs": [] }, { "type": "error", "name": "InvalidShortString", "inputs": [] }, { "type": "error", "name": "InvalidSignature", "inputs": [] }, { "type": "error", "name": "InvalidSignatureLength", "inputs": [{ "name": "length", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "InvalidSignatureS", "inputs": [{ "name": "s", "type": "bytes32", "internalType": "bytes32" }] }, { "type": "error", "name": "InvalidTokenFallbackData", "inputs": [{ "name": "length", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "SafeERC20FailedOperation", "inputs": [{ "name": "token", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "SettleBlockTooLarge", "inputs": [{ "name": "settleBlockNumber", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "StringTooLong", "inputs": [{ "name": "str", "type": "string", "internalType": "string" }] }, { "type": "error", "name": "TokenHasNoCode", "inputs": [{ "name": "token", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "ZeroChallengePeriod", "inputs": [] }, { "type": "error", "name": "ZeroDeposit", "inputs": [] }];
var tokenAbi = [{ "type": "constructor", "inputs": [{ "name": "initialSupply", "type": "uint256", "internalType": "uint256" }], "stateMutability": "nonpayable" }, { "type": "function", "name": "allowance", "inputs": [{ "name": "owner", "type": "address", "internalType": "address" }, { "name": "spender", "type": "address", "internalType": "address" }], "outputs": [{ "name": "", "type": "uint256", "internalType": "uint256" }], "stateMutability": "view" }, { "type": "function", "name": "approve", "inputs": [{ "name": "spender", "type": "address", "internalType": "address" }, { "name": "value", "type": "uint256", "internalType": "uint256" }], "outputs": [{ "name": "", "type": "bool", "internalType": "bool" }], "stateMutability": "nonpayable" }, { "type": "function", "name": "balanceOf", "inputs": [{ "name": "account", "type": "address", "internalType": "address" }], "outputs": [{ "name": "", "type": "uint256", "internalType": "uint256" }], "stateMutability": "view" }, { "type": "function", "name": "decimals", "inputs": [], "outputs": [{ "name": "", "type": "uint8", "internalType": "uint8" }], "stateMutability": "view" }, { "type": "function", "name": "name", "inputs": [], "outputs": [{ "name": "", "type": "string", "internalType": "string" }], "stateMutability": "view" }, { "type": "function", "name": "symbol", "inputs": [], "outputs": [{ "name": "", "type": "string", "internalType": "string" }], "stateMutability": "view" }, { "type": "function", "name": "totalSupply", "inputs": [], "outputs": [{ "name": "", "type": "uint256", "internalType": "uint256" }], "stateMutability": "view" }, { "type": "function", "name": "transfer", "inputs": [{ "name": "to", "type": "address", "internalType": "address" }, { "name": "value", "type": "uint256", "internalType": "uint256" }], "outputs": [{ "name": "", "type": "bool", "internalType": "bool" }], "stateMutability": "nonpayable" }, { "type": "function", "name": "transfer", "inputs": [{ "name": "to", "type": "address", "internalType": "address" }, { "name": "value", "type": "uint256", "internalType": "uint256" }, { "name": "data", "type": "bytes", "internalType": "bytes" }], "outputs": [{ "name": "", "type": "bool", "internalType": "bool" }], "stateMutability": "nonpayable" }, { "type": "function", "name": "transferFrom", "inputs": [{ "name": "from", "type": "address", "internalType": "address" }, { "name": "to", "type": "address", "internalType": "address" }, { "name": "value", "type": "uint256", "internalType": "uint256" }], "outputs": [{ "name": "", "type": "bool", "internalType": "bool" }], "stateMutability": "nonpayable" }, { "type": "event", "name": "Approval", "inputs": [{ "name": "owner", "type": "address", "indexed": true, "internalType": "address" }, { "name": "spender", "type": "address", "indexed": true, "internalType": "address" }, { "name": "value", "type": "uint256", "indexed": false, "internalType": "uint256" }], "anonymous": false }, { "type": "event", "name": "Transfer", "inputs": [{ "name": "from", "type": "address", "indexed": true, "internalType": "address" }, { "name": "to", "type": "address", "indexed": true, "internalType": "address" }, { "name": "value", "type": "uint256", "indexed": false, "internalType": "uint256" }], "anonymous": false }, { "type": "error", "name": "ERC20InsufficientAllowance", "inputs": [{ "name": "spender", "type": "address", "internalType": "address" }, { "name": "allowance", "type": "uint256", "internalType": "uint256" }, { "name": "needed", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "ERC20InsufficientBalance", "inputs": [{ "name": "sender", "type": "address", "internalType": "address" }, { "name": "balance", "type": "uint256", "internalType": "uint256" }, { "name": "needed", "type": "uint256", "internalType": "uint256" }] }, { "type": "error", "name": "ERC20InvalidApprover", "inputs": [{ "name": "approver", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "ERC20InvalidReceiver", "inputs": [{ "name": "receiver", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "ERC20InvalidSender", "inputs": [{ "name": "sender", "type": "address", "internalType": "address" }] }, { "type": "error", "name": "ERC20InvalidSpender", "inputs": [{ "name": "spender", "type": "address", "internalType": "address" }] }];

// src/errors.ts
var UraidenError = class extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.code = code;
    this.name = "UraidenError";
  }
  code;
};
function isUserRejection(error) {
  for (let e = error, depth = 0; e && depth < 8; depth++) {
    const code = e.code;
    if (code === 4001 || e.name === "UserRejectedRequestError") return true;
    e = e.cause;
  }
  return false;
}

// src/pay.ts
import { recoverTypedDataAddress } from "viem";

// src/channel.ts
function after(state, event) {
  switch (event.kind) {
    case "opened":
      return state === void 0 ? { deposit: event.deposit, status: "open" } : { ...state, deposit: event.deposit };
    case "toppedUp":
      return state && { ...state, deposit: event.deposit };
    case "closeRequested":
      if (!state || state.status === "settled") return state;
      return { ...state, status: "closing", closingBalance: event.balance, settleBlock: event.settleBlock };
    case "settled":
      return state && { ...state, status: "settled" };
  }
}
function sameAddress(a, b) {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}
function sameChannel(a, b) {
  return a.chainId === b.chainId && sameAddress(a.contract, b.contract) && sameAddress(a.sender, b.sender) && sameAddress(a.receiver, b.receiver) && a.openBlock === b.openBlock;
}

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
var CLOSING_AGREEMENT_TYPES = {
  ClosingAgreement: [{ name: "balanceMsgSig", type: "bytes" }]
};
var CLOSE_REQUEST_TYPES = {
  CloseRequest: [
    { name: "receiver", type: "address" },
    { name: "openBlockNumber", type: "uint32" },
    { name: "balance", type: "uint192" }
  ]
};
function channelDomain(chainId, contract) {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: Number(chainId), verifyingContract: contract };
}
function balanceProof(domain, receiver, openBlock, balance) {
  return {
    domain,
    types: BALANCE_PROOF_TYPES,
    primaryType: "BalanceProof",
    message: { receiver, openBlockNumber: openBlock, balance }
  };
}
function closingAgreement(domain, balanceSignature) {
  return {
    domain,
    types: CLOSING_AGREEMENT_TYPES,
    primaryType: "ClosingAgreement",
    message: { balanceMsgSig: balanceSignature }
  };
}
function closeRequest(domain, receiver, openBlock, balance) {
  return {
    domain,
    types: CLOSE_REQUEST_TYPES,
    primaryType: "CloseRequest",
    message: { receiver, openBlockNumber: openBlock, balance }
  };
}
function balanceProofDigest(chainId, contract, receiver, openBlock, balance) {
  return hashTypedData(balanceProof(channelDomain(chainId, contract), receiver, openBlock, balance));
}

// src/pay.ts
function signerAddress(signer) {
  return typeof signer.account === "string" ? signer.account : signer.account.address;
}
async function signBalance(signer, channel, balance) {
  if (!sameAddress(signerAddress(signer), channel.sender)) {
    throw new UraidenError("protocol", `the channel's sender is ${channel.sender}, not ${signerAddress(signer)}`);
  }
  const domain = channelDomain(channel.chainId, channel.contract);
  return signer.wallet.signTypedData({
    account: signer.account,
    ...balanceProof(domain, channel.receiver, channel.openBlock, balance)
  });
}
async function signPayment(signer, channel, amount) {
  if (amount < 0n) throw new UraidenError("protocol", `a price of ${amount} is negative`);
  if (channel.status !== "open") throw new UraidenError("not_open", `the channel is ${channel.status}`);
  const balance = channel.balance + amount;
  if (balance > channel.deposit) {
    throw new UraidenError(
      "insufficient_deposit",
      `paying ${amount} needs a balance of ${balance}, above the deposit of ${channel.deposit}`
    );
  }
  const signature = await signBalance(signer, channel, balance);
  channel.signed = { balance, signature };
  return channel.signed;
}
async function adoptBalance(channel, offered) {
  const domain = channelDomain(channel.chainId, channel.contract);
  let signer;
  try {
    signer = await recoverTypedDataAddress({
      ...balanceProof(domain, channel.receiver, channel.openBlock, offered.balance),
      signature: offered.signature
    });
  } catch (cause) {
    throw new UraidenError("protocol", `the server's balance ${offered.balance} carries no valid signature`, { cause });
  }
  if (!sameAddress(signer, channel.sender)) {
    throw new UraidenError(
      "protocol",
      `the server's balance ${offered.balance} is signed by ${signer}, not by this channel's sender`
    );
  }
  const limit = channel.recovered ? channel.deposit : channel.signed?.balance ?? channel.deposit;
  if (offered.balance > limit) {
    throw new UraidenError(
      "protocol",
      `the server's balance ${offered.balance} is above the last balance signed (${limit})`
    );
  }
  channel.balance = offered.balance;
  if (channel.recovered || channel.signed === void 0 || channel.signed.balance < offered.balance) {
    channel.signed = offered;
  }
  channel.recovered = false;
}
function acknowledge(channel, registered) {
  if (channel.signed === void 0) throw new UraidenError("protocol", "the server reports a payment never signed");
  if (registered !== channel.signed.balance) {
    throw new UraidenError(
      "protocol",
      `the server reports balance ${registered}, but the last balance signed is ${channel.signed.balance}`
    );
  }
  channel.balance = registered;
}

// src/chain.ts
function senderOf(ctx) {
  return signerAddress(ctx.signer);
}
async function tokenOf(ctx) {
  return ctx.publicClient.readContract({ address: ctx.contract, abi: channelsAbi, functionName: "token_address" });
}
async function challengePeriodOf(ctx) {
  const period = await ctx.publicClient.readContract({
    address: ctx.contract,
    abi: channelsAbi,
    functionName: "challenge_period"
  });
  return BigInt(period);
}
async function checkNetwork(ctx) {
  const walletChain = await ctx.signer.wallet.getChainId();
  if (walletChain !== ctx.chainId) {
    throw new UraidenError("wrong_network", `the wallet is on chain ${walletChain}, the channel on ${ctx.chainId}`);
  }
}
async function send(ctx, call, confirmations = 1) {
  await checkNetwork(ctx);
  const account = ctx.signer.account;
  let request;
  try {
    ({ request } = await ctx.publicClient.simulateContract({ ...call, account, blockTag: "pending" }));
  } catch (cause) {
    const reason = cause.shortMessage ?? String(cause);
    throw new UraidenError("would_revert", `${call.functionName} would fail: ${reason}`, { cause });
  }
  let hash;
  try {
    hash = await ctx.signer.wallet.writeContract({ ...request, chain: null });
  } catch (cause) {
    if (isUserRejection(cause)) throw new UraidenError("rejected", `the wallet refused ${call.functionName}`, { cause });
    throw cause;
  }
  const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash, confirmations });
  if (receipt.status !== "success") {
    throw new UraidenError("would_revert", `${call.functionName} reverted in transaction ${hash}`);
  }
  return receipt;
}

// src/channels.ts
async function findChannels(ctx, receiver, { fromBlock = 0n } = {}) {
  const sender = senderOf(ctx);
  const args = { _sender: sender, _receiver: receiver };
  const read = (eventName) => ctx.publicClient.getContractEvents({
    address: ctx.contract,
    abi: channelsAbi,
    eventName,
    args,
    fromBlock,
    toBlock: "latest",
    strict: true
  });
  const period = BigInt(
    await ctx.publicClient.readContract({ address: ctx.contract, abi: channelsAbi, functionName: "challenge_period" })
  );
  const [created, toppedUp, closeRequested, settled] = await Promise.all([
    read("ChannelCreated"),
    read("ChannelToppedUp"),
    read("ChannelCloseRequested"),
    read("ChannelSettled")
  ]);
  const placed = [];
  const at = (log) => ({
    block: log.blockNumber ?? 0n,
    index: log.logIndex ?? 0
  });
  for (const log of created) {
    const args2 = log.args;
    placed.push({ openBlock: Number(log.blockNumber), ...at(log), event: { kind: "opened", deposit: args2._deposit } });
  }
  for (const log of toppedUp) {
    const args2 = log.args;
    const event = { kind: "toppedUp", added: args2._added_deposit, deposit: args2._deposit };
    placed.push({ openBlock: Number(args2._open_block_number), ...at(log), event });
  }
  for (const log of closeRequested) {
    const args2 = log.args;
    const settleBlock = (log.blockNumber ?? 0n) + period;
    const event = { kind: "closeRequested", balance: args2._balance, settleBlock };
    placed.push({ openBlock: Number(args2._open_block_number), ...at(log), event });
  }
  for (const log of settled) {
    const args2 = log.args;
    placed.push({ openBlock: Number(args2._open_block_number), ...at(log), event: { kind: "settled", balance: args2._balance } });
  }
  placed.sort((a, b) => a.block === b.block ? a.index - b.index : a.block < b.block ? -1 : 1);
  const states = /* @__PURE__ */ new Map();
  for (const { openBlock, event } of placed) states.set(openBlock, after(states.get(openBlock), event));
  const channels = [];
  for (const [openBlock, state] of states) {
    if (!state) continue;
    channels.push({
      chainId: ctx.chainId,
      contract: ctx.contract,
      sender,
      receiver,
      openBlock,
      balance: 0n,
      recovered: true,
      ...state
    });
  }
  return channels.sort((a, b) => a.openBlock - b.openBlock);
}

// src/close.ts
import { isHex, parseEventLogs, recoverTypedDataAddress as recoverTypedDataAddress2 } from "viem";
var API_BASE = "/api/1";
function channelPath(apiBase, channel) {
  return `${apiBase}/channels/${channel.sender}/${channel.openBlock}`;
}
async function proofOfBalance(ctx, channel) {
  if (channel.signed && channel.signed.balance === channel.balance) return channel.signed.signature;
  return signBalance(ctx.signer, channel, channel.balance);
}
async function closeCooperatively(ctx, channel, { origin = "", apiBase = API_BASE, fetch: fetcher = globalThis.fetch, confirmations = 1 } = {}) {
  if (channel.status === "settled") throw new UraidenError("not_open", "the channel is settled");
  const domain = channelDomain(channel.chainId, channel.contract);
  const refund = await unusedPrepaid(`${origin}${channelPath(apiBase, channel)}`, fetcher);
  const balance = refund > 0n && refund <= channel.balance ? channel.balance - refund : channel.balance;
  const balanceSignature = balance === channel.balance ? await proofOfBalance(ctx, channel) : await signBalance(ctx.signer, channel, balance);
  const closeRequestSignature = await ctx.signer.wallet.signTypedData({
    account: ctx.signer.account,
    ...closeRequest(domain, channel.receiver, channel.openBlock, balance)
  });
  const response = await fetcher(`${origin}${channelPath(apiBase, channel)}`, {
    method: "DELETE",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      balance: balance.toString(),
      balance_signature: balanceSignature,
      close_request_signature: closeRequestSignature
    })
  });
  const body = await response.json().catch(() => void 0);
  if (!response.ok) {
    const reason = body?.message ?? body?.error ?? response.statusText;
    throw new UraidenError("server", `the receiver refused the close (${response.status}): ${reason}`);
  }
  const closingSignature = body?.close_signature;
  if (typeof closingSignature !== "string" || !isHex(closingSignature)) {
    throw new UraidenError("server", "the receiver's answer holds no close_signature");
  }
  let signer;
  try {
    signer = await recoverTypedDataAddress2({
      ...closingAgreement(domain, balanceSignature),
      signature: closingSignature
    });
  } catch (cause) {
    throw new UraidenError("protocol", "the receiver's closing signature is not a signature", { cause });
  }
  if (!sameAddress(signer, channel.receiver)) {
    throw new UraidenError("protocol", `the closing signature is ${signer}'s, not the receiver's`);
  }
  await send(
    ctx,
    {
      address: channel.contract,
      abi: channelsAbi,
      functionName: "close",
      args: [channel.receiver, channel.openBlock, balance, balanceSignature, closingSignature]
    },
    confirmations
  );
  channel.balance = balance;
  channel.status = "settled";
  return channel;
}
async function unusedPrepaid(url, fetcher) {
  try {
    const response = await fetcher(url, { signal: AbortSignal.timeout(1e4) });
    if (!response.ok) return 0n;
    const unused = (await response.json())?.unused_prepaid;
    return typeof unused === "string" && /^\d+$/.test(unused) ? BigInt(unused) : 0n;
  } catch {
    return 0n;
  }
}
async function requestClose(ctx, channel, { confirmations = 1 } = {}) {
  if (channel.status !== "open") throw new UraidenError("not_open", `the channel is ${channel.status}`);
  const balanceSignature = await proofOfBalance(ctx, channel);
  const receipt = await send(
    ctx,
    {
      address: channel.contract,
      abi: channelsAbi,
      functionName: "close",
      args: [channel.receiver, channel.openBlock, channel.balance, balanceSignature]
    },
    confirmations
  );
  const [requested] = parseEventLogs({ abi: channelsAbi, eventName: "ChannelCloseRequested", logs: receipt.logs });
  const [settled] = parseEventLogs({ abi: channelsAbi, eventName: "ChannelSettled", logs: receipt.logs });
  if (settled) {
    channel.status = "settled";
    return channel;
  }
  if (!requested) throw new UraidenError("protocol", `transaction ${receipt.transactionHash} requested no close`);
  channel.status = "closing";
  channel.closingBalance = requested.args._balance;
  channel.settleBlock = receipt.blockNumber + await challengePeriodOf(ctx);
  return channel;
}
async function blocksToSettle(ctx, channel) {
  if (channel.settleBlock === void 0) throw new UraidenError("not_open", "no close was requested");
  const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 });
  return head > channel.settleBlock ? 0n : channel.settleBlock - head + 1n;
}
async function settle(ctx, channel, { confirmations = 1 } = {}) {
  const left = await blocksToSettle(ctx, channel);
  if (left > 0n) throw new UraidenError("too_early", `the challenge period ends in ${left} blocks`);
  await send(
    ctx,
    {
      address: channel.contract,
      abi: channelsAbi,
      functionName: "settle",
      args: [channel.receiver, channel.openBlock]
    },
    confirmations
  );
  channel.status = "settled";
  return channel;
}

// src/deposit.ts
import { encodePacked, parseEventLogs as parseEventLogs2 } from "viem";
var MAX_DEPOSIT = (1n << 192n) - 1n;
function checkAmount(amount) {
  if (amount <= 0n || amount > MAX_DEPOSIT) {
    throw new UraidenError("would_revert", `a deposit of ${amount} is not between 1 and 2^192 - 1`);
  }
}
async function approveIfShort(ctx, token, amount) {
  const allowance = await ctx.publicClient.readContract({
    address: token,
    abi: tokenAbi,
    functionName: "allowance",
    args: [senderOf(ctx), ctx.contract]
  });
  if (allowance < amount) {
    await send(ctx, { address: token, abi: tokenAbi, functionName: "approve", args: [ctx.contract, amount] });
  }
}
async function move(ctx, amount, data, erc20, { method = "erc20", confirmations = 1 }) {
  checkAmount(amount);
  const token = await tokenOf(ctx);
  if (method === "erc223") {
    const transfer = { address: token, abi: tokenAbi, functionName: "transfer", args: [ctx.contract, amount, data] };
    return send(ctx, transfer, confirmations);
  }
  await approveIfShort(ctx, token, amount);
  return send(ctx, { address: ctx.contract, abi: channelsAbi, ...erc20 }, confirmations);
}
async function openChannel(ctx, receiver, deposit, options = {}) {
  const data = encodePacked(["address"], [receiver]);
  const call = { functionName: "createChannelERC20", args: [receiver, deposit] };
  const receipt = await move(ctx, deposit, data, call, options);
  const [created] = parseEventLogs2({ abi: channelsAbi, eventName: "ChannelCreated", logs: receipt.logs });
  if (!created) throw new UraidenError("protocol", `transaction ${receipt.transactionHash} opened no channel`);
  return {
    chainId: ctx.chainId,
    contract: ctx.contract,
    sender: senderOf(ctx),
    receiver,
    openBlock: Number(receipt.blockNumber),
    deposit: created.args._deposit,
    balance: 0n,
    status: "open"
  };
}
async function topUp(ctx, channel, added, options = {}) {
  if (channel.status !== "open") throw new UraidenError("not_open", `the channel is ${channel.status}`);
  const data = encodePacked(["address", "uint32"], [channel.receiver, channel.openBlock]);
  const call = { functionName: "topUpERC20", args: [channel.receiver, channel.openBlock, added] };
  const receipt = await move(ctx, added, data, call, options);
  const [topped] = parseEventLogs2({ abi: channelsAbi, eventName: "ChannelToppedUp", logs: receipt.logs });
  if (!topped) throw new UraidenError("protocol", `transaction ${receipt.transactionHash} topped up no channel`);
  channel.deposit = topped.args._deposit;
  return channel;
}

// src/storage.ts
var MemoryStorage = class {
  #items = /* @__PURE__ */ new Map();
  getItem(key) {
    return this.#items.get(key) ?? null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
};
function defaultStorage() {
  try {
    const storage = globalThis.localStorage;
    if (storage) {
      const probe = "uraiden:probe";
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return storage;
    }
  } catch {
  }
  return new MemoryStorage();
}
function channelKey(slot) {
  return ["uraiden", "v1", slot.chainId, slot.contract, slot.sender, slot.receiver].map((part) => String(part).toLowerCase()).join(":");
}
var BIGINTS = ["deposit", "balance", "closingBalance", "settleBlock"];
function encode(channel) {
  return JSON.stringify(channel, (_key, value) => typeof value === "bigint" ? value.toString() : value);
}
function decode(text) {
  try {
    const raw = JSON.parse(text);
    for (const key of BIGINTS) if (raw[key] !== void 0) raw[key] = BigInt(raw[key]);
    if (raw.signed) raw.signed.balance = BigInt(raw.signed.balance);
    if (typeof raw.openBlock !== "number" || typeof raw.chainId !== "number") return void 0;
    return raw;
  } catch {
    return void 0;
  }
}
var ChannelStore = class {
  constructor(storage = defaultStorage()) {
    this.storage = storage;
  }
  storage;
  /** The remembered channel of `slot`, if any (an unreadable entry is no channel). */
  get(slot) {
    const text = this.storage.getItem(channelKey(slot));
    return text === null ? void 0 : decode(text);
  }
  /** Remembers `channel` as its slot's; a settled channel is forgotten instead. */
  put(channel) {
    if (channel.status === "settled") {
      this.forget(channel);
      return;
    }
    this.storage.setItem(channelKey(channel), encode(channel));
  }
  /** Forgets the channel of `slot`. */
  forget(slot) {
    this.storage.removeItem(channelKey(slot));
  }
};

// src/client.ts
var ChannelClient = class {
  constructor(ctx, { store = new ChannelStore(), fromBlock = 0n } = {}) {
    this.ctx = ctx;
    this.store = store;
    this.fromBlock = fromBlock;
  }
  ctx;
  store;
  fromBlock;
  /** The sender's address. */
  get sender() {
    return senderOf(this.ctx);
  }
  slot(receiver) {
    return { chainId: this.ctx.chainId, contract: this.ctx.contract, sender: this.sender, receiver };
  }
  /** Remembers `channel` (forgets it once settled). */
  remember(channel) {
    this.store.put(channel);
    return channel;
  }
  /**
   * The channel to pay `receiver` with: the remembered one with the chain's current state, or,
   * when none is remembered (or it was settled), the newest channel the chain shows that is not
   * settled. `undefined` when there is none.
   */
  async channel(receiver) {
    const onChain = await findChannels(this.ctx, receiver, { fromBlock: this.fromBlock });
    const remembered = this.store.get(this.slot(receiver));
    if (remembered) {
      const current = onChain.find((c) => c.openBlock === remembered.openBlock);
      if (current && current.status !== "settled") {
        remembered.deposit = current.deposit;
        remembered.status = current.status;
        remembered.closingBalance = current.closingBalance;
        remembered.settleBlock = current.settleBlock;
        return this.remember(remembered);
      }
      this.store.forget(remembered);
    }
    const live = onChain.filter((c) => c.status !== "settled");
    const newest = live[live.length - 1];
    return newest && this.remember(newest);
  }
  /** Opens a channel to `receiver` with `deposit` and remembers it. */
  async open(receiver, deposit, options) {
    return this.remember(await openChannel(this.ctx, receiver, deposit, options));
  }
  /** Adds `added` to the channel's deposit. */
  async topUp(channel, added, options) {
    return this.remember(await topUp(this.ctx, channel, added, options));
  }
  /** Signs a payment of `amount` (see `signPayment`). */
  async pay(channel, amount) {
    const signed = await signPayment(this.ctx.signer, channel, amount);
    this.remember(channel);
    return signed;
  }
  /** Takes a server's balance by the adopt rule (see `adoptBalance`). */
  async adopt(channel, offered) {
    await adoptBalance(channel, offered);
    return this.remember(channel);
  }
  /** A paid answer's registered balance (see `acknowledge`). */
  acknowledge(channel, registered) {
    acknowledge(channel, registered);
    return this.remember(channel);
  }
  /** Closes with the receiver's agreement (see `closeCooperatively`). */
  async closeCooperatively(channel, options) {
    return this.remember(await closeCooperatively(this.ctx, channel, options));
  }
  /** Asks to close alone (see `requestClose`). */
  async requestClose(channel, options) {
    return this.remember(await requestClose(this.ctx, channel, options));
  }
  /** Blocks left before the channel can be settled. */
  async blocksToSettle(channel) {
    return blocksToSettle(this.ctx, channel);
  }
  /** Settles after the challenge period (see `settle`). */
  async settle(channel, options) {
    return this.remember(await settle(this.ctx, channel, options));
  }
};

// src/x402.ts
import { getAddress } from "viem";
var SCHEME = "uraiden-channel";
var PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE";
var PAYMENT_REQUIRED = "PAYMENT-REQUIRED";
var PAYMENT_RESPONSE = "PAYMENT-RESPONSE";
function encodeHeader(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
function decodeHeader(value) {
  const binary = atob(value.trim());
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}
function chainIdOf(network) {
  const match = /^eip155:(\d+)$/.exec(network);
  if (!match) throw new UraidenError("protocol", `network ${JSON.stringify(network)} is not eip155:<chain id>`);
  return Number(match[1]);
}
function checkRequirements(requirements, chainId, contract, token) {
  if (requirements.scheme !== SCHEME) throw new UraidenError("protocol", `scheme ${requirements.scheme} is not ${SCHEME}`);
  const extra = requirements.extra ?? {};
  if (extra.name !== DOMAIN_NAME || extra.version !== DOMAIN_VERSION) {
    throw new UraidenError("protocol", `the requirements' domain is ${extra.name} ${extra.version}, not ${DOMAIN_NAME} ${DOMAIN_VERSION}`);
  }
  if (chainIdOf(requirements.network) !== chainId) {
    throw new UraidenError("wrong_network", `the server asks payment on ${requirements.network}; this client is on eip155:${chainId}`);
  }
  if (!sameAddress(extra.verifyingContract, contract)) {
    throw new UraidenError("protocol", `the server names contract ${extra.verifyingContract}; this client's is ${contract}`);
  }
  if (token !== void 0 && !sameAddress(requirements.asset, token)) {
    throw new UraidenError("protocol", `the server asks for asset ${requirements.asset}; the contract's token is ${token}`);
  }
  if (!/^\d+$/.test(requirements.amount)) throw new UraidenError("protocol", `the amount ${requirements.amount} is not an integer`);
}
function paymentPayload(channel, signed, sessionRequests) {
  return {
    sender: channel.sender,
    openBlockNumber: channel.openBlock,
    balance: signed.balance.toString(),
    signature: signed.signature,
    ...sessionRequests !== void 0 && sessionRequests > 1 ? { sessionRequests } : {}
  };
}
var UraidenChannelScheme = class {
  constructor(client, options = {}) {
    this.client = client;
    this.options = options;
  }
  client;
  options;
  scheme = SCHEME;
  #channels = /* @__PURE__ */ new Map();
  /** The contract's token, read once: the only asset this scheme pays in. */
  #token;
  /** The channel the last payment to `receiver` was signed on. */
  channelTo(receiver) {
    return this.#channels.get(receiver.toLowerCase());
  }
  async createPaymentPayload(x402Version, requirements) {
    const { ctx } = this.client;
    this.#token ??= await tokenOf(ctx);
    checkRequirements(requirements, ctx.chainId, ctx.contract, this.#token);
    const amount = BigInt(requirements.amount);
    if (this.options.maxAmount !== void 0 && amount > this.options.maxAmount) {
      throw new UraidenError("protocol", `the server asks ${amount}; the cap is ${this.options.maxAmount}`);
    }
    const receiver = getAddress(requirements.payTo);
    const confirmations = (requirements.extra?.confirmations ?? 0) + 1;
    let channel = this.channelTo(receiver) ?? await this.client.channel(receiver);
    if (channel && channel.status !== "open") channel = void 0;
    const offered = requirements.extra?.channel;
    if (channel && offered) {
      await this.client.adopt(channel, { balance: BigInt(offered.balance), signature: offered.signature });
    }
    const least = this.options.deposit ?? amount * 10n;
    if (!channel) {
      this.checkCap(0n, least);
      channel = await this.client.open(receiver, least, { method: this.options.method, confirmations });
    } else if (channel.balance + amount > channel.deposit) {
      const needed = channel.balance + amount - channel.deposit;
      const added = needed > least ? needed : least;
      this.checkCap(channel.deposit, added);
      channel = await this.client.topUp(channel, added, { method: this.options.method, confirmations });
    }
    this.#channels.set(receiver.toLowerCase(), channel);
    const requests = this.requestsToBuy(requirements, channel, amount);
    const signed = await this.client.pay(channel, amount * BigInt(requests));
    return { x402Version, payload: paymentPayload(channel, signed, requests) };
  }
  /** 1, or a session of up to the offer's and `maxPrepay` requests that the deposit covers. */
  requestsToBuy(requirements, channel, amount) {
    const offer = requirements.extra?.session;
    const most = Math.min(offer?.maxRequests ?? 1, this.options.maxPrepay ?? 1);
    if (most < 2 || amount === 0n) return 1;
    const affordable = (channel.deposit - channel.balance) / amount;
    const n = affordable < BigInt(most) ? Number(affordable) : most;
    return n >= 2 ? n : 1;
  }
  checkCap(deposit, added) {
    const cap = this.options.maxDeposit;
    if (cap !== void 0 && deposit + added > cap) {
      throw new UraidenError("insufficient_deposit", `a deposit of ${deposit + added} would pass the cap of ${cap}`);
    }
  }
  /**
   * Adopts a paid answer's settlement: only the balance this client signed last on that
   * channel; any other balance is a protocol error and changes nothing.
   */
  acknowledge(settlement, receiver) {
    if (!settlement?.success) throw new UraidenError("server", "the payment was not settled");
    const channel = this.channelTo(receiver);
    if (!channel || settlement.extra?.openBlockNumber !== channel.openBlock) {
      throw new UraidenError("protocol", "the settlement is for another channel");
    }
    let reported;
    try {
      reported = BigInt(settlement.extra?.balance ?? "");
    } catch {
      throw new UraidenError("protocol", `the settlement's balance ${JSON.stringify(settlement.extra?.balance)} is not an integer`);
    }
    return this.client.acknowledge(channel, reported);
  }
};

// src/sessions.ts
var SESSION = "RDN-Session";
var SESSION_REMAINING = "RDN-Session-Remaining";
var SESSION_REQUESTS = "RDN-Session-Requests";
var FIXED = 20 + 20 + 8 + 20 + 4 + 24 + 4 + 24 + 8;
function base64url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - text.length % 4) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}
function grantOf(credential) {
  const [version, grant, mac, extra] = credential.trim().split(".");
  if (version !== "v1" || !grant || !mac || extra !== void 0) {
    throw new UraidenError("protocol", "the session credential is not v1.<grant>.<mac>");
  }
  const bytes = base64url(grant);
  if (bytes.length < FIXED) throw new UraidenError("protocol", "the session credential's grant is too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    requests: view.getUint32(96),
    expires: Number(view.getBigUint64(124)),
    scope: new TextDecoder().decode(bytes.subarray(FIXED))
  };
}
function inScope(scope, path) {
  return scope.endsWith("/") ? path.startsWith(scope) : path === scope;
}
var SessionWallet = class {
  #held = /* @__PURE__ */ new Map();
  /** A live credential for `url`, if one was bought with requests left. */
  forUrl(url) {
    const now = Date.now() / 1e3;
    let best;
    for (const [key, held] of this.#held) {
      if (!key.startsWith(`${url.origin} `) || !inScope(held.scope, url.pathname)) continue;
      if (held.remaining <= 0 || held.expires <= now) continue;
      if (!best || held.scope.length > best.scope.length) best = held;
    }
    return best;
  }
  /** Keeps (or updates) what the server answered for `url`. */
  keep(url, credential, remaining) {
    const grant = grantOf(credential);
    this.#held.set(`${url.origin} ${grant.scope}`, { credential, scope: grant.scope, remaining, expires: grant.expires });
  }
  /** Forgets `held` (the server refused it). */
  forget(url, held) {
    this.#held.delete(`${url.origin} ${held.scope}`);
  }
};
function withSessions(fetcher = globalThis.fetch, wallet = new SessionWallet()) {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const paying = request.headers.has(PAYMENT_SIGNATURE);
    const held = paying ? void 0 : wallet.forUrl(url);
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

// src/wallet.ts
import {
  createPublicClient,
  createWalletClient,
  custom,
  getAddress as getAddress2,
  http
} from "viem";
async function discoverWallets(timeoutMs = 300) {
  const target = globalThis;
  const found = [];
  if (target.addEventListener && target.dispatchEvent) {
    const listener = (event) => {
      const detail = event.detail;
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
function providerContext(provider, account, chainId, contract) {
  const transport = custom(provider);
  return {
    publicClient: createPublicClient({ transport }),
    signer: { wallet: createWalletClient({ transport }), account: getAddress2(account) },
    chainId,
    contract: getAddress2(contract)
  };
}
async function requestAccount(provider) {
  let accounts;
  try {
    accounts = await createWalletClient({ transport: custom(provider) }).requestAddresses();
  } catch (cause) {
    if (isUserRejection(cause)) throw new UraidenError("rejected", "the wallet refused to connect", { cause });
    throw cause;
  }
  if (accounts.length === 0) throw new UraidenError("rejected", "the wallet gave no account");
  return getAddress2(accounts[0]);
}
async function authorizedAccount(provider) {
  const accounts = await createWalletClient({ transport: custom(provider) }).getAddresses();
  return accounts.length > 0 ? getAddress2(accounts[0]) : void 0;
}
function accountContext(account, rpcUrl, chainId, contract) {
  const transport = http(rpcUrl);
  return {
    publicClient: createPublicClient({ transport }),
    signer: { wallet: createWalletClient({ transport, account }), account },
    chainId,
    contract: getAddress2(contract)
  };
}
export {
  API_BASE,
  BALANCE_PROOF_TYPES,
  CLOSE_REQUEST_TYPES,
  CLOSING_AGREEMENT_TYPES,
  ChannelClient,
  ChannelStore,
  DOMAIN_NAME,
  DOMAIN_VERSION,
  MemoryStorage,
  PAYMENT_REQUIRED,
  PAYMENT_RESPONSE,
  PAYMENT_SIGNATURE,
  SCHEME,
  SESSION,
  SESSION_REMAINING,
  SESSION_REQUESTS,
  SessionWallet,
  UraidenChannelScheme,
  UraidenError,
  accountContext,
  acknowledge,
  adoptBalance,
  after,
  authorizedAccount,
  balanceProof,
  balanceProofDigest,
  blocksToSettle,
  chainIdOf,
  challengePeriodOf,
  channelDomain,
  channelKey,
  channelPath,
  channelsAbi,
  checkNetwork,
  checkRequirements,
  closeCooperatively,
  closeRequest,
  closingAgreement,
  decodeHeader,
  defaultStorage,
  discoverWallets,
  encodeHeader,
  findChannels,
  grantOf,
  inScope,
  isUserRejection,
  openChannel,
  paymentPayload,
  providerContext,
  requestAccount,
  requestClose,
  sameChannel,
  senderOf,
  settle,
  signBalance,
  signPayment,
  signerAddress,
  tokenAbi,
  tokenOf,
  topUp,
  withSessions
};
