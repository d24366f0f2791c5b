//! The sender's clients against the real paywall over HTTP, a channel manager and anvil.

#[path = "../common/mod.rs"]
mod common;
mod spec;

use std::{net::SocketAddr, time::Duration};

use alloy::{
    network::TransactionBuilder,
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
};
use alloy_primitives::aliases::U192;
use axum::{Router, http::HeaderValue, routing::get};
use uraiden::{
    channel::ChannelStatus,
    node::{Node, Nonce, Resend, TxSender},
    paywall::{PaywallLayer, Terms, api, challenge},
    protocol::{
        rdn,
        session::{self, Credential},
        x402,
    },
    receiver::{ChannelManager, SessionTerms},
    sender::{ChannelClient, DepositPath, PayingClient, PaymentPolicy, SenderConfig, SenderError},
};

use common::receivers::Env;

const PRICE: u64 = 3;

struct System {
    env: Env,
    manager: ChannelManager,
    base: String,
    data_dir: tempfile::TempDir,
}

/// `/x402` offers both protocols; `/rdn` strips `PAYMENT-REQUIRED` (an RDN-only server);
/// `/liar` answers every payment with a correction the sender never signed; `/sess/*` sells
/// prepaid sessions of up to 10 requests, and `/sold/*` too but answers with a credential granting
/// more than was bought.
fn app(manager: &ChannelManager) -> Router {
    let paid = |router: Router| router.route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)));
    let rdn_only = paid(Router::new().route("/rdn", get(|| async { "rdn content" }))).layer(
        axum::middleware::map_response(|mut response: axum::response::Response| async move {
            response.headers_mut().remove(x402::PAYMENT_REQUIRED);
            response
        }),
    );
    let terms = Terms::of(manager);
    let liar = Router::new().route(
        "/liar",
        get(move |headers: axum::http::HeaderMap| {
            let terms = terms.clone();
            async move {
                let mut response = challenge::payment_required(
                    &terms,
                    U192::from(PRICE),
                    &uraiden::paywall::Refusal::PaymentRequired,
                    x402::Resource { url: "/liar".into(), description: String::new(), mime_type: None },
                    None,
                );
                if headers.contains_key(rdn::BALANCE_SIGNATURE) || headers.contains_key(x402::PAYMENT_SIGNATURE) {
                    response.headers_mut().remove(x402::PAYMENT_REQUIRED);
                    response.headers_mut().insert(rdn::INVALID_AMOUNT, HeaderValue::from_static("1"));
                    response.headers_mut().insert(rdn::SENDER_BALANCE, HeaderValue::from_static("30"));
                    let forged = format!("0x{}", "11".repeat(65));
                    response.headers_mut().insert(rdn::BALANCE_SIGNATURE, HeaderValue::from_str(&forged).unwrap());
                } else {
                    response.headers_mut().remove(x402::PAYMENT_REQUIRED);
                }
                response
            }
        }),
    );
    // `/moved` is paid and redirects to `/free` (not paid), which says whether it was sent
    // payment headers.
    let moved = paid(Router::new().route("/moved", get(|| async { axum::response::Redirect::to("/free") })));
    let free = Router::new().route(
        "/free",
        get(|headers: axum::http::HeaderMap| async move {
            let paid = rdn::has_payment(&headers) || headers.contains_key(x402::PAYMENT_SIGNATURE);
            if paid { "free, sent payment headers" } else { "free" }
        }),
    );
    let sessions = |scope: &str| SessionTerms { scope: scope.into(), max_requests: 10, ttl: Duration::from_secs(600) };
    let selling = Router::new()
        .route("/sess/{item}", get(|| async { "session content" }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)).with_sessions(sessions("/sess/")));
    // `/sold/*` sells sessions and then answers with a credential granting more than was bought.
    let overselling = Router::new()
        .route("/sold/{item}", get(|| async { "sold content" }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)).with_sessions(sessions("/sold/")))
        .layer(axum::middleware::map_response(|mut response: axum::response::Response| async move {
            let bought = response.headers().get(session::SESSION).and_then(|v| Credential::decode(v.to_str().ok()?));
            if let Some(mut credential) = bought {
                credential.grant.requests += 100;
                let value = HeaderValue::from_str(&credential.encode()).unwrap();
                response.headers_mut().insert(session::SESSION, value);
            }
            response
        }));
    paid(Router::new().route("/x402", get(|| async { "x402 content" })))
        .merge(selling)
        .merge(overselling)
        .merge(rdn_only)
        .merge(moved)
        .merge(free)
        .merge(liar)
        .merge(api::router(manager.clone(), None))
}

impl System {
    fn start() -> Self {
        let env = Env::new();
        let mut config = env.config();
        config.confirmations = 1;
        let manager = env.start(config);
        let router = app(&manager);
        let addr: SocketAddr = env.rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            addr
        });
        Self { env, manager, base: format!("http://{addr}"), data_dir: tempfile::tempdir().unwrap() }
    }

    fn client(&self, policy: PaymentPolicy) -> PayingClient {
        self.client_by(policy, DepositPath::Erc223)
    }

    fn client_by(&self, policy: PaymentPolicy, deposit_path: DepositPath) -> PayingClient {
        let config = SenderConfig {
            rpc_url: self.env.url.clone(),
            contract: self.env.f.c.channels,
            deployment_block: 0,
            key: self.env.f.sender.clone(),
            data_dir: self.data_dir.path().to_path_buf(),
            deposit_path,
        };
        let channels = self.env.rt.block_on(ChannelClient::connect(config)).unwrap();
        PayingClient::new(channels, policy).unwrap()
    }

    fn get(&self, client: &PayingClient, path: &str) -> Result<uraiden::sender::PaidResponse, SenderError> {
        self.get_url(client, &format!("{}{path}", self.base))
    }

    fn get_url(&self, client: &PayingClient, url: &str) -> Result<uraiden::sender::PaidResponse, SenderError> {
        let request = client.http().get(url).build().unwrap();
        self.env.rt.block_on(client.execute(request))
    }

    /// The balances the receiver registered, over all its channels.
    fn registered(&self) -> U192 {
        self.manager.channels().iter().map(|c| c.balance).sum()
    }
}

fn policy() -> PaymentPolicy {
    PaymentPolicy {
        deposit_prices: 10,
        top_up_prices: 10,
        confirmation_timeout: Duration::from_secs(20),
        ..PaymentPolicy::default()
    }
}

/// Paid requests per protocol in the end-to-end run (the issue asks for 1,000 of each).
const REQUESTS_PER_PROTOCOL: u64 = 1_000;
/// Deposits and top-ups of the end-to-end run, in prices.
const DEPOSIT_PRICES: u64 = 100;

#[test]
fn pays_over_x402_and_rdn_with_top_ups_then_closes_cooperatively() {
    let mut system = System::start();
    let client = system.client(PaymentPolicy {
        deposit_prices: DEPOSIT_PRICES,
        top_up_prices: DEPOSIT_PRICES,
        ..PaymentPolicy::default()
    });
    let receiver = system.env.f.receiver.address();
    let total = 2 * REQUESTS_PER_PROTOCOL;
    let (deployer, sender) = (system.env.f.deployer.address(), client.channels().sender());
    let f = &mut system.env.f;
    f.c.transfer(&mut f.chain, deployer, sender, common::u256(total * PRICE)).unwrap();
    let (sender_before, receiver_before) =
        (system.env.f.balance(client.channels().sender()), system.env.f.balance(receiver));
    for i in 0..total {
        let path = if i % 2 == 0 { "/x402" } else { "/rdn" };
        let paid = system.get(&client, path).unwrap();
        assert_eq!(paid.response.status(), 200, "request {i}");
        let made = paid.payment.expect("a payment");
        assert_eq!((made.amount, made.balance), (U192::from(PRICE), U192::from((i + 1) * PRICE)));
        let body = system.env.rt.block_on(paid.response.text()).unwrap();
        assert!(body.ends_with("content"));
    }
    let channels = system.env.rt.block_on(client.channels().channels()).unwrap();
    assert_eq!(channels.len(), 1, "one channel, topped up as it ran out: {channels:?}");
    let channel = &channels[0];
    assert_eq!(channel.balance, U192::from(total * PRICE));
    assert_eq!(
        channel.deposit,
        U192::from(total * PRICE),
        "opened with {DEPOSIT_PRICES} prices, topped up by {DEPOSIT_PRICES} prices each time it ran out"
    );
    assert_eq!(system.registered(), U192::from(total * PRICE));

    let tx = system.env.rt.block_on(client.channels().close_cooperatively(channel, &system.base)).unwrap();
    assert!(!tx.is_zero());
    assert_eq!(system.env.f.balance(receiver), receiver_before + total * PRICE);
    assert_eq!(system.env.f.balance(client.channels().sender()), sender_before - total * PRICE);
    assert_eq!(system.env.f.balance(system.env.f.c.channels), 0);
    let after = system.env.rt.block_on(client.channels().channels()).unwrap();
    assert_eq!(after[0].status, ChannelStatus::Settled);
}

/// The ERC20 path: approve (only when the allowance is short) and createChannelERC20 or
/// topUpERC20, simulated together first; a refused open or top-up sends nothing.
#[test]
fn deposits_by_erc20_approve_only_when_needed_and_send_nothing_that_would_revert() {
    let mut system = System::start();
    let client = system.client_by(policy(), DepositPath::Erc20);
    let channels = client.channels();
    let sender = channels.sender();
    let nonce = |system: &System| system.env.f.chain.nonce(sender).unwrap();
    let rt = &system.env.rt;

    // Refusals: the contract's reason, and the nonce unmoved (no approve was mined either).
    let before = nonce(&system);
    match rt.block_on(channels.open(alloy_primitives::Address::ZERO, U192::from(10))) {
        Err(SenderError::WouldRevert(revert)) => assert!(format!("{revert}").contains("InvalidReceiver"), "{revert}"),
        other => panic!("an open to address 0: {other:?}"),
    }
    match rt.block_on(channels.open(system.env.f.receiver.address(), U192::ZERO)) {
        Err(SenderError::WouldRevert(revert)) => assert!(format!("{revert}").contains("ZeroDeposit"), "{revert}"),
        other => panic!("an open of 0: {other:?}"),
    }
    assert_eq!(nonce(&system), before, "a refused open sent a transaction");

    // Paying opens by approve + createChannelERC20 (two transactions) and tops up the same way.
    for i in 0..11u64 {
        let paid = system.get(&client, "/rdn").unwrap();
        assert_eq!(paid.response.status(), 200, "request {i}");
    }
    let opened = rt.block_on(channels.channels()).unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let channel = &opened[0];
    assert_eq!(channel.deposit, U192::from(20 * PRICE), "opened with 10 prices and topped up with 10");
    assert_eq!(nonce(&system), before + 4, "approve + create, approve + top-up");
    let f = &mut system.env.f;
    assert_eq!(f.c.allowance(&mut f.chain, sender, f.c.channels).unwrap(), common::u256(0), "approvals spent exactly");

    // With an allowance that covers it, a top-up is one transaction. (The approve goes through
    // the client's own node connection.)
    let approve = uraiden::contract::Call::Approve { spender: f.c.channels, amount: common::u256(1_000) };
    let (to, data) = approve.encode(f.c.token, f.c.channels);
    let request = TransactionRequest::default().with_from(sender).with_to(to).with_input(data);
    let approving = TxSender::new(channels.node().clone(), sender);
    let receipt = system
        .env
        .rt
        .block_on(approving.send(request, Nonce::Pending, &Resend::never(Duration::from_secs(60))))
        .unwrap()
        .receipt;
    assert!(receipt.status());
    let before = nonce(&system);
    let topped = system.env.rt.block_on(channels.top_up(channel, U192::from(7))).unwrap();
    assert_eq!(topped.deposit, U192::from(20 * PRICE + 7));
    assert_eq!(nonce(&system), before + 1, "no approve when the allowance covers the top-up");

    // A top-up of a channel whose close was requested is refused before anything is sent (the
    // receiver may already have answered the request with its own close: then it is gone).
    system.env.rt.block_on(channels.close_uncooperatively(&topped)).unwrap();
    let before = nonce(&system);
    match system.env.rt.block_on(channels.top_up(&topped, U192::from(1))) {
        Err(SenderError::WouldRevert(revert)) => {
            let reason = format!("{revert}");
            assert!(reason.contains("CloseAlreadyRequested") || reason.contains("ChannelNotFound"), "{reason}");
        }
        other => panic!("a top-up during the challenge period: {other:?}"),
    }
    assert_eq!(nonce(&system), before, "a refused top-up sent a transaction");
}

#[test]
fn a_client_that_lost_its_store_recovers_from_the_chain_and_the_servers_signed_state() {
    let system = System::start();
    let client = system.client(policy());
    for _ in 0..4 {
        assert_eq!(system.get(&client, "/rdn").unwrap().response.status(), 200);
    }
    let path = client.channels().store().path().to_path_buf();
    drop(client);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let client = system.client(policy());
    assert!(system.env.rt.block_on(client.channels().channels()).unwrap().is_empty(), "the store is gone");
    assert_eq!(system.env.rt.block_on(client.channels().sync()).unwrap(), 1, "the chain knows the channel");
    let paid = system.get(&client, "/x402").unwrap();
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.payment.unwrap().balance, U192::from(5 * PRICE), "resynchronised to the server's 4 payments");
}

#[test]
fn caps_and_unsigned_corrections_stop_the_client() {
    let system = System::start();
    let capped = system.client(PaymentPolicy { max_price: U192::from(2), ..policy() });
    match system.get(&capped, "/x402") {
        Err(SenderError::PriceAboveCap { price, cap }) => assert_eq!((price, cap), (U192::from(PRICE), U192::from(2))),
        other => panic!("expected the price cap, got {other:?}"),
    }
    let small = system.client(PaymentPolicy { max_deposit: U192::from(2 * PRICE), deposit_prices: 2, ..policy() });
    for _ in 0..2 {
        assert_eq!(system.get(&small, "/x402").unwrap().response.status(), 200);
    }
    assert!(matches!(system.get(&small, "/x402"), Err(SenderError::DepositCap { .. })), "no top-up past the cap");

    let vetoed = system.client(policy()).with_approval(std::sync::Arc::new(|_| false));
    assert!(matches!(system.get(&vetoed, "/rdn"), Err(SenderError::NotApproved { .. })));

    let honest = system.client(policy());
    let before = system.env.rt.block_on(honest.channels().channels()).unwrap();
    match system.get(&honest, "/liar") {
        Err(SenderError::UnsignedCorrection { balance }) => assert_eq!(balance, U192::from(30)),
        other => panic!("expected an unsigned correction, got {other:?}"),
    }
    let after = system.env.rt.block_on(honest.channels().channels()).unwrap();
    assert_eq!(
        before.iter().map(|c| c.balance).collect::<Vec<_>>(),
        after.iter().map(|c| c.balance).collect::<Vec<_>>(),
        "the lie was not adopted"
    );
}

#[test]
fn an_uncooperative_close_below_the_last_payment_is_disputed_by_the_receiver() {
    let mut system = System::start();
    let client = system.client(policy());
    for _ in 0..3 {
        assert_eq!(system.get(&client, "/x402").unwrap().response.status(), 200);
    }
    let receiver = system.env.f.receiver.address();
    let receiver_before = system.env.f.balance(receiver);
    let channel = system.env.rt.block_on(client.channels().channels()).unwrap().remove(0);
    // The sender claims only the first payment.
    let stale = system
        .env
        .rt
        .block_on(client.channels().acknowledge(
            &uraiden::sender::SenderChannel { balance: U192::ZERO, signed: U192::ZERO, ..channel.clone() },
            U192::from(PRICE),
        ))
        .unwrap();
    let settle_block = system.env.rt.block_on(client.channels().close_uncooperatively(&stale)).unwrap();
    assert!(settle_block > 0);
    let node = common::provider(&system.env.url, None);
    for _ in 0..100 {
        if system
            .manager
            .channel(client.channels().sender(), channel.open_block)
            .is_some_and(|v| v.status == ChannelStatus::Settled)
        {
            break;
        }
        system.env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(system.env.f.balance(receiver), receiver_before + 3 * PRICE, "the receiver was paid its last proof");
}

/// `uraiden get`, `uraiden channels` and `uraiden channel close` as a user runs them, against
/// the real paywall: paid bodies on stdout or in a file, what was paid on stderr, the channel
/// listed, a cooperative close, and the fallback to closing alone when the receiver's server
/// cannot be reached (the receiver then closes with its proof at once).
#[test]
fn the_command_line_gets_lists_and_closes() {
    let mut system = System::start();
    let rpc = system.env.url.clone();
    let dir = system.data_dir.path().to_path_buf();
    let key = format!("{}", alloy_primitives::keccak256("uraiden test key 1"));
    let contract = system.env.f.c.channels.to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_uraiden"))
            .args(args)
            .args(["--contract", &contract, "--data-dir", dir.to_str().unwrap()])
            .env("PRIVATE_KEY", &key)
            .env("ETH_RPC_URL", &rpc)
            .output()
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "uraiden {args:?}: {stderr}");
        assert!(!stdout.contains(key.trim_start_matches("0x")) && !stderr.contains(key.trim_start_matches("0x")));
        (stdout, stderr)
    };
    let (sender, receiver) = (system.env.f.sender.address(), system.env.f.receiver.address());
    let (sender_before, receiver_before) = (system.env.f.balance(sender), system.env.f.balance(receiver));
    let url = format!("{}/x402", system.base);
    let nonce = system.env.f.chain.nonce(sender).unwrap();
    for i in 1..=3u64 {
        // The first opens the channel by ERC20: approve and createChannelERC20.
        let args = ["get", url.as_str(), "--deposit", "30", "--erc20"];
        let (stdout, stderr) = run(if i == 1 { &args } else { &args[..4] });
        if i == 1 {
            assert_eq!(system.env.f.chain.nonce(sender).unwrap(), nonce + 2, "approve + createChannelERC20");
        }
        assert_eq!(stdout, "x402 content");
        assert!(stderr.contains(&format!("paid {PRICE} to {receiver}")), "{stderr}");
        assert!(stderr.contains(&format!("balance now {}", i * PRICE)), "{stderr}");
    }
    let file = dir.join("body.txt");
    let (stdout, stderr) = run(&["get", &format!("{}/rdn", system.base), "-o", file.to_str().unwrap(), "--json"]);
    assert!(stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "rdn content");
    let paid: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(
        (paid["status"].as_u64(), paid["paid"].as_str(), paid["balance"].as_str()),
        (Some(200), Some("3"), Some("12"))
    );

    let (stdout, _) = run(&["channels", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let row = &listed.as_array().unwrap()[0];
    assert_eq!(
        (row["deposit"].as_str(), row["balance"].as_str(), row["room"].as_str()),
        (Some("30"), Some("12"), Some("18"))
    );
    assert_eq!(row["status"], "open");
    let open_block = row["open_block"].as_u64().unwrap().to_string();
    let (stdout, _) = run(&["channels"]);
    assert!(stdout.contains(&receiver.to_string()) && stdout.contains("open"), "{stdout}");

    let r = receiver.to_string();
    let (stdout, _) =
        run(&["channel", "close", "--receiver", &r, "--open-block", &open_block, "--cooperative", &system.base]);
    assert!(stdout.contains("closed cooperatively at balance 12"), "{stdout}");
    assert_eq!(system.env.f.balance(receiver), receiver_before + 12);
    assert_eq!(system.env.f.balance(sender), sender_before - 12);

    // A second channel; its receiver's server is not where the sender looks: it closes alone,
    // and the receiver's manager answers the close request with its proof at once.
    let (_, stderr) = run(&["get", &url, "--deposit", "30"]);
    assert!(stderr.contains("balance now 3"), "{stderr}");
    let (stdout, _) = run(&["channels", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let second = listed.as_array().unwrap().iter().find(|c| c["status"] == "open").expect("the second channel").clone();
    let open_block = second["open_block"].as_u64().unwrap().to_string();
    let (stdout, stderr) = run(&[
        "channel",
        "close",
        "--receiver",
        &r,
        "--open-block",
        &open_block,
        "--cooperative",
        "http://127.0.0.1:9",
    ]);
    assert!(stderr.contains("did not agree") && stdout.contains("close requested at balance 3"), "{stdout}{stderr}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while system.env.f.balance(receiver) != receiver_before + 15 {
        assert!(std::time::Instant::now() < deadline, "the receiver did not close with its proof");
        uraiden::chain::Chain::mine(&mut system.env.f.chain, 1).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(system.env.f.balance(sender), sender_before - 15);
    assert_eq!(system.env.f.balance(system.env.f.c.channels), 0);
}

/// A chain (anvil, no receiver's manager) and a server written from the specifications.
struct Bare {
    env: Env,
    spec: spec::SpecServer,
    terms: spec::Terms,
    data_dir: tempfile::TempDir,
}

impl Bare {
    fn start() -> Self {
        let env = Env::new();
        let chain_id = env.rt.block_on(Node::connect(&env.url, None)).unwrap().chain_id();
        let terms = spec::Terms {
            receiver: env.f.receiver.address(),
            contract: env.f.c.channels,
            token: env.f.c.token,
            chain_id,
            price: PRICE,
        };
        let spec = env.rt.block_on(spec::start(terms.clone()));
        Self { env, spec, terms, data_dir: tempfile::tempdir().unwrap() }
    }

    fn channels(&self) -> ChannelClient {
        let config = SenderConfig {
            rpc_url: self.env.url.clone(),
            contract: self.env.f.c.channels,
            deployment_block: 0,
            key: self.env.f.sender.clone(),
            data_dir: self.data_dir.path().to_path_buf(),
            deposit_path: DepositPath::Erc223,
        };
        self.env.rt.block_on(ChannelClient::connect(config)).unwrap()
    }

    fn client(&self, policy: PaymentPolicy) -> PayingClient {
        PayingClient::new(self.channels(), policy).unwrap()
    }

    fn get(&self, client: &PayingClient, path: &str) -> Result<uraiden::sender::PaidResponse, SenderError> {
        let request = client.http().get(format!("{}{path}", self.spec.base)).build().unwrap();
        self.env.rt.block_on(client.execute(request))
    }

    fn stored(&self, client: &PayingClient) -> Vec<uraiden::sender::SenderChannel> {
        self.env.rt.block_on(client.channels().channels()).unwrap()
    }

    /// The balances the server was sent on `path`.
    fn sent(&self, path: &str) -> Vec<String> {
        self.spec.seen(path).into_iter().map(|s| s.balance).collect()
    }
}

/// Item: a server answering a payment of 3 with `RDN-Sender-Balance: 27` (or an x402 receipt of
/// 27) made the client's next proof 30. Now a claimed balance other than the one just signed
/// stops the client, nothing is adopted, and the next proof is 6 at most. (The JS client's
/// `acknowledge` refuses the same claim: `js/test/unit/offline.test.mjs`.)
#[test]
fn a_server_claiming_more_than_was_signed_stops_the_client() {
    let bare = Bare::start();
    let client = bare.client(PaymentPolicy { max_price: U192::from(PRICE), ..policy() });
    for path in ["/claim", "/x402-claim"] {
        match bare.get(&client, path) {
            Err(SenderError::Protocol { reason, .. }) => assert!(reason.contains("27"), "{reason}"),
            other => panic!("{path}: expected a protocol error, got {other:?}"),
        }
        let channel = bare.stored(&client).remove(0);
        assert_eq!((channel.balance, channel.signed), (U192::ZERO, U192::from(PRICE)), "{path}: nothing adopted");
    }
    assert_eq!(bare.sent("/claim"), ["3"]);
    assert_eq!(bare.sent("/x402-claim"), ["3"], "the same proof again: never more than signed");
    let paid = bare.get(&client, "/honest").unwrap();
    assert_eq!(paid.payment.unwrap().balance, U192::from(PRICE));
    assert_eq!(bare.sent("/honest"), ["3"]);
    assert_eq!(bare.get(&client, "/honest").unwrap().payment.unwrap().balance, U192::from(2 * PRICE));

    // The JS client's scheme keeps the same rule: js/test/unit/offline.test.mjs (run by tests/js.rs).
}

/// Item: a `PAYMENT-REQUIRED` with another scheme listed first, a broken entry of ours, unknown
/// fields and no `resource.description` was unreadable, and the RDN headers were not tried.
#[test]
fn pays_an_x402_server_that_lists_other_schemes_and_omits_optional_fields() {
    let bare = Bare::start();
    let client = bare.client(policy());
    let paid = bare.get(&client, "/x402-lenient").unwrap();
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.payment.unwrap().balance, U192::from(PRICE));
    let seen = bare.spec.seen("/x402-lenient");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].protocol, "x402");
    assert_eq!(seen[0].accepted.as_ref(), Some(&spec::our_entry(&bare.terms)), "the entry echoed as written");

    // Only another scheme in x402: the RDN headers of the same 402 are used.
    let paid = bare.get(&client, "/x402-foreign").unwrap();
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.payment.unwrap().balance, U192::from(2 * PRICE));
    let seen = bare.spec.seen("/x402-foreign");
    assert_eq!((seen.len(), seen[0].protocol, seen[0].balance.as_str()), (1, "rdn", "6"));
}

/// Item: the client waited for the deposit through the project's own management API (300 s
/// against any other server). Now it retries the paid request, with the same proof, while the
/// server says confirmations are missing, within the confirmation timeout, and says so.
#[test]
fn waits_for_confirmations_by_retrying_the_payment_without_a_management_api() {
    let bare = Bare::start();
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = told.clone();
    let client = bare
        .client(PaymentPolicy { confirmation_timeout: Duration::from_secs(3), ..policy() })
        .with_progress(std::sync::Arc::new(move |m: &str| record.lock().unwrap().push(m.to_string())));
    let paid = bare.get(&client, "/slow").unwrap();
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.payment.unwrap().balance, U192::from(PRICE));
    assert_eq!(bare.sent("/slow"), ["3", "3", "3", "3"], "the same proof until the server accepts it");
    assert!(told.lock().unwrap().iter().any(|m| m.contains("waiting for the server")), "{told:?}");

    let started = std::time::Instant::now();
    match bare.get(&client, "/slow-never") {
        Err(SenderError::TimedOut { what, .. }) => assert!(what.contains("confirmation"), "{what}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by the confirmation timeout");
    assert!(bare.sent("/slow-never").iter().all(|b| b == "6"));

    // The command line shows the wait on stderr.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_uraiden"))
        .args(["get", &format!("{}/slow-cli", bare.spec.base), "--contract", &bare.env.f.c.channels.to_string()])
        .args(["--data-dir", bare.data_dir.path().to_str().unwrap()])
        .env("PRIVATE_KEY", format!("{}", alloy_primitives::keccak256("uraiden test key 1")))
        .env("ETH_RPC_URL", &bare.env.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for the server to accept the deposit"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "content");
}

/// Item: `RDN-Insufficient-Funds` made the client top up although the channel had room. Now the
/// client deposits only on its own account: right after its own deposit it waits for the server
/// to see it (bounded), and on a channel with room it stops with an error; the deposit never
/// moves.
#[test]
fn a_server_claiming_insufficient_funds_does_not_make_the_sender_top_up() {
    let mut bare = Bare::start();
    let client = bare.client(PaymentPolicy { confirmation_timeout: Duration::from_secs(1), ..policy() });
    match bare.get(&client, "/nofunds") {
        Err(SenderError::TimedOut { .. }) => {}
        other => panic!("right after opening: expected a bounded wait, got {other:?}"),
    }
    let nonce = bare.env.f.chain.nonce(bare.env.f.sender.address()).unwrap();
    for _ in 0..2 {
        match bare.get(&client, "/nofunds") {
            Err(SenderError::FundsDisputed { deposit, balance, .. }) => {
                assert_eq!((deposit, balance), (U192::from(10 * PRICE), U192::from(PRICE)))
            }
            other => panic!("expected the dispute, got {other:?}"),
        }
    }
    assert_eq!(bare.env.f.chain.nonce(bare.env.f.sender.address()).unwrap(), nonce, "nothing was sent on chain");
    let channels = bare.stored(&client);
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].deposit, U192::from(10 * PRICE), "no top-up");
    assert_eq!(bare.env.f.balance(bare.env.f.c.channels), 10 * PRICE, "the contract holds the first deposit only");
}

/// Item: no time limit on the sender's HTTP calls. A paid request to a server that accepts and
/// never answers fails after the request timeout; a cooperative close against it falls back to
/// closing alone.
#[test]
fn a_server_that_never_answers_times_out_and_a_cooperative_close_falls_back() {
    let bare = Bare::start();
    let silent = bare.env.rt.block_on(spec::silent());
    let client = bare.client(PaymentPolicy { request_timeout: Duration::from_secs(1), ..policy() });
    let started = std::time::Instant::now();
    let request = client.http().get(format!("{silent}/anything")).build().unwrap();
    let outcome = bare.env.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), client.execute(request)).await.expect("bounded by the client")
    });
    match outcome {
        Err(SenderError::Http(error)) => assert!(error.is_timeout(), "{error}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));

    let channels = bare.channels().with_http_timeout(Duration::from_secs(1));
    let channel = bare.env.rt.block_on(channels.open(bare.terms.receiver, U192::from(10))).unwrap();
    let closed = bare.env.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), channels.close(&channel, Some(&silent)))
            .await
            .expect("bounded by the client")
    });
    match closed.unwrap() {
        uraiden::sender::Closed::Uncooperatively { refusal: Some(refusal), .. } => {
            assert!(refusal.contains("no answer"), "{refusal}")
        }
        other => panic!("expected a fallback to closing alone, got {other:?}"),
    }
}

/// Item: two first runs at once failed with `table sender_meta already exists`. Many stores
/// opened at once on one fresh data directory all open, and share one schema.
#[test]
fn many_first_runs_on_one_fresh_data_directory_open_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (contract, sender) = (alloy_primitives::Address::repeat_byte(1), alloy_primitives::Address::repeat_byte(2));
    let opened = rt.block_on(async {
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let path = dir.path().join("data");
                tokio::spawn(async move { uraiden::sender::SenderStore::open(&path, 1, contract, sender).await })
            })
            .collect();
        let mut opened = Vec::new();
        for task in tasks {
            opened.push(task.await.unwrap());
        }
        opened
    });
    for store in &opened {
        assert!(store.is_ok(), "{:?}", store.as_ref().err().map(ToString::to_string));
    }
    let store = opened.into_iter().next().unwrap().unwrap();
    assert!(rt.block_on(store.channels()).unwrap().is_empty());
}

/// Item: a redirect stole payments (the client paid the URL it first asked, and reqwest carried
/// the payment headers along redirects). Now a payment goes only to the URL that answered 402,
/// payment headers never follow a redirect (before or after the payment), and the client's
/// account matches what the receiver registered.
#[test]
fn payments_go_only_to_the_url_that_asked_and_never_follow_a_redirect() {
    let system = System::start();
    let client = system.client(policy());
    // A site that redirects to the paywall, and keeps (and spends at the paywall) any payment
    // it is sent.
    let stolen = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let paywall = system.base.clone();
    let kept = stolen.clone();
    let evil = Router::new()
        .route(
            "/article",
            get(move |headers: axum::http::HeaderMap| {
                let (kept, paywall) = (kept.clone(), paywall.clone());
                async move {
                    if rdn::has_payment(&headers) || headers.contains_key(x402::PAYMENT_SIGNATURE) {
                        *kept.lock().unwrap() += 1;
                        let mut spend = reqwest::Client::new().get(format!("{paywall}/x402"));
                        for (name, value) in &headers {
                            if name.as_str().starts_with("rdn-") || name == x402::PAYMENT_SIGNATURE {
                                spend = spend.header(name, value);
                            }
                        }
                        let _ = spend.send().await;
                    }
                    axum::response::Redirect::temporary(&format!("{paywall}/x402"))
                }
            }),
        )
        .route("/landing", get(|| async { "landed" }));
    let evil_base = system.env.rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, evil).await.unwrap() });
        format!("http://{addr}")
    });

    for i in 1..=2u64 {
        let paid = system.get_url(&client, &format!("{evil_base}/article")).unwrap();
        assert_eq!(paid.response.status(), 200);
        assert_eq!(paid.redirects, [format!("{}/x402", system.base)]);
        let made = paid.payment.expect("paid");
        assert_eq!(made.url, format!("{}/x402", system.base), "paid to the URL that answered 402");
        assert_eq!(made.balance, U192::from(i * PRICE));
        assert_eq!(system.env.rt.block_on(paid.response.text()).unwrap(), "x402 content");
    }
    assert_eq!(*stolen.lock().unwrap(), 0, "the redirecting site was never sent a payment");

    // A paid route that answers with a redirect charges nothing (only 2xx is charged): the
    // client counts nothing paid, follows the redirect without the payment headers, and its
    // next payment signs the same balance again, which the paywall takes.
    let redirected = system.get(&client, "/moved").unwrap();
    assert_eq!(redirected.redirects, [format!("{}/free", system.base)]);
    assert_eq!(redirected.payment, None, "a redirect without a receipt is not counted as paid");
    assert_eq!(system.env.rt.block_on(redirected.response.text()).unwrap(), "free");
    let paid = system.get(&client, "/x402").unwrap();
    assert_eq!(paid.payment.expect("paid").balance, U192::from(3 * PRICE));

    let account: U192 = system.env.rt.block_on(client.channels().channels()).unwrap().iter().map(|c| c.balance).sum();
    assert_eq!(account, U192::from(3 * PRICE));
    assert_eq!(system.registered(), account, "the client's account is what the receiver registered");
}

/// `uraiden ARGS` as a user runs it, as the fixture's sender, on `contract` with the store in
/// `dir`.
fn uraiden(
    args: &[&str],
    rpc: &str,
    dir: &std::path::Path,
    contract: alloy_primitives::Address,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_uraiden"));
    command
        .args(args)
        .args(["--contract", &contract.to_string(), "--data-dir", dir.to_str().unwrap()])
        .env("PRIVATE_KEY", format!("{}", alloy_primitives::keccak256("uraiden test key 1")))
        .env("ETH_RPC_URL", rpc)
        .stdin(std::process::Stdio::null());
    command
}

/// Waits for `child` to exit within `limit`, else kills it and panics with `what`.
fn finish(mut child: std::process::Child, limit: Duration, what: &str) -> std::process::Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("{what}: still running after {limit:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The "Done when": `uraiden get https://…` pays an `https://` paywall on a node reached
/// over `https://`, trusting the certificate given in SSL_CERT_FILE (and nothing is paid without
/// it: the certificate is checked).
#[test]
fn the_command_line_pays_an_https_paywall_on_a_node_reached_over_https() {
    let system = System::start();
    let dir = tempfile::tempdir().unwrap();
    let (certified, cert_file) = spec::certificate(dir.path());
    let address = |url: &str| url::Url::parse(url).unwrap().socket_addrs(|| None).unwrap()[0];
    let (paywall, node) = (address(&system.base), address(&system.env.url));
    let (https_paywall, https_node) = system
        .env
        .rt
        .block_on(async { (spec::tls_front(&certified, paywall).await, spec::tls_front(&certified, node).await) });
    let url = format!("{https_paywall}/x402");
    let get = |trust: bool| {
        let mut command = uraiden(&["get", &url], &https_node, system.data_dir.path(), system.env.f.c.channels);
        command.env_remove("SSL_CERT_DIR");
        match trust {
            true => command.env("SSL_CERT_FILE", &cert_file),
            false => command.env_remove("SSL_CERT_FILE"),
        };
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        finish(command.spawn().unwrap(), Duration::from_secs(60), "uraiden get https://")
    };

    let untrusted = get(false);
    assert!(!untrusted.status.success(), "an unknown certificate was accepted");
    assert_eq!(system.registered(), U192::ZERO);

    let out = get(true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x402 content");
    assert!(stderr.contains(&format!("paid {PRICE} to")) && stderr.contains(&url), "{stderr}");
    assert_eq!(system.registered(), U192::from(PRICE));
}

/// Item: a `get` killed while its open was pending was followed by a second open past the cap.
/// Now the deposit is recorded before it is sent; the next run reconciles with the chain and
/// deposits nothing more while it is pending; once mined, the channel is found from the chain's
/// events and paid through.
#[test]
fn an_open_killed_while_pending_is_reconciled_and_never_doubled() {
    let mut system = System::start();
    let provider = common::provider(&system.env.url, None);
    let sender = system.env.f.sender.address();
    let rt = &system.env.rt;
    let url = format!("{}/x402", system.base);
    let get = || {
        let args = ["get", &url, "--deposit", "50", "--max-deposit", "60"];
        let mut command = uraiden(&args, &system.env.url, system.data_dir.path(), system.env.f.c.channels);
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let nonces = || {
        rt.block_on(async {
            let latest = provider.get_transaction_count(sender).latest().await.unwrap();
            let pending = provider.get_transaction_count(sender).pending().await.unwrap();
            (latest, pending)
        })
    };

    rt.block_on(provider.anvil_set_auto_mine(false)).unwrap();
    let (mined, _) = nonces();
    let mut first = get();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while nonces().1 == mined {
        assert!(std::time::Instant::now() < deadline, "the open was never sent");
        assert!(first.try_wait().unwrap().is_none(), "the first run ended before its open was mined");
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap();
    first.wait().unwrap();

    let again = finish(get(), Duration::from_secs(30), "the run after the killed one");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("still pending"), "{stderr}");
    assert_eq!(nonces(), (mined, mined + 1), "one transaction pending, nothing more sent");

    rt.block_on(provider.anvil_set_auto_mine(true)).unwrap();
    rt.block_on(provider.anvil_mine(Some(1), None)).unwrap();
    let paid = finish(get(), Duration::from_secs(60), "the run after the open was mined");
    let stderr = String::from_utf8_lossy(&paid.stderr);
    assert!(paid.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("balance now {PRICE}")), "{stderr}");
    assert_eq!(nonces().0, mined + 1, "no second open");
    let client = system.client(policy());
    let channels = rt.block_on(client.channels().channels()).unwrap();
    assert_eq!(channels.len(), 1, "{channels:?}");
    assert_eq!((channels[0].deposit, channels[0].balance), (U192::from(50), U192::from(PRICE)));
    assert_eq!(system.env.f.balance(system.env.f.c.channels), 50);
}

/// A deposit recorded but never sent (the run died before sending it, or the node dropped it)
/// does not block the receiver forever: the node holds nothing at its nonce, so it is forgotten
/// and the client deposits anew.
#[test]
fn a_recorded_deposit_the_node_never_got_is_forgotten() {
    let bare = Bare::start();
    let client = bare.client(policy());
    let next = bare.env.f.chain.nonce(bare.env.f.sender.address()).unwrap();
    let never_sent = uraiden::sender::PendingDeposit {
        nonce: next,
        txs: 1,
        receiver: bare.terms.receiver,
        open_block: None,
        amount: U192::from(50),
    };
    bare.env.rt.block_on(client.channels().store().add_pending(&never_sent)).unwrap();
    let paid = bare.get(&client, "/honest").unwrap();
    assert_eq!(paid.payment.unwrap().balance, U192::from(PRICE));
    assert!(bare.env.rt.block_on(client.channels().store().pending()).unwrap().is_empty());
    assert_eq!(bare.stored(&client).len(), 1);
}

/// Item: a deposit was recorded at the node's pending nonce but sent with the provider's cached
/// nonce, which runs ahead of the node after a send the node lost: the record and the
/// transaction disagreed (and the next run forgot the record and opened again). Now each
/// transaction carries the recorded nonce. And the wait for a receipt is bounded: a deposit that
/// is never mined fails with a timeout, its record kept for the next run to reconcile.
#[test]
fn a_deposit_is_sent_at_its_recorded_nonce_and_its_receipt_wait_is_bounded() {
    let bare = Bare::start();
    let rt = &bare.env.rt;
    let channels = bare.channels().with_receipt_timeout(Duration::from_secs(15));
    let provider = common::provider(&bare.env.url, Some(&bare.env.f.sender));
    let sender = channels.sender();
    let receiver = bare.terms.receiver;
    let nonces = || {
        rt.block_on(async {
            let latest = provider.get_transaction_count(sender).latest().await.unwrap();
            let pending = provider.get_transaction_count(sender).pending().await.unwrap();
            (latest, pending)
        })
    };

    // A send from the sender's account that the node then loses: a nonce count kept by whoever
    // sent it (before, the cache of the client's own provider) is one ahead of the node.
    let (mined, _) = nonces();
    rt.block_on(provider.anvil_set_auto_mine(false)).unwrap();
    let lost =
        TransactionRequest::default().with_from(sender).with_to(receiver).with_value(alloy_primitives::U256::from(1));
    let hash = *rt.block_on(provider.send_transaction(lost)).unwrap().tx_hash();
    rt.block_on(provider.anvil_drop_transaction(hash)).unwrap();
    rt.block_on(provider.anvil_set_auto_mine(true)).unwrap();
    assert_eq!(nonces(), (mined, mined), "the node lost the transaction");

    let opened = rt.block_on(channels.open(receiver, U192::from(30))).expect("opened at the recorded nonce");
    assert_eq!(nonces(), (mined + 1, mined + 1), "sent at the nonce recorded");
    assert!(rt.block_on(channels.store().pending()).unwrap().is_empty());
    assert_eq!(opened.deposit, U192::from(30));

    // A deposit that is never mined: the receipt wait ends, the record stays.
    let channels = channels.with_receipt_timeout(Duration::from_secs(1));
    rt.block_on(provider.anvil_set_auto_mine(false)).unwrap();
    let error = rt.block_on(channels.top_up(&opened, U192::from(5))).unwrap_err();
    assert!(
        matches!(&error, SenderError::TimedOut { what, .. } if what.contains("receipt") && what.contains(&format!("nonce {}", mined + 1))),
        "{error}"
    );
    let pending = rt.block_on(channels.store().pending()).unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].nonce, mined + 1);
    assert_eq!(rt.block_on(channels.pending_deposits(receiver)).unwrap().len(), 1, "still pending on the node");

    rt.block_on(provider.anvil_set_auto_mine(true)).unwrap();
    rt.block_on(provider.anvil_mine(Some(1), None)).unwrap();
    assert!(rt.block_on(channels.pending_deposits(receiver)).unwrap().is_empty(), "reconciled once mined");
    let stored = rt.block_on(channels.channels()).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].deposit, U192::from(35), "the top-up found from the chain");
}

/// Item: a server's `extra.confirmations` was added to the head unchecked (an overflow that, in
/// release, skipped the wait). An absurd count is now a bad challenge: nothing is deposited or
/// paid.
#[test]
fn an_absurd_confirmation_count_is_a_bad_challenge() {
    let mut bare = Bare::start();
    let client = bare.client(policy());
    let error = bare.get(&client, "/x402-absurd").unwrap_err();
    assert!(matches!(&error, SenderError::BadChallenge(reason) if reason.contains("confirmations")), "{error}");
    assert!(bare.spec.seen("/x402-absurd").is_empty());
    assert!(bare.stored(&client).is_empty(), "no channel opened");
    let contract = bare.env.f.c.channels;
    assert_eq!(bare.env.f.balance(contract), 0);
}

/// Item: an `https://` request redirected to `http://` before its 402 was paid in clear text.
/// Now `uraiden get https://…` refuses to pay a 402 from a plain `http://` URL.
#[test]
fn a_redirect_from_https_to_plain_http_is_not_paid() {
    let mut bare = Bare::start();
    let dir = tempfile::tempdir().unwrap();
    let (certified, cert_file) = spec::certificate(dir.path());
    let plain = url::Url::parse(&bare.spec.base).unwrap().socket_addrs(|| None).unwrap()[0];
    let https = bare.env.rt.block_on(spec::tls_front(&certified, plain));
    let url = format!("{https}/downgrade?to={}/honest", bare.spec.base);
    let mut command = uraiden(&["get", &url], &bare.env.url, bare.data_dir.path(), bare.env.f.c.channels);
    command.env_remove("SSL_CERT_DIR").env("SSL_CERT_FILE", &cert_file);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = finish(command.spawn().unwrap(), Duration::from_secs(60), "uraiden get https:// redirected to http://");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("plain http") && stderr.contains("/honest"), "{stderr}");
    assert!(bare.spec.seen("/honest").is_empty(), "nothing sent in clear text");
    let contract = bare.env.f.c.channels;
    assert_eq!(bare.env.f.balance(contract), 0, "nothing deposited");
}

#[test]
fn prepaid_sessions_are_bought_within_the_cap_and_spent_before_paying_again() {
    let system = System::start();
    let client = system.client(PaymentPolicy { max_prepay: 4, ..policy() });
    let mut payments = Vec::new();
    let mut left = Vec::new();
    for i in 0..8 {
        let paid = system.get(&client, &format!("/sess/{i}")).unwrap();
        assert_eq!(paid.response.status(), 200, "request {i}");
        assert_eq!(system.env.rt.block_on(paid.response.text()).unwrap(), "session content");
        payments.push(paid.payment.map(|p| p.amount));
        left.push(paid.session_remaining);
    }
    // Two payments of 4 prices (the cap, below the server's 10), each followed by 3 requests
    // served from the session without a payment.
    let four = Some(U192::from(4 * PRICE));
    assert_eq!(payments, [four, None, None, None, four, None, None, None]);
    assert_eq!(left, [Some(3), Some(2), Some(1), Some(0), Some(3), Some(2), Some(1), Some(0)]);
    assert_eq!(system.registered(), U192::from(8 * PRICE));
    // A route selling no sessions is paid per request, cap or not.
    let paid = system.get(&client, "/x402").unwrap();
    assert_eq!((paid.payment.map(|p| p.amount), paid.session_remaining), (Some(U192::from(PRICE)), None));
    // Without a cap the client never prepays.
    let plain = system.client(policy());
    let paid = system.get(&plain, "/sess/x").unwrap();
    assert_eq!((paid.payment.map(|p| p.amount), paid.session_remaining), (Some(U192::from(PRICE)), None));
}

#[test]
fn a_credential_granting_other_than_what_was_bought_stops_the_client() {
    let system = System::start();
    let client = system.client(PaymentPolicy { max_prepay: 5, ..policy() });
    let error = system.get(&client, "/sold/a").unwrap_err();
    assert!(
        matches!(&error, SenderError::Protocol { reason, .. } if reason.contains("not what was bought")),
        "{error}"
    );
    // Nothing of the bad credential is kept: the next request pays with a proof again.
    let paid = system.get(&client, "/sold/b");
    assert!(paid.is_err(), "the same server, the same answer");
    assert_eq!(system.registered(), U192::from(10 * PRICE), "two sessions of 5 were paid, and never used");
}

#[test]
fn the_command_line_prepays_a_session_for_its_urls_and_the_close_refunds_the_rest() {
    let system = System::start();
    let dir = system.data_dir.path().to_path_buf();
    let key = format!("{}", alloy_primitives::keccak256("uraiden test key 1"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_uraiden"))
            .args(args)
            .args(["--contract", &system.env.f.c.channels.to_string(), "--data-dir", dir.to_str().unwrap()])
            .env("PRIVATE_KEY", &key)
            .env("ETH_RPC_URL", &system.env.url)
            .output()
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "uraiden {args:?}: {stderr}");
        (stdout, stderr)
    };
    let urls: Vec<String> = (0..3).map(|i| format!("{}/sess/{i}", system.base)).collect();
    let mut args = vec!["get", "--max-prepay", "4", "--deposit", "40"];
    args.extend(urls.iter().map(String::as_str));
    let (stdout, stderr) = run(&args);
    assert_eq!(stdout, "session content".repeat(3));
    assert!(stderr.contains(&format!("paid {} to", 4 * PRICE)), "one payment of four prices: {stderr}");
    assert!(stderr.contains("the payment bought a prepaid session: 3 more request(s)"), "{stderr}");
    assert!(stderr.contains("paid from a prepaid session (2 request(s) left)"), "{stderr}");
    assert!(stderr.contains("paid from a prepaid session (1 request(s) left)"), "{stderr}");
    assert_eq!(system.registered(), U192::from(4 * PRICE));

    let (stdout, _) = run(&["channels", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let open_block = listed[0]["open_block"].as_u64().unwrap().to_string();
    let receiver = system.env.f.receiver.address().to_string();
    let (stdout, _) =
        run(&["channel", "close", "--receiver", &receiver, "--open-block", &open_block, "--cooperative", &system.base]);
    let refunded =
        format!("closed cooperatively at balance {}, {PRICE} of unused prepaid requests refunded", 3 * PRICE);
    assert!(stdout.contains(&refunded), "{stdout}");
}
