//! The `uraiden` command line.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    uraiden::cli::Cli::parse().run()
}
