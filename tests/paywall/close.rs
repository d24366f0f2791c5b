//! The cooperative close needs the sender's own consent: a client holding balance proofs (an
//! old one it saw, and the latest one a refusal hands back to resynchronise) gets no closing
//! agreement; the sender's client, which signs a `CloseRequest`, does.

use alloy_primitives::{Bytes, aliases::U192};
use axum::http::StatusCode;
use uraiden::{
    channel::ChannelId,
    channel::ChannelStatus,
    protocol::rdn,
    sender::{ChannelClient, DepositPath, SenderConfig},
};

use super::{Server, header, pay_rdn, rdn_headers};

/// `DELETE /api/1/channels/{sender}/{open_block}` with `body`.
pub(crate) fn close(server: &Server, ch: &ChannelId, body: &serde_json::Value) -> reqwest::Response {
    let url = format!("{}/api/1/channels/{}/{}", server.base, ch.sender, ch.open_block);
    server.env.rt.block_on(server.http.delete(url).json(body).send()).unwrap()
}

/// The sender's consent to close `ch` at `balance`.
pub(crate) fn consent(server: &Server, ch: &ChannelId, balance: u64) -> Bytes {
    let f = &server.env.f;
    f.sender.sign_digest(f.c.domain.close_request_digest(ch.receiver, ch.open_block, U192::from(balance)))
}

/// The sender's channel client's configuration, its store in `dir`.
pub(crate) fn sender_config(server: &Server, dir: &std::path::Path) -> SenderConfig {
    SenderConfig {
        rpc_url: server.env.url.clone(),
        contract: server.env.f.c.channels,
        deployment_block: 0,
        key: server.env.f.sender.clone(),
        data_dir: dir.to_path_buf(),
        deposit_path: DepositPath::Erc20,
    }
}

pub(crate) fn close_body(balance: u64, balance_sig: &Bytes, consent: &Bytes) -> serde_json::Value {
    serde_json::json!({
        "balance": balance.to_string(),
        "balance_signature": balance_sig.to_string(),
        "close_request_signature": consent.to_string(),
    })
}

#[test]
fn balance_proofs_alone_get_no_closing_agreement_but_the_senders_client_closes() {
    let mut server = Server::start();
    let ch = server.channel(30);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 3)).status(), StatusCode::OK);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 6)).status(), StatusCode::OK);

    // An attacker who saw the first proof replays it and is handed the latest, to resynchronise.
    let old = server.env.f.pay(&ch, 3);
    let refusal = server.get("/paid", rdn_headers(&server, &ch, 3, &old));
    assert_eq!(refusal.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(header(&refusal, rdn::SENDER_BALANCE), Some("6"));
    let latest: Bytes = header(&refusal, rdn::BALANCE_SIGNATURE).unwrap().parse().unwrap();

    // Without the sender's CloseRequest, nothing the attacker holds gets an agreement.
    let f = &server.env.f;
    let outsiders = f.outsider.sign_digest(f.c.domain.close_request_digest(ch.receiver, ch.open_block, U192::from(6)));
    let as_consent: [(&str, Bytes); 4] = [
        ("the latest balance proof", latest.clone()),
        ("the old balance proof", old.clone()),
        ("a close request signed by someone else", outsiders),
        ("the sender's consent to another channel", {
            let other = ChannelId { open_block: ch.open_block + 1, ..ch };
            consent(&server, &other, 6)
        }),
    ];
    for (what, signature) in &as_consent {
        let response = close(&server, &ch, &close_body(6, &latest, signature));
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        let body: serde_json::Value = server.env.rt.block_on(response.json()).unwrap();
        assert_eq!(body["error"], "close_not_requested", "{what}");
        assert!(body.get("close_signature").is_none());
    }
    let without = serde_json::json!({"balance": "6", "balance_signature": latest.to_string()});
    let response = close(&server, &ch, &without);
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "no consent at all");
    // The sender's consent to an old balance is not enough either (the proof must be the last).
    let response = close(&server, &ch, &close_body(3, &old, &consent(&server, &ch, 3)));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.env.rt.block_on(response.json::<serde_json::Value>()).unwrap()["error"], "not_latest");

    // The channel is untouched: it still takes payments.
    assert_eq!(server.manager.channel(ch.sender, ch.open_block).unwrap().status, ChannelStatus::Open);
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, 9)).status(), StatusCode::OK);

    // The sender's own client closes cooperatively, through the real API, settled at once.
    let dir = tempfile::tempdir().unwrap();
    let config = sender_config(&server, dir.path());
    let receiver_before = server.env.f.balance(ch.receiver);
    let tx = server.env.rt.block_on(async {
        let client = ChannelClient::connect(config).await.unwrap();
        client.sync().await.unwrap();
        let channel = client.channel(ch.receiver, ch.open_block).await.unwrap();
        let channel = client.acknowledge(&channel, U192::from(9)).await.unwrap();
        client.close_cooperatively(&channel, &server.base).await.unwrap()
    });
    assert!(!tx.is_zero());
    assert_eq!(server.env.f.balance(ch.receiver), receiver_before + 9, "settled at the last payment");
    assert!(server.env.f.info(&ch).is_err(), "the channel is gone from the contract");
}
