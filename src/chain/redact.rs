//! RPC URLs with their secrets hidden. A provider's API key can sit in a URL's user info
//! (`https://user:key@host`), its path (`https://host/v3/KEY`) or its query (`?apikey=KEY`), so
//! messages and logs show only the scheme, the host and the port.

use std::fmt;

/// What replaces each hidden part.
const HIDDEN: &str = "***";

/// A URL as it may be shown: scheme, host and port; user info, path and query replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl {
    shown: String,
    /// The secret substrings of the original text (longest first), scrubbed from messages.
    secrets: Vec<String>,
}

impl RedactedUrl {
    /// Redacts `url`. Text that does not parse as a URL is hidden whole.
    pub fn new(url: &str) -> Self {
        let Ok(parsed) = url::Url::parse(url) else {
            return Self { shown: format!("{HIDDEN} (not a URL)"), secrets: vec![url.to_string()] };
        };
        let mut shown = format!("{}://", parsed.scheme());
        let mut secrets = vec![url.to_string(), parsed.as_str().to_string()];
        if !parsed.username().is_empty() || parsed.password().is_some() {
            shown.push_str(HIDDEN);
            shown.push('@');
            secrets.push(parsed.username().to_string());
            secrets.extend(parsed.password().map(str::to_string));
        }
        shown.push_str(parsed.host_str().unwrap_or(""));
        if let Some(port) = parsed.port() {
            shown.push_str(&format!(":{port}"));
        }
        if !matches!(parsed.path(), "" | "/") {
            shown.push('/');
            shown.push_str(HIDDEN);
            secrets.push(parsed.path().to_string());
            secrets.extend(parsed.path_segments().into_iter().flatten().map(str::to_string));
        }
        if let Some(query) = parsed.query() {
            shown.push('?');
            shown.push_str(HIDDEN);
            secrets.push(query.to_string());
        }
        if let Some(fragment) = parsed.fragment() {
            secrets.push(fragment.to_string());
        }
        secrets.retain(|secret| secret.len() >= 3 && secret != "/");
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Self { shown, secrets }
    }

    /// `text` (an error message, say) with the URL and each of its secret parts replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            let replacement = if secret.contains("://") { self.shown.as_str() } else { HIDDEN };
            out = out.replace(secret.as_str(), replacement);
        }
        out
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({})", self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::RedactedUrl;

    #[test]
    fn user_info_path_and_query_are_hidden() {
        let url = RedactedUrl::new("https://alice:s3cretkey@rpc.example.com:8545/v3/abcdef123456?apikey=zzz999#frag");
        assert_eq!(url.to_string(), "https://***@rpc.example.com:8545/***?***");
        let message = "error sending request for url (https://alice:s3cretkey@rpc.example.com:8545/v3/abcdef123456?apikey=zzz999#frag)";
        let scrubbed = url.scrub(message);
        for secret in ["alice", "s3cretkey", "abcdef123456", "zzz999"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(scrubbed.contains("rpc.example.com"), "{scrubbed}");
    }

    #[test]
    fn plain_urls_stay_readable_and_garbage_is_hidden() {
        assert_eq!(RedactedUrl::new("http://127.0.0.1:8545").to_string(), "http://127.0.0.1:8545");
        assert_eq!(RedactedUrl::new("ws://localhost:8546/").to_string(), "ws://localhost:8546");
        let garbage = RedactedUrl::new("not a url with key 0xabc");
        assert!(!garbage.to_string().contains("0xabc"));
        assert_eq!(garbage.scrub("bad: not a url with key 0xabc"), "bad: ***");
    }
}
