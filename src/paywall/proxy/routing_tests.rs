//! Routing meets path normalisation: every spelling of a path takes the route of its canonical
//! form. A test of [`super::config`] and [`super::path`] together, so neither imports the other.

use proptest::prelude::*;

use super::{
    config::{ProxyConfig, RoutePath},
    path::{is_unreserved, normalize},
};

/// A canonical segment: unreserved characters, a few others, and kept escapes.
fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"abpremiuxyz019-._~".to_vec()).prop_map(|b| char::from(b).to_string()),
            1 => prop::sample::select(vec!["!", "$", ":", "@", "+", "%20", "%25", "%C3%A9", "%3F"])
                .prop_map(String::from),
        ],
        1..5,
    )
    .prop_map(|parts| parts.concat())
    .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

/// Another spelling of the canonical segment `s`: unreserved characters escaped at random
/// (with random hex case), the kept escapes in random case.
fn respell(s: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    let mut pick = choices.iter().cycle();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let choice = *pick.next().unwrap();
        if bytes[i] == b'%' {
            let escape = &s[i..i + 3];
            out.push_str(&if choice.is_multiple_of(2) { escape.to_ascii_lowercase() } else { escape.to_string() });
            i += 3;
            continue;
        }
        let b = bytes[i];
        match choice % 3 {
            0 if is_unreserved(b) => out.push_str(&format!("%{b:02x}")),
            1 if is_unreserved(b) => out.push_str(&format!("%{b:02X}")),
            _ => out.push(char::from(b)),
        }
        i += 1;
    }
    out
}

/// A route table over a small alphabet, so that routes and paths meet often.
fn table() -> impl Strategy<Value = Vec<String>> {
    let path = prop::collection::vec(prop::sample::select(vec!["a", "b", "premium", "x~y", "p.q_r-s"]), 0..3)
        .prop_map(|parts| parts.iter().map(|p| format!("/{p}")).collect::<String>());
    prop::collection::vec((path, any::<bool>()), 1..6).prop_map(|routes| {
        let mut seen = std::collections::HashSet::new();
        routes
            .into_iter()
            .map(|(p, prefix)| if prefix || p.is_empty() { format!("{p}/*") } else { p })
            .filter(|p| seen.insert(p.clone()))
            .collect()
    })
}

fn config(routes: &[String]) -> ProxyConfig {
    let mut text = String::from("[chain]\ncontract = \"0x00000000000000000000000000000000000000aa\"\n");
    for route in routes {
        text.push_str(&format!("[[route]]\npath = \"{route}\"\nprice = {{ default = 1 }}\necho = true\n"));
    }
    ProxyConfig::parse(&text, std::path::Path::new("/nonexistent/proxy.toml")).unwrap()
}

/// A prefix route takes its prefix itself, with the rest `/` (which the path, having no
/// final `/`, does not end with).
#[test]
fn a_prefix_route_takes_its_prefix_without_a_final_slash() {
    let config = config(&["/a/*".to_string()]);
    assert_eq!(config.route_for("/a"), Some((0, "/")));
    assert_eq!(config.route_for("/a/"), Some((0, "/")));
    assert_eq!(config.route_for("/a/b"), Some((0, "/b")));
    assert_eq!(config.route_for("/ab"), None);
}

proptest! {
    /// Any spelling of a path (escapes, doubled slashes) has the canonical form of the path,
    /// so it is routed as the path is; the form is a fixed point; it never holds `//`, a dot
    /// segment or an escaped unreserved character; and the route's path and the rest it is
    /// given make up the path (the rest of a prefix route's prefix itself is `/`).
    #[test]
    fn every_spelling_of_a_path_takes_the_route_of_its_canonical_form(
        routes in table(),
        segments in prop::collection::vec(segment(), 0..5),
        trailing in any::<bool>(),
        choices in prop::collection::vec(0u8..6, 1..16),
        slashes in prop::collection::vec(1usize..4, 6),
    ) {
        let config = config(&routes);
        let mut canonical: String = segments.iter().map(|s| format!("/{s}")).collect();
        if canonical.is_empty() || trailing {
            canonical.push('/');
        }
        let mut spelled = String::new();
        for (i, s) in segments.iter().enumerate() {
            spelled.push_str(&"/".repeat(slashes[i]));
            spelled.push_str(&respell(s, &choices[i % choices.len()..]));
        }
        if spelled.is_empty() || trailing {
            spelled.push_str(&"/".repeat(slashes[5]));
        }
        let normal = normalize(&spelled).unwrap();
        prop_assert_eq!(&normal, &canonical, "{} from {}", normal, spelled);
        let again = normalize(&normal);
        prop_assert_eq!(again.as_deref(), Ok(normal.as_str()));
        prop_assert!(!normal.contains("//"));
        prop_assert!(!normal.split('/').any(|s| s == "." || s == ".."));
        let lower = normal.to_ascii_lowercase();
        let escaped_unreserved = (0u8..=127).filter(|b| is_unreserved(*b)).any(|b| lower.contains(&format!("%{b:02x}")));
        prop_assert!(!escaped_unreserved, "{}", normal);
        let routed = config.route_for(&normal);
        prop_assert_eq!(routed, config.route_for(&canonical));
        if let Some((index, rest)) = routed {
            match &config.routes[index].path {
                RoutePath::Exact(exact) => prop_assert_eq!(exact, &normal),
                RoutePath::Prefix(prefix) => {
                    let joined = format!("{prefix}{rest}");
                    let matches = joined == normal || (rest == "/" && *prefix == normal);
                    prop_assert!(matches, "{} + {} for {}", prefix, rest, normal);
                }
            }
        }
    }

}
