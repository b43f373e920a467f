//! Group commit of issued tokens: concurrent inserts coalesced into one multi-row INSERT per
//! batch, each request answered after its commit; a row may be conditional on its client's
//! revision (`Store::insert_token_if_client_is`).

use std::sync::{Arc, LazyLock, OnceLock};

use sqlx::FromRow;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::super::error::{Error, Result};
use super::super::grant::TokenRow;
use crate::store::{Backend, Db, OnDb};

/// Token rows per INSERT statement at most (9 parameters each: well under both backends' limits).
const TOKEN_BATCH_MAX: usize = 128;
/// Batches written at the same time (each on its own pooled connection).
const TOKEN_BATCHES_IN_FLIGHT: usize = 4;
const TOKEN_COLUMNS: &str =
    "signature, kind, request_id, client_id, subject, active, requested_at, expires_at, session";

/// `INSERT … SELECT … FROM (VALUES (…), (…)) … RETURNING signature` for `n` rows. Each row
/// carries a tenth value, the client revision it was issued under (`-1`: none to check), and
/// is inserted only if that client row still has it; the statement returns the signatures it
/// stored. SQLite gets anonymous `?` placeholders: sqlx's SQLite driver resolves every `$n` by
/// name, which grows quadratically with a batch's parameter count.
pub(super) fn token_insert_sql(backend: Backend, n: usize) -> String {
    let mut sql = format!(
        "INSERT INTO oauth2_tokens ({TOKEN_COLUMNS}) SELECT column1, column2, column3, column4, \
         column5, column6, column7, column8, column9 FROM (VALUES "
    );
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        match backend {
            Backend::Sqlite => sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            Backend::Postgres => {
                let p: Vec<String> = (1..=10).map(|k| format!("${}", i * 10 + k)).collect();
                sql.push_str(&format!("({})", p.join(", ")));
            }
        }
    }
    sql.push_str(
        ") AS v WHERE v.column10 < 0 OR EXISTS (SELECT 1 FROM oauth2_clients c \
         WHERE c.id = v.column4 AND c.revision = v.column10) RETURNING signature",
    );
    sql
}

/// [`token_insert_sql`] for a batch of `n` (1 ..= [`TOKEN_BATCH_MAX`]), built once per size.
fn batch_insert_sql(backend: Backend, n: usize) -> &'static str {
    type Texts = [OnceLock<String>; TOKEN_BATCH_MAX];
    static SQLITE: LazyLock<Texts> = LazyLock::new(|| std::array::from_fn(|_| OnceLock::new()));
    static POSTGRES: LazyLock<Texts> = LazyLock::new(|| std::array::from_fn(|_| OnceLock::new()));
    let texts = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let n = n.clamp(1, TOKEN_BATCH_MAX);
    texts[n - 1].get_or_init(|| token_insert_sql(backend, n))
}

/// Group commit for token inserts: every issuance writes a row, and on PostgreSQL each commit
/// waits for the WAL to reach the disk. Requests queue their row; a writer task takes whatever
/// has queued (up to [`TOKEN_BATCH_MAX`]) and writes it as one INSERT, answering each request
/// only after the commit — a token is never handed out before it is stored. If a batch fails
/// (say, one duplicate signature), its rows are retried one by one so that each request gets its
/// own answer. The task starts on first use (inside the runtime) and ends with the last `Store`.
#[derive(Debug)]
pub struct TokenWriter {
    db: Db,
    queue: OnceLock<mpsc::UnboundedSender<PendingToken>>,
}

#[derive(Debug)]
struct PendingToken {
    row: TokenRow,
    /// The client revision the row is conditional on (see [`Store::insert_token_if_client_is`]).
    client_revision: Option<i64>,
    /// Whether the row was stored (`false` only when its client revision no longer held).
    done: oneshot::Sender<Result<bool>>,
}

impl TokenWriter {
    pub(super) fn new(db: Db) -> TokenWriter {
        TokenWriter {
            db,
            queue: OnceLock::new(),
        }
    }

    pub(super) async fn insert(&self, row: TokenRow, client_revision: Option<i64>) -> Result<bool> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_tokens(self.db.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        let pending = PendingToken {
            row,
            client_revision,
            done,
        };
        if queue.send(pending).is_err() {
            return Err(Error::Internal("the token writer has stopped".into()));
        }
        answer
            .await
            .map_err(|_| Error::Internal("the token writer dropped a token".into()))?
    }
}

/// The writer task: drains the queue in batches, at most [`TOKEN_BATCHES_IN_FLIGHT`] at once.
async fn write_tokens(db: Db, mut queue: mpsc::UnboundedReceiver<PendingToken>) {
    // SQLite has one writer at a time: a second batch in flight would only wait on the lock
    // (in busy_timeout's sleeps) instead of joining the next batch.
    let batches = match db.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => TOKEN_BATCHES_IN_FLIGHT,
    };
    let in_flight = Arc::new(Semaphore::new(batches));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(TOKEN_BATCH_MAX);
        if queue.recv_many(&mut batch, TOKEN_BATCH_MAX).await == 0 {
            return;
        }
        let db = db.clone();
        tokio::spawn(async move {
            write_token_batch(&db, batch).await;
            drop(permit);
        });
    }
}

async fn write_token_batch(db: &Db, batch: Vec<PendingToken>) {
    match insert_token_rows(db, &batch).await {
        Ok(stored) => {
            for p in batch {
                let _ = p.done.send(Ok(stored.contains(&p.row.signature)));
            }
        }
        Err(_) if batch.len() > 1 => {
            for p in batch {
                let result = insert_token_rows(db, std::slice::from_ref(&p))
                    .await
                    .map(|stored| !stored.is_empty());
                let _ = p.done.send(result);
            }
        }
        Err(e) => {
            for p in batch {
                let _ = p.done.send(Err(Error::Internal(e.to_string())));
            }
        }
    }
}

/// One INSERT of `pending` (one implicit transaction: all or none); the signatures stored (all
/// but those whose client revision no longer held).
async fn insert_token_rows(
    db: &Db,
    pending: &[PendingToken],
) -> Result<std::collections::HashSet<String>> {
    let mut query = sqlx::query(batch_insert_sql(db.backend(), pending.len()));
    for p in pending {
        let t = &p.row;
        query = query
            .bind(&t.signature)
            .bind(t.kind.as_str())
            .bind(&t.request_id)
            .bind(&t.client_id)
            .bind(&t.subject)
            .bind(i64::from(t.active))
            .bind(t.requested_at)
            .bind(t.expires_at)
            .bind(&t.session)
            .bind(p.client_revision.unwrap_or(-1));
    }
    let rows = query.fetch_all_on(db).await?;
    rows.iter()
        .map(|row| {
            <(String,)>::from_row(row)
                .map(|(s,)| s)
                .map_err(Error::from)
        })
        .collect()
}
