//! The management API under `/api/1` (documented by `docs/openapi.json`, served at
//! `/api/1/openapi.json`), and `/health`, `/ready`.
//!
//! Listings never show the stored balance proofs. The cooperative close needs the sender's own
//! consent: its signature of a `CloseRequest` (see [`crate::proof::CloseRequest`]) for the last
//! registered balance, which no payment carries and no answer echoes, so a client holding any
//! balance proof (even the latest, which a refusal hands back to resynchronise) cannot close
//! someone else's channel. Admin routes (force-close one channel, close all) need the bearer
//! token; without one configured they do not exist. Every error is JSON
//! `{"error": code, "message": …}`, those of axum's extractors included.

use std::sync::Arc;

use alloy_primitives::Address;
use axum::{
    Json, Router,
    extract::{
        DefaultBodyLimit, Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use super::page;
use crate::{
    channel::ChannelStatus,
    proof::{ChannelDomain, recover},
    protocol::{
        api::{API_BASE, ApiErrorBody, CloseSignature, CooperativeClose},
        field::{parse_amount, parse_signature},
    },
    receiver::{ChannelManager, CloseError},
};

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// The largest request body the API reads.
const MAX_BODY: usize = 16 * 1024;

#[derive(Clone)]
struct Api {
    manager: ChannelManager,
    domain: Arc<ChannelDomain>,
    admin_token: Option<Arc<str>>,
}

/// The management API's routes (mount them at the root: they carry their `/api/1` prefix).
/// `admin_token` enables the admin routes.
pub fn router(manager: ChannelManager, admin_token: Option<String>) -> Router {
    let domain = Arc::new(ChannelDomain::new(manager.chain_id(), manager.contract()));
    let api = Api { manager, domain, admin_token: admin_token.map(Into::into) };
    let mut router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route(&format!("{API_BASE}/openapi.json"), get(openapi))
        .route(page::SCRIPT_PATH, get(paywall_script))
        .route(&format!("{API_BASE}/stats"), get(stats))
        .route(&format!("{API_BASE}/channels"), get(channels))
        .route(&format!("{API_BASE}/channels/{{sender}}"), get(sender_channels))
        .route(&format!("{API_BASE}/channels/{{sender}}/{{open_block}}"), get(channel).delete(cooperative_close));
    if api.admin_token.is_some() {
        router = router
            .route(&format!("{API_BASE}/admin/channels/{{sender}}/{{open_block}}/close"), post(admin_close))
            .route(&format!("{API_BASE}/admin/close-all"), post(admin_close_all));
    }
    router.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(api)
}

/// An API error: a status and a JSON body `{"error": code, "message": …}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ApiErrorBody { error: self.code.into(), message: self.message })).into_response()
    }
}

fn error(status: StatusCode, code: &'static str, message: impl std::fmt::Display) -> ApiError {
    ApiError { status, code, message: message.to_string() }
}

type ApiResult = Result<Response, ApiError>;

/// An extractor's refusal (a bad path segment or query, a body that is not the expected JSON,
/// too large, or not declared `application/json`), with its status, as a JSON error.
fn rejected(status: StatusCode, message: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "not_json",
        _ => "bad_request",
    };
    ApiError { status, code, message }
}

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(value)| value).map_err(|r| rejected(r.status(), r.body_text()))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The paywall page's script: revalidated on every use (`no-cache`) against its `ETag`, so a
/// browser keeps one copy and an upgraded binary's script is never mixed with an older page.
async fn paywall_script(headers: HeaderMap) -> Response {
    static ETAG: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("\"{}\"", alloy_primitives::keccak256(page::SCRIPT)));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == ETAG.as_str() || tag.trim() == "*"));
    let common = [(header::ETAG, ETAG.as_str()), (header::CACHE_CONTROL, "no-cache")];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], page::SCRIPT).into_response()
}

/// Ready when synced with the node and the store answered the last poll (every payment needs
/// both): a balancer's health check routes away from an instance that lost its database. No
/// query of its own: an unauthenticated route must not take the payments' connections.
async fn ready(State(api): State<Api>) -> Response {
    let status = api.manager.status();
    let code = if status.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let store = status.store_error.clone().unwrap_or_else(|| "ok".to_string());
    (code, Json(json!({ "ready": status.ready(), "store": store, "status": status }))).into_response()
}

/// With a shared store, the records as every server of the receiver left them (a 503 when the
/// store cannot be read: no stale answer).
async fn read_through(api: &Api, channel: Option<(Address, u32)>) -> Result<(), ApiError> {
    api.manager.refresh(channel).await.map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e))
}

async fn stats(State(api): State<Api>) -> ApiResult {
    read_through(&api, None).await?;
    let stats = api.manager.stats();
    let status = api.manager.status();
    let token_balance = match api.manager.token_balance().await {
        Ok(balance) => Some(balance.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "stats: the receiver's token balance is unknown");
            None
        }
    };
    Ok(Json(json!({
        "open_channels": stats.open,
        "closing_channels": stats.closing,
        "settled_channels": stats.settled,
        "unconfirmed_channels": stats.unconfirmed,
        "unique_senders": stats.senders,
        "deposit_sum": stats.deposits.to_string(),
        "balance_sum": stats.locked.to_string(),
        "settled_sum": stats.settled_balances.to_string(),
        "receiver_token_balance": token_balance,
        "contract": api.manager.contract(),
        "token": api.manager.token(),
        "receiver": api.manager.receiver(),
        "chain_id": api.manager.chain_id(),
        "synced_block": status.synced_block,
        "head": status.head,
        "behind": status.synced_block.map(|b| status.head.saturating_sub(b)),
        "low_funds": status.low_funds.map(|low| json!({
            "balance": low.balance.to_string(),
            "needed": low.needed.to_string(),
        })),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct StatusFilter {
    status: Option<String>,
}

async fn channels(State(api): State<Api>, filter: Result<Query<StatusFilter>, QueryRejection>) -> ApiResult {
    let Query(filter) = filter.map_err(|r| rejected(r.status(), r.body_text()))?;
    let wanted = match filter.status.as_deref() {
        None | Some("all") => None,
        Some(name) => Some(ChannelStatus::parse(name).ok_or_else(|| {
            error(StatusCode::BAD_REQUEST, "bad_status", format!("status {name:?}: use open, closing, settled or all"))
        })?),
    };
    read_through(&api, None).await?;
    let list: Vec<_> = api.manager.channels().into_iter().filter(|c| wanted.is_none_or(|s| c.status == s)).collect();
    Ok(Json(list).into_response())
}

fn parse_sender(sender: &str) -> Result<Address, ApiError> {
    sender.parse().map_err(|_| error(StatusCode::BAD_REQUEST, "bad_sender", format!("{sender:?} is not an address")))
}

fn parse_block(block: &str) -> Result<u32, ApiError> {
    block
        .parse()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "bad_open_block", format!("{block:?} is not a block number")))
}

async fn sender_channels(State(api): State<Api>, sender: Result<Path<String>, PathRejection>) -> ApiResult {
    let sender = parse_sender(&path(sender)?)?;
    read_through(&api, None).await?;
    let list: Vec<_> = api.manager.channels().into_iter().filter(|c| c.sender == sender).collect();
    if list.is_empty() {
        return Err(error(StatusCode::NOT_FOUND, "channel_not_found", format!("no channel from {sender}")));
    }
    Ok(Json(list).into_response())
}

async fn channel(State(api): State<Api>, id: Result<Path<(String, String)>, PathRejection>) -> ApiResult {
    let (sender, block) = path(id)?;
    let (sender, block) = (parse_sender(&sender)?, parse_block(&block)?);
    read_through(&api, Some((sender, block))).await?;
    let view = api.manager.channel(sender, block).ok_or_else(|| {
        error(StatusCode::NOT_FOUND, "channel_not_found", format!("no channel from {sender} opened in block {block}"))
    })?;
    // What a cooperative close refunds: the prepaid requests the channel's sessions did not use.
    let unused = api
        .manager
        .unused_prepaid(sender, block)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("the store failed: {e}")))?;
    let mut json = serde_json::to_value(view).expect("views serialise");
    json["unused_prepaid"] = unused.to_string().into();
    Ok(Json(json).into_response())
}

async fn cooperative_close(
    State(api): State<Api>,
    id: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<CooperativeClose>, JsonRejection>,
) -> ApiResult {
    let (sender, block) = path(id)?;
    let (sender, block) = (parse_sender(&sender)?, parse_block(&block)?);
    let Json(request) = body.map_err(|r| rejected(r.status(), r.body_text()))?;
    let balance = parse_amount("balance", &request.balance)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "bad_balance", "balance is not a decimal amount"))?;
    let signature = parse_signature("balance_signature", &request.balance_signature)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "bad_signature", "balance_signature is not 65 bytes of hex"))?;
    let consent = parse_signature("close_request_signature", &request.close_request_signature).map_err(|_| {
        error(StatusCode::BAD_REQUEST, "bad_signature", "close_request_signature is not 65 bytes of hex")
    })?;
    // The sender's consent first: without it, nothing about the channel is looked at.
    let digest = api.domain.close_request_digest(api.manager.receiver(), block, balance);
    if recover(digest, &consent).ok() != Some(sender) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "close_not_requested",
            "close_request_signature is not the sender's CloseRequest(receiver, openBlockNumber, balance)",
        ));
    }
    let signature = api.manager.sign_close(sender, block, balance, &signature).await.map_err(close_error)?;
    Ok(Json(CloseSignature { close_signature: signature }).into_response())
}

fn close_error(e: CloseError) -> ApiError {
    match e {
        CloseError::UnknownChannel { .. } => error(StatusCode::NOT_FOUND, "channel_not_found", e),
        CloseError::NotLatest | CloseError::NothingPaid => error(StatusCode::FORBIDDEN, "not_latest", e),
        CloseError::BelowUnused { .. } => error(StatusCode::FORBIDDEN, "below_unused", e),
        CloseError::InvalidProof => error(StatusCode::FORBIDDEN, "invalid_signature", e),
        CloseError::Settled => error(StatusCode::CONFLICT, "channel_settled", e),
        CloseError::Unavailable(_) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

/// The bearer token of `headers`: `Authorization: Bearer <token>`, the scheme in any case
/// (RFC 9110, 11.1), one or more spaces after it.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim_start_matches(' '))
}

fn authorised(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = api.admin_token.as_deref().unwrap_or_default();
    // Constant-time comparison: the token is a secret.
    let ok = bearer(headers).is_some_and(|g| {
        g.len() == expected.len() && g.bytes().zip(expected.bytes()).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if ok { Ok(()) } else { Err(error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")) }
}

async fn admin_close(
    State(api): State<Api>,
    headers: HeaderMap,
    id: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    authorised(&api, &headers)?;
    let (sender, block) = path(id)?;
    let (sender, block) = (parse_sender(&sender)?, parse_block(&block)?);
    let outcome = api.manager.close_channel(sender, block).await.map_err(close_error)?;
    let body = json!({ "tx_hash": outcome.tx_hash, "block": outcome.block, "balance": outcome.balance.to_string() });
    Ok(Json(body).into_response())
}

async fn admin_close_all(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    authorised(&api, &headers)?;
    let results: Vec<_> = api
        .manager
        .close_all()
        .await
        .into_iter()
        .map(|(id, result)| match result {
            Ok(o) => json!({ "sender": id.sender, "open_block": id.open_block, "tx_hash": o.tx_hash, "balance": o.balance.to_string() }),
            Err(e) => json!({ "sender": id.sender, "open_block": id.open_block, "error": e.to_string() }),
        })
        .collect();
    Ok(Json(results).into_response())
}
