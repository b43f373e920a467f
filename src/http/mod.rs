//! The HTTP kernel shared by every role: Ory's error envelope, the JSON extractor, the client
//! address behind trusted proxies, the shared middleware, health/version/metrics routes,
//! listener binding with graceful shutdown, the guarded client for outbound calls to URLs
//! that API callers chose (`outbound`), Quartet's extension document (`openapi`) and the 501
//! answer of Ory paths a role does not serve yet (`unsupported`).
//! Roles build axum routers; only this module and the roles' `http` modules know axum.

pub mod client_ip;
pub mod connection;
pub mod cors;
pub mod error;
pub mod health;
pub mod json;
pub mod layers;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod query;
pub mod server;
pub mod unsupported;

pub use client_ip::{ClientIp, TrustedProxies};
pub use error::ApiError;
pub use json::Json;
pub use listener::{ListenerSpec, Surface};
pub use query::Query;
