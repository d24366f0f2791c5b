//! The client's reading of x402 v2 headers: lenient where the specification is (optional fields
//! optional, unknown fields ignored, `accepts` entries of other schemes skipped one by one), so
//! that any conforming server can be paid. The paywall's own types
//! (`crate::paywall::x402`) are strict about what our server writes; only the header names, the
//! scheme name and the version are shared with them.

use alloy_primitives::{Address, aliases::U192};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use crate::paywall::x402::{PAYMENT_REQUIRED, PAYMENT_RESPONSE, SCHEME, X402_VERSION};

/// The longest x402 header the client decodes (a server listing many schemes writes long ones).
const MAX_HEADER: usize = 64 * 1024;

/// `PAYMENT-REQUIRED`, as much of it as the client needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Required {
    x402_version: u32,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    accepts: Vec<serde_json::Value>,
}

/// One `accepts` entry of the `uraiden-channel` scheme.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    scheme: String,
    network: String,
    amount: String,
    asset: Address,
    pay_to: Address,
    extra: EntryExtra,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryExtra {
    verifying_contract: Address,
    #[serde(default)]
    confirmations: Option<u64>,
    #[serde(default)]
    channel: Option<Last>,
}

#[derive(Debug, Deserialize)]
struct Last {
    balance: String,
    #[serde(default)]
    signature: String,
}

/// A usable `uraiden-channel` offer of a 402.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Offer {
    /// `eip155:<chain id>`.
    pub(crate) network: String,
    /// The price.
    pub(crate) amount: U192,
    /// The token.
    pub(crate) asset: Address,
    /// The receiver.
    pub(crate) pay_to: Address,
    /// The channel contract.
    pub(crate) verifying_contract: Address,
    /// Confirmations the server needs (1 when it does not say).
    pub(crate) confirmations: u64,
    /// The entry exactly as the server wrote it: echoed back as `accepted`.
    pub(crate) raw: serde_json::Value,
}

/// What a 402's `PAYMENT-REQUIRED` holds for this client.
#[derive(Debug, Default)]
pub(crate) struct Challenge {
    /// The refusal's `error`, when it is one.
    pub(crate) error: Option<String>,
    /// The first usable `uraiden-channel` entry.
    pub(crate) offer: Option<Offer>,
    /// That entry's last registered payment (`extra.channel`): balance and signature.
    pub(crate) last: Option<(String, String)>,
}

fn decode<T: for<'de> Deserialize<'de>>(value: &HeaderValue) -> Option<T> {
    let bytes = value.as_bytes();
    if bytes.len() > MAX_HEADER {
        return None;
    }
    let json = STANDARD.decode(bytes.trim_ascii()).ok()?;
    serde_json::from_slice(&json).ok()
}

fn amount(text: &str) -> Option<U192> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// Reads `PAYMENT-REQUIRED`: `None` when absent, unreadable or of another x402 version (the
/// caller then falls back to the RDN headers). Entries of other schemes, and entries of ours
/// that cannot be read, are skipped.
pub(crate) fn challenge(headers: &HeaderMap) -> Option<Challenge> {
    let required: Required = decode(headers.get(PAYMENT_REQUIRED)?)?;
    if required.x402_version != X402_VERSION {
        return None;
    }
    let mut challenge = Challenge { error: required.error, ..Challenge::default() };
    for raw in required.accepts {
        if raw.get("scheme").and_then(|s| s.as_str()) != Some(SCHEME) {
            continue;
        }
        let Ok(entry) = serde_json::from_value::<Entry>(raw.clone()) else { continue };
        let Some(price) = amount(&entry.amount) else { continue };
        debug_assert_eq!(entry.scheme, SCHEME);
        challenge.last = entry.extra.channel.map(|l| (l.balance, l.signature));
        challenge.offer = Some(Offer {
            network: entry.network,
            amount: price,
            asset: entry.asset,
            pay_to: entry.pay_to,
            verifying_contract: entry.extra.verifying_contract,
            confirmations: entry.extra.confirmations.unwrap_or(1),
            raw,
        });
        break;
    }
    Some(challenge)
}

/// `PAYMENT-RESPONSE`'s channel state, as much of it as the client checks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    #[serde(default)]
    extra: Option<ReceiptExtra>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptExtra {
    open_block_number: u32,
    balance: String,
}

/// The settlement a paid response reports: `Some(Ok((open block, balance)))` when
/// `PAYMENT-RESPONSE` names a channel state, `Some(Err(why))` when it is there but unreadable,
/// `None` when there is none.
pub(crate) fn receipt(headers: &HeaderMap) -> Option<Result<(u32, U192), String>> {
    let value = headers.get(PAYMENT_RESPONSE)?;
    let Some(receipt) = decode::<Receipt>(value) else {
        return Some(Err(format!("{PAYMENT_RESPONSE} is not base64 JSON")));
    };
    let extra = receipt.extra?;
    Some(
        amount(&extra.balance)
            .map(|b| (extra.open_block_number, b))
            .ok_or_else(|| format!("{PAYMENT_RESPONSE}'s balance {:?} is not a decimal", extra.balance)),
    )
}

/// The `PAYMENT-SIGNATURE` value paying with a balance proof: the accepted entry echoed as the
/// server wrote it.
pub(crate) fn payment_signature(
    accepted: &serde_json::Value,
    sender: Address,
    open_block: u32,
    balance: U192,
    signature: &str,
) -> HeaderValue {
    let payload = serde_json::json!({
        "x402Version": X402_VERSION,
        "accepted": accepted,
        "payload": {
            "sender": sender,
            "openBlockNumber": open_block,
            "balance": balance.to_string(),
            "signature": signature,
        },
    });
    let encoded = STANDARD.encode(serde_json::to_vec(&payload).expect("JSON values serialise"));
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: serde_json::Value) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = STANDARD.encode(serde_json::to_vec(&json).unwrap());
        headers.insert(PAYMENT_REQUIRED, HeaderValue::from_str(&value).unwrap());
        headers
    }

    #[test]
    fn skips_other_schemes_and_tolerates_missing_optional_fields() {
        let ours = serde_json::json!({
            "scheme": SCHEME, "network": "eip155:1", "amount": "7", "asset": Address::repeat_byte(1),
            "payTo": Address::repeat_byte(2), "maxTimeoutSeconds": 60, "futureField": [1, 2],
            "extra": { "verifyingContract": Address::repeat_byte(3), "name": "x", "unknown": true },
        });
        let headers = header(serde_json::json!({
            "x402Version": 2, "resource": { "url": "/a" },
            "accepts": [
                { "scheme": "exact", "network": "eip155:8453", "amount": "1", "asset": "0x01", "payTo": "0x02" },
                { "scheme": SCHEME, "amount": "not even close" },
                ours,
            ],
        }));
        let offer = challenge(&headers).unwrap().offer.unwrap();
        assert_eq!((offer.amount, offer.pay_to, offer.confirmations), (U192::from(7), Address::repeat_byte(2), 1));
        assert_eq!(offer.raw, ours, "echoed back as written");
    }

    #[test]
    fn no_entry_of_ours_means_no_offer() {
        let headers = header(serde_json::json!({
            "x402Version": 2, "accepts": [{ "scheme": "exact", "network": "eip155:1" }],
        }));
        assert!(challenge(&headers).unwrap().offer.is_none());
        assert!(challenge(&header(serde_json::json!({ "x402Version": 1, "accepts": [] }))).is_none());
    }
}
