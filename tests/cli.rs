//! The command line against a real anvil: deploy, then two channel lifecycles driven only by
//! `uraiden channel …` (open, pay, agree, cooperative close; open by ERC223, uncooperative
//! close, a refused early settle, settle), with every balance checked.

mod common;

use std::{path::PathBuf, process::Command};

use alloy_primitives::{Address, U256, keccak256};
use common::anvil_chain;
use uraiden::{
    chain::{Chain, RpcChain},
    contract::Contracts,
    proof::Signer,
};

/// The hex private key of `Signer::test_key(index)`.
fn key_hex(index: u64) -> String {
    format!("{}", keccak256(format!("uraiden test key {index}")))
}

struct Cli {
    dir: PathBuf,
    url: String,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn new(chain: &RpcChain, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("uraiden-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, url: chain.anvil_endpoint().unwrap() }
    }

    /// Runs `uraiden ARGS` with the key of test signer `key` in PRIVATE_KEY.
    fn run(&self, key: Option<u64>, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_uraiden"));
        command.args(args).current_dir(&self.dir).env("ETH_RPC_URL", &self.url).env_remove("PRIVATE_KEY");
        if let Some(key) = key {
            command.env("PRIVATE_KEY", key_hex(key));
        }
        let out = command.output().unwrap();
        let output = Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for index in 0..4 {
            let hex = key_hex(index);
            let bare = hex.trim_start_matches("0x");
            assert!(!output.stdout.contains(bare) && !output.stderr.contains(bare), "a private key was printed");
        }
        output
    }

    fn ok(&self, key: Option<u64>, args: &[&str]) -> String {
        let out = self.run(key, args);
        assert!(out.ok, "uraiden {args:?} failed:\n{}\n{}", out.stdout, out.stderr);
        out.stdout
    }
}

/// The value after `label` on the line that starts with it.
fn field(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{stdout}"))
        .trim()
        .to_string()
}

#[test]
fn deploy_and_two_lifecycles_from_the_command_line() {
    let mut chain = anvil_chain();
    let cli = Cli::new(&chain, "lifecycle");
    let (deployer, sender, receiver) = (Signer::test_key(0), Signer::test_key(1), Signer::test_key(2));
    let (s, r) = (sender.address(), receiver.address());

    // Deploy: one JSON object, and the record later commands read.
    let out = cli.ok(Some(0), &["deploy", "--challenge-period", "5", "--initial-supply", "1000000", "--json"]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["chain_id"], chain.chain_id());
    let token: Address = json["token"].as_str().unwrap().parse().unwrap();
    let channels: Address = json["channels"].as_str().unwrap().parse().unwrap();
    assert!(json["block"].as_u64().unwrap() > 0);
    assert!(cli.dir.join(format!("deployments/{}.json", chain.chain_id())).exists());
    let c = Contracts::at(chain.chain_id(), token, channels);
    assert_eq!(c.balance_of(&mut chain, deployer.address()).unwrap(), U256::from(1_000_000));
    assert_eq!(c.challenge_period(&mut chain).unwrap(), 5);
    c.transfer(&mut chain, deployer.address(), s, U256::from(1_000)).unwrap();

    // Channel 1: ERC20 open, pay, the receiver agrees, the sender closes cooperatively.
    let r_text = r.to_string();
    let out = cli.ok(Some(1), &["channel", "open", "--receiver", &r_text, "--deposit", "100"]);
    let open = field(&out, "open block:");
    let out = cli.ok(Some(1), &["channel", "pay", "--receiver", &r_text, "--open-block", &open, "--balance", "30"]);
    let balance_sig = field(&out, "signature");
    let key_file = cli.dir.join("receiver.key");
    std::fs::write(&key_file, key_hex(2) + "\n").unwrap();
    let out = cli.ok(
        None,
        &["channel", "--private-key-file", key_file.to_str().unwrap(), "agree", "--balance-sig", &balance_sig],
    );
    let closing_sig = field(&out, "closing signature");
    cli.ok(
        Some(1),
        &[
            "channel",
            "close",
            "--receiver",
            &r_text,
            "--open-block",
            &open,
            "--balance",
            "30",
            "--balance-sig",
            &balance_sig,
            "--closing-sig",
            &closing_sig,
        ],
    );
    assert_eq!(c.balance_of(&mut chain, s).unwrap(), U256::from(970));
    assert_eq!(c.balance_of(&mut chain, r).unwrap(), U256::from(30));

    // Channel 2: ERC223 open, uncooperative close, settle refused early, then settled.
    let out = cli.ok(Some(1), &["channel", "open", "--receiver", &r_text, "--deposit", "50", "--erc223"]);
    let open = field(&out, "open block:");
    let out = cli.ok(Some(1), &["channel", "pay", "--receiver", &r_text, "--open-block", &open, "--balance", "20"]);
    let balance_sig = field(&out, "signature");
    cli.ok(
        Some(1),
        &[
            "channel",
            "close",
            "--receiver",
            &r_text,
            "--open-block",
            &open,
            "--balance",
            "20",
            "--balance-sig",
            &balance_sig,
        ],
    );
    let s_text = s.to_string();
    let key_path = key_file.to_str().unwrap();
    let info = [
        "channel",
        "--private-key-file",
        key_path,
        "info",
        "--sender",
        &s_text,
        "--receiver",
        &r_text,
        "--open-block",
        &open,
    ];
    let out = cli.ok(None, &info);
    assert!(out.contains("closing: balance 20"), "{out}");

    let before = chain.block_number().unwrap();
    let early = cli.run(Some(1), &["channel", "settle", "--receiver", &r_text, "--open-block", &open]);
    assert!(!early.ok);
    assert_eq!(early.stderr.lines().count(), 1, "one line: {}", early.stderr);
    assert!(
        early.stderr.contains("ChallengePeriodNotOver") && early.stderr.contains("nothing was sent"),
        "{}",
        early.stderr
    );
    assert_eq!(chain.block_number().unwrap(), before, "nothing was sent");

    chain.mine(5).unwrap();
    cli.ok(Some(1), &["channel", "settle", "--receiver", &r_text, "--open-block", &open]);
    assert_eq!(c.balance_of(&mut chain, s).unwrap(), U256::from(950));
    assert_eq!(c.balance_of(&mut chain, r).unwrap(), U256::from(50));
    assert_eq!(c.balance_of(&mut chain, channels).unwrap(), U256::ZERO);
    let gone = cli.run(None, &info);
    assert!(!gone.ok && gone.stderr.contains("ChannelNotFound"), "{}", gone.stderr);
}

#[test]
fn missing_or_bad_keys_are_reported_without_echoing_them() {
    let chain = anvil_chain();
    let cli = Cli::new(&chain, "keys");
    let out = cli.run(None, &["deploy"]);
    assert!(!out.ok && out.stderr.contains("PRIVATE_KEY"), "{}", out.stderr);
    let bad = cli.dir.join("bad.key");
    std::fs::write(&bad, "0xnot-a-key-deadbeef").unwrap();
    let out = cli.run(None, &["deploy", "--private-key-file", bad.to_str().unwrap()]);
    assert!(!out.ok && out.stderr.contains("not usable") && !out.stderr.contains("deadbeef"), "{}", out.stderr);
    // No deployment recorded: channel commands say so.
    let out = cli.run(
        Some(1),
        &[
            "channel",
            "info",
            "--sender",
            &Address::ZERO.to_string(),
            "--receiver",
            &Address::ZERO.to_string(),
            "--open-block",
            "1",
        ],
    );
    assert!(!out.ok && out.stderr.contains("uraiden deploy"), "{}", out.stderr);
}
