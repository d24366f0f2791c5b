//! The ready server behind `uraiden proxy --config FILE`: paywalled routes serving a directory,
//! an upstream site or an echo, configured by a TOML file.
//!
//! - [`config`]: the file, checked whole at startup.
//! - [`path`]: the canonical form of request paths, computed before routing.
//! - [`server`]: the routes behind their paywalls, the management API, the limits.
//! - `conn`: the connections, with their timeouts and cap.
//! - [`tls`]: HTTPS from a PEM certificate and key.
//!
//! `docs/proxy.md` describes what the server does and why.

pub mod config;
mod conn;
mod content;
pub mod path;
pub mod server;
pub mod tls;

#[cfg(test)]
mod routing_tests;

pub use config::{ConfigError, Content, ProxyConfig, RouteConfig, RoutePath};
pub use conn::App;
pub use path::{PathError, normalize};
pub use server::{app, serve};
