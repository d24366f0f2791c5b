//! The main job: the whole system on a local chain, with no setup. Starts the pinned anvil,
//! deploys the token and the channel contract, starts a receiver (channel manager and paywall)
//! on a loopback port, and has a sender's paying client buy paid requests (opening a channel and
//! topping it up as the deposit runs out), once with a balance proof per request and once with
//! prepaid sessions, then close cooperatively (the sessions' unused requests refunded).

use std::{path::Path, time::Instant};

use alloy_primitives::{U256, aliases::U192};
use anyhow::Context;
use axum::{Router, routing::get};

use uraiden::{
    chain::{Chain, RpcChain},
    contract::Contracts,
    node::Node,
    paywall::{PaywallLayer, PaywallPage, TokenInfo, api},
    proof::Signer,
    receiver::{ChannelManager, ManagerConfig, SessionTerms},
    sender::{ChannelClient, DepositPath, PayingClient, PaymentPolicy, SenderConfig},
};

/// What the main job buys.
#[derive(Debug, clap::Args)]
pub(crate) struct SystemArgs {
    /// How many paid requests the sender buys [default: 100].
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// The price of one request, in token base units [default: 1].
    #[arg(long, value_name = "P")]
    price: Option<u64>,
}

impl SystemArgs {
    /// Whether any of the main job's options was given.
    pub(crate) fn given(&self) -> bool {
        self.requests.is_some() || self.price.is_some()
    }

    fn requests(&self) -> u64 {
        self.requests.unwrap_or(100)
    }

    fn price(&self) -> u64 {
        self.price.unwrap_or(1)
    }
}

const CHALLENGE_PERIOD: u32 = 10;
const SENDER_TOKENS: u64 = 10_000;

pub(crate) fn run(args: SystemArgs) -> anyhow::Result<()> {
    if args.price() == 0 || args.requests() == 0 {
        anyhow::bail!("--requests and --price must be at least 1");
    }
    let (deployer, sender, receiver) = (Signer::test_key(0), Signer::test_key(1), Signer::test_key(2));
    let (sender_address, receiver_address) = (sender.address(), receiver.address());
    let anvil = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil");
    let mut chain = RpcChain::spawn_anvil(&anvil, &[deployer.clone(), sender.clone(), receiver.clone()])
        .with_context(|| format!("starting {} (npm ci installs it)", anvil.display()))?;
    let url = chain.anvil_endpoint().context("the anvil endpoint")?;
    let (contracts, _) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000), CHALLENGE_PERIOD)?;
    contracts.transfer(&mut chain, deployer.address(), sender.address(), U256::from(SENDER_TOKENS))?;
    println!("uraiden: the whole system on a local chain");
    println!("  anvil      {url} (chain {})", chain.chain_id());
    println!("  token      {}", contracts.token);
    println!("  contract   {} (challenge period {CHALLENGE_PERIOD} blocks)", contracts.channels);
    println!("  receiver   {}", receiver.address());
    println!("  sender     {} ({SENDER_TOKENS} tokens)", sender.address());

    let dir = tempfile::tempdir().context("a temporary directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(buy(&url, &contracts, receiver, sender, dir.path(), &args))?;
    drop(runtime);

    println!("balances on chain");
    for (name, who) in [("sender", sender_address), ("receiver", receiver_address), ("contract", contracts.channels)] {
        println!("  {name:<10} {}", contracts.balance_of(&mut chain, who)?);
    }
    Ok(())
}

async fn buy(
    url: &str,
    contracts: &Contracts,
    receiver: Signer,
    sender: Signer,
    dir: &Path,
    args: &SystemArgs,
) -> anyhow::Result<()> {
    let store = format!("sqlite://{}", dir.join("receiver.db").display());
    let mut config = ManagerConfig::new(url, contracts.channels, receiver, store);
    config.confirmations = 1;
    config.poll_interval = std::time::Duration::from_millis(100);
    let manager = ChannelManager::start(config).await?;
    let page = PaywallPage::new(TokenInfo::read(&Node::connect(url, None).await?, contracts.token).await?);
    let sessions =
        SessionTerms { scope: "/session/".into(), max_requests: 1000, ttl: std::time::Duration::from_secs(3600) };
    let prepaid = Router::new().route("/session/{item}", get(|| async { "a paid resource\n" })).route_layer(
        PaywallLayer::new(manager.clone(), U192::from(args.price())).with_page(page.clone()).with_sessions(sessions),
    );
    let app = Router::new()
        .route("/paid", get(|| async { "a paid resource\n" }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(args.price())).with_page(page))
        .merge(prepaid)
        .merge(api::router(manager.clone(), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let api_base = uraiden::protocol::api::API_BASE;
    println!("  paywall    {base}/paid (price {}), management API {base}{api_base}", args.price());
    println!("  sessions   {base}/session/* (the same price, up to 1000 requests per payment)");

    let sender_config = SenderConfig {
        rpc_url: url.to_string(),
        contract: contracts.channels,
        deployment_block: 0,
        key: sender,
        data_dir: dir.join("sender"),
        deposit_path: DepositPath::Erc223,
    };
    let channels = ChannelClient::connect(sender_config).await?;
    // Deposits of 40 prices: a demo of 100 requests opens one channel and tops it up twice.
    let policy = PaymentPolicy { deposit_prices: 40, top_up_prices: 40, ..PaymentPolicy::default() };
    let client = PayingClient::new(channels.clone(), policy.clone())?;
    let (per_proof, balance) = buy_requests(&client, &format!("{base}/paid"), args.requests(), "").await?;
    let channels_now = client.channels().channels().await?;
    println!(
        "bought {} paid requests in {:.2} s ({:.0} requests/s): balance {balance}, {} channel(s), deposit {}",
        args.requests(),
        per_proof,
        args.requests() as f64 / per_proof,
        channels_now.len(),
        channels_now.iter().map(|c| c.deposit).sum::<U192>(),
    );
    // The rates side by side, without deposits on the way: a top-up for both runs first.
    let channel = channels_now.first().context("no channel was opened")?.clone();
    let added = U192::from(2 * args.requests() * args.price());
    let topped_up = client.channels().top_up(&channel, added).await?;
    wait_for_deposit(&manager, client.channels().sender(), &topped_up).await?;
    println!("topped up by {added}: deposit {}", topped_up.deposit);
    let (per_proof, _) = buy_requests(&client, &format!("{base}/paid"), args.requests(), "").await?;
    println!(
        "bought {} more, one proof each, in {per_proof:.2} s ({:.0} requests/s)",
        args.requests(),
        args.requests() as f64 / per_proof
    );
    // Each payment buys up to 100 requests as a prepaid session.
    let sessions = PayingClient::new(channels, PaymentPolicy { max_prepay: 100, ..policy })?;
    let (prepaid, _) = buy_requests(&sessions, &format!("{base}/session"), args.requests(), "/").await?;
    println!(
        "bought {} more with prepaid sessions of up to 100 requests, in {prepaid:.2} s ({:.1}x, {:.0} requests/s)",
        args.requests(),
        per_proof / prepaid,
        args.requests() as f64 / prepaid,
    );
    let channels_now = client.channels().channels().await?;
    for channel in channels_now.iter().filter(|c| !c.balance.is_zero()) {
        let unused = manager.unused_prepaid(client.channels().sender(), channel.open_block).await?;
        let tx = client.channels().close_cooperatively(channel, &base).await?;
        println!(
            "closed cooperatively at balance {} ({unused} of unused prepaid requests refunded; tx {tx})",
            channel.balance - unused
        );
    }
    server.abort();
    manager.shutdown().await;
    Ok(())
}

/// Buys `n` requests of `url` (each at `url` + `separator` + its number, when a separator is
/// given) with `client`; returns the seconds it took and the channel's balance after.
async fn buy_requests(client: &PayingClient, url: &str, n: u64, separator: &str) -> anyhow::Result<(f64, U192)> {
    let progress = indicatif::ProgressBar::new(n).with_style(
        indicatif::ProgressStyle::with_template("  buying     {bar:40} {pos}/{len} {per_sec}")
            .expect("a valid template"),
    );
    let start = Instant::now();
    let mut balance = U192::ZERO;
    for i in 0..n {
        let url = if separator.is_empty() { url.to_string() } else { format!("{url}{separator}{i}") };
        let paid = client.execute(client.http().get(url).build()?).await?;
        anyhow::ensure!(paid.response.status().is_success(), "the paywall answered {}", paid.response.status());
        if let Some(payment) = &paid.payment {
            balance = payment.balance;
        }
        anyhow::ensure!(paid.payment.is_some() || paid.session_remaining.is_some(), "the request was not paid");
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok((start.elapsed().as_secs_f64(), balance))
}

/// Waits (up to 30 s) until the receiver has confirmed `channel`'s deposit.
async fn wait_for_deposit(
    manager: &ChannelManager,
    sender: alloy_primitives::Address,
    channel: &uraiden::sender::SenderChannel,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while manager.channel(sender, channel.open_block).is_none_or(|c| c.deposit < channel.deposit) {
        anyhow::ensure!(Instant::now() < deadline, "the receiver did not see the top-up within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}
