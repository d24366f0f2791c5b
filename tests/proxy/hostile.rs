//! The proxy against requests written to get around it: other spellings of a paid path,
//! redirects out of a route, payment headers in both directions through an upstream, forged
//! forwarding headers, and loops.

use std::{
    io::{Read, Write},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use reqwest::Method;
use uraiden::protocol::{rdn, x402};

use super::{Proxy, World};

/// Sends `path` as it is written (no client-side cleaning of `//`, `%xx` or dot segments) with
/// `headers`, over a fresh connection; gives the status and the whole response as text.
pub(super) fn raw(proxy: &Proxy, method: &str, path: &str, headers: &HeaderMap) -> (u16, String) {
    let address = proxy.base.strip_prefix("http://").expect("an http:// base");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    request.push_str("\r\n");
    let mut tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The value of header `name` in a raw response.
fn header_of(response: &str, name: &str) -> Option<String> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

#[test]
fn no_spelling_of_a_paid_path_reaches_the_free_route_over_the_same_directory() {
    let mut w = World::new();
    let public = w.dir.path().join("public");
    std::fs::create_dir_all(public.join("premium/docs")).unwrap();
    std::fs::create_dir_all(public.join("free")).unwrap();
    std::fs::write(public.join("premium/secret.txt"), "the paid secret\n").unwrap();
    std::fs::write(public.join("premium/docs/index.html"), "paid docs\n").unwrap();
    std::fs::write(public.join("premium/index.html"), "paid index\n").unwrap();
    std::fs::write(public.join("free/hello.txt"), "free hello\n").unwrap();
    // A free site with a paid folder, over one directory; and a free echo showing the path served.
    let proxy = w.proxy(
        "paths",
        "[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [[route]]\npath = \"/premium/*\"\nprice = 2\ndir = \"public/premium\"\n\n\
         [[route]]\npath = \"/echo/*\"\nprice = 0\necho = true\n\n\
         [[route]]\npath = \"/*\"\nprice = 0\ndir = \"public\"\n",
    );
    let none = HeaderMap::new();
    assert_eq!(raw(&proxy, "GET", "/free/hello.txt", &none).0, 200, "the free site is free");
    for path in [
        "/premium/secret.txt",
        "/%70remium/secret.txt",
        "//premium/secret.txt",
        "/premium//secret.txt",
        "///%70%72%65mium/secret.txt",
        "/premium/secret%2etxt",
        "/%70remium",
        "//premium/docs/",
    ] {
        let (status, text) = raw(&proxy, "GET", path, &none);
        assert_eq!(status, 402, "{path}: {text}");
        assert!(!text.contains("paid"), "{path}: {text}");
        assert_eq!(header_of(&text, rdn::PRICE).as_deref(), Some("2"), "{path}");
    }
    // No canonical form: refused before any route.
    for path in [
        "/free/../premium/secret.txt",
        "/free/%2e%2E/premium/secret.txt",
        "/free/..;/premium/secret.txt",
        "/premium%2Fsecret.txt",
        "/free%5C..%5Cpremium%5Csecret.txt",
        "/a%zz",
    ] {
        let (status, text) = raw(&proxy, "GET", path, &none);
        assert_eq!(status, 400, "{path}: {text}");
    }
    // The management routes see the canonical path too.
    let (status, text) = raw(&proxy, "GET", "//api/1/%73tats", &none);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("synced_block"), "{text}");
    // The path served is the canonical one, query kept.
    let (status, text) = raw(&proxy, "GET", "//echo//%61%62c/%7e?x=%41", &none);
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("GET /echo/abc/~?x=%41\n"), "{text}");

    // Paid, through another spelling: the file of the paid route.
    let ch = w.channel(100);
    let mut balance = 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let paid = loop {
        let (status, text) = raw(&proxy, "GET", "/%70remium//secret.txt", &w.pay(&ch, balance));
        if status != 402 || std::time::Instant::now() > deadline {
            break (status, text);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(paid.0, 200, "{}", paid.1);
    assert!(paid.1.ends_with("the paid secret\n"), "{}", paid.1);

    // Redirects stay inside the route: a directory without its final / goes to the full path.
    // (Whether a redirect is charged is the paywall's business: follow the balance it reports.)
    for (path, location) in
        [("/premium/docs", "/premium/docs/"), ("/premium", "/premium/"), ("/premium?a=1", "/premium/?a=1")]
    {
        // `raw`: a client that does not follow redirects.
        let next = balance + 2;
        let (status, text) = raw(&proxy, "GET", path, &w.pay(&ch, next));
        assert_eq!(status, 307, "{path}: {text}");
        assert_eq!(header_of(&text, "location").as_deref(), Some(location), "{path}");
        if header_of(&text, rdn::COST).is_some() {
            balance = next;
        }
    }
    let docs = w.paid(&proxy, Method::GET, "/premium/docs/", &ch, balance + 2);
    assert_eq!((docs.status, docs.body.as_str()), (StatusCode::OK, "paid docs\n"));
    // The free route's own redirects are unchanged.
    let (status, text) = raw(&proxy, "GET", "/free", &none);
    assert_eq!((status, header_of(&text, "location").as_deref()), (307, Some("/free/")), "{text}");
}

/// A forged receipt: base64 of `{"forged":true}`.
const FORGED: &str = "eyJmb3JnZWQiOnRydWV9";

/// What the recording upstream saw of each request: the path and the headers.
type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// An upstream that records every request and answers with forged payment headers and a `Via`
/// of its own; `/up/moved` redirects to its own `/up/elsewhere/` (an absolute URL).
fn recording_upstream(w: &World) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let listener = w.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push((uri.to_string(), headers));
            if uri.path() == "/up/moved" {
                let location = format!("http://{addr}/up/elsewhere/?from=moved");
                return (StatusCode::FOUND, [("location", location)]).into_response();
            }
            (
                [
                    (x402::PAYMENT_RESPONSE, FORGED),
                    (x402::PAYMENT_REQUIRED, FORGED),
                    (rdn::BALANCE_SIGNATURE, "0xdead"),
                    (rdn::COST, "999"),
                    (rdn::SENDER_BALANCE, "999"),
                    ("via", "1.1 upstream-box"),
                    ("x-upstream", "yes"),
                ],
                "from the upstream",
            )
                .into_response()
        }
    });
    w.rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/up"), seen)
}

#[test]
fn an_upstream_gets_no_proofs_cannot_speak_for_the_paywall_and_sees_the_real_client() {
    let mut w = World::new();
    let (site, seen) = recording_upstream(&w);
    let proxy = w.proxy(
        "headers",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [[route]]\npath = \"/paid/*\"\nprice = 1\nupstream = \"{site}\"\n\n\
             [[route]]\npath = \"/free/*\"\nprice = 0\nupstream = \"{site}\"\n"
        ),
    );
    let host = proxy.base.trim_start_matches("http://").to_string();
    let ch = w.channel(100);
    let last_seen = || seen.lock().unwrap().last().cloned().expect("the upstream saw a request");

    // A paid request: the upstream sees no payment header; the client sees only the paywall's.
    let mut headers = w.pay(&ch, 1);
    headers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
    headers.insert("x-real-ip", "6.6.6.6".parse().unwrap());
    headers.insert("forwarded", "for=6.6.6.6".parse().unwrap());
    headers.insert("x-forwarded-proto", "https".parse().unwrap());
    headers.insert("x-forwarded-host", "evil.example".parse().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let paid = loop {
        let answer = w.send(&proxy, Method::GET, "//paid/%61?q=1", headers.clone(), "");
        if answer.status != StatusCode::PAYMENT_REQUIRED || std::time::Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(paid.status, StatusCode::OK, "{paid:?}");
    assert_eq!(paid.body, "from the upstream");
    assert_eq!(paid.header("x-upstream"), Some("yes"));
    assert_eq!(paid.header(rdn::COST), Some("1"), "the paywall's cost, not the upstream's 999");
    assert_eq!(paid.header(rdn::SENDER_BALANCE), Some("1"));
    assert_eq!(paid.headers.get_all(rdn::COST).iter().count(), 1);
    for name in [rdn::BALANCE_SIGNATURE, x402::PAYMENT_RESPONSE, x402::PAYMENT_REQUIRED] {
        for value in paid.headers.get_all(name) {
            assert!(value != "0xdead" && value != FORGED, "the upstream's {name} came down: {paid:?}");
        }
    }
    let via = paid.header("via").unwrap().to_string();
    assert!(via.starts_with("1.1 upstream-box, 1.1 uraiden-"), "{via}");

    let (path, up) = last_seen();
    assert_eq!(path, "/up/a?q=1", "the canonical path is forwarded");
    for name in up.keys() {
        assert!(!name.as_str().starts_with("rdn-") && name != x402::PAYMENT_SIGNATURE, "{name} reached the upstream");
    }
    let value = |name: &str| up.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(value("x-forwarded-for").as_deref(), Some("6.6.6.6, 127.0.0.1"), "the peer is appended");
    assert_eq!(value("x-real-ip").as_deref(), Some("127.0.0.1"), "the peer, not the client's claim");
    assert_eq!(value("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(value("x-forwarded-host").as_deref(), Some(host.as_str()));
    assert_eq!(value("forwarded"), Some(format!("for=6.6.6.6, for=127.0.0.1;proto=http;host=\"{host}\"")));
    let our_via = value("via").unwrap();
    assert!(our_via.starts_with("1.1 uraiden-"), "{our_via}");
    assert_eq!(our_via, via.trim_start_matches("1.1 upstream-box, "), "one name in both directions");

    // A free request carrying an x402 payment and RDN headers: none of them goes up, and the
    // upstream's forged receipt does not come down.
    let mut headers = w.pay(&ch, 2);
    headers.insert(x402::PAYMENT_SIGNATURE, "eyJwYXltZW50Ijp0cnVlfQ==".parse().unwrap());
    let free = w.send(&proxy, Method::POST, "/free/x", headers, "body");
    assert_eq!(free.status, StatusCode::OK, "{free:?}");
    for name in [x402::PAYMENT_RESPONSE, x402::PAYMENT_REQUIRED, rdn::BALANCE_SIGNATURE, rdn::COST, rdn::SENDER_BALANCE]
    {
        assert!(free.header(name).is_none(), "{name} came down from the upstream: {free:?}");
    }
    let (path, up) = last_seen();
    assert_eq!(path, "/up/x");
    assert!(up.keys().all(|n| !n.as_str().starts_with("rdn-") && n != x402::PAYMENT_SIGNATURE), "{up:?}");
    assert_eq!(up.get("x-forwarded-for").unwrap(), "127.0.0.1", "no client value: the peer alone");

    // The upstream's redirect to itself comes back as the public path under the route.
    let (status, text) = super::hostile::raw(&proxy, "GET", "/free/moved", &HeaderMap::new());
    assert_eq!(status, 302, "{text}");
    assert_eq!(header_of(&text, "location").as_deref(), Some("/free/elsewhere/?from=moved"), "{text}");

    // The same request back at the proxy (it names the proxy in Via): a loop, refused unpaid.
    let mut looped = HeaderMap::new();
    looped.insert("via", format!("1.0 somewhere, {our_via}").parse().unwrap());
    let requests = seen.lock().unwrap().len();
    let answer = w.send(&proxy, Method::GET, "/free/x", looped, "");
    assert_eq!(answer.status, StatusCode::LOOP_DETECTED, "{answer:?}");
    // Too many proxies on the way is refused too; another uraiden proxy's name is not ours.
    let mut long = HeaderMap::new();
    long.insert("via", (0..17).map(|i| format!("1.1 p{i}")).collect::<Vec<_>>().join(", ").parse().unwrap());
    assert_eq!(w.send(&proxy, Method::GET, "/free/x", long, "").status, StatusCode::LOOP_DETECTED);
    let mut other = HeaderMap::new();
    other.insert("via", "1.1 uraiden-0000000000000000".parse().unwrap());
    assert_eq!(w.send(&proxy, Method::GET, "/free/x", other, "").status, StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), requests + 1, "the refused ones never reached the upstream");
}

/// A port free now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn two_proxies_sending_to_each_other_stop_at_the_first_round() {
    let w = World::new();
    let (a, b) = (free_port(), free_port());
    let config = |listen: u16, next: u16| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{listen}\"\nupstream_timeout_ms = 3000\n\n\
             [[route]]\npath = \"/*\"\nprice = 0\nupstream = \"http://127.0.0.1:{next}/\"\n"
        )
    };
    let first = w.proxy("loop-a", &config(a, b));
    let _second = w.proxy("loop-b", &config(b, a));
    let started = std::time::Instant::now();
    let answer = w.get(&first, "/anything", HeaderMap::new());
    assert_eq!(answer.status, StatusCode::LOOP_DETECTED, "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // And both still serve.
    assert_eq!(w.get(&first, "/health", HeaderMap::new()).status, StatusCode::OK);
}
