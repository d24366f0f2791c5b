//! Reading the private key: from a file or the `PRIVATE_KEY` environment variable, never from
//! the command line, and never printed.

use std::path::PathBuf;

use anyhow::Context;

use crate::proof::Signer;

/// Where the private key comes from.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// A file holding the private key as hex (otherwise the PRIVATE_KEY environment variable).
    #[arg(long)]
    private_key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The signer, from the file or the environment. Errors never contain the key.
    pub(crate) fn signer(&self) -> anyhow::Result<Signer> {
        let (text, source) = match &self.private_key_file {
            Some(path) => (
                std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?,
                format!("the key file {}", path.display()),
            ),
            None => (
                std::env::var("PRIVATE_KEY")
                    .context("no private key: pass --private-key-file FILE or set PRIVATE_KEY")?,
                "PRIVATE_KEY".to_string(),
            ),
        };
        Signer::from_hex(&text).with_context(|| format!("the private key in {source} is not usable"))
    }
}
