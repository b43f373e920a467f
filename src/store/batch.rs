//! Point reads coalesced across concurrent requests: while up to `max_in_flight` statements
//! run, further keys queue, and the next statement fetches every queued key at once (at most
//! `max_keys`). Under load one statement answers many requests — one SQLite worker hand-off
//! or one PostgreSQL round trip instead of one each — and an idle caller waits for nobody.
//!
//! A caller that finds no statement in flight runs its own at once in its own task (no
//! spawned task, no hand-off between threads: a sequential client pays nothing for the
//! batching); callers that arrive meanwhile queue for the next shared statement.
//!
//! A key never joins a statement that had already started when it was asked for, so every
//! answer is as fresh as a statement of the caller's own: a write that committed before the
//! call is always seen (nothing here caches).
//!
//! Statements run on tasks of their own, so a caller that goes away (its request cancelled)
//! never strands the others. When a batch's statement fails, each of its callers runs its own
//! key alone and gets its own error.

use std::collections::{HashMap, VecDeque};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use tokio::sync::oneshot;

use super::{Db, OnDb};

/// Fetches the values of some keys; keys without a value are left out of the answer.
pub type Loader<K, V, E> =
    dyn Fn(Vec<K>) -> BoxFuture<'static, Result<Vec<(K, V)>, E>> + Send + Sync;

/// A coalescing reader of one kind of row by key.
pub struct Batcher<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Clone for Batcher<K, V, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V, E> std::fmt::Debug for Batcher<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_keys", &self.inner.max_keys)
            .field("max_in_flight", &self.inner.max_in_flight)
            .finish()
    }
}

struct Inner<K, V, E> {
    load: Box<Loader<K, V, E>>,
    max_keys: usize,
    max_in_flight: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    queue: VecDeque<(K, oneshot::Sender<Answer<V>>)>,
    in_flight: usize,
}

enum Answer<V> {
    Found(Option<V>),
    /// The batch's statement failed: the caller asks alone.
    Failed,
}

impl<K, V, E> Batcher<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + 'static,
    E: Display + Send + 'static,
{
    /// `load` gets between 1 and `max_keys` distinct keys.
    pub fn new(
        max_keys: usize,
        max_in_flight: usize,
        load: impl Fn(Vec<K>) -> BoxFuture<'static, Result<Vec<(K, V)>, E>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                load: Box::new(load),
                max_keys: max_keys.max(1),
                max_in_flight: max_in_flight.max(1),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    in_flight: 0,
                }),
            }),
        }
    }

    /// The value of `key`, read by a statement that starts after this call.
    pub async fn get(&self, key: K) -> Result<Option<V>, E> {
        if let Some(slot) = Slot::claim_idle(&self.inner) {
            // Nobody to share with: the caller's own task runs the statement (no spawned
            // task, no hand-off between threads) while holding a slot, so that keys asked
            // for meanwhile queue for the next statement.
            let rows = (self.inner.load)(vec![key.clone()]).await;
            drop(slot);
            return Ok(rows?.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v));
        }
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.inner.lock();
            state.queue.push_back((key.clone(), tx));
            let start = state.in_flight < self.inner.max_in_flight;
            if start {
                state.in_flight += 1;
            }
            start
        };
        if start {
            tokio::spawn(Running::new(self.inner.clone()).run());
        }
        match rx.await {
            Ok(Answer::Found(value)) => Ok(value),
            // The batch failed, or its task was cancelled (runtime shutdown): ask alone.
            Ok(Answer::Failed) | Err(_) => {
                let rows = (self.inner.load)(vec![key.clone()]).await?;
                Ok(rows.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v))
            }
        }
    }
}

#[cfg(test)]
impl<K, V, E> Batcher<K, V, E> {
    /// Keys waiting for a statement (tests watch the queue instead of sleeping).
    fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }
}

impl<K, V, E> Inner<K, V, E> {
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The slot of a lone caller running its own statement. Released, it hands the slot to a
/// [`Running`] task when keys queued meanwhile, else frees it.
struct Slot<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + 'static,
    E: Display + Send + 'static,
{
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Slot<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + 'static,
    E: Display + Send + 'static,
{
    /// A slot when no statement is in flight.
    fn claim_idle(inner: &Arc<Inner<K, V, E>>) -> Option<Self> {
        let mut state = inner.lock();
        if state.in_flight > 0 || !state.queue.is_empty() {
            return None;
        }
        state.in_flight += 1;
        Some(Self {
            inner: inner.clone(),
        })
    }
}

impl<K, V, E> Drop for Slot<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + 'static,
    E: Display + Send + 'static,
{
    fn drop(&mut self) {
        let runtime = tokio::runtime::Handle::try_current();
        let mut state = self.inner.lock();
        match runtime {
            Ok(runtime) if !state.queue.is_empty() => {
                drop(state);
                runtime.spawn(Running::new(self.inner.clone()).run());
            }
            _ => {
                state.in_flight -= 1;
                if state.in_flight == 0 {
                    // outside a runtime nobody can run them: they ask alone
                    state.queue.clear();
                }
            }
        }
    }
}

/// One in-flight slot: runs batches while keys are queued, then frees the slot. Dropped
/// without finishing (a panic in the loader, runtime shutdown), it frees the slot and drops
/// the queued callers' senders, so that they ask alone instead of waiting forever.
struct Running<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
    finished: bool,
}

impl<K, V, E> Running<K, V, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + 'static,
    E: Display + Send + 'static,
{
    fn new(inner: Arc<Inner<K, V, E>>) -> Self {
        Self {
            inner,
            finished: false,
        }
    }

    async fn run(mut self) {
        while let Some(batch) = self.next_batch() {
            self.answer(batch).await;
        }
        self.finished = true;
    }

    /// The next queued keys whose callers still wait; `None` (and the slot freed) when none.
    fn next_batch(&self) -> Option<Vec<(K, oneshot::Sender<Answer<V>>)>> {
        let mut state = self.inner.lock();
        loop {
            if state.queue.is_empty() {
                state.in_flight -= 1;
                return None;
            }
            let n = state.queue.len().min(self.inner.max_keys);
            let batch: Vec<_> = state
                .queue
                .drain(..n)
                .filter(|(_, tx)| !tx.is_closed())
                .collect();
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }

    async fn answer(&self, batch: Vec<(K, oneshot::Sender<Answer<V>>)>) {
        let mut wanted: HashMap<K, usize> = HashMap::with_capacity(batch.len());
        for (key, _) in &batch {
            *wanted.entry(key.clone()).or_default() += 1;
        }
        let keys: Vec<K> = wanted.keys().cloned().collect();
        match (self.inner.load)(keys).await {
            Ok(rows) => {
                let mut found: HashMap<K, V> = rows.into_iter().collect();
                for (key, tx) in batch {
                    // The last caller of a key takes the value; earlier ones get copies.
                    let value = match wanted.get_mut(&key) {
                        Some(left) if *left > 1 => {
                            *left -= 1;
                            found.get(&key).cloned()
                        }
                        _ => found.remove(&key),
                    };
                    let _ = tx.send(Answer::Found(value));
                }
            }
            Err(error) => {
                tracing::debug!(%error, keys = batch.len(), "a batched read failed; each caller asks alone");
                for (_, tx) in batch {
                    let _ = tx.send(Answer::Failed);
                }
            }
        }
    }
}

impl<K, V, E> Drop for Running<K, V, E> {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.inner.lock();
            state.in_flight -= 1;
            if state.in_flight == 0 {
                state.queue.clear();
            }
        }
    }
}

/// The statements of one keyed read, `… WHERE key IN (…)`: one per power of two up to the
/// batch size, so that a handful of prepared statements serve every batch (the extra
/// placeholders repeat a key).
#[derive(Debug)]
pub struct InList {
    statements: Vec<String>,
}

impl InList {
    /// `sql` holds `{keys}` where the placeholder list goes.
    pub fn new(max_keys: usize, sql: &str) -> Self {
        let statements = (0..=padded_len(max_keys).trailing_zeros())
            .map(|p| sql.replace("{keys}", &placeholders(1, 1 << p)))
            .collect();
        Self { statements }
    }

    /// The rows of `keys` (at most the batch size), in one statement.
    pub async fn fetch(&self, db: &Db, keys: &[String]) -> Result<Vec<AnyRow>, sqlx::Error> {
        let Some(last) = keys.last() else {
            return Ok(Vec::new());
        };
        let n = padded_len(keys.len());
        let Some(sql) = self.statements.get(n.trailing_zeros() as usize) else {
            return Err(sqlx::Error::InvalidArgument(format!(
                "{} keys for a statement of at most {}",
                keys.len(),
                1usize << (self.statements.len().saturating_sub(1))
            )));
        };
        let mut query = sqlx::query(sql.as_str());
        for key in keys.iter().chain(std::iter::repeat_n(last, n - keys.len())) {
            query = query.bind(key.as_str());
        }
        query.fetch_all_on(db).await
    }
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` placeholders.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement size for `n` keys: the next power of two, so that a handful of prepared
/// statements cover every batch (the extra placeholders repeat a key).
pub fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    type Calls = Arc<Mutex<Vec<Vec<u32>>>>;

    /// Squares every key but 13 (absent) and 99 (fails the whole statement); each statement
    /// takes `delay`.
    fn squares(delay: Duration) -> (Batcher<u32, u64, String>, Calls) {
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        let batcher = Batcher::new(8, 2, move |keys: Vec<u32>| {
            seen.lock().unwrap().push(keys.clone());
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if keys.contains(&99) {
                    return Err("key 99 breaks the statement".to_string());
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| *k != 13)
                    .map(|k| (k, u64::from(k) * u64::from(k)))
                    .collect())
            }) as BoxFuture<'static, _>
        });
        (batcher, calls)
    }

    #[tokio::test]
    async fn a_lone_caller_gets_its_own_statement_at_once() {
        let (batcher, calls) = squares(Duration::ZERO);
        assert_eq!(batcher.get(7).await.unwrap(), Some(49));
        assert_eq!(batcher.get(13).await.unwrap(), None);
        assert_eq!(*calls.lock().unwrap(), vec![vec![7], vec![13]]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_statements_and_each_gets_its_own_value() {
        let (batcher, calls) = squares(Duration::from_millis(20));
        let mut tasks = Vec::new();
        for k in 0..40u32 {
            let b = batcher.clone();
            // key 5 asked four times: every caller gets the value
            let key = if k % 10 == 0 { 5 } else { k };
            tasks.push(tokio::spawn(async move { (key, b.get(key).await) }));
        }
        for t in tasks {
            let (key, got) = t.await.unwrap();
            let expected = (key != 13).then(|| u64::from(key) * u64::from(key));
            assert_eq!(got.unwrap(), expected, "key {key}");
        }
        let calls = calls.lock().unwrap();
        assert!(
            calls.len() < 40 / 2,
            "{} statements for 40 callers",
            calls.len()
        );
        for keys in calls.iter() {
            assert!(
                !keys.is_empty() && keys.len() <= 8,
                "batch of {}",
                keys.len()
            );
            let mut distinct = keys.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), keys.len(), "keys repeat in {keys:?}");
        }
    }

    #[tokio::test]
    async fn a_caller_never_joins_a_statement_that_started_before_it() {
        let (batcher, calls) = squares(Duration::from_millis(30));
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.get(1).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await; // the statement for 1 is running
        let (b2, b3) = (batcher.clone(), batcher.clone());
        let second = tokio::spawn(async move { b2.get(2).await });
        let third = tokio::spawn(async move { b3.get(3).await });
        tokio::time::sleep(Duration::from_millis(5)).await; // both slots busy
        let (b4, b5) = (batcher.clone(), batcher.clone());
        let later = tokio::join!(b4.get(4), b5.get(5));
        assert_eq!(first.await.unwrap().unwrap(), Some(1));
        assert_eq!(second.await.unwrap().unwrap(), Some(4));
        assert_eq!(third.await.unwrap().unwrap(), Some(9));
        assert_eq!((later.0.unwrap(), later.1.unwrap()), (Some(16), Some(25)));
        let calls = calls.lock().unwrap();
        assert_eq!(calls[0], vec![1]);
        for keys in &calls[1..] {
            assert!(!keys.contains(&1), "{keys:?} re-read key 1");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_batch_lets_each_caller_ask_alone() {
        let (batcher, calls) = squares(Duration::from_millis(10));
        let busy = batcher.clone();
        let hold = tokio::spawn(async move { busy.get(50).await });
        let hold2 = {
            let b = batcher.clone();
            tokio::spawn(async move { b.get(51).await })
        };
        tokio::time::sleep(Duration::from_millis(3)).await;
        // 98 and 99 queue behind the running statements and go in one batch, which fails
        let (a, b) = tokio::join!(batcher.get(98), batcher.get(99));
        assert_eq!(a.unwrap(), Some(98 * 98));
        assert_eq!(b.unwrap_err(), "key 99 breaks the statement");
        assert_eq!(hold.await.unwrap().unwrap(), Some(2500));
        assert_eq!(hold2.await.unwrap().unwrap(), Some(2601));
        let calls = calls.lock().unwrap();
        assert!(calls.contains(&vec![98]), "98 asked alone: {calls:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_callers_strand_nobody() {
        // Statements wait at a gate the test opens: the first callers give up while theirs
        // is still running, however slowly the machine schedules the test (a statement that
        // merely slept could finish before a stalled caller's timeout fired).
        let (open, gate) = tokio::sync::watch::channel(false);
        let started = Arc::new(AtomicUsize::new(0));
        let seen = started.clone();
        let batcher: Batcher<u32, u32, String> = Batcher::new(4, 1, move |keys: Vec<u32>| {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut gate = gate.clone();
            Box::pin(async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(keys.into_iter().map(|k| (k, k)).collect())
            }) as BoxFuture<'static, _>
        });
        // the first caller gives up while its statement runs; callers queued behind it
        // (some also giving up) still get answers
        let first = tokio::time::timeout(Duration::from_millis(2), batcher.get(1)).await;
        assert!(first.is_err());
        let gone = tokio::time::timeout(Duration::from_millis(1), batcher.get(2)).await;
        assert!(gone.is_err());
        assert!(started.load(Ordering::SeqCst) >= 1, "a statement started");
        open.send(true).unwrap();
        assert_eq!(batcher.get(3).await.unwrap(), Some(3));
        assert_eq!(batcher.get(4).await.unwrap(), Some(4));
    }

    /// Waits (briefly yielding, never for a fixed time) until `done` holds.
    async fn until(done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "condition not reached"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_callers_slot_passes_to_the_callers_queued_behind_it() {
        // Statements wait at a gate, and the test watches the statements and the queue, so
        // that a slow machine cannot reorder the steps.
        let (open, gate) = tokio::sync::watch::channel(false);
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        let batcher: Batcher<u32, u64, String> = Batcher::new(8, 2, move |keys: Vec<u32>| {
            seen.lock().unwrap().push(keys.clone());
            let mut gate = gate.clone();
            Box::pin(async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(keys
                    .into_iter()
                    .map(|k| (k, u64::from(k) * u64::from(k)))
                    .collect())
            }) as BoxFuture<'static, _>
        });
        // the first caller finds the batcher idle and runs its statement in its own task
        let b = batcher.clone();
        let lone = tokio::spawn(async move { b.get(1).await });
        until(|| calls.lock().unwrap().len() == 1).await;
        let b = batcher.clone();
        let second = tokio::spawn(async move { b.get(2).await });
        until(|| calls.lock().unwrap().len() == 2).await; // both slots busy
        let (b3, b4) = (batcher.clone(), batcher.clone());
        let queued = tokio::spawn(async move { tokio::join!(b3.get(3), b4.get(4)) });
        until(|| batcher.queued() == 2).await;
        // the lone caller goes away mid-statement: its slot runs the queued keys
        lone.abort();
        until(|| calls.lock().unwrap().len() == 3).await;
        open.send(true).unwrap();
        let (three, four) = tokio::time::timeout(Duration::from_secs(5), queued)
            .await
            .expect("queued callers answered")
            .unwrap();
        assert_eq!((three.unwrap(), four.unwrap()), (Some(9), Some(16)));
        assert_eq!(second.await.unwrap().unwrap(), Some(4));
        let calls = calls.lock().unwrap();
        assert_eq!(calls[0], vec![1]);
        let shared = calls.iter().any(|keys| {
            let mut keys = keys.clone();
            keys.sort_unstable();
            keys == vec![3, 4]
        });
        assert!(shared, "3 and 4 in one statement: {calls:?}");
    }

    #[tokio::test]
    async fn an_in_list_reads_any_batch_size_in_one_statement() {
        use crate::config::Dsn;
        use sqlx::Row;
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        sqlx::query("CREATE TABLE batch_test (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            .execute_on(&db)
            .await
            .unwrap();
        for i in 0..8i64 {
            sqlx::query("INSERT INTO batch_test (k, v) VALUES ($1, $2)")
                .bind(format!("k{i}"))
                .bind(i * 10)
                .execute_on(&db)
                .await
                .unwrap();
        }
        let list = InList::new(
            4,
            "SELECT k, v FROM batch_test WHERE k IN ({keys}) ORDER BY k",
        );
        let read = |keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            let (db, list) = (&db, &list);
            async move {
                list.fetch(db, &keys).await.map(|rows| {
                    rows.iter()
                        .map(|r| (r.get::<String, _>("k"), r.get::<i64, _>("v")))
                        .collect::<Vec<_>>()
                })
            }
        };
        assert_eq!(read(&[]).await.unwrap(), vec![]);
        assert_eq!(read(&["k3"]).await.unwrap(), vec![("k3".into(), 30)]);
        // three keys go in the four-placeholder statement; absent keys are left out
        assert_eq!(
            read(&["k1", "nope", "k7"]).await.unwrap(),
            vec![("k1".into(), 10), ("k7".into(), 70)]
        );
        assert_eq!(read(&["k0", "k2", "k4", "k6"]).await.unwrap().len(), 4);
        let too_many = read(&["k0", "k1", "k2", "k3", "k4"]).await.unwrap_err();
        assert!(
            too_many
                .to_string()
                .contains("5 keys for a statement of at most 4"),
            "{too_many}"
        );
        db.close().await;
    }

    #[test]
    fn statements_come_in_powers_of_two() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(
            [1, 2, 3, 5, 8, 9, 64].map(padded_len),
            [1, 2, 4, 8, 8, 16, 64]
        );
    }
}
