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
pub use layer::{PaymentObserver, Paywall, PaywallLayer, TlsConnection};
pub use offer::{AcceptedTerms, Malformed, PaymentOffer, Protocol, Refusal};
pub use pricing::{PerMethod, Pricing};

/// Every header of the payment protocols, lower case: the µRaiden headers ([`rdn::HEADERS`])
/// and x402's ([`x402::HEADERS`]). Only the paywall reads them from requests and writes them
/// on responses (a proxy forwards none of them upstream, and passes none an upstream sets);
/// `docs/http-protocol.md` names exactly these.
pub fn protocol_headers() -> impl Iterator<Item = &'static str> {
    rdn::HEADERS.into_iter().chain(x402::HEADERS)
}
