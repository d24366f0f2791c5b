//! The layer itself, driven through tower with a real manager on anvil: one lock table for
//! every paywall of a manager, only 2xx charged, the pricing rules (HEAD, CORS preflights,
//! methods in any case), duplicated payment headers, and the scheme of `resource.url`.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use alloy_primitives::aliases::U192;
use axum::{
    body::Body,
    http::{HeaderValue, Method, Request, Response, StatusCode, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use tower::{Layer, Service, ServiceExt};
use uraiden::{
    paywall::{PaywallLayer, PerMethod, Pricing, TlsConnection},
    protocol::{rdn, x402},
};

use super::{Server, pay_rdn, pay_x402};

/// A handler that counts its runs and records their methods, answering `status`.
#[derive(Clone)]
struct Counting {
    runs: Arc<AtomicUsize>,
    methods: Arc<Mutex<Vec<Method>>>,
    status: StatusCode,
}

impl Counting {
    fn new(status: StatusCode) -> Self {
        Self { runs: Arc::default(), methods: Arc::default(), status }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl Service<Request<Body>> for Counting {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            this.runs.fetch_add(1, Ordering::SeqCst);
            this.methods.lock().unwrap().push(request.method().clone());
            // Work that takes a while: other requests run meanwhile.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            let mut response = Response::new(Body::from("content"));
            *response.status_mut() = this.status;
            if this.status.is_redirection() {
                response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/elsewhere/"));
            }
            Ok(response)
        })
    }
}

/// A request for `/x` with `method` and the headers of `payment`.
fn request(method: Method, payment: &reqwest::header::HeaderMap) -> Request<Body> {
    let mut request = Request::builder().method(method).uri("/x").header(header::HOST, "shop.example");
    for (name, value) in payment {
        request = request.header(name.as_str(), value.as_bytes());
    }
    request.body(Body::empty()).unwrap()
}

fn call<P: Pricing>(
    server: &Server,
    layer: &PaywallLayer<P>,
    inner: &Counting,
    request: Request<Body>,
) -> Response<axum::body::Body> {
    server.env.rt.block_on(layer.layer(inner.clone()).oneshot(request)).unwrap()
}

fn price_header(response: &Response<Body>) -> Option<&str> {
    response.headers().get(rdn::PRICE).map(|v| v.to_str().unwrap())
}

#[test]
fn one_proof_sent_to_two_routes_at_once_runs_one_handler() {
    let mut server = Server::start();
    let ch = server.channel(1_000);
    let price = 3u64;
    // Two routes, each with its own layer (as the proxy builds them), over one manager.
    let (a, b) = (Counting::new(StatusCode::OK), Counting::new(StatusCode::OK));
    let route_a = PaywallLayer::new(server.manager.clone(), U192::from(price)).layer(a.clone());
    let route_b = PaywallLayer::new(server.manager.clone(), U192::from(price)).layer(b.clone());
    const ROUNDS: u64 = 40;
    let mut paid = 0;
    for round in 1..=ROUNDS {
        let payment = pay_rdn(&server, &ch, round * price);
        let (first, second) = server.env.rt.block_on(async {
            tokio::join!(
                route_a.clone().oneshot(request(Method::GET, &payment)),
                route_b.clone().oneshot(request(Method::GET, &payment))
            )
        });
        let statuses = [first.unwrap().status(), second.unwrap().status()];
        assert!(statuses.contains(&StatusCode::OK), "round {round}: {statuses:?}");
        assert!(statuses.contains(&StatusCode::PAYMENT_REQUIRED), "round {round}: {statuses:?}");
        paid += 1;
        assert_eq!(a.runs() + b.runs(), paid, "round {round}: a handler ran for a payment that was refused");
    }
    assert_eq!(server.balance(&ch), U192::from(ROUNDS * price));
}

#[test]
fn only_2xx_is_charged_a_redirect_costs_nothing() {
    let mut server = Server::start();
    let ch = server.channel(100);
    let layer = PaywallLayer::new(server.manager.clone(), U192::from(3));
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::NOT_MODIFIED,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
        StatusCode::NOT_FOUND,
        StatusCode::BAD_GATEWAY,
    ] {
        let inner = Counting::new(status);
        let response = call(&server, &layer, &inner, request(Method::GET, &pay_rdn(&server, &ch, 3)));
        assert_eq!((response.status(), inner.runs()), (status, 1));
        assert!(response.headers().get(rdn::COST).is_none(), "{status}: no receipt");
        assert_eq!(server.balance(&ch), U192::ZERO, "{status}: nothing charged");
    }
    // The same proof then pays for a 2xx.
    for (status, balance) in [(StatusCode::OK, 3), (StatusCode::CREATED, 6), (StatusCode::NO_CONTENT, 9)] {
        let inner = Counting::new(status);
        let response = call(&server, &layer, &inner, request(Method::GET, &pay_rdn(&server, &ch, balance)));
        assert_eq!(response.status(), status);
        assert_eq!(response.headers().get(rdn::COST).unwrap(), "3");
    }
    assert_eq!(server.balance(&ch), U192::from(9));
}

fn parts(method: &str) -> Parts {
    Request::builder().method(method).uri("/x").body(()).unwrap().into_parts().0
}

#[test]
fn per_method_prices_match_methods_in_any_case_and_head_follows_get() {
    let mut prices = PerMethod { default: U192::from(3), ..PerMethod::default() };
    prices.methods.insert(Method::GET, U192::from(5));
    prices.methods.insert(Method::from_bytes(b"post").unwrap(), U192::from(7));
    for (method, price) in [
        ("GET", 5),
        ("get", 5),
        ("Get", 5),
        ("POST", 7),
        ("post", 7),
        ("PUT", 3),
        ("put", 3),
        ("HEAD", 5),
        ("head", 5),
        ("OPTIONS", 3),
        ("PROPFIND", 3),
    ] {
        assert_eq!(prices.price(&parts(method)), U192::from(price), "{method}");
    }
    // A HEAD listed on its own keeps its price (the layer caps it at GET's, below).
    prices.methods.insert(Method::HEAD, U192::from(1));
    assert_eq!(prices.price(&parts("HEAD")), U192::from(1));
    // A free GET makes an unlisted HEAD free, whatever the default.
    let free_get = PerMethod { default: U192::from(4), methods: [(Method::GET, U192::ZERO)].into() };
    assert_eq!(free_get.price(&parts("HEAD")), U192::ZERO);
    assert_eq!(free_get.price(&parts("DELETE")), U192::from(4));
}

#[test]
fn the_layer_prices_head_as_get_at_most_and_lets_cors_preflights_through_free() {
    let server = Server::start();
    let manager = &server.manager;
    let unpaid = reqwest::header::HeaderMap::new();
    let asks = |layer_price: Option<&str>, response: &Response<Body>, inner: &Counting, what: &str| match layer_price {
        Some(price) => {
            assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED, "{what}");
            assert_eq!(price_header(response), Some(price), "{what}");
            assert_eq!(inner.runs(), 0, "{what}");
        }
        None => {
            assert_eq!(response.status(), StatusCode::OK, "{what}: free");
            assert_eq!(inner.runs(), 1, "{what}");
        }
    };
    // A fixed price: HEAD costs what GET costs.
    let flat = PaywallLayer::new(manager.clone(), U192::from(3));
    let inner = Counting::new(StatusCode::OK);
    asks(Some("3"), &call(&server, &flat, &inner, request(Method::HEAD, &unpaid)), &inner, "flat HEAD");
    // A rule pricing HEAD above GET: HEAD pays GET's price.
    let dear_head = |p: &Parts| U192::from(if p.method == Method::HEAD { 9u64 } else { 5 });
    let layer = PaywallLayer::new(manager.clone(), dear_head);
    let inner = Counting::new(StatusCode::OK);
    asks(Some("5"), &call(&server, &layer, &inner, request(Method::HEAD, &unpaid)), &inner, "dear HEAD");
    // A table with HEAD above GET: the same.
    let mut table = PerMethod { default: U192::from(2), ..PerMethod::default() };
    table.methods.insert(Method::GET, U192::from(5));
    table.methods.insert(Method::HEAD, U192::from(8));
    let layer = PaywallLayer::new(manager.clone(), table);
    let inner = Counting::new(StatusCode::OK);
    asks(Some("5"), &call(&server, &layer, &inner, request(Method::HEAD, &unpaid)), &inner, "table HEAD");
    // A free GET: HEAD is free too, even where the rule would charge it.
    let free_get = |p: &Parts| U192::from(if p.method == Method::GET { 0u64 } else { 4 });
    let layer = PaywallLayer::new(manager.clone(), free_get);
    let inner = Counting::new(StatusCode::OK);
    asks(None, &call(&server, &layer, &inner, request(Method::HEAD, &unpaid)), &inner, "HEAD of a free GET");
    let inner = Counting::new(StatusCode::OK);
    asks(Some("4"), &call(&server, &layer, &inner, request(Method::POST, &unpaid)), &inner, "POST");

    // A CORS preflight passes free, answered without a body; other OPTIONS are priced.
    let preflight = |origin: bool, method: bool| {
        let mut request = request(Method::OPTIONS, &unpaid);
        if origin {
            request.headers_mut().insert(header::ORIGIN, HeaderValue::from_static("https://other.example"));
        }
        if method {
            request.headers_mut().insert(header::ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_static("GET"));
        }
        request
    };
    let inner = Counting::new(StatusCode::OK);
    let response = call(&server, &flat, &inner, preflight(true, true));
    asks(None, &response, &inner, "preflight");
    let body = server.env.rt.block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
    assert!(body.is_empty(), "a preflight's answer carries no content");
    for (origin, method) in [(false, false), (true, false), (false, true)] {
        let inner = Counting::new(StatusCode::OK);
        let what = format!("OPTIONS, Origin {origin}, Access-Control-Request-Method {method}");
        asks(Some("3"), &call(&server, &flat, &inner, preflight(origin, method)), &inner, &what);
    }
}

#[test]
fn a_payment_header_sent_twice_is_a_400_in_either_protocol() {
    let mut server = Server::start();
    let ch = server.channel(10);
    let layer = PaywallLayer::new(server.manager.clone(), U192::from(3));
    let accepted = {
        let inner = Counting::new(StatusCode::OK);
        let response = call(&server, &layer, &inner, request(Method::GET, &reqwest::header::HeaderMap::new()));
        let required = response.headers().get(x402::PAYMENT_REQUIRED).unwrap();
        let required: serde_json::Value = serde_json::from_slice(&STANDARD.decode(required).unwrap()).unwrap();
        required["accepts"][0].clone()
    };
    let mut twice = pay_x402(&server, &ch, 3, &accepted);
    twice.append(x402::PAYMENT_SIGNATURE, pay_x402(&server, &ch, 6, &accepted)[x402::PAYMENT_SIGNATURE].clone());
    let mut rdn_twice = pay_rdn(&server, &ch, 3);
    rdn_twice.append(rdn::BALANCE_SIGNATURE, server.env.f.pay(&ch, 3).to_string().parse().unwrap());
    for (headers, name) in [(twice, x402::PAYMENT_SIGNATURE), (rdn_twice, rdn::BALANCE_SIGNATURE)] {
        let inner = Counting::new(StatusCode::OK);
        let response = call(&server, &layer, &inner, request(Method::GET, &headers));
        assert_eq!((response.status(), inner.runs()), (StatusCode::BAD_REQUEST, 0), "{name}");
        let body = server.env.rt.block_on(axum::body::to_bytes(response.into_body(), 4096)).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((body["header"].as_str(), body["reason"].as_str()), (Some(name), Some("sent more than once")));
    }
    assert_eq!(server.balance(&ch), U192::ZERO);
}

#[test]
fn resource_url_is_https_only_when_the_server_says_the_connection_is_tls() {
    let server = Server::start();
    let layer = PaywallLayer::new(server.manager.clone(), U192::from(3));
    let url = |request: Request<Body>| {
        let response = call(&server, &layer, &Counting::new(StatusCode::OK), request);
        let required = response.headers().get(x402::PAYMENT_REQUIRED).unwrap();
        let required: serde_json::Value = serde_json::from_slice(&STANDARD.decode(required).unwrap()).unwrap();
        required["resource"]["url"].as_str().unwrap().to_string()
    };
    let none = reqwest::header::HeaderMap::new();
    assert_eq!(url(request(Method::GET, &none)), "http://shop.example/x");
    let mut tls = request(Method::GET, &none);
    tls.extensions_mut().insert(TlsConnection);
    assert_eq!(url(tls), "https://shop.example/x");
    // A client's claim is not the server's knowledge.
    let mut forwarded = request(Method::GET, &none);
    forwarded.headers_mut().insert("x-forwarded-proto", HeaderValue::from_static("https"));
    forwarded.headers_mut().insert(header::FORWARDED, HeaderValue::from_static("proto=https"));
    assert_eq!(url(forwarded), "http://shop.example/x");
}

#[test]
fn two_paywalls_stacked_on_one_route_charge_once_and_never_wait_for_themselves() {
    let mut server = Server::start();
    let ch = server.channel(100);
    let inner = Counting::new(StatusCode::OK);
    let inner_layer = PaywallLayer::new(server.manager.clone(), U192::from(3));
    let outer_layer = PaywallLayer::new(server.manager.clone(), U192::from(3));
    let stacked = outer_layer.layer(inner_layer.layer(inner.clone()));
    for balance in [3, 6] {
        let request = request(Method::GET, &pay_rdn(&server, &ch, balance));
        let response = server.env.rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), stacked.clone().oneshot(request))
                .await
                .expect("the inner paywall does not wait for the lock its outer one holds")
                .unwrap()
        });
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers().get(rdn::COST).unwrap(), "3");
        assert_eq!(server.balance(&ch), U192::from(balance), "charged once");
    }
    assert_eq!(inner.runs(), 2);
}
