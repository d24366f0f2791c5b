//! The paywall as a tower [`Layer`]: wrap any service (an axum router, `ServeDir`, a proxy) and
//! its paid requests must carry a fresh balance proof.
//!
//! For each request: price it (zero: pass it through untouched); read the payment
//! (`PAYMENT-SIGNATURE`, else the `RDN-*` headers; malformed: 400; none: 402); check it with
//! the channel manager without registering it (refused: 402 naming why); run the inner service
//! holding the channel's lock, so requests on one channel are serialised; and only if it
//! answered 2xx or 3xx, register the payment and add the receipt. A failed request costs
//! nothing, and its proof may be sent again.

use std::{
    hash::{BuildHasher, RandomState},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use alloy_primitives::aliases::U192;
use axum::{body::Body, extract::OriginalUri, response::Response};
use http::{Request, header, request::Parts};
use tower::{Layer, Service};

use super::{
    challenge::{self, Terms},
    offer::{PaymentOffer, Refusal},
    pricing::Pricing,
    x402,
};
use crate::receiver::{ChannelManager, PaymentError};

/// Locks serialising requests per channel: a fixed set, picked by the channel's hash.
const LOCK_STRIPES: usize = 4096;

/// The paywall layer. Cheap to clone; build one per price rule.
pub struct PaywallLayer<P> {
    shared: Arc<Shared<P>>,
}

impl<P> Clone for PaywallLayer<P> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<P> std::fmt::Debug for PaywallLayer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaywallLayer").field("terms", &self.shared.terms).finish_non_exhaustive()
    }
}

struct Shared<P> {
    manager: ChannelManager,
    terms: Terms,
    pricing: P,
    description: String,
    mime_type: Option<String>,
    locks: Box<[tokio::sync::Mutex<()>]>,
    hasher: RandomState,
    observer: Option<Arc<dyn PaymentObserver>>,
}

/// Told of every paid request's outcome (metrics, logs).
pub trait PaymentObserver: Send + Sync + 'static {
    /// A payment was registered.
    fn accepted(&self, price: U192);
    /// A paid request was answered 402 (`reason` as x402 names it), 400 or 503.
    fn refused(&self, reason: &'static str);
}

impl<P: Pricing> PaywallLayer<P> {
    /// A paywall taking payments for `manager`'s receiver at the prices of `pricing`.
    pub fn new(manager: ChannelManager, pricing: P) -> Self {
        let terms = Terms::of(&manager);
        Self {
            shared: Arc::new(Shared {
                manager,
                terms,
                pricing,
                description: String::new(),
                mime_type: None,
                locks: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                hasher: RandomState::new(),
                observer: None,
            }),
        }
    }

    /// The same paywall with a description of what is sold (x402's `resource.description`).
    pub fn with_description(self, description: impl Into<String>, mime_type: Option<String>) -> Self {
        self.rebuild(|s| {
            s.description = description.into();
            s.mime_type = mime_type;
        })
    }

    /// The same paywall reporting outcomes to `observer`.
    pub fn with_observer(self, observer: Arc<dyn PaymentObserver>) -> Self {
        self.rebuild(|s| s.observer = Some(observer))
    }

    fn rebuild(self, change: impl FnOnce(&mut Shared<P>)) -> Self {
        let Ok(mut shared) = Arc::try_unwrap(self.shared) else {
            panic!("configure a PaywallLayer before cloning it");
        };
        change(&mut shared);
        Self { shared: Arc::new(shared) }
    }
}

impl<S, P> Layer<S> for PaywallLayer<P> {
    type Service = Paywall<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Paywall { inner, shared: self.shared.clone() }
    }
}

/// A service behind the paywall.
pub struct Paywall<S, P> {
    inner: S,
    shared: Arc<Shared<P>>,
}

impl<S: Clone, P> Clone for Paywall<S, P> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<S, P> std::fmt::Debug for Paywall<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paywall").field("terms", &self.shared.terms).finish_non_exhaustive()
    }
}

impl<S, P, B, ResBody> Service<Request<B>> for Paywall<S, P>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
    P: Pricing,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The ready service goes into the future; a fresh clone stays (tower's advice).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move { shared.handle(inner, request).await })
    }
}

impl<P: Pricing> Shared<P> {
    async fn handle<S, B, ResBody>(&self, mut inner: S, request: Request<B>) -> Result<Response, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        ResBody::Error: Into<axum::BoxError>,
    {
        let (parts, body) = request.into_parts();
        let price = self.pricing.price(&parts);
        if price.is_zero() {
            return inner.call(Request::from_parts(parts, body)).await.map(|r| r.map(Body::new));
        }
        let offer = match PaymentOffer::from_headers(&parts.headers) {
            Ok(Some(offer)) => offer,
            Ok(None) => return Ok(self.refuse(&parts, price, Refusal::PaymentRequired)),
            Err(malformed) => {
                self.observe_refusal("malformed_payment");
                return Ok(challenge::malformed(&malformed));
            }
        };
        if !self.terms.matches(&offer) {
            return Ok(self.refuse(&parts, price, Refusal::ContractMismatch));
        }
        let _channel = self.lock(&offer).await;
        let checked = match self
            .manager
            .check_payment(offer.sender, offer.open_block, offer.balance, &offer.signature, price)
            .await
        {
            Ok(checked) => checked,
            Err(error) => return Ok(self.refuse(&parts, price, Refusal::Payment(error))),
        };
        let head = parts.clone();
        let response = inner.call(Request::from_parts(parts, body)).await?;
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            tracing::debug!(%status, "the handler failed: nothing charged");
            return Ok(response.map(Body::new));
        }
        match self.manager.commit_payment(checked).await {
            Ok(payment) => {
                let mut response = response.map(Body::new);
                challenge::add_receipt(response.headers_mut(), &self.terms, &offer, &payment);
                if let Some(observer) = &self.observer {
                    observer.accepted(payment.amount);
                }
                Ok(response)
            }
            Err(error) => Ok(self.refuse(&head, price, Refusal::Payment(error))),
        }
    }

    async fn lock(&self, offer: &PaymentOffer) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one((offer.sender, offer.open_block)) as usize % self.locks.len();
        self.locks[stripe].lock().await
    }

    fn refuse(&self, parts: &Parts, price: U192, refusal: Refusal) -> Response {
        if let Refusal::Payment(PaymentError::Unavailable(reason)) = &refusal {
            self.observe_refusal("unavailable");
            return challenge::unavailable(reason);
        }
        if let Refusal::Payment(error @ PaymentError::NodeUnreachable { .. }) = &refusal {
            self.observe_refusal(error.reason());
            return challenge::unavailable(&error.to_string());
        }
        if let Some(reason) = refusal.reason() {
            self.observe_refusal(reason);
        }
        let resource = x402::Resource {
            url: resource_url(parts),
            description: self.description.clone(),
            mime_type: self.mime_type.clone(),
        };
        challenge::payment_required(&self.terms, price, &refusal, resource, challenge::prefers_html(&parts.headers))
    }

    fn observe_refusal(&self, reason: &'static str) {
        if let Some(observer) = &self.observer {
            observer.refused(reason);
        }
    }
}

/// The request's URL as the client sent it (the original URI under a nested router).
fn resource_url(parts: &Parts) -> String {
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}{path}"),
        None => path.to_string(),
    }
}
