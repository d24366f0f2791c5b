//! What a route serves: static files, an upstream site (streamed both ways), or an echo.
//! Each is a service taking the request with its path already cut to the part after the
//! route's prefix.

use std::{convert::Infallible, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header},
    response::IntoResponse,
};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::config::Content;

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

/// A route's content source, ready to serve.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Dir(ServeDir),
    Upstream { base: url::Url, client: reqwest::Client, timeout: Duration },
    Echo,
}

impl Source {
    pub(crate) fn new(content: &Content, client: &reqwest::Client, timeout: Duration) -> Self {
        match content {
            Content::Dir(dir) => Self::Dir(ServeDir::new(dir)),
            Content::Upstream(base) => Self::Upstream { base: base.clone(), client: client.clone(), timeout },
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
            Self::Dir(dir) => {
                let (mut parts, body) = request.into_parts();
                let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
                parts.uri = match format!("{rest}{query}").parse() {
                    Ok(uri) => uri,
                    Err(_) => return Ok(StatusCode::BAD_REQUEST.into_response()),
                };
                let response = dir.oneshot(Request::from_parts(parts, body)).await?;
                Ok(response.map(Body::new))
            }
            Self::Upstream { base, client, timeout } => Ok(upstream(request, &rest, &base, &client, timeout).await),
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
        if HOP_BY_HOP.contains(&name_str) || name == header::HOST || named.iter().any(|n| n == name_str) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

async fn upstream(
    request: Request<Body>,
    rest: &str,
    base: &url::Url,
    client: &reqwest::Client,
    timeout: Duration,
) -> Response<Body> {
    if rest.split('/').any(is_dot_segment) {
        // The URL parser would resolve them and climb out of the upstream's base path.
        return gateway_error(StatusCode::BAD_REQUEST, "dot segments in the path are not proxied");
    }
    let (parts, body) = request.into_parts();
    let url = upstream_url(base, rest, parts.uri.query());
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
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
            tracing::warn!(upstream = %url.origin().ascii_serialization(), %error, "the upstream failed");
            return gateway_error(StatusCode::BAD_GATEWAY, "the upstream could not be reached or failed");
        }
        Ok(Ok(answer)) => answer,
    };
    let mut response = Response::builder().status(answer.status());
    if let Some(headers) = response.headers_mut() {
        copy_headers(answer.headers(), headers);
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
