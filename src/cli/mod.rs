//! The `uraiden` command line.

mod demo;

use clap::{Parser, Subcommand};

/// µRaiden-style payment channels: contract, embedded chain, conformance suite.
#[derive(Debug, Parser)]
#[command(name = "uraiden", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole channel lifecycle on the embedded chain, printing each step and its gas.
    Demo,
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Demo => demo::run(),
        }
    }
}
