//! The Solidity side under Foundry: `forge test` passes, and forge compiles the same bytecode
//! as `build.rs`, so the Rust suite tests exactly what `forge build` deploys.

use std::{path::Path, process::Command};

use uraiden::contract::bindings::{ERC223Token, RaidenMicroTransferChannels};

fn forge(args: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let forge = root.join("node_modules/.bin/forge");
    Command::new(&forge)
        .args(args)
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e} (npm ci installs it)", forge.display()))
}

#[test]
fn forge_test_passes_and_builds_the_same_bytecode() {
    let out = forge(&["test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "forge test failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("0 failed"), "{stdout}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, ours) in [
        ("RaidenMicroTransferChannels", &RaidenMicroTransferChannels::BYTECODE),
        ("ERC223Token", &ERC223Token::BYTECODE),
    ] {
        let path = root.join(format!("out/{name}.sol/{name}.json"));
        let artifact: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let theirs = artifact["bytecode"]["object"].as_str().unwrap();
        assert_eq!(
            theirs.trim_start_matches("0x"),
            alloy_primitives::hex::encode(ours),
            "{name}: forge and build.rs disagree"
        );
    }
}
