//! The sender's clients against the real paywall over HTTP, a channel manager and anvil.

#[path = "../common/mod.rs"]
mod common;
#[path = "../receiver/env.rs"]
mod env;

use std::{net::SocketAddr, time::Duration};

use alloy::{
    network::TransactionBuilder,
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
};
use alloy_primitives::aliases::U192;
use axum::{Router, http::HeaderValue, routing::get};
use uraiden::{
    chain::Node,
    paywall::{PaywallLayer, Terms, api, challenge, rdn, x402},
    receiver::{ChannelManager, ChannelStatus},
    sender::{ChannelClient, DepositPath, PayingClient, PaymentPolicy, SenderConfig, SenderError},
};

use env::Env;

const PRICE: u64 = 3;

struct System {
    env: Env,
    manager: ChannelManager,
    base: String,
    data_dir: tempfile::TempDir,
}

/// `/x402` offers both protocols; `/rdn` strips `PAYMENT-REQUIRED` (an RDN-only server);
/// `/liar` answers every payment with a correction the sender never signed.
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
                    false,
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
    paid(Router::new().route("/x402", get(|| async { "x402 content" })))
        .merge(rdn_only)
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
        PayingClient::new(reqwest::Client::new(), channels, policy)
    }

    fn get(&self, client: &PayingClient, path: &str) -> Result<uraiden::sender::PaidResponse, SenderError> {
        let request = client.http().get(format!("{}{path}", self.base)).build().unwrap();
        self.env.rt.block_on(client.execute(request))
    }

    /// The balances the receiver registered, over all its channels.
    fn registered(&self) -> U192 {
        self.manager.channels().iter().map(|c| c.balance).sum()
    }
}

fn policy() -> PaymentPolicy {
    PaymentPolicy { deposit_prices: 10, top_up_prices: 10, ..PaymentPolicy::default() }
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
    // the client's own node connection: it keeps the sender's nonces.)
    let approve = uraiden::contract::Call::Approve { spender: f.c.channels, amount: common::u256(1_000) };
    let (to, data) = approve.encode(f.c.token, f.c.channels);
    let request = TransactionRequest::default().with_from(sender).with_to(to).with_input(data);
    let receipt = system.env.rt.block_on(async {
        channels.node().provider().send_transaction(request).await.unwrap().get_receipt().await.unwrap()
    });
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
    let node = system.env.rt.block_on(Node::connect(&system.env.url, None)).unwrap();
    for _ in 0..100 {
        if system
            .manager
            .channel(client.channels().sender(), channel.open_block)
            .is_some_and(|v| v.status == ChannelStatus::Settled)
        {
            break;
        }
        system.env.rt.block_on(node.provider().anvil_mine(Some(1), None)).unwrap();
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
