//! `sol!` bindings of the contracts only the tests deploy, from the artifacts `build.rs`
//! compiles from `contracts/`: a token that calls back into its caller, and a receiver that
//! tries to re-enter the channel contract from its `tokenFallback`.

#![allow(missing_docs, clippy::too_many_arguments)]

use alloy_sol_types::sol;

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
