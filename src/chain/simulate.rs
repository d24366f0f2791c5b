//! `eth_simulateV1` for both node clients: several calls run in order in one simulated next
//! block, each seeing the state the previous ones left. Nothing is sent.

use alloy::{
    network::TransactionBuilder,
    rpc::types::{
        BlockOverrides, TransactionRequest,
        simulate::{SimBlock, SimulatePayload, SimulatedBlock},
    },
};
use alloy_primitives::{Address, Bytes, U256};

use super::Outcome;

/// The request simulating `calls` (each `(from, to, data)`) in block `next`, the one after the
/// latest.
pub(crate) fn payload(calls: &[(Address, Address, Bytes)], next: u64) -> SimulatePayload {
    let calls = calls
        .iter()
        .map(|(from, to, data)| TransactionRequest::default().with_from(*from).with_to(*to).with_input(data.clone()))
        .collect();
    let overrides = BlockOverrides { number: Some(U256::from(next)), ..BlockOverrides::default() };
    SimulatePayload {
        block_state_calls: vec![SimBlock { calls, block_overrides: Some(overrides), ..SimBlock::default() }],
        ..SimulatePayload::default()
    }
}

/// Each call's outcome, stopping after the first that does not succeed; an error text when
/// the node answered for another number of calls than were asked.
pub(crate) fn outcomes<T>(blocks: Vec<SimulatedBlock<T>>, asked: usize) -> Result<Vec<Outcome>, String> {
    let results = blocks.into_iter().next().map(|block| block.calls).unwrap_or_default();
    if results.len() != asked {
        return Err(format!("eth_simulateV1 answered {} results for {asked} calls", results.len()));
    }
    let mut outcomes = Vec::with_capacity(results.len());
    for result in results {
        let outcome = if result.status {
            Outcome::Success(result.return_data)
        } else {
            Outcome::Revert(result.error.and_then(|error| error.data).unwrap_or(result.return_data))
        };
        let failed = !outcome.is_success();
        outcomes.push(outcome);
        if failed {
            break;
        }
    }
    Ok(outcomes)
}
