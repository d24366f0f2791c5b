//! The ready server behind `uraiden proxy --config FILE`: paywalled routes serving a directory,
//! an upstream site or an echo, configured by a TOML file.
//!
//! - [`config`]: the file, checked whole at startup.
//! - [`server`]: the routes behind their paywalls, the management API, the limits.
//! - [`tls`]: HTTPS from a PEM certificate and key.

pub mod config;
mod content;
pub mod server;
pub mod tls;

pub use config::{ConfigError, Content, ProxyConfig, RouteConfig, RoutePath};
pub use server::{app, serve};
