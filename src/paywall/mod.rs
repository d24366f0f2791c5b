//! The paywall: HTTP 402 payments over channels, for any tower service.
//!
//! - [`PaywallLayer`]: the tower layer; [`Pricing`] prices requests.
//! - [`rdn`]: µRaiden's headers; [`x402`]: x402 version 2 with the `uraiden-channel` scheme.
//! - [`challenge`]: the 402, the receipt and the 400.
//! - [`api`]: the management API under `/api/1`; [`metrics`]: `/metrics` for Prometheus.
//! - [`proxy`]: the ready server of `uraiden proxy --config FILE`.
//!
//! `docs/http-protocol.md` specifies what goes over the wire.

pub mod api;
pub mod challenge;
mod layer;
pub mod metrics;
mod offer;
mod pricing;
pub mod proxy;
pub mod rdn;
pub mod x402;

pub use challenge::Terms;
pub use layer::{PaymentObserver, Paywall, PaywallLayer};
pub use offer::{AcceptedTerms, Malformed, PaymentOffer, Protocol, Refusal};
pub use pricing::{PerMethod, Pricing};
