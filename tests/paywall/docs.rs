//! `docs/http-protocol.md` and `docs/openapi.json` against what the server does.

use std::collections::BTreeSet;

use alloy_primitives::{Address, aliases::U192};
use reqwest::header::HeaderMap;
use uraiden::{
    paywall::{api::OPENAPI, rdn, x402},
    proof::VerifyError,
    receiver::PaymentError,
};

use super::{ADMIN_TOKEN, Server, pay_rdn};

const PROTOCOL: &str = include_str!("../../docs/http-protocol.md");

/// The words in backticks of the protocol document.
fn quoted() -> BTreeSet<String> {
    PROTOCOL.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_protocol_document_names_exactly_the_headers_the_server_uses() {
    let code: BTreeSet<String> = [
        rdn::GATEWAY_PATH,
        rdn::RECEIVER_ADDRESS,
        rdn::CONTRACT_ADDRESS,
        rdn::TOKEN_ADDRESS,
        rdn::CHAIN_ID,
        rdn::PRICE,
        rdn::SENDER_ADDRESS,
        rdn::OPEN_BLOCK,
        rdn::BALANCE,
        rdn::SENDER_BALANCE,
        rdn::BALANCE_SIGNATURE,
        rdn::COST,
        rdn::INSUFFICIENT_CONFIRMATIONS,
        rdn::NONEXISTING_CHANNEL,
        rdn::INVALID_BALANCE_PROOF,
        rdn::INSUFFICIENT_FUNDS,
        rdn::INVALID_AMOUNT,
        x402::PAYMENT_REQUIRED,
        x402::PAYMENT_SIGNATURE,
        x402::PAYMENT_RESPONSE,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
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
    let documented: BTreeSet<String> = quoted()
        .into_iter()
        .filter(|w| w.len() > 3 && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') && w.contains('_'))
        .filter(|w| w != "malformed_payment")
        .collect();
    assert_eq!(documented, code);
}

#[test]
fn every_documented_operation_answers_a_documented_status() {
    let mut server = Server::start();
    let ch = server.channel(10);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), 200);
    let openapi: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let served: serde_json::Value = server.json(server.get("/api/1/openapi.json", HeaderMap::new()));
    assert_eq!(served, openapi, "the server serves the document");
    let mut checked = 0;
    for (path, operations) in openapi["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let url =
                path.replace("{sender}", &ch.sender.to_string()).replace("{open_block}", &ch.open_block.to_string());
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = server.http.request(method.clone(), format!("{}{url}", server.base));
            if operation.get("security").is_some() {
                request = request.bearer_auth(ADMIN_TOKEN);
            }
            if method == reqwest::Method::DELETE {
                let sig = server.env.f.pay(&ch, 3);
                request = request.json(&serde_json::json!({"balance": "3", "balance_signature": sig.to_string()}));
            }
            let response = server.env.rt.block_on(request.send()).unwrap();
            let status = response.status().as_u16().to_string();
            let documented = operation["responses"].as_object().unwrap();
            assert!(documented.contains_key(&status), "{method} {path} answered {status}, not documented");
            if let Some(schema) = documented[&status]["content"]["application/json"]["schema"]["$ref"].as_str() {
                let name = schema.rsplit('/').next().unwrap();
                let required = &openapi["components"]["schemas"][name]["required"];
                let body: serde_json::Value = server.env.rt.block_on(response.json()).unwrap();
                for field in required.as_array().into_iter().flatten() {
                    assert!(
                        body.get(field.as_str().unwrap()).is_some(),
                        "{method} {path}: {field} missing from {body}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "every operation was exercised ({checked})");
}
