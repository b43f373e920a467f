//! The integration tests, one binary: a module per area, sharing `common` (the backends every
//! stateful test runs on, the PostgreSQL set-up, the CI marker). Tests start the stack
//! in-process (`quartet::Stack`) or the real binary (`security::harness`) on free ports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod cli;
mod config;
mod dev_defaults;
mod fixtures_cli;
mod fuzz_corpus;
mod http_kernel;
mod identity;
mod identity_store;
mod janitor;
mod migration;
mod oauth2;
mod openapi;
mod permission_api;
mod permission_cases;
mod permission_cli;
mod permission_import;
mod proxy;
mod proxy_cache;
mod proxy_inprocess;
mod proxy_jwt;
mod proxy_nginx;
mod proxy_tls;
mod proxy_wire;
mod security;
mod shutdown;
mod startup_warnings;
mod store;
mod unsupported;
