//! An HTTP client that pays by itself: on a 402 it reads the server's terms (x402's
//! `PAYMENT-REQUIRED` with the `uraiden-channel` scheme, else the `RDN-*` headers), picks or
//! funds a channel, signs the next balance and sends the request once more, in the protocol the
//! server offered.
//!
//! Bounded, unlike the original: one paid retry, plus at most one recovery retry after a
//! corrective refusal (a last balance the sender itself signed is adopted, anything else stops
//! the client), missing confirmations (waited for on the node, not by asking the server again) or
//! a deposit that ran out (topped up first). Spending is capped per request and per receiver,
//! and a callback can veto each payment.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, Bytes, aliases::U192};
use reqwest::{Request, Response, StatusCode, header::HeaderValue};

use super::{client::ChannelClient, error::SenderError, store::SenderChannel};
use crate::{
    paywall::{rdn, x402},
    receiver::ChannelStatus,
};

/// How much the client may spend and how it funds channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentPolicy {
    /// The most one request may cost.
    pub max_price: U192,
    /// The most that may be deposited, in all open channels together, to one receiver.
    pub max_deposit: U192,
    /// A new channel's deposit, in prices (capped by `max_deposit`).
    pub deposit_prices: u64,
    /// A top-up, in prices (capped by `max_deposit`).
    pub top_up_prices: u64,
    /// A fixed amount, in base units, for a new channel's deposit and for each top-up, instead
    /// of `deposit_prices` and `top_up_prices` (capped by `max_deposit`; raised to the price when
    /// below it).
    pub deposit: Option<U192>,
    /// The longest wait for a deposit's confirmations.
    pub confirmation_timeout: Duration,
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
        }
    }
}

/// What a server asks for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The request's URL.
    pub url: String,
    /// The price.
    pub price: U192,
    /// The receiver.
    pub receiver: Address,
    /// Confirmations the server needs before a deposit can be spent.
    pub confirmations: u64,
    /// The x402 requirement to echo back, when the server speaks x402.
    pub x402: Option<x402::PaymentRequirements>,
    /// The receiver's management API (from `RDN-Gateway-Path`), where a new deposit is seen.
    pub gateway: Option<String>,
}

/// A program's veto over each payment.
pub type Approval = Arc<dyn Fn(&Quote) -> bool + Send + Sync>;

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
}

/// A response, and the payment made for it, if any.
#[derive(Debug)]
pub struct PaidResponse {
    /// The server's response.
    pub response: Response,
    /// The payment, when the request was paid.
    pub payment: Option<PaymentMade>,
}

/// The paying HTTP client. Payments are made one at a time (one lock per client), so a burst of
/// requests does not open a burst of channels.
#[derive(Clone)]
pub struct PayingClient {
    http: reqwest::Client,
    channels: ChannelClient,
    policy: PaymentPolicy,
    approval: Option<Approval>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for PayingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayingClient").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// Why a paid request was refused, as the client reads it.
enum Refusal {
    AmountMismatch { balance: U192, signature: Option<Bytes> },
    Unconfirmed { missing: u64 },
    InsufficientFunds,
    Other(String),
}

impl PayingClient {
    /// A client paying through `channels` within `policy`.
    pub fn new(http: reqwest::Client, channels: ChannelClient, policy: PaymentPolicy) -> Self {
        Self { http, channels, policy, approval: None, lock: Arc::default() }
    }

    /// The same client asking `approval` before each payment.
    pub fn with_approval(mut self, approval: Approval) -> Self {
        self.approval = Some(approval);
        self
    }

    /// The channel client.
    pub fn channels(&self) -> &ChannelClient {
        &self.channels
    }

    /// The underlying HTTP client, to build requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `request`; on a 402, pays and sends it once more (same method, headers and body).
    pub async fn execute(&self, request: Request) -> Result<PaidResponse, SenderError> {
        let retry = request.try_clone();
        let response = self.http.execute(request).await?;
        if response.status() != StatusCode::PAYMENT_REQUIRED {
            return Ok(PaidResponse { response, payment: None });
        }
        let retry = retry.ok_or(SenderError::NotRetryable)?;
        let quote = self.quote(&response)?;
        self.check_caps(&quote)?;
        let _one_payment_at_a_time = self.lock.lock().await;
        let mut channel = self.channel_for(&quote).await?;
        let mut recovered = false;
        loop {
            let (signed, signature) = self.channels.sign_payment(&channel, quote.price).await?;
            let balance = signed.balance + quote.price;
            let mut request = retry.try_clone().ok_or(SenderError::NotRetryable)?;
            self.add_payment(&mut request, &quote, &signed, balance, &signature);
            let response = self.http.execute(request).await?;
            let status = response.status();
            if status.is_success() || status.is_redirection() {
                let acknowledged = registered_balance(&response).unwrap_or(balance);
                let channel = self.channels.acknowledge(&signed, acknowledged).await?;
                let payment = PaymentMade {
                    receiver: channel.receiver,
                    open_block: channel.open_block,
                    amount: quote.price,
                    balance: acknowledged,
                };
                return Ok(PaidResponse { response, payment: Some(payment) });
            }
            if status != StatusCode::PAYMENT_REQUIRED {
                // The server failed: it charged nothing, and says so with its status.
                return Ok(PaidResponse { response, payment: None });
            }
            let refusal = refusal(&response);
            if recovered {
                return Err(SenderError::Refused(describe(&refusal)));
            }
            recovered = true;
            channel = match refusal {
                Refusal::AmountMismatch { balance, signature } => {
                    let signature = signature.ok_or(SenderError::UnsignedCorrection { balance })?;
                    if balance.is_zero() && signature.is_empty() {
                        self.channels.acknowledge(&signed, balance).await?
                    } else {
                        self.channels.adopt(&signed, balance, &signature).await?
                    }
                }
                Refusal::Unconfirmed { missing } => {
                    self.wait_blocks(missing).await?;
                    signed
                }
                Refusal::InsufficientFunds => self.fund(&quote, Some(signed)).await?,
                Refusal::Other(reason) => return Err(SenderError::Refused(reason)),
            };
        }
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

    /// The terms of a 402: x402 when offered with the `uraiden-channel` scheme, else RDN.
    fn quote(&self, response: &Response) -> Result<Quote, SenderError> {
        let bad = |what: &str| SenderError::BadChallenge(what.to_string());
        let url = response.url().to_string();
        let gateway = response.headers().get(rdn::GATEWAY_PATH).and_then(|v| v.to_str().ok()).and_then(|path| {
            let origin = response.url().origin().ascii_serialization();
            path.starts_with('/').then(|| format!("{origin}{path}"))
        });
        if let Some(value) = response.headers().get(x402::PAYMENT_REQUIRED) {
            let required: x402::PaymentRequired =
                x402::decode_header(x402::PAYMENT_REQUIRED, value.as_bytes()).map_err(|e| bad(&e.to_string()))?;
            if let Some(offer) = required.accepts.into_iter().find(|a| a.scheme == x402::SCHEME) {
                self.check_terms(offer.extra.verifying_contract, &offer.network, offer.asset)?;
                let price = rdn::parse_amount("amount", &offer.amount).map_err(|_| bad("amount is not a decimal"))?;
                return Ok(Quote {
                    url,
                    price,
                    receiver: offer.pay_to,
                    confirmations: offer.extra.confirmations,
                    x402: Some(offer),
                    gateway,
                });
            }
        }
        let header = |name: &'static str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| bad(&format!("no {name}")))
        };
        let contract = rdn::parse_address(rdn::CONTRACT_ADDRESS, header(rdn::CONTRACT_ADDRESS)?)
            .map_err(|e| bad(&e.to_string()))?;
        let token =
            rdn::parse_address(rdn::TOKEN_ADDRESS, header(rdn::TOKEN_ADDRESS)?).map_err(|e| bad(&e.to_string()))?;
        let network = x402::network(header(rdn::CHAIN_ID)?.parse().map_err(|_| bad("chain id"))?);
        self.check_terms(contract, &network, token)?;
        Ok(Quote {
            url,
            price: rdn::parse_amount(rdn::PRICE, header(rdn::PRICE)?).map_err(|e| bad(&e.to_string()))?,
            receiver: rdn::parse_address(rdn::RECEIVER_ADDRESS, header(rdn::RECEIVER_ADDRESS)?)
                .map_err(|e| bad(&e.to_string()))?,
            confirmations: 1,
            x402: None,
            gateway,
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
    /// topped up, else a new one.
    async fn channel_for(&self, quote: &Quote) -> Result<SenderChannel, SenderError> {
        let open = self.open_channels(quote.receiver).await?;
        if let Some(channel) = open.iter().filter(|c| c.room() >= quote.price).min_by_key(|c| c.room()) {
            return Ok(channel.clone());
        }
        self.fund(quote, open.into_iter().max_by_key(|c| c.room())).await
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

    /// Tops up `channel` (or opens one) within the deposit cap, and waits for the confirmations.
    async fn fund(&self, quote: &Quote, channel: Option<SenderChannel>) -> Result<SenderChannel, SenderError> {
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
        if let Some(gateway) = &quote.gateway {
            self.wait_for_receiver(gateway, &funded).await?;
        }
        Ok(funded)
    }

    /// Waits until the receiver's API shows the deposit confirmed, backing off between looks, so
    /// the paid request is not sent before the receiver can accept it.
    async fn wait_for_receiver(&self, gateway: &str, channel: &SenderChannel) -> Result<(), SenderError> {
        let url = format!("{gateway}/channels/{}/{}", self.channels.sender(), channel.open_block);
        let deadline = tokio::time::Instant::now() + self.policy.confirmation_timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            if let Ok(response) = self.http.get(&url).send().await
                && let Ok(view) = response.json::<serde_json::Value>().await
                && view["confirmed"] == true
                && view["deposit"].as_str().and_then(|d| rdn::parse_amount("deposit", d).ok()) >= Some(channel.deposit)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SenderError::Refused(format!(
                    "the receiver did not see the deposit in {:?}",
                    self.policy.confirmation_timeout
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Waits until the node has mined `blocks` more blocks, backing off between looks.
    async fn wait_blocks(&self, blocks: u64) -> Result<(), SenderError> {
        if blocks == 0 {
            return Ok(());
        }
        let target = self.channels.node().head().await? + blocks;
        let deadline = tokio::time::Instant::now() + self.policy.confirmation_timeout;
        let mut pause = Duration::from_millis(100);
        while self.channels.node().head().await? < target {
            if tokio::time::Instant::now() >= deadline {
                return Err(SenderError::Refused(format!(
                    "block {target} not reached in {:?}",
                    self.policy.confirmation_timeout
                )));
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
    ) {
        let headers = request.headers_mut();
        let value = |v: String| HeaderValue::from_str(&v).expect("ASCII");
        match &quote.x402 {
            Some(accepted) => {
                let payment = x402::PaymentPayload {
                    x402_version: x402::X402_VERSION,
                    accepted: accepted.clone(),
                    payload: x402::ChannelPayload {
                        sender: self.channels.sender(),
                        open_block_number: channel.open_block,
                        balance: balance.to_string(),
                        signature: signature.to_string(),
                    },
                };
                headers.insert(x402::PAYMENT_SIGNATURE, x402::encode_header(&payment));
            }
            None => {
                headers.insert(rdn::CONTRACT_ADDRESS, value(self.channels.contract().to_string()));
                headers.insert(rdn::SENDER_ADDRESS, value(self.channels.sender().to_string()));
                headers.insert(rdn::OPEN_BLOCK, value(channel.open_block.to_string()));
                headers.insert(rdn::BALANCE, value(balance.to_string()));
                headers.insert(rdn::BALANCE_SIGNATURE, value(signature.to_string()));
            }
        }
    }
}

/// The balance a paid response says is registered.
fn registered_balance(response: &Response) -> Option<U192> {
    let text = response.headers().get(rdn::SENDER_BALANCE)?.to_str().ok()?;
    rdn::parse_amount(rdn::SENDER_BALANCE, text).ok()
}

/// Reads a refusal: x402's `error` (and `extra.channel`) when present, else the RDN flags.
fn refusal(response: &Response) -> Refusal {
    let headers = response.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(required) = headers
        .get(x402::PAYMENT_REQUIRED)
        .and_then(|v| x402::decode_header::<x402::PaymentRequired>(x402::PAYMENT_REQUIRED, v.as_bytes()).ok())
        && let Some(error) = required.error.as_deref()
    {
        return match error {
            "amount_mismatch" => {
                let last = required.accepts.first().and_then(|a| a.extra.channel.clone());
                match last.and_then(|l| Some((rdn::parse_amount("balance", &l.balance).ok()?, l.signature))) {
                    Some((balance, signature)) => Refusal::AmountMismatch {
                        balance,
                        signature: if signature.is_empty() { Some(Bytes::new()) } else { signature.parse().ok() },
                    },
                    None => Refusal::Other("amount_mismatch without the last payment".into()),
                }
            }
            "insufficient_confirmations" => Refusal::Unconfirmed { missing: 1 },
            "balance_exceeds_deposit" => Refusal::InsufficientFunds,
            other => Refusal::Other(other.to_string()),
        };
    }
    if headers.contains_key(rdn::INVALID_AMOUNT) {
        let balance = text(rdn::SENDER_BALANCE).and_then(|b| rdn::parse_amount(rdn::SENDER_BALANCE, &b).ok());
        let signature = match text(rdn::BALANCE_SIGNATURE) {
            Some(s) => s.parse().ok(),
            None => Some(Bytes::new()),
        };
        return match balance {
            Some(balance) => Refusal::AmountMismatch { balance, signature },
            None => Refusal::Other("RDN-Invalid-Amount without the last balance".into()),
        };
    }
    if let Some(missing) = text(rdn::INSUFFICIENT_CONFIRMATIONS) {
        return Refusal::Unconfirmed { missing: missing.parse().unwrap_or(1) };
    }
    if headers.contains_key(rdn::INSUFFICIENT_FUNDS) {
        return Refusal::InsufficientFunds;
    }
    for flag in [rdn::NONEXISTING_CHANNEL, rdn::INVALID_BALANCE_PROOF] {
        if headers.contains_key(flag) {
            return Refusal::Other(flag.to_string());
        }
    }
    Refusal::Other("402 without a reason".into())
}

fn describe(refusal: &Refusal) -> String {
    match refusal {
        Refusal::AmountMismatch { balance, .. } => format!("amount mismatch again (server's last balance {balance})"),
        Refusal::Unconfirmed { missing } => format!("still {missing} confirmation(s) missing"),
        Refusal::InsufficientFunds => "the deposit is still insufficient".into(),
        Refusal::Other(reason) => reason.clone(),
    }
}
