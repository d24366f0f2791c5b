//! What the manager survives: the node going away (connections cut, or a node that stops
//! answering), a close transaction stuck in the mempool, and a receiver short of ether.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    network::TransactionBuilder,
    providers::{DynProvider, Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
};
use alloy_primitives::U256;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use uraiden::{
    chain::Chain,
    channel::ChannelStatus,
    contract::Call,
    receiver::{ChannelManager, CloseTxState, PaymentError, SyncStatus},
};

use super::{
    common::receivers::{CONFIRMATIONS, Env, amount},
    common::{self, u192},
};

/// What the forwarder does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// Passes bytes both ways.
    Up,
    /// Closes every connection, and each new one at once (a node that went away).
    Cut,
    /// Holds every connection open and passes nothing (a node that hangs).
    Stalled,
    /// Like `Stalled`, but the connections open meanwhile stay silent for good, even once the
    /// link is up again (half-open connections to a node that went away): only a client that
    /// gives up on a request and opens a new connection gets through again.
    Blackhole,
}

/// A TCP forwarder between the manager and anvil that the test cuts and restores (stopping
/// anvil itself would lose the chain).
pub(super) struct Forwarder {
    pub(super) url: String,
    link: watch::Sender<Link>,
    /// Connections accepted while the link was not up.
    refused: Arc<AtomicUsize>,
}

impl Forwarder {
    pub(super) async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (link, link_rx) = watch::channel(Link::Up);
        let refused = Arc::new(AtomicUsize::new(0));
        let counter = refused.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (mut link, counter) = (link_rx.clone(), counter.clone());
                tokio::spawn(async move {
                    let state = *link.borrow_and_update();
                    if state != Link::Up {
                        counter.fetch_add(1, Ordering::SeqCst);
                        if state == Link::Blackhole {
                            let _held = inbound;
                            std::future::pending::<()>().await;
                        }
                        if state == Link::Stalled {
                            // Hold it, answering nothing, until the link changes.
                            let _ = link.changed().await;
                        }
                        return;
                    }
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    let down = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        changed = link.wait_for(|l| *l != Link::Up) => changed.is_ok(),
                    };
                    // Cut: drop both ends now. Stalled: keep the client's end open, silent.
                    drop(outbound);
                    if down && *link.borrow() == Link::Blackhole {
                        std::future::pending::<()>().await;
                    }
                    let stalled = down && *link.borrow() == Link::Stalled;
                    if stalled {
                        let _ = link.wait_for(|l| *l != Link::Stalled).await;
                    }
                });
            }
        });
        Self { url, link, refused }
    }

    pub(super) fn set(&self, link: Link) {
        self.refused.store(0, Ordering::SeqCst);
        self.link.send_replace(link);
    }
}

/// Waits up to `limit` for the manager's status to satisfy `done`.
pub(super) fn wait_status(manager: &ChannelManager, limit: Duration, what: &str, done: impl Fn(&SyncStatus) -> bool) {
    let deadline = Instant::now() + limit;
    while !done(&manager.status()) {
        assert!(Instant::now() < deadline, "{what} within {limit:?}: {:?}", manager.status());
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(super) fn anvil_addr(env: &Env) -> SocketAddr {
    // anvil listens on 127.0.0.1 (its endpoint may name it localhost).
    let port = env.url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn the_node_going_away_is_survived_with_backoff_and_caught_up_when_it_returns() {
    let started = Instant::now();
    let mut env = Env::new();
    let forwarder = env.rt.block_on(Forwarder::start(anvil_addr(&env)));
    let mut config = env.config();
    config.rpc_url = forwarder.url.clone();
    config.node_timeout = Duration::from_secs(1);
    let manager = env.start(config);
    let ch = env.f.open_erc20(50);
    env.mine(&manager, CONFIRMATIONS);
    env.pay(&manager, &ch, 5, 5).unwrap();
    assert!(manager.status().ready());

    for (link, outage) in [(Link::Cut, Duration::from_secs(4)), (Link::Stalled, Duration::from_secs(4))] {
        let cut_at = Instant::now();
        forwarder.set(link);
        wait_status(&manager, Duration::from_secs(10), &format!("{link:?}: the node is said unreachable"), |s| {
            !s.node_reachable && !s.ready() && s.last_error.is_some()
        });
        let paid = manager.record(ch.sender, ch.open_block).unwrap().balance.to::<u64>();
        // Meanwhile the chain moves on: a top-up is confirmed, unseen by the manager.
        env.f.c.top_up_erc223(&mut env.f.chain, &ch, common::u256(20)).unwrap();
        env.f.chain.mine(CONFIRMATIONS).unwrap();
        let deposit = manager.channel(ch.sender, ch.open_block).unwrap().deposit.to::<u64>();
        // A payment on the confirmed channel is still accepted, within what it knew.
        env.pay(&manager, &ch, paid + 1, 1).expect("payments on a confirmed channel continue");
        assert_eq!(
            env.pay(&manager, &ch, deposit + 1, deposit - paid),
            Err(PaymentError::InsufficientFunds { balance: amount(deposit + 1), deposit: amount(deposit) }),
            "the top-up is not seen yet"
        );
        std::thread::sleep(outage.saturating_sub(cut_at.elapsed()));
        // Backoff: a poll every 50 ms would try 80 times in 4 s; doubling waits try a few.
        let attempts = forwarder.refused.load(Ordering::SeqCst);
        assert!((1..=12).contains(&attempts), "{link:?}: {attempts} connections in {outage:?}");

        forwarder.set(Link::Up);
        let restored = Instant::now();
        let head = env.f.chain.block_number().unwrap();
        let caught_up = |s: &SyncStatus| s.ready() && s.head >= head && s.last_error.is_none();
        // The longest wait is the last doubled one (3.2 s after a 4 s outage), then a poll.
        wait_status(&manager, Duration::from_secs(15), &format!("{link:?}: caught up"), caught_up);
        let view = manager.channel(ch.sender, ch.open_block).unwrap();
        assert_eq!(view.deposit.to::<u64>(), deposit + 20, "{link:?}: the top-up made meanwhile is caught up");
        env.pay(&manager, &ch, deposit + 1, deposit - paid).expect("and can be spent");
        eprintln!("{link:?}: {attempts} attempts while down, caught up in {:?}", restored.elapsed());
    }
    eprintln!("node test took {:?}", started.elapsed());
}

/// A raw JSON-RPC call to anvil.
pub(super) fn rpc(env: &Env, node: &DynProvider, method: &'static str, params: serde_json::Value) -> serde_json::Value {
    env.rt.block_on(node.raw_request::<_, serde_json::Value>(method.into(), params)).unwrap()
}

fn hex_u128(value: &serde_json::Value) -> u128 {
    u128::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn a_stuck_close_is_replaced_with_higher_fees_and_its_outcome_recorded() {
    let started = Instant::now();
    let mut env = Env::new();
    let mut config = env.config();
    config.tx.stuck_after = Duration::from_secs(2);
    config.tx.max_resends = 10;
    let manager = env.start(config);
    let ch = env.f.open_erc20(40);
    env.mine(&manager, CONFIRMATIONS);
    env.pay(&manager, &ch, 12, 12).unwrap();
    let (sender_before, receiver_before) = (env.token_balance(ch.sender), env.token_balance(ch.receiver));

    // Blocks are mined by hand from now on.
    let node = common::provider(&env.url, Some(&env.f.sender));
    env.rt.block_on(node.anvil_set_auto_mine(false)).unwrap();
    let low = env.f.pay(&ch, 5);
    let call = Call::Close { receiver: ch.receiver, open_block: ch.open_block, balance: u192(5), balance_sig: low };
    let (to, data) = call.encode(env.f.c.token, env.f.c.channels);
    let request = TransactionRequest::default().with_from(ch.sender).with_to(to).with_input(data);
    let sent = env.rt.block_on(node.send_transaction(request)).unwrap();
    let close_request = *sent.tx_hash();
    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    let mined = env.rt.block_on(node.get_transaction_receipt(close_request)).unwrap();
    assert!(mined.is_some_and(|r| r.status()), "the sender's close request is mined");

    // The receiver's close is sent at once and stays in the mempool; then it is replaced.
    let txs = |env: &Env| env.rt.block_on(manager.store().close_txs(&ch)).unwrap();
    let wait_sent = |env: &Env, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sent = txs(env);
            if sent.len() >= count {
                return sent;
            }
            assert!(Instant::now() < deadline, "{count} close transaction(s) not sent: {sent:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let first = wait_sent(&env, 1)[0].clone();
    assert_eq!((first.state, first.balance), (CloseTxState::Pending, amount(12)));
    let first_tx = rpc(&env, &node, "eth_getTransactionByHash", serde_json::json!([first.tx_hash]));
    let first_fee = hex_u128(&first_tx["maxFeePerGas"]);
    assert_eq!(hex_u128(&first_tx["nonce"]), u128::from(first.nonce));
    assert_eq!(manager.channel(ch.sender, ch.open_block).unwrap().status, ChannelStatus::Closing);
    let sent = wait_sent(&env, 2);
    assert!(
        sent.iter().all(|t| t.nonce == first.nonce && t.state == CloseTxState::Pending),
        "the same nonce: {sent:?}"
    );
    // The pool holds one close from the receiver: a replacement with a higher fee.
    let pool = rpc(&env, &node, "txpool_content", serde_json::json!([]));
    let receiver_key = format!("{:#x}", ch.receiver);
    let pending: Vec<serde_json::Value> = pool["pending"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.to_lowercase() == receiver_key)
        .flat_map(|(_, v)| v.as_object().unwrap().values().cloned().collect::<Vec<_>>())
        .collect();
    assert_eq!(pending.len(), 1, "one transaction per nonce: {pool}");
    let in_pool = &pending[0];
    assert_eq!(hex_u128(&in_pool["nonce"]), u128::from(first.nonce));
    assert_ne!(in_pool["hash"].as_str(), Some(first.tx_hash.to_string().as_str()), "the first was replaced");
    assert!(sent.iter().any(|t| Some(t.tx_hash.to_string().as_str()) == in_pool["hash"].as_str()), "{in_pool}");
    let fee = hex_u128(&in_pool["maxFeePerGas"]);
    assert!(fee >= first_fee + first_fee / 4, "a max fee at least 25 % higher: {first_fee} then {fee}");

    env.rt.block_on(node.anvil_mine(Some(1), None)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let recorded = loop {
        let all = txs(&env);
        if all.iter().any(|t| t.state == CloseTxState::Mined) {
            break all;
        }
        assert!(Instant::now() < deadline, "the mined close is not recorded: {all:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mined: Vec<_> = recorded.iter().filter(|t| t.state == CloseTxState::Mined).collect();
    assert_eq!(mined.len(), 1, "{recorded:?}");
    assert!(mined[0].block.is_some() && mined[0].balance == amount(12), "{recorded:?}");
    assert!(
        recorded.iter().all(|t| t.state == CloseTxState::Mined || t.state == CloseTxState::Replaced),
        "{recorded:?}"
    );
    assert_eq!(env.token_balance(ch.receiver), receiver_before + 12, "the receiver's balance is paid");
    assert_eq!(env.token_balance(ch.sender), sender_before + 28, "the rest returns to the sender");

    env.rt.block_on(node.anvil_set_auto_mine(true)).unwrap();
    env.mine(&manager, CONFIRMATIONS);
    let view = manager.channel(ch.sender, ch.open_block).unwrap();
    assert_eq!((view.status, view.settled_balance), (ChannelStatus::Settled, Some(amount(12))));
    eprintln!("stuck close test took {:?}", started.elapsed());
}

#[test]
fn a_receiver_short_of_ether_for_a_close_is_reported_until_funded() {
    let mut env = Env::new();
    let manager = env.start(env.config());
    let receiver = env.f.receiver.address();
    assert_eq!(manager.status().low_funds, None);

    env.f.chain.set_balance(receiver, U256::from(1_000u64)).unwrap();
    wait_status(&manager, Duration::from_secs(20), "low ether reported", |s| s.low_funds.is_some());
    let low = manager.status().low_funds.unwrap();
    let node = common::provider(&env.url, None);
    let fees = env.rt.block_on(node.estimate_eip1559_fees()).unwrap();
    assert_eq!(low.balance, U256::from(1_000u64));
    assert_eq!(low.needed, U256::from(fees.max_fee_per_gas) * U256::from(120_000u64), "one close at current fees");
    assert!(manager.status().ready(), "a warning, not a stop");

    env.f.chain.set_balance(receiver, U256::from(10u64).pow(U256::from(20u64))).unwrap();
    wait_status(&manager, Duration::from_secs(20), "funding clears it", |s| s.low_funds.is_none());
}
