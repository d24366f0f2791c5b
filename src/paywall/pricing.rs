//! What a request costs: a fixed price, a price per method, or any rule the user writes.

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

/// A price per HTTP method, with a default for the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerMethod {
    /// The price of methods not listed.
    pub default: U192,
    /// Prices by method.
    pub methods: HashMap<Method, U192>,
}

impl Pricing for PerMethod {
    fn price(&self, request: &Parts) -> U192 {
        self.methods.get(&request.method).copied().unwrap_or(self.default)
    }
}
