//! Transactions per second through the embedded chain (`EvmChain` + typed client) for a mixed
//! channel lifecycle, next to the same transactions through a bare revm: the harness's own
//! overhead.

use std::hint::black_box;

use alloy_primitives::{Address, Bytes, TxKind, U256, aliases::U192};
use criterion::{Criterion, Throughput};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::{CfgEnv, TxEnv},
    database::Database,
};
use uraiden::{
    chain::{Chain, EvmChain},
    contract::{Call, Contracts, open_data, top_up_data},
    proof::Signer,
};

/// A lifecycle of 12 transactions: two channels opened (ERC20 and ERC223), topped up, one
/// closed cooperatively, one by the receiver, plus the approvals.
fn workload(c: &Contracts, start_block: u64) -> Vec<(Address, Call)> {
    let sender = Signer::test_key(1);
    let receiver = Signer::test_key(2);
    let (s, r) = (sender.address(), receiver.address());
    let open_a = (start_block + 2) as u32; // after the approve in start_block + 1
    let open_b = (start_block + 3) as u32;
    let proof = |open: u32, balance: u64| sender.sign_digest(c.domain.balance_digest(r, open, U192::from(balance)));
    let coop_sig = proof(open_a, 30);
    let closing_sig = receiver.sign_digest(c.domain.closing_digest(&coop_sig));
    vec![
        (s, Call::Approve { spender: c.channels, amount: U256::from(100) }),
        (s, Call::CreateChannelErc20 { receiver: r, deposit: U192::from(100) }),
        (s, Call::TransferWithData { to: c.channels, amount: U256::from(100), data: open_data(r) }),
        (s, Call::Approve { spender: c.channels, amount: U256::from(50) }),
        (s, Call::TopUpErc20 { receiver: r, open_block: open_a, added: U192::from(50) }),
        (s, Call::TransferWithData { to: c.channels, amount: U256::from(50), data: top_up_data(r, open_b) }),
        (
            s,
            Call::CooperativeClose {
                receiver: r,
                open_block: open_a,
                balance: U192::from(30),
                balance_sig: coop_sig,
                closing_sig,
            },
        ),
        (r, Call::Close { receiver: r, open_block: open_b, balance: U192::from(70), balance_sig: proof(open_b, 70) }),
        (s, Call::Transfer { to: r, amount: U256::from(1) }),
        (r, Call::Transfer { to: s, amount: U256::from(1) }),
        (s, Call::Approve { spender: c.channels, amount: U256::ZERO }),
        (r, Call::Approve { spender: c.channels, amount: U256::ZERO }),
    ]
}

fn main() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let (c, _) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000u64), 10).unwrap();
    c.transfer(&mut chain, deployer.address(), Signer::test_key(1).address(), U256::from(10_000)).unwrap();
    let snapshot = chain.snapshot();
    let txs = workload(&c, chain.block_number().unwrap());
    let encoded: Vec<(Address, Address, Bytes)> = txs
        .iter()
        .map(|(from, call)| {
            let (to, data) = call.encode(c.token, c.channels);
            (*from, to, data)
        })
        .collect();

    // The workload must succeed through the harness.
    for (from, call) in &txs {
        c.execute(&mut chain, *from, call.clone()).expect("workload transaction");
    }

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("lifecycle");
    group.throughput(Throughput::Elements(txs.len() as u64));
    group.bench_function("harness", |b| {
        b.iter(|| {
            chain.revert_to(snapshot.clone());
            for (from, call) in &txs {
                black_box(c.execute(&mut chain, *from, call.clone()).unwrap());
            }
        })
    });
    group.bench_function("bare_revm", |b| {
        b.iter(|| {
            let mut cfg = CfgEnv::new_with_spec(EvmChain::SPEC);
            cfg.chain_id = EvmChain::DEFAULT_CHAIN_ID;
            let mut evm = Context::mainnet()
                .with_db(snapshot.database().clone())
                .with_cfg(cfg)
                .with_block(snapshot.block().clone())
                .build_mainnet();
            for (from, to, data) in &encoded {
                evm.ctx.block.number += U256::from(1);
                let nonce = evm.ctx.journaled_state.database.basic(*from).unwrap().map_or(0, |a| a.nonce);
                let tx = TxEnv::builder()
                    .caller(*from)
                    .kind(TxKind::Call(*to))
                    .data(data.clone())
                    .nonce(nonce)
                    .gas_limit(30_000_000)
                    .gas_price(0)
                    .chain_id(Some(EvmChain::DEFAULT_CHAIN_ID))
                    .build()
                    .unwrap();
                let result = evm.transact_commit(tx).unwrap();
                assert!(result.is_success());
                black_box(result);
            }
        })
    });
    group.finish();
    criterion.final_summary();
}
