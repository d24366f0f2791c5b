//! The wire vocabulary the paywall (server) and the sender (client) share, below both:
//!
//! - [`rdn`]: µRaiden's header names; [`x402`]: x402 version 2 with the `uraiden-channel`
//!   scheme (the server's strict types, the client's lenient reading);
//! - [`field`]: the values of payment fields, and [`Malformed`](field::Malformed);
//! - [`payment`]: the one [`Payment`] a request carries, read from either protocol;
//! - [`reason`]: why a payment is refused ([`Reason`]), with its names on the wire;
//! - [`session`]: prepaid sessions (one proof buys `n` requests; a credential spends them);
//! - [`api`]: the management API's paths and JSON.
//!
//! It depends on nothing above it. `docs/http-protocol.md` specifies what goes over the wire.

pub mod api;
pub mod field;
pub mod payment;
pub mod rdn;
pub mod reason;
pub mod session;
pub mod x402;

pub use payment::{Payment, Protocol};
pub use reason::Reason;

/// Every header of the payment protocols, lower case: the µRaiden headers ([`rdn::HEADERS`]),
/// the sessions' ([`session::HEADERS`]) and x402's ([`x402::HEADERS`]). Only the paywall reads them from requests and writes them
/// on responses (a proxy forwards none of them upstream, and passes none an upstream sets);
/// `docs/http-protocol.md` names exactly these.
pub fn headers() -> impl Iterator<Item = &'static str> {
    rdn::HEADERS.into_iter().chain(session::HEADERS).chain(x402::HEADERS)
}
