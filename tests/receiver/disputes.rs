//! Every close request below the receiver's proof is disputed until the channel settles: a
//! dispute that failed is tried again (too little ether, the node cut or silent while it was
//! sent, a request read in a poll that failed, a request pending across a restart), disputes
//! sent at once each get their own nonce, and a reorg deeper than the confirmations is a way
//! back rather than the end.

use std::time::{Duration, Instant};

use alloy::{
    network::TransactionBuilder,
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
};
use alloy_primitives::{B256, U256};
use uraiden::{
    chain::Chain,
    channel::ChannelId,
    channel::ChannelStatus,
    contract::Call,
    proof::Signer,
    receiver::{ChannelManager, CloseTxState, ManagerConfig, PaymentError},
};

use super::{
    common::receivers::{CONFIRMATIONS, Env, amount},
    common::{self, u192},
    reliability::{Forwarder, Link, anvil_addr, rpc, wait_status},
};

/// Short retries, so that a failed dispute is tried again within the tests' deadlines.
fn quick(mut config: ManagerConfig) -> ManagerConfig {
    config.tx.retry_min = Duration::from_millis(200);
    config.tx.retry_max = Duration::from_secs(1);
    config
}

/// Waits up to `limit` for `done`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the manager sees `ch` settled, and with what.
fn settled_with(manager: &ChannelManager, ch: &ChannelId) -> Option<u64> {
    manager
        .channel(ch.sender, ch.open_block)
        .filter(|v| v.status == ChannelStatus::Settled)
        .and_then(|v| v.settled_balance)
        .map(|b| b.to::<u64>())
}

/// Sends the sender's close request of `balance` on `ch` without waiting for it to be mined
/// (automine may be off).
fn request_close(env: &Env, signer: &Signer, ch: &ChannelId, balance: u64) -> B256 {
    let digest = env.f.c.domain.balance_digest(ch.receiver, ch.open_block, u192(balance));
    let call = Call::Close {
        receiver: ch.receiver,
        open_block: ch.open_block,
        balance: u192(balance),
        balance_sig: signer.sign_digest(digest),
    };
    let (to, data) = call.encode(env.f.c.token, env.f.c.channels);
    let node = common::provider(&env.url, Some(signer));
    let request = TransactionRequest::default().with_from(signer.address()).with_to(to).with_input(data);
    *env.rt.block_on(node.send_transaction(request)).unwrap().tx_hash()
}

/// A channel from the fixture's sender, confirmed and paid up to `paid`.
fn paid_channel(env: &mut Env, manager: &ChannelManager, deposit: u64, paid: u64) -> ChannelId {
    let ch = env.f.open_erc20(deposit);
    env.mine(manager, CONFIRMATIONS);
    env.pay(manager, &ch, paid, paid).unwrap();
    ch
}

/// The receiver has too little ether when the sender asks to close low; it is funded three
/// blocks later, long before the settle block: the dispute that failed is tried again and pays
/// the receiver its proof.
#[test]
fn a_dispute_that_failed_for_want_of_ether_is_tried_again_once_funded() {
    let mut env = Env::new();
    let manager = env.start(quick(env.config()));
    let ch = paid_channel(&mut env, &manager, 40, 12);
    let receiver = ch.receiver;
    let (sender_before, receiver_before) = (env.token_balance(ch.sender), env.token_balance(receiver));
    env.f.chain.set_balance(receiver, U256::from(1_000u64)).unwrap();

    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.mine(&manager, 3);
    wait_status(&manager, Duration::from_secs(10), "a failed dispute", |s| s.failed_closes >= 1);
    assert_eq!(settled_with(&manager, &ch), None, "no ether, no dispute");
    let error = manager.status().last_close_error.unwrap();
    assert!(error.to_lowercase().contains("insufficient funds"), "{error}");
    env.f.chain.set_balance(receiver, U256::from(10u64).pow(U256::from(20u64))).unwrap();
    wait_for(Duration::from_secs(20), "the dispute once funded", || settled_with(&manager, &ch).is_some());
    assert_eq!(settled_with(&manager, &ch), Some(12));
    assert_eq!(env.token_balance(receiver), receiver_before + 12);
    assert_eq!(env.token_balance(ch.sender), sender_before + 28);
}

/// The receiver's dispute is in the mempool when the node loses it; the close request is then
/// confirmed (and applied) while that attempt still waits for its receipt, and the node goes
/// away (connections cut, or kept open and silent for good) until the attempt has given up.
/// Once the node is back, the dispute is sent again and the receiver paid its proof.
fn a_dispute_lost_with_the_node_is_sent_again(link: Link) {
    let mut env = Env::new();
    let forwarder = env.rt.block_on(Forwarder::start(anvil_addr(&env)));
    let mut config = quick(env.config());
    config.rpc_url = forwarder.url.clone();
    config.node_timeout = Duration::from_secs(1);
    config.tx.stuck_after = Duration::from_secs(3);
    config.tx.max_resends = 0;
    let manager = env.start(config);
    let ch = paid_channel(&mut env, &manager, 40, 12);
    let receiver_before = env.token_balance(ch.receiver);

    let node = common::provider(&env.url, None);
    env.rt.block_on(node.anvil_set_auto_mine(false)).unwrap();
    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    let sent_at = Instant::now();
    // The receiver's dispute reaches the mempool, and the node loses it...
    wait_for(Duration::from_secs(20), "the dispute sent", || {
        !env.rt.block_on(manager.store().close_txs(&ch)).unwrap().is_empty()
    });
    env.rt.block_on(node.anvil_drop_all_transactions()).unwrap();
    let pool = rpc(&env, &node, "txpool_content", serde_json::json!([]));
    assert!(pool["pending"].as_object().unwrap().is_empty(), "the dispute is gone: {pool}");
    // ...the close request is confirmed and applied...
    env.rt.block_on(node.anvil_mine(Some(CONFIRMATIONS), None)).unwrap();
    wait_for(Duration::from_secs(10), "the close request applied", || {
        env.rt
            .block_on(manager.store().channel(&ch))
            .unwrap()
            .is_some_and(|r| r.status == ChannelStatus::Closing && r.closing_balance == Some(amount(5)))
    });
    assert!(sent_at.elapsed() < Duration::from_secs(3), "within the attempt's wait for a receipt");
    // ...and the node goes away until the attempt has given up (3 s after its send).
    forwarder.set(link);
    std::thread::sleep(Duration::from_secs(4).saturating_sub(sent_at.elapsed()));
    forwarder.set(Link::Up);

    wait_for(Duration::from_secs(30), "the dispute sent again and mined", || {
        env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        settled_with(&manager, &ch).is_some()
    });
    assert_eq!(settled_with(&manager, &ch), Some(12));
    assert_eq!(env.token_balance(ch.receiver), receiver_before + 12);
    env.rt.block_on(node.anvil_set_auto_mine(true)).unwrap();
}

#[test]
fn a_dispute_lost_while_the_node_is_cut_is_sent_again() {
    a_dispute_lost_with_the_node_is_sent_again(Link::Cut);
}

/// Every request of a dispute is bounded: a node that keeps connections open and never answers
/// holds no dispute for good.
#[test]
fn a_dispute_lost_while_the_node_is_silent_is_sent_again() {
    a_dispute_lost_with_the_node_is_sent_again(Link::Blackhole);
}

/// The manager was stopped when the sender asked to close low; on restart it catches up over
/// many ranges, longer than one node request may take. The request is answered from what was
/// applied, not from the events of a poll that must succeed as a whole.
#[test]
fn a_close_request_read_during_a_long_catch_up_is_disputed() {
    let mut env = Env::new();
    let mut config = quick(env.config());
    let manager = env.start(config.clone());
    let ch = paid_channel(&mut env, &manager, 40, 12);
    let receiver_before = env.token_balance(ch.receiver);
    env.rt.block_on(manager.shutdown());

    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.f.chain.mine(600).unwrap();
    config.max_log_range = 1;
    config.node_timeout = Duration::from_millis(100);
    let manager = env.rt.block_on(ChannelManager::start(config)).unwrap();
    wait_for(Duration::from_secs(60), "the dispute after the catch-up", || settled_with(&manager, &ch).is_some());
    assert_eq!(settled_with(&manager, &ch), Some(12));
    assert_eq!(env.token_balance(ch.receiver), receiver_before + 12);
}

/// A confirmed close request is stored while the dispute cannot be paid for; the manager is
/// restarted (funded meanwhile) and disputes it at startup.
#[test]
fn a_close_request_pending_at_a_restart_is_disputed_at_startup() {
    let mut env = Env::new();
    let config = quick(env.config());
    let manager = env.start(config.clone());
    let ch = paid_channel(&mut env, &manager, 40, 12);
    let receiver = ch.receiver;
    let receiver_before = env.token_balance(receiver);
    env.f.chain.set_balance(receiver, U256::from(1_000u64)).unwrap();
    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.mine(&manager, CONFIRMATIONS);
    wait_for(Duration::from_secs(20), "the close request stored", || {
        env.rt
            .block_on(manager.store().channel(&ch))
            .unwrap()
            .is_some_and(|r| r.status == ChannelStatus::Closing && r.closing_balance == Some(amount(5)))
    });
    env.rt.block_on(manager.shutdown());

    env.f.chain.set_balance(receiver, U256::from(10u64).pow(U256::from(20u64))).unwrap();
    let manager = env.rt.block_on(ChannelManager::start(config)).unwrap();
    wait_for(Duration::from_secs(20), "the dispute at startup", || settled_with(&manager, &ch).is_some());
    assert_eq!(settled_with(&manager, &ch), Some(12));
    assert_eq!(env.token_balance(receiver), receiver_before + 12);
    // Settled on chain can be seen before the dispute task records its receipt.
    let mut txs = Vec::new();
    wait_for(Duration::from_secs(10), "the dispute recorded", || {
        txs = env.rt.block_on(manager.store().close_txs(&ch)).unwrap();
        txs.iter().any(|t| t.state != CloseTxState::Pending)
    });
    assert_eq!(txs.iter().filter(|t| t.state == CloseTxState::Mined).count(), 1, "{txs:?}");
}

/// Two senders ask to close three channels low in one block: the three disputes take three
/// nonces and all land. Three rounds.
#[test]
fn low_close_requests_in_one_block_are_all_disputed() {
    let mut env = Env::new();
    let manager = env.start(quick(env.config()));
    let node = common::provider(&env.url, None);
    let (sender, outsider) = (env.f.sender.clone(), env.f.outsider.clone());
    let (o, r) = (outsider.address(), env.f.receiver.address());
    // Every channel is opened first: the fixture's chain caches its senders' nonces, which the
    // close requests sent around it would make stale.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let a = env.f.open_erc20(20);
        let b = env.f.open_erc20(20);
        env.f.c.approve(&mut env.f.chain, o, env.f.c.channels, common::u256(20)).unwrap();
        let opened = env.f.c.open_erc20(&mut env.f.chain, o, r, u192(20)).unwrap();
        let c = ChannelId { sender: o, receiver: r, open_block: opened.block_number as u32 };
        rounds.push((a, b, c));
    }
    env.mine(&manager, CONFIRMATIONS);
    for (round, (a, b, c)) in rounds.into_iter().enumerate() {
        env.pay(&manager, &a, 9, 9).unwrap();
        env.pay(&manager, &b, 9, 9).unwrap();
        let sig = outsider.sign_digest(env.f.c.domain.balance_digest(r, c.open_block, u192(9)));
        env.pay_with(&manager, &c, 9, &sig, 9).unwrap();
        let before = env.token_balance(r);

        env.rt.block_on(node.anvil_set_auto_mine(false)).unwrap();
        request_close(&env, &sender, &a, 2);
        request_close(&env, &sender, &b, 3);
        request_close(&env, &outsider, &c, 1);
        env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
        wait_for(Duration::from_secs(30), &format!("round {round}: three disputes"), || {
            env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            [a, b, c].iter().all(|ch| settled_with(&manager, ch).is_some())
        });
        env.rt.block_on(node.anvil_set_auto_mine(true)).unwrap();
        for ch in [a, b, c] {
            assert_eq!(settled_with(&manager, &ch), Some(9), "round {round}");
        }
        assert_eq!(env.token_balance(r), before + 27, "round {round}");
        // Each dispute's outcome is recorded once its closer sees the receipt.
        let mut mined = Vec::new();
        wait_for(Duration::from_secs(10), &format!("round {round}: three disputes recorded"), || {
            mined = [a, b, c]
                .iter()
                .flat_map(|ch| env.rt.block_on(manager.store().close_txs(ch)).unwrap())
                .filter(|t| t.state == CloseTxState::Mined)
                .collect();
            mined.len() == 3
        });
        // One sender, one nonce sequence: no dispute failed or replaced another's transaction,
        // and each channel took exactly one close transaction.
        assert_eq!(manager.status().failed_closes, 0, "round {round}: {:?}", manager.status().last_close_error);
        for ch in [a, b, c] {
            let txs = env.rt.block_on(manager.store().close_txs(&ch)).unwrap();
            assert_eq!(txs.len(), 1, "round {round}: one close transaction: {txs:?}");
            assert!(txs.iter().all(|t| t.state != CloseTxState::Replaced), "round {round}: {txs:?}");
        }
    }
}

/// The receiver's dispute is mined, then a shallow reorg (shallower than the confirmations)
/// drops its block while the sender's close request stays on chain: the dispute is sent again
/// and the channel settles at the receiver's proof.
#[test]
fn a_dispute_dropped_by_a_shallow_reorg_is_sent_again() {
    let mut env = Env::new();
    let manager = env.start(quick(env.config()));
    let ch = paid_channel(&mut env, &manager, 40, 12);
    let receiver_before = env.token_balance(ch.receiver);

    let node = common::provider(&env.url, None);
    env.rt.block_on(node.anvil_set_auto_mine(false)).unwrap();
    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    wait_for(Duration::from_secs(20), "the dispute sent", || {
        !env.rt.block_on(manager.store().close_txs(&ch)).unwrap().is_empty()
    });
    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    wait_for(Duration::from_secs(20), "the dispute's receipt seen", || {
        env.rt.block_on(manager.store().close_txs(&ch)).unwrap().iter().any(|t| t.state == CloseTxState::Mined)
    });
    // The block of the dispute goes away (the close request's stays), and so does the dispute.
    env.rt.block_on(node.anvil_rollback(Some(1))).unwrap();
    env.rt.block_on(node.anvil_drop_all_transactions()).unwrap();
    let receipt = env
        .rt
        .block_on(node.get_transaction_receipt(env.rt.block_on(manager.store().close_txs(&ch)).unwrap()[0].tx_hash));
    assert!(receipt.unwrap().is_none(), "the dispute is no longer on chain");

    wait_for(Duration::from_secs(30), "the dispute sent again and mined", || {
        env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        settled_with(&manager, &ch).is_some()
    });
    env.rt.block_on(node.anvil_set_auto_mine(true)).unwrap();
    assert_eq!(settled_with(&manager, &ch), Some(12));
    assert_eq!(env.token_balance(ch.receiver), receiver_before + 12);
}

/// A close request known before a deep reorg is disputed while the chain is re-read, long
/// before the re-read reaches its block again.
#[test]
fn a_close_request_known_before_a_deep_reorg_is_disputed_during_the_re_read() {
    let mut env = Env::new();
    let mut config = quick(env.config());
    config.tx.retry_min = Duration::from_millis(100);
    config.tx.retry_max = Duration::from_millis(100);
    let manager = env.start(config.clone());
    let ch = env.f.open_erc20(40);
    // Far from the deployment: the re-read takes many ranges to reach the close request.
    env.mine(&manager, 4000);
    env.pay(&manager, &ch, 12, 12).unwrap();
    let receiver = ch.receiver;
    let receiver_before = env.token_balance(receiver);
    env.f.chain.set_balance(receiver, U256::from(1_000u64)).unwrap();
    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.mine(&manager, CONFIRMATIONS + 6);
    wait_for(Duration::from_secs(20), "the close request stored", || {
        env.rt
            .block_on(manager.store().channel(&ch))
            .unwrap()
            .is_some_and(|r| r.status == ChannelStatus::Closing && r.closing_balance == Some(amount(5)))
    });
    wait_status(&manager, Duration::from_secs(10), "a failed dispute", |s| s.failed_closes >= 1);
    env.rt.block_on(manager.shutdown());
    // One block per range: the re-read is slow.
    config.max_log_range = 1;
    let manager = env.start(config);

    let node = common::provider(&env.url, None);
    env.rt.block_on(node.anvil_rollback(Some(CONFIRMATIONS + 1))).unwrap();
    // Later timestamps: the new blocks differ from those they replace.
    env.rt.block_on(node.anvil_increase_time(60)).unwrap();
    env.f.chain.mine(CONFIRMATIONS + 3).unwrap();
    wait_for(Duration::from_secs(20), "the re-read", || manager.status().resyncs >= 1);
    env.f.chain.set_balance(receiver, U256::from(10u64).pow(U256::from(20u64))).unwrap();
    let mut halted_when_mined = None;
    wait_for(Duration::from_secs(30), "the dispute", || {
        let mined =
            env.rt.block_on(manager.store().close_txs(&ch)).unwrap().iter().any(|t| t.state == CloseTxState::Mined);
        if mined {
            halted_when_mined = Some(manager.status().halted.is_some());
        }
        mined
    });
    assert_eq!(halted_when_mined, Some(true), "disputed before the re-read caught up");
    wait_status(&manager, Duration::from_secs(60), "payments resume", |s| s.ready() && s.halted.is_none());
    env.mine(&manager, CONFIRMATIONS);
    wait_for(Duration::from_secs(20), "the settlement seen", || settled_with(&manager, &ch).is_some());
    assert_eq!(settled_with(&manager, &ch), Some(12));
    assert_eq!(env.token_balance(receiver), receiver_before + 12);
}

/// A reorg deeper than the confirmations: payments stop while the chain is re-read from the
/// deployment block, a low close request made after it is disputed, and payments resume on the
/// proofs kept.
#[test]
fn after_a_deep_reorg_the_chain_is_re_read_close_requests_disputed_and_proofs_kept() {
    let mut env = Env::new();
    let manager = env.start(quick(env.config()));
    let a = env.f.open_erc20(30);
    let b = env.f.open_erc20(30);
    env.mine(&manager, CONFIRMATIONS + 6);
    env.pay(&manager, &a, 7, 7).unwrap();
    env.pay(&manager, &b, 4, 4).unwrap();
    let receiver_before = env.token_balance(a.receiver);

    let node = common::provider(&env.url, None);
    env.rt.block_on(node.anvil_rollback(Some(CONFIRMATIONS + 1))).unwrap();
    env.f.chain.mine(CONFIRMATIONS + 3).unwrap();
    wait_for(Duration::from_secs(20), "the re-read", || manager.status().resyncs >= 1);
    wait_status(&manager, Duration::from_secs(20), "payments resume", |s| s.ready() && s.halted.is_none());

    let sender = env.f.sender.clone();
    request_close(&env, &sender, &a, 2);
    wait_for(Duration::from_secs(20), "the dispute", || settled_with(&manager, &a).is_some());
    assert_eq!(settled_with(&manager, &a), Some(7));
    assert_eq!(env.token_balance(a.receiver), receiver_before + 7);
    let record = manager.record(b.sender, b.open_block).unwrap();
    assert_eq!((record.deposit, record.balance, record.status), (amount(30), amount(4), ChannelStatus::Open));
    env.pay(&manager, &b, 5, 1).expect("the payment extends the proof kept");
}

/// With the automatic re-read turned off, a deep reorg stops payments; `uraiden receiver
/// resync` rebuilds the chain-derived state from the events, keeping the proofs, and the
/// restarted manager takes payments again.
#[test]
fn the_resync_command_is_the_way_back_after_a_deep_reorg() {
    let mut env = Env::new();
    let mut config = quick(env.config());
    config.resync_on_deep_reorg = false;
    let manager = env.start(config.clone());
    let a = env.f.open_erc20(30);
    env.mine(&manager, CONFIRMATIONS + 6);
    env.pay(&manager, &a, 4, 4).unwrap();
    let proof = manager.record(a.sender, a.open_block).unwrap().balance_sig;

    let node = common::provider(&env.url, None);
    env.rt.block_on(node.anvil_rollback(Some(CONFIRMATIONS + 1))).unwrap();
    env.f.chain.mine(CONFIRMATIONS + 3).unwrap();
    wait_status(&manager, Duration::from_secs(20), "halted", |s| s.halted.is_some());
    assert!(matches!(env.pay(&manager, &a, 5, 1), Err(PaymentError::Unavailable(_))));
    env.rt.block_on(manager.shutdown());

    let key = format!("{}", alloy_primitives::keccak256("uraiden test key 2"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_uraiden"))
        .args(["receiver", "resync", "--store", &config.store_url, "--contract", &env.f.c.channels.to_string()])
        .args(["--confirmations", "3", "--rpc-url", &env.url])
        .env("PRIVATE_KEY", &key)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1 channel(s) keep their proofs") && stdout.contains("1 open"), "{stdout}");

    let manager = env.start(config);
    assert!(manager.status().ready(), "{:?}", manager.status());
    let record = manager.record(a.sender, a.open_block).unwrap();
    assert_eq!((record.deposit, record.balance, record.balance_sig), (amount(30), amount(4), proof));
    env.pay(&manager, &a, 5, 1).expect("payments resume on the proof kept");
}

/// The node unreachable for longer than half the challenge period (10 blocks of 0.2 s here):
/// payments stop with `node_unreachable`, and `/ready`'s status says so; they resume with the
/// node.
#[test]
fn payments_stop_when_the_node_is_unreachable_for_half_the_challenge_period() {
    let mut env = Env::new();
    let forwarder = env.rt.block_on(Forwarder::start(anvil_addr(&env)));
    let mut config = env.config();
    config.rpc_url = forwarder.url.clone();
    config.node_timeout = Duration::from_millis(200);
    config.block_time = Duration::from_millis(200);
    let manager = env.start(config);
    let ch = paid_channel(&mut env, &manager, 40, 3);
    assert!(manager.status().ready());

    let cut = Instant::now();
    forwarder.set(Link::Cut);
    env.pay(&manager, &ch, 4, 1).expect("a short outage is survived");
    wait_status(&manager, Duration::from_secs(10), "payments stopped", |s| {
        s.refusing_payments == Some("node_unreachable")
    });
    // The last successful poll came at most a poll (50 ms, and its requests) before the cut.
    assert!(cut.elapsed() >= Duration::from_millis(800), "not before half the challenge period");
    let refused = env.pay(&manager, &ch, 5, 1).unwrap_err();
    assert!(matches!(refused, PaymentError::NodeUnreachable { .. }), "{refused:?}");
    assert_eq!(refused.reason(), uraiden::protocol::Reason::NodeUnreachable);
    let status = manager.status();
    assert!(!status.ready());
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["refusing_payments"], "node_unreachable", "{json}");

    forwarder.set(Link::Up);
    wait_status(&manager, Duration::from_secs(15), "payments resume", |s| s.ready());
    env.pay(&manager, &ch, 5, 1).expect("the node is back");
}

/// Two managers of one receiver on one PostgreSQL store, the first leading the chain work (the
/// second started once it does), and a channel of 40 paid up to 12 through the leader.
fn leader_and_follower(env: &mut Env, config: ManagerConfig) -> (ChannelManager, ChannelManager, ChannelId) {
    let leader = env.start(config.clone());
    wait_status(&leader, Duration::from_secs(10), "the first manager leads", |s| s.chain_work);
    let follower = env.start(config);
    let ch = paid_channel(env, &leader, 40, 12);
    env.sync(&follower);
    assert!(!follower.status().chain_work, "one leader at a time");
    (leader, follower, ch)
}

/// Two managers of one receiver on one PostgreSQL store: the leader of the chain work sends a
/// dispute, which stays in the mempool, and stops; the other takes the chain work over, finds
/// that close in the store, and replaces it at the same nonce instead of sending a second close
/// (which, once the first was mined, would revert and cost the receiver its gas). One close is
/// mined, with the best proof; the receiver's account sent one transaction.
#[test]
fn a_dispute_pending_when_its_leader_stops_is_replaced_by_the_next_leader_not_doubled() {
    let mut env = Env::on(common::receivers::Backend::Postgres);
    let mut config = quick(env.config());
    config.tx.stuck_after = Duration::from_secs(60);
    let (leader, follower, ch) = leader_and_follower(&mut env, config);
    let receiver_before = env.token_balance(ch.receiver);
    let node = common::provider(&env.url, Some(&env.f.sender));
    let nonce_before = env.rt.block_on(async { node.get_transaction_count(ch.receiver).await }).unwrap();

    // Blocks by hand: the dispute stays pending.
    env.rt.block_on(node.anvil_set_auto_mine(false)).unwrap();
    let sender = env.f.sender.clone();
    request_close(&env, &sender, &ch, 5);
    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    let txs = |env: &Env| env.rt.block_on(follower.store().close_txs(&ch)).unwrap();
    wait_for(Duration::from_secs(20), "the leader's dispute", || !txs(&env).is_empty());
    let first = txs(&env)[0].clone();
    assert_eq!((first.state, first.balance), (CloseTxState::Pending, amount(12)));
    env.rt.block_on(leader.shutdown());

    wait_status(&follower, Duration::from_secs(20), "the follower takes the chain work over", |s| s.chain_work);
    wait_for(Duration::from_secs(20), "the new leader's replacement", || txs(&env).len() >= 2);
    let sent = txs(&env);
    assert!(sent.iter().all(|t| t.nonce == first.nonce), "the same nonce: {sent:?}");
    let pool = rpc(&env, &node, "txpool_content", serde_json::json!([]));
    let receiver_key = format!("{:#x}", ch.receiver);
    let pending = pool["pending"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.to_lowercase() == receiver_key)
        .map(|(_, v)| v.as_object().unwrap().len())
        .sum::<usize>();
    assert_eq!(pending, 1, "one close of the receiver's in the pool: {pool}");

    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    wait_for(Duration::from_secs(20), "the mined close recorded", || {
        txs(&env).iter().any(|t| t.state == CloseTxState::Mined)
    });
    env.rt.block_on(node.anvil_set_auto_mine(true)).unwrap();
    env.mine(&follower, CONFIRMATIONS);
    assert_eq!(settled_with(&follower, &ch), Some(12));
    assert_eq!(env.token_balance(ch.receiver), receiver_before + 12);
    let nonce_after = env.rt.block_on(async { node.get_transaction_count(ch.receiver).await }).unwrap();
    assert_eq!(nonce_after, nonce_before + 1, "one transaction of the receiver's");
}

/// A cash-out the operator asks a server for is sent whether or not that server leads the chain
/// work (only the answers to close requests wait for the lease), with the best proof any server
/// registered.
#[test]
fn a_cash_out_asked_of_a_server_that_does_not_lead_is_sent() {
    let mut env = Env::on(common::receivers::Backend::Postgres);
    let config = env.config();
    let (_leader, other, ch) = leader_and_follower(&mut env, config);
    let outcome = env.rt.block_on(other.close_channel(ch.sender, ch.open_block)).expect("the cash-out is sent");
    assert_eq!(outcome.balance, amount(12), "with the proof the leader registered");
    env.mine(&other, CONFIRMATIONS);
    assert_eq!(settled_with(&other, &ch), Some(12));
}
