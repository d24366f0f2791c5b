//! The `uraiden` command line.

mod channel;
mod demo;
mod deploy;
mod key;
mod proxy;
mod receiver;
mod sender;
mod system;

use clap::{Parser, Subcommand};

/// µRaiden-style payment channels: contract, embedded chain, conformance suite.
#[derive(Debug, Parser)]
#[command(name = "uraiden", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command: the whole system on a local chain (the main job).
    #[command(flatten)]
    system: system::SystemArgs,
    /// The node and the key, for the commands that use them (before or after the command).
    #[command(flatten)]
    node: key::NodeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole channel lifecycle on the embedded chain, printing each step and its gas.
    Demo,
    /// Open, top up, inspect, pay, agree, close and settle channels on a node.
    Channel(channel::ChannelArgs),
    /// Deploy the channel contract (and the test token, without --token) to a node.
    Deploy(deploy::DeployArgs),
    /// The receiver's channels and cash-out: list, status, close one or all with the latest proofs.
    Receiver(receiver::ReceiverArgs),
    /// Fetch a URL, paying for it through a channel when the server answers 402 (curl-like).
    Get(sender::GetArgs),
    /// List the sender's channels across receivers: deposit, balance, room and status.
    Channels(sender::ChannelsArgs),
    /// Serve paywalled routes (a directory, an upstream site, an echo) from a TOML config file.
    Proxy(proxy::ProxyArgs),
    /// Measure the gas of every channel operation (warm and cold) against the goals.
    GasReport {
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        // Every TLS client of the binary (the node's HTTP transport, `uraiden get`, cooperative
        // closes, the proxy's upstreams) uses rustls with ring, as the proxy's server side does;
        // reqwest would otherwise pick its own default provider. Roots: the system's, or
        // SSL_CERT_FILE / SSL_CERT_DIR when set.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let Some(command) = self.command else { return system::run(self.system) };
        if self.system.given() {
            anyhow::bail!(
                "--requests and --price belong to the main job (uraiden without a command), not to a command"
            );
        }
        match command {
            Command::Demo => demo::run(),
            Command::Deploy(args) => deploy::run(args, &self.node),
            Command::Channel(args) => channel::run(args, &self.node),
            Command::Receiver(args) => receiver::run(args, &self.node),
            Command::Get(args) => sender::get(args, &self.node),
            Command::Channels(args) => sender::channels(args, &self.node),
            Command::Proxy(args) => proxy::run(args, &self.node),
            Command::GasReport { json } => {
                let report = uraiden::gas::GasReport::measure()?;
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

#[cfg(test)]
mod tests {
    use super::Cli;

    /// Every argument and option of every command has help text.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut command = Cli::command();
        command.build();
        walk(&command, "uraiden", &mut missing);
        assert!(missing.is_empty(), "no help for: {missing:#?}");
    }
}
