//! The relation-tuple store: the only module of the role that knows SQL. Portable SQL over
//! `Db` (SQLite and PostgreSQL), every write in one transaction, and the few queries the
//! check engine needs per frontier of its search (`K:internal/persistence/sql/traverser.go`).

use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Transaction};

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use super::error::{PermissionError, Result};
use super::tuple::{RelationTuple, Subject, SubjectSet, TupleFilter};
use crate::store::batch::Batcher;
use crate::store::time::{Clock, Micros};
use crate::store::{Backend, Db, OnDb};

/// Rows per multi-row INSERT of [`TupleStore::insert_missing`] (at most 8 parameters each:
/// well under SQLite's 32766 and PostgreSQL's 65535 bind parameters).
pub const INSERT_ROWS: usize = 500;

/// Keto's page size for internal scans (subject-set expansion pages through 1000 rows).
const SCAN_PAGE: i64 = 1000;

/// Relation tuples in the shared database.
#[derive(Clone, Debug)]
pub struct TupleStore {
    db: Db,
    /// SQL statements issued by the engine's read paths (for benchmarks and tests).
    queries: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The frontiers of concurrent checks, coalesced into shared statements.
    frontiers: Batcher<Arc<Frontier>, Arc<Lookups>, PermissionError>,
    /// Stamps `commit_time` on written tuples.
    clock: Clock,
}

/// A stored row: the tuple and its page key.
#[derive(Debug, Clone)]
pub struct StoredTuple {
    pub id: String,
    pub tuple: RelationTuple,
}

/// A row of `permission_relation_tuples` ([`COLUMNS`]).
#[derive(FromRow)]
struct Row8 {
    id: String,
    namespace: String,
    object: String,
    relation: String,
    subject_id: Option<String>,
    #[sqlx(rename = "subject_set_namespace")]
    ss_namespace: Option<String>,
    #[sqlx(rename = "subject_set_object")]
    ss_object: Option<String>,
    #[sqlx(rename = "subject_set_relation")]
    ss_relation: Option<String>,
}

impl Row8 {
    fn into_stored(self) -> StoredTuple {
        let subject = match (self.subject_id, self.ss_namespace) {
            (Some(id), _) => Subject::Id(id),
            (None, ns) => Subject::Set(SubjectSet {
                namespace: ns.unwrap_or_default(),
                object: self.ss_object.unwrap_or_default(),
                relation: self.ss_relation.unwrap_or_default(),
            }),
        };
        StoredTuple {
            id: self.id,
            tuple: RelationTuple {
                namespace: self.namespace,
                object: self.object,
                relation: self.relation,
                subject,
            },
        }
    }
}

const COLUMNS: &str = "id, namespace, object, relation, subject_id, subject_set_namespace, subject_set_object, subject_set_relation";

/// A WHERE clause under construction with `$n` placeholders and its string arguments.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<String>,
}

impl Where {
    fn eq(&mut self, column: &str, value: &str) {
        self.args.push(value.to_string());
        self.clauses
            .push(format!("{column} = ${}", self.args.len()));
    }

    fn raw(&mut self, clause: &str) {
        self.clauses.push(clause.to_string());
    }

    fn subject(&mut self, subject: &Subject) {
        self.subject_in("", subject);
    }

    /// The subject's columns of the table `prefix` names (`"inner_t."`, or `""`).
    fn subject_in(&mut self, prefix: &str, subject: &Subject) {
        match subject {
            Subject::Id(id) => self.eq(&format!("{prefix}subject_id"), id),
            // (no `subject_id IS NULL`: the table's CHECK constraints imply it, and that
            // clause would lure SQLite onto the subject-id index)
            Subject::Set(set) => {
                self.eq(&format!("{prefix}subject_set_namespace"), &set.namespace);
                self.eq(&format!("{prefix}subject_set_object"), &set.object);
                self.eq(&format!("{prefix}subject_set_relation"), &set.relation);
            }
        }
    }

    fn filter(&mut self, filter: &TupleFilter) {
        if let Some(v) = &filter.namespace {
            self.eq("namespace", v);
        }
        if let Some(v) = &filter.object {
            self.eq("object", v);
        }
        if let Some(v) = &filter.relation {
            self.eq("relation", v);
        }
        if let Some(s) = &filter.subject {
            self.subject(s);
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }

    fn next(&self) -> usize {
        self.args.len() + 1
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [String],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = q.bind(a.as_str());
    }
    q
}

/// `(namespace, object, relation)`: one `ns:obj#rel` a check hop looks at.
pub type Key = (String, String, String);

/// Keys of each kind per statement of [`TupleStore::lookup_many`] (three bind parameters
/// each: well under both backends' limits).
const KEYS_PER_STATEMENT: usize = 100;

/// The answers of [`TupleStore::lookup_many`].
#[derive(Debug, Default, Clone)]
pub struct Lookups {
    /// The direct keys that store `key@subject`.
    pub direct: HashSet<Key>,
    /// Per expansion key: its subject sets in page-key order, with the look-ahead flag.
    pub expansion: HashMap<Key, Vec<(SubjectSet, bool)>>,
    /// The same for every subject set those rows name (the next hop, read by the same
    /// statement): what the expansion of that set would answer, possibly nothing.
    pub next_hop: HashMap<Key, Vec<(SubjectSet, bool)>>,
}

fn nth_chunk(keys: &[Key], n: usize) -> &[Key] {
    let start = (n * KEYS_PER_STATEMENT).min(keys.len());
    let end = (start + KEYS_PER_STATEMENT).min(keys.len());
    &keys[start..end]
}

/// `(ns = $a AND obj = $b AND rel = $c) OR …` over `keys`, columns prefixed by `table`.
fn keys_clause(w: &mut Where, table: &str, keys: &[Key]) -> String {
    let ors: Vec<String> = keys
        .iter()
        .map(|(ns, obj, rel)| {
            let n = w.next();
            w.args.extend([ns.clone(), obj.clone(), rel.clone()]);
            format!(
                "({table}namespace = ${} AND {table}object = ${} AND {table}relation = ${})",
                n,
                n + 1,
                n + 2
            )
        })
        .collect();
    ors.join(" OR ")
}

/// The `SELECT`s of one frontier's lookups, each row tagged with `q` (the frontier's place
/// in a shared statement): the direct lookups (`kind` 0) and the expansion rows (`kind` 1),
/// at least one list non-empty. Placeholders continue after `args`.
fn lookup_parts(
    args: &mut Vec<String>,
    q: usize,
    direct: &[Key],
    expansion: &[Key],
    subject: &Subject,
) -> Vec<String> {
    let mut parts = Vec::new();
    if !direct.is_empty() {
        let mut s = Where {
            args: std::mem::take(args),
            ..Where::default()
        };
        s.subject(subject);
        let keys = keys_clause(&mut s, "", direct);
        parts.push(format!(
            "SELECT {q} AS q, 0 AS kind, namespace AS n, object AS o, relation AS r, \
             CAST(NULL AS TEXT) AS ns, CAST(NULL AS TEXT) AS obj, CAST(NULL AS TEXT) AS rel, \
             1 AS found, CAST(NULL AS TEXT) AS id FROM permission_relation_tuples \
             WHERE {} AND ({keys})",
            s.sql()
        ));
        *args = s.args;
    }
    if !expansion.is_empty() {
        // kind 1: the expansion rows of the keys; kind 2: the expansion rows of the subject
        // sets those rows name (the next hop, prefetched: a chain of nested sets costs one
        // statement per two hops)
        for (kind, row) in [(1, "cur"), (2, "nxt")] {
            let mut inner = Where {
                args: std::mem::take(args),
                ..Where::default()
            };
            inner.raw(&format!("inner_t.namespace = {row}.subject_set_namespace"));
            inner.raw(&format!("inner_t.object = {row}.subject_set_object"));
            inner.raw(&format!("inner_t.relation = {row}.subject_set_relation"));
            inner.subject_in("inner_t.", subject);
            let keys = keys_clause(&mut inner, "cur.", expansion);
            // `CROSS JOIN` keeps `cur` the outer loop in SQLite; so led, it finds the next
            // hop's subject-set rows through an index on all four columns (a plain join
            // starts from every subject-set row of the table)
            let (next_hop, next_rows) = if kind == 2 {
                (
                    " CROSS JOIN permission_relation_tuples AS nxt",
                    "nxt.namespace = cur.subject_set_namespace \
                     AND nxt.object = cur.subject_set_object \
                     AND nxt.relation = cur.subject_set_relation \
                     AND nxt.subject_id IS NULL AND ",
                )
            } else {
                ("", "")
            };
            parts.push(format!(
                "SELECT {q} AS q, {kind} AS kind, {row}.namespace AS n, {row}.object AS o, \
                 {row}.relation AS r, {row}.subject_set_namespace AS ns, \
                 {row}.subject_set_object AS obj, {row}.subject_set_relation AS rel, \
                 CASE WHEN EXISTS (SELECT 1 FROM permission_relation_tuples AS inner_t WHERE {}) \
                 THEN 1 ELSE 0 END AS found, {row}.id AS id \
                 FROM permission_relation_tuples AS cur{next_hop} \
                 WHERE {next_rows}(cur.subject_id || '') IS NULL AND ({keys})",
                inner.sql()
            ));
            *args = inner.args;
        }
    }
    parts
}

/// The lookups of one frontier of one check (the arguments of [`TupleStore::lookup_many`]),
/// the key under which concurrent checks share statements.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frontier {
    direct: Vec<Key>,
    expansion: Vec<Key>,
    subject: Subject,
}

/// Frontiers with at most this many keys share statements with other checks' frontiers;
/// larger ones go alone (their statement is big enough to carry its hand-off).
const SHARED_FRONTIER_KEYS: usize = 16;
/// At most this many frontiers per shared statement, and this many shared statements at once.
/// One at a time lets every frontier arriving meanwhile share the next statement: at 64
/// connections (`BENCH_ORGS=1000 DURATION=5s benches/permission_load.sh`), 1 × 32 answered
/// direct/2-hop/4-hop checks at 37-40k/26-32k/12.5-12.7k per second where 4 × 16 gave
/// 27-30k/18-19k/8.5-9.2k.
const SHARED_FRONTIERS: usize = 32;
const SHARED_STATEMENTS: usize = 1;

/// An expansion row: page key, subject set, look-ahead flag.
type PageRow = (String, SubjectSet, bool);

/// The subject set a query names `ns`, `obj`, `rel` (NULL on subject-id rows: empty).
#[derive(FromRow)]
struct SetColumns {
    ns: Option<String>,
    obj: Option<String>,
    rel: Option<String>,
}

impl SetColumns {
    fn into_set(self) -> SubjectSet {
        SubjectSet {
            namespace: self.ns.unwrap_or_default(),
            object: self.obj.unwrap_or_default(),
            relation: self.rel.unwrap_or_default(),
        }
    }
}

/// A row of [`lookup_parts`]: integers are `BIGINT` on SQLite and `INTEGER` for literals on
/// PostgreSQL, both read as `i64`.
#[derive(FromRow)]
struct LookupRow {
    q: i64,
    kind: i64,
    n: String,
    o: String,
    r: String,
    #[sqlx(flatten)]
    set: SetColumns,
    found: i64,
    id: Option<String>,
}

/// A row of [`TupleStore::subject_set_expansion`].
#[derive(FromRow)]
struct ExpansionRow {
    id: String,
    #[sqlx(flatten)]
    set: SetColumns,
    found: i64,
}

/// Rows of [`lookup_parts`] sorted into one [`Lookups`] per frontier (`q`), expansion rows in
/// page-key order.
fn collect_lookups(rows: Vec<AnyRow>, out: &mut [Lookups]) -> Result<()> {
    let mut pages: HashMap<(usize, Key), Vec<PageRow>> = HashMap::new();
    let mut next_pages: HashMap<(usize, Key), Vec<PageRow>> = HashMap::new();
    for row in rows {
        let row = LookupRow::from_row(&row)?;
        let q = usize::try_from(row.q).unwrap_or(usize::MAX);
        let Some(lookups) = out.get_mut(q) else {
            continue;
        };
        let key: Key = (row.n, row.o, row.r);
        if row.kind == 0 {
            lookups.direct.insert(key);
            continue;
        }
        let set = row.set.into_set();
        let id: String = row.id.unwrap_or_default();
        let found = row.found != 0;
        if row.kind == 2 {
            next_pages
                .entry((q, key))
                .or_default()
                .push((id, set, found));
        } else {
            // every set named here had its next hop read, rows or none
            let next: Key = (
                set.namespace.clone(),
                set.object.clone(),
                set.relation.clone(),
            );
            next_pages.entry((q, next)).or_default();
            pages.entry((q, key)).or_default().push((id, set, found));
        }
    }
    for (next, pages) in [(false, pages), (true, next_pages)] {
        for ((q, key), mut rows) in pages {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let Some(lookups) = out.get_mut(q) else {
                continue;
            };
            let rows = rows
                .into_iter()
                .map(|(_, set, found)| (set, found))
                .collect();
            if next {
                lookups.next_hop.insert(key, rows);
            } else {
                lookups.expansion.insert(key, rows);
            }
        }
    }
    Ok(())
}

fn empty_lookups(expansion: &[Key]) -> Lookups {
    Lookups {
        direct: HashSet::new(),
        expansion: expansion.iter().map(|k| (k.clone(), Vec::new())).collect(),
        next_hop: HashMap::new(),
    }
}

/// The statement reader behind [`TupleStore::lookup_many`].
#[derive(Clone, Debug)]
struct Reader {
    db: Db,
    queries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Reader {
    fn count(&self) {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// One frontier, one statement per [`KEYS_PER_STATEMENT`] keys of each list.
    async fn lookup_alone(&self, frontier: &Frontier) -> Result<Lookups> {
        let (direct, expansion) = (&frontier.direct, &frontier.expansion);
        let mut out = [empty_lookups(expansion)];
        let rounds = direct
            .len()
            .max(expansion.len())
            .div_ceil(KEYS_PER_STATEMENT);
        for round in 0..rounds {
            let (d, e) = (nth_chunk(direct, round), nth_chunk(expansion, round));
            let mut args = Vec::new();
            let sql = positional(
                lookup_parts(&mut args, 0, d, e, &frontier.subject).join(" UNION ALL "),
                self.db.backend(),
            );
            self.count();
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all_on(&self.db)
                .await?;
            collect_lookups(rows, &mut out)?;
        }
        let [lookups] = out;
        Ok(lookups)
    }

    /// Several small frontiers (of concurrent checks) in one statement.
    async fn lookup_shared(
        self,
        frontiers: Vec<Arc<Frontier>>,
    ) -> Result<Vec<(Arc<Frontier>, Arc<Lookups>)>> {
        let mut out: Vec<Lookups> = frontiers
            .iter()
            .map(|f| empty_lookups(&f.expansion))
            .collect();
        if let [one] = frontiers.as_slice() {
            out[0] = self.lookup_alone(one).await?;
        } else {
            let mut args = Vec::new();
            let mut parts = Vec::new();
            for (q, f) in frontiers.iter().enumerate() {
                parts.extend(lookup_parts(
                    &mut args,
                    q,
                    &f.direct,
                    &f.expansion,
                    &f.subject,
                ));
            }
            let sql = positional(parts.join(" UNION ALL "), self.db.backend());
            self.count();
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all_on(&self.db)
                .await?;
            collect_lookups(rows, &mut out)?;
        }
        Ok(frontiers
            .into_iter()
            .zip(out.into_iter().map(Arc::new))
            .collect())
    }
}

impl TupleStore {
    pub fn new(db: Db) -> Self {
        let reader = Reader {
            db: db.clone(),
            queries: Default::default(),
        };
        let queries = reader.queries.clone();
        Self {
            db,
            queries,
            clock: Clock::system(),
            frontiers: Batcher::new(SHARED_FRONTIERS, SHARED_STATEMENTS, move |frontiers| {
                Box::pin(reader.clone().lookup_shared(frontiers))
            }),
        }
    }

    /// How many read statements the engine paths have issued so far.
    pub fn query_count(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self) {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    // `(cur.subject_id || '') IS NULL` rather than `cur.subject_id IS NULL`: the expression
    // keeps SQLite's planner from answering it with the subject-id index (a scan of every
    // subject-set row) instead of the (namespace, object, relation) page index.

    /// One frontier of a check: for `subject`, which of the `direct` keys (`ns:obj#rel`) store
    /// exactly `key@subject` (the direct lookup), and for each of the `expansion` keys its
    /// stored subject sets in page-key order, each with the one-hop look-ahead flag "is
    /// `subject` stored directly on that set" (Keto's expansion step). A small frontier shares
    /// one statement with the frontiers of concurrent checks (started after this call, so the
    /// answer is as fresh as a statement of its own); a large one costs one statement per
    /// [`KEYS_PER_STATEMENT`] keys of each list.
    pub async fn lookup_many(
        &self,
        direct: &[Key],
        expansion: &[Key],
        subject: &Subject,
    ) -> Result<Lookups> {
        let frontier = Frontier {
            direct: direct.to_vec(),
            expansion: expansion.to_vec(),
            subject: subject.clone(),
        };
        if direct.len() + expansion.len() > SHARED_FRONTIER_KEYS {
            let reader = Reader {
                db: self.db.clone(),
                queries: self.queries.clone(),
            };
            return reader.lookup_alone(&frontier).await;
        }
        let found = self.frontiers.get(Arc::new(frontier)).await?;
        Ok(found
            .map(|shared| Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone()))
            .unwrap_or_else(|| empty_lookups(expansion)))
    }

    /// The same store, stamping writes with `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn insert_in(
        tx: &mut Transaction<'_, Any>,
        tuple: &RelationTuple,
        now: Micros,
    ) -> Result<()> {
        let (sid, ssn, sso, ssr) = match &tuple.subject {
            Subject::Id(id) => (Some(id.as_str()), None, None, None),
            Subject::Set(s) => (
                None,
                Some(s.namespace.as_str()),
                Some(s.object.as_str()),
                Some(s.relation.as_str()),
            ),
        };
        sqlx::query(
            "INSERT INTO permission_relation_tuples (id, namespace, object, relation, subject_id, \
             subject_set_namespace, subject_set_object, subject_set_relation, commit_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id(now))
        .bind(tuple.namespace.as_str())
        .bind(tuple.object.as_str())
        .bind(tuple.relation.as_str())
        .bind(sid)
        .bind(ssn)
        .bind(sso)
        .bind(ssr)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn delete_in(tx: &mut Transaction<'_, Any>, filter: &TupleFilter) -> Result<u64> {
        let mut w = Where::default();
        w.filter(filter);
        let sql = format!("DELETE FROM permission_relation_tuples WHERE {}", w.sql());
        let done = bind_all(sqlx::query(&sql), &w.args)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Inserts the tuples, then deletes every stored copy of each tuple in `deletes`, in one
    /// transaction (Keto's `TransactRelationTuples`: inserts first, whatever the input order).
    pub async fn transact(
        &self,
        inserts: &[RelationTuple],
        deletes: &[RelationTuple],
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for t in inserts {
            Self::insert_in(&mut tx, t, self.clock.now()).await?;
        }
        for t in deletes {
            Self::delete_in(&mut tx, &t.as_filter()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts those of `tuples` that are not stored yet, in one transaction (all or
    /// nothing), sorted by key so that each statement touches neighbouring index pages, as
    /// multi-row `INSERT … SELECT … WHERE NOT EXISTS` statements of [`INSERT_ROWS`] rows;
    /// returns how many rows were written. `tuples` must hold no duplicates (one statement
    /// cannot see its own rows).
    pub async fn insert_missing(&self, tuples: &[RelationTuple]) -> Result<u64> {
        let (mut ids, mut sets): (Vec<&RelationTuple>, Vec<&RelationTuple>) = tuples
            .iter()
            .partition(|t| matches!(t.subject, Subject::Id(_)));
        ids.sort_unstable();
        sets.sort_unstable();
        let now = self.clock.now();
        let backend = self.db.backend();
        let mut inserted = 0;
        let mut tx = self.db.begin().await?;
        for chunk in ids.chunks(INSERT_ROWS) {
            inserted += Self::insert_missing_in(&mut tx, chunk, false, now, backend).await?;
        }
        for chunk in sets.chunks(INSERT_ROWS) {
            inserted += Self::insert_missing_in(&mut tx, chunk, true, now, backend).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Refreshes the planner's statistics of the tuple table (PostgreSQL; SQLite's planner
    /// needs none). A bulk load calls it as the table grows: PostgreSQL keeps the plan of a
    /// prepared statement made when the table was small (a sequential scan for the
    /// `NOT EXISTS` test) until the statistics change, and without autovacuum nothing changes
    /// them — a 1M-tuple import took 452 s instead of 28 s (`docs/benchmarks.md`).
    pub async fn refresh_statistics(&self) -> Result<()> {
        if self.db.backend() == Backend::Postgres {
            sqlx::query("ANALYZE permission_relation_tuples")
                .execute_on(&self.db)
                .await?;
        }
        Ok(())
    }

    /// One multi-row statement: every tuple of `chunk` has a subject id (`sets == false`)
    /// or every one a subject set.
    async fn insert_missing_in(
        tx: &mut Transaction<'_, Any>,
        chunk: &[&RelationTuple],
        sets: bool,
        now: i64,
        backend: Backend,
    ) -> Result<u64> {
        // VALUES columns are named column1… on SQLite and PostgreSQL alike.
        let (subject_columns, width, same_subject) = if sets {
            (
                "subject_set_namespace, subject_set_object, subject_set_relation",
                8,
                "t.subject_set_namespace = v.column4 AND t.subject_set_object = v.column5 \
                 AND t.subject_set_relation = v.column6",
            )
        } else {
            ("subject_id", 6, "t.subject_id = v.column4")
        };
        let mut sql = format!(
            "INSERT INTO permission_relation_tuples (namespace, object, relation, \
             {subject_columns}, id, commit_time) SELECT * FROM (VALUES "
        );
        let mut n = 0;
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push(',');
                }
                n += 1;
                push_placeholder(&mut sql, backend, n);
            }
            sql.push(')');
        }
        sql.push_str(&format!(
            ") AS v WHERE NOT EXISTS (SELECT 1 FROM permission_relation_tuples AS t \
             WHERE t.namespace = v.column1 AND t.object = v.column2 \
             AND t.relation = v.column3 AND {same_subject})"
        ));
        let mut q = sqlx::query(&sql);
        for t in chunk {
            q = q
                .bind(t.namespace.as_str())
                .bind(t.object.as_str())
                .bind(t.relation.as_str());
            q = match &t.subject {
                Subject::Id(id) => q.bind(id.as_str()),
                Subject::Set(s) => q
                    .bind(s.namespace.as_str())
                    .bind(s.object.as_str())
                    .bind(s.relation.as_str()),
            };
            q = q.bind(new_id(now)).bind(now);
        }
        Ok(q.execute(&mut **tx).await?.rows_affected())
    }

    /// Deletes every tuple matching the partial filter; returns how many.
    pub async fn delete_matching(&self, filter: &TupleFilter) -> Result<u64> {
        let mut tx = self.db.begin().await?;
        let n = Self::delete_in(&mut tx, filter).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// One page of tuples matching `filter`, ordered by page key, after `after` (exclusive).
    /// Fetches `limit + 1` rows; the returned flag says whether more pages exist.
    pub async fn list(
        &self,
        filter: &TupleFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoredTuple>, bool)> {
        let mut w = Where::default();
        w.filter(filter);
        if let Some(after) = after {
            w.args.push(after.to_string());
            w.clauses.push(format!("id > ${}", w.args.len()));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM permission_relation_tuples WHERE {} ORDER BY id LIMIT {}",
            w.sql(),
            limit + 1
        );
        self.count();
        let mut rows: Vec<StoredTuple> = bind_all(sqlx::query(&sql), &w.args)
            .try_map(|r: AnyRow| Row8::from_row(&r))
            .fetch_all(self.db.pool())
            .await?
            .into_iter()
            .map(Row8::into_stored)
            .collect();
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }

    /// Every tuple matching `filter` (internal scans: expand, traverse), in page-key order.
    pub async fn all(&self, filter: &TupleFilter) -> Result<Vec<RelationTuple>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) = self
                .list(filter, after.as_deref(), SCAN_PAGE as usize)
                .await?;
            after = page.last().map(|s| s.id.clone());
            out.extend(page.into_iter().map(|s| s.tuple));
            if !more {
                return Ok(out);
            }
        }
    }

    /// Is exactly this tuple stored? (the check engine's direct lookup)
    pub async fn exists(&self, tuple: &RelationTuple) -> Result<bool> {
        let mut w = Where::default();
        w.filter(&tuple.as_filter());
        let sql = format!(
            "SELECT 1 AS one FROM permission_relation_tuples WHERE {} LIMIT 1",
            w.sql()
        );
        self.count();
        let row = bind_all(sqlx::query(&sql), &w.args)
            .fetch_optional_on(&self.db)
            .await?;
        Ok(row.is_some())
    }

    /// Is `ns:obj#R@subject` stored for any `R` in `relations`? (Keto's OR-of-computed
    /// shortcut, one query for all relations).
    pub async fn exists_any_relation(
        &self,
        namespace: &str,
        object: &str,
        relations: &[String],
        subject: &Subject,
    ) -> Result<bool> {
        if relations.is_empty() {
            return Ok(false);
        }
        let mut w = Where::default();
        w.eq("namespace", namespace);
        w.eq("object", object);
        w.subject(subject);
        let start = w.next();
        let placeholders: Vec<String> = (0..relations.len())
            .map(|i| format!("${}", start + i))
            .collect();
        w.raw(&format!("relation IN ({})", placeholders.join(", ")));
        w.args.extend(relations.iter().cloned());
        let sql = format!(
            "SELECT 1 AS one FROM permission_relation_tuples WHERE {} LIMIT 1",
            w.sql()
        );
        self.count();
        let row = bind_all(sqlx::query(&sql), &w.args)
            .fetch_optional_on(&self.db)
            .await?;
        Ok(row.is_some())
    }

    /// Keto's `TraverseSubjectSetExpansion`: the subject sets stored on `ns:obj#rel`, each
    /// with whether `subject` is stored directly on that set (one-hop look-ahead). One
    /// round trip per 1000 rows; stops at the first hit.
    pub async fn subject_set_expansion(
        &self,
        namespace: &str,
        object: &str,
        relation: &str,
        subject: &Subject,
    ) -> Result<Vec<(SubjectSet, bool)>> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let mut inner = Where::default();
            inner.raw("inner_t.namespace = cur.subject_set_namespace");
            inner.raw("inner_t.object = cur.subject_set_object");
            inner.raw("inner_t.relation = cur.subject_set_relation");
            inner.subject_in("inner_t.", subject);
            let n = inner.next();
            let sql = format!(
                "SELECT cur.id AS id, cur.subject_set_namespace AS ns, cur.subject_set_object AS obj, \
                 cur.subject_set_relation AS rel, \
                 CASE WHEN EXISTS (SELECT 1 FROM permission_relation_tuples AS inner_t WHERE {}) \
                 THEN 1 ELSE 0 END AS found \
                 FROM permission_relation_tuples AS cur \
                 WHERE cur.namespace = ${} AND cur.object = ${} AND cur.relation = ${} \
                 AND (cur.subject_id || '') IS NULL AND cur.id > ${} \
                 ORDER BY cur.id LIMIT {SCAN_PAGE}",
                inner.sql(),
                n,
                n + 1,
                n + 2,
                n + 3
            );
            let rows = bind_all(sqlx::query(&sql), &inner.args)
                .bind(namespace)
                .bind(object)
                .bind(relation)
                .bind(after.as_str())
                .fetch_all_on(&self.db)
                .await?;
            let count = rows.len();
            for row in rows {
                let row = ExpansionRow::from_row(&row)?;
                after = row.id;
                let hit = row.found != 0;
                out.push((row.set.into_set(), hit));
                if hit {
                    return Ok(out);
                }
            }
            if (count as i64) < SCAN_PAGE {
                return Ok(out);
            }
        }
    }

    /// The subject sets stored on `ns:obj#rel` (traverse edges; subject-id rows are ignored
    /// as in Keto).
    pub async fn subject_sets_on(
        &self,
        namespace: &str,
        object: &str,
        relation: &str,
    ) -> Result<Vec<SubjectSet>> {
        let filter = TupleFilter {
            namespace: Some(namespace.to_string()),
            object: Some(object.to_string()),
            relation: Some(relation.to_string()),
            subject: None,
        };
        Ok(self
            .all(&filter)
            .await?
            .into_iter()
            .filter_map(|t| match t.subject {
                Subject::Set(s) => Some(s),
                Subject::Id(_) => None,
            })
            .collect())
    }
}

/// A new page key: a UUID v7 (Unix milliseconds first, then random bits) as text. Rows
/// written later sort later, so inserts append to the primary-key and `(namespace, id)`
/// B-trees instead of landing on random pages (what made bulk import slow), and a list
/// paged while tuples are written finds the new ones at its end. Keys written by earlier
/// versions (random UUID v4) stay valid: the page key is only ever compared.
fn new_id(now_micros: i64) -> String {
    let millis = u64::try_from(now_micros / 1000).unwrap_or(0);
    let random: [u8; 10] = rand::random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// Appends bind parameter `n` (from 1, in order) to a statement with thousands of them: `?`
/// on SQLite, whose driver looks every `$n` up by name in a linear list (quadratic in the
/// parameter count: 60 % of an import's time at 4000 parameters), `$n` on PostgreSQL.
/// `sql` with its `$1`, `$2`, … placeholders as SQLite's anonymous `?` when they appear in
/// the text in that order (each exactly once), else unchanged. sqlx binds named SQLite
/// parameters through `sqlite3_bind_parameter_name`, a linear walk per parameter: quadratic
/// in the parameters of a statement, which a shared frontier statement has hundreds of.
fn positional(sql: String, backend: Backend) -> String {
    if backend != Backend::Sqlite {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1usize;
    let mut rest = sql.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if rest[at + 1..at + 1 + digits].parse::<usize>().ok() != Some(expected) {
            return sql;
        }
        out.push('?');
        expected += 1;
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}

fn push_placeholder(sql: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => sql.push('?'),
        Backend::Postgres => {
            sql.push('$');
            sql.push_str(&n.to_string());
        }
    }
}

impl TupleStore {
    /// Distinct objects of a namespace in byte order after `after` (reverse-lookup candidates:
    /// every path to "allowed" on `ns:obj` starts from a tuple stored on `ns:obj`).
    pub async fn distinct_objects(
        &self,
        namespace: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT object FROM permission_relation_tuples \
             WHERE namespace = $1 AND object > $2 ORDER BY object LIMIT {limit}"
        ))
        .bind(namespace)
        .bind(after)
        .fetch_all_on(&self.db)
        .await?;
        rows.iter()
            .map(|r| Ok(<(String,)>::from_row(r)?.0))
            .collect()
    }

    /// Distinct subject ids after `after` (every "allowed" for a subject id ends in a tuple
    /// stored with that subject id).
    pub async fn distinct_subject_ids(&self, after: &str, limit: usize) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT subject_id FROM permission_relation_tuples \
             WHERE subject_id IS NOT NULL AND subject_id > $1 ORDER BY subject_id LIMIT {limit}"
        ))
        .bind(after)
        .fetch_all_on(&self.db)
        .await?;
        rows.iter()
            .map(|r| Ok(<(String,)>::from_row(r)?.0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_placeholders_become_positional_only_when_in_order() {
        let sql = "SELECT 1 WHERE a = $1 AND (b = $2 OR b = $3) AND c = $10".to_string();
        // $10 after $3: not the next number, so the statement stays as written
        assert_eq!(positional(sql.clone(), Backend::Sqlite), sql);
        let ordered = "SELECT 1 WHERE a = $1 AND (b = $2 OR b = $3)".to_string();
        assert_eq!(
            positional(ordered.clone(), Backend::Sqlite),
            "SELECT 1 WHERE a = ? AND (b = ? OR b = ?)"
        );
        assert_eq!(positional(ordered.clone(), Backend::Postgres), ordered);
        let repeated = "SELECT $1, $1".to_string();
        assert_eq!(positional(repeated.clone(), Backend::Sqlite), repeated);
        assert_eq!(positional("SELECT $".into(), Backend::Sqlite), "SELECT $");
        // a shared statement of several frontiers numbers its placeholders in text order
        let mut args = Vec::new();
        let key = |o: &str| ("Folder".to_string(), o.to_string(), "viewers".to_string());
        let mut parts = lookup_parts(
            &mut args,
            0,
            &[key("a")],
            &[key("a")],
            &Subject::Id("u".into()),
        );
        parts.extend(lookup_parts(
            &mut args,
            1,
            &[key("b"), key("c")],
            &[key("b")],
            &Subject::Id("v".into()),
        ));
        let sql = positional(parts.join(" UNION ALL "), Backend::Sqlite);
        assert!(!sql.contains('$'), "{sql}");
        assert_eq!(sql.matches('?').count(), args.len());
    }
}
