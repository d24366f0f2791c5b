//! `docs/openapi.json` against the real API: every documented operation is called for real
//! (a real manager on anvil), in the situations that give each of its answers; every answer's
//! status must be documented for its operation and its body must validate against the
//! documented schema (boon, a JSON Schema 2020-12 validator). An undocumented status, media
//! type or body fails, and so does a documented status no situation produced (but 503, which
//! needs a broken node or store).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use alloy_primitives::{Address, Bytes, aliases::U192};
use boon::{Compiler, Draft, SchemaIndex, Schemas};
use reqwest::{RequestBuilder, header::CONTENT_TYPE};
use serde_json::{Value, json};
use uraiden::{
    channel::{ChannelId, ChannelStatus},
    paywall::api::OPENAPI,
};

use super::{
    ADMIN_TOKEN, Server,
    close::{close_body, consent},
    common::receivers::CONFIRMATIONS,
    pay_rdn,
};

/// Where the validator finds the document (never fetched: the document is added as a resource).
const DOC_URL: &str = "http://uraiden.invalid/openapi.json";

struct Checker {
    doc: Value,
    compiler: Compiler,
    schemas: Schemas,
    compiled: usize,
    /// Statuses seen, by (method, path).
    seen: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Checker {
    fn new() -> Self {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let mut compiler = Compiler::new();
        compiler.set_default_draft(Draft::V2020_12);
        compiler.add_resource(DOC_URL, doc.clone()).unwrap();
        Self { doc, compiler, schemas: Schemas::new(), compiled: 0, seen: BTreeMap::new() }
    }

    /// A response's schema, compiled: refs to the document's components resolve in it.
    fn compile(&mut self, schema: &Value) -> SchemaIndex {
        let text = schema.to_string().replace("\"#/components/", &format!("\"{DOC_URL}#/components/"));
        self.compiled += 1;
        let url = format!("http://uraiden.invalid/response-{}.json", self.compiled);
        self.compiler.add_resource(&url, serde_json::from_str(&text).unwrap()).unwrap();
        self.compiler.compile(&url, &mut self.schemas).unwrap_or_else(|e| panic!("{schema}: {e:#}"))
    }

    /// Sends `request`, an instance of the operation at `path` (the document's template), and
    /// checks the answer against the document. Returns the status and the body.
    fn check(&mut self, server: &Server, path: &str, request: RequestBuilder) -> (u16, Value) {
        let request = request.build().unwrap();
        let method = request.method().as_str().to_ascii_lowercase();
        let what = format!("{} {}", request.method(), request.url().path());
        let response = server.env.rt.block_on(server.http.execute(request)).unwrap();
        let status = response.status().as_u16().to_string();
        let media = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let media = media.split(';').next().unwrap().trim().to_string();
        let body = server.env.rt.block_on(response.bytes()).unwrap();
        let operation = self.doc["paths"][path][&method].clone();
        assert!(operation.is_object(), "{method} {path} is not documented");
        let answer = &operation["responses"][&status];
        assert!(answer.is_object(), "{what} answered {status}, not documented: {}", String::from_utf8_lossy(&body));
        let schema = &answer["content"][&media]["schema"];
        assert!(schema.is_object(), "{what} {status}: the media type {media:?} is not documented");
        let instance = if media == "application/json" {
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what} {status}: not JSON ({e})"))
        } else {
            Value::String(String::from_utf8(body.to_vec()).unwrap())
        };
        let index = self.compile(schema);
        if let Err(error) = self.schemas.validate(&instance, index) {
            panic!("{what} {status}: the body does not match the document: {error:#}\n{instance}");
        }
        self.seen.entry((method, path.to_string())).or_default().insert(status.clone());
        (status.parse().unwrap(), instance)
    }
}

#[test]
fn every_documented_route_answers_as_documented() {
    let mut server = Server::start();
    let ch = server.channel(30);
    let unpaid = server.channel(5);
    let cashed = server.channel(10);
    for (channel, balance) in [(&ch, 3), (&cashed, 3)] {
        assert_eq!(server.get("/paid", pay_rdn(&server, channel, balance)).status(), 200);
    }
    let served: Value = server.json(server.get("/api/1/openapi.json", Default::default()));
    assert_eq!(served, serde_json::from_str::<Value>(OPENAPI).unwrap(), "the server serves the document");

    let mut c = Checker::new();
    let base = server.base.clone();
    let http = server.http.clone();
    let get = |path: &str| http.get(format!("{base}{path}"));
    let post = |path: &str| http.post(format!("{base}{path}"));
    let delete = |path: &str| http.delete(format!("{base}{path}"));
    let one =
        |sender: &dyn std::fmt::Display, block: &dyn std::fmt::Display| format!("/api/1/channels/{sender}/{block}");
    let (sender, block) = (ch.sender, ch.open_block);
    let script = "/api/1/paywall.js";
    assert_eq!(c.check(&server, script, get(script)).0, 200);
    let stranger = Address::repeat_byte(9);

    assert_eq!(c.check(&server, "/health", get("/health")).0, 200);
    assert_eq!(c.check(&server, "/ready", get("/ready")).0, 200);
    assert_eq!(c.check(&server, "/api/1/openapi.json", get("/api/1/openapi.json")).0, 200);
    assert_eq!(c.check(&server, "/api/1/stats", get("/api/1/stats")).0, 200);

    let list = "/api/1/channels";
    for (query, status) in
        [("", 200), ("?status=open", 200), ("?status=all", 200), ("?status=bogus", 400), ("?status=a&status=b", 400)]
    {
        assert_eq!(c.check(&server, list, get(&format!("{list}{query}"))).0, status, "{query}");
    }

    let of_sender = "/api/1/channels/{sender}";
    for (who, status) in [(sender.to_string(), 200), ("0x12".into(), 400), (stranger.to_string(), 404)] {
        assert_eq!(c.check(&server, of_sender, get(&format!("/api/1/channels/{who}"))).0, status, "{who}");
    }

    let channel = "/api/1/channels/{sender}/{open_block}";
    for (path, status) in [
        (one(&sender, &block), 200),
        (one(&sender, &"x"), 400),
        (one(&sender, &"4294967296"), 400),
        (one(&"%FF", &block), 400),
        (one(&sender, &(block + 1000)), 404),
    ] {
        assert_eq!(c.check(&server, channel, get(&path)).0, status, "{path}");
    }

    // The cooperative close, each way it can be refused, then granted, then too late.
    let mine = one(&sender, &block);
    let sig = |ch: &ChannelId, balance: u64| server.env.f.pay(ch, balance);
    let body = |ch: &ChannelId, balance: u64| close_body(balance, &sig(ch, balance), &consent(&server, ch, balance));
    let valid = body(&ch, 3);
    let outsiders = {
        let f = &server.env.f;
        f.outsider.sign_digest(f.c.domain.close_request_digest(ch.receiver, block, U192::from(3)))
    };
    let huge = json!({"balance": "3", "balance_signature": "0".repeat(20_000), "close_request_signature": ""});
    let unknown = ChannelId { open_block: block + 1000, ..ch };
    for (request, status, what) in [
        (delete(&mine).body(valid.to_string()), 415, "no JSON content type"),
        (delete(&mine).header(CONTENT_TYPE, "application/json").body("{"), 400, "not JSON"),
        (
            delete(&mine).json(&json!({"balance": 3, "balance_signature": valid["balance_signature"],
            "close_request_signature": valid["close_request_signature"]})),
            422,
            "a numeric balance",
        ),
        (delete(&mine).json(&json!({"balance": "3"})), 422, "fields missing"),
        (delete(&mine).json(&huge), 413, "a body over the limit"),
        (
            delete(&mine).json(&json!({"balance": "-1", "balance_signature": valid["balance_signature"],
            "close_request_signature": valid["close_request_signature"]})),
            400,
            "a bad balance",
        ),
        (delete(&mine).json(&close_body(3, &Bytes::from(vec![1u8; 3]), &consent(&server, &ch, 3))), 400, "a bad proof"),
        (delete(&mine).json(&close_body(3, &sig(&ch, 3), &outsiders)), 403, "someone else's consent"),
        (delete(&mine).json(&close_body(3, &sig(&ch, 3), &sig(&ch, 3))), 403, "a balance proof as consent"),
        (delete(&mine).json(&body(&ch, 2)), 403, "not the last payment"),
        (delete(&one(&sender, &unpaid.open_block)).json(&body(&unpaid, 0)), 403, "nothing paid"),
        (delete(&one(&sender, &unknown.open_block)).json(&body(&unknown, 3)), 404, "an unknown channel"),
        (delete(&one(&"0x12", &block)).json(&valid), 400, "a bad sender"),
    ] {
        assert_eq!(c.check(&server, channel, request).0, status, "{what}");
    }
    let (status, granted) = c.check(&server, channel, delete(&mine).json(&valid));
    assert_eq!(status, 200);
    let closing: Bytes = granted["close_signature"].as_str().unwrap().parse().unwrap();
    let (outsider, sig3) = (server.env.f.outsider.address(), sig(&ch, 3));
    let f = &mut server.env.f;
    f.c.cooperative_close(&mut f.chain, outsider, ch.receiver, block, U192::from(3), sig3, closing).unwrap();
    wait_settled(&mut server, &ch);
    assert_eq!(c.check(&server, channel, delete(&mine).json(&valid)).0, 409, "settled");

    // The admin routes: the token, then each answer of a close.
    let admin = "/api/1/admin/channels/{sender}/{open_block}/close";
    let admin_path =
        |ch: &ChannelId| format!("{}/close", one(&ch.sender, &ch.open_block).replace("/api/1/", "/api/1/admin/"));
    for (request, status, what) in [
        (post(&admin_path(&cashed)), 401, "no token"),
        (post(&admin_path(&cashed)).bearer_auth("wrong"), 401, "a wrong token"),
        (post(&admin_path(&cashed).replace(&sender.to_string(), "0x12")).bearer_auth(ADMIN_TOKEN), 400, "bad sender"),
        (post(&admin_path(&unknown)).bearer_auth(ADMIN_TOKEN), 404, "unknown channel"),
        (post(&admin_path(&unpaid)).bearer_auth(ADMIN_TOKEN), 403, "nothing paid"),
        (post(&admin_path(&cashed)).header("authorization", format!("bearer {ADMIN_TOKEN}")), 200, "closed"),
        (post(&admin_path(&cashed)).bearer_auth(ADMIN_TOKEN), 409, "closed already"),
    ] {
        assert_eq!(c.check(&server, admin, request).0, status, "{what}");
    }
    let all = "/api/1/admin/close-all";
    assert_eq!(c.check(&server, all, post(all)).0, 401);
    assert_eq!(c.check(&server, all, post(all).header("authorization", format!("BEARER {ADMIN_TOKEN}"))).0, 200);

    // Every documented operation was called, and every documented answer but 503 was seen.
    let doc = c.doc.clone();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let seen = c.seen.get(&(method.clone(), path.clone())).cloned().unwrap_or_default();
            assert!(!seen.is_empty(), "{method} {path} was never called");
            let documented: BTreeSet<String> = operation["responses"].as_object().unwrap().keys().cloned().collect();
            let missing: Vec<_> = documented.difference(&seen).filter(|s| *s != "503").collect();
            assert!(missing.is_empty(), "{method} {path}: documented {missing:?} never answered");
        }
    }
}

/// Waits until the manager has applied the settlement of `ch` (after its confirmations).
fn wait_settled(server: &mut Server, ch: &ChannelId) {
    server.env.mine(&server.manager, CONFIRMATIONS);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.manager.channel(ch.sender, ch.open_block).map(|v| v.status) != Some(ChannelStatus::Settled) {
        assert!(Instant::now() < deadline, "the manager never saw the settlement");
        server.env.mine(&server.manager, 1);
    }
}
