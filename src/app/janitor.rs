//! The janitor: one cleanup run over the expired rows of the identity and oauth2 roles
//! (`quartet janitor`, Hydra's `janitor` and Kratos' `cleanup sql` in one), and the same run
//! repeated every `janitor.interval` inside `serve`. The role `cleanup` modules say what may go;
//! [`crate::janitor`] deletes it in short batches.

use crate::store::time::Clock;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{duration, Config, Role};
use crate::janitor::{delete_expired, Expired, Sweep};
use crate::store::Db;
use crate::{identity, oauth2};

/// `ttl.login_consent_request`'s default, as Hydra.
const DEFAULT_CONSENT_REQUEST_LIFESPAN: Duration = Duration::from_secs(1800);

/// What one run cleans and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Keep rows younger than this even when expired (`--keep-if-younger`, `--keep-last`).
    pub keep_if_younger: Duration,
    /// Most rows deleted per table (`--limit`); with `drain`, per pass over a table.
    pub limit: usize,
    /// Pass over each table again while a pass deleted `limit` rows, until it is clean (the
    /// background janitor, so that rows created faster than `limit` per interval still go);
    /// `quartet janitor` stops at `limit`, as Hydra's.
    pub drain: bool,
    /// Rows per DELETE statement (`--batch-size`).
    pub batch_size: usize,
    /// Pause between two tables (Kratos' `--sleep`).
    pub sleep: Duration,
    /// Clean the identity tables (sessions, self-service flows, errors, failed-login counters).
    pub identity: bool,
    /// What to clean in the oauth2 tables.
    pub oauth2: oauth2::cleanup::Selection,
    /// `quartet.brute_force.window` of the identity role.
    pub throttle_window: Duration,
}

impl Options {
    /// Everything of the given roles, with the `janitor:` section's bounds and the roles'
    /// configured lifespans.
    pub fn from_config(config: &Config, roles: &[Role]) -> Self {
        let oauth2_on = roles.contains(&Role::Oauth2);
        Self {
            keep_if_younger: Duration::from_nanos(
                u64::try_from(config.janitor.keep_if_younger.0).unwrap_or(u64::MAX),
            ),
            limit: config.janitor.limit,
            batch_size: config.janitor.batch_size,
            drain: true,
            sleep: Duration::ZERO,
            identity: roles.contains(&Role::Identity),
            oauth2: oauth2::cleanup::Selection {
                tokens: oauth2_on,
                requests: oauth2_on,
                grants: oauth2_on,
                access_lifespan: None,
                refresh_lifespan: None,
                consent_request_lifespan: consent_request_lifespan(config),
            },
            throttle_window: Duration::from_nanos(
                u64::try_from(config.identity.quartet.brute_force.window.0).unwrap_or(u64::MAX),
            ),
        }
    }
}

/// `ttl.login_consent_request` of the oauth2 role (30m when unset).
pub fn consent_request_lifespan(config: &Config) -> Duration {
    config
        .oauth2
        .ttl
        .login_consent_request
        .as_deref()
        .and_then(|text| duration::parse(text).ok())
        .unwrap_or(DEFAULT_CONSENT_REQUEST_LIFESPAN)
}

/// How many rows of one kind a run deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub what: &'static str,
    pub rows: u64,
}

/// One cleanup run at the current time; each table's count in order.
pub async fn run(db: &Db, options: &Options) -> Result<Vec<Deleted>, sqlx::Error> {
    run_at(db, options, Clock::system().now()).await
}

/// [`run`] at `now` (Unix microseconds).
pub async fn run_at(db: &Db, options: &Options, now: i64) -> Result<Vec<Deleted>, sqlx::Error> {
    let sweep = Sweep::new(
        now,
        options.keep_if_younger,
        options.limit,
        options.batch_size,
    );
    let mut tables: Vec<Expired> = Vec::new();
    if options.identity {
        tables.extend(identity::cleanup::expired(&sweep, options.throttle_window));
    }
    tables.extend(oauth2::cleanup::expired(&sweep, &options.oauth2));
    let mut deleted = Vec::with_capacity(tables.len());
    for (i, table) in tables.iter().enumerate() {
        if i > 0 && !options.sleep.is_zero() {
            tokio::time::sleep(options.sleep).await;
        }
        let mut rows = 0;
        loop {
            let pass = delete_expired(db, &sweep, table).await?;
            rows += pass;
            // The cut-off is fixed for the run, so passes end: rows expiring meanwhile wait
            // for the next run.
            if !options.drain || pass < sweep.limit as u64 {
                break;
            }
        }
        deleted.push(Deleted {
            what: table.what,
            rows,
        });
    }
    Ok(deleted)
}

/// Runs the janitor every `janitor.interval` (give or take a tenth, so that instances sharing
/// a database spread their runs) until `shutdown` turns true; `None` when the interval is 0.
/// The first run comes one interval after the start.
pub fn spawn(
    db: Db,
    options: Options,
    interval: Duration,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if interval.is_zero() || !(options.identity || options.oauth2.tokens) {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let wait = jittered(interval);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            match run_at(&db, &options, clock.now()).await {
                Ok(deleted) => {
                    let total: u64 = deleted.iter().map(|d| d.rows).sum();
                    if total > 0 {
                        for d in deleted.iter().filter(|d| d.rows > 0) {
                            tracing::debug!(rows = d.rows, "janitor deleted {}", d.what);
                        }
                        tracing::info!(rows = total, "janitor deleted expired rows");
                    }
                }
                Err(error) => tracing::warn!(%error, "janitor run failed; retrying next interval"),
            }
        }
    }))
}

/// `interval` ± up to 10 %.
fn jittered(interval: Duration) -> Duration {
    let tenth = interval / 10;
    if tenth.is_zero() {
        return interval;
    }
    let offset = rand::thread_rng().gen_range(Duration::ZERO..=tenth * 2);
    interval - tenth + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_varies_by_a_tenth_at_most() {
        let interval = Duration::from_secs(100);
        for _ in 0..100 {
            let d = jittered(interval);
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
        assert_eq!(jittered(Duration::from_nanos(5)), Duration::from_nanos(5));
    }
}
