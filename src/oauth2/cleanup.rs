//! What the janitor may delete from the oauth2 tables (Hydra's `janitor`): with `tokens`,
//! access and refresh tokens and authorization codes past their expiry, and JWT ids past theirs;
//! with `requests`, login/consent/logout challenges older than `ttl.login_consent_request`,
//! expired remembered login sessions and revoked consents; with `grants`, expired trust
//! relationships of the jwt-bearer grant — each only once older than the run's
//! `keep_if_younger`. Never an unexpired token (a used code or rotated refresh token stays
//! until it expires, so that its reuse is still caught), a remembered consent, or a client.

use std::time::Duration;

use crate::janitor::{Expired, Sweep};

/// What to clean and the lifespans that judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub tokens: bool,
    pub requests: bool,
    pub grants: bool,
    /// `--access-lifespan`: an access token requested longer ago than this counts as expired
    /// too (its stored expiry always counts).
    pub access_lifespan: Option<Duration>,
    /// `--refresh-lifespan`: the same for refresh tokens.
    pub refresh_lifespan: Option<Duration>,
    /// `ttl.login_consent_request` (or `--consent-request-lifespan`): how long a challenge can
    /// be answered.
    pub consent_request_lifespan: Duration,
}

/// The oauth2 tables' expired rows for one run.
pub fn expired(sweep: &Sweep, selection: &Selection) -> Vec<Expired> {
    let requested_before = |lifespan: Option<Duration>| match lifespan {
        Some(l) => sweep
            .now
            .saturating_sub(i64::try_from(l.as_micros()).unwrap_or(i64::MAX)),
        None => i64::MIN,
    };
    let mut out = Vec::new();
    if selection.tokens {
        for (what, kind, lifespan) in [
            (
                "expired access tokens",
                "access_token",
                selection.access_lifespan,
            ),
            (
                "expired refresh tokens",
                "refresh_token",
                selection.refresh_lifespan,
            ),
            ("expired authorization codes", "authorize_code", None),
        ] {
            out.push(Expired {
                what,
                table: "oauth2_tokens",
                key: "signature",
                condition: match kind {
                    "access_token" => "kind = 'access_token' AND requested_at < $1 AND ((expires_at > 0 AND expires_at < $2) OR requested_at < $3)",
                    "refresh_token" => "kind = 'refresh_token' AND requested_at < $1 AND ((expires_at > 0 AND expires_at < $2) OR requested_at < $3)",
                    _ => "kind = 'authorize_code' AND requested_at < $1 AND ((expires_at > 0 AND expires_at < $2) OR requested_at < $3)",
                },
                binds: vec![sweep.not_after, sweep.now, requested_before(lifespan)],
            });
        }
        out.push(Expired {
            what: "expired JWT ids",
            table: "oauth2_jtis",
            key: "jti",
            condition: "expires_at < $1",
            binds: vec![sweep.not_after],
        });
    }
    if selection.requests {
        out.push(Expired {
            what: "login, consent and logout requests",
            table: "oauth2_flows",
            key: "challenge",
            condition: "requested_at < $1",
            binds: vec![sweep.older_than(selection.consent_request_lifespan)],
        });
        out.push(Expired {
            what: "expired login sessions",
            table: "oauth2_login_sessions",
            key: "id",
            condition: "expires_at > 0 AND expires_at < $1",
            binds: vec![sweep.not_after],
        });
        out.push(Expired {
            what: "revoked consents",
            table: "oauth2_consents",
            key: "challenge",
            condition: "revoked = 1 AND handled_at < $1",
            binds: vec![sweep.not_after],
        });
    }
    if selection.grants {
        out.push(Expired {
            what: "expired trust relationships",
            table: "oauth2_trust_grants",
            key: "id",
            condition: "expires_at < $1",
            binds: vec![sweep.not_after],
        });
    }
    out
}
