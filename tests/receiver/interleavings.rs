//! A property test: random interleavings of chain events (opens, top-ups, blocks, close
//! requests) and payments (valid, stale, replayed, forged, above the deposit, wrong amounts,
//! concurrent, racing) and restarts, against a simple model of what the receiver should hold.
//! After every step the manager's view and its store agree with the model, and the receiver
//! never holds less than the best proof it acknowledged.
//!
//! Each case runs on a fresh anvil; `PROPTEST_CASES` sets how many (default 16).

use std::time::Duration;

use alloy_primitives::Bytes;
use proptest::prelude::*;
use uraiden::{
    channel::ChannelId,
    channel::ChannelStatus,
    receiver::{ChannelManager, PaymentError},
};

use crate::{
    common::receivers::{CONFIRMATIONS, Env},
    common::{FUNDS, u192, u256},
};

/// A payment the test sends.
#[derive(Clone, Debug)]
enum Pay {
    /// The last balance plus the price, signed by the sender.
    Valid,
    /// The last registered balance again, freshly signed.
    Stale,
    /// The last accepted proof, replayed.
    Replay,
    /// The right balance, signed by someone else.
    Forged,
    /// One above the confirmed deposit, with the price that would make the amount right.
    AboveDeposit,
    /// One more than the price.
    Overpaid,
}

#[derive(Clone, Debug)]
enum Action {
    Open(u64),
    TopUp(usize, u64),
    Mine(u64),
    Pay(usize, Pay, u64),
    /// The same valid proof twice at once.
    Twice(usize, u64),
    /// Proofs of last + price and last + 2 × price, each for the price, at once.
    Race(usize, u64),
    /// The sender asks to close at `num / 4` of what the receiver holds (rounded), or of the
    /// deposit when nothing was paid.
    Close(usize, u64),
    /// A payment on a channel that does not exist.
    Unknown(u64),
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    let pay = prop_oneof![
        4 => Just(Pay::Valid),
        1 => Just(Pay::Stale),
        1 => Just(Pay::Replay),
        1 => Just(Pay::Forged),
        1 => Just(Pay::AboveDeposit),
        1 => Just(Pay::Overpaid),
    ];
    prop_oneof![
        2 => (1u64..=40).prop_map(Action::Open),
        2 => (0usize..4, 1u64..=30).prop_map(|(i, a)| Action::TopUp(i, a)),
        3 => (1u64..=3).prop_map(Action::Mine),
        8 => (0usize..4, pay, 1u64..=6).prop_map(|(i, p, price)| Action::Pay(i, p, price)),
        1 => (0usize..4, 1u64..=6).prop_map(|(i, price)| Action::Twice(i, price)),
        1 => (0usize..4, 1u64..=6).prop_map(|(i, price)| Action::Race(i, price)),
        1 => (0usize..4, 0u64..=5).prop_map(|(i, n)| Action::Close(i, n)),
        1 => (1u64..=5).prop_map(Action::Unknown),
        1 => Just(Action::Restart),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Closing,
    Settled,
}

/// What the receiver should hold for one channel.
#[derive(Debug)]
struct Expected {
    id: ChannelId,
    /// Cumulative deposits and the blocks they were made in.
    deposits: Vec<(u64, u64)>,
    balance: u64,
    last_signature: Option<Bytes>,
    /// The proofs acknowledged, by balance (to check what a refusal returns as the last one).
    proofs: Vec<(u64, Bytes)>,
    /// The highest balance the manager acknowledged.
    acknowledged: u64,
    phase: Phase,
}

impl Expected {
    /// The proof the receiver held when its balance was `balance`.
    fn last_signature_before(&self, balance: u64) -> Option<Bytes> {
        self.proofs.iter().rev().find(|(b, _)| *b == balance).map(|(_, p)| p.clone())
    }

    fn confirmed(&self, head: u64) -> bool {
        head + 1 >= u64::from(self.id.open_block) + CONFIRMATIONS
    }

    /// The deposit of the confirmed top-ups (0 while the opening is unconfirmed).
    fn confirmed_deposit(&self, head: u64) -> u64 {
        self.deposits
            .iter()
            .filter(|(block, _)| head + 1 >= block + CONFIRMATIONS)
            .map(|(_, d)| *d)
            .next_back()
            .unwrap_or(0)
    }

    /// The answer the manager should give to a payment of `price` bringing it to `balance`
    /// (`forged`: not the sender's signature).
    fn verdict(&self, head: u64, balance: u64, price: u64, forged: bool) -> Result<(), &'static str> {
        if self.phase != Phase::Open {
            return Err("channel_closing");
        }
        if !self.confirmed(head) {
            return Err("insufficient_confirmations");
        }
        if forged {
            return Err("invalid_signature");
        }
        if balance != self.balance + price {
            return Err("amount_mismatch");
        }
        if balance > self.confirmed_deposit(head) {
            return Err("balance_exceeds_deposit");
        }
        Ok(())
    }
}

struct Run {
    env: Env,
    manager: Option<ChannelManager>,
    channels: Vec<Expected>,
    deposited: u64,
}

impl Run {
    fn manager(&self) -> &ChannelManager {
        self.manager.as_ref().expect("a running manager")
    }

    fn head(&self) -> u64 {
        uraiden::chain::Chain::block_number(&self.env.f.chain).unwrap()
    }

    fn sync(&self) {
        self.env.sync(self.manager());
    }

    fn register(&self, id: &ChannelId, balance: u64, signature: &Bytes, price: u64) -> Result<u64, PaymentError> {
        self.env.pay_with(self.manager(), id, balance, signature, price).map(|p| p.balance.to::<u64>())
    }

    /// Checks one payment's answer against `expected`, and adopts it.
    fn settle_answer(
        &mut self,
        i: usize,
        answer: Result<u64, PaymentError>,
        expected: Result<(), &str>,
        signature: Bytes,
    ) {
        let channel = &mut self.channels[i];
        match (answer, expected) {
            (Ok(balance), Ok(())) => {
                channel.balance = balance;
                channel.acknowledged = channel.acknowledged.max(balance);
                channel.proofs.push((balance, signature.clone()));
                channel.last_signature = Some(signature);
            }
            (Err(error), Err(reason)) => {
                assert_eq!(error.reason().as_str(), reason, "{error}");
                if let PaymentError::AmountMismatch { last_balance, last_signature, .. } = &error {
                    assert_eq!(last_balance.to::<u64>(), channel.balance, "the mismatch names the last balance");
                    assert_eq!(last_signature, &channel.last_signature, "and returns its proof");
                }
            }
            (answer, expected) => panic!("payment answered {answer:?}, the model expected {expected:?}"),
        }
    }

    fn step(&mut self, action: &Action) {
        let head = self.head();
        let pick = |i: usize, n: usize| (n > 0).then(|| i % n);
        match action.clone() {
            Action::Open(deposit) => {
                if self.deposited + deposit > FUNDS {
                    return;
                }
                let id = self.env.f.open_erc20(deposit);
                self.deposited += deposit;
                let block = u64::from(id.open_block);
                self.channels.push(Expected {
                    id,
                    deposits: vec![(block, deposit)],
                    balance: 0,
                    last_signature: None,
                    proofs: Vec::new(),
                    acknowledged: 0,
                    phase: Phase::Open,
                });
                self.sync();
            }
            Action::TopUp(i, amount) => {
                let Some(i) = pick(i, self.channels.len()) else { return };
                if self.channels[i].phase != Phase::Open || self.deposited + amount > FUNDS {
                    return;
                }
                let f = &mut self.env.f;
                let id = self.channels[i].id;
                f.c.approve(&mut f.chain, id.sender, f.c.channels, u256(amount)).unwrap();
                let tx = f.c.top_up_erc20(&mut f.chain, &id, u192(amount)).unwrap();
                self.deposited += amount;
                let last = self.channels[i].deposits.last().unwrap().1;
                self.channels[i].deposits.push((tx.block_number, last + amount));
                self.sync();
            }
            Action::Mine(blocks) => {
                let manager = self.manager.take().unwrap();
                self.env.mine(&manager, blocks);
                self.manager = Some(manager);
            }
            Action::Pay(i, kind, price) => {
                let Some(i) = pick(i, self.channels.len()) else { return };
                let (id, last) = (self.channels[i].id, self.channels[i].balance);
                let deposit = self.channels[i].confirmed_deposit(head);
                let f = &self.env.f;
                let (balance, price, signature, forged) = match kind {
                    Pay::Valid => (last + price, price, f.pay(&id, last + price), false),
                    Pay::Stale => (last, price, f.pay(&id, last), false),
                    Pay::Replay => {
                        let signature = self.channels[i].last_signature.clone().unwrap_or_else(|| f.pay(&id, last));
                        (last, price, signature, false)
                    }
                    Pay::Forged => {
                        let digest = f.c.domain.balance_digest(id.receiver, id.open_block, u192(last + price));
                        (last + price, price, f.outsider.sign_digest(digest), true)
                    }
                    Pay::AboveDeposit => {
                        let balance = (deposit + 1).max(last + 1);
                        (balance, balance - last, f.pay(&id, balance), false)
                    }
                    Pay::Overpaid => (last + price + 1, price, f.pay(&id, last + price + 1), false),
                };
                let expected = self.channels[i].verdict(head, balance, price, forged);
                let answer = self.register(&id, balance, &signature, price);
                self.settle_answer(i, answer, expected, signature);
            }
            Action::Twice(i, price) => {
                let Some(i) = pick(i, self.channels.len()) else { return };
                let (id, last) = (self.channels[i].id, self.channels[i].balance);
                let signature = self.env.f.pay(&id, last + price);
                let expected = self.channels[i].verdict(head, last + price, price, false);
                let manager = self.manager();
                let (a, b) = self.env.rt.block_on(async {
                    let pay = || {
                        manager.register_payment(id.sender, id.open_block, u192(last + price), &signature, u192(price))
                    };
                    tokio::join!(pay(), pay())
                });
                let (a, b) = (a.map(|p| p.balance.to::<u64>()), b.map(|p| p.balance.to::<u64>()));
                if expected.is_ok() {
                    assert!(a.is_ok() != b.is_ok(), "exactly one of the same proof twice is accepted: {a:?} {b:?}");
                    let (ok, refused) = if a.is_ok() { (a, b) } else { (b, a) };
                    self.settle_answer(i, ok, Ok(()), signature.clone());
                    self.settle_answer(i, refused, Err("amount_mismatch"), signature);
                } else {
                    self.settle_answer(i, a, expected, signature.clone());
                    self.settle_answer(i, b, expected, signature);
                }
            }
            Action::Race(i, price) => {
                let Some(i) = pick(i, self.channels.len()) else { return };
                let (id, last) = (self.channels[i].id, self.channels[i].balance);
                let (one, two) = (last + price, last + 2 * price);
                let (first, second) = (self.env.f.pay(&id, one), self.env.f.pay(&id, two));
                let manager = self.manager();
                let (a, b) = self.env.rt.block_on(async {
                    tokio::join!(
                        manager.register_payment(id.sender, id.open_block, u192(one), &first, u192(price)),
                        manager.register_payment(id.sender, id.open_block, u192(two), &second, u192(price)),
                    )
                });
                let (a, b) = (a.map(|p| p.balance.to::<u64>()), b.map(|p| p.balance.to::<u64>()));
                // The first proof alone follows the model's state; the second only once the
                // first was registered, whichever order the manager took them in.
                let expected = self.channels[i].verdict(head, one, price, false);
                self.settle_answer(i, a, expected, first);
                match &b {
                    Err(PaymentError::AmountMismatch { last_balance, last_signature, .. })
                        if last_balance.to::<u64>() == last =>
                    {
                        // Taken before the first: refused, with the state before both.
                        assert_eq!(last_signature, &self.channels[i].last_signature_before(last));
                    }
                    _ => {
                        let expected = self.channels[i].verdict(head, two, price, false);
                        self.settle_answer(i, b, expected, second);
                    }
                }
            }
            Action::Close(i, quarter) => {
                let Some(i) = pick(i, self.channels.len()) else { return };
                let channel = &self.channels[i];
                if channel.phase != Phase::Open {
                    return;
                }
                let (id, ours) = (channel.id, channel.balance);
                let deposit = channel.deposits.last().unwrap().1;
                let requested = if ours > 0 { (ours * quarter / 4).min(deposit) } else { deposit * quarter / 5 };
                let f = &mut self.env.f;
                let proof = f.pay(&id, requested);
                f.c.close(&mut f.chain, id.sender, id.receiver, id.open_block, u192(requested), proof).unwrap();
                self.sync();
                // Below or equal to the receiver's proof: it closes at once with its own
                // (settled); above it, or nothing paid: it waits for the sender's settle.
                let disputed = ours > 0 && requested <= ours;
                self.channels[i].phase = if disputed { Phase::Settled } else { Phase::Closing };
                if disputed {
                    self.wait_settled(&id);
                }
            }
            Action::Unknown(price) => {
                let id = self.env.f.channel(u32::try_from(head).unwrap() + 1000);
                let answer = self.register(&id, price, &self.env.f.pay(&id, price), price);
                assert!(matches!(answer, Err(PaymentError::UnknownChannel { .. })), "{answer:?}");
            }
            Action::Restart => {
                let manager = self.manager.take().unwrap();
                self.env.rt.block_on(manager.shutdown());
                self.manager = Some(self.env.start(self.env.config()));
            }
        }
    }

    /// Waits until the manager's own close of `id` is mined and seen.
    fn wait_settled(&self, id: &ChannelId) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.sync();
            if self.manager().channel(id.sender, id.open_block).is_some_and(|v| v.status == ChannelStatus::Settled) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the receiver's close of {id:?} was never seen mined");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The manager's view and its store against the model.
    fn check(&self) {
        let head = self.head();
        for expected in &self.channels {
            let id = &expected.id;
            let view = self.manager().channel(id.sender, id.open_block).unwrap_or_else(|| panic!("{id:?} unknown"));
            assert_eq!(view.balance.to::<u64>(), expected.balance, "{id:?}: the registered balance");
            assert!(view.balance.to::<u64>() >= expected.acknowledged, "{id:?}: less than it acknowledged");
            assert_eq!(view.confirmed, expected.confirmed(head), "{id:?}: confirmed at head {head}");
            assert_eq!(view.deposit.to::<u64>(), expected.confirmed_deposit(head), "{id:?}: the confirmed deposit");
            let phase = match view.status {
                ChannelStatus::Open => Phase::Open,
                ChannelStatus::Closing => Phase::Closing,
                ChannelStatus::Settled => Phase::Settled,
            };
            assert_eq!(phase, expected.phase, "{id:?}: the status");
            let record = self.env.rt.block_on(self.manager().store().channel(id)).unwrap();
            assert_eq!(record.is_some(), expected.confirmed(head), "{id:?}: stored once confirmed");
            if let Some(record) = record {
                assert_eq!(record.balance.to::<u64>(), expected.balance, "{id:?}: the stored balance");
                assert_eq!(record.balance_sig, expected.last_signature, "{id:?}: the stored proof");
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_receiver_holds_what_the_model_says_through_any_interleaving(
        actions in proptest::collection::vec(action(), 1..30)
    ) {
        let env = Env::new();
        let manager = env.start(env.config());
        let mut run = Run { env, manager: Some(manager), channels: Vec::new(), deposited: 0 };
        for action in &actions {
            run.step(action);
            run.check();
        }
        let manager = run.manager.take().unwrap();
        run.env.rt.block_on(manager.shutdown());
    }
}
