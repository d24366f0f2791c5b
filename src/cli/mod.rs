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
    /// Measure the gas of every channel operation (warm and cold) against the goals.
    GasReport {
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Demo => demo::run(),
            Command::GasReport { json } => {
                let report = crate::gas::GasReport::measure()?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print!("{}", report.to_markdown());
                }
                Ok(())
            }
        }
    }
}
