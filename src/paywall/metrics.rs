//! `GET /metrics` in Prometheus' text format: requests by method and status, their latency,
//! payments accepted and refused by reason, and how far the manager is behind the chain.
//!
//! Every label takes a bounded set of values, whatever clients send: the method is one of the
//! standard nine or `other`, the status a registered HTTP status code or `other`, the refusal
//! reason one of the paywall's fixed names. The number of series is bounded by construction.

use std::{sync::Arc, time::Instant};

use alloy_primitives::aliases::U192;
use axum::{
    Router,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use super::layer::PaymentObserver;
use crate::receiver::ChannelManager;

type Labels = Vec<(&'static str, &'static str)>;

/// The `method` label: a standard method, else `other`.
fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

/// The `status` label: a status code with a registered reason phrase, else `other`.
fn status_label(status: http::StatusCode) -> &'static str {
    /// The decimal strings of 100 to 599, for `&'static` labels.
    static CODES: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (100..600).map(|c: u16| c.to_string()).collect());
    match status.canonical_reason() {
        Some(_) if (100..600).contains(&status.as_u16()) => &CODES[usize::from(status.as_u16() - 100)],
        _ => "other",
    }
}

/// The paywall's metrics. Share one `Arc` between the layers (as their
/// [`PaymentObserver`]), the request middleware and the `/metrics` route.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Histogram,
    accepted: Counter,
    accepted_amount: Counter,
    refused: Family<Labels, Counter>,
    behind: Gauge,
    node_reachable: Gauge,
    manager: ChannelManager,
}

impl Metrics {
    /// Metrics for a server in front of `manager`.
    pub fn new(manager: ChannelManager) -> Arc<Self> {
        let mut registry = Registry::with_prefix("uraiden");
        let requests = Family::<Labels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method and status", requests.clone());
        let latency = Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]);
        registry.register("http_request_duration_seconds", "Time to answer a request", latency.clone());
        let accepted = Counter::default();
        registry.register("payments_accepted", "Payments registered", accepted.clone());
        let accepted_amount = Counter::default();
        registry.register(
            "payments_accepted_amount",
            "Token base units registered (saturating at 2^64)",
            accepted_amount.clone(),
        );
        let refused = Family::<Labels, Counter>::default();
        registry.register("payments_refused", "Paid requests refused, by reason", refused.clone());
        let behind = Gauge::default();
        registry.register(
            "sync_lag_blocks",
            "Blocks between the node's head and the last confirmed block applied",
            behind.clone(),
        );
        let node_reachable = Gauge::default();
        registry.register("node_reachable", "1 while the node answers", node_reachable.clone());
        Arc::new(Self {
            registry,
            requests,
            latency,
            accepted,
            accepted_amount,
            refused,
            behind,
            node_reachable,
            manager,
        })
    }

    /// The metrics in Prometheus' text format, with the sync gauges read now.
    pub fn render(&self) -> String {
        let status = self.manager.status();
        self.behind.set(status.synced_block.map_or(status.head, |s| status.head.saturating_sub(s)) as i64);
        self.node_reachable.set(i64::from(status.node_reachable));
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// The `/metrics` route.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/metrics",
                get(|State(metrics): State<Arc<Metrics>>| async move {
                    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
                        .into_response()
                }),
            )
            .with_state(self.clone())
    }

    /// Middleware counting requests and timing them: `axum::middleware::from_fn_with_state(metrics, Metrics::track)`.
    pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
        let method = method_label(request.method());
        let start = Instant::now();
        let response = next.run(request).await;
        metrics.latency.observe(start.elapsed().as_secs_f64());
        let labels = vec![("method", method), ("status", status_label(response.status()))];
        metrics.requests.get_or_create(&labels).inc();
        response
    }
}

impl PaymentObserver for Metrics {
    fn accepted(&self, price: U192) {
        self.accepted.inc();
        self.accepted_amount.inc_by(price.saturating_to::<u64>());
    }

    fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&vec![("reason", reason)]).inc();
    }
}
