//! The proxy server: the configured routes, each behind its own paywall, next to the
//! management API and `/metrics`, with the request limits, on one listener.

use std::{convert::Infallible, future::Future, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower::{ServiceExt, util::BoxCloneSyncService};

use super::{
    config::{ProxyConfig, ServerConfig},
    content::Source,
};
use crate::{
    paywall::{PaywallLayer, api, metrics::Metrics},
    receiver::ChannelManager,
};

type RouteService = BoxCloneSyncService<Request, Response, Infallible>;

struct Table {
    config: ProxyConfig,
    services: Vec<RouteService>,
}

/// The whole application of `config` for `manager`'s receiver: the routes, the management
/// API (admin routes only with a token), `/metrics`, and the size limits.
pub fn app(config: &ProxyConfig, manager: &ChannelManager) -> Router {
    let metrics = Metrics::new(manager.clone());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.server.upstream_timeout)
        .build()
        .expect("an HTTP client without TLS settings builds");
    let services = config
        .routes
        .iter()
        .map(|route| {
            let source = Source::new(&route.content, &client, config.server.upstream_timeout);
            let content = tower::service_fn(move |request: Request| {
                let rest = request.extensions().get::<Rest>().map(|r| r.0.clone()).unwrap_or_default();
                source.clone().serve(request, rest)
            });
            let paywall = PaywallLayer::new(manager.clone(), route.price.clone())
                .with_description(route.description.clone(), None)
                .with_observer(metrics.clone());
            BoxCloneSyncService::new(tower::Layer::layer(&paywall, content))
        })
        .collect();
    let table = Arc::new(Table { config: config.clone(), services });
    api::router(manager.clone(), config.server.admin_token.clone())
        .merge(metrics.router())
        .fallback(move |request: Request| dispatch(table.clone(), request))
        .layer(axum::middleware::from_fn_with_state(metrics, Metrics::track))
        .layer(axum::middleware::from_fn_with_state(Arc::new(config.server.clone()), limits))
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
/// `shutdown` completes (then finishes open requests).
pub async fn serve(
    config: &ProxyConfig,
    manager: &ChannelManager,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(config, manager);
    match &config.server.tls {
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        Some(tls) => {
            let listener = super::tls::TlsListener::new(listener, tls.clone())?;
            axum::serve(listener, app.layer(axum::Extension(crate::paywall::TlsConnection)))
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
