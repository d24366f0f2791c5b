//! The paywall over real HTTP: an axum app with the paywall layer and the management API,
//! served on loopback, in front of a channel manager following a real anvil.

mod close;
#[path = "../common/mod.rs"]
mod common;
mod docs;
mod layer;
mod openapi;
mod page;
mod sessions;

use std::net::SocketAddr;

use alloy_primitives::{Bytes, aliases::U192};
use axum::{Router, http::StatusCode, routing::get};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::header::HeaderMap;
use uraiden::{
    channel::ChannelId,
    paywall::{PaywallLayer, PerMethod, api, metrics::Metrics},
    protocol::{rdn, x402},
    receiver::{ChannelManager, SessionTerms},
};

use common::receivers::{CONFIRMATIONS, Env};

const PRICE: u64 = 3;
const ADMIN_TOKEN: &str = "s3cret-admin-token";

/// A demo app: `/paid` (3 tokens; PUT costs 5), `/fail` (paid, but the handler fails),
/// `/free`, `/status/{code}` (free, answers `code`), `/s/*` and `/t/*` (3 tokens, sessions of up
/// to 5 requests; `…/fail` answers 500), `/short/*` (the same, sessions of one second), and the
/// management API.
fn app(manager: &ChannelManager) -> Router {
    let metrics = Metrics::new(manager.clone());
    let echo = |method: axum::http::Method, uri: axum::http::Uri| async move { format!("{method} {uri}") };
    let mut prices = PerMethod { default: U192::from(PRICE), ..PerMethod::default() };
    prices.methods.insert(axum::http::Method::PUT, U192::from(5));
    let paid = Router::new()
        .route("/paid", get(echo).post(echo).put(echo).delete(echo))
        .route_layer(PaywallLayer::new(manager.clone(), prices).with_observer(metrics.clone()));
    let failing = Router::new()
        .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)));
    // A price computed per request: the query's `size` (a rule the user writes).
    let sized = Router::new().route("/sized", get(|| async { "sized" })).route_layer(PaywallLayer::new(
        manager.clone(),
        |request: &axum::http::request::Parts| {
            let size = request.uri.query().and_then(|q| q.strip_prefix("size=")).and_then(|n| n.parse().ok());
            U192::from(size.unwrap_or(1u64))
        },
    ));
    let session_route = |prefix: &'static str, ttl: u64| {
        let serve = |uri: axum::http::Uri| async move {
            match uri.path().ends_with("/fail") {
                true => (StatusCode::INTERNAL_SERVER_ERROR, "boom".to_string()),
                false => (StatusCode::OK, format!("served {uri}")),
            }
        };
        let terms =
            SessionTerms { scope: format!("/{prefix}/"), max_requests: 5, ttl: std::time::Duration::from_secs(ttl) };
        Router::new()
            .route(&format!("/{prefix}/{{item}}"), get(serve))
            .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)).with_sessions(terms))
    };
    let free = Router::new()
        .route("/free", get(|| async { "free" }))
        .route(
            "/status/{code}",
            get(|axum::extract::Path(code): axum::extract::Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
            }),
        )
        .route_layer(PaywallLayer::new(manager.clone(), U192::ZERO));
    api::router(manager.clone(), Some(ADMIN_TOKEN.into()))
        .merge(paid)
        .merge(failing)
        .merge(sized)
        .merge(free)
        .merge(session_route("s", 3600))
        .merge(session_route("t", 3600))
        .merge(session_route("short", 1))
        .merge(metrics.router())
        .layer(axum::middleware::from_fn_with_state(metrics, Metrics::track))
}

struct Server {
    env: Env,
    manager: ChannelManager,
    base: String,
    http: reqwest::Client,
}

impl Server {
    fn start() -> Self {
        let env = Env::new();
        let manager = env.start(env.config());
        let router = app(&manager);
        let addr: SocketAddr = env.rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            addr
        });
        Self { env, manager, base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    /// A confirmed channel with `deposit`.
    fn channel(&mut self, deposit: u64) -> ChannelId {
        let ch = self.env.f.open_erc20(deposit);
        self.env.mine(&self.manager, CONFIRMATIONS);
        ch
    }

    fn send(&self, method: reqwest::Method, path: &str, headers: HeaderMap) -> reqwest::Response {
        let request = self.http.request(method, format!("{}{path}", self.base)).headers(headers);
        self.env.rt.block_on(request.send()).unwrap()
    }

    fn get(&self, path: &str, headers: HeaderMap) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, headers)
    }

    fn text(&self, response: reqwest::Response) -> String {
        self.env.rt.block_on(response.text()).unwrap()
    }

    fn json(&self, response: reqwest::Response) -> serde_json::Value {
        self.env.rt.block_on(response.json()).unwrap()
    }

    fn balance(&self, ch: &ChannelId) -> U192 {
        self.manager.record(ch.sender, ch.open_block).unwrap().balance
    }
}

/// µRaiden payment headers for `balance` on `ch` with `signature`.
fn rdn_headers(server: &Server, ch: &ChannelId, balance: u64, signature: &Bytes) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(rdn::CONTRACT_ADDRESS, server.env.f.c.channels.to_string().parse().unwrap());
    h.insert(rdn::SENDER_ADDRESS, ch.sender.to_string().parse().unwrap());
    h.insert(rdn::OPEN_BLOCK, ch.open_block.to_string().parse().unwrap());
    h.insert(rdn::BALANCE, balance.to_string().parse().unwrap());
    h.insert(rdn::BALANCE_SIGNATURE, signature.to_string().parse().unwrap());
    h
}

fn pay_rdn(server: &Server, ch: &ChannelId, balance: u64) -> HeaderMap {
    rdn_headers(server, ch, balance, &server.env.f.pay(ch, balance))
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

fn payment_required(response: &reqwest::Response) -> serde_json::Value {
    let raw = header(response, x402::PAYMENT_REQUIRED).expect("every 402 carries PAYMENT-REQUIRED");
    serde_json::from_slice(&STANDARD.decode(raw).unwrap()).unwrap()
}

/// The refusal flags present on a response.
fn flags(response: &reqwest::Response) -> Vec<&'static str> {
    rdn::REFUSAL_FLAGS.into_iter().filter(|f| response.headers().contains_key(*f)).collect()
}

#[test]
fn a_request_without_payment_gets_402_with_both_protocols_and_a_browser_gets_a_page() {
    let server = Server::start();
    let response = server.get("/paid", HeaderMap::new());
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let f = &server.env.f;
    assert_eq!(header(&response, rdn::GATEWAY_PATH), Some("/api/1"));
    assert_eq!(header(&response, rdn::RECEIVER_ADDRESS), Some(f.receiver.address().to_string().as_str()));
    assert_eq!(header(&response, rdn::CONTRACT_ADDRESS), Some(f.c.channels.to_string().as_str()));
    assert_eq!(header(&response, rdn::TOKEN_ADDRESS), Some(f.c.token.to_string().as_str()));
    assert_eq!(header(&response, rdn::CHAIN_ID), Some("31337"));
    assert_eq!(header(&response, rdn::PRICE), Some("3"));
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert!(flags(&response).is_empty(), "no refusal flag without a payment");
    let required = payment_required(&response);
    assert_eq!(required["x402Version"], 2);
    assert!(required.get("error").is_none());
    let accepts = &required["accepts"][0];
    assert_eq!(accepts["scheme"], "uraiden-channel");
    assert_eq!(accepts["network"], "eip155:31337");
    assert_eq!(accepts["amount"], "3");
    assert_eq!(
        accepts["extra"]["verifyingContract"].as_str().unwrap().to_lowercase(),
        f.c.channels.to_string().to_lowercase()
    );
    assert_eq!(accepts["extra"]["confirmations"], CONFIRMATIONS);
    assert!(required["resource"]["url"].as_str().unwrap().ends_with("/paid"));
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let body = server.json(response);
    assert_eq!(body["error"], "payment_required");

    let mut browser = HeaderMap::new();
    browser.insert("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".parse().unwrap());
    let page = server.get("/paid", browser);
    assert_eq!(page.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(header(&page, "content-type").unwrap().starts_with("text/html"));
    assert!(header(&page, x402::PAYMENT_REQUIRED).is_some());
    let html = server.text(page);
    assert!(html.contains(&f.receiver.address().to_string()) && html.contains(&f.c.token.to_string()));
    assert!(html.contains(">3<"), "the price is shown");
    assert!(html.contains(&f.receiver.address().to_string()), "the receiver is shown");
}

#[test]
fn fresh_proofs_pay_for_every_method_and_the_receipt_says_what_was_charged() {
    let mut server = Server::start();
    let ch = server.channel(100);
    let mut balance = 0;
    for (method, price) in [("GET", 3), ("POST", 3), ("PUT", 5), ("DELETE", 3)] {
        balance += price;
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = server.send(method.clone(), "/paid?x=1", pay_rdn(&server, &ch, balance));
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(header(&response, rdn::COST), Some(price.to_string().as_str()));
        assert_eq!(header(&response, rdn::SENDER_BALANCE), Some(balance.to_string().as_str()));
        assert_eq!(server.text(response), format!("{method} /paid?x=1"));
    }
    assert_eq!(server.balance(&ch), U192::from(14));

    // The seed's header name is accepted; both names must agree.
    let mut seed = pay_rdn(&server, &ch, 17);
    seed.remove(rdn::BALANCE);
    seed.insert(rdn::SENDER_BALANCE, "17".parse().unwrap());
    assert_eq!(server.get("/paid", seed).status(), StatusCode::OK);
    let mut disagree = pay_rdn(&server, &ch, 20);
    disagree.insert(rdn::SENDER_BALANCE, "21".parse().unwrap());
    let response = server.get("/paid", disagree);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(server.json(response)["header"], rdn::SENDER_BALANCE);
}

#[test]
fn every_refusal_names_its_cause_and_registers_nothing() {
    let mut server = Server::start();
    let ch = server.channel(10);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), StatusCode::OK);
    let last = server.env.f.pay(&ch, 3);

    let check = |server: &Server, headers: HeaderMap, flag: &str, reason: &str| {
        let response = server.get("/paid", headers);
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED, "{flag}");
        assert_eq!(flags(&response), vec![flag], "exactly one flag");
        assert_eq!(payment_required(&response)["error"], reason);
        response
    };
    // Unknown channel, and a channel on another contract.
    let mut unknown = ch;
    unknown.open_block += 1000;
    check(&server, pay_rdn(&server, &unknown, 3), rdn::NONEXISTING_CHANNEL, "channel_not_found");
    let mut other_contract = pay_rdn(&server, &ch, 6);
    other_contract.insert(rdn::CONTRACT_ADDRESS, server.env.f.c.token.to_string().parse().unwrap());
    check(&server, other_contract, rdn::NONEXISTING_CHANNEL, "contract_mismatch");
    // A forged proof.
    let forged = server.env.f.outsider.sign_digest(server.env.f.c.domain.balance_digest(
        ch.receiver,
        ch.open_block,
        U192::from(6),
    ));
    check(&server, rdn_headers(&server, &ch, 6, &forged), rdn::INVALID_BALANCE_PROOF, "invalid_signature");
    // Over- and underpayment, and the last proof replayed: the last state comes back.
    for balance in [7, 5, 3] {
        let response = check(&server, pay_rdn(&server, &ch, balance), rdn::INVALID_AMOUNT, "amount_mismatch");
        assert_eq!(header(&response, rdn::SENDER_BALANCE), Some("3"));
        assert_eq!(header(&response, rdn::BALANCE_SIGNATURE), Some(last.to_string().as_str()));
        let channel = &payment_required(&response)["accepts"][0]["extra"]["channel"];
        assert_eq!(
            (channel["balance"].as_str(), channel["signature"].as_str()),
            (Some("3"), Some(last.to_string().as_str()))
        );
    }
    // Above the deposit: 3 + 3 + 3 + 3 = 12 > 10.
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 6)).status(), StatusCode::OK);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 9)).status(), StatusCode::OK);
    check(&server, pay_rdn(&server, &ch, 12), rdn::INSUFFICIENT_FUNDS, "balance_exceeds_deposit");
    assert_eq!(server.balance(&ch), U192::from(9), "refusals registered nothing");

    // An unconfirmed channel says how many confirmations are missing.
    let fresh = server.env.f.open_erc20(10);
    server.env.sync(&server.manager);
    let response =
        check(&server, pay_rdn(&server, &fresh, 3), rdn::INSUFFICIENT_CONFIRMATIONS, "insufficient_confirmations");
    assert_eq!(header(&response, rdn::INSUFFICIENT_CONFIRMATIONS), Some((CONFIRMATIONS - 1).to_string().as_str()));

    // Malformed headers are a 400 naming the header.
    for (name, value) in [
        (rdn::SENDER_ADDRESS, "0x12"),
        (rdn::OPEN_BLOCK, "ten"),
        (rdn::BALANCE, "-1"),
        (rdn::BALANCE_SIGNATURE, "0xabcd"),
    ] {
        let mut headers = pay_rdn(&server, &ch, 12);
        headers.insert(name, value.parse().unwrap());
        let response = server.get("/paid", headers);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(server.json(response)["header"], name);
    }
    // A free route never looks at payment headers.
    let mut junk = HeaderMap::new();
    junk.insert(rdn::BALANCE_SIGNATURE, "junk".parse().unwrap());
    let response = server.get("/free", junk);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.text(response), "free");
}

#[test]
fn a_failing_handler_charges_nothing_and_concurrent_requests_with_one_proof_pay_once() {
    let mut server = Server::start();
    let ch = server.channel(50);
    let response = server.get("/fail", pay_rdn(&server, &ch, 3));
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(header(&response, rdn::COST).is_none());
    assert_eq!(server.balance(&ch), U192::ZERO, "nothing charged");
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), StatusCode::OK, "the same proof pays later");

    let headers = pay_rdn(&server, &ch, 6);
    let url = format!("{}/paid", server.base);
    let (a, b) = server.env.rt.block_on(async {
        tokio::join!(
            server.http.get(&url).headers(headers.clone()).send(),
            server.http.get(&url).headers(headers.clone()).send()
        )
    });
    let mut statuses = [a.unwrap(), b.unwrap()];
    statuses.sort_by_key(|r| r.status());
    assert_eq!(statuses[0].status(), StatusCode::OK);
    assert_eq!(statuses[1].status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(flags(&statuses[1]), vec![rdn::INVALID_AMOUNT]);
    assert_eq!(header(&statuses[1], rdn::SENDER_BALANCE), Some("6"));
    assert_eq!(server.balance(&ch), U192::from(6));
}

/// An x402 `PAYMENT-SIGNATURE` for `balance`, accepting the server's requirement.
fn pay_x402(server: &Server, ch: &ChannelId, balance: u64, accepted: &serde_json::Value) -> HeaderMap {
    let payment = serde_json::json!({
        "x402Version": 2,
        "resource": {"url": "ignored"},
        "accepted": accepted,
        "payload": {
            "sender": ch.sender,
            "openBlockNumber": ch.open_block,
            "balance": balance.to_string(),
            "signature": server.env.f.pay(ch, balance).to_string(),
        },
        "extensions": {},
    });
    let mut h = HeaderMap::new();
    h.insert(x402::PAYMENT_SIGNATURE, STANDARD.encode(payment.to_string()).parse().unwrap());
    h
}

#[test]
fn x402_clients_pay_through_the_same_channels() {
    let mut server = Server::start();
    let ch = server.channel(20);
    let accepted = payment_required(&server.get("/paid", HeaderMap::new()))["accepts"][0].clone();
    let response = server.get("/paid", pay_x402(&server, &ch, 3, &accepted));
    assert_eq!(response.status(), StatusCode::OK);
    let receipt: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(header(&response, x402::PAYMENT_RESPONSE).unwrap()).unwrap()).unwrap();
    assert_eq!(receipt["success"], true);
    assert_eq!(receipt["transaction"], "");
    assert_eq!(receipt["network"], "eip155:31337");
    assert_eq!(receipt["amount"], "3");
    assert_eq!(receipt["extra"], serde_json::json!({"openBlockNumber": ch.open_block, "balance": "3"}));

    let refused = server.get("/paid", pay_x402(&server, &ch, 3, &accepted));
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    let required = payment_required(&refused);
    assert_eq!(required["error"], "amount_mismatch");
    assert_eq!(required["accepts"][0]["extra"]["channel"]["balance"], "3");

    let mut elsewhere = accepted.clone();
    elsewhere["network"] = "eip155:1".into();
    assert_eq!(
        payment_required(&server.get("/paid", pay_x402(&server, &ch, 6, &elsewhere)))["error"],
        "contract_mismatch"
    );

    for bad in ["not base64!", &STANDARD.encode("{not json")] {
        let mut h = HeaderMap::new();
        h.insert(x402::PAYMENT_SIGNATURE, bad.parse().unwrap());
        let response = server.get("/paid", h);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(server.json(response)["header"], x402::PAYMENT_SIGNATURE);
    }
    assert_eq!(server.balance(&ch), U192::from(3));
}

#[test]
fn the_management_api_lists_channels_and_closes_cooperatively() {
    let mut server = Server::start();
    let ch = server.channel(30);
    let unpaid = server.channel(5);
    let stats = server.json(server.get("/api/1/stats", HeaderMap::new()));
    assert_eq!((stats["open_channels"].as_u64(), stats["deposit_sum"].as_str()), (Some(2), Some("35")));
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), StatusCode::OK);
    let listed = server.json(server.get("/api/1/channels?status=open", HeaderMap::new()));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&server.env.f.pay(&ch, 3).to_string()[2..]), "no stored proof is published");
    let one = server.json(server.get(&format!("/api/1/channels/{}/{}", ch.sender, ch.open_block), HeaderMap::new()));
    assert_eq!(
        (one["balance"].as_str(), one["deposit"].as_str(), one["status"].as_str()),
        (Some("3"), Some("30"), Some("open"))
    );
    assert_eq!(
        server.get(&format!("/api/1/channels/{}/1", ch.sender), HeaderMap::new()).status(),
        StatusCode::NOT_FOUND
    );

    let close = |server: &Server, ch: &ChannelId, balance: u64, signature: &Bytes| {
        let body = close::close_body(balance, signature, &close::consent(server, ch, balance));
        close::close(server, ch, &body)
    };
    let sig3 = server.env.f.pay(&ch, 3);
    assert_eq!(close(&server, &ch, 2, &server.env.f.pay(&ch, 2)).status(), StatusCode::FORBIDDEN, "a wrong balance");
    assert_eq!(close(&server, &ch, 3, &server.env.f.pay(&ch, 2)).status(), StatusCode::FORBIDDEN, "a wrong signature");
    assert_eq!(
        close(&server, &unpaid, 0, &server.env.f.pay(&unpaid, 0)).status(),
        StatusCode::FORBIDDEN,
        "nothing paid"
    );
    let response = close(&server, &ch, 3, &sig3);
    assert_eq!(response.status(), StatusCode::OK);
    let closing: Bytes = server.json(response)["close_signature"].as_str().unwrap().parse().unwrap();

    let receiver_before = server.env.f.balance(ch.receiver);
    let outsider = server.env.f.outsider.address();
    let f = &mut server.env.f;
    f.c.cooperative_close(&mut f.chain, outsider, ch.receiver, ch.open_block, U192::from(3), sig3, closing).unwrap();
    assert_eq!(server.env.f.balance(ch.receiver), receiver_before + 3);

    // Admin routes need the token.
    let url = format!("{}/api/1/admin/close-all", server.base);
    let refused = server.env.rt.block_on(server.http.post(&url).send()).unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let wrong = server.env.rt.block_on(server.http.post(&url).bearer_auth("wrong").send()).unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = server.env.rt.block_on(server.http.post(&url).bearer_auth(ADMIN_TOKEN).send()).unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // The scheme's name is case-insensitive (RFC 9110), the token is not.
    for (authorization, status) in [
        (format!("bearer {ADMIN_TOKEN}"), StatusCode::OK),
        (format!("BEARER  {ADMIN_TOKEN}"), StatusCode::OK),
        (format!("Bearer {}", ADMIN_TOKEN.to_uppercase()), StatusCode::UNAUTHORIZED),
        (format!("Basic {ADMIN_TOKEN}"), StatusCode::UNAUTHORIZED),
        (format!("Bearer{ADMIN_TOKEN}"), StatusCode::UNAUTHORIZED),
    ] {
        let request = server.http.post(&url).header("authorization", &authorization);
        assert_eq!(server.env.rt.block_on(request.send()).unwrap().status(), status, "{authorization}");
    }
    assert_eq!(server.get("/health", HeaderMap::new()).status(), StatusCode::OK);
    assert_eq!(server.get("/ready", HeaderMap::new()).status(), StatusCode::OK);
}

#[test]
fn metrics_count_requests_payments_and_refusals() {
    let mut server = Server::start();
    let ch = server.channel(10);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), StatusCode::OK);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 99)).status(), StatusCode::PAYMENT_REQUIRED);
    let response = server.get("/metrics", HeaderMap::new());
    assert!(header(&response, "content-type").unwrap().starts_with("text/plain"));
    let text = server.text(response);
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(-1.0, |v| v.parse().unwrap())
    };
    assert_eq!(value("uraiden_payments_accepted_total "), 1.0, "{text}");
    assert_eq!(value("uraiden_payments_accepted_amount_total "), 3.0);
    assert_eq!(value("uraiden_payments_refused_total{reason=\"amount_mismatch\"}"), 2.0, "{text}");
    assert_eq!(value("uraiden_http_requests_total{method=\"GET\",status=\"402\"}"), 2.0, "{text}");
    assert_eq!(value("uraiden_node_reachable "), 1.0);
    assert!(value("uraiden_sync_lag_blocks ") >= 0.0);
    assert!(text.contains("uraiden_http_request_duration_seconds_bucket"));
}

#[test]
fn a_pricing_rule_prices_each_request() {
    let mut server = Server::start();
    let ch = server.channel(100);
    let response = server.get("/sized?size=7", HeaderMap::new());
    assert_eq!(header(&response, rdn::PRICE), Some("7"));
    assert_eq!(payment_required(&response)["accepts"][0]["amount"], "7");
    assert_eq!(header(&server.get("/sized", HeaderMap::new()), rdn::PRICE), Some("1"));
    let response = server.get("/sized?size=7", pay_rdn(&server, &ch, 7));
    assert_eq!((response.status(), header(&response, rdn::COST)), (StatusCode::OK, Some("7")));
    let response = server.get("/sized?size=2", pay_rdn(&server, &ch, 9));
    assert_eq!((response.status(), header(&response, rdn::COST)), (StatusCode::OK, Some("2")));
    assert_eq!(server.balance(&ch), U192::from(9));
}

#[test]
fn x402_refusals_carry_their_reason_and_register_nothing() {
    let mut server = Server::start();
    let ch = server.channel(6);
    let accepted = payment_required(&server.get("/paid", HeaderMap::new()))["accepts"][0].clone();
    let check = |server: &Server, ch: &ChannelId, balance: u64, reason: &str| {
        let response = server.get("/paid", pay_x402(server, ch, balance, &accepted));
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED, "{reason}");
        assert_eq!(payment_required(&response)["error"], reason);
        assert!(header(&response, x402::PAYMENT_RESPONSE).is_none());
    };
    let mut unknown = ch;
    unknown.open_block += 1000;
    check(&server, &unknown, 3, "channel_not_found");
    check(&server, &ch, 4, "amount_mismatch");
    check(&server, &ch, 9, "amount_mismatch");
    assert_eq!(server.get("/paid", pay_x402(&server, &ch, 3, &accepted)).status(), StatusCode::OK);
    assert_eq!(server.get("/paid", pay_x402(&server, &ch, 6, &accepted)).status(), StatusCode::OK);
    check(&server, &ch, 9, "balance_exceeds_deposit");
    let fresh = server.env.f.open_erc20(10);
    server.env.sync(&server.manager);
    check(&server, &fresh, 3, "insufficient_confirmations");
    // A proof signed by someone else, in an otherwise valid payload.
    let forged = server.env.f.outsider.sign_digest(server.env.f.c.domain.balance_digest(
        ch.receiver,
        ch.open_block,
        U192::from(9),
    ));
    let mut payload = serde_json::json!({"x402Version": 2, "accepted": accepted,
        "payload": {"sender": ch.sender, "openBlockNumber": ch.open_block, "balance": "9", "signature": forged.to_string()}});
    let mut h = HeaderMap::new();
    h.insert(x402::PAYMENT_SIGNATURE, STANDARD.encode(payload.to_string()).parse().unwrap());
    assert_eq!(payment_required(&server.get("/paid", h))["error"], "invalid_signature");
    // Another scheme or version is malformed for this server.
    payload["accepted"]["scheme"] = "exact".into();
    let mut h = HeaderMap::new();
    h.insert(x402::PAYMENT_SIGNATURE, STANDARD.encode(payload.to_string()).parse().unwrap());
    assert_eq!(server.get("/paid", h).status(), StatusCode::BAD_REQUEST);
    assert_eq!(server.balance(&ch), U192::from(6));
    // A closing channel.
    let sig = server.env.f.pay(&ch, 6);
    server.env.rt.block_on(server.manager.sign_close(ch.sender, ch.open_block, U192::from(6), &sig)).unwrap();
    check(&server, &ch, 7, "channel_closing");
}

#[test]
fn metrics_labels_stay_bounded_whatever_clients_send() {
    let server = Server::start();
    let series = |server: &Server| -> Vec<String> {
        let text = server.text(server.get("/metrics", HeaderMap::new()));
        text.lines().filter(|l| l.starts_with("uraiden_") && l.contains('{')).map(str::to_string).collect()
    };
    // Thousands of random methods, some of them long: one `other` series per status.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";
    let url = format!("{}/free", server.base);
    server.env.rt.block_on(async {
        for i in 0..2_000 {
            let len = if i % 100 == 0 { 4_000 } else { 1 + (next() % 24) as usize };
            let method: String = (0..len).map(|_| TOKEN[(next() % TOKEN.len() as u64) as usize] as char).collect();
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = server.http.request(method.clone(), &url).send().await.unwrap();
            assert!(response.status().is_client_error() || response.status().is_success(), "{method}");
        }
        // Every status an application can answer, registered or not.
        for code in (200..=999).step_by(7).chain([299, 418, 599, 600, 999]) {
            let response = server.http.get(format!("{}/status/{code}", server.base)).send().await.unwrap();
            assert_eq!(response.status().as_u16(), code);
        }
    });
    let lines = series(&server);
    let requests: Vec<&String> = lines.iter().filter(|l| l.starts_with("uraiden_http_requests_total{")).collect();
    for line in &requests {
        let method = line.split("method=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(
            ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"].contains(&method),
            "{line}"
        );
        let status = line.split("status=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(
            status == "other"
                || StatusCode::from_bytes(status.as_bytes()).is_ok_and(|s| s.canonical_reason().is_some()),
            "{line}"
        );
    }
    assert!(requests.iter().any(|l| l.contains("method=\"other\"")), "the random methods were counted as other");
    assert!(requests.iter().any(|l| l.contains("status=\"other\"")), "unregistered statuses were counted as other");
    // Registered statuses are few: the series are bounded by the label sets, not by the traffic.
    assert!(requests.len() < 100, "{} series: {requests:#?}", requests.len());
    assert!(lines.iter().all(|l| l.len() < 200), "no label carries what a client sent");
}

/// Three servers of one receiver on one PostgreSQL store (issue 20): after payments spread over
/// them, every server's management API shows every payment acknowledged by any of them (the
/// channel, the lists and the sums), not the balance it last registered itself.
#[test]
fn every_server_on_a_shared_store_shows_every_acknowledged_payment() {
    let mut env = Env::on(common::receivers::Backend::Postgres);
    let config = env.config();
    let managers: Vec<ChannelManager> = (0..3).map(|_| env.start(config.clone())).collect();
    let ch = env.f.open_erc20(100);
    env.mine(&managers[0], CONFIRMATIONS);
    for m in &managers[1..] {
        env.sync(m);
    }
    let bases: Vec<String> = managers
        .iter()
        .map(|m| {
            let router = api::router(m.clone(), None);
            env.rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
                format!("http://{addr}")
            })
        })
        .collect();
    let http = reqwest::Client::new();
    let get = |url: String| -> serde_json::Value {
        env.rt.block_on(async { http.get(url).send().await.unwrap().json().await.unwrap() })
    };
    // Paid through 0, 1, 2, 0, 2, 1, …: each server in turn registers on top of the others.
    let order = [0, 1, 2, 0, 2, 1, 1, 0];
    for (i, &server) in order.iter().enumerate() {
        let balance = 3 * (i as u64 + 1);
        env.pay(&managers[server], &ch, balance, 3).expect("paid");
        for base in &bases {
            let view = get(format!("{base}/api/1/channels/{}/{}", ch.sender, ch.open_block));
            assert_eq!(view["balance"], balance.to_string(), "{base} after payment {i}: {view}");
            let stats = get(format!("{base}/api/1/stats"));
            assert_eq!(stats["balance_sum"], balance.to_string(), "{base} after payment {i}: {stats}");
            let list = get(format!("{base}/api/1/channels/{}", ch.sender));
            assert_eq!(list[0]["balance"], balance.to_string(), "{base} after payment {i}: {list}");
        }
    }
    // The in-memory views follow too, once refreshed (what the API does before each read).
    for m in &managers {
        env.rt.block_on(m.refresh(Some((ch.sender, ch.open_block)))).unwrap();
        assert_eq!(m.record(ch.sender, ch.open_block).unwrap().balance, U192::from(3 * order.len() as u64));
    }
}
