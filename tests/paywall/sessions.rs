//! Prepaid sessions over real HTTP: a payment buys `n` requests and is answered with a
//! credential; the credential spends them, and every way it can be wrong is refused with a 402
//! naming why; a cooperative close refunds what was not used.

use alloy_primitives::{Address, aliases::U192};
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use sha2::Sha256;
use uraiden::{
    channel::ChannelId,
    protocol::{
        rdn,
        session::{self, Credential, Grant},
        x402,
    },
    sender::ChannelClient,
};

use super::{PRICE, Server, header, pay_rdn, payment_required};
use crate::close::{close, close_body, consent, sender_config};

/// Buys `n` requests of `path` on `ch` at `balance` (the last balance plus `n` prices).
fn buy(server: &Server, path: &str, ch: &ChannelId, balance: u64, n: u32) -> reqwest::Response {
    let mut headers = pay_rdn(server, ch, balance);
    headers.insert(session::REQUESTS, HeaderValue::from(n));
    server.get(path, headers)
}

fn with_credential(credential: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(session::SESSION, credential.parse().unwrap());
    headers
}

/// The 402's session reason, in both protocols (they must agree).
fn refused_for(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let flag = header(response, session::INVALID_SESSION).expect("the RDN flag of a refused credential").to_string();
    assert_eq!(payment_required(response)["error"], flag.as_str(), "x402's error and the RDN flag agree");
    flag
}

fn remaining(response: &reqwest::Response) -> u32 {
    header(response, session::REMAINING).expect("what the session has left").parse().unwrap()
}

#[test]
fn a_payment_buys_n_requests_and_the_credential_spends_exactly_those() {
    let mut server = Server::start();
    let ch = server.channel(100);

    // The 402 offers sessions in both protocols.
    let offer = server.get("/s/a", HeaderMap::new());
    assert_eq!(offer.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(header(&offer, session::MAX), Some("5"));
    assert_eq!(header(&offer, session::SCOPE), Some("/s/"));
    assert_eq!(header(&offer, session::TTL), Some("3600"));
    let extra = &payment_required(&offer)["accepts"][0]["extra"]["session"];
    assert_eq!(extra, &serde_json::json!({"maxRequests": 5, "scope": "/s/", "ttlSeconds": 3600}));
    // A route without sessions offers none.
    assert_eq!(header(&server.get("/paid", HeaderMap::new()), session::MAX), None);

    // One proof of 3 prices buys 3 requests: this one and 2 more.
    let bought = buy(&server, "/s/a", &ch, 3 * PRICE, 3);
    assert_eq!(bought.status(), StatusCode::OK);
    assert_eq!(header(&bought, rdn::COST), Some("9"));
    assert_eq!(header(&bought, rdn::SENDER_BALANCE), Some("9"));
    assert_eq!(remaining(&bought), 2);
    let credential = header(&bought, session::SESSION).unwrap().to_string();
    let grant = Credential::decode(&credential).unwrap().grant;
    assert_eq!((grant.channel, grant.requests, grant.price, grant.balance), (ch, 3, U192::from(PRICE), U192::from(9)));
    assert_eq!(server.balance(&ch), U192::from(9), "registered durably like any payment");

    let one = server.get("/s/b", with_credential(&credential));
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(server.text(one), "served /s/b");
    // A handler's failure costs the session nothing.
    let failed = server.get("/s/fail", with_credential(&credential));
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let two = server.get("/s/c", with_credential(&credential));
    assert_eq!((two.status(), remaining(&two)), (StatusCode::OK, 0));
    assert_eq!(header(&two, rdn::SENDER_BALANCE), None, "no payment was made");
    let three = server.get("/s/d", with_credential(&credential));
    assert_eq!(refused_for(&three), "session_exhausted");
    assert_eq!(server.balance(&ch), U192::from(9), "sessions move no balance");

    // The next payment extends the balance the session was bought with.
    assert_eq!(server.get("/s/e", pay_rdn(&server, &ch, 9 + PRICE)).status(), StatusCode::OK);
    // Buying more than the route sells, or a payment that does not cover n prices, is refused.
    assert_eq!(refused_for(&buy(&server, "/s/f", &ch, 12 + 6 * PRICE, 6)), "session_mismatch");
    let short = buy(&server, "/s/f", &ch, 12 + 2 * PRICE, 3);
    assert_eq!(short.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(payment_required(&short)["error"], "amount_mismatch");
    // A credential and a payment together are a 400: which one pays is not guessed.
    let mut both = pay_rdn(&server, &ch, 12 + PRICE);
    both.insert(session::SESSION, credential.parse().unwrap());
    assert_eq!(server.get("/s/g", both).status(), StatusCode::BAD_REQUEST);
}

#[test]
fn every_wrong_credential_is_refused_with_its_reason() {
    let mut server = Server::start();
    let ch = server.channel(100);
    let other = server.channel(100);
    let bought = buy(&server, "/s/a", &ch, 5 * PRICE, 5);
    assert_eq!(bought.status(), StatusCode::OK);
    let credential = header(&bought, session::SESSION).unwrap().to_string();
    let good = Credential::decode(&credential).unwrap();

    // Unknown: not a credential at all, or a well-made one for a session never sold.
    assert_eq!(refused_for(&server.get("/s/b", with_credential("v1.bm9wZQ.bm9wZQ"))), "session_unknown");
    let never_sold = Grant { balance: U192::from(99), ..good.grant.clone() };
    let minted = Credential { mac: mac_of(&server.env.f.receiver, &never_sold), grant: never_sold };
    assert_eq!(refused_for(&server.get("/s/b", with_credential(&minted.encode()))), "session_unknown");

    // Forged: any change to what it grants (more requests, a later expiry) breaks the MAC.
    for forged in [
        Grant { requests: 500, ..good.grant.clone() },
        Grant { expires: good.grant.expires + 86_400, ..good.grant.clone() },
        Grant { channel: other, ..good.grant.clone() },
    ] {
        let forged = Credential { grant: forged, mac: good.mac };
        assert_eq!(refused_for(&server.get("/s/b", with_credential(&forged.encode()))), "session_forged");
    }

    // For another route (its scope), even one of the same price and paywall.
    assert_eq!(refused_for(&server.get("/t/b", with_credential(&credential))), "session_mismatch");
    // For another receiver (as the grant says; its MAC is that receiver's business).
    let elsewhere = Grant { channel: ChannelId { receiver: Address::repeat_byte(0x77), ..ch }, ..good.grant.clone() };
    let elsewhere = Credential { mac: mac_of(&server.env.f.outsider, &elsewhere), grant: elsewhere };
    assert_eq!(refused_for(&server.get("/s/b", with_credential(&elsewhere.encode()))), "session_mismatch");
    // Named with another channel's headers.
    let mut named = with_credential(&credential);
    named.insert(rdn::SENDER_ADDRESS, other.sender.to_string().parse().unwrap());
    named.insert(rdn::OPEN_BLOCK, other.open_block.to_string().parse().unwrap());
    assert_eq!(refused_for(&server.get("/s/b", named)), "session_mismatch");

    // Expired: a session of one second, used two seconds later.
    let bought = buy(&server, "/short/a", &other, 2 * PRICE, 2);
    assert_eq!(bought.status(), StatusCode::OK);
    let short = header(&bought, session::SESSION).unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(refused_for(&server.get("/short/b", with_credential(&short))), "session_expired");

    // None of the refusals spent anything: the good credential still has its 4 requests.
    for left in (0..4).rev() {
        let response = server.get("/s/c", with_credential(&credential));
        assert_eq!((response.status(), remaining(&response)), (StatusCode::OK, left));
    }
    assert_eq!(refused_for(&server.get("/s/c", with_credential(&credential))), "session_exhausted");
}

#[test]
fn an_x402_payment_buys_a_session_too() {
    let mut server = Server::start();
    let ch = server.channel(100);
    let offer = server.get("/s/a", HeaderMap::new());
    let accepted = payment_required(&offer)["accepts"][0].clone();
    let signature = server.env.f.pay(&ch, 4 * PRICE);
    let mut headers = HeaderMap::new();
    let value = x402::payment_signature(
        &accepted,
        ch.sender,
        ch.open_block,
        U192::from(4 * PRICE),
        &signature.to_string(),
        Some(4),
    );
    headers.insert(x402::PAYMENT_SIGNATURE, value);
    let bought = server.get("/s/a", headers);
    assert_eq!(bought.status(), StatusCode::OK);
    assert_eq!(remaining(&bought), 3);
    let credential = header(&bought, session::SESSION).unwrap().to_string();
    assert_eq!(server.get("/s/b", with_credential(&credential)).status(), StatusCode::OK);
}

#[test]
fn a_cooperative_close_refunds_what_the_sessions_did_not_use() {
    let mut server = Server::start();
    let ch = server.channel(100);
    // 1 paid request, then a session of 5 of which 2 are used (the buying one and one more).
    assert_eq!(server.get("/paid", pay_rdn(&server, &ch, PRICE)).status(), StatusCode::OK);
    let bought = buy(&server, "/s/a", &ch, PRICE + 5 * PRICE, 5);
    let credential = header(&bought, session::SESSION).unwrap().to_string();
    assert_eq!(server.get("/s/b", with_credential(&credential)).status(), StatusCode::OK);
    assert_eq!(server.balance(&ch), U192::from(18));

    let url = format!("{}/api/1/channels/{}/{}", server.base, ch.sender, ch.open_block);
    let view: serde_json::Value =
        server.env.rt.block_on(async { server.http.get(&url).send().await?.json().await }).unwrap();
    assert_eq!(view["unused_prepaid"], "9", "3 requests at 3");

    // Below what was used: refused, and nothing changes (the session still serves).
    let f = &server.env.f;
    let response = close(&server, &ch, &close_body(8, &f.pay(&ch, 8), &consent(&server, &ch, 8)));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.json(response)["error"], "below_unused");
    assert_eq!(server.get("/s/c", with_credential(&credential)).status(), StatusCode::OK, "3 used now");
    // A lower balance signed by someone else is no refund.
    let not_senders = f.outsider.sign_digest(f.c.domain.balance_digest(ch.receiver, ch.open_block, U192::from(9)));
    let response = close(&server, &ch, &close_body(9, &not_senders, &consent(&server, &ch, 9)));
    assert_eq!(server.json(response)["error"], "invalid_signature");

    // The sender's own client asks what is unused, signs that much less, and closes on chain.
    let dir = tempfile::tempdir().unwrap();
    let config = sender_config(&server, dir.path());
    let receiver_before = server.env.f.balance(ch.receiver);
    let sender_before = server.env.f.balance(ch.sender);
    server.env.rt.block_on(async {
        let client = ChannelClient::connect(config).await.unwrap();
        client.sync().await.unwrap();
        let channel = client.channel(ch.receiver, ch.open_block).await.unwrap();
        let channel = client.acknowledge(&channel, U192::from(18)).await.unwrap();
        client.close_cooperatively(&channel, &server.base).await.unwrap()
    });
    assert_eq!(server.env.f.balance(ch.receiver), receiver_before + 12, "the receiver kept what was used");
    assert_eq!(server.env.f.balance(ch.sender), sender_before + 88, "the sender got the rest, refund included");
    // The credential is worth nothing now.
    let after = server.get("/s/c", with_credential(&credential));
    assert_eq!(after.status(), StatusCode::PAYMENT_REQUIRED);
}

/// The MAC the receiver with `key` puts on `grant` (as `docs/http-protocol.md` specifies:
/// HMAC-SHA256 keyed with HMAC-SHA256(receiver's key, "uraiden session credential v1")).
fn mac_of(key: &uraiden::proof::Signer, grant: &Grant) -> [u8; 32] {
    let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&key.signing_key().to_bytes()).unwrap();
    derive.update(b"uraiden session credential v1");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&derive.finalize().into_bytes()).unwrap();
    mac.update(&grant.to_bytes());
    mac.finalize().into_bytes().into()
}
