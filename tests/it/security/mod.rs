//! Attacker-style regression tests: each drives the real `quartet` binary over HTTP the way an
//! outside attacker would, and fails on a build that has the weakness it names. One module per
//! area; `harness` starts the binary on free loopback ports.

pub mod harness;
mod identity;
mod oauth2_forms;
mod oauth2_session;
mod oauth2_urls;
mod ops;
mod proxy_perm;
