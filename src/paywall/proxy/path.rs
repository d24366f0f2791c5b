//! Request paths in one canonical form, computed once before anything looks at the path: the
//! management routes, the route table, the files and the upstream all see the same string, so
//! no spelling of a paid path can reach a free route.
//!
//! The form (RFC 3986 §6.2.2, with two refusals):
//! - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded
//!   (`/%70remium` is `/premium`); every other escape is kept, its hex digits in capitals;
//! - runs of `/` are one `/` (`//premium` is `/premium`); a final `/` is kept;
//! - a dot segment (`.`, `..`, also encoded as `%2e`) is refused: clients resolve them before
//!   sending (RFC 3986 §5.2.4), so a request carrying one was written to get around something;
//! - a dot segment with path parameters (`..;x`) is refused too: some servers (Tomcat, Spring)
//!   read it as `..`;
//! - an encoded `/` (`%2F`) is refused: it would be one segment here and two to a file system
//!   or an upstream that decodes it; so is a backslash, plain or encoded (`%5C`), which some
//!   servers (IIS, and frameworks on Windows) take for a `/`;
//! - a malformed escape (`%4`, `%zz`) is refused.

/// Why a request path has no canonical form (the request is answered 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not an absolute path (`*`, or anything not starting with `/`).
    #[error("the path does not start with /")]
    NotAbsolute,
    /// `%` not followed by two hex digits.
    #[error("a malformed percent-escape in the path")]
    BadEscape,
    /// `%2F`.
    #[error("an encoded / (%2F) in the path")]
    EncodedSlash,
    /// `.` or `..`, plain or encoded, alone or before path parameters (`..;x`).
    #[error("a dot segment (. or ..) in the path")]
    DotSegment,
    /// `\`, plain or encoded (`%5C`).
    #[error("a backslash (\\ or %5C) in the path")]
    Backslash,
}

/// The canonical form of `raw`, a request path as sent (without the query).
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = String::with_capacity(raw.len());
    for segment in raw.split('/').filter(|s| !s.is_empty()) {
        let segment = segment_form(segment)?;
        let name = segment.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(PathError::DotSegment);
        }
        out.push('/');
        out.push_str(&segment);
    }
    if out.is_empty() || raw.ends_with('/') {
        out.push('/');
    }
    Ok(out)
}

/// Whether `byte` is an unreserved character (RFC 3986 §2.3).
pub(crate) fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Whether `byte` stands for itself in a canonical path segment: a `pchar` of RFC 3986 §3.3
/// other than an escape (unreserved, sub-delimiters, `:` and `@`).
fn is_plain(byte: u8) -> bool {
    is_unreserved(byte) || b"!$&'()*+,;=:@".contains(&byte)
}

/// One segment with unreserved characters decoded, the other escapes in capitals, and any
/// other character (`"`, `{`, `|`… that lenient parsers let through) escaped.
fn segment_form(segment: &str) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            return Err(PathError::Backslash);
        }
        if bytes[i] != b'%' {
            if is_plain(bytes[i]) {
                out.push(char::from(bytes[i]));
            } else {
                out.push_str(&format!("%{:02X}", bytes[i]));
            }
            i += 1;
            continue;
        }
        let hex = |b: u8| char::from(b).to_digit(16);
        let (Some(high), Some(low)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        else {
            return Err(PathError::BadEscape);
        };
        let byte = (high * 16 + low) as u8;
        if byte == b'/' {
            return Err(PathError::EncodedSlash);
        }
        if byte == b'\\' {
            return Err(PathError::Backslash);
        }
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
        i += 3;
    }
    Ok(out)
}

/// Characters a route's path may hold: unreserved characters and `/`, the characters whose
/// every spelling has one canonical form. (A sub-delimiter such as `:` would also be seen
/// escaped, `%3A`: that spelling would miss the route, and a file server behind a free route
/// over the same directory would decode it and serve the route's files.) A space, a non-ASCII
/// letter or a `%` could never match either.
pub(crate) fn is_route_char(c: char) -> bool {
    c == '/' || (c.is_ascii() && is_unreserved(c as u8))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::paywall::proxy::config::{ProxyConfig, RoutePath};

    #[test]
    fn the_bypasses_of_issue_16_and_friends() {
        assert_eq!(normalize("/%70remium/secret.txt").as_deref(), Ok("/premium/secret.txt"));
        assert_eq!(normalize("//premium/secret.txt").as_deref(), Ok("/premium/secret.txt"));
        assert_eq!(normalize("/premium//secret.txt").as_deref(), Ok("/premium/secret.txt"));
        assert_eq!(normalize("/%2570remium").as_deref(), Ok("/%2570remium"), "an escaped % stays escaped");
        assert_eq!(normalize("/a%c3%a9/").as_deref(), Ok("/a%C3%A9/"));
        assert_eq!(normalize("/").as_deref(), Ok("/"));
        assert_eq!(normalize("//").as_deref(), Ok("/"));
        assert_eq!(normalize("/a%20b").as_deref(), Ok("/a%20b"));
        assert_eq!(normalize("/a\"b{c}|").as_deref(), Ok("/a%22b%7Bc%7D%7C"), "what lenient parsers let through");
        for (raw, error) in [
            ("/free/../premium/x", PathError::DotSegment),
            ("/free/%2e%2E/premium/x", PathError::DotSegment),
            ("/./premium", PathError::DotSegment),
            ("/premium/%2E", PathError::DotSegment),
            ("/premium%2fx", PathError::EncodedSlash),
            ("/%2F", PathError::EncodedSlash),
            ("/a%2", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("*", PathError::NotAbsolute),
        ] {
            assert_eq!(normalize(raw), Err(error), "{raw}");
        }
        assert_eq!(normalize("/.../x").as_deref(), Ok("/.../x"), "three dots are a name");
        for (raw, error) in [
            ("/free/..;/premium/x", PathError::DotSegment),
            ("/free/..;jsessionid=1/premium/x", PathError::DotSegment),
            ("/free/%2e;x/premium", PathError::DotSegment),
            ("/free%5C..%5Cpremium", PathError::Backslash),
            ("/free%5c..%5cpremium", PathError::Backslash),
            ("/free\\..\\premium", PathError::Backslash),
        ] {
            assert_eq!(normalize(raw), Err(error), "{raw}");
        }
        assert_eq!(normalize("/a;b/c").as_deref(), Ok("/a;b/c"), "path parameters of a name are kept");
    }

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

        /// Whatever the bytes, normalising never panics, and what it accepts is a fixed point.
        #[test]
        fn any_path_is_normalised_or_refused(raw in "/[a-z/%.2eEfF0-9~\"{}|^`\\[\\] ]{0,24}") {
            if let Ok(normal) = normalize(&raw) {
                prop_assert_eq!(normalize(&normal), Ok(normal.clone()));
            }
        }
    }
}
