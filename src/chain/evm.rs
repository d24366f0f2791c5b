//! The embedded chain: revm with an in-memory database, Prague rules, automine.
//!
//! Two controls go beyond a node with automine, for tests that need them: several transactions
//! in one block ([`EvmChain::begin_block`], [`EvmChain::end_block`]) and a jump of the block
//! number ([`EvmChain::jump_to`]), which costs nothing however far it goes.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use revm::{
    Context, Database, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        result::{ExecutionResult, Output},
    },
    database::{CacheDB, EmptyDB},
    handler::{MainnetContext, MainnetEvm},
    primitives::hardfork::SpecId,
};

use super::{Chain, ChainError, Deployment, Outcome, Receipt};

/// Gas limit of every transaction and call on the embedded chain.
const GAS_LIMIT: u64 = 30_000_000;

type Db = CacheDB<EmptyDB>;

/// An in-memory EVM chain for tests, benchmarks and the demo.
///
/// Gas is metered exactly as on mainnet under the pinned hardfork ([`EvmChain::SPEC`]), but gas
/// is free (base fee and gas price are zero), so accounts need no ether.
pub struct EvmChain {
    evm: MainnetEvm<MainnetContext<Db>>,
    /// Whether a block is being built ([`EvmChain::begin_block`]): transactions then run in the
    /// latest block instead of a new one each.
    building: bool,
}

impl std::fmt::Debug for EvmChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmChain")
            .field("chain_id", &self.chain_id())
            .field("block_number", &self.latest_block())
            .field("building_block", &self.building)
            .finish_non_exhaustive()
    }
}

/// The saved state of an [`EvmChain`], to go back to with [`EvmChain::revert_to`].
#[derive(Clone, Debug)]
pub struct Snapshot {
    db: Db,
    block: BlockEnv,
    building: bool,
}

impl Snapshot {
    /// The saved accounts and storage, for running the same state on a bare revm.
    pub fn database(&self) -> &CacheDB<EmptyDB> {
        &self.db
    }

    /// The saved block environment.
    pub fn block(&self) -> &BlockEnv {
        &self.block
    }
}

impl EvmChain {
    /// The hardfork whose rules the chain runs.
    pub const SPEC: SpecId = SpecId::PRAGUE;
    /// The chain id of a chain made by [`EvmChain::new`] (anvil's default).
    pub const DEFAULT_CHAIN_ID: u64 = 31_337;

    /// A new chain with id [`EvmChain::DEFAULT_CHAIN_ID`] at block 1.
    pub fn new() -> Self {
        Self::with_chain_id(Self::DEFAULT_CHAIN_ID)
    }

    /// A new chain with the given chain id, at block 1.
    pub fn with_chain_id(chain_id: u64) -> Self {
        let mut cfg = CfgEnv::new_with_spec(Self::SPEC);
        cfg.chain_id = chain_id;
        let block = BlockEnv {
            number: U256::from(1),
            timestamp: U256::from(1),
            gas_limit: GAS_LIMIT,
            basefee: 0,
            ..Default::default()
        };
        let evm = Context::mainnet()
            .with_db(CacheDB::new(EmptyDB::default()))
            .with_cfg(cfg)
            .with_block(block)
            .build_mainnet();
        Self { evm, building: false }
    }

    /// Saves the whole state (accounts, storage, block number, whether a block is being built).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            db: self.evm.ctx.journaled_state.database.clone(),
            block: self.evm.ctx.block.clone(),
            building: self.building,
        }
    }

    /// Goes back to a saved state.
    pub fn revert_to(&mut self, snapshot: Snapshot) {
        self.evm.ctx.journaled_state.database = snapshot.db;
        self.evm.ctx.block = snapshot.block;
        self.building = snapshot.building;
    }

    /// Starts a new block (`block_number() + 1`) that every transaction goes into until
    /// [`EvmChain::end_block`], as a miner packs several transactions into one block. While it is
    /// being built it counts as the latest block: [`Chain::block_number`] returns it and calls
    /// see its state so far. Returns its number.
    ///
    /// Fails if a block is already being built.
    pub fn begin_block(&mut self) -> Result<u64, ChainError> {
        if self.building {
            return Err(ChainError::BlockInProgress);
        }
        let number = self.latest_block().checked_add(1).ok_or(ChainError::BlockNumberOverflow)?;
        self.set_block(number);
        self.building = true;
        Ok(number)
    }

    /// Ends the block started by [`EvmChain::begin_block`]: it is mined, and each transaction
    /// after it gets a block of its own again. Fails if no block is being built.
    pub fn end_block(&mut self) -> Result<(), ChainError> {
        if !self.building {
            return Err(ChainError::NoBlockInProgress);
        }
        self.building = false;
        Ok(())
    }

    /// Makes `number` the latest block at once, as if the blocks in between had been mined
    /// empty (the next transaction runs in `number + 1`). Costs the same however far it jumps,
    /// so a test can run next to the uint32 block limit. Fails if `number` is below the latest
    /// block or a block is being built.
    pub fn jump_to(&mut self, number: u64) -> Result<(), ChainError> {
        let latest = self.latest_block();
        if number < latest {
            return Err(ChainError::BlockNumberBackwards { latest, requested: number });
        }
        self.mine(number - latest)
    }

    fn nonce(&mut self, address: Address) -> u64 {
        let db = &mut self.evm.ctx.journaled_state.database;
        db.basic(address).ok().flatten().map_or(0, |info| info.nonce)
    }

    fn tx(&mut self, from: Address, kind: TxKind, data: Bytes) -> Result<TxEnv, ChainError> {
        let nonce = self.nonce(from);
        TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .nonce(nonce)
            .gas_limit(GAS_LIMIT)
            .gas_price(0)
            .chain_id(Some(self.chain_id()))
            .build()
            .map_err(|e| ChainError::InvalidTransaction(format!("{e:?}")))
    }

    /// Executes and commits a transaction in a new block, or in the block being built.
    fn execute(&mut self, from: Address, kind: TxKind, data: Bytes) -> Result<(Receipt, Option<Address>), ChainError> {
        let number = if self.building {
            self.latest_block()
        } else {
            let number = self.latest_block().checked_add(1).ok_or(ChainError::BlockNumberOverflow)?;
            self.set_block(number);
            number
        };
        let tx = self.tx(from, kind, data)?;
        let result = self.evm.transact_commit(tx).map_err(|e| ChainError::InvalidTransaction(e.to_string()))?;
        let gas_used = result.gas().tx_gas_used();
        let (outcome, logs, created) = match result {
            ExecutionResult::Success { output: Output::Call(out), logs, .. } => (Outcome::Success(out), logs, None),
            ExecutionResult::Success { output: Output::Create(out, address), logs, .. } => {
                (Outcome::Success(out), logs, address)
            }
            ExecutionResult::Revert { output, .. } => (Outcome::Revert(output), Vec::new(), None),
            ExecutionResult::Halt { reason, .. } => (Outcome::Halt(format!("{reason:?}")), Vec::new(), None),
        };
        Ok((Receipt { block_number: number, outcome, gas_used, logs }, created))
    }

    /// A read-only call, with the gas it spent (intrinsic gas included, before refunds).
    pub fn call_with_gas(&mut self, from: Address, to: Address, data: Bytes) -> Result<(Outcome, u64), ChainError> {
        let tx = self.tx(from, TxKind::Call(to), data)?;
        // `transact` executes without committing: the state changes are dropped.
        let result = self.evm.transact(tx).map_err(|e| ChainError::InvalidTransaction(e.to_string()))?.result;
        let gas = result.gas().total_gas_spent();
        let outcome = match result {
            ExecutionResult::Success { output, .. } => Outcome::Success(output.into_data()),
            ExecutionResult::Revert { output, .. } => Outcome::Revert(output),
            ExecutionResult::Halt { reason, .. } => Outcome::Halt(format!("{reason:?}")),
        };
        Ok((outcome, gas))
    }

    /// The non-zero storage slots of `address`, by slot: what the account holds in storage
    /// (an account never written to holds nothing). Tests read it to check that a contract
    /// keeps no storage for what it has deleted.
    pub fn storage(&self, address: Address) -> std::collections::BTreeMap<U256, U256> {
        let db = &self.evm.ctx.journaled_state.database;
        db.cache
            .accounts
            .get(&address)
            .map(|account| {
                account
                    .storage
                    .iter()
                    .filter(|(_, value)| !value.is_zero())
                    .map(|(slot, value)| (*slot, *value))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The latest mined block (infallible here, unlike on a node).
    fn latest_block(&self) -> u64 {
        self.evm.ctx.block.number.saturating_to()
    }

    fn set_block(&mut self, number: u64) {
        let block = &mut self.evm.ctx.block;
        block.number = U256::from(number);
        // 12-second slots, as on mainnet.
        block.timestamp = U256::from(number.saturating_mul(12));
    }
}

impl Default for EvmChain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain for EvmChain {
    fn chain_id(&self) -> u64 {
        self.evm.ctx.cfg.chain_id
    }

    fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.latest_block())
    }

    fn deploy(&mut self, from: Address, init_code: Bytes) -> Result<Deployment, ChainError> {
        match self.execute(from, TxKind::Create, init_code)? {
            (receipt, Some(address)) if receipt.outcome.is_success() => Ok(Deployment { address, receipt }),
            (receipt, _) => Err(ChainError::DeploymentFailed(receipt.outcome)),
        }
    }

    fn transact(&mut self, from: Address, to: Address, data: Bytes) -> Result<Receipt, ChainError> {
        self.execute(from, TxKind::Call(to), data).map(|(receipt, _)| receipt)
    }

    fn call(&mut self, from: Address, to: Address, data: Bytes) -> Result<Outcome, ChainError> {
        self.call_with_gas(from, to, data).map(|(outcome, _)| outcome)
    }

    /// Mines `blocks` empty blocks at once (the cost does not grow with `blocks`). Fails while a
    /// block is being built ([`EvmChain::begin_block`]).
    fn mine(&mut self, blocks: u64) -> Result<(), ChainError> {
        if self.building {
            return Err(ChainError::BlockInProgress);
        }
        let number = self.latest_block().checked_add(blocks).ok_or(ChainError::BlockNumberOverflow)?;
        self.set_block(number);
        Ok(())
    }
}
