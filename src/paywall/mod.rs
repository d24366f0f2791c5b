//! The paywall: HTTP 402 payments over channels, for any tower service.
//!
//! - [`PaywallLayer`]: the tower layer; [`Pricing`] prices requests.
//! - [`challenge`]: the 402, the receipt and the 400, in the protocols of [`crate::protocol`]
//!   (µRaiden's headers and x402 version 2 with the `uraiden-channel` scheme).
//! - [`page`]: the page a browser gets with a 402, and the script that pays from its wallet.
//! - [`api`]: the management API under `/api/1`; [`metrics`]: `/metrics` for Prometheus.
//! - [`proxy`]: the ready server of `uraiden proxy --config FILE`.
//!
//! `docs/http-protocol.md` specifies what goes over the wire.

pub mod api;
pub mod challenge;
mod layer;
pub mod metrics;
pub mod page;
mod pricing;
pub mod proxy;

pub use challenge::{Refusal, Terms};
pub use layer::{PaymentObserver, Paywall, PaywallLayer, TlsConnection};
pub use page::{PaywallPage, TokenInfo};
pub use pricing::{PerMethod, Pricing};
