//! The load generator the paywall benches share: keep-alive clients with pre-signed proofs,
//! closed-loop (as fast as answered) or open-loop (paced), and the paywalled server they load:
//! the paywall layer in front of an echo handler, a channel manager on a durable store, anvil.

#![allow(dead_code, unreachable_pub)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{Bytes, aliases::U192};
use axum::{Router, routing::get};
use uraiden::{
    chain::RpcChain,
    channel::ChannelId,
    paywall::PaywallLayer,
    protocol::rdn,
    protocol::session,
    receiver::{ChannelManager, ManagerConfig, SessionTerms},
};

use super::common::Fixture;

/// The price of a paid request.
pub const PRICE: u64 = 1;
/// Channels (one client each) of the concurrent runs.
pub const CHANNELS: usize = 100;

/// The most requests one payment buys on `{base}/session`.
pub const SESSION_REQUESTS: u32 = 1_000_000;

/// The server under load: `{base}/paid` behind the paywall, `{base}/session` behind one that
/// sells prepaid sessions, and `{base}/free` beside them.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The manager behind the paywall.
    pub manager: ChannelManager,
}

impl Server {
    /// Starts the manager on `store` (its chain at `f`'s anvil, one confirmation, a poll every
    /// 200 ms), waits until it has seen block `head`, and serves both routes on a free loopback
    /// port, in the current runtime.
    pub async fn start(f: &Fixture<RpcChain>, store: String, head: u64) -> Self {
        let url = f.chain.anvil_endpoint().unwrap();
        let mut config = ManagerConfig::new(url, f.c.channels, f.receiver.clone(), store);
        config.confirmations = 1;
        config.poll_interval = Duration::from_millis(200);
        let manager = ChannelManager::start(config).await.unwrap();
        manager.wait_for_block(head).await;
        let paid = Router::new()
            .route("/paid", get(|| async { "paid content" }))
            .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)));
        let terms =
            SessionTerms { scope: "/session".into(), max_requests: SESSION_REQUESTS, ttl: Duration::from_secs(3600) };
        let sessions = Router::new()
            .route("/session", get(|| async { "paid content" }))
            .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)).with_sessions(terms));
        let app = paid.merge(sessions).route("/free", get(|| async { "paid content" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base: format!("http://{addr}"), manager }
    }
}

/// The headers of a client's i-th request.
pub type Headers = Arc<dyn Fn(usize) -> reqwest::header::HeaderMap + Send + Sync>;

pub struct Load {
    /// Requests answered.
    pub requests: usize,
    /// Wall time of the run.
    pub seconds: f64,
    /// Each request's latency.
    pub latencies: Vec<Duration>,
}

impl Load {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The latency at quantile `p`.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// One client: `requests` sequential GETs on one keep-alive connection; `headers(i)` gives the
/// i-th request's headers.
async fn client(url: String, requests: usize, headers: Headers) -> Vec<Duration> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..requests {
        let start = Instant::now();
        let response = http.get(&url).headers(headers(i)).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
        latencies.push(start.elapsed());
    }
    latencies
}

/// One client of an open-loop run: its k-th request is due at `start + (k * clients + index) /
/// rate`, whether or not the earlier ones were quick (a late answer delays the next request on
/// the same channel, and that delay counts: latency is measured from when a request was due).
async fn paced_client(
    url: String,
    requests: usize,
    headers: Headers,
    (index, clients, rate): (usize, usize, f64),
    start: tokio::time::Instant,
) -> Vec<Duration> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let mut latencies = Vec::with_capacity(requests);
    for k in 0..requests {
        let due = start + Duration::from_secs_f64((k * clients + index) as f64 / rate);
        tokio::time::sleep_until(due).await;
        let response = http.get(&url).headers(headers(k)).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
        latencies.push(due.elapsed());
    }
    latencies
}

/// `clients` at `rate` requests per second in all.
pub async fn run_paced(clients: Vec<(String, usize, Headers)>, rate: f64) -> Load {
    let count = clients.len();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (url, n, h))| tokio::spawn(paced_client(url, n, h, (i, count, rate), start)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Load { requests: latencies.len(), seconds: start.elapsed().as_secs_f64(), latencies }
}

/// One client of a prepaid session: its first request buys `requests` with `buy` (the payment
/// headers), the others carry the credential; one keep-alive connection.
async fn session_client(url: String, requests: usize, buy: reqwest::header::HeaderMap) -> Vec<Duration> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let mut latencies = Vec::with_capacity(requests);
    let start = Instant::now();
    let bought = http.get(&url).headers(buy).send().await.unwrap();
    assert!(bought.status().is_success(), "{}", bought.status());
    let credential = bought.headers().get(session::SESSION).expect("a credential").clone();
    bought.bytes().await.unwrap();
    latencies.push(start.elapsed());
    for _ in 1..requests {
        let start = Instant::now();
        let response = http.get(&url).header(session::SESSION, credential.clone()).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
        latencies.push(start.elapsed());
    }
    latencies
}

/// `clients` each buying a prepaid session with its first request (the payment headers given)
/// and spending it with the others, as fast as answered.
pub async fn run_sessions(clients: Vec<(String, usize, reqwest::header::HeaderMap)>) -> Load {
    let start = Instant::now();
    let tasks: Vec<_> = clients.into_iter().map(|(url, n, h)| tokio::spawn(session_client(url, n, h))).collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Load { requests: latencies.len(), seconds: start.elapsed().as_secs_f64(), latencies }
}

/// The headers buying a session of `requests` on a channel whose registered balance is `paid`.
pub fn session_purchase(
    f: &Fixture<RpcChain>,
    ch: ChannelId,
    paid: u64,
    requests: usize,
) -> reqwest::header::HeaderMap {
    let balance = paid + requests as u64 * PRICE;
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(rdn::CONTRACT_ADDRESS, f.c.channels.to_string().parse().unwrap());
    h.insert(rdn::SENDER_ADDRESS, ch.sender.to_string().parse().unwrap());
    h.insert(rdn::OPEN_BLOCK, ch.open_block.to_string().parse().unwrap());
    h.insert(rdn::BALANCE, balance.to_string().parse().unwrap());
    h.insert(rdn::BALANCE_SIGNATURE, f.pay(&ch, balance).to_string().parse().unwrap());
    h.insert(session::REQUESTS, requests.to_string().parse().unwrap());
    h
}

/// `clients` each sending its requests one after the other, as fast as answered.
pub async fn run(clients: Vec<(String, usize, Headers)>) -> Load {
    let start = Instant::now();
    let tasks: Vec<_> = clients.into_iter().map(|(url, n, h)| tokio::spawn(client(url, n, h))).collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Load { requests: latencies.len(), seconds: start.elapsed().as_secs_f64(), latencies }
}

/// RDN payment headers for a channel's requests, each paying `PRICE` more (signed beforehand).
pub fn headers_for(f: &Fixture<RpcChain>, ch: ChannelId, requests: usize) -> Headers {
    let signatures: Vec<Bytes> = (1..=requests).map(|i| f.pay(&ch, i as u64 * PRICE)).collect();
    let contract = f.c.channels.to_string();
    Arc::new(move |i| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(rdn::CONTRACT_ADDRESS, contract.parse().unwrap());
        h.insert(rdn::SENDER_ADDRESS, ch.sender.to_string().parse().unwrap());
        h.insert(rdn::OPEN_BLOCK, ch.open_block.to_string().parse().unwrap());
        h.insert(rdn::BALANCE, ((i + 1) as u64 * PRICE).to_string().parse().unwrap());
        h.insert(rdn::BALANCE_SIGNATURE, signatures[i].to_string().parse().unwrap());
        h
    })
}
