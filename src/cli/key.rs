//! What every command that talks to a node shares: the node's URL and the private key. The key
//! comes from a file or the `PRIVATE_KEY` environment variable, never from the command line, and
//! is never printed; the URL is shown only redacted (it may carry a provider's API key).

use std::path::PathBuf;

use anyhow::Context;

use uraiden::proof::Signer;

/// The node and the key, accepted before or after the subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// JSON-RPC endpoint of the node, http(s):// or ws(s):// (deploy, channel, proxy); otherwise
    /// the ETH_RPC_URL environment variable.
    #[arg(long, global = true)]
    rpc_url: Option<String>,
    /// A file holding the private key as hex (otherwise the PRIVATE_KEY environment variable).
    #[arg(long, global = true, value_name = "FILE")]
    private_key_file: Option<PathBuf>,
}

impl NodeArgs {
    /// The node's URL, or an error saying how to give one.
    pub(crate) fn rpc_url(&self) -> anyhow::Result<String> {
        self.rpc_url.clone().or_else(env_rpc_url).context("no node: pass --rpc-url URL or set ETH_RPC_URL")
    }

    /// The node's URL given on the command line (not from the environment).
    pub(crate) fn rpc_url_arg(&self) -> Option<&str> {
        self.rpc_url.as_deref()
    }

    /// Whether `--private-key-file` was given.
    pub(crate) fn has_key_file(&self) -> bool {
        self.private_key_file.is_some()
    }

    /// The signer, from the file or the environment. Errors never contain the key or any part
    /// of what was read.
    pub(crate) fn signer(&self) -> anyhow::Result<Signer> {
        load_signer(self.private_key_file.as_deref())
    }
}

/// `ETH_RPC_URL`, when set and not empty.
pub(crate) fn env_rpc_url() -> Option<String> {
    std::env::var("ETH_RPC_URL").ok().filter(|url| !url.is_empty())
}

/// The signer from `file`, or else from `PRIVATE_KEY`. Errors never contain the key or any part
/// of what was read.
pub(crate) fn load_signer(file: Option<&std::path::Path>) -> anyhow::Result<Signer> {
    let (text, source) = match file {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading the key file {}", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!("the key file {} is not UTF-8 text (its contents are not shown)", path.display())
            })?;
            (text, format!("the key file {}", path.display()))
        }
        None => {
            let value = std::env::var_os("PRIVATE_KEY")
                .context("no private key: pass --private-key-file FILE or set PRIVATE_KEY")?;
            let text = value
                .into_string()
                .map_err(|_| anyhow::anyhow!("PRIVATE_KEY is not UTF-8 text (its value is not shown)"))?;
            (text, "PRIVATE_KEY".to_string())
        }
    };
    Signer::from_hex(&text).with_context(|| format!("the private key in {source} is not usable"))
}
