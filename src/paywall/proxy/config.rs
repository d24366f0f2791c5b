//! The proxy's configuration file (TOML), read and checked whole before anything starts: a bad
//! file is refused with the file, the key and the reason. Relative paths in the file are taken
//! relative to the file's directory.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use alloy_primitives::{Address, aliases::U192};
use http::Method;
use serde::Deserialize;

use crate::paywall::{PaywallPage, PerMethod, TokenInfo};
use crate::receiver::SessionTerms;

/// A refused configuration: which file, which key, why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// The key at fault (`route[2].price`), or the line for a syntax error.
    pub key: String,
    /// Why it is refused.
    pub reason: String,
}

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[chain]`.
    pub chain: ChainConfig,
    /// `[receiver]`.
    pub receiver: ReceiverConfig,
    /// `[server]`.
    pub server: ServerConfig,
    /// The `[[route]]` tables, in file order.
    pub routes: Vec<RouteConfig>,
}

/// `[chain]`: the node and the contract.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// `rpc_url` (the command line's `--rpc-url` overrides it; `ETH_RPC_URL` stands in for it).
    pub rpc_url: Option<String>,
    /// `confirmations` a deposit needs (default 5).
    pub confirmations: u64,
    /// `contract`: otherwise `deployments_dir/<chain id>.json`.
    pub contract: Option<Address>,
    /// `deployment_block` of `contract` (default 0; taken from the record without `contract`).
    pub deployment_block: u64,
    /// `deployments_dir` (default `deployments`).
    pub deployments_dir: PathBuf,
    /// `poll_interval_ms`: how often the node is asked for new blocks (default 1000).
    pub poll_interval: Duration,
}

/// `[receiver]`: the key and the store.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// `private_key_file` (else `PRIVATE_KEY`).
    pub private_key_file: Option<PathBuf>,
    /// `store`: `sqlite://…`, `postgres://…` or `postgresql://…` (default `sqlite://` of
    /// `uraiden-proxy.sqlite` next to the configuration file).
    pub store: String,
    /// `chain_lease_ms`: with a PostgreSQL store several instances share, how long the
    /// chain-work lease lasts unless renewed (default 10000; more than twice the poll interval).
    pub chain_lease: Duration,
}

/// `[server]`: the listener and its limits.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `listen` (default `127.0.0.1:5000`).
    pub listen: SocketAddr,
    /// `admin_token_file`: the admin routes' bearer token, read at startup (off without one).
    pub admin_token: Option<String>,
    /// `max_body_bytes`: the largest request body (default 1 MiB); larger is a 413.
    pub max_body_bytes: usize,
    /// `max_header_bytes`: the largest request head, names and values (default 16 KiB); larger
    /// is a 431.
    pub max_header_bytes: usize,
    /// `upstream_timeout_ms`: how long an upstream may take to answer (default 30000); longer
    /// is a 504.
    pub upstream_timeout: Duration,
    /// `tls_cert_file` and `tls_key_file` (PEM), read and checked at startup: the listener
    /// speaks HTTPS. Without them, plain HTTP.
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    /// `header_read_timeout_ms`: how long a request head may take to arrive whole, counted from
    /// when the server starts waiting for it (default 10000); then the connection is closed.
    pub header_read_timeout: Duration,
    /// `idle_timeout_ms`: how long a connection may wait for the first byte of a request, when
    /// new and between requests (default 5000, or the header timeout if lower); then it is
    /// closed. At most the header timeout.
    pub idle_timeout: Duration,
    /// `max_connections`: how many connections are open at once (default 1024); more wait in
    /// the listen queue until one closes.
    pub max_connections: usize,
    /// `paywall_page_file`: the operator's template of the page browsers get with a 402 (see
    /// [`crate::paywall::page`]), read and checked at startup. Without it, the default page.
    pub paywall_page: Option<String>,
}

/// One `[[route]]`.
#[derive(Clone, Debug)]
pub struct RouteConfig {
    /// `path`.
    pub path: RoutePath,
    /// `price`: a number of base units (0 is free) or a table of per-method prices with an
    /// optional `default`.
    pub price: PerMethod,
    /// The content source.
    pub content: Content,
    /// `description`: x402's `resource.description`.
    pub description: String,
    /// `session_requests` (and `session_ttl_s`, default 3600): the prepaid sessions the route
    /// sells, if any.
    pub sessions: Option<SessionTerms>,
}

/// Where a route applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutePath {
    /// Exactly this path.
    Exact(String),
    /// `/prefix/*`: the prefix itself and everything under it (`""` for `/*`).
    Prefix(String),
}

impl RoutePath {
    /// The rest of `path` after this route's prefix (`/` for the prefix itself), if it matches.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        match self {
            Self::Exact(exact) => (path == exact).then_some(""),
            Self::Prefix(prefix) => match path.strip_prefix(prefix.as_str())? {
                "" => Some("/"),
                rest if rest.starts_with('/') => Some(rest),
                _ => None,
            },
        }
    }
}

/// What a route serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// `dir`: static files (content type from the file name).
    Dir(PathBuf),
    /// `upstream`: reverse-proxied to this URL, streaming, headers passed through.
    Upstream(url::Url),
    /// `echo = true`: answers with the request's method and path.
    Echo,
}

const RESERVED: [&str; 4] = ["/api", "/health", "/ready", "/metrics"];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    chain: RawChain,
    #[serde(default)]
    receiver: RawReceiver,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    route: Vec<RawRoute>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChain {
    rpc_url: Option<String>,
    confirmations: Option<u64>,
    contract: Option<Address>,
    deployment_block: Option<u64>,
    deployments_dir: Option<PathBuf>,
    poll_interval_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    private_key_file: Option<PathBuf>,
    store: Option<String>,
    chain_lease_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    admin_token_file: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    upstream_timeout_ms: Option<u64>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    header_read_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    paywall_page_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: String,
    price: toml::Value,
    dir: Option<PathBuf>,
    upstream: Option<String>,
    echo: Option<bool>,
    description: Option<String>,
    session_requests: Option<u32>,
    session_ttl_s: Option<u64>,
}

impl ProxyConfig {
    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_path_buf(),
            key: "(file)".into(),
            reason: format!("cannot be read: {e}"),
        })?;
        Self::parse(&text, file)
    }

    /// Checks `text`, read from `file` (relative paths are taken from `file`'s directory), and
    /// reads the files it names (the admin token, the TLS certificate and key, the page).
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let at = At { file, base: file.parent().map(Path::to_path_buf).unwrap_or_default() };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| text[..span.start.min(text.len())].lines().count().max(1));
            at.fail(&format!("line {line}"), e.message().replace('\n', " "))
        })?;
        let chain = at.chain(raw.chain)?;
        let receiver = at.receiver(raw.receiver, chain.poll_interval)?;
        let files = at.server_files(&raw.server)?;
        let server = at.server(raw.server, files)?;
        let routes = at.routes(raw.route, &server)?;
        Ok(Self { file: file.to_path_buf(), chain, receiver, server, routes })
    }

    /// The route serving `path`: an exact route, else the longest matching prefix.
    pub fn route_for<'a>(&self, path: &'a str) -> Option<(usize, &'a str)> {
        let exact = self.routes.iter().enumerate().find_map(|(i, r)| match &r.path {
            RoutePath::Exact(_) => r.path.strip(path).map(|rest| (i, rest)),
            RoutePath::Prefix(_) => None,
        });
        exact.or_else(|| {
            self.routes
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match &r.path {
                    RoutePath::Prefix(prefix) => r.path.strip(path).map(|rest| (prefix.len(), i, rest)),
                    RoutePath::Exact(_) => None,
                })
                .max_by_key(|(len, _, _)| *len)
                .map(|(_, i, rest)| (i, rest))
        })
    }
}

/// Where a configuration is checked: its file (named in every error) and the directory its
/// relative paths are taken from.
struct At<'a> {
    file: &'a Path,
    base: PathBuf,
}

/// What `[server]`'s files hold, read before the section is checked.
struct ServerFiles {
    admin_token: Option<String>,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    paywall_page: Option<String>,
}

impl At<'_> {
    fn fail(&self, key: &str, reason: String) -> ConfigError {
        ConfigError { file: self.file.to_path_buf(), key: key.into(), reason }
    }

    fn resolve(&self, path: PathBuf) -> PathBuf {
        if path.is_relative() { self.base.join(path) } else { path }
    }

    fn chain(&self, raw: RawChain) -> Result<ChainConfig, ConfigError> {
        let confirmations = raw.confirmations.unwrap_or(5);
        if confirmations == 0 {
            return Err(self.fail("chain.confirmations", "must be at least 1".into()));
        }
        let poll_ms = raw.poll_interval_ms.unwrap_or(1000);
        if poll_ms == 0 {
            return Err(self.fail("chain.poll_interval_ms", "must be at least 1".into()));
        }
        if let Some(url) = &raw.rpc_url {
            let scheme = url::Url::parse(url).map(|u| u.scheme().to_string()).unwrap_or_default();
            if !["http", "https", "ws", "wss"].contains(&scheme.as_str()) {
                return Err(self.fail("chain.rpc_url", "not an http(s):// or ws(s):// URL".into()));
            }
        }
        if raw.deployment_block.is_some() && raw.contract.is_none() {
            return Err(self.fail("chain.deployment_block", "only with chain.contract".into()));
        }
        Ok(ChainConfig {
            rpc_url: raw.rpc_url,
            confirmations,
            contract: raw.contract,
            deployment_block: raw.deployment_block.unwrap_or(0),
            deployments_dir: self.resolve(raw.deployments_dir.unwrap_or_else(|| "deployments".into())),
            poll_interval: Duration::from_millis(poll_ms),
        })
    }

    fn receiver(&self, raw: RawReceiver, poll_interval: Duration) -> Result<ReceiverConfig, ConfigError> {
        let store = match raw.store {
            Some(store) if STORE_SCHEMES.iter().any(|scheme| store.starts_with(scheme)) => store,
            Some(_) => {
                return Err(
                    self.fail("receiver.store", "must start with sqlite://, postgres:// or postgresql://".into())
                );
            }
            None => format!("sqlite://{}", self.resolve("uraiden-proxy.sqlite".into()).display()),
        };
        let private_key_file = raw.private_key_file.map(|path| self.resolve(path));
        if let Some(path) = &private_key_file {
            private_file(path).map_err(|reason| self.fail("receiver.private_key_file", reason))?;
        }
        let chain_lease = Duration::from_millis(raw.chain_lease_ms.unwrap_or(10_000));
        if !store.starts_with("sqlite:") && chain_lease <= poll_interval * 2 {
            let reason = format!(
                "must be more than twice chain.poll_interval_ms ({}): the leading instance renews it at every poll",
                poll_interval.as_millis()
            );
            return Err(self.fail("receiver.chain_lease_ms", reason));
        }
        Ok(ReceiverConfig { private_key_file, store, chain_lease })
    }

    /// Reads and checks the files `[server]` names.
    fn server_files(&self, raw: &RawServer) -> Result<ServerFiles, ConfigError> {
        let admin_token = match raw.admin_token_file.clone().map(|path| self.resolve(path)) {
            None => None,
            Some(path) => {
                let key = "server.admin_token_file";
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| self.fail(key, format!("{} cannot be read: {e}", path.display())))?;
                private_file(&path).map_err(|reason| self.fail(key, reason))?;
                Some(admin_token(&text).map_err(|reason| self.fail(key, format!("{}: {reason}", path.display())))?)
            }
        };
        let cert = raw.tls_cert_file.clone().map(|path| self.resolve(path));
        let tls = match (cert, raw.tls_key_file.clone().map(|path| self.resolve(path))) {
            (None, None) => None,
            (Some(_), None) => return Err(self.fail("server.tls_key_file", "missing: tls_cert_file needs it".into())),
            (None, Some(_)) => return Err(self.fail("server.tls_cert_file", "missing: tls_key_file needs it".into())),
            (Some(cert), Some(key)) => {
                if key.exists() {
                    private_file(&key).map_err(|reason| self.fail("server.tls_key_file", reason))?;
                }
                let config = super::tls::server_config(&cert, &key)
                    .map_err(|(which, why)| self.fail(&format!("server.{which}"), why))?;
                Some(config)
            }
        };
        let paywall_page = match raw.paywall_page_file.clone().map(|path| self.resolve(path)) {
            None => None,
            Some(path) => {
                let key = "server.paywall_page_file";
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| self.fail(key, format!("{} cannot be read: {e}", path.display())))?;
                // Checked now, with any token: the template's placeholders do not depend on it.
                PaywallPage::with_template(&text, TokenInfo::base_units(Address::ZERO))
                    .map_err(|e| self.fail(key, format!("{}: {e}", path.display())))?;
                Some(text)
            }
        };
        Ok(ServerFiles { admin_token, tls, paywall_page })
    }

    fn server(&self, raw: RawServer, files: ServerFiles) -> Result<ServerConfig, ConfigError> {
        let max_header_bytes = raw.max_header_bytes.unwrap_or(16 << 10);
        if max_header_bytes < 1024 {
            return Err(self.fail("server.max_header_bytes", "must be at least 1024".into()));
        }
        let timeout_ms = raw.upstream_timeout_ms.unwrap_or(30_000);
        if timeout_ms == 0 {
            return Err(self.fail("server.upstream_timeout_ms", "must be at least 1".into()));
        }
        let header_ms = raw.header_read_timeout_ms.unwrap_or(10_000);
        if header_ms == 0 {
            return Err(self.fail("server.header_read_timeout_ms", "must be at least 1".into()));
        }
        let idle_ms = raw.idle_timeout_ms.unwrap_or(5_000.min(header_ms));
        if idle_ms == 0 || idle_ms > header_ms {
            return Err(self.fail(
                "server.idle_timeout_ms",
                format!(
                    "must be at least 1 and at most header_read_timeout_ms ({header_ms}), which also bounds the wait"
                ),
            ));
        }
        let max_connections = raw.max_connections.unwrap_or(1024);
        if max_connections == 0 {
            return Err(self.fail("server.max_connections", "must be at least 1".into()));
        }
        Ok(ServerConfig {
            listen: raw.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000))),
            admin_token: files.admin_token,
            max_body_bytes: raw.max_body_bytes.unwrap_or(1 << 20),
            max_header_bytes,
            upstream_timeout: Duration::from_millis(timeout_ms),
            tls: files.tls,
            header_read_timeout: Duration::from_millis(header_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            max_connections,
            paywall_page: files.paywall_page,
        })
    }

    fn routes(&self, raw: Vec<RawRoute>, server: &ServerConfig) -> Result<Vec<RouteConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.fail("route", "no [[route]] table: add at least one".into()));
        }
        let mut routes: Vec<RouteConfig> = Vec::new();
        for (i, route) in raw.into_iter().enumerate() {
            let key = |name: &str| format!("route[{i}].{name}");
            let path = route_path(&route.path).map_err(|reason| self.fail(&key("path"), reason))?;
            if routes.iter().any(|r| r.path == path) {
                return Err(self.fail(&key("path"), format!("{} is already the path of another route", route.path)));
            }
            let price =
                price(&route.price).map_err(|(sub, reason)| self.fail(&format!("{}{sub}", key("price")), reason))?;
            let content = self.content(i, &path, route.dir, route.upstream, route.echo.unwrap_or(false), server)?;
            let sessions = match (route.session_requests, route.session_ttl_s) {
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(
                        self.fail(&key("session_ttl_s"), "needs session_requests (the most one payment buys)".into())
                    );
                }
                (Some(n), _) if n < 2 => {
                    return Err(self.fail(&key("session_requests"), format!("{n}: a session buys at least 2 requests")));
                }
                (Some(_), Some(0)) => return Err(self.fail(&key("session_ttl_s"), "must be at least 1".into())),
                (Some(_), _) if route.path.len() > crate::protocol::session::MAX_SCOPE => {
                    return Err(self.fail(
                        &key("session_requests"),
                        format!(
                            "a route path over {} bytes cannot scope a session",
                            crate::protocol::session::MAX_SCOPE
                        ),
                    ));
                }
                (Some(n), ttl) => Some(SessionTerms {
                    scope: match &path {
                        RoutePath::Exact(path) => path.clone(),
                        RoutePath::Prefix(prefix) => format!("{prefix}/"),
                    },
                    max_requests: n,
                    ttl: Duration::from_secs(ttl.unwrap_or(3600)),
                }),
            };
            routes.push(RouteConfig {
                path,
                price,
                content,
                description: route.description.unwrap_or_default(),
                sessions,
            });
        }
        Ok(routes)
    }

    /// What route `i` serves: exactly one of a directory, an upstream, the echo.
    fn content(
        &self,
        i: usize,
        path: &RoutePath,
        dir: Option<PathBuf>,
        upstream: Option<String>,
        echo: bool,
        server: &ServerConfig,
    ) -> Result<Content, ConfigError> {
        let key = |name: &str| format!("route[{i}].{name}");
        match (dir, upstream, echo) {
            (Some(dir), None, false) => {
                let dir = self.resolve(dir);
                if !dir.is_dir() {
                    return Err(self.fail(&key("dir"), format!("{} is not a directory", dir.display())));
                }
                if !matches!(path, RoutePath::Prefix(_)) {
                    return Err(self.fail(&key("path"), "a dir route's path must end in /*".into()));
                }
                Ok(Content::Dir(dir))
            }
            (None, Some(upstream), false) => {
                let url = url::Url::parse(&upstream)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| self.fail(&key("upstream"), format!("{upstream:?} is not an http(s):// URL")))?;
                if is_own_address(&url, server.listen) {
                    return Err(self.fail(
                        &key("upstream"),
                        format!("{upstream} is this proxy's own listen address ({}): a loop", server.listen),
                    ));
                }
                Ok(Content::Upstream(url))
            }
            (None, None, true) => Ok(Content::Echo),
            _ => Err(self.fail(&format!("route[{i}]"), "needs exactly one of dir, upstream, echo = true".into())),
        }
    }
}

/// The store URL schemes the receiver's store opens.
const STORE_SCHEMES: [&str; 3] = ["sqlite://", "postgres://", "postgresql://"];

/// The shortest admin token accepted.
const MIN_ADMIN_TOKEN: usize = 16;

/// The admin token from `text` (a file's contents or `URAIDEN_ADMIN_TOKEN`): surrounding
/// whitespace trimmed, at least 16 characters. The error never shows the token.
pub fn admin_token(text: &str) -> Result<String, String> {
    let token = text.trim();
    if token.chars().count() < MIN_ADMIN_TOKEN {
        return Err(format!("the token is shorter than {MIN_ADMIN_TOKEN} characters"));
    }
    Ok(token.to_string())
}

/// Refuses a secret `path` that its group or others may access (as ssh refuses such keys),
/// saying what to run.
pub fn private_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{} cannot be read: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is open to its group or others (mode {:03o}): run chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

/// Whether `url` names the proxy's own listener (`listen`): the same port on the same IP
/// address, or on a loopback address when listening on all (`0.0.0.0`, `::`). Only IP literals and `localhost` are looked at (no DNS at startup);
/// the `Via` check catches the other loops at the first request.
fn is_own_address(url: &url::Url, listen: SocketAddr) -> bool {
    let Some(port) = url.port_or_known_default() else { return false };
    if port != listen.port() {
        return false;
    }
    let ips: Vec<std::net::IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![ip.into()],
        Some(url::Host::Ipv6(ip)) => vec![ip.into()],
        Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
            vec![std::net::Ipv4Addr::LOCALHOST.into(), std::net::Ipv6Addr::LOCALHOST.into()]
        }
        _ => return false,
    };
    // Listening on all addresses includes the loopback ones; another address may be another host.
    ips.iter()
        .any(|ip| *ip == listen.ip() || (listen.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified())))
}

fn route_path(path: &str) -> Result<RoutePath, String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with /"));
    }
    // A `*` is refused below unless it is the final `/*` of a prefix.
    if let Some(bad) = path.chars().find(|c| *c != '*' && !super::path::is_route_char(*c)) {
        return Err(format!(
            "{path:?} holds {bad:?}: a route path holds only letters, digits, -._~ and / (any other character has a spelling that would miss the route)"
        ));
    }
    let route = match path.strip_suffix("/*") {
        Some(prefix) => RoutePath::Prefix(prefix.to_string()),
        None => RoutePath::Exact(path.to_string()),
    };
    let body = match &route {
        RoutePath::Exact(p) | RoutePath::Prefix(p) => p,
    };
    if matches!(&route, RoutePath::Prefix(p) if p.ends_with('/')) {
        return Err(format!("{path:?} is not a plain path (no // and no . or .. segments)"));
    }
    if body.contains('*') {
        return Err(format!("{path:?}: * is allowed only as a final /*"));
    }
    if !body.is_empty() && super::path::normalize(body).as_deref() != Ok(body.as_str()) {
        return Err(format!("{path:?} is not a plain path (no // and no . or .. segments)"));
    }
    for reserved in RESERVED {
        let clash = match &route {
            RoutePath::Exact(p) => p == reserved || p.starts_with(&format!("{reserved}/")),
            RoutePath::Prefix(p) => p == reserved || p.starts_with(&format!("{reserved}/")),
        };
        if clash {
            return Err(format!("{path:?} is reserved for the management routes ({reserved})"));
        }
    }
    Ok(route)
}

/// A price: a number (base units), or a table of method = number with a `default` for the
/// methods not named. Method names are HTTP tokens, taken in capitals (`get` is `GET`).
fn price(value: &toml::Value) -> Result<PerMethod, (String, String)> {
    match value {
        toml::Value::Table(table) => {
            let mut prices = PerMethod::default();
            let mut default = None;
            for (name, value) in table {
                let amount = amount(value).map_err(|reason| (format!(".{name}"), reason))?;
                if name == "default" {
                    default = Some(amount);
                    continue;
                }
                let is_token = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                let method = Some(name.to_ascii_uppercase())
                    .filter(|_| is_token)
                    .and_then(|upper| Method::from_bytes(upper.as_bytes()).ok())
                    .ok_or_else(|| {
                        (format!(".{name}"), "not an HTTP method name (a token such as GET), nor default".into())
                    })?;
                if prices.methods.insert(method.clone(), amount).is_some() {
                    return Err((
                        format!(".{name}"),
                        format!("{method} is priced twice (names are taken in capitals)"),
                    ));
                }
            }
            prices.default = default.ok_or_else(|| {
                (
                    String::new(),
                    "a table of per-method prices needs a default for the other methods (default = 0 makes them free)"
                        .into(),
                )
            })?;
            Ok(prices)
        }
        other => {
            Ok(PerMethod { default: amount(other).map_err(|reason| (String::new(), reason))?, ..PerMethod::default() })
        }
    }
}

fn amount(value: &toml::Value) -> Result<U192, String> {
    match value {
        toml::Value::Integer(n) if *n >= 0 => Ok(U192::from(*n as u64)),
        toml::Value::Integer(_) => Err("a price cannot be negative".into()),
        toml::Value::String(s) => s
            .parse::<U192>()
            .ok()
            .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{s:?} is not a decimal number of token base units")),
        _ => {
            Err("must be a number of token base units (or a string of digits), or a table of per-method prices".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_proxys_own_address_is_a_loop() {
        let own = |url: &str, listen: &str| is_own_address(&url.parse().unwrap(), listen.parse().unwrap());
        assert!(own("http://127.0.0.1:5999/x", "127.0.0.1:5999"));
        assert!(own("http://localhost:5999", "127.0.0.1:5999"));
        assert!(own("http://[::1]:5999", "[::1]:5999"));
        assert!(own("http://127.0.0.1:5999", "0.0.0.0:5999"));
        assert!(own("http://localhost:80", "0.0.0.0:80"), "the scheme's port");
        assert!(!own("http://127.0.0.1:6000", "127.0.0.1:5999"), "another port");
        assert!(!own("http://127.0.0.2:5999", "127.0.0.1:5999"), "another loopback socket");
        assert!(!own("http://192.168.1.1:5999", "0.0.0.0:5999"), "maybe another host");
        assert!(!own("http://example.com:5999", "0.0.0.0:5999"), "names are not resolved");
    }

    #[test]
    fn paths_match_exactly_or_by_prefix() {
        assert_eq!(RoutePath::Exact("/a".into()).strip("/a"), Some(""));
        assert_eq!(RoutePath::Exact("/a".into()).strip("/a/b"), None);
        let files = RoutePath::Prefix("/files".into());
        assert_eq!(files.strip("/files"), Some("/"));
        assert_eq!(files.strip("/files/x/y"), Some("/x/y"));
        assert_eq!(files.strip("/filesx"), None);
        assert_eq!(RoutePath::Prefix(String::new()).strip("/anything"), Some("/anything"));
    }
}
