//! The real `uraiden proxy` killed with SIGKILL in the middle of a stream of payments and
//! restarted on the same SQLite store: no acknowledged payment lost, none counted twice, and the
//! chain followed on from where the store stopped. And the low-ether warning as a server shows it.

use std::{
    collections::HashSet,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use uraiden::{
    chain::Chain,
    channel::ChannelId,
    protocol::{rdn, session},
};

use super::{CONFIRMATIONS, Proxy, World, common, start};

/// The price of one request.
const ROUTE: &str = "[server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/echo\"\nprice = 1\necho = true\n";
/// The follower says where it starts following the chain at `info`.
const LOG: &[(&str, &str)] = &[("RUST_LOG", "warn,uraiden::receiver::follower=info"), ("NO_COLOR", "1")];

/// What one client knows of its channel. It pays one request at a time, so at most one
/// payment is in flight.
#[derive(Debug, Default)]
struct Client {
    /// The channel's balance as the client knows it: its last acknowledged payment, or what
    /// the server was found to hold after a crash.
    last: u64,
    /// Balances the server acknowledged (200 with `RDN-Sender-Balance`).
    acked: Vec<u64>,
    /// The balance of a request sent without an answer (the server died), until the test
    /// looked at what the server holds.
    in_flight: Option<u64>,
    /// Balances the server committed without acknowledging them (it died before answering).
    committed_unacked: Vec<u64>,
    /// Anything unexpected.
    errors: Vec<String>,
}

/// A tiny deterministic generator for the kill delays (the seed is printed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The channel as the management API shows it.
pub(super) fn api_channel(w: &World, proxy: &Proxy, ch: &ChannelId) -> serde_json::Value {
    let answer = w.get(proxy, &format!("/api/1/channels/{}/{}", ch.sender, ch.open_block), HeaderMap::new());
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    serde_json::from_str(&answer.body).unwrap()
}

pub(super) fn balance_of(view: &serde_json::Value) -> u64 {
    view["balance"].as_str().expect("a decimal balance").parse().unwrap()
}

/// Waits (up to 30 s) until the API shows `ch` confirmed with `deposit`.
pub(super) fn wait_confirmed(w: &World, proxy: &Proxy, ch: &ChannelId, deposit: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = w.get(proxy, &format!("/api/1/channels/{}/{}", ch.sender, ch.open_block), HeaderMap::new());
        if answer.status == StatusCode::OK {
            let view: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
            if view["confirmed"] == true && view["deposit"].as_str() == Some(deposit.to_string().as_str()) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the proxy never showed {ch} confirmed with {deposit}: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One client's stream: pays `proofs[b]` for balance `b` = its last balance + 1, one request at
/// a time, until told to stop or out of proofs. While the test restarts the server it holds
/// the gate, and the clients wait.
async fn stream(
    http: reqwest::Client,
    base: Arc<Mutex<String>>,
    gate: Arc<tokio::sync::RwLock<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    proofs: Vec<HeaderMap>,
    client: Arc<Mutex<Client>>,
) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::SeqCst) {
        let guard = gate.read().await;
        let next = {
            let mut c = client.lock().unwrap();
            if c.in_flight.is_some() {
                None
            } else {
                let balance = c.last + 1;
                if balance as usize >= proofs.len() {
                    return;
                }
                c.in_flight = Some(balance);
                Some(balance)
            }
        };
        let Some(balance) = next else {
            // The server died under the last request: wait for the test to restart it and to
            // say what became of that payment.
            drop(guard);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let url = format!("{}/echo", base.lock().unwrap());
        let answer = http.get(url).headers(proofs[balance as usize].clone()).send().await;
        let refused = {
            let mut c = client.lock().unwrap();
            match answer {
                Ok(r) if r.status() == StatusCode::OK => {
                    let header = |name| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());
                    let (acked, cost) = (header(rdn::SENDER_BALANCE), header(rdn::COST));
                    if acked != Some(balance.to_string()) || cost.as_deref() != Some("1") {
                        c.errors.push(format!("payment {balance} acknowledged as {acked:?} costing {cost:?}"));
                    }
                    c.last = balance;
                    c.acked.push(balance);
                    c.in_flight = None;
                    false
                }
                Ok(r) => {
                    c.errors.push(format!("payment {balance}: {} {:?}", r.status(), r.headers()));
                    c.in_flight = None;
                    true
                }
                // The server is gone: `in_flight` stays until the test resolves it.
                Err(_) => false,
            }
        };
        drop(guard);
        if refused {
            return;
        }
    }
}

/// After a restart, with the clients held: each channel's registered balance is the client's
/// last acknowledged one, or the one in flight when the server died (committed but not
/// acknowledged); never less. A replay of the last acknowledged proof is refused.
fn check_after_restart(w: &World, proxy: &Proxy, channels: &[ChannelId], clients: &[Arc<Mutex<Client>>]) {
    for (ch, client) in channels.iter().zip(clients) {
        let registered = balance_of(&api_channel(w, proxy, ch));
        let mut c = client.lock().unwrap();
        let highest_acked = c.acked.last().copied().unwrap_or(0);
        assert!(
            registered >= highest_acked,
            "{ch}: payment {highest_acked} was acknowledged, the store has {registered}"
        );
        match c.in_flight.take() {
            Some(sent) => {
                assert_eq!(sent, c.last + 1, "one payment in flight at a time");
                assert!(
                    registered == c.last || registered == sent,
                    "{ch}: the store has {registered}, the client had {} and sent {sent}",
                    c.last
                );
                if registered == sent {
                    c.committed_unacked.push(sent);
                }
            }
            None => assert_eq!(registered, c.last, "{ch}: the store has {registered}, the client {}", c.last),
        }
        c.last = registered;
        if highest_acked > 0 {
            let replay = w.get(proxy, "/echo", w.pay(ch, highest_acked));
            assert_eq!(replay.status, StatusCode::PAYMENT_REQUIRED, "{ch}: replay of {highest_acked}: {replay:?}");
            assert!(replay.headers.contains_key(rdn::INVALID_AMOUNT), "{replay:?}");
            assert_eq!(replay.header(rdn::SENDER_BALANCE), Some(registered.to_string().as_str()));
        }
    }
}

/// The block the restarted follower says it resumed from.
fn resumed_from(proxy: &Proxy) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = strip_ansi(&proxy.log());
        if let Some(line) = log.lines().find(|l| l.contains("following the chain from where the store stopped")) {
            let number = line.rsplit("block=").next()?;
            return number.trim().parse().ok();
        }
        if Instant::now() > deadline {
            panic!("the follower never said where it resumed:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `text` without terminal colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn kill_9_during_a_stream_of_payments_loses_no_acknowledged_payment_and_counts_none_twice() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const CLIENTS: usize = 4;
    const DEPOSIT: u64 = 2_500;
    const KILLS: usize = 5;
    let test_start = Instant::now();
    let mut w = World::new();
    let (deployer, sender) = (w.f.deployer.address(), w.f.sender.address());
    w.f.c.transfer(&mut w.f.chain, deployer, sender, common::u256(DEPOSIT * CLIENTS as u64 + 1_000)).unwrap();
    let channels: Vec<ChannelId> = (0..CLIENTS).map(|_| w.channel(DEPOSIT)).collect();
    let mut proxy = w.proxy("k", ROUTE);
    let config = w.dir.path().join("k.toml");
    for ch in &channels {
        wait_confirmed(&w, &proxy, ch, DEPOSIT);
    }
    // Pre-signed proofs: proofs[b] pays balance b.
    let proofs: Vec<Vec<HeaderMap>> = channels.iter().map(|ch| (0..=DEPOSIT).map(|b| w.pay(ch, b)).collect()).collect();

    let base = Arc::new(Mutex::new(proxy.base.clone()));
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<Arc<Mutex<Client>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let tasks: Vec<_> = proofs
        .into_iter()
        .zip(&clients)
        .map(|(proofs, client)| {
            let task = stream(http.clone(), base.clone(), gate.clone(), stop.clone(), proofs, client.clone());
            w.rt.spawn(task)
        })
        .collect();

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill delays seeded with {seed}");
    let mut rng = Rng(seed);
    let acked = |clients: &[Arc<Mutex<Client>>]| clients.iter().map(|c| c.lock().unwrap().acked.len()).sum::<usize>();
    for round in 0..KILLS {
        let before = acked(&clients);
        // Let the stream run for a while (at least a few payments), then kill at a random moment.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked(&clients) < before + 20 {
            assert!(Instant::now() < deadline, "round {round}: the stream stalled: {clients:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.below(600)));
        proxy.child.kill().unwrap(); // SIGKILL
        proxy.child.wait().unwrap();
        let in_flight = clients.iter().filter(|c| c.lock().unwrap().in_flight.is_some()).count();
        // Every request to the dead server has ended once the gate is ours.
        let held = w.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), gate.clone().write_owned())
                .await
                .expect("the clients' requests end when the server dies")
        });
        eprintln!("round {round}: killed after {} payments, {in_flight} in flight", acked(&clients));
        proxy = start(&config, LOG);
        *base.lock().unwrap() = proxy.base.clone();
        check_after_restart(&w, &proxy, &channels, &clients);
        drop(held);
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        w.rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), task).await })
            .expect("the clients stop")
            .unwrap();
    }

    // Each balance from 1 to the registered one was paid once: acknowledged, or committed by a
    // server that died before answering. None twice, none lost.
    let mut registered = Vec::new();
    for (ch, client) in channels.iter().zip(&clients) {
        let c = client.lock().unwrap();
        assert!(c.errors.is_empty(), "{ch}: {:?}", c.errors);
        let balance = balance_of(&api_channel(&w, &proxy, ch));
        let mut paid: Vec<u64> = c.acked.iter().chain(&c.committed_unacked).copied().collect();
        paid.sort_unstable();
        let distinct: HashSet<u64> = paid.iter().copied().collect();
        assert_eq!(distinct.len(), paid.len(), "{ch}: a balance was counted twice");
        assert_eq!(paid, (1..=balance).collect::<Vec<_>>(), "{ch}: every payment up to {balance} once");
        registered.push(balance);
    }
    let unacked: usize = clients.iter().map(|c| c.lock().unwrap().committed_unacked.len()).sum();
    eprintln!("payments registered per channel: {registered:?}, {unacked} committed but not acknowledged");

    // Down once more: a top-up and a new channel while the proxy is dead, then a restart.
    let ready: serde_json::Value = serde_json::from_str(&w.get(&proxy, "/ready", HeaderMap::new()).body).unwrap();
    let synced = ready["status"]["synced_block"].as_u64().expect("a synced block");
    proxy.child.kill().unwrap();
    proxy.child.wait().unwrap();
    let head_at_kill = w.f.chain.block_number().unwrap();
    w.f.c.top_up_erc223(&mut w.f.chain, &channels[0], common::u256(20)).unwrap();
    let new = w.f.open_erc20(30);
    w.f.chain.mine(CONFIRMATIONS).unwrap();
    let proxy = start(&config, LOG);
    let from = resumed_from(&proxy).expect("a block number in the log");
    assert!(
        from > synced && from <= head_at_kill + 1,
        "resumed from block {from}: the store had followed to at least {synced}, the chain was at {head_at_kill}"
    );
    wait_confirmed(&w, &proxy, &new, 30);
    wait_confirmed(&w, &proxy, &channels[0], DEPOSIT + 20);
    let top_up = channels[0];
    let spend = w.paid(&proxy, Method::GET, "/echo", &new, 1);
    assert_eq!((spend.status, spend.header(rdn::SENDER_BALANCE)), (StatusCode::OK, Some("1")), "{spend:?}");
    let paid = w.paid(&proxy, Method::GET, "/echo", &top_up, registered[0] + 1);
    assert_eq!(paid.status, StatusCode::OK, "{paid:?}");

    // The store itself, read by `uraiden receiver channels` once the server is gone.
    drop(proxy);
    let listed = receiver_channels(&w, &w.dir.path().join("k.sqlite"));
    for (i, ch) in channels.iter().enumerate() {
        let row = listed
            .iter()
            .find(|r| r["open_block"].as_u64() == Some(u64::from(ch.open_block)))
            .unwrap_or_else(|| panic!("{ch} listed: {listed:?}"));
        let expected = registered[i] + u64::from(i == 0);
        assert_eq!(row["balance"].as_str(), Some(expected.to_string().as_str()), "{ch}");
    }
    eprintln!("crash test took {:?}", test_start.elapsed());
}

/// `uraiden receiver channels --json` on `store`.
fn receiver_channels(w: &World, store: &Path) -> Vec<serde_json::Value> {
    let out = super::binary()
        .args(["receiver", "channels", "--json", "--store"])
        .arg(format!("sqlite://{}", store.display()))
        .args(["--contract", &w.f.c.channels.to_string(), "--confirmations", &CONFIRMATIONS.to_string()])
        .args(["--rpc-url", &w.url])
        .env("PRIVATE_KEY", alloy_primitives::keccak256("uraiden test key 2").to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_receiver_short_of_ether_is_reported_by_the_server_until_it_is_funded() {
    let mut w = World::new();
    let proxy = w.proxy("e", ROUTE);
    let receiver = w.f.receiver.address();
    let stats = |w: &World| -> serde_json::Value {
        serde_json::from_str(&w.get(&proxy, "/api/1/stats", HeaderMap::new()).body).unwrap()
    };
    let wait = |w: &World, what: &str, done: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = stats(w);
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(&w, "the proxy syncs", &|s| s["synced_block"].is_u64());
    assert!(stats(&w)["low_funds"].is_null(), "a funded receiver is not reported");

    w.f.chain.set_balance(receiver, alloy_primitives::U256::from(1_000u64)).unwrap();
    let s = wait(&w, "the low ether is reported", &|s| !s["low_funds"].is_null());
    assert_eq!(s["low_funds"]["balance"].as_str(), Some("1000"));
    let needed: u128 = s["low_funds"]["needed"].as_str().unwrap().parse().unwrap();
    assert!(needed > 1_000, "{s}");
    let ready: serde_json::Value = serde_json::from_str(&w.get(&proxy, "/ready", HeaderMap::new()).body).unwrap();
    assert!(!ready["status"]["low_funds"].is_null(), "/ready shows it too: {ready}");
    assert!(proxy.log().contains("cannot pay for a close transaction"), "and the log: {}", proxy.log());

    w.f.chain.set_balance(receiver, alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(20))).unwrap();
    wait(&w, "funding clears the report", &|s| s["low_funds"].is_null());
}

/// A prepaid session across a kill -9 of the proxy (SQLite): the session was written with its
/// payment, so its credential is good at the restarted server. Requests served and written
/// before the kill (uses are written every 200 ms) are not served again; requests served in the
/// last 200 ms may be (the receiver's loss, bounded by what was served unwritten), never more.
#[test]
fn kill_9_keeps_a_prepaid_session_and_serves_at_most_what_it_has_left() {
    const ROUTE: &str = "[server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/s/*\"\nprice = 1\necho = true\nsession_requests = 10\n";
    let mut w = World::new();
    let ch = w.channel(100);
    let mut proxy = w.proxy("ks", ROUTE);
    let config = w.dir.path().join("ks.toml");
    wait_confirmed(&w, &proxy, &ch, 100);
    let with = |credential: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(session::SESSION, credential.parse().unwrap());
        headers
    };
    // Spends the session until it is refused; the count served.
    let drain = |w: &World, proxy: &Proxy, credential: &str| {
        let mut served = 0;
        loop {
            let answer = w.get(proxy, "/s/x", with(credential));
            if answer.status != StatusCode::OK {
                assert_eq!(answer.status, StatusCode::PAYMENT_REQUIRED, "{answer:?}");
                assert_eq!(answer.header(session::INVALID_SESSION), Some("session_exhausted"), "{answer:?}");
                return served;
            }
            served += 1;
            assert!(served <= 10, "more served than bought");
        }
    };

    for (round, paid, wait_for_the_write) in [(0, 10, true), (1, 20, false)] {
        let mut buy = w.pay(&ch, paid);
        buy.insert(session::REQUESTS, 10.into());
        let bought = w.get(&proxy, "/s/a", buy);
        assert_eq!(bought.status, StatusCode::OK, "{bought:?}");
        let credential = bought.header(session::SESSION).unwrap().to_string();
        for _ in 0..3 {
            assert_eq!(w.get(&proxy, "/s/b", with(&credential)).status, StatusCode::OK);
        }
        if wait_for_the_write {
            std::thread::sleep(Duration::from_millis(600));
        }
        proxy.child.kill().unwrap(); // SIGKILL
        proxy.child.wait().unwrap();
        proxy = start(&config, LOG);
        wait_confirmed(&w, &proxy, &ch, 100);
        assert_eq!(balance_of(&api_channel(&w, &proxy, &ch)), paid, "round {round}: the session's payment survived");
        let served = drain(&w, &proxy, &credential);
        match wait_for_the_write {
            // 10 bought: the buying request and 3 more were served and written.
            true => assert_eq!(served, 6, "round {round}"),
            // The 3 uses may not have been written: served again, at most.
            false => assert!((6..=9).contains(&served), "round {round}: {served}"),
        }
    }
}
