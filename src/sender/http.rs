//! An HTTP client that pays by itself: on a 402 it reads the server's terms (x402's
//! `PAYMENT-REQUIRED` with a usable `uraiden-channel` entry, else the `RDN-*` headers), picks or
//! funds a channel, signs the next balance and sends the request once more, in the protocol the
//! server offered. `docs/sender.md` describes the rules.
//!
//! - A payment goes only to the URL that answered 402 to that exact request: redirects are never
//!   followed by the HTTP library; the client follows them itself, without payment headers, and
//!   reports them.
//! - A paid answer's claimed balance is adopted only when it is the balance just signed; a
//!   correction only when it carries the sender's own signature. Anything else stops the client.
//! - Missing confirmations are waited for by retrying the paid request (same proof) with backoff,
//!   within [`PaymentPolicy::confirmation_timeout`]; no management API is needed.
//! - Deposits are made on the client's own account of its channels only, never because a server
//!   says the deposit is short; at most one deposit per request.
//! - Every HTTP call has a connect and a read timeout ([`PaymentPolicy::request_timeout`]).
//!
//! Spending is capped per request and per receiver (pending deposits included), and a callback
//! can veto each payment.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, Bytes, aliases::U192};
use reqwest::{
    Method, Request, Response, StatusCode, Url,
    header::{self, HeaderMap, HeaderValue},
};
use tokio::time::Instant;

use super::{
    client::ChannelClient,
    error::SenderError,
    sessions::{Held, SessionWallet, check_bought},
    store::SenderChannel,
};
use crate::{
    channel::ChannelStatus,
    protocol::{Reason, field, rdn, session, x402},
};

/// How much the client may spend and how it funds channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentPolicy {
    /// The most one request may cost.
    pub max_price: U192,
    /// The most that may be deposited, in all open channels together (and deposits still
    /// pending on chain), to one receiver.
    pub max_deposit: U192,
    /// A new channel's deposit, in prices (capped by `max_deposit`).
    pub deposit_prices: u64,
    /// A top-up, in prices (capped by `max_deposit`).
    pub top_up_prices: u64,
    /// A fixed amount, in base units, for a new channel's deposit and for each top-up, instead
    /// of `deposit_prices` and `top_up_prices` (capped by `max_deposit`; raised to the price when
    /// below it).
    pub deposit: Option<U192>,
    /// The longest wait for a deposit's confirmations: on the node, then for the server to
    /// accept the paid request.
    pub confirmation_timeout: Duration,
    /// The longest wait for a connection, and for each read of an answer, on every HTTP call.
    pub request_timeout: Duration,
    /// The most redirects followed (without payment headers) for one request.
    pub max_redirects: usize,
    /// The most requests one payment may buy where a server sells prepaid sessions (1: never
    /// prepay). Each is at most `max_price`; what a session does not use is refunded at a
    /// cooperative close.
    pub max_prepay: u32,
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        Self {
            max_price: U192::from(1_000_000u64),
            max_deposit: U192::from(100_000_000u64),
            deposit_prices: 10,
            top_up_prices: 10,
            deposit: None,
            confirmation_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            max_redirects: 10,
            max_prepay: 1,
        }
    }
}

/// What a server asks for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The URL that answered 402: the one the payment goes to.
    pub url: String,
    /// The price.
    pub price: U192,
    /// The receiver.
    pub receiver: Address,
    /// Confirmations the server needs before a deposit can be spent.
    pub confirmations: u64,
    /// The x402 `accepts` entry to echo back, as the server wrote it, when the server offered
    /// the `uraiden-channel` scheme.
    pub x402: Option<serde_json::Value>,
    /// The prepaid sessions the server sells for this URL, if any.
    pub session: Option<session::Offer>,
}

/// A program's veto over each payment.
pub type Approval = Arc<dyn Fn(&Quote) -> bool + Send + Sync>;

/// A program's view of what the client is waiting for or doing (the CLI prints it on stderr).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// A payment made for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMade {
    /// The receiver.
    pub receiver: Address,
    /// The channel's open block.
    pub open_block: u32,
    /// What the request cost.
    pub amount: U192,
    /// The channel's balance now.
    pub balance: U192,
    /// The URL paid (the one that answered 402).
    pub url: String,
}

/// A response, the payment made for it, if any, and the redirects followed.
#[derive(Debug)]
pub struct PaidResponse {
    /// The server's response.
    pub response: Response,
    /// The payment, when the request was paid.
    pub payment: Option<PaymentMade>,
    /// The redirects followed, in order (always without payment headers).
    pub redirects: Vec<String>,
    /// Requests left in the prepaid session this request was served from, or bought.
    pub session_remaining: Option<u32>,
}

/// The paying HTTP client. Payments are made one at a time (one lock per client), so a burst of
/// requests does not open a burst of channels.
#[derive(Clone)]
pub struct PayingClient {
    http: reqwest::Client,
    channels: ChannelClient,
    policy: PaymentPolicy,
    approval: Option<Approval>,
    progress: Option<Progress>,
    lock: Arc<tokio::sync::Mutex<()>>,
    sessions: Arc<SessionWallet>,
}

impl std::fmt::Debug for PayingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayingClient").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// Why the server refused a paid request, as the client reads it (with what it needs to
/// recover).
enum ServerRefusal {
    AmountMismatch { balance: U192, signature: Option<Bytes> },
    Unconfirmed { missing: u64 },
    InsufficientFunds,
    UnknownChannel(String),
    Other(String),
}

/// Whether an answer carries a payment receipt (µRaiden's `RDN-Sender-Balance` or x402's
/// `PAYMENT-RESPONSE`): a server's word that it took the payment.
fn has_receipt(headers: &HeaderMap) -> bool {
    headers.contains_key(rdn::SENDER_BALANCE) || headers.contains_key(x402::PAYMENT_RESPONSE)
}

/// The most confirmations a server may ask for (about 33 hours of 12-second blocks): more is
/// read as a broken challenge, not waited for.
pub const MAX_CONFIRMATIONS: u64 = 10_000;

/// The redirect statuses the client follows (by hand).
fn redirect_target(response: &Response) -> Option<Url> {
    let status = response.status();
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    let target = response.url().join(location).ok()?;
    matches!(target.scheme(), "http" | "https").then_some(target)
}

/// Removes every payment header (x402 and RDN) from `headers`.
fn strip_payment(headers: &mut HeaderMap) {
    headers.remove(x402::PAYMENT_SIGNATURE);
    headers.remove(session::SESSION);
    headers.remove(session::REQUESTS);
    for name in rdn::PAYMENT_HEADERS {
        headers.remove(name);
    }
}

/// The request a redirect asks for: `previous` sent to `target`, without payment headers, as a
/// GET without a body after a 303 (or a 301/302 of a POST, as browsers do), and without
/// credentials when the origin changes.
fn redirected(mut previous: Request, status: StatusCode, target: Url) -> Request {
    let to_get =
        status == StatusCode::SEE_OTHER || (matches!(status.as_u16(), 301 | 302) && *previous.method() == Method::POST);
    let cross_origin = previous.url().origin() != target.origin();
    let headers = previous.headers_mut();
    strip_payment(headers);
    if cross_origin {
        for name in [header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION] {
            headers.remove(name);
        }
    }
    if to_get {
        for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
            headers.remove(name);
        }
        let method = if *previous.method() == Method::HEAD { Method::HEAD } else { Method::GET };
        *previous.method_mut() = method;
        *previous.body_mut() = None;
    }
    *previous.url_mut() = target;
    previous
}

impl PayingClient {
    /// A client paying through `channels` within `policy`. Its HTTP client follows no redirect
    /// by itself and has `policy.request_timeout` as its connect and read timeouts.
    pub fn new(channels: ChannelClient, policy: PaymentPolicy) -> Result<Self, SenderError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.request_timeout)
            .read_timeout(policy.request_timeout)
            .build()?;
        Ok(Self {
            http,
            channels,
            policy,
            approval: None,
            progress: None,
            lock: Arc::default(),
            sessions: Arc::default(),
        })
    }

    /// The same client asking `approval` before each payment.
    pub fn with_approval(mut self, approval: Approval) -> Self {
        self.approval = Some(approval);
        self
    }

    /// The same client telling `progress` what it waits for (confirmations) and follows
    /// (redirects).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The channel client.
    pub fn channels(&self) -> &ChannelClient {
        &self.channels
    }

    /// The underlying HTTP client, to build requests (it follows no redirect by itself).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn tell(&self, message: &str) {
        if let Some(progress) = &self.progress {
            progress(message);
        }
    }

    async fn send(&self, request: Request) -> Result<Response, SenderError> {
        Ok(self.http.execute(request).await?)
    }

    /// Sends `request` without payment headers, following redirects by hand (each recorded in
    /// `redirects`); gives the last response and a copy of the request that got it.
    async fn follow(
        &self,
        mut request: Request,
        redirects: &mut Vec<String>,
    ) -> Result<(Response, Option<Request>), SenderError> {
        strip_payment(request.headers_mut());
        loop {
            let copy = request.try_clone();
            let response = self.send(request).await?;
            let Some(target) = redirect_target(&response) else { return Ok((response, copy)) };
            // A streaming body cannot be sent again: the redirect itself is the answer.
            let Some(previous) = copy else { return Ok((response, None)) };
            if redirects.len() >= self.policy.max_redirects {
                return Err(SenderError::Protocol {
                    url: response.url().to_string(),
                    reason: format!("more than {} redirects", self.policy.max_redirects),
                });
            }
            redirects.push(target.to_string());
            request = redirected(previous, response.status(), target);
        }
    }

    /// Sends `request`; on a 402, pays the URL that answered it and sends that request once
    /// more (same method, headers and body) with the payment. Redirects are followed without
    /// payment headers, before and after the payment.
    /// A 402 reached through a redirect from `https://` to `http://` is not paid.
    pub async fn execute(&self, request: Request) -> Result<PaidResponse, SenderError> {
        let original_scheme = request.url().scheme().to_string();
        let mut redirects = Vec::new();
        let (response, exact) = match self.try_session(request).await? {
            SessionAnswer::Served(response, remaining) => {
                return Ok(PaidResponse { response, payment: None, redirects, session_remaining: Some(remaining) });
            }
            SessionAnswer::Refused(response, exact) => (response, Some(exact)),
            SessionAnswer::None(request) => self.follow(request, &mut redirects).await?,
        };
        if response.status() != StatusCode::PAYMENT_REQUIRED {
            return Ok(PaidResponse { response, payment: None, redirects, session_remaining: None });
        }
        let exact = exact.ok_or(SenderError::NotRetryable)?;
        // A payment is never sent in clear text when the user asked for TLS.
        if original_scheme == "https" && response.url().scheme() != "https" {
            return Err(SenderError::Downgraded { url: response.url().to_string() });
        }
        let quote = self.quote(&response)?;
        self.check_caps(&quote)?;
        let _one_payment_at_a_time = self.lock.lock().await;
        // `fresh`: the channel's deposit may be too new for the server to have seen it (made by
        // this call, or found by reconciling a deposit of an earlier run).
        let (mut channel, fresh) = self.channel_for(&quote).await?;
        let mut funded = fresh;
        let mut recovered = false;
        let mut waiting: Option<(Instant, Duration)> = None;
        loop {
            let requests = self.requests_to_buy(&quote, &channel, exact.url());
            let charge = quote.price * U192::from(requests);
            let (signed, signature) = self.channels.sign_payment(&channel, charge).await?;
            let balance = signed.balance + charge;
            let mut request = exact.try_clone().ok_or(SenderError::NotRetryable)?;
            self.add_payment(&mut request, &quote, &signed, balance, &signature, requests);
            let response = self.send(request).await?;
            let status = response.status();
            if status.is_success() || status.is_redirection() {
                // A redirect without a receipt charged nothing (only 2xx is charged; a server
                // that charges a redirect says so with its receipt): nothing is acknowledged,
                // and the same balance is signed again for the next payment.
                let charged = status.is_success() || has_receipt(response.headers());
                let mut session_remaining = None;
                let payment = match charged {
                    true => {
                        let channel = self.settled(&response, &signed, balance).await?;
                        if requests > 1 {
                            session_remaining = Some(self.keep_session(&response, &quote, &signed, requests, balance)?);
                        }
                        Some(PaymentMade {
                            receiver: channel.receiver,
                            open_block: channel.open_block,
                            amount: charge,
                            balance: channel.balance,
                            url: quote.url.clone(),
                        })
                    }
                    false => None,
                };
                let Some(target) = redirect_target(&response) else {
                    return Ok(PaidResponse { response, payment, redirects, session_remaining });
                };
                // Followed without the payment: it was for the URL that asked for it only.
                match charged {
                    true => self.tell(&format!("paid; redirected to {target}: followed without payment headers")),
                    false => self.tell(&format!(
                        "redirected to {target} before the payment was taken (nothing charged): followed without payment headers"
                    )),
                }
                let previous = exact.try_clone().ok_or(SenderError::NotRetryable)?;
                redirects.push(target.to_string());
                let next = redirected(previous, status, target);
                let (response, _) = self.follow(next, &mut redirects).await?;
                return Ok(PaidResponse { response, payment, redirects, session_remaining });
            }
            if status != StatusCode::PAYMENT_REQUIRED {
                // The server failed: it charged nothing, and says so with its status.
                return Ok(PaidResponse { response, payment: None, redirects, session_remaining: None });
            }
            let refusal = refusal(&response);
            channel = match refusal {
                ServerRefusal::Unconfirmed { missing } => {
                    self.wait_for_server(&mut waiting, &format!("{missing} confirmation(s) missing")).await?;
                    signed
                }
                // Right after a deposit of this client's, the server may not have seen it yet.
                ServerRefusal::InsufficientFunds if fresh || funded => {
                    self.wait_for_server(&mut waiting, "the new deposit not seen yet").await?;
                    signed
                }
                ServerRefusal::UnknownChannel(_) if fresh => {
                    self.wait_for_server(&mut waiting, "the new channel not seen yet").await?;
                    signed
                }
                ServerRefusal::InsufficientFunds => {
                    return Err(SenderError::FundsDisputed {
                        open_block: signed.open_block,
                        deposit: signed.deposit,
                        balance,
                    });
                }
                refusal if recovered => return Err(SenderError::Refused(describe(&refusal))),
                ServerRefusal::AmountMismatch { balance, signature } => {
                    recovered = true;
                    let signature = signature.ok_or(SenderError::UnsignedCorrection { balance })?;
                    let adopted = if balance.is_zero() && signature.is_empty() {
                        self.channels.acknowledge(&signed, balance).await?
                    } else {
                        self.channels.adopt(&signed, balance, &signature).await?
                    };
                    if adopted.room() >= quote.price {
                        adopted
                    } else if funded {
                        return Err(SenderError::Refused(format!(
                            "after the server's correction to {balance}, channel {} has {} left, less than the price {}, and one deposit was already made",
                            adopted.open_block,
                            adopted.room(),
                            quote.price
                        )));
                    } else {
                        funded = true;
                        self.fund(&quote, Some(adopted)).await?
                    }
                }
                ServerRefusal::UnknownChannel(reason) | ServerRefusal::Other(reason) => {
                    return Err(SenderError::Refused(reason));
                }
            };
        }
    }

    /// The channel after a paid 2xx (or a 3xx with a receipt): the balance just signed is acknowledged when the
    /// answer claims no other (in `RDN-Sender-Balance` or x402's `PAYMENT-RESPONSE`); a claim of
    /// any other balance (one the sender did not sign, or not last) is a protocol error, and
    /// nothing is adopted.
    async fn settled(
        &self,
        response: &Response,
        signed: &SenderChannel,
        balance: U192,
    ) -> Result<SenderChannel, SenderError> {
        let protocol = |reason: String| SenderError::Protocol { url: response.url().to_string(), reason };
        let mut claims = Vec::new();
        if let Some(value) = response.headers().get(rdn::SENDER_BALANCE) {
            let claimed = value
                .to_str()
                .ok()
                .and_then(|text| field::parse_amount(rdn::SENDER_BALANCE, text).ok())
                .ok_or_else(|| protocol(format!("{} is not a decimal amount", rdn::SENDER_BALANCE)))?;
            claims.push((rdn::SENDER_BALANCE, claimed));
        }
        match x402::read_receipt(response.headers()) {
            Some(Ok((open_block, claimed))) => {
                if open_block != signed.open_block {
                    return Err(protocol(format!(
                        "{} names channel {open_block}; the payment was made on channel {}",
                        x402::PAYMENT_RESPONSE,
                        signed.open_block
                    )));
                }
                claims.push((x402::PAYMENT_RESPONSE, claimed));
            }
            Some(Err(reason)) => return Err(protocol(reason)),
            None => {}
        }
        if let Some((name, claimed)) = claims.into_iter().find(|(_, claimed)| *claimed != balance) {
            return Err(protocol(format!(
                "{name} says balance {claimed} is registered, but the sender signed {balance} for this payment (and never more): not adopted"
            )));
        }
        self.channels.acknowledge(signed, balance).await
    }

    /// Waits, with backoff, before the paid request is sent again to a server that does not
    /// accept the deposit yet; fails once [`PaymentPolicy::confirmation_timeout`] has passed since
    /// the first wait.
    async fn wait_for_server(&self, waiting: &mut Option<(Instant, Duration)>, why: &str) -> Result<(), SenderError> {
        let timeout = self.policy.confirmation_timeout;
        let (deadline, pause) = waiting.get_or_insert_with(|| {
            self.tell(&format!(
                "waiting for the server to accept the deposit ({why}); retrying for up to {} s",
                timeout.as_secs()
            ));
            (Instant::now() + timeout, Duration::from_millis(50))
        });
        let now = Instant::now();
        if now >= *deadline {
            return Err(SenderError::TimedOut {
                what: format!("waiting for the server to accept the deposit ({why})"),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep((*pause).min(*deadline - now)).await;
        *pause = (*pause * 2).min(Duration::from_secs(1));
        Ok(())
    }

    fn check_caps(&self, quote: &Quote) -> Result<(), SenderError> {
        if quote.price > self.policy.max_price {
            return Err(SenderError::PriceAboveCap { price: quote.price, cap: self.policy.max_price });
        }
        if let Some(approval) = &self.approval
            && !approval(quote)
        {
            return Err(SenderError::NotApproved { receiver: quote.receiver, price: quote.price });
        }
        Ok(())
    }

    /// The terms of a 402: x402 when `PAYMENT-REQUIRED` has a usable `uraiden-channel` entry,
    /// else the RDN headers.
    fn quote(&self, response: &Response) -> Result<Quote, SenderError> {
        let bad = |what: &str| SenderError::BadChallenge(what.to_string());
        let url = response.url().to_string();
        if let Some(offer) = x402::read_challenge(response.headers()).and_then(|c| c.offer) {
            self.check_terms(offer.verifying_contract, &offer.network, offer.asset)?;
            if offer.confirmations > MAX_CONFIRMATIONS {
                return Err(bad(&format!("extra.confirmations {} is above {MAX_CONFIRMATIONS}", offer.confirmations)));
            }
            return Ok(Quote {
                url,
                price: offer.amount,
                receiver: offer.pay_to,
                confirmations: offer.confirmations,
                session: offer.session.filter(valid_offer),
                x402: Some(offer.raw),
            });
        }
        let header = |name: &'static str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                bad(&format!("no usable {} entry in {} and no {name}", x402::SCHEME, x402::PAYMENT_REQUIRED))
            })
        };
        let contract = field::parse_address(rdn::CONTRACT_ADDRESS, header(rdn::CONTRACT_ADDRESS)?)
            .map_err(|e| bad(&e.to_string()))?;
        let token =
            field::parse_address(rdn::TOKEN_ADDRESS, header(rdn::TOKEN_ADDRESS)?).map_err(|e| bad(&e.to_string()))?;
        let network = x402::network(header(rdn::CHAIN_ID)?.parse().map_err(|_| bad("chain id"))?);
        self.check_terms(contract, &network, token)?;
        Ok(Quote {
            url,
            price: field::parse_amount(rdn::PRICE, header(rdn::PRICE)?).map_err(|e| bad(&e.to_string()))?,
            receiver: field::parse_address(rdn::RECEIVER_ADDRESS, header(rdn::RECEIVER_ADDRESS)?)
                .map_err(|e| bad(&e.to_string()))?,
            confirmations: 1,
            x402: None,
            session: rdn_session_offer(response.headers()),
        })
    }

    fn check_terms(&self, contract: Address, network: &str, token: Address) -> Result<(), SenderError> {
        let ours = x402::network(self.channels.chain_id());
        if contract != self.channels.contract() {
            return Err(SenderError::OtherTerms { what: format!("contract {contract}") });
        }
        if network != ours {
            return Err(SenderError::OtherTerms { what: format!("network {network}") });
        }
        if token != self.channels.token() {
            return Err(SenderError::OtherTerms { what: format!("token {token}") });
        }
        Ok(())
    }

    /// The open channel to the receiver with the least room that fits the price; else one
    /// topped up, else a new one. Deposits left pending by an earlier run are reconciled with the
    /// chain first; while one to this receiver is still pending, nothing more is deposited to it.
    /// The flag says the channel's deposit is new (made now, or just reconciled).
    async fn channel_for(&self, quote: &Quote) -> Result<(SenderChannel, bool), SenderError> {
        let recorded = self.channels.store().pending().await?.len();
        let pending = self.channels.pending_deposits(quote.receiver).await?;
        let reconciled = self.channels.store().pending().await?.len() < recorded;
        let open = self.open_channels(quote.receiver).await?;
        if let Some(channel) = open.iter().filter(|c| c.room() >= quote.price).min_by_key(|c| c.room()) {
            return Ok((channel.clone(), reconciled));
        }
        if let Some(p) = pending.first() {
            return Err(SenderError::PendingDeposit { receiver: quote.receiver, amount: p.amount, nonce: p.nonce });
        }
        Ok((self.fund(quote, open.into_iter().max_by_key(|c| c.room())).await?, true))
    }

    async fn open_channels(&self, receiver: Address) -> Result<Vec<SenderChannel>, SenderError> {
        Ok(self
            .channels
            .channels()
            .await?
            .into_iter()
            .filter(|c| c.receiver == receiver && c.status == ChannelStatus::Open)
            .collect())
    }

    /// Tops up `channel` (or opens one) within the deposit cap, and waits for the confirmations
    /// on the node. Called only when the client's own account says the room is short.
    async fn fund(&self, quote: &Quote, channel: Option<SenderChannel>) -> Result<SenderChannel, SenderError> {
        if let Some(p) = self.channels.pending_deposits(quote.receiver).await?.first() {
            return Err(SenderError::PendingDeposit { receiver: quote.receiver, amount: p.amount, nonce: p.nonce });
        }
        let deposited: U192 = self.open_channels(quote.receiver).await?.iter().map(|c| c.deposit).sum();
        let left = self.policy.max_deposit.saturating_sub(deposited);
        let prices = |n: u64| match self.policy.deposit {
            Some(fixed) => fixed.max(quote.price).min(left),
            None => quote.price.saturating_mul(U192::from(n)).min(left),
        };
        let (needed, amount) = match &channel {
            Some(c) => (quote.price.saturating_sub(c.room()), prices(self.policy.top_up_prices)),
            None => (quote.price, prices(self.policy.deposit_prices)),
        };
        if amount < needed || amount.is_zero() {
            let cap = self.policy.max_deposit;
            return Err(SenderError::DepositCap { receiver: quote.receiver, needed: deposited + needed, cap });
        }
        let funded = match channel {
            Some(c) => self.channels.top_up(&c, amount).await?,
            None => self.channels.open(quote.receiver, amount).await?,
        };
        self.wait_blocks(quote.confirmations.saturating_sub(1)).await?;
        Ok(funded)
    }

    /// Waits until the node has mined `blocks` more blocks, backing off between looks.
    async fn wait_blocks(&self, blocks: u64) -> Result<(), SenderError> {
        if blocks == 0 {
            return Ok(());
        }
        let target = self.channels.node().head().await?.saturating_add(blocks);
        let deadline = Instant::now() + self.policy.confirmation_timeout;
        let mut pause = Duration::from_millis(100);
        while self.channels.node().head().await? < target {
            if Instant::now() >= deadline {
                return Err(SenderError::TimedOut {
                    what: format!("waiting for block {target}"),
                    seconds: self.policy.confirmation_timeout.as_secs(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        Ok(())
    }

    fn add_payment(
        &self,
        request: &mut Request,
        quote: &Quote,
        channel: &SenderChannel,
        balance: U192,
        signature: &Bytes,
        requests: u32,
    ) {
        let headers = request.headers_mut();
        strip_payment(headers);
        let value = |v: String| HeaderValue::from_str(&v).expect("ASCII");
        let session_requests = (requests > 1).then_some(requests);
        match &quote.x402 {
            Some(accepted) => {
                let sender = self.channels.sender();
                let payment = x402::payment_signature(
                    accepted,
                    sender,
                    channel.open_block,
                    balance,
                    &signature.to_string(),
                    session_requests,
                );
                headers.insert(x402::PAYMENT_SIGNATURE, payment);
            }
            None => {
                headers.insert(rdn::CONTRACT_ADDRESS, value(self.channels.contract().to_string()));
                headers.insert(rdn::SENDER_ADDRESS, value(self.channels.sender().to_string()));
                headers.insert(rdn::OPEN_BLOCK, value(channel.open_block.to_string()));
                headers.insert(rdn::BALANCE, value(balance.to_string()));
                headers.insert(rdn::BALANCE_SIGNATURE, value(signature.to_string()));
                if let Some(n) = session_requests {
                    headers.insert(session::REQUESTS, HeaderValue::from(n));
                }
            }
        }
    }

    /// How many requests the next payment buys: 1, or a session of up to the server's and the
    /// policy's maximum that the channel's deposit covers, when `url` is in the offer's scope.
    fn requests_to_buy(&self, quote: &Quote, channel: &SenderChannel, url: &Url) -> u32 {
        let Some(offer) = quote.session.as_ref().filter(|o| o.covers(url.path())) else { return 1 };
        let most = offer.max_requests.min(self.policy.max_prepay);
        if most < 2 || quote.price.is_zero() {
            return 1;
        }
        // From the acknowledged balance, not the highest signed: a retry of the same payment (its
        // deposit not seen yet) buys the same number again, with the same proof.
        let affordable = channel.deposit.saturating_sub(channel.balance) / quote.price;
        let n = U192::from(most).min(affordable).to::<u32>();
        if n >= 2 { n } else { 1 }
    }

    /// Keeps the credential a session purchase was answered with; returns what it has left.
    fn keep_session(
        &self,
        response: &Response,
        quote: &Quote,
        signed: &SenderChannel,
        requests: u32,
        balance: U192,
    ) -> Result<u32, SenderError> {
        let protocol = |reason: String| SenderError::Protocol { url: response.url().to_string(), reason };
        let scope = quote.session.as_ref().map(|o| o.scope.clone()).unwrap_or_default();
        let text = response
            .headers()
            .get(session::SESSION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| protocol(format!("a session of {requests} requests was paid for and no {} came back (what it did not use is refunded at a cooperative close)", session::SESSION)))?;
        let credential = check_bought(
            text,
            self.channels.sender(),
            signed.receiver,
            signed.open_block,
            &scope,
            quote.price,
            requests,
            balance,
        )
        .map_err(protocol)?;
        let remaining = header_number(response, session::REMAINING).unwrap_or(requests - 1).min(requests - 1);
        let url = response.url().clone();
        self.sessions.keep(
            &url,
            scope,
            Held { credential: text.to_string(), remaining, expires: credential.grant.expires },
        );
        Ok(remaining)
    }

    /// Sends `request` with a credential of a session bought for its URL, if there is one:
    /// served (2xx or any answer but a 402), refused (the 402 to pay, the session forgotten), or
    /// no session to use.
    async fn try_session(&self, mut request: Request) -> Result<SessionAnswer, SenderError> {
        let Some((scope, held)) = self.sessions.for_url(request.url()) else { return Ok(SessionAnswer::None(request)) };
        let Some(exact) = request.try_clone() else { return Ok(SessionAnswer::None(request)) };
        strip_payment(request.headers_mut());
        let credential = HeaderValue::from_str(&held.credential).map_err(|_| SenderError::NotRetryable)?;
        request.headers_mut().insert(session::SESSION, credential);
        let url = request.url().clone();
        let response = self.send(request).await?;
        if response.status() == StatusCode::PAYMENT_REQUIRED {
            self.tell(&format!("the prepaid session for {scope} was refused; paying with a proof"));
            self.sessions.forget(&url, &scope);
            return Ok(SessionAnswer::Refused(response, exact));
        }
        let remaining = match response.status().is_success() {
            true => header_number(&response, session::REMAINING).unwrap_or(held.remaining.saturating_sub(1)),
            false => held.remaining,
        };
        self.sessions.used(&url, &scope, remaining);
        Ok(SessionAnswer::Served(response, remaining))
    }
}

/// The sessions a 402's RDN headers offer, if they offer readable ones.
fn rdn_session_offer(headers: &HeaderMap) -> Option<session::Offer> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let offer = session::Offer {
        max_requests: text(session::MAX)?.parse().ok()?,
        scope: text(session::SCOPE)?.to_string(),
        ttl_seconds: text(session::TTL)?.parse().ok()?,
    };
    valid_offer(&offer).then_some(offer)
}

/// An offer worth taking: at least 2 requests, a path scope.
fn valid_offer(offer: &session::Offer) -> bool {
    offer.max_requests >= 2 && offer.scope.starts_with('/') && offer.scope.len() <= session::MAX_SCOPE
}

/// What sending a request from a prepaid session gave.
enum SessionAnswer {
    /// The server answered (not 402); the session has this many requests left.
    Served(Response, u32),
    /// The server refused the credential: its 402, and the request to pay with.
    Refused(Response, Request),
    /// No session for the URL: the request, untouched.
    None(Request),
}

/// A header holding a decimal `u32`.
fn header_number(response: &Response, name: &str) -> Option<u32> {
    response.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Reads a refusal: x402's `error` (and the `uraiden-channel` entry's `extra.channel`) when
/// present, else the RDN flags.
fn refusal(response: &Response) -> ServerRefusal {
    let headers = response.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(challenge) = x402::read_challenge(headers)
        && let Some(error) = challenge.error.as_deref()
    {
        return match Reason::parse(error) {
            Some(Reason::AmountMismatch) => {
                match challenge.last.and_then(|(b, s)| Some((field::parse_amount("balance", &b).ok()?, s))) {
                    Some((balance, signature)) => ServerRefusal::AmountMismatch {
                        balance,
                        signature: if signature.is_empty() { Some(Bytes::new()) } else { signature.parse().ok() },
                    },
                    None => ServerRefusal::Other(format!("{error} without the last payment")),
                }
            }
            Some(Reason::InsufficientConfirmations) => ServerRefusal::Unconfirmed { missing: 1 },
            Some(Reason::BalanceExceedsDeposit) => ServerRefusal::InsufficientFunds,
            Some(Reason::ChannelNotFound) => ServerRefusal::UnknownChannel(error.to_string()),
            _ => ServerRefusal::Other(error.to_string()),
        };
    }
    // The flags, most telling first (the confirmations' only with a readable count).
    let flag = [
        rdn::INVALID_AMOUNT,
        rdn::INSUFFICIENT_CONFIRMATIONS,
        rdn::INSUFFICIENT_FUNDS,
        rdn::NONEXISTING_CHANNEL,
        rdn::INVALID_BALANCE_PROOF,
    ]
    .into_iter()
    .find(|flag| match *flag {
        rdn::INSUFFICIENT_CONFIRMATIONS => text(flag).is_some(),
        _ => headers.contains_key(*flag),
    });
    let Some(flag) = flag else { return ServerRefusal::Other("402 without a reason".into()) };
    match Reason::from_rdn_flag(flag) {
        Some(Reason::AmountMismatch) => {
            let balance = text(rdn::SENDER_BALANCE).and_then(|b| field::parse_amount(rdn::SENDER_BALANCE, &b).ok());
            let signature = match text(rdn::BALANCE_SIGNATURE) {
                Some(s) => s.parse().ok(),
                None => Some(Bytes::new()),
            };
            match balance {
                Some(balance) => ServerRefusal::AmountMismatch { balance, signature },
                None => ServerRefusal::Other("RDN-Invalid-Amount without the last balance".into()),
            }
        }
        Some(Reason::InsufficientConfirmations) => {
            ServerRefusal::Unconfirmed { missing: text(flag).and_then(|m| m.parse().ok()).unwrap_or(1) }
        }
        Some(Reason::BalanceExceedsDeposit) => ServerRefusal::InsufficientFunds,
        Some(Reason::ChannelNotFound) => ServerRefusal::UnknownChannel(flag.to_string()),
        _ => ServerRefusal::Other(flag.to_string()),
    }
}

fn describe(refusal: &ServerRefusal) -> String {
    match refusal {
        ServerRefusal::AmountMismatch { balance, .. } => {
            format!("amount mismatch again (server's last balance {balance})")
        }
        ServerRefusal::Unconfirmed { missing } => format!("still {missing} confirmation(s) missing"),
        ServerRefusal::InsufficientFunds => "the deposit is still insufficient".into(),
        ServerRefusal::UnknownChannel(reason) | ServerRefusal::Other(reason) => reason.clone(),
    }
}
