//! The `uraiden` command line.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    match cli::Cli::parse().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the cause, outermost context first.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
