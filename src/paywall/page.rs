//! The page a browser gets with a 402: what is sold, the price in whole tokens, and the
//! controls of the paywall script (`js/`, served at [`SCRIPT_PATH`]) that pays from the
//! person's wallet.
//!
//! The page is a template, the default one [`DEFAULT_TEMPLATE`] or an operator's: `{{name}}`
//! placeholders filled with HTML-escaped values. `{{config}}` (the JSON the script reads: the
//! x402 offer, the token and the API base) and `{{script}}` (the script's URL) are required;
//! the script finds its controls by their `data-uraiden` hooks only, so a restyled page keeps
//! working with any subset of them (see `docs/http-protocol.md`).

use std::{fmt, sync::Arc};

use alloy_primitives::{
    Address, U256,
    aliases::U192,
    utils::{ParseUnits, format_units},
};
use serde::Serialize;

use crate::{
    contract::bindings::ERC223Token,
    node::{Node, NodeError},
    protocol::{api::API_BASE, x402},
};

/// The paywall script: the bundle `js/` builds (`npm run build` there), embedded so that the
/// binary needs no Node at run time.
pub const SCRIPT: &str = include_str!("../../js/dist/paywall.js");
/// Where the management API serves [`SCRIPT`].
pub const SCRIPT_PATH: &str = "/api/1/paywall.js";
/// The default page.
pub const DEFAULT_TEMPLATE: &str = include_str!("page.html");

/// Every placeholder a template may use; the first two it must.
const PLACEHOLDERS: [&str; 12] = [
    "config",
    "script",
    "title",
    "resource",
    "price",
    "symbol",
    "token",
    "price_base_units",
    "receiver",
    "network",
    "contract",
    "refusal",
];

/// What a page shows of the token the paywall is paid in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token contract.
    pub address: Address,
    /// Its symbol (`symbol()`).
    pub symbol: String,
    /// Its decimals (`decimals()`): a price of `10^decimals` base units is one token.
    pub decimals: u8,
}

impl TokenInfo {
    /// Reads the symbol and decimals of `token` from the node.
    pub async fn read(node: &Node, token: Address) -> Result<Self, NodeError> {
        let symbol = node.view(token, &ERC223Token::symbolCall {}).await?;
        let decimals = node.view(token, &ERC223Token::decimalsCall {}).await?;
        Ok(Self { address: token, symbol, decimals })
    }

    /// A token of unknown symbol and decimals: prices shown in base units.
    pub fn base_units(address: Address) -> Self {
        Self { address, symbol: "base units".into(), decimals: 0 }
    }

    /// `amount` base units in whole tokens, without trailing zeros (`1.5`, `0.000001`, `3`).
    pub fn whole(&self, amount: U192) -> String {
        let amount = U256::from(amount);
        let text = format_units(ParseUnits::U256(amount), self.decimals).unwrap_or_else(|_| amount.to_string());
        match text.split_once('.') {
            Some((int, frac)) if frac.trim_end_matches('0').is_empty() => int.to_string(),
            Some(_) => text.trim_end_matches('0').to_string(),
            None => text,
        }
    }
}

/// A template that names a placeholder it must not, or lacks one it must.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{name}}` is not one of the placeholders.
    #[error("unknown placeholder {{{{{0}}}}} (known: {known})", known = PLACEHOLDERS.join(", "))]
    Unknown(String),
    /// A required placeholder is missing.
    #[error("the template has no {{{{{0}}}}}: the paywall script needs it")]
    Missing(&'static str),
    /// `{{` without its `}}`.
    #[error("a {{{{ at byte {0} is not closed by }}}}")]
    Unclosed(usize),
}

/// The paywall page: a checked template and the token it prices in.
#[derive(Clone, Debug)]
pub struct PaywallPage {
    parts: Arc<[Part]>,
    token: TokenInfo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(&'static str),
}

/// What one 402 page shows.
#[derive(Debug)]
pub struct PageContext<'a> {
    /// The offer, as `PAYMENT-REQUIRED` carries it.
    pub required: &'a x402::PaymentRequired,
    /// The price.
    pub price: U192,
    /// Why a payment sent was refused, in words (empty for none).
    pub refusal: &'a str,
}

/// The JSON the script reads from `<script type="application/json" id="uraiden-paywall">`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScriptConfig<'a> {
    payment_required: &'a x402::PaymentRequired,
    token: &'a TokenInfo,
    api_base: &'a str,
}

impl PaywallPage {
    /// The default page, pricing in `token`.
    pub fn new(token: TokenInfo) -> Self {
        Self::with_template(DEFAULT_TEMPLATE, token).expect("the default template is valid")
    }

    /// An operator's page: `template` checked (known placeholders only, `{{config}}` and
    /// `{{script}}` present).
    pub fn with_template(template: &str, token: TokenInfo) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError::Unclosed(offset + start))?;
            let name = after[..end].trim();
            let slot = PLACEHOLDERS.iter().find(|p| **p == name).ok_or_else(|| TemplateError::Unknown(name.into()))?;
            parts.push(Part::Text(rest[..start].to_string()));
            parts.push(Part::Slot(slot));
            offset += start + 2 + end + 2;
            rest = &after[end + 2..];
        }
        parts.push(Part::Text(rest.to_string()));
        for required in &PLACEHOLDERS[..2] {
            if !parts.contains(&Part::Slot(required)) {
                return Err(TemplateError::Missing(required));
            }
        }
        Ok(Self { parts: parts.into(), token })
    }

    /// The token prices are shown in.
    pub fn token(&self) -> &TokenInfo {
        &self.token
    }

    /// The page of one 402.
    pub fn render(&self, context: &PageContext<'_>) -> String {
        let offer = context.required.accepts.first();
        let config = ScriptConfig { payment_required: context.required, token: &self.token, api_base: API_BASE };
        let mut page = String::with_capacity(4096);
        for part in self.parts.iter() {
            match part {
                Part::Text(text) => page.push_str(text),
                Part::Slot("config") => page.push_str(&script_json(&config)),
                Part::Slot(name) => {
                    let value = match *name {
                        "script" => SCRIPT_PATH.to_string(),
                        "title" => {
                            let description = &context.required.resource.description;
                            if description.is_empty() {
                                context.required.resource.url.clone()
                            } else {
                                description.clone()
                            }
                        }
                        "resource" => context.required.resource.url.clone(),
                        "price" => self.token.whole(context.price),
                        "symbol" => self.token.symbol.clone(),
                        "token" => self.token.address.to_string(),
                        "price_base_units" => context.price.to_string(),
                        "receiver" => offer.map(|o| o.pay_to.to_string()).unwrap_or_default(),
                        "network" => offer.map(|o| o.network.clone()).unwrap_or_default(),
                        "contract" => offer.map(|o| o.extra.verifying_contract.to_string()).unwrap_or_default(),
                        "refusal" => context.refusal.to_string(),
                        other => unreachable!("placeholder {other} is checked at load"),
                    };
                    page.push_str(&escape_html(&value));
                }
            }
        }
        page
    }
}

impl fmt::Display for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {} decimals)", self.symbol, self.address, self.decimals)
    }
}

/// `value` as JSON safe inside a `<script>` element: no `<`, `>` or `&` (so no `</script>` or
/// `<!--` a request's URL could smuggle in), and no line separators JavaScript would choke on.
fn script_json(value: &impl Serialize) -> String {
    let json = serde_json::to_string(value).expect("the page's JSON serialises");
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            '\u{2028}' => safe.push_str("\\u2028"),
            '\u{2029}' => safe.push_str("\\u2029"),
            c => safe.push(c),
        }
    }
    safe
}

/// `text` safe as HTML text and inside a quoted attribute.
pub(crate) fn escape_html(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => safe.push_str("&amp;"),
            '<' => safe.push_str("&lt;"),
            '>' => safe.push_str("&gt;"),
            '"' => safe.push_str("&quot;"),
            '\'' => safe.push_str("&#39;"),
            c => safe.push(c),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(decimals: u8) -> TokenInfo {
        TokenInfo { address: Address::repeat_byte(7), symbol: "TKN".into(), decimals }
    }

    #[test]
    fn prices_show_in_whole_tokens() {
        assert_eq!(token(18).whole(U192::from(1_500_000_000_000_000_000u128)), "1.5");
        assert_eq!(token(18).whole(U192::from(1_000_000_000_000u128)), "0.000001");
        assert_eq!(token(2).whole(U192::from(300)), "3");
        assert_eq!(token(0).whole(U192::from(5)), "5");
        assert_eq!(token(18).whole(U192::ZERO), "0");
    }

    #[test]
    fn a_template_names_only_known_placeholders_and_the_required_ones() {
        let ok = PaywallPage::with_template("{{config}}{{ script }}{{price}}", token(0));
        assert!(ok.is_ok());
        let unknown = PaywallPage::with_template("{{config}}{{script}}{{secret}}", token(0)).unwrap_err();
        assert_eq!(unknown, TemplateError::Unknown("secret".into()));
        let missing = PaywallPage::with_template("{{config}}", token(0)).unwrap_err();
        assert_eq!(missing, TemplateError::Missing("script"));
        let unclosed = PaywallPage::with_template("{{config}}{{script}} {{price", token(0)).unwrap_err();
        assert_eq!(unclosed, TemplateError::Unclosed(21));
    }

    /// A hostile resource URL and description (hyper refuses raw `<` and `"` in a request
    /// target today, but the page must not rely on it; an operator's description is text too).
    #[test]
    fn a_resource_cannot_inject_markup_into_the_page() {
        let hostile = "/a?\"'></script><script>alert(1)</script><!--";
        let required = x402::PaymentRequired {
            x402_version: 2,
            error: None,
            resource: x402::Resource { url: hostile.into(), description: hostile.into(), mime_type: None },
            accepts: vec![],
        };
        let page = PaywallPage::new(token(18)).render(&PageContext {
            required: &required,
            price: U192::from(3),
            refusal: hostile,
        });
        assert_eq!(page.matches("<script").count(), 2, "only the page's own two script elements: {page}");
        assert!(!page.contains("alert(1)</script>") && !page.contains("<!--") && !page.contains("\"'>"), "{page}");
        let open = r#"<script type="application/json" id="uraiden-paywall">"#;
        let json = &page[page.find(open).unwrap() + open.len()..];
        let config: serde_json::Value = serde_json::from_str(&json[..json.find("</script>").unwrap()]).unwrap();
        assert_eq!(config["paymentRequired"]["resource"]["url"], hostile);
    }

    #[test]
    fn script_json_cannot_close_its_element() {
        let json = script_json(&serde_json::json!({ "url": "/a</script><script>alert(1)</script>&\u{2028}" }));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["url"], "/a</script><script>alert(1)</script>&\u{2028}");
    }
}
