//! `uraiden proxy --config FILE`: the real binary, started by the test as a process, in front
//! of a real anvil, over real HTTP on loopback. Payments are hand-signed RDN headers.

#[path = "../common/mod.rs"]
mod common;
mod hostile;
mod instances;
mod reliability;
mod slow;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy_primitives::keccak256;
use axum::{
    Router,
    body::Body,
    http::{HeaderMap, StatusCode},
    routing::{any, get},
};
use reqwest::Method;
use uraiden::{chain::Chain, chain::RpcChain, channel::ChannelId, protocol::rdn};

use common::{Fixture, anvil_chain};

const CONFIRMATIONS: u64 = 2;
const ADMIN_TOKEN: &str = "proxy-admin-token-0123456789";

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uraiden"));
    command.env_remove("ETH_RPC_URL").env_remove("PRIVATE_KEY").env_remove("URAIDEN_ADMIN_TOKEN");
    command.env("RUST_LOG", "warn");
    command
}

/// A running proxy; killed when dropped.
struct Proxy {
    child: Child,
    base: String,
    /// Its error output (the log).
    stderr: tempfile::NamedTempFile,
}

impl Proxy {
    /// What it logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chain, the contracts, a runtime for HTTP, and a directory for the proxy's files.
struct World {
    f: Fixture<RpcChain>,
    url: String,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl World {
    fn new() -> Self {
        let f = Fixture::new(anvil_chain());
        let url = f.chain.anvil_endpoint().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The receiver's key, as `uraiden deploy`'s users keep it: hex in a file only its owner reads.
        secret(&dir.path().join("receiver.key"), &keccak256("uraiden test key 2").to_string());
        assert_eq!(
            uraiden::proof::Signer::from_hex(&std::fs::read_to_string(dir.path().join("receiver.key")).unwrap())
                .unwrap()
                .address(),
            f.receiver.address()
        );
        Self { f, url, rt, dir, http: reqwest::Client::new() }
    }

    /// Writes `config` (after a `[chain]` and `[receiver]` for this chain) and starts the proxy.
    fn proxy(&self, name: &str, rest: &str) -> Proxy {
        let config = format!(
            "[chain]\nrpc_url = \"{}\"\nconfirmations = {CONFIRMATIONS}\npoll_interval_ms = 50\ncontract = \"{}\"\n\n\
             [receiver]\nprivate_key_file = \"receiver.key\"\nstore = \"sqlite://{}\"\n\n{rest}",
            self.url,
            self.f.c.channels,
            self.dir.path().join(format!("{name}.sqlite")).display()
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        start(&path, &[])
    }

    /// A channel with `deposit`, confirmed.
    fn channel(&mut self, deposit: u64) -> ChannelId {
        let ch = self.f.open_erc20(deposit);
        self.f.chain.mine(CONFIRMATIONS).unwrap();
        ch
    }

    fn pay(&self, ch: &ChannelId, balance: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(rdn::CONTRACT_ADDRESS, self.f.c.channels.to_string().parse().unwrap());
        h.insert(rdn::SENDER_ADDRESS, ch.sender.to_string().parse().unwrap());
        h.insert(rdn::OPEN_BLOCK, ch.open_block.to_string().parse().unwrap());
        h.insert(rdn::BALANCE, balance.to_string().parse().unwrap());
        h.insert(rdn::BALANCE_SIGNATURE, self.f.pay(ch, balance).to_string().parse().unwrap());
        h
    }

    fn send(&self, proxy: &Proxy, method: Method, path: &str, headers: HeaderMap, body: &str) -> Answer {
        let request =
            self.http.request(method, format!("{}{path}", proxy.base)).headers(headers).body(body.to_string());
        self.rt.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            Answer { status, headers, body: response.text().await.unwrap() }
        })
    }

    fn get(&self, proxy: &Proxy, path: &str, headers: HeaderMap) -> Answer {
        self.send(proxy, Method::GET, path, headers, "")
    }

    /// Sends a paid request, retrying while the proxy has not yet seen the channel confirmed.
    fn paid(&self, proxy: &Proxy, method: Method, path: &str, ch: &ChannelId, balance: u64) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = self.send(proxy, method.clone(), path, self.pay(ch, balance), "");
            let waiting = answer.headers.contains_key(rdn::NONEXISTING_CHANNEL)
                || answer.headers.contains_key(rdn::INSUFFICIENT_CONFIRMATIONS);
            if !waiting || Instant::now() > deadline {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Writes a file only its owner may read (the proxy refuses secrets open to others).
fn secret(path: &Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Starts the proxy with `config` and waits for its "listening" line.
fn start(config: &Path, env: &[(&str, &str)]) -> Proxy {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut command = binary();
    command.args(["proxy", "--config"]).arg(config).envs(env.iter().copied());
    let mut child = command.stdout(Stdio::piped()).stderr(stderr.reopen().unwrap()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("uraiden proxy listening on ") {
                let _ = tx.send(base.to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(base) => Proxy { child, base, stderr },
        Err(_) => {
            let _ = child.kill();
            panic!("the proxy did not start: {}", std::fs::read_to_string(stderr.path()).unwrap());
        }
    }
}

#[test]
fn a_directory_an_echo_with_method_prices_and_a_free_route() {
    let mut w = World::new();
    let public = w.dir.path().join("public");
    std::fs::create_dir_all(public.join("docs")).unwrap();
    std::fs::write(public.join("docs/report.json"), "{\"paid\": true}\n").unwrap();
    std::fs::write(public.join("index.html"), "<h1>paid page</h1>\n").unwrap();
    secret(&w.dir.path().join("admin.token"), &format!("{ADMIN_TOKEN}\n"));
    let proxy = w.proxy(
        "a",
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = \"admin.token\"\nmax_body_bytes = 1000\nmax_header_bytes = 2048\n\n\
         [[route]]\npath = \"/files/*\"\nprice = 2\ndir = \"public\"\n\n\
         [[route]]\npath = \"/echo\"\nprice = { GET = 1, post = 2, Put = 3, DELETE = \"4\", default = 9 }\necho = true\n\n\
         [[route]]\npath = \"/free/*\"\nprice = 0\necho = true\n",
    );

    // Free: no payment asked, payment headers not looked at.
    let free = w.get(&proxy, "/free/x?y=1", HeaderMap::new());
    assert_eq!((free.status, free.body.as_str()), (StatusCode::OK, "GET /free/x?y=1\n"));
    let mut junk = HeaderMap::new();
    junk.insert(rdn::BALANCE, "not a number".parse().unwrap());
    assert_eq!(w.get(&proxy, "/free/", junk).status, StatusCode::OK);
    assert_eq!(w.get(&proxy, "/nowhere", HeaderMap::new()).status, StatusCode::NOT_FOUND);

    // The directory: 402 naming the price, then 200 with the file and its own content type.
    let unpaid = w.get(&proxy, "/files/docs/report.json", HeaderMap::new());
    assert_eq!(unpaid.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(unpaid.header(rdn::PRICE), Some("2"));
    assert_eq!(unpaid.header(rdn::RECEIVER_ADDRESS), Some(w.f.receiver.address().to_string().as_str()));
    assert_eq!(unpaid.header(rdn::CONTRACT_ADDRESS), Some(w.f.c.channels.to_string().as_str()));
    assert!(unpaid.header("payment-required").is_some());
    // A browser gets the paywall page, priced in whole tokens of the token's own symbol.
    let mut browser = HeaderMap::new();
    browser.insert("accept", "text/html,*/*;q=0.8".parse().unwrap());
    let page = w.get(&proxy, "/files/docs/report.json", browser);
    assert_eq!(page.status, StatusCode::PAYMENT_REQUIRED);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.body.contains(r#"<span data-uraiden="price">0.000000000000000002</span> URDN"#), "{}", page.body);
    assert!(page.body.contains(r#"<script type="module" src="/api/1/paywall.js"></script>"#));
    let script = w.get(&proxy, "/api/1/paywall.js", HeaderMap::new());
    assert_eq!(
        (script.status, script.header("content-type")),
        (StatusCode::OK, Some("text/javascript; charset=utf-8"))
    );
    let ch = w.channel(100);
    let file = w.paid(&proxy, Method::GET, "/files/docs/report.json", &ch, 2);
    assert_eq!(file.status, StatusCode::OK, "{file:?}");
    assert_eq!(file.body, "{\"paid\": true}\n");
    assert_eq!(file.header("content-type"), Some("application/json"));
    assert_eq!((file.header(rdn::COST), file.header(rdn::SENDER_BALANCE)), (Some("2"), Some("2")));
    let page = w.paid(&proxy, Method::GET, "/files/index.html", &ch, 4);
    assert_eq!((page.status, page.body.as_str()), (StatusCode::OK, "<h1>paid page</h1>\n"));
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    // A missing file is a 404 and costs nothing: the same proof buys a real file afterwards.
    assert_eq!(w.paid(&proxy, Method::GET, "/files/missing.txt", &ch, 6).status, StatusCode::NOT_FOUND);
    let again = w.paid(&proxy, Method::GET, "/files/docs/report.json", &ch, 6);
    assert_eq!((again.status, again.header(rdn::SENDER_BALANCE)), (StatusCode::OK, Some("6")));
    // A replayed proof is refused with the state to resynchronise.
    let stale = w.paid(&proxy, Method::GET, "/files/docs/report.json", &ch, 6);
    assert_eq!(stale.status, StatusCode::PAYMENT_REQUIRED);
    assert!(stale.headers.contains_key(rdn::INVALID_AMOUNT));
    assert_eq!(stale.header(rdn::SENDER_BALANCE), Some("6"));

    // The echo: a price per method.
    let mut balance = 6;
    for (method, price) in
        [(Method::GET, 1), (Method::POST, 2), (Method::PUT, 3), (Method::DELETE, 4), (Method::PATCH, 9)]
    {
        let unpaid = w.send(&proxy, method.clone(), "/echo", HeaderMap::new(), "");
        assert_eq!(unpaid.header(rdn::PRICE), Some(price.to_string().as_str()), "{method}");
        // Paying the wrong amount is refused, and registers nothing.
        let under = w.paid(&proxy, method.clone(), "/echo", &ch, balance + price - 1);
        assert_eq!(under.status, StatusCode::PAYMENT_REQUIRED, "{method}");
        assert!(under.headers.contains_key(rdn::INVALID_AMOUNT));
        balance += price;
        let paid = w.paid(&proxy, method.clone(), "/echo", &ch, balance);
        assert_eq!(paid.status, StatusCode::OK, "{method}");
        assert_eq!(paid.body, format!("{method} /echo\n"));
        assert_eq!(paid.header(rdn::COST), Some(price.to_string().as_str()));
        assert_eq!(paid.header(rdn::SENDER_BALANCE), Some(balance.to_string().as_str()));
    }

    // Limits: an oversized body is a 413, an oversized head a 431, both before any payment.
    let big = w.send(&proxy, Method::POST, "/echo", HeaderMap::new(), &"x".repeat(1001));
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let mut fat = HeaderMap::new();
    fat.insert("x-padding", "y".repeat(3000).parse().unwrap());
    assert_eq!(w.get(&proxy, "/free/", fat).status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // The management API is there; the admin routes want the token.
    let stats = w.get(&proxy, "/api/1/stats", HeaderMap::new());
    assert_eq!(stats.status, StatusCode::OK);
    assert!(w.get(&proxy, "/metrics", HeaderMap::new()).body.contains("payments"));
    let admin = |token: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(token) = token {
            h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        w.send(&proxy, Method::POST, &format!("/api/1/admin/channels/{}/{}/close", ch.sender, 1), h, "").status
    };
    assert_eq!(admin(None), StatusCode::UNAUTHORIZED);
    assert_eq!(admin(Some("wrong-token-wrong-token")), StatusCode::UNAUTHORIZED);
    assert_eq!(admin(Some(ADMIN_TOKEN)), StatusCode::NOT_FOUND, "authorised, but no channel opened in block 1");
}

/// A small upstream site: `/hello` echoes what it got, `/stream` sends a chunk then waits for
/// the test, `/slow` takes 5 s, `/broken` answers 500.
fn upstream(w: &World, release: tokio::sync::watch::Receiver<bool>) -> String {
    let hello = |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: String| async move {
        let custom = headers.get("x-custom").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let forwarded = headers.get(rdn::BALANCE).is_some();
        (
            [("x-upstream", "yes"), ("content-type", "application/x-test")],
            format!("{method} {uri} custom={custom} body={body} rdn={forwarded}"),
        )
    };
    let stream = move || {
        let mut release = release.clone();
        async move {
            let chunks =
                async_stream(move |tx: tokio::sync::mpsc::Sender<Result<String, std::io::Error>>| async move {
                    tx.send(Ok("first chunk;".into())).await.unwrap();
                    release.wait_for(|r| *r).await.unwrap();
                    tx.send(Ok("last chunk".into())).await.unwrap();
                });
            Body::new(chunks)
        }
    };
    let app = Router::new()
        .route("/base/hello", any(hello))
        .route("/base/stream", get(stream))
        .route(
            "/base/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/base/broken", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }));
    w.rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/base")
    })
}

/// A response body of what `producer` sends, as it sends it.
fn async_stream<F, Fut>(producer: F) -> ChannelBody
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<String, std::io::Error>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(producer(tx));
    ChannelBody(rx)
}

/// An mpsc receiver as an HTTP body.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.0.poll_recv(cx).map(|item| item.map(|chunk| chunk.map(|text| http_body::Frame::data(text.into()))))
    }
}

#[test]
fn an_upstream_is_proxied_streaming_and_its_failures_cost_nothing() {
    let mut w = World::new();
    let (release, released) = tokio::sync::watch::channel(false);
    let site = upstream(&w, released);
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let proxy = w.proxy(
        "b",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nupstream_timeout_ms = 500\nmax_body_bytes = 1000\n\n\
             [[route]]\npath = \"/site/*\"\nprice = 1\nupstream = \"{site}\"\n\n\
             [[route]]\npath = \"/down/*\"\nprice = 1\nupstream = \"{down}\"\n"
        ),
    );
    let ch = w.channel(100);

    // Headers and body pass through both ways; the query is kept.
    let mut headers = w.pay(&ch, 1);
    headers.insert("x-custom", "hello-upstream".parse().unwrap());
    let answer = w.rt.block_on(async {
        // Wait for the channel first, with a request that cannot be charged (the upstream's 500).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = w.http.get(format!("{}/site/broken", proxy.base)).headers(w.pay(&ch, 1)).send().await.unwrap();
            if r.status() == StatusCode::INTERNAL_SERVER_ERROR {
                assert_eq!(r.text().await.unwrap(), "broken");
                break;
            }
            assert!(Instant::now() < deadline, "the proxy never saw the channel: {}", r.status());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        w.http
            .post(format!("{}/site/hello?q=1", proxy.base))
            .headers(headers)
            .body("the request body")
            .send()
            .await
            .unwrap()
    });
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["x-upstream"], "yes");
    assert_eq!(answer.headers()["content-type"], "application/x-test");
    assert_eq!(answer.headers()[rdn::SENDER_BALANCE], "1", "the 500 before cost nothing");
    let text = w.rt.block_on(answer.text()).unwrap();
    assert_eq!(text, "POST /base/hello?q=1 custom=hello-upstream body=the request body rdn=false");

    // Streaming: the first chunk arrives while the upstream still holds the last.
    let streamed = w.rt.block_on(async {
        let mut response =
            w.http.get(format!("{}/site/stream", proxy.base)).headers(w.pay(&ch, 2)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let first = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("the first chunk is passed on before the upstream finishes")
            .unwrap()
            .unwrap();
        release.send(true).unwrap();
        let mut all = String::from_utf8(first.to_vec()).unwrap();
        while let Some(chunk) = response.chunk().await.unwrap() {
            all.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        all
    });
    assert_eq!(streamed, "first chunk;last chunk");

    // A down upstream is a 502, a slow one a 504; neither charges: the same proof then pays.
    let down = w.paid(&proxy, Method::GET, "/down/anything", &ch, 3);
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{down:?}");
    assert!(down.header(rdn::COST).is_none());
    let start = Instant::now();
    let slow = w.paid(&proxy, Method::GET, "/site/slow", &ch, 3);
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(start.elapsed() < Duration::from_secs(4), "the timeout (500 ms) cut the wait");
    let paid = w.paid(&proxy, Method::GET, "/site/hello", &ch, 3);
    assert_eq!(paid.status, StatusCode::OK);
    assert_eq!((paid.header(rdn::COST), paid.header(rdn::SENDER_BALANCE)), (Some("1"), Some("3")));

    // A chunked body (no Content-Length) over the limit is cut off at it: a 413, nothing charged.
    let chunked = |size: usize| {
        let chunks: Vec<Result<String, std::io::Error>> = (0..size / 100).map(|_| Ok("y".repeat(100))).collect();
        let request = w
            .http
            .post(format!("{}/site/hello", proxy.base))
            .headers(w.pay(&ch, 4))
            .body(reqwest::Body::wrap_stream(futures_stream(chunks)));
        w.rt.block_on(async {
            // The server stops reading at the limit: the client gets the 413, or, when the
            // connection is closed under its unread body first, a reset (never a 2xx).
            let r = request.send().await.ok()?;
            Some((r.status(), r.headers().get(rdn::SENDER_BALANCE).map(|v| v.to_str().unwrap().to_string())))
        })
    };
    let over = chunked(5_000);
    assert!(matches!(over, None | Some((StatusCode::PAYLOAD_TOO_LARGE, None))), "{over:?}");
    assert_eq!(chunked(900), Some((StatusCode::OK, Some("4".to_string()))), "nothing was charged: the same proof pays");

    // Without an admin token the admin routes do not exist.
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
    assert_eq!(w.send(&proxy, Method::POST, "/api/1/admin/close-all", h, "").status, StatusCode::NOT_FOUND);
}

/// The items of `items` as a stream, one at a time.
fn futures_stream<T: Send + 'static>(items: Vec<T>) -> impl futures_core::Stream<Item = T> + Send + 'static {
    struct Items<T>(std::vec::IntoIter<T>);
    impl<T> futures_core::Stream for Items<T> {
        type Item = T;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    impl<T> Unpin for Items<T> {}
    Items(items.into_iter())
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`.
fn certificate(dir: &Path, name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), certified.cert.pem()).unwrap();
    secret(&dir.join(format!("{name}.key")), &certified.signing_key.serialize_pem());
    certified
}

/// Sends `request` (a whole HTTP/1.1 request) over TLS to `base`, trusting only `cert`; gives
/// the status and the response head and body as text.
fn https(base: &str, cert: &rcgen::Certificate, request: String) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let address = base.strip_prefix("https://").expect("an https:// base").to_string();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap();
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        // The server may close without close_notify; one that never closes is cut off here.
        let _ = tokio::time::timeout(Duration::from_secs(15), tls.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    })
}

#[test]
fn with_a_certificate_the_proxy_speaks_https_and_payments_work_over_it() {
    let mut w = World::new();
    let cert = certificate(w.dir.path(), "server");
    let proxy = w.proxy(
        "tls",
        "[server]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = \"server.crt\"\ntls_key_file = \"server.key\"\n\
         header_read_timeout_ms = 1000\nidle_timeout_ms = 500\n\n\
         [[route]]\npath = \"/echo\"\nprice = 5\necho = true\n",
    );
    assert!(proxy.base.starts_with("https://127.0.0.1:"), "{}", proxy.base);
    let host = proxy.base.trim_start_matches("https://").to_string();
    let request = |headers: &HeaderMap| {
        let mut text = format!("GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
        text + "\r\n"
    };
    let (status, unpaid) = https(&proxy.base, &cert.cert, request(&HeaderMap::new()));
    assert_eq!(status, 402, "{unpaid}");
    assert!(unpaid.to_ascii_lowercase().contains("rdn-price: 5"), "{unpaid}");
    let ch = w.channel(100);
    let deadline = Instant::now() + Duration::from_secs(20);
    let paid = loop {
        let (status, text) = https(&proxy.base, &cert.cert, request(&w.pay(&ch, 5)));
        if status != 402 || Instant::now() > deadline {
            break (status, text);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(paid.0, 200, "{}", paid.1);
    assert!(paid.1.to_ascii_lowercase().contains("rdn-sender-balance: 5"), "{}", paid.1);
    assert!(paid.1.ends_with("GET /echo\n"), "{}", paid.1);
    // Plain HTTP on the TLS port is not served: no HTTP answer of any kind comes back.
    let mut plain = std::net::TcpStream::connect(&host).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut plain, format!("GET /echo HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP was answered: {}", String::from_utf8_lossy(&answer));
    let plain = w.rt.block_on(async { w.http.get(format!("http://{host}/echo")).send().await });
    assert!(plain.is_err(), "plain HTTP was answered with {:?}", plain.map(|r| r.status()));
    // A client that connects and never finishes its handshake does not hold the server.
    let _idle = std::net::TcpStream::connect(&host).unwrap();
    assert_eq!(https(&proxy.base, &cert.cert, request(&w.pay(&ch, 10))).0, 200);
    // Over TLS too, a partial head is cut off after the header timeout.
    let started = Instant::now();
    let (status, text) = https(&proxy.base, &cert.cert, format!("GET /echo HTTP/1.1\r\nHost: {host}\r\nX-Slow: "));
    assert!(status != 200 && !text.contains("GET /echo\n"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}

/// Runs the proxy on `config` and returns its error output, asserting that it refused to start.
fn refused(dir: &Path, config: &str) -> String {
    let path = dir.join("bad.toml");
    std::fs::write(&path, config).unwrap();
    let out = binary()
        .args(["proxy", "--check", "--config"])
        .arg(&path)
        .env("PRIVATE_KEY", keccak256("uraiden test key 2").to_string())
        .output()
        .unwrap();
    assert!(!out.status.success(), "accepted: {config}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&path.display().to_string()), "the file is named: {stderr}");
    stderr
}

#[test]
fn bad_configurations_are_refused_with_the_file_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    let chain =
        "[chain]\nrpc_url = \"http://127.0.0.1:1\"\ncontract = \"0x00000000000000000000000000000000000000aa\"\n";
    let route = "[[route]]\npath = \"/x\"\nprice = 1\necho = true\n";
    certificate(dir.path(), "a");
    certificate(dir.path(), "b");
    std::fs::write(dir.path().join("junk.crt"), "not a certificate\n").unwrap();
    std::fs::write(dir.path().join("open.token"), format!("{ADMIN_TOKEN}\n")).unwrap(); // mode 644
    secret(&dir.path().join("short.token"), "  0123456789  \n");
    std::fs::write(dir.path().join("no-script.html"), "<p>{{price}}</p><script>{{config}}</script>").unwrap();
    std::fs::write(dir.path().join("unknown.html"), "{{config}}{{script}}{{secret}}").unwrap();
    std::fs::copy(dir.path().join("a.key"), dir.path().join("open.key")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(dir.path().join("open.token"), open.clone()).unwrap();
        std::fs::set_permissions(dir.path().join("open.key"), open).unwrap();
    }
    let cases: Vec<(String, &[&str])> = vec![
        (format!("{chain}colour = 1\n{route}"), &["unknown field `colour`"]),
        (format!("{chain}[server]\nlisten = \"nowhere\"\n{route}"), &["line 5", "invalid socket address"]),
        (
            format!("{chain}[server]\nlisten = \"127.0.0.1:0\"\nmax_bodybytes = 5\n{route}"),
            &["unknown field `max_bodybytes`"],
        ),
        (chain.to_string(), &["route", "no [[route]]"]),
        (format!("{chain}[[route]]\npath = \"/x\"\nprice = 1\n"), &["route[0]", "exactly one of dir, upstream, echo"]),
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = 1\necho = true\nupstream = \"http://a\"\n"),
            &["route[0]", "exactly one of"],
        ),
        (format!("{chain}[[route]]\npath = \"x\"\nprice = 1\necho = true\n"), &["route[0].path", "must start with /"]),
        (format!("{chain}[[route]]\npath = \"/a*\"\nprice = 1\necho = true\n"), &["route[0].path", "final /*"]),
        (format!("{chain}[[route]]\npath = \"/api/*\"\nprice = 1\necho = true\n"), &["route[0].path", "reserved"]),
        (format!("{chain}{route}{route}"), &["route[1].path", "already the path"]),
        (format!("{chain}[[route]]\npath = \"/x\"\nprice = -1\necho = true\n"), &["route[0].price", "negative"]),
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = \"1e3\"\necho = true\n"),
            &["route[0].price", "not a decimal"],
        ),
        // A table without a default would make every other method free.
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = {{ GET = 5 }}\necho = true\n"),
            &["route[0].price", "needs a default"],
        ),
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = {{ \"GE T\" = 1, default = 1 }}\necho = true\n"),
            &["route[0].price.GE T", "not an HTTP method name"],
        ),
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = {{ get = 1, GET = 2, default = 1 }}\necho = true\n"),
            &["route[0].price.", "GET is priced twice"],
        ),
        // Paths that no request path can match once it is in canonical form.
        (format!("{chain}[[route]]\npath = \"/my files/*\"\nprice = 1\necho = true\n"), &["route[0].path", "' '"]),
        (format!("{chain}[[route]]\npath = \"/café\"\nprice = 1\necho = true\n"), &["route[0].path", "'é'"]),
        (format!("{chain}[[route]]\npath = \"/a%20b\"\nprice = 1\necho = true\n"), &["route[0].path", "'%'"]),
        // A sub-delimiter could be spelled escaped (`/p%3Aq/x`), miss the route, and reach a free
        // route over the same directory whose file server decodes it.
        (format!("{chain}[[route]]\npath = \"/p:q/*\"\nprice = 1\necho = true\n"), &["route[0].path", "':'"]),
        (format!("{chain}[[route]]\npath = \"/a;b\"\nprice = 1\necho = true\n"), &["route[0].path", "';'"]),
        (format!("{chain}[[route]]\npath = \"/a//b\"\nprice = 1\necho = true\n"), &["route[0].path", "plain path"]),
        (format!("{chain}[[route]]\npath = \"/a/../b/*\"\nprice = 1\necho = true\n"), &["route[0].path", "plain path"]),
        (format!("{chain}[[route]]\npath = \"/a//*\"\nprice = 1\necho = true\n"), &["route[0].path", "plain path"]),
        // The obvious loop: an upstream that is the proxy itself.
        (
            format!(
                "{chain}[server]\nlisten = \"127.0.0.1:5999\"\n[[route]]\npath = \"/x\"\nprice = 1\nupstream = \"http://127.0.0.1:5999/\"\n"
            ),
            &["route[0].upstream", "own listen address"],
        ),
        (
            format!(
                "{chain}[server]\nlisten = \"0.0.0.0:5999\"\n[[route]]\npath = \"/x\"\nprice = 1\nupstream = \"http://localhost:5999\"\n"
            ),
            &["route[0].upstream", "own listen address"],
        ),
        (
            format!("{chain}[server]\nheader_read_timeout_ms = 1000\nidle_timeout_ms = 2000\n{route}"),
            &["server.idle_timeout_ms", "at most header_read_timeout_ms"],
        ),
        (format!("{chain}[server]\nmax_connections = 0\n{route}"), &["server.max_connections", "at least 1"]),
        (
            format!("{chain}[server]\npaywall_page_file = \"missing.html\"\n{route}"),
            &["server.paywall_page_file", "missing.html cannot be read"],
        ),
        (
            format!("{chain}[server]\npaywall_page_file = \"no-script.html\"\n{route}"),
            &["server.paywall_page_file", "no-script.html: the template has no {{script}}"],
        ),
        (
            format!("{chain}[server]\npaywall_page_file = \"unknown.html\"\n{route}"),
            &["server.paywall_page_file", "unknown placeholder {{secret}}"],
        ),
        // Secrets open to others are refused, saying what to run.
        (
            format!("{chain}[server]\nadmin_token_file = \"open.token\"\n{route}"),
            &["server.admin_token_file", "open to its group or others (mode 644)", "chmod 600"],
        ),
        (
            format!("{chain}[server]\nadmin_token_file = \"short.token\"\n{route}"),
            &["server.admin_token_file", "shorter than 16 characters"],
        ),
        (
            format!("{chain}[server]\ntls_cert_file = \"a.crt\"\ntls_key_file = \"open.key\"\n{route}"),
            &["server.tls_key_file", "open.key is open to its group or others", "chmod 600"],
        ),
        (
            format!("{chain}[receiver]\nprivate_key_file = \"open.key\"\n{route}"),
            &["receiver.private_key_file", "chmod 600"],
        ),
        (
            format!("{chain}[[route]]\npath = \"/x/*\"\nprice = 1\ndir = \"missing\"\n"),
            &["route[0].dir", "is not a directory"],
        ),
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = 1\ndir = \"public\"\n"),
            &["route[0].path", "must end in /*"],
        ),
        (
            format!("{chain}[[route]]\npath = \"/x\"\nprice = 1\nupstream = \"ftp://a\"\n"),
            &["route[0].upstream", "http(s)"],
        ),
        (format!("[chain]\nconfirmations = 0\n{route}"), &["chain.confirmations", "at least 1"]),
        (
            format!("{chain}[receiver]\nstore = \"mysql://x\"\n{route}"),
            &["receiver.store", "sqlite://, postgres:// or postgresql://"],
        ),
        (
            format!(
                "{chain}poll_interval_ms = 2000\n[receiver]\nstore = \"postgres://a@127.0.0.1:1/x\"\nchain_lease_ms = 4000\n{route}"
            ),
            &["receiver.chain_lease_ms", "more than twice chain.poll_interval_ms (2000)"],
        ),
        (
            format!("{chain}[server]\nadmin_token_file = \"no-such-token\"\n{route}"),
            &["server.admin_token_file", "cannot be read"],
        ),
        (
            format!("[chain]\ncontract = \"0x00000000000000000000000000000000000000aa\"\n{route}"),
            &["chain.rpc_url", "ETH_RPC_URL"],
        ),
        (
            format!("{chain}[receiver]\nprivate_key_file = \"no-such-key\"\n{route}"),
            &["receiver.private_key_file", "no-such-key"],
        ),
        (
            format!("{chain}[server]\ntls_cert_file = \"a.crt\"\n{route}"),
            &["server.tls_key_file", "missing: tls_cert_file needs it"],
        ),
        (
            format!("{chain}[server]\ntls_cert_file = \"none.crt\"\ntls_key_file = \"a.key\"\n{route}"),
            &["server.tls_cert_file", "none.crt"],
        ),
        (
            format!("{chain}[server]\ntls_cert_file = \"junk.crt\"\ntls_key_file = \"a.key\"\n{route}"),
            &["server.tls_cert_file", "no PEM certificate"],
        ),
        (
            format!("{chain}[server]\ntls_cert_file = \"a.crt\"\ntls_key_file = \"junk.crt\"\n{route}"),
            &["server.tls_key_file", "junk.crt"],
        ),
        (
            format!("{chain}[server]\ntls_cert_file = \"a.crt\"\ntls_key_file = \"b.key\"\n{route}"),
            &["server.tls_key_file", "does not go with the certificate"],
        ),
    ];
    for (config, expected) in cases {
        let stderr = refused(dir.path(), &config);
        for part in expected {
            assert!(stderr.contains(part), "{part:?} missing from {stderr:?} for\n{config}");
        }
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }

    // URAIDEN_ADMIN_TOKEN has the token file's rules: trimmed, at least 16 characters; never shown.
    let path = dir.path().join("env.toml");
    std::fs::write(&path, format!("{chain}{route}")).unwrap();
    for (value, ok) in [("  0123456789abcde  ", false), ("", false), ("  0123456789abcdef\n", true)] {
        let out = binary()
            .args(["proxy", "--check", "--config"])
            .arg(&path)
            .env("PRIVATE_KEY", keccak256("uraiden test key 2").to_string())
            .env("URAIDEN_ADMIN_TOKEN", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success());
        if ok {
            // Past the token: it is the unreachable node that stops this check.
            assert!(!stderr.contains("URAIDEN_ADMIN_TOKEN") && stderr.contains("127.0.0.1:1"), "{value:?}: {stderr}");
        } else {
            assert!(
                stderr.contains("URAIDEN_ADMIN_TOKEN: the token is shorter than 16 characters"),
                "{value:?}: {stderr}"
            );
            assert!(value.trim().is_empty() || !stderr.contains(value.trim()), "the token is not shown: {stderr}");
        }
    }
}

#[test]
fn the_contract_comes_from_the_deployment_record_and_the_command_line_overrides_the_node() {
    let f = Fixture::new(anvil_chain());
    let url = f.chain.anvil_endpoint().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    let text = "[chain]\nrpc_url = \"http://127.0.0.1:1\"\n[[route]]\npath = \"/*\"\nprice = 1\necho = true\n";
    std::fs::write(&config, text).unwrap();
    let check = |extra: &[&str]| {
        let out = binary()
            .args(["proxy", "--check", "--config"])
            .arg(&config)
            .args(extra)
            .env("PRIVATE_KEY", keccak256("uraiden test key 2").to_string())
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap())
    };
    // The file's node is unreachable; --rpc-url replaces it, then the record is missing.
    let (ok, text) = check(&["--rpc-url", &url]);
    assert!(!ok && text.contains("chain.contract not given") && text.contains("31337.json"), "{text}");
    let record = |chain_id: u64| {
        serde_json::json!({
            "chain_id": chain_id, "token": f.c.token, "channels": f.c.channels, "block": 1, "token_block": 1,
            "challenge_period": 10, "deployer": f.deployer.address(), "token_gas": 1, "channels_gas": 1
        })
        .to_string()
    };
    std::fs::create_dir(dir.path().join("deployments")).unwrap();
    // A record copied from another chain is refused by name, not as an ABI decoding error later.
    std::fs::write(dir.path().join("deployments/31337.json"), record(1)).unwrap();
    let (ok, text) = check(&["--rpc-url", &url]);
    assert!(!ok && text.contains("31337.json records chain 1, but the node is chain 31337"), "{text}");
    std::fs::write(dir.path().join("deployments/31337.json"), record(31337)).unwrap();
    let (ok, text) = check(&["--rpc-url", &url]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("contract {}", f.c.channels)), "{text}");

    // `postgresql://` is a PostgreSQL store as `postgres://` is (--check does not open it).
    let text = "[chain]\nrpc_url = \"http://127.0.0.1:1\"\n[receiver]\nstore = \"postgresql://alice@127.0.0.1:1/x\"\n\
                [[route]]\npath = \"/*\"\nprice = 1\necho = true\n";
    std::fs::write(&config, text).unwrap();
    let (ok, text) = check(&["--rpc-url", &url]);
    assert!(ok, "{text}");

    // A contract address with no code at the node (a wrong address, or the wrong node).
    let text = "[chain]\ncontract = \"0x00000000000000000000000000000000000000aa\"\n\
                [[route]]\npath = \"/*\"\nprice = 1\necho = true\n";
    std::fs::write(&config, text).unwrap();
    let (ok, text) = check(&["--rpc-url", &url]);
    assert!(!ok, "{text}");
    assert!(
        text.to_lowercase().contains(
            "chain.contract: the channel contract 0x00000000000000000000000000000000000000aa has no code on chain 31337"
        ),
        "{text}"
    );
}

#[test]
fn the_node_going_away_does_not_stop_the_server_and_confirmed_channels_still_pay() {
    let mut w = World::new();
    let proxy =
        w.proxy("c", "[server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/echo\"\nprice = 1\necho = true\n");
    let ch = w.channel(100);
    assert_eq!(w.paid(&proxy, Method::GET, "/echo", &ch, 1).status, StatusCode::OK);
    assert_eq!(w.get(&proxy, "/ready", HeaderMap::new()).status, StatusCode::OK);
    let (second, third) = (w.pay(&ch, 2), w.pay(&ch, 3));
    let World { f, rt, http, dir: _dir, .. } = w;
    drop(f); // stops anvil
    let send = |headers: HeaderMap, path: &str| {
        rt.block_on(async {
            let r = http.get(format!("{}{path}", proxy.base)).headers(headers).send().await.unwrap();
            (r.status(), r.headers().get(rdn::SENDER_BALANCE).map(|v| v.to_str().unwrap().to_string()))
        })
    };
    // `/ready` turns 503 once the manager notices; meanwhile the server answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while send(HeaderMap::new(), "/ready").0 != StatusCode::SERVICE_UNAVAILABLE {
        assert!(Instant::now() < deadline, "/ready never said the node is gone");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(send(HeaderMap::new(), "/health").0, StatusCode::OK);
    assert_eq!(send(second, "/echo"), (StatusCode::OK, Some("2".to_string())));
    assert_eq!(send(third, "/echo"), (StatusCode::OK, Some("3".to_string())));
}

/// Runs the x402 SDK script `js/test/x402/<script>` against `url` (the sender's key, the
/// chain, contract, token and receiver in its environment, and `env`) while blocks keep coming
/// (anvil mines only on transactions here, and deposits need confirmations); its JSON lines.
fn run_sdk_script(w: &World, script: &str, url: String, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mining = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let miner = {
        let (mining, url, http) = (mining.clone(), w.url.clone(), w.http.clone());
        w.rt.spawn(async move {
            let mine = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": ["0x1"]});
            while mining.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = http.post(&url).json(&mine).send().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    common::js::installed();
    let out = Command::new("node")
        .arg(common::js::js_dir().join("test/x402").join(script))
        .env("URL", url)
        .env("RPC_URL", &w.url)
        .env("PRIVATE_KEY", keccak256("uraiden test key 1").to_string())
        .env("CHAIN_ID", w.f.chain.chain_id().to_string())
        .env("CONTRACT", w.f.c.channels.to_string())
        .env("TOKEN", w.f.c.token.to_string())
        .env("RECEIVER", w.f.receiver.address().to_string())
        .envs(env.iter().copied())
        .output()
        .expect("node runs");
    mining.store(false, std::sync::atomic::Ordering::Relaxed);
    w.rt.block_on(miner).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An `@x402/fetch` user buys prepaid sessions through the proxy (`js/test/x402/sdk-sessions.mjs`:
/// the SDK's paying fetch over the package's `withSessions`, `maxPrepay` 5, a route selling up to
/// 10): 12 requests cost three payments of five prices, the others carry the credential; the
/// cooperative close refunds the three requests the last session did not use.
#[test]
fn an_x402_fetch_user_buys_prepaid_sessions_and_is_refunded_what_it_did_not_use() {
    let mut w = World::new();
    let config = "[server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/echo/*\"\nprice = 7\necho = true\nsession_requests = 10\n";
    let proxy = w.proxy("sessions", config);
    let receiver_before = w.f.balance(w.f.receiver.address());
    let env = [("DEPOSIT", "700"), ("COUNT", "12"), ("MAX_PREPAY", "5")];
    let lines = run_sdk_script(&w, "sdk-sessions.mjs", format!("{}/echo", proxy.base), &env);
    assert_eq!(lines.len(), 13, "{lines:?}");
    for (i, line) in lines[..12].iter().enumerate() {
        assert_eq!(
            (line["status"].as_u64(), line["body"].as_str()),
            (Some(200), Some(format!("GET /echo/{i}\n").as_str()))
        );
        let bought = i % 5 == 0;
        assert_eq!(line["paid"], if bought { "35".into() } else { serde_json::Value::Null }, "request {i}: {line}");
        assert_eq!(line["remaining"], (4 - i % 5).to_string(), "request {i}: {line}");
    }
    let closed = &lines[12];
    assert_eq!((closed["acknowledged"].as_str(), closed["balance"].as_str()), (Some("105"), Some("84")), "{closed}");
    assert_eq!(w.f.balance(w.f.receiver.address()), receiver_before + 84, "12 requests at 7, the rest refunded");
}

/// An `@x402/fetch` user pays from zero through the proxy: the official x402 SDK (`@x402/core`,
/// `@x402/fetch`, from npm) with the scheme client of `js/` (`js/test/x402/sdk-pays.mjs`), which
/// opens the channel on the first 402 and tops it up when the deposit runs out. Our
/// `PAYMENT-REQUIRED` is read by the SDK, its payments accepted, our `PAYMENT-RESPONSE` read, and
/// a replayed payment refused with the state to resynchronise.
#[test]
fn an_x402_fetch_user_pays_from_zero_through_the_proxy() {
    let w = World::new();
    let proxy =
        w.proxy("sdk", "[server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/echo\"\nprice = 7\necho = true\n");
    let (count, deposit) = (5u64, 21u64);
    let env = [("DEPOSIT", "21"), ("COUNT", "5")];
    let lines = run_sdk_script(&w, "sdk-pays.mjs", format!("{}/echo", proxy.base), &env);
    assert_eq!(lines.len() as u64, count + 2, "{lines:?}");
    let sender = w.f.sender.address().to_string();
    let open_block = lines[0]["openBlock"].as_u64().expect("a channel was opened");
    for (i, line) in lines[..count as usize].iter().enumerate() {
        assert_eq!(line["status"].as_u64(), Some(200), "{line}");
        assert_eq!(line["body"], "GET /echo\n");
        let settlement = &line["settlement"];
        assert_eq!(settlement["success"], true, "{line}");
        assert_eq!(settlement["network"], "eip155:31337");
        assert_eq!(settlement["payer"].as_str().map(str::to_lowercase), Some(sender.to_lowercase()));
        assert_eq!(settlement["extra"]["balance"], (7 * (i as u64 + 1)).to_string());
        assert_eq!(line["openBlock"].as_u64(), Some(open_block), "one channel: {line}");
        // 21 pays three requests; the fourth tops it up by 21.
        let expected_deposit = if i < 3 { deposit } else { 2 * deposit };
        assert_eq!(line["deposit"], expected_deposit.to_string(), "{line}");
    }
    let replay = &lines[count as usize];
    assert_eq!((replay["status"].as_u64(), replay["error"].as_str()), (Some(402), Some("amount_mismatch")), "{replay}");
    assert_eq!(replay["channel"]["balance"], (7 * count).to_string());
    assert_eq!(lines[count as usize + 1]["balance"], (7 * count).to_string());
    let api = format!("/api/1/channels/{}/{}", w.f.sender.address(), open_block);
    let view: serde_json::Value = serde_json::from_str(&w.get(&proxy, &api, HeaderMap::new()).body).unwrap();
    assert_eq!(view["balance"], (7 * count).to_string(), "the receiver registered every payment: {view}");
    assert_eq!(view["deposit"], (2 * deposit).to_string(), "{view}");
}
