//! µRaiden's HTTP headers: the names (the one list of them). The payment is read from them by
//! `payment`, their values by `field`. `docs/http-protocol.md` is the specification.

use http::HeaderMap;

/// 402: the management API's base path (`api::API_BASE`).
pub const GATEWAY_PATH: &str = "rdn-gateway-path";
/// 402: the receiver's address.
pub const RECEIVER_ADDRESS: &str = "rdn-receiver-address";
/// 402 and request: the channel contract.
pub const CONTRACT_ADDRESS: &str = "rdn-contract-address";
/// 402: the token.
pub const TOKEN_ADDRESS: &str = "rdn-token-address";
/// 402: the chain id.
pub const CHAIN_ID: &str = "rdn-chain-id";
/// 402: the price of the request, in token base units.
pub const PRICE: &str = "rdn-price";
/// Request: the sender.
pub const SENDER_ADDRESS: &str = "rdn-sender-address";
/// Request: the channel's open block.
pub const OPEN_BLOCK: &str = "rdn-open-block";
/// Request: the new cumulative balance.
pub const BALANCE: &str = "rdn-balance";
/// Request: the seed's name for [`BALANCE`]; response: the balance registered (after a paid
/// request) or the last registered one (with [`INVALID_AMOUNT`]).
pub const SENDER_BALANCE: &str = "rdn-sender-balance";
/// Request: the balance proof; with [`INVALID_AMOUNT`]: the proof of the last registered
/// balance.
pub const BALANCE_SIGNATURE: &str = "rdn-balance-signature";
/// Response to a paid request: what it cost.
pub const COST: &str = "rdn-cost";
/// Refusal: the channel's deposit is not confirmed yet (value: confirmations still missing).
pub const INSUFFICIENT_CONFIRMATIONS: &str = "rdn-insufficient-confirmations";
/// Refusal: no open channel (unknown, closing, settled, or on another contract).
pub const NONEXISTING_CHANNEL: &str = "rdn-nonexisting-channel";
/// Refusal: the balance proof is not the sender's.
pub const INVALID_BALANCE_PROOF: &str = "rdn-invalid-balance-proof";
/// Refusal: the balance is above the confirmed deposit (top up).
pub const INSUFFICIENT_FUNDS: &str = "rdn-insufficient-funds";
/// Refusal: the balance is not the last registered one plus the price.
pub const INVALID_AMOUNT: &str = "rdn-invalid-amount";

/// Every µRaiden header, requests' and responses'.
pub const HEADERS: [&str; 17] = [
    GATEWAY_PATH,
    RECEIVER_ADDRESS,
    CONTRACT_ADDRESS,
    TOKEN_ADDRESS,
    CHAIN_ID,
    PRICE,
    SENDER_ADDRESS,
    OPEN_BLOCK,
    BALANCE,
    SENDER_BALANCE,
    BALANCE_SIGNATURE,
    COST,
    INSUFFICIENT_CONFIRMATIONS,
    NONEXISTING_CHANNEL,
    INVALID_BALANCE_PROOF,
    INSUFFICIENT_FUNDS,
    INVALID_AMOUNT,
];

/// The refusal flags: a refused payment's 402 carries exactly one of them.
pub const REFUSAL_FLAGS: [&str; 5] =
    [INSUFFICIENT_CONFIRMATIONS, NONEXISTING_CHANNEL, INVALID_BALANCE_PROOF, INSUFFICIENT_FUNDS, INVALID_AMOUNT];

/// The request headers that make a payment; a request with any of them is read as one.
pub const PAYMENT_HEADERS: [&str; 6] =
    [CONTRACT_ADDRESS, SENDER_ADDRESS, OPEN_BLOCK, BALANCE, SENDER_BALANCE, BALANCE_SIGNATURE];

/// Whether the request carries µRaiden payment headers.
pub fn has_payment(headers: &HeaderMap) -> bool {
    PAYMENT_HEADERS.iter().any(|name| headers.contains_key(*name))
}
