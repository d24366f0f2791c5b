//! `docs/http-protocol.md` against what the server does (`openapi.rs` checks `docs/openapi.json`).

use std::collections::BTreeSet;

use alloy_primitives::{Address, aliases::U192};
use reqwest::header::HeaderMap;
use uraiden::{
    proof::VerifyError,
    protocol::{api::API_BASE, rdn, session, x402},
    receiver::{PaymentError, SessionError},
};

use super::{Server, pay_rdn, pay_x402, payment_required, rdn_headers};

const PROTOCOL: &str = include_str!("../../docs/http-protocol.md");

/// The words in backticks of the protocol document.
fn quoted() -> BTreeSet<String> {
    PROTOCOL.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_protocol_document_names_exactly_the_headers_the_server_uses() {
    // The code's one list: what the layer reads and writes, and what a proxy keeps from upstreams.
    let code: BTreeSet<String> = uraiden::protocol::headers().map(str::to_string).collect();
    assert!(code.iter().all(|name| *name == name.to_ascii_lowercase()), "{code:?}");
    assert!(rdn::PAYMENT_HEADERS.iter().chain(&rdn::REFUSAL_FLAGS).all(|h| code.contains(*h)));
    let documented: BTreeSet<String> = quoted()
        .into_iter()
        .filter(|w| w.starts_with("RDN-") || w.starts_with("PAYMENT-"))
        .map(|w| w.to_ascii_lowercase())
        .collect();
    assert_eq!(documented, code);
    assert!(quoted().contains(API_BASE));
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
        PaymentError::Session(SessionError::Unknown),
        PaymentError::Session(SessionError::Forged),
        PaymentError::Session(SessionError::Expired { expires: 0 }),
        PaymentError::Session(SessionError::Exhausted { requests: 2 }),
        PaymentError::Session(SessionError::Mismatch(String::new())),
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

/// The protocol headers on the wire, over every kind of answer (a 402, each refusal, a paid
/// request in each protocol), are exactly the code's list less what only clients send.
#[test]
fn the_protocol_headers_on_the_wire_are_the_listed_ones() {
    let mut server = Server::start();
    let ch = server.channel(10);
    let small = server.channel(2);
    let rich = server.channel(100);
    let fresh = server.env.f.open_erc20(10);
    server.env.sync(&server.manager);
    let f = &server.env.f;
    let forged = f.outsider.sign_digest(f.c.domain.balance_digest(ch.receiver, ch.open_block, U192::from(3)));
    let mut unknown = ch;
    unknown.open_block += 1000;
    let unpaid = server.get("/paid", HeaderMap::new());
    let accepted = payment_required(&unpaid)["accepts"][0].clone();
    let answers = [
        unpaid,
        server.get("/paid", pay_rdn(&server, &unknown, 3)),
        server.get("/paid", rdn_headers(&server, &ch, 3, &forged)),
        server.get("/paid", pay_rdn(&server, &small, 3)),
        server.get("/paid", pay_rdn(&server, &fresh, 3)),
        server.get("/paid", pay_rdn(&server, &ch, 3)),
        server.get("/paid", pay_x402(&server, &ch, 6, &accepted)),
        // After payments: the refusal hands back the last proof.
        server.get("/paid", pay_rdn(&server, &ch, 5)),
        // Prepaid sessions: the offer, a purchase, a use, a refused credential.
        server.get("/s/a", HeaderMap::new()),
        server.get("/s/a", {
            let mut headers = pay_rdn(&server, &rich, 2 * 3);
            headers.insert(session::REQUESTS, 2.into());
            headers
        }),
        server.get("/s/b", {
            let mut headers = HeaderMap::new();
            headers.insert(session::SESSION, "v1.AA.AA".parse().unwrap());
            headers
        }),
    ];
    let sent: BTreeSet<String> = answers
        .iter()
        .flat_map(|r| r.headers().keys())
        .map(|name| name.as_str().to_string())
        .filter(|name| name.starts_with("rdn-") || name.starts_with("payment-"))
        .collect();
    let read: BTreeSet<String> = rdn::PAYMENT_HEADERS
        .into_iter()
        .chain([x402::PAYMENT_SIGNATURE, session::REQUESTS])
        .map(str::to_string)
        .collect();
    let listed: BTreeSet<String> = uraiden::protocol::headers().map(str::to_string).collect();
    assert!(sent.is_subset(&listed), "sent but not listed: {:?}", sent.difference(&listed).collect::<Vec<_>>());
    let unused: Vec<_> = listed.difference(&sent).filter(|name| !read.contains(*name)).collect();
    assert!(unused.is_empty(), "listed but neither sent nor read: {unused:?}");
    let only_requests: Vec<_> = listed.difference(&sent).collect();
    assert_eq!(
        only_requests,
        [x402::PAYMENT_SIGNATURE, rdn::BALANCE, rdn::OPEN_BLOCK, rdn::SENDER_ADDRESS, session::REQUESTS],
        "what only clients send"
    );
}
