//! The JavaScript package `js/` (`@uraiden/client`) against the crate: its contract ABIs are
//! the compiled contracts', its EIP-712 digests are `src/proof`'s, the committed bundles are what
//! a fresh build makes, its own tests pass, and in headless Chromium a person's wallet pays
//! through the real `uraiden proxy` (`js/test/browser/`).
//!
//! The package's dependencies are installed by the first test that needs them
//! (`common::js::installed`).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use alloy_primitives::{Address, aliases::U192};
use common::js::{assert_ok, installed, js_dir};
use uraiden::proof::ChannelDomain;

/// The package built once per test run into `js/build/` (the committed `js/dist/` is left
/// alone: `the_committed_build_is_a_fresh_build` compares the two).
fn built() -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        installed();
        let out = js_dir().join("build");
        let run =
            Command::new("node").arg("scripts/build.mjs").arg(&out).current_dir(js_dir()).output().expect("node runs");
        assert_ok("the package's build (node scripts/build.mjs)", &run);
        out
    })
    .clone()
}

fn node(args: &[&str], envs: &[(&str, &str)]) -> Output {
    built();
    Command::new("node").args(args).envs(envs.iter().copied()).current_dir(js_dir()).output().expect("node runs")
}

/// The ABI of a contract compiled by `build.rs`.
fn artifact_abi(name: &str) -> serde_json::Value {
    let path = Path::new(env!("OUT_DIR")).join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let artifact: serde_json::Value = serde_json::from_str(&text).expect("an artifact is JSON");
    artifact["abi"].clone()
}

fn package_abi(file: &str) -> serde_json::Value {
    let path = js_dir().join("src/abi").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("an ABI file is JSON")
}

#[test]
fn the_packages_abis_are_the_compiled_contracts() {
    for (file, contract) in [("channels.json", "RaidenMicroTransferChannels"), ("token.json", "ERC223Token")] {
        assert_eq!(
            package_abi(file),
            artifact_abi(contract),
            "js/src/abi/{file} is not {contract}'s ABI: run `npm run abi` in js/ after a build"
        );
    }
}

#[test]
fn the_packages_balance_proof_digest_is_the_crates() {
    let max = U192::MAX.to_string();
    let vectors: [(u64, &str, &str, u32, &str); 4] = [
        (31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 42, "1000"),
        (1, "0x00000000000000000000000000000000000000aa", "0x0000000000000000000000000000000000000001", 0, "0"),
        (
            u64::from(u32::MAX) + 7,
            "0xffffffffffffffffffffffffffffffffffffffff",
            "0x1111111111111111111111111111111111111111",
            u32::MAX,
            &max,
        ),
        (5, "0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 42, "1001"),
    ];
    for (chain, contract, receiver, open_block, balance) in vectors {
        let domain = ChannelDomain::new(chain, contract.parse::<Address>().unwrap());
        let ours = domain.balance_digest(receiver.parse().unwrap(), open_block, balance.parse().unwrap());
        let out = node(
            &["build/cli-digest.mjs", &chain.to_string(), contract, receiver, &open_block.to_string(), balance],
            &[],
        );
        assert_ok("cli-digest", &out);
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            theirs,
            ours.to_string(),
            "chain {chain}, contract {contract}, open block {open_block}, balance {balance}"
        );
    }
}

/// `js/dist/` holds the built package, committed: the page script the binary embeds, the
/// library that node programs import without a build step, and the digest tool.
#[test]
fn the_committed_build_is_a_fresh_build() {
    for file in ["paywall.js", "index.js", "cli-digest.mjs"] {
        let fresh = std::fs::read(built().join(file)).unwrap_or_else(|e| panic!("the build wrote no {file}: {e}"));
        let committed =
            std::fs::read(js_dir().join("dist").join(file)).unwrap_or_else(|e| panic!("js/dist/{file}: {e}"));
        assert!(
            fresh == committed,
            "js/dist/{file} is not what js/src builds: run `npm run build` in js/ and commit it"
        );
    }
}

#[test]
fn the_package_type_checks() {
    installed();
    let out = Command::new("node")
        .args(["node_modules/typescript/bin/tsc", "-p", ".", "--noEmit"])
        .current_dir(js_dir())
        .output()
        .expect("node runs");
    assert_ok("tsc --noEmit in js/", &out);
}

/// `js/test/unit/`: the library offline and against anvil with the contracts this binary deploys.
#[test]
fn the_packages_own_tests_pass() {
    let out =
        node(&["--test", "--test-reporter=spec", "test/unit/"], &[("URAIDEN_BIN", env!("CARGO_BIN_EXE_uraiden"))]);
    assert_ok("node --test test/unit/", &out);
}

/// `js/test/browser/`: headless Chromium with a wallet forwarding to anvil pays through the real
/// `uraiden proxy` (screenshots in `js/test/screenshots/`).
#[test]
fn a_person_pays_from_a_browser() {
    let out = node(
        &["--test", "--test-reporter=spec", "--test-concurrency=1", "test/browser/"],
        &[("URAIDEN_BIN", env!("CARGO_BIN_EXE_uraiden"))],
    );
    assert_ok("node --test test/browser/", &out);
}
