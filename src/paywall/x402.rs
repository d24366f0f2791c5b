//! x402 version 2 with the `uraiden-channel` scheme: `PAYMENT-REQUIRED` (the 402's offer),
//! `PAYMENT-SIGNATURE` (the client's payment) and `PAYMENT-RESPONSE` (the receipt), each
//! base64 of JSON.

use alloy_primitives::{Address, aliases::U192};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use super::{
    offer::{AcceptedTerms, Malformed, PaymentOffer, Protocol},
    rdn::{parse_amount, parse_signature},
};

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

/// Reads `PAYMENT-SIGNATURE`.
pub fn parse_payment_signature(value: &HeaderValue) -> Result<PaymentOffer, Malformed> {
    let payment: PaymentPayload = decode_header(PAYMENT_SIGNATURE, value.as_bytes())?;
    if payment.x402_version != X402_VERSION {
        return Err(Malformed::new(
            PAYMENT_SIGNATURE,
            format!("x402Version {} (this server speaks 2)", payment.x402_version),
        ));
    }
    let balance: U192 = parse_amount(PAYMENT_SIGNATURE, &payment.payload.balance)
        .map_err(|_| Malformed::new(PAYMENT_SIGNATURE, "payload.balance is not a decimal amount"))?;
    let signature = parse_signature(PAYMENT_SIGNATURE, &payment.payload.signature)
        .map_err(|_| Malformed::new(PAYMENT_SIGNATURE, "payload.signature is not 65 bytes of hex"))?;
    check_accepted(&payment.accepted)?;
    let accepted = &payment.accepted;
    Ok(PaymentOffer {
        protocol: Protocol::X402,
        contract: Some(accepted.extra.verifying_contract),
        accepted: Some(AcceptedTerms {
            network: accepted.network.clone(),
            pay_to: accepted.pay_to,
            asset: accepted.asset,
        }),
        sender: payment.payload.sender,
        open_block: payment.payload.open_block_number,
        balance,
        signature,
    })
}

/// The parts of `accepted` that must be this scheme; the terms (contract, network, payee) are
/// compared by the paywall, which refuses a mismatch with a 402.
fn check_accepted(accepted: &PaymentRequirements) -> Result<(), Malformed> {
    if accepted.scheme != SCHEME {
        return Err(Malformed::new(
            PAYMENT_SIGNATURE,
            format!("scheme {:?} (this server takes {SCHEME})", accepted.scheme),
        ));
    }
    Ok(())
}
