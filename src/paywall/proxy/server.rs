//! The proxy server: the configured routes, each behind its own paywall, next to the
//! management API and `/metrics`, with the request limits, on one listener.
//!
//! Before anything else looks at a request, the front door refuses a request that has already
//! passed through this proxy (its `Via` token: a loop) or through too many proxies, and puts
//! the path in its canonical form ([`super::path`]), refusing what has none: the management
//! routes, the route table, the paywall and the content all see that one path.

use std::{convert::Infallible, future::Future, hash::BuildHasher, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header, uri::PathAndQuery},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower::{Layer, ServiceExt, util::BoxCloneSyncService};

use super::{
    config::{ProxyConfig, RoutePath, ServerConfig},
    conn::App,
    content::Source,
    path,
};
use crate::{
    paywall::{PaywallLayer, PaywallPage, TokenInfo, api, metrics::Metrics},
    receiver::ChannelManager,
};

type RouteService = BoxCloneSyncService<Request, Response, Infallible>;

/// The most proxies a request may have passed through (entries of its `Via` headers).
pub const MAX_HOPS: usize = 16;

struct Table {
    config: ProxyConfig,
    services: Vec<RouteService>,
}

/// This proxy's name in `Via` headers: `uraiden-` and 16 random hex digits, new at each start,
/// so that a request coming back to the proxy that sent it is recognised, and another uraiden
/// proxy in a chain is not mistaken for this one.
fn via_token() -> String {
    format!("uraiden-{:016x}", std::collections::hash_map::RandomState::new().hash_one(std::process::id()))
}

/// The whole application of `config` for `manager`'s receiver: the front door (loop check,
/// canonical path), the routes, the management API (admin routes only with a token),
/// `/metrics`, and the size limits; browsers get the paywall page (the configured template or
/// the default) pricing in `token`.
pub fn app(config: &ProxyConfig, manager: &ChannelManager, token: TokenInfo) -> App {
    let page = match &config.server.paywall_page {
        Some(template) => PaywallPage::with_template(template, token).expect("the template was checked at load"),
        None => PaywallPage::new(token),
    };
    let metrics = Metrics::new(manager.clone());
    let via = Arc::new(via_token());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.server.upstream_timeout)
        .build()
        .expect("an HTTP client without TLS settings builds");
    let services = config
        .routes
        .iter()
        .map(|route| {
            let prefix = match &route.path {
                RoutePath::Prefix(prefix) => Some(prefix.clone()),
                RoutePath::Exact(_) => None,
            };
            let source = Source::new(&route.content, prefix, &client, config.server.upstream_timeout, via.clone());
            let content = tower::service_fn(move |request: Request| {
                let rest = request.extensions().get::<Rest>().map(|r| r.0.clone()).unwrap_or_default();
                source.clone().serve(request, rest)
            });
            let mut paywall = PaywallLayer::new(manager.clone(), route.price.clone())
                .with_description(route.description.clone(), None)
                .with_observer(metrics.clone())
                .with_page(page.clone());
            if let Some(terms) = &route.sessions {
                paywall = paywall.with_sessions(terms.clone());
            }
            BoxCloneSyncService::new(tower::Layer::layer(&paywall, content))
        })
        .collect();
    let table = Arc::new(Table { config: config.clone(), services });
    let router = api::router(manager.clone(), config.server.admin_token.clone())
        .merge(metrics.router())
        .fallback(move |request: Request| dispatch(table.clone(), request))
        .layer(axum::middleware::from_fn_with_state(metrics, Metrics::track));
    // Around the router, not inside it: a middleware added with `Router::layer` runs after the
    // routing, and the path must be canonical before it.
    let canonical = axum::middleware::from_fn_with_state(via, front).layer(router);
    let limited = axum::middleware::from_fn_with_state(Arc::new(config.server.clone()), limits).layer(canonical);
    BoxCloneSyncService::new(limited)
}

/// The path after the matched route's prefix, for the content service.
#[derive(Clone, Debug)]
struct Rest(String);

async fn dispatch(table: Arc<Table>, mut request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some((index, rest)) = table.config.route_for(&path) else {
        return (StatusCode::NOT_FOUND, "no route\n").into_response();
    };
    request.extensions_mut().insert(Rest(rest.to_string()));
    let response = table.services[index].clone().oneshot(request).await;
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    tracing::debug!(%path, route = index, status = %response.status(), "served");
    response
}

/// The front door: a request that carries this proxy's `Via` token (it went round a loop) or
/// passed through more than [`MAX_HOPS`] proxies is a 508; a path with no canonical form is a
/// 400; any other request goes on with its path in canonical form.
async fn front(State(via): State<Arc<String>>, mut request: Request, next: Next) -> Response {
    let mut hops = 0;
    for value in request.headers().get_all(header::VIA) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            hops += 1;
            // `1.1 name` or `HTTP/1.1 name`, then an optional comment.
            if entry.split_whitespace().nth(1) == Some(via.as_str()) {
                tracing::warn!(path = %request.uri().path(), "a request came back to this proxy: a loop");
                return (StatusCode::LOOP_DETECTED, "loop detected: the request has passed through this proxy\n")
                    .into_response();
            }
        }
    }
    if hops > MAX_HOPS {
        return (StatusCode::LOOP_DETECTED, format!("the request has passed through more than {MAX_HOPS} proxies\n"))
            .into_response();
    }
    let raw = request.uri().path();
    let normal = match path::normalize(raw) {
        Ok(normal) => normal,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    if normal != raw {
        let target = match request.uri().query() {
            Some(query) => format!("{normal}?{query}"),
            None => normal,
        };
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = match target.parse::<PathAndQuery>() {
            Ok(target) => Some(target),
            Err(_) => return (StatusCode::BAD_REQUEST, "the path cannot be put in canonical form\n").into_response(),
        };
        *request.uri_mut() = match axum::http::Uri::from_parts(parts) {
            Ok(uri) => uri,
            Err(_) => return (StatusCode::BAD_REQUEST, "the path cannot be put in canonical form\n").into_response(),
        };
    }
    next.run(request).await
}

/// Refuses heads over `max_header_bytes` (431) and bodies over `max_body_bytes`: at once with
/// 413 when the length is declared; a longer streamed (chunked) body is cut off at the limit,
/// and an upstream route answers 413 for it.
async fn limits(State(server): State<Arc<ServerConfig>>, request: Request, next: Next) -> Response {
    let head: usize = request.uri().to_string().len()
        + request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>();
    if head > server.max_header_bytes {
        return (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large\n").into_response();
    }
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > server.max_body_bytes as u64) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
    }
    let limit = server.max_body_bytes;
    next.run(request.map(|body| Body::new(http_body_util::Limited::new(body, limit)))).await
}

/// Serves `config` on `listener` (over TLS when the configuration has a certificate) until
/// `shutdown` completes (then finishes open requests), with the connection bounds of
/// `[server]` (see `conn`).
pub async fn serve(
    config: &ProxyConfig,
    manager: &ChannelManager,
    token: TokenInfo,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    super::conn::serve(app(config, manager, token), listener, &config.server, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_tokens_differ_between_starts() {
        let (a, b) = (via_token(), via_token());
        assert!(a.starts_with("uraiden-") && a.len() == "uraiden-".len() + 16, "{a}");
        assert_ne!(a, b);
    }
}
