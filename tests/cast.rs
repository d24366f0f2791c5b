//! An independent EIP-712 implementation agrees with ours: `cast wallet sign --data` (Foundry,
//! from the pinned npm package) signs the same bytes as `Signer::sign_digest` over our digest,
//! and the contract deployed on anvil accepts cast's proof.

mod common;

use std::{path::Path, process::Command};

use alloy_primitives::{Bytes, U256, keccak256};
use common::{anvil_chain, u192};
use uraiden::{
    contract::Contracts,
    proof::{ChannelDomain, Signer},
};

fn cast_sign(key_hex: &str, typed_data: &serde_json::Value) -> Bytes {
    let cast = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/cast");
    let out = Command::new(&cast)
        .args(["wallet", "sign", "--private-key", key_hex, "--data", &typed_data.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e} (npm ci installs it)", cast.display()));
    assert!(out.status.success(), "cast failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

fn balance_proof_typed_data(
    domain: &ChannelDomain,
    receiver: &str,
    open_block: u32,
    balance: u64,
) -> serde_json::Value {
    serde_json::json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"}
            ],
            "BalanceProof": [
                {"name": "receiver", "type": "address"},
                {"name": "openBlockNumber", "type": "uint32"},
                {"name": "balance", "type": "uint192"}
            ]
        },
        "primaryType": "BalanceProof",
        "domain": {
            "name": ChannelDomain::NAME,
            "version": ChannelDomain::VERSION,
            "chainId": domain.chain_id(),
            "verifyingContract": domain.contract().to_string()
        },
        "message": {"receiver": receiver, "openBlockNumber": open_block, "balance": balance.to_string()}
    })
}

#[test]
fn cast_signs_the_same_proof_and_the_deployed_contract_accepts_it() {
    let mut chain = anvil_chain();
    let deployer = Signer::test_key(0);
    let sender_key = format!("{}", keccak256("uraiden test key 1"));
    let sender = Signer::from_hex(&sender_key).unwrap();
    let receiver = Signer::test_key(2).address();
    let (c, _) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000), 5).unwrap();
    c.transfer(&mut chain, deployer.address(), sender.address(), U256::from(100)).unwrap();
    let tx = c.open_erc223(&mut chain, sender.address(), receiver, U256::from(100)).unwrap();
    let open_block = tx.block_number as u32;

    for balance in [1u64, 42, 100] {
        let typed = balance_proof_typed_data(&c.domain, &receiver.to_string(), open_block, balance);
        let by_cast = cast_sign(&sender_key, &typed);
        let ours = sender.sign_digest(c.domain.balance_digest(receiver, open_block, u192(balance)));
        assert_eq!(by_cast, ours, "cast and uraiden sign different bytes for balance {balance}");
        let signer = c.verify_balance_proof(&mut chain, receiver, open_block, u192(balance), by_cast).unwrap();
        assert_eq!(signer, sender.address());
    }
}
