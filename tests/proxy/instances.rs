//! Several `uraiden proxy` processes of one receiver on one PostgreSQL database, behind one
//! address (a round-robin TCP balancer in the test: each request on a new connection, so
//! consecutive payments of one channel land on different instances). Instances are killed
//! with SIGKILL under load, the database crashes (`pg_ctl stop -m immediate`) and comes back
//! under load, and an instance starts before its database: every acknowledged payment is in
//! the store once, each close request is answered by one dispute, and service resumes by
//! itself.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{network::TransactionBuilder, providers::Provider, rpc::types::TransactionRequest};
use axum::http::{HeaderMap, StatusCode};
use uraiden::{channel::ChannelId, contract::Call, protocol::rdn};

use super::{CONFIRMATIONS, Proxy, World, common, start};
use common::postgres::{self, PgServer};

/// How long the chain-work lease lasts: a dead leader is replaced within this plus a poll.
const LEASE_MS: u64 = 2_000;
const LOG: &[(&str, &str)] = &[("RUST_LOG", "warn,uraiden::receiver::disputes=info"), ("NO_COLOR", "1")];

/// Writes instance `name`'s configuration (one store for all) and returns its path.
fn config(w: &World, name: &str, store: &str) -> PathBuf {
    let text = format!(
        "[chain]\nrpc_url = \"{}\"\nconfirmations = {CONFIRMATIONS}\npoll_interval_ms = 50\ncontract = \"{}\"\n\n\
         [receiver]\nprivate_key_file = \"receiver.key\"\nstore = \"{store}\"\nchain_lease_ms = {LEASE_MS}\n\n\
         [server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/echo\"\nprice = 1\necho = true\n",
        w.url, w.f.c.channels,
    );
    let path = w.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `count` instances at once (they migrate the empty database together).
fn start_instances(w: &World, store: &str, count: usize) -> Vec<Proxy> {
    let paths: Vec<PathBuf> = (0..count).map(|i| config(w, &format!("instance{i}"), store)).collect();
    let threads: Vec<_> = paths.into_iter().map(|path| std::thread::spawn(move || start(&path, LOG))).collect();
    threads.into_iter().map(|t| t.join().expect("an instance starts")).collect()
}

/// A round-robin TCP balancer: each connection goes to the next instance that accepts one.
struct Balancer {
    base: String,
}

impl Balancer {
    fn new(w: &World, instances: &[&Proxy]) -> Self {
        let backends: Vec<SocketAddr> =
            instances.iter().map(|p| p.base.trim_start_matches("http://").parse().unwrap()).collect();
        let listener = w.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let next = Arc::new(AtomicUsize::new(0));
        w.rt.spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let (backends, next) = (backends.clone(), next.clone());
                tokio::spawn(async move {
                    for _ in 0..backends.len() {
                        let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
                        if let Ok(mut server) = tokio::net::TcpStream::connect(backend).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { base }
    }
}

/// What one client knows of its channel (it pays one request at a time).
#[derive(Debug, Default)]
struct Client {
    /// The channel's balance as the client knows it.
    last: u64,
    /// Balances acknowledged (200 with `RDN-Sender-Balance`).
    acked: Vec<u64>,
    /// Balances the servers registered without acknowledging them (the answer was lost: the
    /// instance died, or the database failed after the commit); found when the same proof
    /// was sent again.
    committed_unacked: Vec<u64>,
    /// 503 answers, with their reason.
    unavailable: Vec<String>,
    /// Anything unexpected.
    errors: Vec<String>,
}

/// One client's stream through the balancer: pays `last + 1`, one request at a time; a
/// request without an answer (connection lost) or refused as unavailable is sent again with
/// the same proof until the payment is acknowledged or found registered.
async fn stream(base: String, stop: Arc<AtomicBool>, proofs: Vec<HeaderMap>, client: Arc<Mutex<Client>>) {
    // A new connection for each request: the balancer spreads them over the instances.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(10)).build().unwrap();
    let mut retrying = false;
    while !stop.load(Ordering::SeqCst) {
        let balance = client.lock().unwrap().last + 1;
        if balance as usize >= proofs.len() {
            return;
        }
        let answer = http.get(format!("{base}/echo")).headers(proofs[balance as usize].clone()).send().await;
        let answer = match answer {
            Ok(r) => {
                let (status, headers) = (r.status(), r.headers().clone());
                Some((status, headers, r.text().await.unwrap_or_default()))
            }
            Err(_) => None,
        };
        match record(&client, balance, retrying, answer) {
            Some(again) => retrying = again,
            None => return,
        }
        if retrying {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Records an answer to payment `balance` (`None`: no answer); says whether to send the same
/// proof again (`None`: stop, something unexpected happened).
fn record(
    client: &Mutex<Client>,
    balance: u64,
    retrying: bool,
    answer: Option<(StatusCode, HeaderMap, String)>,
) -> Option<bool> {
    let mut guard = client.lock().unwrap();
    let c = &mut *guard;
    let sender_balance =
        |headers: &HeaderMap| headers.get(rdn::SENDER_BALANCE).map(|v| v.to_str().unwrap().to_string());
    match answer {
        Some((StatusCode::OK, headers, _)) => {
            let acked = sender_balance(&headers);
            if acked != Some(balance.to_string()) {
                c.errors.push(format!("payment {balance} acknowledged as {acked:?}"));
            }
            c.last = balance;
            c.acked.push(balance);
            Some(false)
        }
        Some((StatusCode::SERVICE_UNAVAILABLE, _, body)) => {
            c.unavailable.push(body);
            Some(true)
        }
        // The same proof again, after an answer was lost: registered before.
        Some((StatusCode::PAYMENT_REQUIRED, headers, _))
            if retrying
                && headers.contains_key(rdn::INVALID_AMOUNT)
                && sender_balance(&headers) == Some(balance.to_string()) =>
        {
            c.last = balance;
            c.committed_unacked.push(balance);
            Some(false)
        }
        Some((status, headers, body)) => {
            c.errors.push(format!("payment {balance}: {status} {headers:?} {body}"));
            None
        }
        None => Some(true),
    }
}

/// Streams of payments on `channels` through `base`, one client each.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<Arc<Mutex<Client>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(w: &World, base: &str, channels: &[ChannelId], deposit: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<Arc<Mutex<Client>>> = channels.iter().map(|_| Arc::default()).collect();
        let tasks = channels
            .iter()
            .zip(&clients)
            .map(|(ch, client)| {
                let proofs = (0..=deposit).map(|b| w.pay(ch, b)).collect();
                w.rt.spawn(stream(base.to_string(), stop.clone(), proofs, client.clone()))
            })
            .collect();
        Self { stop, clients, tasks }
    }

    fn acked(&self) -> usize {
        self.clients.iter().map(|c| c.lock().unwrap().acked.len()).sum()
    }

    /// Waits until `more` payments were acknowledged (at most 60 s).
    fn wait_for(&self, more: usize, what: &str) {
        let target = self.acked() + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acked() < target {
            assert!(Instant::now() < deadline, "{what}: the payments stalled: {:?}", self.clients);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(self, w: &World) -> Vec<Arc<Mutex<Client>>> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            w.rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await })
                .expect("the clients stop")
                .unwrap();
        }
        self.clients
    }
}

/// Every balance from 1 to the registered one was paid once: acknowledged, or registered by a
/// server whose answer was lost. None twice, none lost.
fn check_every_payment_once(w: &World, proxy: &Proxy, channels: &[ChannelId], clients: &[Arc<Mutex<Client>>]) {
    for (ch, client) in channels.iter().zip(clients) {
        let c = client.lock().unwrap();
        assert!(c.errors.is_empty(), "{ch}: {:?}", c.errors);
        let view = super::reliability::api_channel(w, proxy, ch);
        let registered = super::reliability::balance_of(&view);
        let mut paid: Vec<u64> = c.acked.iter().chain(&c.committed_unacked).copied().collect();
        paid.sort_unstable();
        assert_eq!(paid, (1..=registered).collect::<Vec<_>>(), "{ch}: every payment up to {registered} once");
    }
}

/// `GET /ready` of one instance, as JSON.
fn ready(w: &World, proxy: &Proxy) -> serde_json::Value {
    serde_json::from_str(&w.get(proxy, "/ready", HeaderMap::new()).body).unwrap()
}

/// The instances that say they lead the chain work, once exactly one does (at most 30 s).
fn leader(w: &World, instances: &[&Proxy]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leading: Vec<usize> =
            (0..instances.len()).filter(|&i| ready(w, instances[i])["status"]["chain_work"] == true).collect();
        if let [one] = leading[..] {
            return one;
        }
        assert!(Instant::now() < deadline, "never exactly one leader: {leading:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sender asks to close `ch` at `balance` (below what it paid).
fn request_close(w: &World, ch: &ChannelId, balance: u64) {
    let digest = w.f.c.domain.balance_digest(ch.receiver, ch.open_block, common::u192(balance));
    let call = Call::Close {
        receiver: ch.receiver,
        open_block: ch.open_block,
        balance: common::u192(balance),
        balance_sig: w.f.sender.sign_digest(digest),
    };
    let (to, data) = call.encode(w.f.c.token, w.f.c.channels);
    let node = common::provider(&w.url, Some(&w.f.sender));
    let request = TransactionRequest::default().with_from(w.f.sender.address()).with_to(to).with_input(data);
    w.rt.block_on(async { node.send_transaction(request).await.unwrap().get_receipt().await.unwrap() });
}

/// Transactions the receiver's account has sent.
fn receiver_nonce(w: &World) -> u64 {
    let node = common::provider(&w.url, None);
    w.rt.block_on(async { node.get_transaction_count(w.f.receiver.address()).await }).unwrap()
}

/// Waits (at most 30 s) until `ch` is settled on chain (the dispute was mined).
fn wait_settled(w: &mut World, ch: &ChannelId) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.f.info(ch).is_ok() {
        assert!(Instant::now() < deadline, "{ch} was never disputed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pays `ch` up to `balance` through `proxy` (price 1), waiting while the channel is
/// unconfirmed there.
fn pay_up_to(w: &World, proxy: &Proxy, ch: &ChannelId, balance: u64) {
    for b in 1..=balance {
        let answer = w.paid(proxy, reqwest::Method::GET, "/echo", ch, b);
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
}

#[test]
fn killed_instances_lose_no_payment_and_each_close_request_is_disputed_once() {
    const DEPOSIT: u64 = 2_000;
    const CLIENTS: usize = 4;
    let mut w = World::new();
    let database = postgres::database();
    let (deployer, sender) = (w.f.deployer.address(), w.f.sender.address());
    w.f.c.transfer(&mut w.f.chain, deployer, sender, common::u256(DEPOSIT * CLIENTS as u64 + 1_000)).unwrap();
    let channels: Vec<ChannelId> = (0..CLIENTS).map(|_| w.channel(DEPOSIT)).collect();
    let (disputed_live, disputed_after) = (w.channel(100), w.channel(100));

    // Three instances of a new version start together on the empty database: each migration
    // runs once.
    let mut instances = start_instances(&w, &database.url, 3);
    let migrations =
        postgres::query(&database.url, "SELECT version::text FROM _sqlx_migrations WHERE success ORDER BY version");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(migrations.len(), files, "each migration once: {migrations:?}");

    let all: Vec<&Proxy> = instances.iter().collect();
    let balancer = Balancer::new(&w, &all);
    for ch in channels.iter().chain([&disputed_live, &disputed_after]) {
        for proxy in &instances {
            super::reliability::wait_confirmed(&w, proxy, ch, if channels.contains(ch) { DEPOSIT } else { 100 });
        }
    }
    pay_up_to(&w, &instances[0], &disputed_live, 50);
    pay_up_to(&w, &instances[1], &disputed_after, 40);

    // All three alive: one close request, one dispute (one transaction of the receiver's),
    // with the best proof (registered by another instance than the leader, maybe).
    let lead = leader(&w, &all);
    let nonce = receiver_nonce(&w);
    let before = w.f.balance(w.f.receiver.address());
    request_close(&w, &disputed_live, 10);
    wait_settled(&mut w, &disputed_live);
    assert_eq!(w.f.balance(w.f.receiver.address()) - before, 50, "the dispute closed with the last proof");
    // A few more polls of every instance: none sends a second close.
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(receiver_nonce(&w), nonce + 1, "one transaction of the receiver's for one close request");

    // Payments through the balancer while a follower, then the leader, die (SIGKILL).
    let load = Load::start(&w, &balancer.base, &channels, DEPOSIT);
    load.wait_for(40, "three instances");
    let follower = (lead + 1) % 3;
    instances[follower].child.kill().unwrap();
    instances[follower].child.wait().unwrap();
    load.wait_for(40, "after a follower was killed");
    instances[lead].child.kill().unwrap();
    instances[lead].child.wait().unwrap();
    let killed = Instant::now();
    load.wait_for(40, "after the leader was killed");
    let survivor = 3 - lead - follower;
    let survivor_proxy = &instances[survivor];
    let deadline = killed + Duration::from_secs(30);
    while ready(&w, survivor_proxy)["status"]["chain_work"] != true {
        assert!(Instant::now() < deadline, "the survivor never took the chain work over");
        std::thread::sleep(Duration::from_millis(20));
    }
    let takeover = killed.elapsed();
    eprintln!("the survivor leads the chain work {takeover:?} after the leader was killed (lease {LEASE_MS} ms)");
    assert!(takeover < Duration::from_millis(LEASE_MS) + Duration::from_secs(2), "takeover took {takeover:?}");

    // The survivor answers the next close request, once.
    let nonce = receiver_nonce(&w);
    let before = w.f.balance(w.f.receiver.address());
    request_close(&w, &disputed_after, 5);
    wait_settled(&mut w, &disputed_after);
    assert_eq!(w.f.balance(w.f.receiver.address()) - before, 40);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver_nonce(&w), nonce + 1);

    let clients = load.stop(&w);
    check_every_payment_once(&w, survivor_proxy, &channels, &clients);
    let total: usize = clients.iter().map(|c| c.lock().unwrap().acked.len()).sum();
    let lost: usize = clients.iter().map(|c| c.lock().unwrap().committed_unacked.len()).sum();
    eprintln!("{total} payments acknowledged, {lost} registered by a killed instance before it answered");
    // The killed instances come back and agree with the survivor.
    for i in [lead, follower] {
        instances[i] = start(&w.dir.path().join(format!("instance{i}.toml")), LOG);
    }
    for proxy in &instances {
        check_every_payment_once(&w, proxy, &channels, &clients);
    }
}

#[test]
fn a_database_crash_under_load_refuses_payments_as_unavailable_and_service_resumes() {
    const DEPOSIT: u64 = 2_000;
    const CLIENTS: usize = 3;
    let mut w = World::new();
    let server = Arc::new(PgServer::start());
    let store = server.create_database();
    let (deployer, sender) = (w.f.deployer.address(), w.f.sender.address());
    w.f.c.transfer(&mut w.f.chain, deployer, sender, common::u256(DEPOSIT * CLIENTS as u64)).unwrap();
    let channels: Vec<ChannelId> = (0..CLIENTS).map(|_| w.channel(DEPOSIT)).collect();
    let instances = start_instances(&w, &store, 2);
    let balancer = Balancer::new(&w, &instances.iter().collect::<Vec<_>>());
    for ch in &channels {
        for proxy in &instances {
            super::reliability::wait_confirmed(&w, proxy, ch, DEPOSIT);
        }
    }
    let load = Load::start(&w, &balancer.base, &channels, DEPOSIT);
    load.wait_for(30, "before the crash");
    let before = ready(&w, &instances[0]);
    assert_eq!((&before["ready"], &before["store"]), (&serde_json::json!(true), &serde_json::json!("ok")), "{before}");
    server.crash();
    // While the database is down: refusals, each a 503 naming the store; nothing acknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    let unavailable = || load.clients.iter().map(|c| c.lock().unwrap().unavailable.len()).sum::<usize>();
    while unavailable() < 6 {
        if Instant::now() > deadline {
            let logs: Vec<String> = instances.iter().map(|p| p.log()).collect();
            panic!("no payment was refused while the database was down: {:?}\n{logs:#?}", load.clients);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let acked_during = load.acked();
    // The health check says so (from the next poll): a balancer routes away from an instance
    // without its store.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let down = w.get(&instances[0], "/ready", HeaderMap::new());
        let said: serde_json::Value = serde_json::from_str(&down.body).unwrap();
        if down.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(said["ready"], false, "{said}");
            assert!(said["store"].as_str().is_some_and(|s| s.starts_with("store: ")), "{said}");
            break;
        }
        assert!(Instant::now() < deadline, "/ready never said the store was down: {said}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(load.acked(), acked_during, "a payment was acknowledged while the database was down");
    server.restart();
    let restarted = Instant::now();
    load.wait_for(30, "after the database came back");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&w, &instances[0])["store"] != "ok" {
        assert!(Instant::now() < deadline, "/ready never said the store was back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ready(&w, &instances[0])["ready"], true);
    eprintln!("payments resumed {:?} after the database restarted", restarted.elapsed());
    let clients = load.stop(&w);
    for client in &clients {
        let c = client.lock().unwrap();
        for body in &c.unavailable {
            let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body: {body}"));
            assert_eq!(json["error"], "unavailable", "{body}");
            assert!(json["reason"].as_str().unwrap().contains("store"), "the reason names the store: {body}");
        }
    }
    for proxy in &instances {
        check_every_payment_once(&w, proxy, &channels, &clients);
    }
}

#[test]
fn an_instance_started_before_its_database_says_so_and_waits_for_it() {
    let mut w = World::new();
    let server = PgServer::start();
    let store = server.create_database();
    let ch = w.channel(10);
    server.crash();
    let path = config(&w, "early", &store);
    let early = std::thread::spawn(move || start(&path, LOG));
    // It keeps trying (had it exited, `start` would have panicked).
    std::thread::sleep(Duration::from_secs(3));
    assert!(!early.is_finished(), "the instance gave up, or started without its database");
    server.restart();
    let proxy = early.join().expect("the instance starts once the database is up");
    let said = proxy.log();
    assert!(said.contains("the store is unreachable; trying again"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    pay_up_to(&w, &proxy, &ch, 1);
}
