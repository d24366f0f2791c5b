//! `uraiden proxy --config FILE`: the paywall as a ready server (static files, an upstream
//! site, an echo), configured by a TOML file.

use std::path::PathBuf;

use anyhow::Context;

use super::{
    deploy::DeploymentRecord,
    key::{self, NodeArgs},
};
use alloy_primitives::Address;
use uraiden::{
    chain::{Chain, RedactedUrl, RpcChain},
    node::Node,
    paywall::{
        TokenInfo,
        proxy::{self, ProxyConfig},
    },
    receiver::{ChannelManager, ManagerConfig, ManagerError},
};

/// The admin routes' bearer token when the file names no `admin_token_file`.
const ADMIN_TOKEN_ENV: &str = "URAIDEN_ADMIN_TOKEN";

/// Arguments of `uraiden proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProxyArgs {
    /// The configuration file (TOML): [chain], [receiver], [server] and one [[route]] per route.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration and exit without starting.
    #[arg(long)]
    check: bool,
}

pub(crate) fn run(args: ProxyArgs, node: &NodeArgs) -> anyhow::Result<()> {
    init_logs();
    let mut config = ProxyConfig::load(&args.config)?;
    // The command line overrides the file; the environment stands in for what the file omits.
    let rpc_url = match (node.rpc_url_arg(), &config.chain.rpc_url) {
        (Some(url), _) => url.to_string(),
        (None, Some(url)) => url.clone(),
        (None, None) => key::env_rpc_url().with_context(|| {
            format!("{}: chain.rpc_url: not set (nor --rpc-url, nor ETH_RPC_URL)", args.config.display())
        })?,
    };
    let key_file = if node.has_key_file() { None } else { config.receiver.private_key_file.as_deref() };
    let receiver = if node.has_key_file() { node.signer() } else { key::load_signer(key_file) }
        .with_context(|| format!("{}: receiver.private_key_file", args.config.display()))?;
    if config.server.admin_token.is_none()
        && let Some(text) = std::env::var_os(ADMIN_TOKEN_ENV)
    {
        // The same rules as the token file's; the value is never shown.
        let text = text.into_string().map_err(|_| anyhow::anyhow!("{ADMIN_TOKEN_ENV} is not UTF-8 text"))?;
        let token =
            proxy::config::admin_token(&text).map_err(|reason| anyhow::anyhow!("{ADMIN_TOKEN_ENV}: {reason}"))?;
        config.server.admin_token = Some(token);
    }
    let chain = RpcChain::connect_read_only(&rpc_url)
        .with_context(|| format!("connecting to {}", RedactedUrl::new(&rpc_url)))?;
    let (contract, deployment_block, source) = match config.chain.contract {
        Some(contract) => (contract, config.chain.deployment_block, "chain.contract"),
        None => {
            let path = DeploymentRecord::path(&config.chain.deployments_dir, chain.chain_id());
            let record = DeploymentRecord::load(&config.chain.deployments_dir, chain.chain_id())
                .with_context(|| format!("{}: chain.contract not given", args.config.display()))?;
            if record.chain_id != chain.chain_id() {
                anyhow::bail!(
                    "{}: chain.deployments_dir: {} records chain {}, but the node is chain {}",
                    args.config.display(),
                    path.display(),
                    record.chain_id,
                    chain.chain_id()
                );
            }
            (record.channels, record.block, "chain.deployments_dir")
        }
    };
    // A wrong address or a wrong node would otherwise fail later as an ABI decoding error.
    let has_code =
        chain.has_code(contract).with_context(|| format!("asking {} for code", RedactedUrl::new(&rpc_url)))?;
    if !has_code {
        anyhow::bail!(
            "{}: {source}: the channel contract {contract} has no code on chain {} (wrong address, or wrong node?)",
            args.config.display(),
            chain.chain_id()
        );
    }
    drop(chain); // its own runtime, not to be dropped inside the server's
    if args.check {
        println!("{}: ok ({} routes, contract {contract})", args.config.display(), config.routes.len());
        return Ok(());
    }
    let rpc_for_token = rpc_url.clone();
    let mut manager_config = ManagerConfig::new(rpc_url, contract, receiver, config.receiver.store.clone());
    manager_config.deployment_block = deployment_block;
    manager_config.confirmations = config.chain.confirmations;
    manager_config.poll_interval = config.chain.poll_interval;
    manager_config.chain_lease = config.receiver.chain_lease;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let manager = start_manager(manager_config).await?;
        let token = read_token(&rpc_for_token, manager.token()).await;
        let listener = tokio::net::TcpListener::bind(config.server.listen).await.with_context(|| {
            format!("{}: server.listen: cannot listen on {}", args.config.display(), config.server.listen)
        })?;
        let address = listener.local_addr()?;
        tracing::info!(
            %address,
            receiver = %manager.receiver(),
            contract = %manager.contract(),
            routes = config.routes.len(),
            admin = config.server.admin_token.is_some(),
            tls = config.server.tls.is_some(),
            "the proxy is listening"
        );
        let scheme = if config.server.tls.is_some() { "https" } else { "http" };
        println!("uraiden proxy listening on {scheme}://{address}");
        proxy::serve(&config, &manager, token, listener, shutdown_signal()).await?;
        tracing::info!("stopped; closing the channel manager");
        manager.shutdown().await;
        anyhow::Ok(())
    })
}

/// Starts the channel manager; while the store is unreachable (a database not up yet, or
/// restarting), says so and tries again, waiting twice as long each time up to 30 s. Anything
/// else (a wrong store, a node that fails) ends the start with its reason.
async fn start_manager(config: ManagerConfig) -> anyhow::Result<ChannelManager> {
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        match ChannelManager::start(config.clone()).await {
            Ok(manager) => return Ok(manager),
            Err(ManagerError::Store(error)) if error.is_unreachable() => {
                let store = RedactedUrl::new(&config.store_url);
                tracing::warn!(%store, %error, retry_in = ?wait, "the store is unreachable; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
            }
            Err(error) => return Err(anyhow::Error::new(error).context("starting the channel manager")),
        }
    }
}

/// The symbol and decimals of the paywall's token, for the page browsers get with a 402; a
/// token without them (both are optional in ERC-20) is priced in base units, with a warning.
async fn read_token(rpc_url: &str, token: Address) -> TokenInfo {
    let read = async {
        let node = Node::connect(rpc_url, None).await?.with_timeout(std::time::Duration::from_secs(30));
        TokenInfo::read(&node, token).await
    };
    match read.await {
        Ok(info) => info,
        Err(error) => {
            tracing::warn!(%token, %error, "the token's symbol and decimals cannot be read: pages show base units");
            TokenInfo::base_units(token)
        }
    }
}

/// Logs to stderr, the level from `RUST_LOG` (default `info`).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
