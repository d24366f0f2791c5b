//! What a route serves: static files, an upstream site (streamed both ways), or an echo.
//! Each is a service taking the request (its path in canonical form) and the part of the path
//! after the route's prefix.
//!
//! To an upstream the proxy speaks as a reverse proxy: payment headers stay with the paywall
//! (neither the client's proofs go up nor an upstream's receipts come down), the client's
//! address is added to `X-Forwarded-For` and `Forwarded` and set as `X-Real-IP`, and `Via`
//! names this proxy (which refuses requests that already name it: a loop).

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header},
    response::IntoResponse,
};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::{config::Content, conn::Peer};
use crate::protocol::x402;

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), plus `Host`.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers the proxy sets itself on a request to an upstream: the client's values are not
/// passed on as they are (`X-Forwarded-For` and `Forwarded` are appended to).
const FORWARDING: [&str; 6] =
    ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded", "via"];

/// Whether `name` (lower case, as `http` keeps names) is a payment header: µRaiden's (every
/// name of `rdn`'s, all `rdn-…`) or x402's. Only the paywall reads or writes them: they are not
/// sent to an upstream, and an upstream's are dropped.
pub(crate) fn is_payment_header(name: &str) -> bool {
    name.starts_with(RDN_PREFIX)
        || [x402::PAYMENT_SIGNATURE, x402::PAYMENT_REQUIRED, x402::PAYMENT_RESPONSE].contains(&name)
}

/// The prefix of every µRaiden header name (`rdn::PAYMENT_HEADERS` and the others).
const RDN_PREFIX: &str = "rdn-";

/// A route's content source, ready to serve.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Dir { dir: ServeDir, prefix: String },
    Upstream { base: url::Url, prefix: Option<String>, client: reqwest::Client, timeout: Duration, via: Arc<String> },
    Echo,
}

impl Source {
    /// The source of `content` for a route whose prefix is `prefix` (`None` for an exact route,
    /// empty for `/*`); `via` is this proxy's name in `Via` headers.
    pub(crate) fn new(
        content: &Content,
        prefix: Option<String>,
        client: &reqwest::Client,
        timeout: Duration,
        via: Arc<String>,
    ) -> Self {
        match content {
            Content::Dir(dir) => Self::Dir { dir: ServeDir::new(dir), prefix: prefix.unwrap_or_default() },
            Content::Upstream(base) => {
                Self::Upstream { base: base.clone(), prefix, client: client.clone(), timeout, via }
            }
            Content::Echo => Self::Echo,
        }
    }

    /// Serves `request`; `rest` is the path after the route's prefix (empty for an exact route).
    pub(crate) async fn serve(self, request: Request<Body>, rest: String) -> Result<Response<Body>, Infallible> {
        match self {
            Self::Echo => {
                let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
                Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{} {target}\n", request.method()))
                    .into_response())
            }
            Self::Dir { dir, prefix } => {
                let (mut parts, body) = request.into_parts();
                let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
                if rest == "/" && !parts.uri.path().ends_with('/') {
                    // The route's directory itself: into it, as ServeDir does for the others.
                    return Ok(redirect(&format!("{}/{query}", parts.uri.path())));
                }
                parts.uri = match format!("{rest}{query}").parse() {
                    Ok(uri) => uri,
                    Err(_) => return Ok(StatusCode::BAD_REQUEST.into_response()),
                };
                let mut response = dir.oneshot(Request::from_parts(parts, body)).await?.map(Body::new);
                // ServeDir saw the path without the route's prefix: its redirects (a directory
                // without its final /) go back under the prefix.
                let inside = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .filter(|l| l.starts_with('/'))
                    .map(|l| format!("{prefix}{l}"));
                if let Some(inside) = inside {
                    match HeaderValue::from_str(&inside) {
                        Ok(inside) => {
                            response.headers_mut().insert(header::LOCATION, inside);
                        }
                        Err(_) => return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
                    }
                }
                Ok(response)
            }
            Self::Upstream { base, prefix, client, timeout, via } => {
                let mut response = upstream(request, &rest, &base, &client, timeout, &via).await;
                // The upstream's redirects to itself, as its public path under the route.
                let inside = prefix.as_deref().and_then(|prefix| {
                    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
                    public_location(location, &base, prefix)
                });
                if let Some(value) = inside.and_then(|inside| HeaderValue::from_str(&inside).ok()) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                Ok(response)
            }
        }
    }
}

/// The upstream URL for `rest` (and the request's query) under `base`.
fn upstream_url(base: &url::Url, rest: &str, query: Option<&str>) -> url::Url {
    let mut url = base.clone();
    if !rest.is_empty() {
        let path = format!("{}{rest}", base.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    if let Some(query) = query {
        url.set_query(Some(query));
    }
    url
}

/// `.` or `..`, also percent-encoded (as the URL parser reads them).
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

/// The public path for an upstream's `location` that points into its base URL (absolute, as
/// `http://up/base/x`, or as a path, `/base/x`): the route's `prefix` and what follows the base
/// (`/site/x`). Other locations (another site, a relative reference) are left as they are.
fn public_location(location: &str, base: &url::Url, prefix: &str) -> Option<String> {
    let base_path = base.path().trim_end_matches('/');
    let origin = base.origin().ascii_serialization();
    let path = match location.strip_prefix(&origin) {
        Some(path) if path.is_empty() || path.starts_with(['/', '?']) => path,
        Some(_) => return None,
        None if location.starts_with('/') && !location.starts_with("//") => location,
        None => return None,
    };
    let after = path.strip_prefix(base_path)?;
    if !(after.is_empty() || after.starts_with(['/', '?'])) {
        return None;
    }
    let after = if after.is_empty() || after.starts_with('?') { format!("/{after}") } else { after.to_string() };
    Some(format!("{prefix}{after}"))
}

/// A 307 to `location` (a path on this server).
fn redirect(location: &str) -> Response<Body> {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The end-to-end headers of `from` onto `to`: not the hop-by-hop ones, not `Host`, not the
/// payment headers, not the forwarding headers (the caller sets those).
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .collect();
    for (name, value) in from {
        let name_str = name.as_str();
        if HOP_BY_HOP.contains(&name_str)
            || name == header::HOST
            || named.iter().any(|n| n == name_str)
            || is_payment_header(name_str)
            || FORWARDING.contains(&name_str)
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// The forwarding headers of a request from `peer` with `incoming` headers: `X-Forwarded-For`
/// and `Forwarded` are the client's (if any) with the peer appended, `X-Real-IP` is the peer,
/// `X-Forwarded-Proto` the listener's scheme, `X-Forwarded-Host` the `Host` asked for, and
/// `Via` the client's with this proxy appended. A client can write anything in the first two,
/// but the last entry is always the address this proxy saw.
fn forwarding(incoming: &HeaderMap, peer: Option<Peer>, via: &str, to: &mut HeaderMap) {
    let append = |name: &str, add: String| joined(incoming, name, &add);
    let host = incoming.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(peer) = peer {
        let ip = peer.addr.ip();
        let proto = if peer.tls { "https" } else { "http" };
        if let Ok(value) = append("x-forwarded-for", ip.to_string()) {
            to.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
        if let Ok(value) = HeaderValue::from_str(&ip.to_string()) {
            to.insert(HeaderName::from_static("x-real-ip"), value);
        }
        to.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static(proto));
        // RFC 7239: an IPv6 address is quoted and bracketed; the host is a quoted string.
        let node = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        let mut element = format!("for={node};proto={proto}");
        if let Some(host) = host {
            element.push_str(&format!(";host=\"{}\"", host.replace('\\', "\\\\").replace('"', "\\\"")));
        }
        if let Ok(value) = append("forwarded", element) {
            to.insert(header::FORWARDED, value);
        }
    }
    if let Some(host) = incoming.get(header::HOST) {
        to.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    if let Ok(value) = append("via", format!("1.1 {via}")) {
        to.insert(header::VIA, value);
    }
}

/// The values of `name` in `headers` as one list, with `add` at the end (only `add` if the
/// others cannot be joined).
fn joined(headers: &HeaderMap, name: &str, add: &str) -> Result<HeaderValue, axum::http::header::InvalidHeaderValue> {
    let mut values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    values.push(add);
    HeaderValue::from_str(&values.join(", ")).or_else(|_| HeaderValue::from_str(add))
}

async fn upstream(
    request: Request<Body>,
    rest: &str,
    base: &url::Url,
    client: &reqwest::Client,
    timeout: Duration,
    via: &str,
) -> Response<Body> {
    if rest.split('/').any(is_dot_segment) {
        // The URL parser would resolve them and climb out of the upstream's base path.
        return gateway_error(StatusCode::BAD_REQUEST, "dot segments in the path are not proxied");
    }
    let (parts, body) = request.into_parts();
    let url = upstream_url(base, rest, parts.uri.query());
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    forwarding(&parts.headers, parts.extensions.get::<Peer>().copied(), via, &mut headers);
    let mut outgoing = client.request(parts.method.clone(), url.clone()).headers(headers);
    let has_body =
        parts.headers.contains_key(header::CONTENT_LENGTH) || parts.headers.contains_key(header::TRANSFER_ENCODING);
    if has_body {
        outgoing = outgoing.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let answer = match tokio::time::timeout(timeout, outgoing.send()).await {
        Err(_) => {
            tracing::warn!(upstream = %url.origin().ascii_serialization(), ?timeout, "the upstream did not answer in time");
            return gateway_error(StatusCode::GATEWAY_TIMEOUT, "the upstream did not answer in time");
        }
        Ok(Err(error)) if body_too_large(&error) => {
            // A streamed (chunked) body passed the limit while it was being sent on.
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
        Ok(Err(error)) => {
            // Without its URL: the client's query string, or credentials in the base, stay out
            // of the logs.
            let error = error.without_url();
            tracing::warn!(upstream = %url.origin().ascii_serialization(), %error, "the upstream failed");
            return gateway_error(StatusCode::BAD_GATEWAY, "the upstream could not be reached or failed");
        }
        Ok(Ok(answer)) => answer,
    };
    let mut response = Response::builder().status(answer.status());
    if let Some(headers) = response.headers_mut() {
        copy_headers(answer.headers(), headers);
        // The upstream's own `Via` (it may be a proxy too), then this proxy.
        if let Ok(value) = joined(answer.headers(), "via", &format!("1.1 {via}")) {
            headers.insert(header::VIA, value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| gateway_error(StatusCode::BAD_GATEWAY, "the upstream's answer could not be passed on"))
}

/// Whether `error` comes from the request body passing the server's limit (the
/// `http_body_util::Limited` that the limits middleware wraps every body in).
fn body_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<http_body_util::LengthLimitError>())
}

fn gateway_error(status: StatusCode, message: &str) -> Response<Body> {
    let mut response =
        (status, axum::Json(serde_json::json!({ "error": "upstream", "message": message }))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::rdn;

    #[test]
    fn an_upstreams_redirects_to_itself_become_public_paths_under_the_route() {
        let base: url::Url = "http://127.0.0.1:9/base/".parse().unwrap();
        for (location, public) in [
            ("http://127.0.0.1:9/base/x/", Some("/site/x/")),
            ("http://127.0.0.1:9/base", Some("/site/")),
            ("http://127.0.0.1:9/base?q=1", Some("/site/?q=1")),
            ("/base/x?q=1", Some("/site/x?q=1")),
            ("/basement", None),
            ("/other/x", None),
            ("http://127.0.0.1:10/base/x", None),
            ("http://elsewhere/base/x", None),
            ("//127.0.0.1:9/base/x", None),
            ("x/y", None),
        ] {
            assert_eq!(public_location(location, &base, "/site").as_deref(), public, "{location}");
        }
        let root: url::Url = "http://h:1".parse().unwrap();
        assert_eq!(public_location("/a/b", &root, "/site").as_deref(), Some("/site/a/b"));
        assert_eq!(public_location("/a/b", &root, "").as_deref(), Some("/a/b"));
    }

    proptest::proptest! {
        /// What is forwarded to an upstream is its base path and the rest of the canonical path,
        /// byte for byte: the URL library neither decodes nor re-escapes any of it.
        #[test]
        fn the_canonical_path_is_forwarded_as_it_is(raw in "/[a-zA-Z0-9/%._~!$&'()*+,;=:@\"{}|^` -]{0,30}") {
            let Ok(normal) = crate::paywall::proxy::path::normalize(&raw) else { return Ok(()) };
            for base in ["http://127.0.0.1:9/base/", "http://127.0.0.1:9", "http://127.0.0.1:9/a%20b"] {
                let base: url::Url = base.parse().unwrap();
                let url = upstream_url(&base, &normal, None);
                proptest::prop_assert_eq!(url.path(), format!("{}{normal}", base.path().trim_end_matches('/')));
            }
        }
    }

    #[test]
    fn every_payment_header_is_recognised_and_no_other() {
        let rdn_names = [
            rdn::GATEWAY_PATH,
            rdn::RECEIVER_ADDRESS,
            rdn::TOKEN_ADDRESS,
            rdn::CHAIN_ID,
            rdn::PRICE,
            rdn::COST,
            rdn::INSUFFICIENT_CONFIRMATIONS,
            rdn::NONEXISTING_CHANNEL,
            rdn::INVALID_BALANCE_PROOF,
            rdn::INSUFFICIENT_FUNDS,
            rdn::INVALID_AMOUNT,
        ];
        for name in rdn::PAYMENT_HEADERS.iter().chain(&rdn_names) {
            assert!(name.starts_with(RDN_PREFIX) && is_payment_header(name), "{name}");
        }
        for name in [x402::PAYMENT_SIGNATURE, x402::PAYMENT_REQUIRED, x402::PAYMENT_RESPONSE] {
            assert!(is_payment_header(name), "{name}");
        }
        for name in ["content-type", "x-rdn", "payment", "authorization"] {
            assert!(!is_payment_header(name), "{name}");
        }
    }

    #[test]
    fn forwarding_headers_append_the_peer_and_name_this_proxy() {
        let mut incoming = HeaderMap::new();
        incoming.insert("host", "shop.example:8080".parse().unwrap());
        incoming.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        incoming.insert("x-real-ip", "6.6.6.6".parse().unwrap());
        incoming.insert("forwarded", "for=6.6.6.6".parse().unwrap());
        incoming.insert("x-forwarded-proto", "https".parse().unwrap());
        incoming.insert("via", "1.0 other".parse().unwrap());
        let peer = Peer { addr: "[::1]:4000".parse().unwrap(), tls: false };
        let mut out = HeaderMap::new();
        copy_headers(&incoming, &mut out);
        forwarding(&incoming, Some(peer), "uraiden-test", &mut out);
        assert_eq!(out["x-forwarded-for"], "6.6.6.6, ::1");
        assert_eq!(out["x-real-ip"], "::1");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-host"], "shop.example:8080");
        assert_eq!(out["forwarded"], "for=6.6.6.6, for=\"[::1]\";proto=http;host=\"shop.example:8080\"");
        assert_eq!(out["via"], "1.0 other, 1.1 uraiden-test");
        assert!(!out.contains_key("host"));
        for name in FORWARDING {
            assert_eq!(out.get_all(name).iter().count(), 1, "{name} once");
        }
    }

    #[test]
    fn upstream_urls_join_the_base_and_the_rest() {
        let base: url::Url = "http://127.0.0.1:9/base/".parse().unwrap();
        assert_eq!(upstream_url(&base, "/a/b", Some("x=1")).as_str(), "http://127.0.0.1:9/base/a/b?x=1");
        assert_eq!(upstream_url(&base, "", None).as_str(), "http://127.0.0.1:9/base/");
        let root: url::Url = "http://h:1".parse().unwrap();
        assert_eq!(upstream_url(&root, "/", None).as_str(), "http://h:1/");
    }

    #[test]
    fn dot_segments_are_recognised_encoded_or_not() {
        for segment in [".", "..", "%2e", "%2E%2e", ".%2e"] {
            assert!(is_dot_segment(segment), "{segment}");
        }
        for segment in ["", "a", "...", ".a", "%2e%2e%2e"] {
            assert!(!is_dot_segment(segment), "{segment}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_stay() {
        let mut from = HeaderMap::new();
        from.insert("connection", "close, x-private".parse().unwrap());
        from.insert("x-private", "1".parse().unwrap());
        from.insert("host", "a".parse().unwrap());
        from.insert("x-kept", "2".parse().unwrap());
        let mut to = HeaderMap::new();
        copy_headers(&from, &mut to);
        assert_eq!(to.len(), 1);
        assert_eq!(to["x-kept"], "2");
    }
}
