//! The janitor's kernel: what one cleanup run may delete ([`Sweep`]: the cut-off age, the
//! per-table limit, the batch size) and the one way rows are deleted ([`delete_expired`]).
//! Knows no role: each role's `cleanup` module names its tables and conditions, and
//! `app::janitor` runs them (from `quartet janitor` or on `serve`'s interval).
//!
//! Deletion is safe while the stack serves and when several instances share the database: the
//! keys are selected once per table (one scan, no write lock), then deleted by key in batches of
//! `batch_size`, each batch one short statement that re-checks the condition (a session
//! extended or a flow touched since the scan stays), so no run holds a long lock and two
//! instances deleting the same rows at once only find them gone (both take the keys in the
//! same order, so their row locks cannot deadlock).

use std::time::Duration;

use sqlx::Row;

use crate::store::batch::placeholders;
use crate::store::{Db, OnDb};

/// One cleanup run's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// The run's "now", Unix microseconds.
    pub now: i64,
    /// Rows younger than this (Unix microseconds) stay even when expired: now minus
    /// `keep_if_younger`.
    pub not_after: i64,
    /// Most rows deleted per table in one run.
    pub limit: usize,
    /// Rows per DELETE statement.
    pub batch_size: usize,
}

impl Sweep {
    /// A run at `now` (Unix microseconds) that keeps rows younger than `keep_if_younger`.
    pub fn new(now: i64, keep_if_younger: Duration, limit: usize, batch_size: usize) -> Self {
        let keep = i64::try_from(keep_if_younger.as_micros()).unwrap_or(i64::MAX);
        Self {
            now,
            not_after: now.saturating_sub(keep),
            limit: limit.max(1),
            batch_size: batch_size.max(1),
        }
    }

    /// The later of `not_after` and `now - age`: rows must be older than both to go.
    pub fn older_than(&self, age: Duration) -> i64 {
        let age = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        self.not_after.min(self.now.saturating_sub(age))
    }
}

/// The rows of one table that may go: `condition` is SQL over the table's columns with `$1`,
/// `$2`, ... bound to `binds` in order; `key` is its text primary key; `what` names the rows
/// for people ("expired login flows").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub what: &'static str,
    pub table: &'static str,
    pub key: &'static str,
    pub condition: &'static str,
    pub binds: Vec<i64>,
}

/// Deletes up to `sweep.limit` rows matching `what`, `sweep.batch_size` per statement; the
/// number deleted.
pub async fn delete_expired(db: &Db, sweep: &Sweep, what: &Expired) -> Result<u64, sqlx::Error> {
    let Expired {
        table,
        key,
        condition,
        binds,
        ..
    } = what;
    let select = format!(
        "SELECT {key} FROM {table} WHERE {condition} ORDER BY {key} LIMIT {}",
        sweep.limit
    );
    let mut query = sqlx::query(&select);
    for value in binds {
        query = query.bind(*value);
    }
    let keys = query
        .fetch_all_on(db)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deleted = 0;
    for batch in keys.chunks(sweep.batch_size) {
        let delete = format!(
            "DELETE FROM {table} WHERE {key} IN ({}) AND ({condition})",
            placeholders(binds.len() + 1, batch.len())
        );
        let mut query = sqlx::query(&delete);
        for value in binds {
            query = query.bind(*value);
        }
        for k in batch {
            query = query.bind(k.as_str());
        }
        deleted += query.execute_on(db).await?.rows_affected();
        // Let the requests being served meanwhile have the database between two batches.
        tokio::task::yield_now().await;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_off_is_the_older_of_keep_if_younger_and_the_age() {
        let sweep = Sweep::new(10_000_000, Duration::from_secs(2), 10, 0);
        assert_eq!(sweep.not_after, 8_000_000);
        assert_eq!(sweep.batch_size, 1);
        assert_eq!(sweep.older_than(Duration::from_secs(5)), 5_000_000);
        assert_eq!(sweep.older_than(Duration::from_secs(1)), 8_000_000);
        let forever = Sweep::new(10, Duration::MAX, 1, 1);
        assert!(forever.not_after < 0);
    }
}
