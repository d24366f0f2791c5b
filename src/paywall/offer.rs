//! A payment offered by a request, whichever protocol carried it, and why one is refused.

use alloy_primitives::{Address, Bytes, aliases::U192};
use http::{HeaderMap, HeaderValue};

use super::{rdn, x402};
use crate::receiver::PaymentError;

/// The protocol a payment came in: the answer uses the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// µRaiden's `RDN-*` headers.
    Rdn,
    /// x402 version 2's `PAYMENT-SIGNATURE`.
    X402,
}

/// A balance proof sent with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentOffer {
    /// How it was sent.
    pub protocol: Protocol,
    /// The channel contract the client means, if it said.
    pub contract: Option<Address>,
    /// x402 only: the network, payee and asset of the requirement the client accepted.
    pub accepted: Option<AcceptedTerms>,
    /// The sender.
    pub sender: Address,
    /// The channel's open block.
    pub open_block: u32,
    /// The new cumulative balance.
    pub balance: U192,
    /// The sender's balance proof.
    pub signature: Bytes,
}

impl PaymentOffer {
    /// The payment in the request's headers: `PAYMENT-SIGNATURE` (x402) first, else the
    /// `RDN-*` headers; `None` if neither is there.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Malformed> {
        if let Some(value) = single(headers, x402::PAYMENT_SIGNATURE)? {
            return x402::parse_payment_signature(value).map(Some);
        }
        if rdn::has_payment(headers) {
            return rdn::parse(headers).map(Some);
        }
        Ok(None)
    }
}

/// The one value of the payment header `name`: a header sent more than once is malformed
/// (which of two payments was meant cannot be known), in either protocol.
pub(crate) fn single<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h HeaderValue>, Malformed> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Malformed::new(name, "sent more than once"));
    }
    Ok(Some(value))
}

/// The terms an x402 client says it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedTerms {
    /// `eip155:<chain id>`.
    pub network: String,
    /// The receiver.
    pub pay_to: Address,
    /// The token.
    pub asset: Address,
}

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
    pub(crate) fn new(header: &'static str, reason: impl Into<String>) -> Self {
        Self { header, reason: reason.into() }
    }
}

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
    /// The x402 `error` of the refusal (none for a request that carried no payment).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Refusal::PaymentRequired => None,
            Refusal::ContractMismatch => Some("contract_mismatch"),
            Refusal::Payment(error) => Some(error.reason()),
        }
    }
}
