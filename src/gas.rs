//! Gas per channel operation on the embedded chain, next to the goals: `uraiden gas-report`.
//!
//! Every operation is measured in a world of its own, so no measurement warms another's state:
//! - **warm** (steady use): the sender, the receiver and the contract already hold tokens (the
//!   contract escrows another sender's channel); every ERC20 open or top-up is preceded by an
//!   `approve` of exactly its amount;
//! - **cold** (first use): only the sender holds tokens; the contract and the receiver hold none
//!   until the operation (a close is preceded only by the open it needs).

use alloy_primitives::{Address, Bytes, U256, aliases::U192};
use anyhow::{Context, ensure};
use serde::Serialize;

use crate::{
    chain::{Chain, EvmChain, TX_BASE_GAS},
    channel::ChannelId,
    contract::{Call, Contracts, open_data, top_up_data},
    proof::Signer,
};

const CHALLENGE_PERIOD: u32 = 10;

/// One operation's gas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GasRow {
    /// What was measured.
    pub operation: &'static str,
    /// Gas used by the transaction as its receipt reports it (refunds deducted). For a call:
    /// what the call spent.
    pub total: u64,
    /// `total` minus the 21,000 base and the calldata cost (4 per zero byte, 16 per other byte).
    pub execution: i64,
    /// The goal (warm only), on `total`, or on `execution` for `verifyBalanceProof`.
    pub goal: Option<u64>,
    /// Whether the goal is met (`None` without a goal).
    pub met: Option<bool>,
    /// Whether the goal is on execution gas rather than total gas.
    pub goal_on_execution: bool,
}

/// Gas of every operation, warm and cold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GasReport {
    /// Steady use.
    pub warm: Vec<GasRow>,
    /// First use.
    pub cold: Vec<GasRow>,
}

/// The measured operations, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    OpenErc20,
    OpenErc223,
    TopUpErc20,
    TopUpErc223,
    CooperativeClose,
    ReceiverClose,
    UncooperativeClose,
    Settle,
    VerifyBalanceProof,
}

impl Operation {
    const ALL: [Operation; 9] = [
        Operation::OpenErc20,
        Operation::OpenErc223,
        Operation::TopUpErc20,
        Operation::TopUpErc223,
        Operation::CooperativeClose,
        Operation::ReceiverClose,
        Operation::UncooperativeClose,
        Operation::Settle,
        Operation::VerifyBalanceProof,
    ];

    fn label(self) -> &'static str {
        match self {
            Operation::OpenErc20 => "open, ERC20",
            Operation::OpenErc223 => "open, ERC223",
            Operation::TopUpErc20 => "top-up, ERC20",
            Operation::TopUpErc223 => "top-up, ERC223",
            Operation::CooperativeClose => "cooperative close",
            Operation::ReceiverClose => "receiver close",
            Operation::UncooperativeClose => "uncooperative close",
            Operation::Settle => "settle",
            Operation::VerifyBalanceProof => "verifyBalanceProof (call)",
        }
    }

    /// The warm goal: on total gas, or on execution gas for the `verifyBalanceProof` call.
    fn goal(self) -> u64 {
        match self {
            Operation::OpenErc20 => 63_000,
            Operation::OpenErc223 => 63_500,
            Operation::TopUpErc20 => 47_000,
            Operation::TopUpErc223 => 47_500,
            Operation::CooperativeClose => 61_500,
            Operation::ReceiverClose => 55_500,
            Operation::UncooperativeClose => 58_500,
            Operation::Settle => 49_500,
            Operation::VerifyBalanceProof => 4_300,
        }
    }

    fn goal_on_execution(self) -> bool {
        self == Operation::VerifyBalanceProof
    }
}

/// The calldata cost of EIP-2028: 4 gas per zero byte, 16 per other byte.
pub fn calldata_cost(data: &[u8]) -> u64 {
    data.iter().map(|&b| if b == 0 { 4 } else { 16 }).sum()
}

struct World {
    chain: EvmChain,
    c: Contracts,
    sender: Signer,
    receiver: Signer,
}

impl World {
    fn new(warm: bool) -> anyhow::Result<Self> {
        let mut chain = EvmChain::new();
        let deployer = Signer::test_key(0);
        let sender = Signer::test_key(1);
        let receiver = Signer::test_key(2);
        let other = Signer::test_key(3);
        let (c, _) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000u64), CHALLENGE_PERIOD)?;
        c.transfer(&mut chain, deployer.address(), sender.address(), U256::from(1_000))?;
        if warm {
            c.transfer(&mut chain, deployer.address(), receiver.address(), U256::from(1_000))?;
            c.transfer(&mut chain, deployer.address(), other.address(), U256::from(1_000))?;
            c.open_erc223(&mut chain, other.address(), receiver.address(), U256::from(500))?;
        }
        Ok(Self { chain, c, sender, receiver })
    }

    /// Sends `call` from `from` and returns its row (without goal).
    fn measure(&mut self, operation: &'static str, from: Address, call: Call) -> anyhow::Result<GasRow> {
        let (to, data) = call.encode(self.c.token, self.c.channels);
        let receipt = self.chain.transact(from, to, data.clone())?;
        ensure!(receipt.outcome.is_success(), "{operation} failed: {:?}", receipt.outcome);
        Ok(row(operation, receipt.gas_used, &data))
    }

    fn open(&mut self) -> anyhow::Result<ChannelId> {
        let (s, r) = (self.sender.address(), self.receiver.address());
        let tx = self.c.open_erc223(&mut self.chain, s, r, U256::from(100))?;
        Ok(ChannelId { sender: s, receiver: r, open_block: u32::try_from(tx.block_number)? })
    }

    fn proof(&self, ch: &ChannelId, balance: u64) -> Bytes {
        self.sender.sign_digest(self.c.domain.balance_digest(ch.receiver, ch.open_block, U192::from(balance)))
    }

    fn approve(&mut self, amount: u64) -> anyhow::Result<()> {
        self.c.approve(&mut self.chain, self.sender.address(), self.c.channels, U256::from(amount))?;
        Ok(())
    }
}

fn row(operation: &'static str, total: u64, data: &[u8]) -> GasRow {
    let execution = total as i64 - TX_BASE_GAS as i64 - calldata_cost(data) as i64;
    GasRow { operation, total, execution, goal: None, met: None, goal_on_execution: false }
}

/// Measures one operation in a fresh world.
fn measure(op: Operation, warm: bool) -> anyhow::Result<GasRow> {
    let mut w = World::new(warm)?;
    if matches!(op, Operation::VerifyBalanceProof) {
        return w.measure_verify(op.label());
    }
    let (from, call) = w.prepare(op)?;
    w.measure(op.label(), from, call)
}

impl World {
    /// Brings the world to where `op` can run, and returns who sends it and the call.
    fn prepare(&mut self, op: Operation) -> anyhow::Result<(Address, Call)> {
        let (s, r) = (self.sender.address(), self.receiver.address());
        match op {
            Operation::OpenErc20 => {
                self.approve(100)?;
                Ok((s, Call::CreateChannelErc20 { receiver: r, deposit: U192::from(100) }))
            }
            Operation::OpenErc223 => {
                let call = Call::TransferWithData { to: self.c.channels, amount: U256::from(100), data: open_data(r) };
                Ok((s, call))
            }
            Operation::TopUpErc20 => {
                let ch = self.open()?;
                self.approve(50)?;
                Ok((s, Call::TopUpErc20 { receiver: r, open_block: ch.open_block, added: U192::from(50) }))
            }
            Operation::TopUpErc223 => {
                let ch = self.open()?;
                let data = top_up_data(r, ch.open_block);
                Ok((s, Call::TransferWithData { to: self.c.channels, amount: U256::from(50), data }))
            }
            Operation::CooperativeClose => Ok((s, self.cooperative_close()?)),
            Operation::ReceiverClose => Ok((r, self.close()?)),
            Operation::UncooperativeClose => Ok((s, self.close()?)),
            Operation::Settle => Ok((s, self.settle()?)),
            Operation::VerifyBalanceProof => anyhow::bail!("verifyBalanceProof is a view: measure_verify"),
        }
    }

    /// A channel opened, and the cooperative close of it at balance 40.
    fn cooperative_close(&mut self) -> anyhow::Result<Call> {
        let ch = self.open()?;
        let balance_sig = self.proof(&ch, 40);
        let closing_sig = self.receiver.sign_digest(self.c.domain.closing_digest(&balance_sig));
        Ok(Call::CooperativeClose {
            receiver: ch.receiver,
            open_block: ch.open_block,
            balance: U192::from(40),
            balance_sig,
            closing_sig,
        })
    }

    /// A channel opened, and the (uncooperative or receiver's) close of it at balance 40.
    fn close(&mut self) -> anyhow::Result<Call> {
        let ch = self.open()?;
        let balance_sig = self.proof(&ch, 40);
        Ok(Call::Close { receiver: ch.receiver, open_block: ch.open_block, balance: U192::from(40), balance_sig })
    }

    /// A channel opened, closed by its sender and past the challenge period, and its settle.
    fn settle(&mut self) -> anyhow::Result<Call> {
        let ch = self.open()?;
        let balance_sig = self.proof(&ch, 40);
        self.c.close(&mut self.chain, ch.sender, ch.receiver, ch.open_block, U192::from(40), balance_sig)?;
        self.chain.mine(u64::from(CHALLENGE_PERIOD))?;
        Ok(Call::Settle { receiver: ch.receiver, open_block: ch.open_block })
    }

    /// Measures the `verifyBalanceProof` view on an opened channel (a call, not a transaction).
    fn measure_verify(&mut self, operation: &'static str) -> anyhow::Result<GasRow> {
        let ch = self.open()?;
        let sig = self.proof(&ch, 40);
        let call = crate::contract::bindings::RaidenMicroTransferChannels::verifyBalanceProofCall {
            _receiver: ch.receiver,
            _open_block_number: ch.open_block,
            _balance: U192::from(40),
            _balance_msg_sig: sig,
        };
        let data = Bytes::from(alloy_sol_types::SolCall::abi_encode(&call));
        let (outcome, gas) = self.chain.call_with_gas(ch.receiver, self.c.channels, data.clone())?;
        ensure!(outcome.is_success(), "verifyBalanceProof failed: {outcome:?}");
        Ok(row(operation, gas, &data))
    }
}

impl GasReport {
    /// Measures every operation, warm and cold.
    pub fn measure() -> anyhow::Result<Self> {
        let mut warm = Vec::new();
        let mut cold = Vec::new();
        for op in Operation::ALL {
            let mut row = measure(op, true).with_context(|| format!("warm {}", op.label()))?;
            let measured = if op.goal_on_execution() { row.execution } else { row.total as i64 };
            row.goal = Some(op.goal());
            row.goal_on_execution = op.goal_on_execution();
            row.met = Some(measured <= op.goal() as i64);
            warm.push(row);
            cold.push(measure(op, false).with_context(|| format!("cold {}", op.label()))?);
        }
        Ok(Self { warm, cold })
    }

    /// The report as Markdown tables.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "Warm (steady use: sender, receiver and contract already hold tokens; exact approvals):\n\n\
             | operation | total gas | execution gas | goal | met |\n|---|---:|---:|---:|:---:|\n",
        );
        for row in &self.warm {
            let goal = match row.goal {
                Some(goal) if row.goal_on_execution => format!("≤ {goal} (execution)"),
                Some(goal) => format!("≤ {goal}"),
                None => String::new(),
            };
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            out += &format!("| {} | {} | {} | {} | {} |\n", row.operation, row.total, row.execution, goal, met);
        }
        out += "\nCold (first use: only the sender holds tokens):\n\n| operation | total gas | execution gas |\n|---|---:|---:|\n";
        for row in &self.cold {
            out += &format!("| {} | {} | {} |\n", row.operation, row.total, row.execution);
        }
        out
    }
}
