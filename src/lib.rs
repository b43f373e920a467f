//! Quartet: the four Ory roles — identity (Kratos), oauth2 (Hydra), permission (Keto) and
//! proxy (Oathkeeper) — in one process over one database.
//!
//! Codemap (see `docs/architecture.md` for the full map and its invariants):
//! - [`config`]: the unified config — Ory config files per role, env overrides, validation
//!   against Ory's own schemas.
//! - [`store`]: the shared database (SQLite in memory or on disk, PostgreSQL) and migrations.
//! - [`http`]: the HTTP kernel — Ory's error envelope, JSON extractor, middleware, health,
//!   version and metrics routes, listeners.
//! - [`crypto`]: random tokens, constant-time comparison.
//! - [`janitor`]: the bounds and batched deletion of cleanup runs (`quartet janitor`, `serve`).
//! - [`identity`], [`oauth2`], [`permission`], [`proxy`]: the four roles.
//! - [`app`]: the composition root and [`Stack`], the whole stack in-process (also the test
//!   fixture: `Stack::start(Config::ephemeral())`).

pub mod app;
pub mod config;
pub mod crypto;
pub mod http;
pub mod identity;
pub mod janitor;
pub mod oauth2;
pub mod permission;
pub mod proxy;
pub mod store;
pub mod template;

pub use app::{Stack, StartError};
pub use store::time::{Clock, ClockHand};
