//! `sol!` bindings generated from the artifacts that `build.rs` compiles from `contracts/`:
//! call, event and error types plus each contract's `BYTECODE`, for the channel contract and
//! its token. The contracts only the tests deploy are bound in `tests/common/test_contracts.rs`.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations, clippy::too_many_arguments)]

use alloy_sol_types::sol;

sol!(
    #[sol(all_derives)]
    RaidenMicroTransferChannels,
    concat!(env!("OUT_DIR"), "/RaidenMicroTransferChannels.json")
);

sol!(
    #[sol(all_derives)]
    ERC223Token,
    concat!(env!("OUT_DIR"), "/ERC223Token.json")
);
