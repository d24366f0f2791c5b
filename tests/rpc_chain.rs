//! `RpcChain` against a node that fails: gas estimation may fall back to a fixed limit only when
//! the node reports a revert; any other estimation failure is an error and nothing is sent. A
//! URL's secrets never reach an error.

mod common;

use std::sync::Arc;

use alloy_primitives::U256;
use axum::{Json, Router, extract::State, routing::post};
use common::anvil_chain;
use serde_json::{Value, json};
use uraiden::{
    chain::{Chain, ChainError, Outcome, RpcChain},
    contract::{Call, Contracts},
    proof::Signer,
};

/// A JSON-RPC proxy in front of `upstream` that answers every `eth_estimateGas` with a node
/// error that is not a revert. Returns its URL; it runs until the process ends.
fn failing_estimates_proxy(upstream: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let state = Arc::new((reqwest::Client::new(), upstream));
            let app = Router::new().route("/", post(forward)).with_state(state);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

async fn forward(State(state): State<Arc<(reqwest::Client, String)>>, Json(request): Json<Value>) -> Json<Value> {
    if request["method"] == "eth_estimateGas" {
        return Json(json!({
            "jsonrpc": "2.0", "id": request["id"],
            "error": {"code": -32000, "message": "header not found"},
        }));
    }
    let (client, upstream) = &*state;
    let response = client.post(upstream).json(&request).send().await.unwrap();
    Json(response.json().await.unwrap())
}

#[test]
fn only_a_reported_revert_is_sent_without_an_estimate() {
    let mut anvil = anvil_chain();
    let deployer = Signer::test_key(0);
    let (c, _) = Contracts::deploy(&mut anvil, deployer.address(), U256::from(1_000), 5).unwrap();
    let sender = Signer::test_key(1).address();

    // The node reports a revert (a transfer above the balance): sent anyway, mined, reverted.
    let before = anvil.nonce(sender).unwrap();
    let call = Call::Transfer { to: deployer.address(), amount: U256::from(1) };
    let (to, data) = call.encode(c.token, c.channels);
    let receipt = anvil.transact(sender, to, data.clone()).unwrap();
    assert!(matches!(receipt.outcome, Outcome::Revert(_)), "{receipt:?}");
    assert_eq!(anvil.nonce(sender).unwrap(), before + 1);

    // The node fails to estimate for another reason: an error, and nothing is sent.
    let proxy = failing_estimates_proxy(anvil.anvil_endpoint().unwrap());
    let mut through_proxy = RpcChain::connect(&proxy, &[Signer::test_key(1)]).unwrap();
    let before = anvil.nonce(sender).unwrap();
    match through_proxy.transact(sender, to, data) {
        Err(ChainError::Node(message)) => {
            assert!(message.contains("eth_estimateGas") && message.contains("header not found"), "{message}")
        }
        other => panic!("expected a node error, got {other:?}"),
    }
    assert_eq!(anvil.nonce(sender).unwrap(), before, "a transaction was sent");
}

#[test]
fn url_secrets_never_reach_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("https://bob:hunter2secret@127.0.0.1:{port}/v2/projectkey42?apikey=abc123xyz");
    for error in [
        RpcChain::connect(&url, &[Signer::test_key(1)]).unwrap_err().to_string(),
        RpcChain::connect_read_only(&url).unwrap_err().to_string(),
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(uraiden::node::Node::connect(&url, None))
            .unwrap_err()
            .to_string(),
    ] {
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        for secret in ["bob", "hunter2secret", "projectkey42", "abc123xyz"] {
            assert!(!error.contains(secret), "{secret} in {error}");
        }
    }
}
