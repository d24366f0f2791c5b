//! `sol!` bindings generated from the artifacts that `build.rs` compiles from `contracts/`:
//! call, event and error types plus each contract's `BYTECODE`.

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

sol!(
    #[sol(all_derives)]
    CallbackToken,
    concat!(env!("OUT_DIR"), "/CallbackToken.json")
);

sol!(
    #[sol(all_derives)]
    ReentrantReceiver,
    concat!(env!("OUT_DIR"), "/ReentrantReceiver.json")
);
