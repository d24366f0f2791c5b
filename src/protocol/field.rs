//! The values of payment fields, as both protocols write them (decimal amounts, hex addresses
//! and signatures, block numbers), and the error of a payment header that cannot be read.

use alloy_primitives::{Address, Bytes, aliases::U192};
use http::{HeaderMap, HeaderValue};

/// A payment header that cannot be read: a 400 naming the header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {header}: {reason}")]
pub struct Malformed {
    /// The header.
    pub header: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Malformed {
    /// `header` is malformed because of `reason`.
    pub fn new(header: &'static str, reason: impl Into<String>) -> Self {
        Self { header, reason: reason.into() }
    }
}

/// The one value of the payment header `name`: a header sent more than once is malformed
/// (which of two payments was meant cannot be known), in either protocol.
pub fn single<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h HeaderValue>, Malformed> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Malformed::new(name, "sent more than once"));
    }
    Ok(Some(value))
}

/// An address: 40 hex digits, with or without `0x`.
pub fn parse_address(name: &'static str, value: &str) -> Result<Address, Malformed> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.len() != 40 {
        return Err(Malformed::new(name, "not an address (40 hex digits)"));
    }
    digits.parse().map_err(|_| Malformed::new(name, "not an address (40 hex digits)"))
}

/// A token amount: a decimal uint192 with no sign, no leading zeros but `0`.
pub fn parse_amount(name: &'static str, value: &str) -> Result<U192, Malformed> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || (value.len() > 1 && value.starts_with('0')) {
        return Err(Malformed::new(name, "not a decimal amount"));
    }
    U192::from_str_radix(value, 10).map_err(|_| Malformed::new(name, "above the largest uint192"))
}

/// A block number that fits the contract's uint32.
pub fn parse_open_block(name: &'static str, value: &str) -> Result<u32, Malformed> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 10 {
        return Err(Malformed::new(name, "not a block number"));
    }
    value.parse().map_err(|_| Malformed::new(name, "not a block number (uint32)"))
}

/// A 65-byte signature as hex, with or without `0x`.
pub fn parse_signature(name: &'static str, value: &str) -> Result<Bytes, Malformed> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    if digits.len() != 130 {
        return Err(Malformed::new(name, "not a 65-byte signature (130 hex digits)"));
    }
    alloy_primitives::hex::decode(digits)
        .map(Bytes::from)
        .map_err(|_| Malformed::new(name, "not a 65-byte signature (130 hex digits)"))
}
