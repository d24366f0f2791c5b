//! µRaiden's HTTP headers: the names (the one list of them), and a payment read from them.
//! `docs/http-protocol.md` is the specification.

use alloy_primitives::{Address, Bytes, aliases::U192};
use http::HeaderMap;

use super::offer::{Malformed, PaymentOffer, Protocol, single};

/// The management API's base path, sent in [`GATEWAY_PATH`].
pub const API_BASE: &str = "/api/1";

/// 402: the management API's base path.
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

/// Reads a payment from µRaiden headers.
pub fn parse(headers: &HeaderMap) -> Result<PaymentOffer, Malformed> {
    let contract = optional(headers, CONTRACT_ADDRESS)?.map(|v| parse_address(CONTRACT_ADDRESS, v)).transpose()?;
    let sender = parse_address(SENDER_ADDRESS, required(headers, SENDER_ADDRESS)?)?;
    let open_block = parse_open_block(OPEN_BLOCK, required(headers, OPEN_BLOCK)?)?;
    let balance = optional(headers, BALANCE)?.map(|v| parse_amount(BALANCE, v)).transpose()?;
    let seed_balance = optional(headers, SENDER_BALANCE)?.map(|v| parse_amount(SENDER_BALANCE, v)).transpose()?;
    let balance = match (balance, seed_balance) {
        (Some(a), Some(b)) if a != b => {
            return Err(Malformed::new(SENDER_BALANCE, format!("disagrees with {BALANCE} ({b} against {a})")));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return Err(Malformed::new(BALANCE, "missing")),
    };
    let signature = parse_signature(BALANCE_SIGNATURE, required(headers, BALANCE_SIGNATURE)?)?;
    Ok(PaymentOffer { protocol: Protocol::Rdn, contract, accepted: None, sender, open_block, balance, signature })
}

fn optional<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, Malformed> {
    let Some(value) = single(headers, name)? else { return Ok(None) };
    value.to_str().map(|v| Some(v.trim())).map_err(|_| Malformed::new(name, "not visible ASCII"))
}

fn required<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Malformed> {
    optional(headers, name)?.ok_or_else(|| Malformed::new(name, "missing"))
}

/// An address: 40 hex digits, with or without `0x`.
pub(crate) fn parse_address(name: &'static str, value: &str) -> Result<Address, Malformed> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.len() != 40 {
        return Err(Malformed::new(name, "not an address (40 hex digits)"));
    }
    digits.parse().map_err(|_| Malformed::new(name, "not an address (40 hex digits)"))
}

/// A token amount: a decimal uint192 with no sign, no leading zeros but `0`.
pub(crate) fn parse_amount(name: &'static str, value: &str) -> Result<U192, Malformed> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || (value.len() > 1 && value.starts_with('0')) {
        return Err(Malformed::new(name, "not a decimal amount"));
    }
    U192::from_str_radix(value, 10).map_err(|_| Malformed::new(name, "above the largest uint192"))
}

/// A block number that fits the contract's uint32.
pub(crate) fn parse_open_block(name: &'static str, value: &str) -> Result<u32, Malformed> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 10 {
        return Err(Malformed::new(name, "not a block number"));
    }
    value.parse().map_err(|_| Malformed::new(name, "not a block number (uint32)"))
}

/// A 65-byte signature as hex, with or without `0x`.
pub(crate) fn parse_signature(name: &'static str, value: &str) -> Result<Bytes, Malformed> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.len() != 130 {
        return Err(Malformed::new(name, "not a 65-byte signature (130 hex digits)"));
    }
    alloy_primitives::hex::decode(digits)
        .map(Bytes::from)
        .map_err(|_| Malformed::new(name, "not a 65-byte signature (130 hex digits)"))
}
