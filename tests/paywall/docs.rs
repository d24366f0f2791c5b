//! `docs/http-protocol.md` against what the server does (`openapi.rs` checks `docs/openapi.json`).

use std::collections::BTreeSet;

use alloy_primitives::{Address, aliases::U192};
use uraiden::{paywall::rdn, proof::VerifyError, receiver::PaymentError};

const PROTOCOL: &str = include_str!("../../docs/http-protocol.md");

/// The words in backticks of the protocol document.
fn quoted() -> BTreeSet<String> {
    PROTOCOL.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_protocol_document_names_exactly_the_headers_the_server_uses() {
    // The code's one list: what the layer reads and writes, and what a proxy keeps from upstreams.
    let code: BTreeSet<String> = uraiden::paywall::protocol_headers().map(str::to_string).collect();
    assert!(code.iter().all(|name| *name == name.to_ascii_lowercase()), "{code:?}");
    assert!(rdn::PAYMENT_HEADERS.iter().chain(&rdn::REFUSAL_FLAGS).all(|h| code.contains(*h)));
    let documented: BTreeSet<String> = quoted()
        .into_iter()
        .filter(|w| w.starts_with("RDN-") || w.starts_with("PAYMENT-"))
        .map(|w| w.to_ascii_lowercase())
        .collect();
    assert_eq!(documented, code);
    assert!(quoted().contains(rdn::API_BASE));
}

#[test]
fn the_protocol_document_lists_exactly_the_refusal_reasons() {
    let errors = [
        PaymentError::UnknownChannel { sender: Address::ZERO, open_block: 0 },
        PaymentError::Unconfirmed { missing: 1 },
        PaymentError::Closing,
        PaymentError::Settled,
        PaymentError::InvalidProof(VerifyError::WrongSigner(Address::ZERO)),
        PaymentError::AmountMismatch { expected: U192::ZERO, last_balance: U192::ZERO, last_signature: None },
        PaymentError::InsufficientFunds { balance: U192::ZERO, deposit: U192::ZERO },
    ];
    let mut code: BTreeSet<String> = errors.iter().map(|e| e.reason().to_string()).collect();
    code.insert(uraiden::paywall::Refusal::ContractMismatch.reason().unwrap().to_string());
    // The first cells of the tables that are error codes (the others are header names).
    let documented: BTreeSet<String> = PROTOCOL
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
        .filter(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_string)
        .collect();
    assert_eq!(documented, code);
}
