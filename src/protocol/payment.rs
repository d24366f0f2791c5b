//! The one payment a request carries, whichever protocol carried it: read from the headers by
//! [`Payment::from_headers`], checked by the paywall against its terms, and handed to the
//! receiver to be checked and stored.

use alloy_primitives::{Address, Bytes, aliases::U192};
use http::{HeaderMap, HeaderValue};

use super::{
    field::{Malformed, parse_address, parse_amount, parse_open_block, parse_signature, single},
    rdn, session, x402,
};

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
pub struct Payment {
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
    /// The sender's balance proof of `balance` (on the wire: `RDN-Balance-Signature`, or
    /// x402's `payload.signature`).
    pub balance_signature: Bytes,
    /// How many requests it buys as a prepaid session (`RDN-Session-Requests`, or x402's
    /// `payload.sessionRequests`); `None`: this request only.
    pub session_requests: Option<u32>,
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

impl Payment {
    /// The payment in the request's headers: `PAYMENT-SIGNATURE` (x402) first, else the
    /// `RDN-*` headers; `None` if neither is there.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Malformed> {
        if let Some(value) = single(headers, x402::PAYMENT_SIGNATURE)? {
            return Self::from_payment_signature(value).map(Some);
        }
        if rdn::has_payment(headers) {
            return Self::from_rdn(headers).map(Some);
        }
        Ok(None)
    }

    /// Reads a payment from µRaiden headers.
    fn from_rdn(headers: &HeaderMap) -> Result<Self, Malformed> {
        let contract =
            optional(headers, rdn::CONTRACT_ADDRESS)?.map(|v| parse_address(rdn::CONTRACT_ADDRESS, v)).transpose()?;
        let sender = parse_address(rdn::SENDER_ADDRESS, required(headers, rdn::SENDER_ADDRESS)?)?;
        let open_block = parse_open_block(rdn::OPEN_BLOCK, required(headers, rdn::OPEN_BLOCK)?)?;
        let balance = optional(headers, rdn::BALANCE)?.map(|v| parse_amount(rdn::BALANCE, v)).transpose()?;
        let seed_balance =
            optional(headers, rdn::SENDER_BALANCE)?.map(|v| parse_amount(rdn::SENDER_BALANCE, v)).transpose()?;
        let balance = match (balance, seed_balance) {
            (Some(a), Some(b)) if a != b => {
                return Err(Malformed::new(
                    rdn::SENDER_BALANCE,
                    format!("disagrees with {} ({b} against {a})", rdn::BALANCE),
                ));
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err(Malformed::new(rdn::BALANCE, "missing")),
        };
        let balance_signature = parse_signature(rdn::BALANCE_SIGNATURE, required(headers, rdn::BALANCE_SIGNATURE)?)?;
        let session_requests =
            optional(headers, session::REQUESTS)?.map(|v| parse_requests(session::REQUESTS, v)).transpose()?;
        Ok(Self {
            protocol: Protocol::Rdn,
            contract,
            accepted: None,
            sender,
            open_block,
            balance,
            balance_signature,
            session_requests,
        })
    }

    /// Reads x402's `PAYMENT-SIGNATURE`.
    fn from_payment_signature(value: &HeaderValue) -> Result<Self, Malformed> {
        let name = x402::PAYMENT_SIGNATURE;
        let payment: x402::PaymentPayload = x402::decode_header(name, value.as_bytes())?;
        if payment.x402_version != x402::X402_VERSION {
            return Err(Malformed::new(name, format!("x402Version {} (this server speaks 2)", payment.x402_version)));
        }
        let balance: U192 = parse_amount(name, &payment.payload.balance)
            .map_err(|_| Malformed::new(name, "payload.balance is not a decimal amount"))?;
        let balance_signature = parse_signature(name, &payment.payload.signature)
            .map_err(|_| Malformed::new(name, "payload.signature is not 65 bytes of hex"))?;
        // The terms (contract, network, payee) are compared by the paywall, which refuses a
        // mismatch with a 402; only the scheme must be this one.
        let accepted = &payment.accepted;
        if accepted.scheme != x402::SCHEME {
            return Err(Malformed::new(
                name,
                format!("scheme {:?} (this server takes {})", accepted.scheme, x402::SCHEME),
            ));
        }
        Ok(Self {
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
            balance_signature,
            session_requests: match payment.payload.session_requests {
                Some(0) => return Err(Malformed::new(name, "payload.sessionRequests is 0")),
                n => n,
            },
        })
    }
}

/// A count of requests a session buys: a positive decimal `u32`.
fn parse_requests(name: &'static str, value: &str) -> Result<u32, Malformed> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Malformed::new(name, "not a count of requests (1 to 4294967295)")),
    }
}

fn optional<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, Malformed> {
    let Some(value) = single(headers, name)? else { return Ok(None) };
    value.to_str().map(|v| Some(v.trim())).map_err(|_| Malformed::new(name, "not visible ASCII"))
}

fn required<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Malformed> {
    optional(headers, name)?.ok_or_else(|| Malformed::new(name, "missing"))
}
