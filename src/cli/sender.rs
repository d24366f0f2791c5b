//! The sender's commands: `uraiden get URL` (a curl that pays), `uraiden channels` (the sender's
//! channels across receivers), and the client side of `uraiden channel open|topup|close|settle`.
//! Channels are kept in a local store under the data directory and rebuilt from the chain when
//! missing.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use alloy_primitives::{Address, aliases::U192};
use anyhow::{Context, bail};
use reqwest::Method;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{deploy::DeploymentRecord, key::NodeArgs};
use uraiden::{
    channel::ChannelStatus,
    node::Node,
    sender::{ChannelClient, Closed, DepositPath, PayingClient, PaymentPolicy, SenderChannel, SenderConfig},
};

/// Where the sender's channels are kept and which contract they are on.
#[derive(Debug, clap::Args)]
pub(crate) struct SenderArgs {
    /// Where the sender's channel store lives [default: $XDG_DATA_HOME/uraiden, or
    /// ~/.local/share/uraiden].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The channel contract [default: from deployments/<chain id>.json].
    #[arg(long, global = true, value_name = "ADDRESS")]
    contract: Option<Address>,
    /// Deposit by ERC20 (approve, then createChannelERC20 or topUpERC20) instead of one ERC223
    /// transfer.
    #[arg(long, global = true)]
    erc20: bool,
}

/// `uraiden get`.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The URLs to fetch (and pay for, on a 402), one after the other; their bodies follow each
    /// other on standard output.
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,
    /// The HTTP method [default: GET, or POST with -d, as curl does].
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// The request body; `@FILE` reads it from FILE.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Write the body to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// The most one request may cost, in token base units; a dearer request is refused.
    #[arg(long, default_value = "1000000", value_name = "AMOUNT")]
    max_price: U192,
    /// A new channel's deposit and each top-up, in token base units [default: 10 prices].
    #[arg(long, value_name = "AMOUNT")]
    deposit: Option<U192>,
    /// The most deposited to one receiver, in all open channels together, in base units.
    #[arg(long, default_value = "100000000", value_name = "AMOUNT")]
    max_deposit: U192,
    /// Where a server sells prepaid sessions, the most requests one payment may buy (1: never
    /// prepay). The session serves the next URLs of this command in its scope; what it does not
    /// use is refunded by a cooperative close (`uraiden channel close --cooperative`).
    #[arg(long, default_value = "1", value_name = "REQUESTS", value_parser = clap::value_parser!(u32).range(1..))]
    max_prepay: u32,
    /// Print what was paid as one JSON object (on standard error) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    sender: SenderArgs,
    /// Where `uraiden deploy` recorded the contracts.
    #[arg(long, default_value = "deployments", value_name = "DIR")]
    deployments_dir: PathBuf,
}

/// `uraiden channels`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChannelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    sender: SenderArgs,
    /// Where `uraiden deploy` recorded the contracts.
    #[arg(long, default_value = "deployments", value_name = "DIR")]
    deployments_dir: PathBuf,
}

/// The platform's data directory for uraiden.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("uraiden"));
    }
    let home = std::env::var_os("HOME").context("no data directory: pass --data-dir DIR (HOME is not set)")?;
    Ok(PathBuf::from(home).join(".local/share/uraiden"))
}

/// The sender's channel client: the node, the key, the contract and the local store; deposits
/// by ERC20 with `--erc20`, else by ERC223.
pub(crate) async fn client(node: &NodeArgs, sender: &SenderArgs, deployments: &Path) -> anyhow::Result<ChannelClient> {
    let deposit_path = if sender.erc20 { DepositPath::Erc20 } else { DepositPath::Erc223 };
    client_depositing(node, sender, deployments, deposit_path).await
}

/// [`client`], depositing by `deposit_path`.
async fn client_depositing(
    node: &NodeArgs,
    sender: &SenderArgs,
    deployments: &Path,
    deposit_path: DepositPath,
) -> anyhow::Result<ChannelClient> {
    let url = node.rpc_url()?;
    let key = node.signer()?;
    let (contract, deployment_block) = match sender.contract {
        Some(contract) => (contract, 0),
        None => {
            let chain_id = Node::connect(&url, None).await?.chain_id();
            let record = DeploymentRecord::load(deployments, chain_id)
                .context("pass --contract ADDRESS, or run from the folder holding deployments/")?;
            (record.channels, record.block)
        }
    };
    let data_dir = match &sender.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let config = SenderConfig { rpc_url: url.to_string(), contract, deployment_block, key, data_dir, deposit_path };
    Ok(ChannelClient::connect(config).await?)
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// `uraiden get URL`.
pub(crate) fn get(args: GetArgs, node: &NodeArgs) -> anyhow::Result<()> {
    runtime()?.block_on(get_async(args, node))
}

async fn get_async(args: GetArgs, node: &NodeArgs) -> anyhow::Result<()> {
    let method = match &args.method {
        Some(name) => {
            Method::from_bytes(name.as_bytes()).map_err(|_| anyhow::anyhow!("-X {name:?} is not an HTTP method"))?
        }
        None if args.data.is_some() => Method::POST,
        None => Method::GET,
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for header in &args.headers {
        let (name, value) = header.split_once(':').with_context(|| format!("-H {header:?} is not `Name: value`"))?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("-H {header:?}: bad header name"))?;
        let value = reqwest::header::HeaderValue::from_str(value.trim())
            .with_context(|| format!("-H {header:?}: bad header value"))?;
        headers.append(name, value);
    }
    let body = match &args.data {
        Some(data) => match data.strip_prefix('@') {
            Some(path) => Some(tokio::fs::read(path).await.with_context(|| format!("reading -d @{path}"))?),
            None => Some(data.clone().into_bytes()),
        },
        None => None,
    };
    let channels = client(node, &args.sender, &args.deployments_dir).await?;
    let policy = PaymentPolicy {
        max_price: args.max_price,
        max_deposit: args.max_deposit,
        deposit: args.deposit,
        max_prepay: args.max_prepay,
        ..PaymentPolicy::default()
    };
    if args.output.is_some() && args.urls.len() > 1 {
        bail!("-o FILE takes one URL's body; {} URLs were given", args.urls.len());
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message("waiting for the server (paying, confirmations)");
    let shown = spinner.clone();
    let progress = std::sync::Arc::new(move |message: &str| shown.suspend(|| eprintln!("{message}")));
    let paying = PayingClient::new(channels, policy)?.with_progress(progress);
    let mut failed = None;
    for url in &args.urls {
        let mut request = paying.http().request(method.clone(), url).headers(headers.clone());
        if let Some(body) = &body {
            request = request.body(body.clone());
        }
        let request = request.build().with_context(|| format!("the URL {url:?}"))?;
        spinner.enable_steady_tick(Duration::from_millis(120));
        let paid = paying.execute(request).await;
        spinner.finish_and_clear();
        let paid = paid?;
        let status = paid.response.status();
        report(&paid, args.json)?;
        write_body(paid.response, args.output.as_deref()).await?;
        if !status.is_success() && !status.is_redirection() {
            failed.get_or_insert(status);
        }
    }
    if let Some(status) = failed {
        bail!("the server answered {status}");
    }
    Ok(())
}

/// Writes a response's body to `output`, or to standard output.
async fn write_body(mut response: reqwest::Response, output: Option<&Path>) -> anyhow::Result<()> {
    let bar = match response.content_length() {
        Some(length) => indicatif::ProgressBar::new(length),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let mut out: Box<dyn AsyncWrite + Unpin + Send> = match output {
        Some(path) => Box::new(tokio::io::BufWriter::new(
            tokio::fs::File::create(path).await.with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(tokio::io::stdout()),
    };
    if output.is_none() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    while let Some(chunk) = response.chunk().await.context("reading the response body")? {
        out.write_all(&chunk).await.context("writing the body")?;
        bar.inc(chunk.len() as u64);
    }
    out.flush().await.context("writing the body")?;
    bar.finish_and_clear();
    Ok(())
}

/// What was paid, and the redirects followed (never with the payment), on standard error.
fn report(paid: &uraiden::sender::PaidResponse, json: bool) -> anyhow::Result<()> {
    let (payment, redirects, status) = (&paid.payment, &paid.redirects, paid.response.status());
    if json {
        let mut value = match payment {
            Some(p) => serde_json::json!({
                "status": status.as_u16(), "paid": p.amount.to_string(), "receiver": p.receiver,
                "open_block": p.open_block, "balance": p.balance.to_string(), "paid_url": p.url,
            }),
            None => serde_json::json!({ "status": status.as_u16(), "paid": "0" }),
        };
        value["redirects"] = redirects.as_slice().into();
        if let Some(remaining) = paid.session_remaining {
            value["session_remaining"] = remaining.into();
        }
        eprintln!("{value}");
    } else {
        for url in redirects {
            eprintln!("redirected to {url} (followed without payment headers)");
        }
        match payment {
            Some(p) => eprintln!(
                "paid {} to {} at {} (channel opened in block {}, balance now {}); {status}",
                p.amount, p.receiver, p.url, p.open_block, p.balance
            ),
            None => match paid.session_remaining {
                Some(remaining) => eprintln!("paid from a prepaid session ({remaining} request(s) left); {status}"),
                None => eprintln!("paid nothing; {status}"),
            },
        }
        if let (Some(_), Some(remaining)) = (payment, paid.session_remaining) {
            eprintln!("the payment bought a prepaid session: {remaining} more request(s)");
        }
    }
    Ok(())
}

/// `uraiden channels`.
pub(crate) fn channels(args: ChannelsArgs, node: &NodeArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = client(node, &args.sender, &args.deployments_dir).await?;
        client.sync().await?;
        let channels = client.channels().await?;
        if args.json {
            let rows: Vec<serde_json::Value> = channels
                .iter()
                .map(|c| {
                    let mut row = serde_json::to_value(c).expect("a channel serialises");
                    row["room"] = c.room().to_string().into();
                    row
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        println!("sender {} on contract {}", client.sender(), client.contract());
        if channels.is_empty() {
            println!("no channels");
        }
        println!(
            "{:<42}  {:>10}  {:>10}  {:>10}  {:>10}  status",
            "receiver", "open block", "deposit", "balance", "room"
        );
        for c in &channels {
            let status = match (c.status.as_str(), c.settle_block) {
                ("closing", Some(block)) => format!("closing (settle after block {block})"),
                (status, _) => status.to_string(),
            };
            println!(
                "{:<42}  {:>10}  {:>10}  {:>10}  {:>10}  {status}",
                c.receiver.to_string(),
                c.open_block,
                c.deposit.to_string(),
                c.balance.to_string(),
                c.room().to_string()
            );
        }
        Ok(())
    })
}

/// The sender's channel to `receiver` opened in `open_block`, from the store, or from the chain
/// when the store does not have it.
async fn find(client: &ChannelClient, receiver: Address, open_block: u32) -> anyhow::Result<SenderChannel> {
    if let Ok(channel) = client.channel(receiver, open_block).await {
        return Ok(channel);
    }
    client.sync().await?;
    Ok(client.channel(receiver, open_block).await?)
}

/// `uraiden channel open`: a channel to `receiver` with `deposit`, by `deposit_path`.
pub(crate) fn open(
    node: &NodeArgs,
    sender: &SenderArgs,
    deployments: &Path,
    deposit_path: DepositPath,
    receiver: Address,
    deposit: U192,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = client_depositing(node, sender, deployments, deposit_path).await?;
        let channel = client.open(receiver, deposit).await?;
        let (me, block) = (client.sender(), channel.open_block);
        println!("opened channel {me} -> {receiver} at block {block} with deposit {deposit}");
        println!("open block: {block}");
        Ok(())
    })
}

/// `uraiden channel topup`: `amount` more into the channel to `receiver` opened in
/// `open_block`, by `deposit_path`.
pub(crate) fn top_up(
    node: &NodeArgs,
    sender: &SenderArgs,
    deployments: &Path,
    deposit_path: DepositPath,
    receiver: Address,
    open_block: u32,
    amount: U192,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = client_depositing(node, sender, deployments, deposit_path).await?;
        let channel = match find(&client, receiver, open_block).await {
            Ok(channel) => channel,
            // Not on chain as far as the events say: the top-up's simulation names the
            // contract's reason, and nothing is sent.
            Err(_) => SenderChannel {
                receiver,
                open_block,
                deposit: U192::ZERO,
                balance: U192::ZERO,
                signed: U192::ZERO,
                status: ChannelStatus::Open,
                settle_block: None,
            },
        };
        let (channel, block) = client.top_up_mined(&channel, amount).await?;
        println!("topped up by {amount} in block {block}: deposit {}", channel.deposit);
        Ok(())
    })
}

/// `uraiden channel close --cooperative URL | --uncooperative`.
pub(crate) fn close(
    node: &NodeArgs,
    sender: &SenderArgs,
    deployments: &Path,
    receiver: Address,
    open_block: u32,
    cooperative: Option<&str>,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = client(node, sender, deployments).await?;
        let channel = find(&client, receiver, open_block).await?;
        match client.close(&channel, cooperative).await? {
            Closed::Cooperatively { tx, balance } if balance < channel.balance => println!(
                "closed cooperatively at balance {balance}, {} of unused prepaid requests refunded (tx {tx}): settled",
                channel.balance - balance
            ),
            Closed::Cooperatively { tx, .. } => {
                println!("closed cooperatively at balance {} (tx {tx}): settled", channel.balance)
            }
            Closed::Uncooperatively { settle_block, refusal } => {
                if let Some(refusal) = refusal {
                    eprintln!("the receiver did not agree ({refusal}); closing alone");
                }
                println!(
                    "close requested at balance {}: settle with `uraiden channel settle` after block {settle_block}",
                    channel.balance
                );
            }
        }
        Ok(())
    })
}

/// `uraiden channel settle`.
pub(crate) fn settle(
    node: &NodeArgs,
    sender: &SenderArgs,
    deployments: &Path,
    receiver: Address,
    open_block: u32,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = client(node, sender, deployments).await?;
        let mut channel = find(&client, receiver, open_block).await?;
        if channel.settle_block.is_none() {
            client.sync().await?;
            channel = client.channel(receiver, open_block).await?;
        }
        let tx = client.settle(&channel).await?;
        println!("settled (tx {tx})");
        Ok(())
    })
}
