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
//!
//! With prepaid sessions ([`PaywallLayer::with_sessions`]), a payment may buy `n` requests
//! (`RDN-Session-Requests`, or x402's `payload.sessionRequests`, up to the route's maximum) and
//! is answered with a credential (`RDN-Session`); a request carrying the credential and no
//! payment is served from the session: checked without a signature or a store read, counted
//! down, and given back if the handler does not answer 2xx.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use alloy_primitives::{Address, aliases::U192};
use axum::{body::Body, extract::OriginalUri, response::Response};
use http::{HeaderValue, Method, Request, header, request::Parts};
use tower::{Layer, Service};

use super::{
    challenge::{self, Refusal, Terms},
    page::{PaywallPage, TokenInfo},
    pricing::Pricing,
};
use crate::{
    protocol::{
        Payment, Reason,
        field::{self, Malformed},
        rdn,
        reason::MALFORMED_PAYMENT,
        session, x402,
    },
    receiver::{ChannelManager, PaymentError, SessionError, SessionTerms},
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
    sessions: Option<SessionTerms>,
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
                sessions: None,
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

    /// The same paywall selling prepaid sessions on its route: one payment may buy up to
    /// `terms.max_requests` requests of `terms.scope` (the path prefix, ending in `/`, or the
    /// one path this paywall guards), each at the price of the request that buys them.
    ///
    /// # Panics
    /// If `max_requests` is below 2, the scope does not start with `/` or is longer than
    /// [`session::MAX_SCOPE`], or the TTL is zero.
    pub fn with_sessions(self, terms: SessionTerms) -> Self {
        assert!(terms.max_requests >= 2, "a session buys at least 2 requests");
        assert!(terms.scope.starts_with('/') && terms.scope.len() <= session::MAX_SCOPE, "a scope is a path");
        assert!(terms.ttl.as_secs() > 0, "a session lasts at least a second");
        self.rebuild(|s| {
            s.terms.session = Some(session::Offer {
                max_requests: terms.max_requests,
                scope: terms.scope.clone(),
                ttl_seconds: terms.ttl.as_secs(),
            });
            s.sessions = Some(terms);
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
        let credential = match field::single(&parts.headers, session::SESSION) {
            Ok(credential) => credential.cloned(),
            Err(malformed) => return Ok(self.malformed(&malformed)),
        };
        if let Some(credential) = credential {
            if [x402::PAYMENT_SIGNATURE, rdn::BALANCE, rdn::SENDER_BALANCE, rdn::BALANCE_SIGNATURE]
                .iter()
                .any(|name| parts.headers.contains_key(*name))
            {
                let both = Malformed::new(session::SESSION, "sent with a payment: send one or the other");
                return Ok(self.malformed(&both));
            }
            return self.serve_session(inner, parts, body, price, &credential).await;
        }
        let payment = match Payment::from_headers(&parts.headers) {
            Ok(Some(payment)) => payment,
            Ok(None) => return Ok(self.refuse(&parts, price, Refusal::PaymentRequired)),
            Err(malformed) => return Ok(self.malformed(&malformed)),
        };
        if !self.terms.matches(&payment) {
            return Ok(self.refuse(&parts, price, Refusal::ContractMismatch));
        }
        // A payment for more than this request buys a session of that many requests.
        let buying = match payment.session_requests {
            None | Some(1) => None,
            Some(n) => match &self.sessions {
                Some(terms) if n <= terms.max_requests => Some((terms, n)),
                _ => {
                    let most = self.sessions.as_ref().map_or(1, |t| t.max_requests);
                    let error = SessionError::Mismatch(format!("{n} requests: this route sells at most {most}"));
                    return Ok(self.refuse(&parts, price, Refusal::Payment(PaymentError::Session(error))));
                }
            },
        };
        let charge = match buying {
            Some((_, n)) => price.checked_mul(U192::from(n)).unwrap_or(U192::MAX),
            None => price,
        };
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
            .check_payment(payment.sender, payment.open_block, payment.balance, &payment.balance_signature, charge)
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
        let committed = match buying {
            Some((terms, n)) => {
                self.manager.commit_session(checked, terms, price, n).await.map(|(a, c, s)| (a, Some((c, s))))
            }
            None => self.manager.commit_payment(checked).await.map(|accepted| (accepted, None)),
        };
        match committed {
            Ok((accepted, session)) => {
                let mut response = response.map(Body::new);
                challenge::add_receipt(response.headers_mut(), &self.terms, &payment, &accepted);
                if let Some((credential, spent)) = session {
                    challenge::add_session(response.headers_mut(), Some(&credential), &spent);
                }
                if let Some(observer) = &self.observer {
                    observer.accepted(accepted.amount);
                }
                Ok(response)
            }
            Err(error) => Ok(self.refuse(&head, price, Refusal::Payment(error))),
        }
    }

    /// Serves a request from the prepaid session of `credential`: spent before the handler
    /// runs, given back if it does not answer 2xx. A refused credential is a 402 like any
    /// refused payment (the client may pay with a proof instead).
    async fn serve_session<S, B, ResBody>(
        &self,
        mut inner: S,
        parts: Parts,
        body: B,
        price: U192,
        credential: &HeaderValue,
    ) -> Result<Response, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        ResBody::Error: Into<axum::BoxError>,
    {
        let named = match named_channel(&parts.headers) {
            Ok(named) => named,
            Err(malformed) => return Ok(self.malformed(&malformed)),
        };
        let scope = self.sessions.as_ref().map_or("", |t| t.scope.as_str());
        let spent = match credential.to_str() {
            Ok(text) => self.manager.spend_session(text, scope, price, named).await,
            Err(_) => Err(PaymentError::Session(SessionError::Unknown)),
        };
        let spent = match spent {
            Ok(spent) => spent,
            Err(error) => return Ok(self.refuse(&parts, price, Refusal::Payment(error))),
        };
        let response = match inner.call(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(error) => {
                self.manager.give_back_session(&spent);
                return Err(error);
            }
        };
        let mut response = response.map(Body::new);
        if !response.status().is_success() {
            tracing::debug!(status = %response.status(), "the handler did not answer 2xx: the session's request given back");
            self.manager.give_back_session(&spent);
            return Ok(response);
        }
        challenge::add_session(response.headers_mut(), None, &spent);
        Ok(response)
    }

    fn malformed(&self, malformed: &Malformed) -> Response {
        self.observe_refusal(MALFORMED_PAYMENT);
        challenge::malformed(malformed)
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

/// The channel a request with a session credential names, if it names one
/// (`RDN-Sender-Address` and `RDN-Open-Block`): the credential must be that channel's.
fn named_channel(headers: &http::HeaderMap) -> Result<Option<(Address, u32)>, Malformed> {
    let text = |name: &'static str| -> Result<Option<&str>, Malformed> {
        field::single(headers, name)?
            .map(|v| v.to_str().map(str::trim).map_err(|_| Malformed::new(name, "not visible ASCII")))
            .transpose()
    };
    let sender = text(rdn::SENDER_ADDRESS)?.map(|v| field::parse_address(rdn::SENDER_ADDRESS, v)).transpose()?;
    let block = text(rdn::OPEN_BLOCK)?.map(|v| field::parse_open_block(rdn::OPEN_BLOCK, v)).transpose()?;
    Ok(sender.zip(block))
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
