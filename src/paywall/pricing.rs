//! What a request costs: a fixed price, a price per method, or any rule the user writes.
//!
//! Whatever the rule, the paywall applies two more (see `docs/http-protocol.md`): a CORS
//! preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is free, and a `HEAD`
//! never costs more than the `GET` of the same resource, so it is free exactly where that `GET`
//! is free.

use std::collections::HashMap;

use alloy_primitives::aliases::U192;
use http::{Method, request::Parts};

/// Prices requests, in token base units; zero means free (payment headers are not looked at).
pub trait Pricing: Send + Sync + 'static {
    /// The price of this request.
    fn price(&self, request: &Parts) -> U192;
}

/// Every request costs the same.
impl Pricing for U192 {
    fn price(&self, _: &Parts) -> U192 {
        *self
    }
}

/// A closure prices each request.
impl<F> Pricing for F
where
    F: Fn(&Parts) -> U192 + Send + Sync + 'static,
{
    fn price(&self, request: &Parts) -> U192 {
        self(request)
    }
}

/// A price per HTTP method, with a default for the others. Methods are compared without regard
/// to case (`get` pays what `GET` pays), and a `HEAD` not listed costs what a `GET` costs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerMethod {
    /// The price of methods not listed.
    pub default: U192,
    /// Prices by method.
    pub methods: HashMap<Method, U192>,
}

impl PerMethod {
    /// The price listed for `method`, in any case.
    fn listed(&self, method: &Method) -> Option<U192> {
        self.methods.get(method).copied().or_else(|| {
            self.methods.iter().find(|(m, _)| m.as_str().eq_ignore_ascii_case(method.as_str())).map(|(_, p)| *p)
        })
    }

    /// The price of a request with `method`.
    pub fn price_of(&self, method: &Method) -> U192 {
        if let Some(price) = self.listed(method) {
            return price;
        }
        if method.as_str().eq_ignore_ascii_case(Method::HEAD.as_str()) {
            return self.listed(&Method::GET).unwrap_or(self.default);
        }
        self.default
    }
}

impl Pricing for PerMethod {
    fn price(&self, request: &Parts) -> U192 {
        self.price_of(&request.method)
    }
}
