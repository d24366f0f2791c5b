//! The paywall's answers: the 402 (µRaiden headers, x402's `PAYMENT-REQUIRED`, and a JSON or
//! HTML body), the receipt headers of a paid request, and the 400 of a malformed payment.

use alloy_primitives::{Address, aliases::U192};
use axum::{
    body::Body,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::json;

use super::page::{PageContext, PaywallPage};
use crate::{
    proof::ChannelDomain,
    protocol::{
        Payment, Protocol, Reason,
        api::API_BASE,
        field::Malformed,
        rdn,
        reason::{MALFORMED_PAYMENT, PAYMENT_REQUIRED},
        session, x402,
    },
    receiver::{self, ChannelManager, PaymentError},
};

/// Why a paid request was answered with 402.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It carried no payment.
    PaymentRequired,
    /// Its payment names another channel contract, chain, token or receiver.
    ContractMismatch,
    /// The receiver refused the payment.
    Payment(PaymentError),
}

impl Refusal {
    /// The reason of the refusal (none for a request that carried no payment).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Refusal::PaymentRequired => None,
            Refusal::ContractMismatch => Some(Reason::ContractMismatch),
            Refusal::Payment(error) => Some(error.reason()),
        }
    }
}

/// What the paywall tells clients about where and how to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    /// The receiver.
    pub receiver: Address,
    /// The channel contract.
    pub contract: Address,
    /// The token.
    pub token: Address,
    /// The chain id.
    pub chain_id: u64,
    /// The contract's challenge period, in blocks.
    pub challenge_period: u32,
    /// Confirmations a deposit needs.
    pub confirmations: u64,
    /// x402's `maxTimeoutSeconds`.
    pub max_timeout_seconds: u64,
    /// The prepaid sessions this route sells, if any.
    pub session: Option<session::Offer>,
}

impl Terms {
    /// The terms of `manager`'s receiver and contract.
    pub fn of(manager: &ChannelManager) -> Self {
        Self {
            receiver: manager.receiver(),
            contract: manager.contract(),
            token: manager.token(),
            chain_id: manager.chain_id(),
            challenge_period: manager.challenge_period(),
            confirmations: manager.confirmations(),
            max_timeout_seconds: 300,
            session: None,
        }
    }

    /// Whether a payment names these terms (the contract, and for x402 the network, payee and
    /// token), where it names them at all.
    pub fn matches(&self, payment: &Payment) -> bool {
        payment.contract.is_none_or(|c| c == self.contract)
            && payment.accepted.as_ref().is_none_or(|a| {
                a.network == x402::network(self.chain_id) && a.pay_to == self.receiver && a.asset == self.token
            })
    }

    fn requirements(&self, price: U192, last: Option<x402::LastPayment>) -> x402::PaymentRequirements {
        x402::PaymentRequirements {
            scheme: x402::SCHEME.into(),
            network: x402::network(self.chain_id),
            amount: price.to_string(),
            asset: self.token,
            pay_to: self.receiver,
            max_timeout_seconds: self.max_timeout_seconds,
            extra: x402::ChannelExtra {
                name: ChannelDomain::NAME.into(),
                version: ChannelDomain::VERSION.into(),
                verifying_contract: self.contract,
                challenge_period: self.challenge_period,
                confirmations: self.confirmations,
                channel: last,
                session: self.session.clone(),
            },
        }
    }

    /// The headers every 402 carries.
    fn base_headers(&self, headers: &mut HeaderMap, price: U192) {
        let mut set = |name: &'static str, value: String| {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_str(&value).expect("ASCII"));
        };
        set(rdn::GATEWAY_PATH, API_BASE.into());
        set(rdn::RECEIVER_ADDRESS, self.receiver.to_string());
        set(rdn::CONTRACT_ADDRESS, self.contract.to_string());
        set(rdn::TOKEN_ADDRESS, self.token.to_string());
        set(rdn::CHAIN_ID, self.chain_id.to_string());
        set(rdn::PRICE, price.to_string());
        if let Some(offer) = &self.session {
            set(session::MAX, offer.max_requests.to_string());
            set(session::SCOPE, offer.scope.clone());
            set(session::TTL, offer.ttl_seconds.to_string());
        }
    }
}

/// The 402 for `refusal` of a request for `resource` at `price`; with `page` for browsers.
pub fn payment_required(
    terms: &Terms,
    price: U192,
    refusal: &Refusal,
    resource: x402::Resource,
    page: Option<&PaywallPage>,
) -> Response {
    let mut headers = HeaderMap::new();
    terms.base_headers(&mut headers, price);
    let mut last = None;
    if let Some(flag) = refusal.reason().and_then(Reason::rdn_flag) {
        headers.insert(HeaderName::from_static(flag), HeaderValue::from_str(&rdn_flag_value(refusal)).expect("ASCII"));
    }
    if let Refusal::Payment(PaymentError::AmountMismatch { last_balance, last_signature, .. }) = refusal {
        headers.insert(rdn::SENDER_BALANCE, HeaderValue::from_str(&last_balance.to_string()).expect("ASCII"));
        let signature = last_signature.as_ref().map(ToString::to_string).unwrap_or_default();
        if !signature.is_empty() {
            headers.insert(rdn::BALANCE_SIGNATURE, HeaderValue::from_str(&signature).expect("ASCII"));
        }
        last = Some(x402::LastPayment { balance: last_balance.to_string(), signature });
    }
    let required = x402::PaymentRequired {
        x402_version: x402::X402_VERSION,
        error: refusal.reason().map(|r| r.as_str().to_string()),
        resource,
        accepts: vec![terms.requirements(price, last)],
    };
    headers.insert(x402::PAYMENT_REQUIRED, x402::encode_header(&required));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let body = if let Some(page) = page {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        let refusal = match refusal {
            Refusal::PaymentRequired => String::new(),
            Refusal::ContractMismatch => "The payment was for another contract.".into(),
            Refusal::Payment(error) => format!("The payment was refused: {error}."),
        };
        Body::from(page.render(&PageContext { required: &required, price, refusal: &refusal }))
    } else {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let message = match refusal {
            Refusal::PaymentRequired => "payment required".to_string(),
            Refusal::ContractMismatch => "the payment is for another contract, chain, receiver or token".to_string(),
            Refusal::Payment(error) => error.to_string(),
        };
        Body::from(
            json!({
                "error": refusal.reason().map_or(PAYMENT_REQUIRED, Reason::as_str),
                "message": message,
                "price": price.to_string(),
                "receiver": terms.receiver,
                "contract": terms.contract,
                "token": terms.token,
                "chain_id": terms.chain_id,
            })
            .to_string(),
        )
    };
    (StatusCode::PAYMENT_REQUIRED, headers, body).into_response()
}

/// The value of the µRaiden flag of a refusal: the confirmations still missing, a session's
/// reason, else `1`.
fn rdn_flag_value(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Payment(PaymentError::Unconfirmed { missing }) => missing.to_string(),
        Refusal::Payment(PaymentError::Session(error)) => error.reason().as_str().to_string(),
        _ => "1".to_string(),
    }
}

/// Adds what a session has left to a response served from it (or to the response of the
/// payment that bought it, with its `credential`).
pub fn add_session(headers: &mut HeaderMap, credential: Option<&str>, spent: &receiver::SessionUse) {
    if let Some(credential) = credential {
        headers.insert(session::SESSION, HeaderValue::from_str(credential).expect("base64url and dots"));
    }
    headers.insert(session::REMAINING, HeaderValue::from(spent.remaining));
    headers.insert(session::EXPIRES, HeaderValue::from(spent.expires));
}

/// Adds the receipt of `accepted` (the receiver's registration of `payment`) to a paid
/// response, in the protocol of `payment`.
pub fn add_receipt(headers: &mut HeaderMap, terms: &Terms, payment: &Payment, accepted: &receiver::AcceptedPayment) {
    headers.insert(rdn::COST, HeaderValue::from_str(&accepted.amount.to_string()).expect("ASCII"));
    headers.insert(rdn::SENDER_BALANCE, HeaderValue::from_str(&accepted.balance.to_string()).expect("ASCII"));
    if payment.protocol == Protocol::X402 {
        let receipt = x402::PaymentResponse {
            success: true,
            transaction: String::new(),
            network: x402::network(terms.chain_id),
            payer: payment.sender,
            amount: accepted.amount.to_string(),
            extra: x402::ReceiptExtra { open_block_number: payment.open_block, balance: accepted.balance.to_string() },
        };
        headers.insert(x402::PAYMENT_RESPONSE, x402::encode_header(&receipt));
    }
}

/// The 400 of a malformed payment header, naming it.
pub fn malformed(error: &Malformed) -> Response {
    let body = json!({ "error": MALFORMED_PAYMENT, "header": error.header, "reason": error.reason });
    (StatusCode::BAD_REQUEST, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// The 503 when the receiver cannot take payments (a fatal reorg, a store failure).
pub fn unavailable(reason: &str) -> Response {
    let body = json!({ "error": Reason::Unavailable.as_str(), "reason": reason });
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], axum::Json(body)).into_response()
}

/// Whether the client prefers HTML to everything else it accepts (a browser).
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    let mut html = 0.0f32;
    let mut other = 0.0f32;
    for range in accept.split(',').take(32) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        if media == "text/html" || media == "application/xhtml+xml" {
            html = html.max(q);
        } else {
            other = other.max(q);
        }
    }
    html > 0.0 && html >= other
}
