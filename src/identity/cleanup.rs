//! What the janitor may delete from the identity tables (Kratos' `cleanup sql`): expired
//! sessions and self-service flows, old flow error containers, and failed-login counters whose
//! window has passed — each only once older than the run's `keep_if_younger`. Never a session
//! or flow that has not expired, never an identity.

use std::time::Duration;

use crate::janitor::{Expired, Sweep};

/// How long a flow error stays readable by the error UI (`GET /self-service/errors?id=`)
/// after the failed flow redirected there: as long as a flow lives by default.
pub const ERROR_LIFETIME: Duration = Duration::from_secs(3600);

/// The identity tables' expired rows for one run. `throttle_window` is
/// `quartet.brute_force.window`: a counter untouched that long is forgotten anyway.
pub fn expired(sweep: &Sweep, throttle_window: Duration) -> Vec<Expired> {
    vec![
        Expired {
            what: "expired sessions",
            table: "identity_sessions",
            key: "id",
            condition: "expires_at < $1 AND created_at < $2",
            binds: vec![sweep.now, sweep.not_after],
        },
        Expired {
            what: "expired self-service flows",
            table: "identity_flows",
            key: "id",
            condition: "expires_at < $1 AND created_at < $2",
            binds: vec![sweep.now, sweep.not_after],
        },
        Expired {
            what: "self-service errors",
            table: "identity_flow_errors",
            key: "id",
            condition: "created_at < $1",
            binds: vec![sweep.older_than(ERROR_LIFETIME)],
        },
        Expired {
            what: "expired failed-login counters",
            table: "identity_login_throttle",
            key: "key",
            condition: "last_failure < $1",
            binds: vec![sweep.older_than(throttle_window)],
        },
    ]
}
