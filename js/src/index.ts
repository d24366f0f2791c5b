// @uraiden/client: pay over µRaiden payment channels from a page or a program.

export { channelsAbi, tokenAbi } from "./abi.js";
export { type ChainContext, checkNetwork, challengePeriodOf, senderOf, tokenOf } from "./chain.js";
export { type Channel, type ChannelEvent, type ChannelRef, type ChannelStatus, after, sameChannel } from "./channel.js";
export { findChannels } from "./channels.js";
export { ChannelClient, type ChannelClientOptions } from "./client.js";
export {
  API_BASE,
  type CooperativeCloseOptions,
  blocksToSettle,
  channelPath,
  closeCooperatively,
  requestClose,
  settle,
} from "./close.js";
export { type DepositMethod, type DepositOptions, openChannel, topUp } from "./deposit.js";
export { type ErrorCode, UraidenError, isUserRejection } from "./errors.js";
export { type SignedBalance, type Signer, acknowledge, adoptBalance, signBalance, signPayment, signerAddress } from "./pay.js";
export {
  type Grant,
  SESSION,
  SESSION_REMAINING,
  SESSION_REQUESTS,
  type SessionOffer,
  SessionWallet,
  grantOf,
  inScope,
  withSessions,
} from "./sessions.js";
export { ChannelStore, type KeyValueStorage, MemoryStorage, channelKey, defaultStorage } from "./storage.js";
export {
  BALANCE_PROOF_TYPES,
  CLOSE_REQUEST_TYPES,
  CLOSING_AGREEMENT_TYPES,
  DOMAIN_NAME,
  DOMAIN_VERSION,
  balanceProof,
  balanceProofDigest,
  channelDomain,
  closeRequest,
  closingAgreement,
} from "./typedData.js";
export { type AnnouncedWallet, accountContext, authorizedAccount, discoverWallets, providerContext, requestAccount } from "./wallet.js";
export {
  PAYMENT_REQUIRED,
  PAYMENT_RESPONSE,
  PAYMENT_SIGNATURE,
  type PaymentRequired,
  type PaymentRequirements,
  SCHEME,
  type SettleResponse,
  UraidenChannelScheme,
  type UraidenSchemeOptions,
  chainIdOf,
  checkRequirements,
  decodeHeader,
  encodeHeader,
  paymentPayload,
} from "./x402.js";
