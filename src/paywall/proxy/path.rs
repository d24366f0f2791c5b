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

    proptest! {
        /// Whatever the bytes, normalising never panics, and what it accepts is a fixed point.
        #[test]
        fn any_path_is_normalised_or_refused(raw in "/[a-z/%.2eEfF0-9~\"{}|^`\\[\\] ]{0,24}") {
            if let Ok(normal) = normalize(&raw) {
                prop_assert_eq!(normalize(&normal), Ok(normal.clone()));
            }
        }
    }
}
