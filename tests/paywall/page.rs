//! The page a browser gets with a 402, and the script it loads: what the page shows and
//! carries for the script, that a request cannot inject markup into it, and how the script is
//! served.

use axum::{Router, http::StatusCode, routing::get};
use reqwest::header::HeaderMap;
use uraiden::{
    node::Node,
    paywall::{PaywallLayer, PaywallPage, TokenInfo, api, page},
};

use super::{PRICE, Server, header, payment_required};

/// The hooks the paywall script finds its controls by (issue 19's list, and the auto-pay
/// opt-in).
const HOOKS: [&str; 12] = [
    "connect",
    "deposit",
    "open",
    "topup",
    "pay",
    "close",
    "settle",
    "switch-chain",
    "status",
    "channel",
    "auto-pay",
    "auto-pay-limit",
];

/// A browser's `Accept`.
fn browser() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".parse().unwrap());
    headers
}

/// `/article` behind a paywall whose page prices in the token as read from the chain, on
/// `server`'s own port plus one route.
fn with_token_page(server: &Server) -> (String, TokenInfo) {
    let env = &server.env;
    let token = env.rt.block_on(async {
        let node = Node::connect(&env.url, None).await.unwrap();
        TokenInfo::read(&node, env.f.c.token).await.unwrap()
    });
    let paywall = PaywallLayer::new(server.manager.clone(), alloy_primitives::aliases::U192::from(PRICE))
        .with_description("An article", Some("text/html".into()))
        .with_page(PaywallPage::new(token.clone()));
    let app: Router = Router::new()
        .route("/article", get(|| async { "<p>the article</p>" }))
        .route_layer(paywall)
        .merge(api::router(server.manager.clone(), None));
    let addr = env.rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    (format!("http://{addr}"), token)
}

/// The JSON of the page's `<script type="application/json" id="uraiden-paywall">`.
fn script_config(html: &str) -> serde_json::Value {
    let open = r#"<script type="application/json" id="uraiden-paywall">"#;
    let start = html.find(open).expect("the page carries the script's JSON") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

#[test]
fn the_page_prices_in_whole_tokens_and_carries_the_offer_for_the_script() {
    let server = Server::start();
    let (base, token) = with_token_page(&server);
    assert_eq!((token.symbol.as_str(), token.decimals), ("URDN", 18), "read from the token contract");

    let response =
        server.env.rt.block_on(server.http.get(format!("{base}/article")).headers(browser()).send()).unwrap();
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert!(header(&response, "content-type").unwrap().starts_with("text/html"));
    let required = payment_required(&response);
    let html = server.text(response);

    // The script reads exactly the offer of PAYMENT-REQUIRED, the token and the API base.
    let config = script_config(&html);
    assert_eq!(config["paymentRequired"], required);
    assert_eq!(config["token"]["symbol"], "URDN");
    assert_eq!(config["token"]["decimals"], 18);
    assert_eq!(
        config["token"]["address"].as_str().unwrap().to_lowercase(),
        server.env.f.c.token.to_string().to_lowercase()
    );
    assert_eq!(config["apiBase"], "/api/1");
    assert!(html.contains(&format!(r#"<script type="module" src="{}"></script>"#, page::SCRIPT_PATH)));

    // A person reads the price in whole tokens, the receiver, the network and the resource.
    assert!(html.contains(r#"<span data-uraiden="price">0.000000000000000003</span> URDN"#), "{html}");
    assert!(html.contains(&server.env.f.receiver.address().to_string()));
    assert!(html.contains("eip155:31337"));
    assert!(html.contains("An article"));
    for hook in HOOKS {
        assert!(html.contains(&format!(r#"data-uraiden="{hook}""#)), "the page has no {hook} control");
    }
    // Only another network shows the switch; the channel shows once one is known.
    assert!(html.contains(r#"data-uraiden="switch-chain" hidden"#));
    assert!(html.contains(r#"data-uraiden="channel" hidden"#));

    // A program (no Accept: text/html) still gets JSON, not the page.
    let program = server.env.rt.block_on(server.http.get(format!("{base}/article")).send()).unwrap();
    assert_eq!(header(&program, "content-type"), Some("application/json"));
}

#[test]
fn the_paywall_script_is_served_once_and_revalidated_by_its_etag() {
    let server = Server::start();
    let response = server.get(page::SCRIPT_PATH, HeaderMap::new());
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(header(&response, "cache-control"), Some("no-cache"));
    let etag = header(&response, "etag").expect("an ETag").to_string();
    assert_eq!(server.text(response), page::SCRIPT);

    let mut again = HeaderMap::new();
    again.insert("if-none-match", etag.parse().unwrap());
    let cached = server.get(page::SCRIPT_PATH, again);
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let mut stale = HeaderMap::new();
    stale.insert("if-none-match", "\"0xold\"".parse().unwrap());
    assert_eq!(server.get(page::SCRIPT_PATH, stale).status(), StatusCode::OK);
}

#[test]
fn an_operator_page_keeps_its_markup_and_gets_the_values() {
    let server = Server::start();
    let token = TokenInfo { address: server.env.f.c.token, symbol: "URDN".into(), decimals: 0 };
    let template = "<html><body class=operator><b>{{price}} {{symbol}}</b> for {{title}}\
                    <script type=\"application/json\" id=\"uraiden-paywall\">{{config}}</script>\
                    <script type=\"module\" src=\"{{script}}\"></script></body></html>";
    let page = PaywallPage::with_template(template, token).unwrap();
    let paywall =
        PaywallLayer::new(server.manager.clone(), alloy_primitives::aliases::U192::from(PRICE)).with_page(page);
    let app: Router = Router::new().route("/own", get(|| async { "own" })).route_layer(paywall);
    let response = server.env.rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server.http.get(format!("http://{addr}/own")).headers(browser()).send().await.unwrap()
    });
    let required = payment_required(&response);
    let html = server.text(response);
    assert!(html.starts_with("<html><body class=operator><b>3 URDN</b> for http://"), "{html}");
    assert_eq!(script_config(&html)["paymentRequired"], required);
}
