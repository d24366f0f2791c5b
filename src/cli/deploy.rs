//! `uraiden deploy`: the channel contract (and, without `--token`, the test token) on a node.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, U256};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::key::NodeArgs;
use uraiden::{
    chain::{Chain, RpcChain},
    contract::Contracts,
};

/// Arguments of `uraiden deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    /// Use this token instead of deploying the bundled test token.
    #[arg(long)]
    token: Option<Address>,
    /// Challenge period in blocks.
    #[arg(long, default_value_t = 500)]
    challenge_period: u32,
    /// Supply of the test token (base units), credited to the deployer. Ignored with --token.
    #[arg(long, default_value = "1000000000000000000000000")]
    initial_supply: U256,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Where to write `<chain_id>.json`.
    #[arg(long, default_value = "deployments", value_name = "DIR")]
    deployments_dir: PathBuf,
}

/// What `deploy` writes to `deployments/<chain_id>.json` and prints with `--json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeploymentRecord {
    pub(crate) chain_id: u64,
    pub(crate) token: Address,
    pub(crate) channels: Address,
    /// The block the channel contract was deployed in.
    pub(crate) block: u64,
    /// The block the test token was deployed in (absent with `--token`).
    pub(crate) token_block: Option<u64>,
    pub(crate) challenge_period: u32,
    pub(crate) deployer: Address,
    /// Gas used by the token's deployment (absent with `--token`).
    pub(crate) token_gas: Option<u64>,
    /// Gas used by the channel contract's deployment.
    pub(crate) channels_gas: u64,
}

impl DeploymentRecord {
    pub(crate) fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// The deployment recorded for `chain_id` in `dir`.
    pub(crate) fn load(dir: &Path, chain_id: u64) -> anyhow::Result<Self> {
        let path = Self::path(dir, chain_id);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("no deployment for chain {chain_id}: {} (run `uraiden deploy`)", path.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a deployment record", path.display()))
    }
}

pub(crate) fn run(args: DeployArgs, node: &NodeArgs) -> anyhow::Result<()> {
    if args.challenge_period == 0 {
        bail!("--challenge-period must be at least 1 block");
    }
    let url = &node.rpc_url()?;
    let signer = node.signer()?;
    let deployer = signer.address();
    let mut chain = RpcChain::connect(url, std::slice::from_ref(&signer))?;
    let chain_id = chain.chain_id();
    if let Some(token) = args.token {
        ensure_code(&chain, token, "--token")?;
    }

    let (contracts, gas) = match args.token {
        Some(token) => Contracts::deploy_for_token(&mut chain, deployer, token, args.challenge_period)?,
        None => Contracts::deploy(&mut chain, deployer, args.initial_supply, args.challenge_period)?,
    };
    ensure_code(&chain, contracts.token, "the token")?;
    ensure_code(&chain, contracts.channels, "the channel contract")?;
    let record = DeploymentRecord {
        chain_id,
        token: contracts.token,
        channels: contracts.channels,
        block: gas.channels_block,
        token_block: gas.token_block,
        challenge_period: args.challenge_period,
        deployer,
        token_gas: gas.token,
        channels_gas: gas.channels,
    };
    std::fs::create_dir_all(&args.deployments_dir)
        .with_context(|| format!("creating {}", args.deployments_dir.display()))?;
    let path = DeploymentRecord::path(&args.deployments_dir, chain_id);
    std::fs::write(&path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;

    if args.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        println!("chain id          {chain_id}");
        println!("deployer          {deployer}");
        match (record.token_gas, record.token_block) {
            (Some(gas), Some(block)) => {
                println!("token             {} (test token, block {block}, gas {gas})", record.token)
            }
            _ => println!("token             {} (existing)", record.token),
        }
        println!("channel contract  {} (block {}, gas {})", record.channels, record.block, record.channels_gas);
        println!("challenge period  {} blocks", record.challenge_period);
        println!("recorded in       {}", path.display());
    }
    Ok(())
}

/// Fails unless `address` has code.
pub(crate) fn ensure_code(chain: &RpcChain, address: Address, what: &str) -> anyhow::Result<()> {
    if !chain.has_code(address)? {
        bail!("{what} at {address} has no code on chain {}", chain.chain_id());
    }
    Ok(())
}
