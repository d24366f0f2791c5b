//! The paywall as a tower [`Layer`]: wrap any service (an axum router, `ServeDir`, a proxy) and
//! its paid requests must carry a fresh balance proof.
//!
//! For each request: price it (zero: pass it through untouched; a CORS preflight is free and
//! a `HEAD` never costs more than the `GET`, see `docs/http-protocol.md`); read the payment
//! (`PAYMENT-SIGNATURE`, else the `RDN-*` headers; malformed or sent twice: 400; none: 402);
//! check it with the channel manager without registering it (refused: 402 naming why); run the
//! inner service holding the channel's lock, so requests on one channel are serialised across
//! every paywall of the manager (every route of a server); and only if it answered 2xx,
//! register the payment and add the receipt. A failed request or a redirect costs nothing, and
//! its proof may be sent again.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use alloy_primitives::{Address, aliases::U192};
use axum::{body::Body, extract::OriginalUri, response::Response};
use http::{Method, Request, header, request::Parts};
use tower::{Layer, Service};

use super::{
    challenge::{self, Refusal, Terms},
    page::{PaywallPage, TokenInfo},
    pricing::Pricing,
};
use crate::{
    protocol::{Payment, Reason, reason::MALFORMED_PAYMENT, x402},
    receiver::{ChannelManager, PaymentError},
};

/// Marks a request whose channel lock a paywall holds and whose payment it will register. A
/// paywall of the same manager nested inside it (two layers stacked on one route) passes such a
/// request through: waiting for the lock would wait for itself, and charging again would
/// charge the same proof twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LockHeld {
    table: usize,
    sender: Address,
    open_block: u32,
}

/// A request extension saying the request came over TLS, inserted by the server that
/// terminated TLS (`uraiden proxy` adds it to every request of its TLS listener, e.g. with
/// `axum::Extension(TlsConnection)`). The paywall names the resource `https://…` only with it:
/// a client's `X-Forwarded-Proto` or absolute URI is never trusted for this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsConnection;

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
    observer: Option<Arc<dyn PaymentObserver>>,
    page: PaywallPage,
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
        let page = PaywallPage::new(TokenInfo::base_units(terms.token));
        Self {
            shared: Arc::new(Shared {
                manager,
                terms,
                pricing,
                description: String::new(),
                mime_type: None,
                observer: None,
                page,
            }),
        }
    }

    /// The same paywall showing browsers `page` with its 402 (the default page prices in
    /// base units: give it the token's symbol and decimals with [`TokenInfo::read`]).
    pub fn with_page(self, page: PaywallPage) -> Self {
        self.rebuild(|s| s.page = page)
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
        let (mut parts, body) = request.into_parts();
        if is_preflight(&parts) {
            // Free, and answered without a body: whatever the handler makes of an OPTIONS
            // request, only its status and headers (the CORS policy) reach the client.
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let (mut head, _) = response.into_parts();
            head.headers.remove(header::CONTENT_LENGTH);
            return Ok(Response::from_parts(head, Body::empty()));
        }
        let price = price(&self.pricing, &mut parts);
        if price.is_zero() {
            return inner.call(Request::from_parts(parts, body)).await.map(|r| r.map(Body::new));
        }
        let payment = match Payment::from_headers(&parts.headers) {
            Ok(Some(payment)) => payment,
            Ok(None) => return Ok(self.refuse(&parts, price, Refusal::PaymentRequired)),
            Err(malformed) => {
                self.observe_refusal(MALFORMED_PAYMENT);
                return Ok(challenge::malformed(&malformed));
            }
        };
        if !self.terms.matches(&payment) {
            return Ok(self.refuse(&parts, price, Refusal::ContractMismatch));
        }
        let locks = self.manager.paywall_locks();
        let held = LockHeld {
            table: std::ptr::from_ref(locks) as usize,
            sender: payment.sender,
            open_block: payment.open_block,
        };
        if parts.extensions.get::<LockHeld>() == Some(&held) {
            return inner.call(Request::from_parts(parts, body)).await.map(|r| r.map(Body::new));
        }
        let _channel = locks.lock(payment.sender, payment.open_block).await;
        parts.extensions.insert(held);
        let checked = match self
            .manager
            .check_payment(payment.sender, payment.open_block, payment.balance, &payment.balance_signature, price)
            .await
        {
            Ok(checked) => checked,
            Err(error) => return Ok(self.refuse(&parts, price, Refusal::Payment(error))),
        };
        let head = parts.clone();
        let response = inner.call(Request::from_parts(parts, body)).await?;
        let status = response.status();
        if !status.is_success() {
            tracing::debug!(%status, "the handler did not answer 2xx: nothing charged");
            return Ok(response.map(Body::new));
        }
        match self.manager.commit_payment(checked).await {
            Ok(accepted) => {
                let mut response = response.map(Body::new);
                challenge::add_receipt(response.headers_mut(), &self.terms, &payment, &accepted);
                if let Some(observer) = &self.observer {
                    observer.accepted(accepted.amount);
                }
                Ok(response)
            }
            Err(error) => Ok(self.refuse(&head, price, Refusal::Payment(error))),
        }
    }

    fn refuse(&self, parts: &Parts, price: U192, refusal: Refusal) -> Response {
        if let Refusal::Payment(PaymentError::Unavailable(reason)) = &refusal {
            self.observe_refusal(Reason::Unavailable.as_str());
            return challenge::unavailable(reason);
        }
        if let Refusal::Payment(error @ PaymentError::NodeUnreachable { .. }) = &refusal {
            self.observe_refusal(error.reason().as_str());
            return challenge::unavailable(&error.to_string());
        }
        if let Some(reason) = refusal.reason() {
            self.observe_refusal(reason.as_str());
        }
        let resource = x402::Resource {
            url: resource_url(parts),
            description: self.description.clone(),
            mime_type: self.mime_type.clone(),
        };
        challenge::payment_required(
            &self.terms,
            price,
            &refusal,
            resource,
            challenge::prefers_html(&parts.headers).then_some(&self.page),
        )
    }

    fn observe_refusal(&self, reason: &'static str) {
        if let Some(observer) = &self.observer {
            observer.refused(reason);
        }
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method` (what a
/// browser sends before a cross-origin request it may not send unasked). Free, so a page on
/// another origin can reach the 402 and pay.
fn is_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts.headers.contains_key(header::ORIGIN)
        && parts.headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The price of a request: what `pricing` says, except that a `HEAD` never costs more than the
/// `GET` of the same resource (it is free where that `GET` is free).
fn price<P: Pricing>(pricing: &P, parts: &mut Parts) -> U192 {
    let price = pricing.price(parts);
    if parts.method != Method::HEAD || price.is_zero() {
        return price;
    }
    parts.method = Method::GET;
    let get = pricing.price(parts);
    parts.method = Method::HEAD;
    price.min(get)
}

/// The request's URL as the client sent it (the original URI under a nested router), with
/// `https` only when the server says the connection is TLS ([`TlsConnection`]).
fn resource_url(parts: &Parts) -> String {
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let scheme = if parts.extensions.get::<TlsConnection>().is_some() { "https" } else { "http" };
    match parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path.to_string(),
    }
}
