//! Statements outside transactions on connections kept warm: a connection whose statement
//! completed goes back to a small stack of its own instead of to sqlx's pool, because sqlx
//! pings every connection it takes back (`PoolConnection`'s release test) — one more round
//! trip per statement: to the SQLite worker thread (two thread hand-offs) or to the
//! PostgreSQL server. A connection whose statement failed or was cancelled (its future
//! dropped mid-statement) is dropped into sqlx's pool as before, which tests it.
//!
//! The stack holds at most half the pool, so transactions and plain pool users always find
//! connections, and takes nothing while the pool is exhausted (statements may be waiting in
//! sqlx's queue, which is fair; the stack is not); a connection left warm longer than [`super::IDLE_PING_AFTER`] goes back to the
//! pool (which pings it before reuse) rather than being used unchecked.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool};

use super::{Db, IDLE_PING_AFTER};

/// Connections whose last statement completed, newest last.
#[derive(Debug)]
pub(super) struct WarmConnections {
    idle: Mutex<Vec<(PoolConnection<Any>, Instant)>>,
    cap: usize,
}

impl WarmConnections {
    pub(super) fn new(pool_size: u32) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            cap: (pool_size / 2) as usize,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Any>, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest warm connection, if one is fresh enough; stale ones go back to the pool.
    fn take(&self) -> Option<PoolConnection<Any>> {
        let now = Instant::now();
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.lock();
            loop {
                match idle.pop() {
                    Some((conn, at)) if now.duration_since(at) < IDLE_PING_AFTER => {
                        break Some(conn)
                    }
                    Some((conn, _)) => stale.push(conn),
                    None => break None,
                }
            }
        };
        drop(stale); // outside the lock: each returns to the pool through its own task
        found
    }

    /// Keeps `conn` warm — unless every connection of the pool is out: then statements may
    /// be queued in sqlx's (fair) acquire, and a connection kept here would serve newer
    /// statements first and leave those waiting (a p99 of 60 ms at 64 connections on
    /// PostgreSQL before this check); dropping `conn` hands it to the oldest of them.
    fn put(&self, conn: PoolConnection<Any>, pool: &AnyPool) {
        let exhausted = pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections();
        if pool.is_closed() || exhausted {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.cap {
            idle.push((conn, Instant::now()));
        }
    }

    /// Hands every warm connection back to the pool (before it closes).
    pub(super) fn drain(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One connection for one statement; [`Conn::release`] keeps it warm once the statement
/// completed, dropping it hands it to sqlx's pool.
pub struct Conn {
    conn: Option<PoolConnection<Any>>,
    warm: Arc<WarmConnections>,
    pool: AnyPool,
}

impl Conn {
    /// The connection to run the statement on.
    pub fn get(&mut self) -> Result<&mut AnyConnection, sqlx::Error> {
        self.conn.as_deref_mut().ok_or(sqlx::Error::PoolClosed)
    }

    /// The statement completed: keep the connection for the next one.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.warm.put(conn, &self.pool);
        }
    }
}

impl Db {
    /// A connection for a statement outside a transaction: a warm one, else one from the pool.
    pub async fn conn(&self) -> Result<Conn, sqlx::Error> {
        let conn = match self.warm.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(Conn {
            conn: Some(conn),
            warm: self.warm.clone(),
            pool: self.pool.clone(),
        })
    }
}

/// Runs a query on a warm connection of [`Db`] (`query.fetch_optional_on(&db)` where sqlx
/// has `query.fetch_optional(db.pool())`).
pub trait OnDb {
    fn fetch_optional_on(
        self,
        db: &Db,
    ) -> impl Future<Output = Result<Option<AnyRow>, sqlx::Error>> + Send;
    fn fetch_all_on(self, db: &Db)
        -> impl Future<Output = Result<Vec<AnyRow>, sqlx::Error>> + Send;
    fn fetch_one_on(self, db: &Db) -> impl Future<Output = Result<AnyRow, sqlx::Error>> + Send;
    fn execute_on(
        self,
        db: &Db,
    ) -> impl Future<Output = Result<AnyQueryResult, sqlx::Error>> + Send;
}

impl<'q> OnDb for Query<'q, Any, AnyArguments<'q>> {
    async fn fetch_optional_on(self, db: &Db) -> Result<Option<AnyRow>, sqlx::Error> {
        let mut conn = db.conn().await?;
        let row = self.fetch_optional(conn.get()?).await?;
        conn.release();
        Ok(row)
    }

    async fn fetch_all_on(self, db: &Db) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut conn = db.conn().await?;
        let rows = self.fetch_all(conn.get()?).await?;
        conn.release();
        Ok(rows)
    }

    async fn fetch_one_on(self, db: &Db) -> Result<AnyRow, sqlx::Error> {
        let mut conn = db.conn().await?;
        // `RowNotFound` is an answer, not a broken connection
        let row = match self.fetch_one(conn.get()?).await {
            Err(sqlx::Error::RowNotFound) => {
                conn.release();
                return Err(sqlx::Error::RowNotFound);
            }
            other => other?,
        };
        conn.release();
        Ok(row)
    }

    async fn execute_on(self, db: &Db) -> Result<AnyQueryResult, sqlx::Error> {
        let mut conn = db.conn().await?;
        let done = self.execute(conn.get()?).await?;
        conn.release();
        Ok(done)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Dsn;

    async fn file_db(dir: &tempfile::TempDir) -> Db {
        let path = dir.path().join("warm.sqlite");
        Db::connect(&Dsn::Sqlite(path.display().to_string()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_completed_statement_keeps_its_connection_warm_for_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        db.warm.drain();
        for _ in 0..5 {
            sqlx::query("SELECT 1").fetch_one_on(&db).await.unwrap();
        }
        assert_eq!(db.warm.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_statement_hands_its_connection_back_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        db.warm.drain();
        let e = sqlx::query("SELECT * FROM no_such_table")
            .fetch_all_on(&db)
            .await;
        assert!(e.is_err());
        assert_eq!(db.warm.len(), 0);
        let none = sqlx::query("SELECT 1 WHERE 1 = 0").fetch_one_on(&db).await;
        assert!(matches!(none, Err(sqlx::Error::RowNotFound)));
        assert_eq!(
            db.warm.len(),
            1,
            "no row is an answer, not a broken connection"
        );
    }

    #[tokio::test]
    async fn at_most_half_the_pool_stays_warm_and_closing_takes_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        // six statements at once (of a pool of eight): six connections
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(db.conn().await.unwrap());
        }
        for conn in held {
            conn.release();
        }
        assert_eq!(db.warm.len(), 4);
        tokio::time::timeout(Duration::from_secs(5), db.close())
            .await
            .expect("close returns with warm connections");
        assert_eq!(db.warm.len(), 0);
        assert!(db.pool.is_closed());
    }

    #[tokio::test]
    async fn an_exhausted_pool_gets_the_connection_back_for_its_waiters() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        db.warm.drain();
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(db.conn().await.unwrap());
        }
        // a ninth statement waits in sqlx's queue
        let waiter = tokio::spawn({
            let db = db.clone();
            async move { sqlx::query("SELECT 1").fetch_one_on(&db).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        held.pop().unwrap().release();
        assert_eq!(
            db.warm.len(),
            0,
            "the released connection went to the waiter"
        );
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter got a connection")
            .unwrap()
            .unwrap();
    }
}
