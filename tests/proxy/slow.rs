//! Slow and idle clients against the real proxy: partial request heads are cut off after the
//! header timeout, idle connections after the idle timeout, a normal client is still served,
//! and the connections held open never pass the cap.

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, StatusCode};

use super::{Proxy, World, hostile::raw};

fn address_of(proxy: &Proxy) -> String {
    proxy.base.strip_prefix("http://").expect("an http:// base").to_string()
}

/// A connection that sent the start of a request head and nothing more.
fn partial_head(address: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(address).unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: slow\r\nX-Slow: ").unwrap();
    tcp
}

/// Waits until the server closes `tcp` (end of stream or reset), at most `limit`; panics if it
/// stays open.
fn closed_within(tcp: &mut TcpStream, limit: Duration, what: &str) {
    tcp.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match tcp.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => continue, // a 408 or the like before closing
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {limit:?}")
            }
            Err(_) => return, // reset
        }
    }
}

/// The sockets the process `pid` holds.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn hundreds_of_slow_heads_are_cut_off_and_a_normal_client_is_served_meanwhile() {
    let w = World::new();
    let proxy = w.proxy(
        "slow",
        "[server]\nlisten = \"127.0.0.1:0\"\nheader_read_timeout_ms = 1500\nidle_timeout_ms = 400\n\n\
         [[route]]\npath = \"/echo\"\nprice = 0\necho = true\n",
    );
    let address = address_of(&proxy);
    let mut slow: Vec<TcpStream> = (0..300).map(|_| partial_head(&address)).collect();

    let started = Instant::now();
    let answer = w.get(&proxy, "/echo", HeaderMap::new());
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "GET /echo\n"));
    assert!(started.elapsed() < Duration::from_secs(1), "served in {:?}", started.elapsed());

    // Every partial head is cut off once the header timeout (1.5 s) has passed.
    for (i, tcp) in slow.iter_mut().enumerate() {
        closed_within(tcp, Duration::from_secs(6), &format!("slow connection {i}"));
    }

    // A connection that sends nothing is closed after the idle timeout, well before the header
    // timeout; so is a kept-alive one after its response.
    let mut idle = TcpStream::connect(&address).unwrap();
    let started = Instant::now();
    closed_within(&mut idle, Duration::from_secs(6), "an idle connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1300),
        "idle closed after {waited:?}"
    );

    let mut kept = TcpStream::connect(&address).unwrap();
    kept.write_all(b"GET /echo HTTP/1.1\r\nHost: kept\r\n\r\n").unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&response).ends_with("GET /echo\n") {
        let n = kept.read(&mut buffer).unwrap();
        assert!(n > 0, "closed before the response: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buffer[..n]);
    }
    let started = Instant::now();
    closed_within(&mut kept, Duration::from_secs(6), "a kept-alive connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1300),
        "kept closed after {waited:?}"
    );

    // The same with the cap: connections over it are not accepted (the process holds at most
    // the cap's worth), and a normal client gets its turn once slow ones are cut off.
    let capped = w.proxy(
        "capped",
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_connections = 20\nheader_read_timeout_ms = 600\nidle_timeout_ms = 600\n\n\
         [[route]]\npath = \"/echo\"\nprice = 0\necho = true\n",
    );
    let pid = capped.child.id();
    let address = address_of(&capped);
    // Fresh connections (`raw`), not a pooled one the idle timeout may have closed.
    assert_eq!(raw(&capped, "GET", "/echo", &HeaderMap::new()).0, 200);
    let baseline = sockets(pid);
    assert!(baseline > 0, "the proxy's sockets are visible in /proc");
    let mut slow: Vec<TcpStream> = (0..60).map(|_| partial_head(&address)).collect();
    let started = Instant::now();
    let mut most = 0;
    while started.elapsed() < Duration::from_millis(400) {
        most = most.max(sockets(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    // The listener and the node's connections are in the baseline; a few more may come and go.
    assert!(most <= baseline + 20 + 4, "{most} sockets open with a cap of 20 (baseline {baseline})");
    let started = Instant::now();
    let (status, text) = raw(&capped, "GET", "/echo", &HeaderMap::new());
    assert_eq!(status, 200, "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "served after {:?}", started.elapsed());
    for (i, tcp) in slow.iter_mut().enumerate() {
        closed_within(tcp, Duration::from_secs(10), &format!("capped slow connection {i}"));
    }
}
