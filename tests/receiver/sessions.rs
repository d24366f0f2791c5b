//! Prepaid sessions across servers of one receiver on one PostgreSQL store: a credential sold by
//! one is served by the other, the two together never serve more requests than were bought, and
//! a server that stops gives back what it claimed and did not serve.

use std::time::Duration;

use uraiden::receiver::{ChannelManager, PaymentError, SessionError, SessionTerms};

use super::common::{
    receivers::{Backend, CONFIRMATIONS, Env},
    u192,
};

const SCOPE: &str = "/api/";

/// Sells `requests` requests at price 1 on `ch` through `manager`, the channel's balance going
/// from `paid` to `paid + requests`; returns the credential.
fn sell(env: &Env, manager: &ChannelManager, ch: &uraiden::channel::ChannelId, paid: u64, requests: u32) -> String {
    let balance = paid + u64::from(requests);
    let signature = env.f.pay(ch, balance);
    let terms = SessionTerms { scope: SCOPE.into(), max_requests: 1000, ttl: Duration::from_secs(3600) };
    env.rt.block_on(async {
        let checked = manager
            .check_payment(ch.sender, ch.open_block, u192(balance), &signature, u192(u64::from(requests)))
            .await
            .unwrap();
        let (_, credential, spent) = manager.commit_session(checked, &terms, u192(1), requests).await.unwrap();
        assert_eq!(spent.remaining, requests - 1, "the buying request is served");
        credential
    })
}

fn spend(env: &Env, manager: &ChannelManager, credential: &str) -> Result<u32, PaymentError> {
    env.rt.block_on(manager.spend_session(credential, SCOPE, u192(1), None)).map(|spent| spent.remaining)
}

#[test]
fn a_session_sold_by_one_server_is_served_by_another_and_never_beyond_what_was_bought() {
    let mut env = Env::on(Backend::Postgres);
    let config = env.config();
    let a = env.start(config.clone());
    let b = env.start(config);
    let ch = env.f.open_erc20(1_000);
    env.mine(&a, CONFIRMATIONS);
    env.sync(&b);

    // 150 requests (more than two claims of 64) sold by A, spent on both, alternately.
    let credential = sell(&env, &a, &ch, 0, 150);
    let mut served = 0;
    let mut refused = [false, false];
    while refused != [true, true] {
        for (i, server) in [&a, &b].into_iter().enumerate() {
            if refused[i] {
                continue;
            }
            match spend(&env, server, &credential) {
                Ok(_) => served += 1,
                Err(PaymentError::Session(SessionError::Exhausted { requests: 150 })) => refused[i] = true,
                Err(other) => panic!("server {i}: {other}"),
            }
        }
    }
    assert_eq!(served, 149, "150 bought, one of them by the buying request");

    // Every use reaches the store (each server writes its uses every 200 ms): nothing to refund.
    let unused = || env.rt.block_on(a.unused_prepaid(ch.sender, ch.open_block)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while unused() != u192(0) {
        assert!(std::time::Instant::now() < deadline, "the uses written: {} unused", unused());
        std::thread::sleep(Duration::from_millis(50));
    }

    // A server that stops gives back its claim: B serves one request of a new session of 100
    // (claiming 64), stops, and A serves all the rest.
    let credential = sell(&env, &a, &ch, 150, 100);
    assert!(spend(&env, &b, &credential).is_ok());
    env.rt.block_on(b.shutdown());
    let mut on_a = 0;
    while spend(&env, &a, &credential).is_ok() {
        on_a += 1;
    }
    assert_eq!(on_a, 98, "100 bought: the buying request, one on B, the rest on A");
    assert_eq!(
        env.rt.block_on(a.unused_prepaid(ch.sender, ch.open_block)).unwrap(),
        u192(0),
        "B wrote its use at shutdown"
    );
}
