//! x402 version 2 with the `uraiden-channel` scheme: `PAYMENT-REQUIRED` (the 402's offer),
//! `PAYMENT-SIGNATURE` (the client's payment) and `PAYMENT-RESPONSE` (the receipt), each
//! base64 of JSON.
//!
//! Two readings of the same headers:
//! - the writer's types ([`PaymentRequired`], [`PaymentPayload`], [`PaymentResponse`], ...) are
//!   strict: they are what our server writes, and what it reads from a client;
//! - the client's reading ([`read_challenge`], [`read_receipt`]) is lenient where the
//!   specification is (optional fields optional, unknown fields ignored, `accepts` entries of
//!   other schemes skipped one by one), so that any conforming server can be paid.

use alloy_primitives::{Address, aliases::U192};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::field::Malformed;

/// 402: what to pay, base64 of [`PaymentRequired`].
pub const PAYMENT_REQUIRED: &str = "payment-required";
/// Request: a payment, base64 of [`PaymentPayload`].
pub const PAYMENT_SIGNATURE: &str = "payment-signature";
/// Response to a paid request: base64 of [`PaymentResponse`].
pub const PAYMENT_RESPONSE: &str = "payment-response";
/// Every x402 header.
pub const HEADERS: [&str; 3] = [PAYMENT_REQUIRED, PAYMENT_SIGNATURE, PAYMENT_RESPONSE];
/// The protocol version spoken.
pub const X402_VERSION: u32 = 2;
/// The scheme: payment through a µRaiden channel.
pub const SCHEME: &str = "uraiden-channel";
/// The largest `PAYMENT-SIGNATURE` read (bytes of base64).
pub const MAX_PAYMENT_SIGNATURE: usize = 8 * 1024;

/// The 402's offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    /// Always 2.
    pub x402_version: u32,
    /// Why the payment sent was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What is paid for.
    pub resource: Resource,
    /// The ways to pay: one `uraiden-channel` entry.
    pub accepts: Vec<PaymentRequirements>,
}

/// The resource a 402 is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Its URL.
    pub url: String,
    /// What it is.
    pub description: String,
    /// Its media type, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One way to pay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// `uraiden-channel`.
    pub scheme: String,
    /// `eip155:<chain id>`.
    pub network: String,
    /// The price, in token base units (decimal).
    pub amount: String,
    /// The token.
    pub asset: Address,
    /// The receiver.
    pub pay_to: Address,
    /// How long the offer holds.
    pub max_timeout_seconds: u64,
    /// The channel contract's EIP-712 domain and the manager's terms.
    pub extra: ChannelExtra,
}

/// `extra` of a `uraiden-channel` requirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelExtra {
    /// The EIP-712 domain name: `RaidenMicroTransferChannels`.
    pub name: String,
    /// The EIP-712 domain version: `1`.
    pub version: String,
    /// The channel contract.
    pub verifying_contract: Address,
    /// The contract's challenge period, in blocks.
    pub challenge_period: u32,
    /// Confirmations a deposit needs before it can be spent.
    pub confirmations: u64,
    /// With `amount_mismatch`: the last registered payment, to resynchronise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<LastPayment>,
    /// Prepaid sessions, when the route offers them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<super::session::Offer>,
}

/// The last registered payment of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPayment {
    /// Its balance (decimal).
    pub balance: String,
    /// The sender's proof of it (`0x` + 130 hex digits; empty while nothing was paid).
    pub signature: String,
}

/// The client's payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// Must be 2.
    pub x402_version: u32,
    /// The requirement it pays, copied from the 402.
    pub accepted: PaymentRequirements,
    /// The balance proof.
    pub payload: ChannelPayload,
}

/// A `uraiden-channel` payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelPayload {
    /// The sender.
    pub sender: Address,
    /// The channel's open block.
    pub open_block_number: u32,
    /// The new cumulative balance (decimal).
    pub balance: String,
    /// The balance proof (`0x` + 130 hex digits).
    pub signature: String,
    /// How many requests the payment buys as a prepaid session, when the requirement offered
    /// sessions (`extra.session`); absent: this request only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_requests: Option<u32>,
}

/// The receipt of a paid request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResponse {
    /// Always true: refusals are 402s.
    pub success: bool,
    /// Empty: nothing is sent on chain.
    pub transaction: String,
    /// `eip155:<chain id>`.
    pub network: String,
    /// The sender.
    pub payer: Address,
    /// What the request cost (decimal).
    pub amount: String,
    /// The channel's new state.
    pub extra: ReceiptExtra,
}

/// `extra` of a receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptExtra {
    /// The channel's open block.
    pub open_block_number: u32,
    /// The balance registered now (decimal).
    pub balance: String,
}

/// `eip155:<chain id>`.
pub fn network(chain_id: u64) -> String {
    format!("eip155:{chain_id}")
}

/// Base64 of the JSON of `value`, as a header value.
pub fn encode_header<T: Serialize>(value: &T) -> HeaderValue {
    let json = serde_json::to_vec(value).expect("x402 types serialize");
    HeaderValue::from_str(&STANDARD.encode(json)).expect("base64 is a valid header value")
}

/// Decodes a base64-of-JSON header.
pub fn decode_header<T: for<'de> Deserialize<'de>>(name: &'static str, value: &[u8]) -> Result<T, Malformed> {
    if value.len() > MAX_PAYMENT_SIGNATURE {
        return Err(Malformed::new(name, format!("longer than {MAX_PAYMENT_SIGNATURE} bytes")));
    }
    let json = STANDARD.decode(value.trim_ascii()).map_err(|_| Malformed::new(name, "not base64"))?;
    serde_json::from_slice(&json).map_err(|e| Malformed::new(name, format!("not the expected JSON: {e}")))
}

// ---- The client's reading: lenient, so that any conforming server can be paid. ----

/// The longest x402 header the client decodes (a server listing many schemes writes long ones).
const MAX_LENIENT_HEADER: usize = 64 * 1024;

/// `PAYMENT-REQUIRED`, as much of it as the client needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientRequired {
    x402_version: u32,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    accepts: Vec<serde_json::Value>,
}

/// One `accepts` entry of the `uraiden-channel` scheme.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientEntry {
    scheme: String,
    network: String,
    amount: String,
    asset: Address,
    pay_to: Address,
    extra: LenientExtra,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientExtra {
    verifying_contract: Address,
    #[serde(default)]
    confirmations: Option<u64>,
    #[serde(default)]
    channel: Option<LenientLast>,
    /// Read apart: an unreadable session offer is no offer, not an unreadable entry.
    #[serde(default)]
    session: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct LenientLast {
    balance: String,
    #[serde(default)]
    signature: String,
}

/// A usable `uraiden-channel` offer of a 402.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// `eip155:<chain id>`.
    pub network: String,
    /// The price.
    pub amount: U192,
    /// The token.
    pub asset: Address,
    /// The receiver.
    pub pay_to: Address,
    /// The channel contract.
    pub verifying_contract: Address,
    /// Confirmations the server needs (1 when it does not say).
    pub confirmations: u64,
    /// Prepaid sessions, when offered (and readable).
    pub session: Option<super::session::Offer>,
    /// The entry exactly as the server wrote it: echoed back as `accepted`.
    pub raw: serde_json::Value,
}

/// What a 402's `PAYMENT-REQUIRED` holds for a client.
#[derive(Debug, Default)]
pub struct Challenge {
    /// The refusal's `error`, when it is one.
    pub error: Option<String>,
    /// The first usable `uraiden-channel` entry.
    pub offer: Option<Offer>,
    /// That entry's last registered payment (`extra.channel`): balance and signature.
    pub last: Option<(String, String)>,
}

fn decode_lenient<T: for<'de> Deserialize<'de>>(value: &HeaderValue) -> Option<T> {
    let bytes = value.as_bytes();
    if bytes.len() > MAX_LENIENT_HEADER {
        return None;
    }
    let json = STANDARD.decode(bytes.trim_ascii()).ok()?;
    serde_json::from_slice(&json).ok()
}

fn lenient_amount(text: &str) -> Option<U192> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// Reads `PAYMENT-REQUIRED`: `None` when absent, unreadable or of another x402 version (the
/// caller then falls back to the RDN headers). Entries of other schemes, and entries of ours
/// that cannot be read, are skipped.
pub fn read_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let required: LenientRequired = decode_lenient(headers.get(PAYMENT_REQUIRED)?)?;
    if required.x402_version != X402_VERSION {
        return None;
    }
    let mut challenge = Challenge { error: required.error, ..Challenge::default() };
    for raw in required.accepts {
        if raw.get("scheme").and_then(|s| s.as_str()) != Some(SCHEME) {
            continue;
        }
        let Ok(entry) = serde_json::from_value::<LenientEntry>(raw.clone()) else { continue };
        let Some(price) = lenient_amount(&entry.amount) else { continue };
        debug_assert_eq!(entry.scheme, SCHEME);
        challenge.last = entry.extra.channel.map(|l| (l.balance, l.signature));
        challenge.offer = Some(Offer {
            network: entry.network,
            amount: price,
            asset: entry.asset,
            pay_to: entry.pay_to,
            verifying_contract: entry.extra.verifying_contract,
            confirmations: entry.extra.confirmations.unwrap_or(1),
            session: entry.extra.session.and_then(|s| serde_json::from_value(s).ok()),
            raw,
        });
        break;
    }
    Some(challenge)
}

/// `PAYMENT-RESPONSE`'s channel state, as much of it as the client checks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientReceipt {
    #[serde(default)]
    extra: Option<LenientReceiptExtra>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientReceiptExtra {
    open_block_number: u32,
    balance: String,
}

/// The settlement a paid response reports: `Some(Ok((open block, balance)))` when
/// `PAYMENT-RESPONSE` names a channel state, `Some(Err(why))` when it is there but unreadable,
/// `None` when there is none.
pub fn read_receipt(headers: &HeaderMap) -> Option<Result<(u32, U192), String>> {
    let value = headers.get(PAYMENT_RESPONSE)?;
    let Some(receipt) = decode_lenient::<LenientReceipt>(value) else {
        return Some(Err(format!("{PAYMENT_RESPONSE} is not base64 JSON")));
    };
    let extra = receipt.extra?;
    Some(
        lenient_amount(&extra.balance)
            .map(|b| (extra.open_block_number, b))
            .ok_or_else(|| format!("{PAYMENT_RESPONSE}'s balance {:?} is not a decimal", extra.balance)),
    )
}

/// The `PAYMENT-SIGNATURE` value paying with a balance proof: the accepted entry echoed as the
/// server wrote it; `session_requests` buys a prepaid session of that many requests.
pub fn payment_signature(
    accepted: &serde_json::Value,
    sender: Address,
    open_block: u32,
    balance: U192,
    signature: &str,
    session_requests: Option<u32>,
) -> HeaderValue {
    let mut payload = serde_json::json!({
        "x402Version": X402_VERSION,
        "accepted": accepted,
        "payload": {
            "sender": sender,
            "openBlockNumber": open_block,
            "balance": balance.to_string(),
            "signature": signature,
        },
    });
    if let Some(n) = session_requests {
        payload["payload"]["sessionRequests"] = n.into();
    }
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
        let offer = read_challenge(&headers).unwrap().offer.unwrap();
        assert_eq!((offer.amount, offer.pay_to, offer.confirmations), (U192::from(7), Address::repeat_byte(2), 1));
        assert_eq!(offer.raw, ours, "echoed back as written");
    }

    #[test]
    fn no_entry_of_ours_means_no_offer() {
        let headers = header(serde_json::json!({
            "x402Version": 2, "accepts": [{ "scheme": "exact", "network": "eip155:1" }],
        }));
        assert!(read_challenge(&headers).unwrap().offer.is_none());
        assert!(read_challenge(&header(serde_json::json!({ "x402Version": 1, "accepts": [] }))).is_none());
    }
}
