//! Servers the project did not shape for its client, written here from the specifications
//! (docs/http-protocol.md for the RDN headers, x402 v2 for `PAYMENT-REQUIRED`,
//! `PAYMENT-SIGNATURE` and `PAYMENT-RESPONSE`): each path behaves one way, and every request's
//! payment, if any, is recorded. Plus a TLS terminator (for an `https://` node or paywall) and
//! a server that accepts connections and never answers.

#![allow(unreachable_pub)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use alloy_primitives::Address;
use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri},
    response::Response,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use uraiden::protocol::{rdn, x402};

/// What the server asks.
#[derive(Clone, Debug)]
pub struct Terms {
    pub receiver: Address,
    pub contract: Address,
    pub token: Address,
    pub chain_id: u64,
    pub price: u64,
}

/// A payment the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    /// "rdn" or "x402".
    pub protocol: &'static str,
    pub balance: String,
    pub open_block: u32,
    /// x402 only: the `accepted` entry echoed.
    pub accepted: Option<serde_json::Value>,
}

#[derive(Default)]
struct Log {
    seen: Vec<Seen>,
    attempts: HashMap<String, u32>,
}

#[derive(Clone)]
struct Shared {
    terms: Terms,
    log: Arc<Mutex<Log>>,
}

/// A running spec server.
pub struct SpecServer {
    pub base: String,
    log: Arc<Mutex<Log>>,
}

impl SpecServer {
    /// Payments received on `path`.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.log.lock().unwrap().seen.iter().filter(|s| s.path == path).cloned().collect()
    }
}

/// Starts the server on the current runtime. Paths:
/// - `/honest`: RDN challenge; accepts any payment and reports the balance received.
/// - `/claim`: RDN challenge; accepts any payment and reports `RDN-Sender-Balance: 27`.
/// - `/x402-claim`: x402 challenge; accepts and reports balance 27 in `PAYMENT-RESPONSE`.
/// - `/x402-lenient`: x402 challenge listing an `exact` entry first, a broken entry of ours,
///   then a usable one with unknown fields, a resource without description; no RDN headers.
///   Accepts and answers with `PAYMENT-RESPONSE` for the balance received.
/// - `/x402-foreign`: x402 challenge listing only an `exact` entry, and the RDN headers.
/// - `/slow*`: RDN; the first 3 paid attempts of each path are refused with
///   `RDN-Insufficient-Confirmations: 1`, then it accepts (`/slow-never`: never accepts).
/// - `/nofunds`: RDN; every payment is refused with `RDN-Insufficient-Funds`.
/// - `/x402-absurd`: x402 challenge of ours asking for `u64::MAX` confirmations.
/// - `/downgrade?to=URL`: redirects (302) to URL, paid or not.
pub async fn start(terms: Terms) -> SpecServer {
    let log = Arc::new(Mutex::new(Log::default()));
    let shared = Shared { terms, log: log.clone() };
    let app = Router::new().fallback(handle).with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    SpecServer { base: format!("http://{addr}"), log }
}

fn value(text: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&text.to_string()).unwrap()
}

fn encode(json: &serde_json::Value) -> HeaderValue {
    value(STANDARD.encode(serde_json::to_vec(json).unwrap()))
}

fn rdn_challenge(terms: &Terms, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(rdn::RECEIVER_ADDRESS, value(terms.receiver));
    headers.insert(rdn::CONTRACT_ADDRESS, value(terms.contract));
    headers.insert(rdn::TOKEN_ADDRESS, value(terms.token));
    headers.insert(rdn::CHAIN_ID, value(terms.chain_id));
    headers.insert(rdn::PRICE, value(terms.price));
}

/// Our scheme's entry, with fields x402 does not define and without the optional ones.
pub fn our_entry(terms: &Terms) -> serde_json::Value {
    serde_json::json!({
        "scheme": x402::SCHEME,
        "network": format!("eip155:{}", terms.chain_id),
        "amount": terms.price.to_string(),
        "asset": terms.token,
        "payTo": terms.receiver,
        "somethingNew": { "nested": [1, 2, 3] },
        "extra": { "verifyingContract": terms.contract, "futureKnob": true },
    })
}

fn exact_entry(terms: &Terms) -> serde_json::Value {
    serde_json::json!({
        "scheme": "exact",
        "network": "eip155:8453",
        "amount": "10000",
        "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "payTo": terms.receiver,
        "maxTimeoutSeconds": 60,
        "extra": { "name": "USD Coin", "version": "2" },
    })
}

fn x402_challenge(terms: &Terms, accepts: Vec<serde_json::Value>, response: &mut Response) {
    let required = serde_json::json!({
        "x402Version": 2,
        "resource": { "url": "http://example.invalid/resource" },
        "accepts": accepts,
    });
    response.headers_mut().insert(x402::PAYMENT_REQUIRED, encode(&required));
    let _ = terms;
}

fn status(code: StatusCode, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    response
}

/// The payment a request carries, if any.
fn payment(path: &str, headers: &HeaderMap) -> Option<Seen> {
    if let Some(signature) = headers.get(x402::PAYMENT_SIGNATURE) {
        let json: serde_json::Value = serde_json::from_slice(&STANDARD.decode(signature.as_bytes()).unwrap()).unwrap();
        assert_eq!(json["x402Version"], 2);
        return Some(Seen {
            path: path.to_string(),
            protocol: "x402",
            balance: json["payload"]["balance"].as_str().unwrap().to_string(),
            open_block: json["payload"]["openBlockNumber"].as_u64().unwrap() as u32,
            accepted: Some(json["accepted"].clone()),
        });
    }
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    Some(Seen {
        path: path.to_string(),
        protocol: "rdn",
        balance: text(rdn::BALANCE)?,
        open_block: text(rdn::OPEN_BLOCK)?.parse().unwrap(),
        accepted: None,
    })
}

fn receipt(terms: &Terms, seen: &Seen, balance: &str) -> HeaderValue {
    encode(&serde_json::json!({
        "success": true,
        "transaction": format!("{}:{balance}", seen.open_block),
        "network": format!("eip155:{}", terms.chain_id),
        "payer": Address::ZERO,
        "amount": terms.price.to_string(),
        "extra": { "openBlockNumber": seen.open_block, "balance": balance },
    }))
}

async fn handle(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let terms = &shared.terms;
    let path = uri.path().to_string();
    if path == "/downgrade" {
        let to = uri.query().and_then(|q| q.strip_prefix("to=")).unwrap_or_default();
        let mut response = status(StatusCode::FOUND, "");
        response.headers_mut().insert(axum::http::header::LOCATION, value(to));
        return response;
    }
    let paid = payment(&path, &headers);
    let mut unpaid = status(StatusCode::PAYMENT_REQUIRED, "pay");
    match path.as_str() {
        "/x402-claim" => x402_challenge(terms, vec![our_entry(terms)], &mut unpaid),
        "/x402-absurd" => {
            let mut entry = our_entry(terms);
            entry["extra"]["confirmations"] = serde_json::json!(u64::MAX);
            x402_challenge(terms, vec![entry], &mut unpaid);
        }
        "/x402-lenient" => x402_challenge(
            terms,
            vec![exact_entry(terms), serde_json::json!({ "scheme": x402::SCHEME, "amount": "3" }), our_entry(terms)],
            &mut unpaid,
        ),
        "/x402-foreign" => {
            x402_challenge(terms, vec![exact_entry(terms)], &mut unpaid);
            rdn_challenge(terms, &mut unpaid);
        }
        _ => rdn_challenge(terms, &mut unpaid),
    }
    let Some(seen) = paid else { return unpaid };
    let attempt = {
        let mut log = shared.log.lock().unwrap();
        log.seen.push(seen.clone());
        let attempt = log.attempts.entry(path.clone()).or_default();
        *attempt += 1;
        *attempt
    };
    let mut ok = status(StatusCode::OK, "content");
    let balance = seen.balance.clone();
    match path.as_str() {
        "/claim" => {
            ok.headers_mut().insert(rdn::SENDER_BALANCE, value(27));
        }
        "/x402-claim" => {
            ok.headers_mut().insert(x402::PAYMENT_RESPONSE, receipt(terms, &seen, "27"));
        }
        "/x402-lenient" => {
            ok.headers_mut().insert(x402::PAYMENT_RESPONSE, receipt(terms, &seen, &balance));
        }
        "/nofunds" => {
            unpaid.headers_mut().insert(rdn::INSUFFICIENT_FUNDS, value(1));
            return unpaid;
        }
        slow if slow.starts_with("/slow") && (attempt <= 3 || slow == "/slow-never") => {
            unpaid.headers_mut().insert(rdn::INSUFFICIENT_CONFIRMATIONS, value(1));
            return unpaid;
        }
        _ => {
            ok.headers_mut().insert(rdn::SENDER_BALANCE, value(&balance));
        }
    }
    ok
}

/// A self-signed certificate for 127.0.0.1, written to `dir/cert.pem` (the file to trust).
pub fn certificate(dir: &std::path::Path) -> (rcgen::CertifiedKey<rcgen::KeyPair>, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let path = dir.join("cert.pem");
    std::fs::write(&path, certified.cert.pem()).unwrap();
    (certified, path)
}

/// Terminates TLS on a new port and forwards each connection's bytes to `target`: an
/// `https://` front for a plain HTTP server (a node, a paywall). Gives the `https://` base.
pub async fn tls_front(certified: &rcgen::CertifiedKey<rcgen::KeyPair>, target: SocketAddr) -> String {
    use tokio_rustls::rustls;
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(target).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://{addr}")
}

/// A server that accepts connections and never answers (nor closes them). Gives its base URL.
pub async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}
