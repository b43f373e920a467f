//! The check and expand engines over the OPL rewrite IR, with Keto v0.14's semantics
//! (`K:internal/check/{engine,rewrites,binop}.go`, reference §5 and §12): direct lookup,
//! subject-set expansion with one-hop look-ahead, computed subject sets, tuple-to-subject-set,
//! `||`/`&&`/`!` with Keto's three-valued results and depth accounting, `max_read_width`,
//! cycle guard and strict mode.
//!
//! Faster than Keto without changing answers: sibling branches run concurrently and the first
//! `IsMember` (or error) cancels the rest (dropping the `FuturesUnordered`); every SQL answer is
//! memoised for the duration of one request (the same sub-problem reached over two paths costs
//! one round trip); the lookups that the branches of one frontier need — direct lookups
//! (including the OR-of-computed shortcut's), expansions with their one-hop look-ahead and
//! traverse edges — go to the database as one statement ([`TupleStore::lookup_many`]), and
//! the shortcut prefetches into the memo the expansions its hops need after a miss. Each
//! statement costs two thread hand-offs in sqlx's SQLite driver, which dominated the time of
//! a check before batching.
//!
//! Documented differences from Keto: the cycle guard is per path (ancestors) instead of one
//! set shared by every branch of a request — Keto's shared set makes answers depend on the
//! order in which siblings run and can deny through a set first reached at a lower remaining
//! depth; ours cannot. When one branch errors and a sibling denies, whichever finishes first
//! decides (Keto: the first in source order).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;

use super::error::{PermissionError, Result};
use super::namespaces::{NamespaceSet, Namespaces, RelationLookup};
use super::opl::{RelationDef, Rewrite};
use super::store::{Key, TupleStore};
use super::tuple::{RelationTuple, Subject, SubjectSet, TupleFilter};

/// Keto's three-valued membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    IsMember,
    NotMember,
    /// The depth limit was reached.
    Unknown,
}

/// Engine limits (`limit.*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_read_depth: i32,
    pub max_read_width: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_read_depth: 5,
            max_read_width: 100,
        }
    }
}

/// The check engine: stateless apart from its handles; one [`Request`] per check.
#[derive(Clone, Debug)]
pub struct Engine {
    store: TupleStore,
    namespaces: Namespaces,
    limits: Limits,
    cache: Option<Arc<CheckCache>>,
}

/// Optional cache of check answers (Quartet extension, off by default: Keto has none).
/// Bounded in size and age. Writes through this instance clear it; writes by another
/// instance on the same database become visible after at most `ttl`. A sharded map
/// (`DashMap`): concurrent checks read and fill it without one global lock.
#[derive(Debug)]
pub struct CheckCache {
    ttl: std::time::Duration,
    max_entries: usize,
    entries: DashMap<(RelationTuple, i32), (bool, std::time::Instant)>,
}

impl CheckCache {
    pub fn new(ttl: std::time::Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: DashMap::new(),
        }
    }

    fn get(&self, key: &(RelationTuple, i32)) -> Option<bool> {
        let now = std::time::Instant::now();
        self.entries
            .get(key)
            .filter(|entry| now.duration_since(entry.1) < self.ttl)
            .map(|entry| entry.0)
    }

    /// Stores an answer; when full, first drops the expired entries, then everything.
    fn put(&self, key: (RelationTuple, i32), allowed: bool) {
        let now = std::time::Instant::now();
        if self.entries.len() >= self.max_entries {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if self.entries.len() >= self.max_entries {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (allowed, now));
    }

    fn clear(&self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn lock_any<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Keto's clamp: the request depth if `0 < d <= max_read_depth`, else the global maximum.
pub fn effective_depth(requested: Option<i64>, max: i32) -> i32 {
    match requested {
        Some(d) if d > 0 && d <= i64::from(max) => d as i32,
        _ => max,
    }
}

impl Engine {
    pub fn new(store: TupleStore, namespaces: Namespaces, limits: Limits) -> Self {
        Self {
            store,
            namespaces,
            limits,
            cache: None,
        }
    }

    /// Adds the check cache (see [`CheckCache`]).
    pub fn with_cache(mut self, cache: CheckCache) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// Forgets cached answers; called after every write through this instance.
    pub fn invalidate(&self) {
        if let Some(c) = &self.cache {
            c.clear();
        }
    }

    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    pub fn store(&self) -> &TupleStore {
        &self.store
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Is the tuple allowed? Unknown namespaces (object or subject set) give `false`, as
    /// Keto's check handler does; an undeclared relation of an OPL class is an error.
    pub async fn check(&self, tuple: &RelationTuple, max_depth: Option<i64>) -> Result<bool> {
        let set = self.namespaces.current();
        if !set.contains(&tuple.namespace) {
            return Ok(false);
        }
        if let Subject::Set(s) = &tuple.subject {
            if !set.contains(&s.namespace) {
                return Ok(false);
            }
        }
        let key = (
            tuple.clone(),
            effective_depth(max_depth, self.limits.max_read_depth),
        );
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(hit);
        }
        let allowed = self.membership(tuple, max_depth).await? == Membership::IsMember;
        if let Some(c) = &self.cache {
            c.put(key, allowed);
        }
        Ok(allowed)
    }

    /// The raw three-valued answer (no namespace pre-check).
    pub async fn membership(
        &self,
        tuple: &RelationTuple,
        max_depth: Option<i64>,
    ) -> Result<Membership> {
        let depth = effective_depth(max_depth, self.limits.max_read_depth);
        let req = Request {
            store: &self.store,
            set: self.namespaces.current(),
            strict: self.namespaces.strict(),
            width: self.limits.max_read_width.max(1),
            memo: Mutex::new(Memo::default()),
            pending: Mutex::new(Pending::default()),
        };
        req.is_allowed(tuple.clone(), depth, false, Path::root())
            .await
    }

    /// Keto's expand: the tree of stored subject sets under `root` (rewrites not applied).
    /// `None` when the root set has no tuples.
    pub async fn expand(&self, root: &SubjectSet, max_depth: Option<i64>) -> Result<Option<Tree>> {
        let depth = effective_depth(max_depth, self.limits.max_read_depth);
        let mut visited = HashSet::new();
        self.expand_node(Subject::Set(root.clone()), depth, &mut visited)
            .await
    }

    fn expand_node<'a>(
        &'a self,
        subject: Subject,
        depth: i32,
        visited: &'a mut HashSet<SubjectSet>,
    ) -> BoxFuture<'a, Result<Option<Tree>>> {
        async move {
            let depth = if depth <= 0 {
                self.limits.max_read_depth
            } else {
                depth
            };
            let set = match subject {
                Subject::Id(_) => {
                    return Ok(Some(Tree {
                        kind: TreeKind::Leaf,
                        subject,
                        children: Vec::new(),
                    }))
                }
                Subject::Set(s) => s,
            };
            if !visited.insert(set.clone()) {
                return Ok(None);
            }
            let filter = TupleFilter {
                namespace: Some(set.namespace.clone()),
                object: Some(set.object.clone()),
                relation: Some(set.relation.clone()),
                subject: None,
            };
            let tuples = self.store.all(&filter).await?;
            if tuples.is_empty() {
                return Ok(None);
            }
            let mut node = Tree {
                kind: TreeKind::Union,
                subject: Subject::Set(set),
                children: Vec::new(),
            };
            if depth <= 1 {
                node.kind = TreeKind::Leaf;
                return Ok(Some(node));
            }
            for t in tuples {
                let child = self
                    .expand_node(t.subject.clone(), depth - 1, visited)
                    .await?;
                node.children.push(child.unwrap_or(Tree {
                    kind: TreeKind::Leaf,
                    subject: t.subject,
                    children: Vec::new(),
                }));
            }
            Ok(Some(node))
        }
        .boxed()
    }
}

/// An expand tree node (v0.14 emits only `union` and `leaf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub kind: TreeKind,
    pub subject: Subject,
    pub children: Vec<Tree>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    Union,
    Leaf,
}

/// Subject sets expanded on the way here (the cycle guard), as a shared linked list.
#[derive(Clone, Default)]
struct Path(Option<Arc<PathNode>>);

struct PathNode {
    set: SubjectSet,
    parent: Path,
}

impl Path {
    fn root() -> Path {
        Path(None)
    }

    fn contains(&self, set: &SubjectSet) -> bool {
        let mut cur = &self.0;
        while let Some(node) = cur {
            if node.set == *set {
                return true;
            }
            cur = &node.parent.0;
        }
        false
    }

    fn with(&self, set: SubjectSet) -> Path {
        Path(Some(Arc::new(PathNode {
            set,
            parent: self.clone(),
        })))
    }
}

/// Per-request memo of SQL answers.
#[derive(Default)]
struct Memo {
    direct: HashMap<RelationTuple, bool>,
    expansion: HashMap<RelationTuple, Arc<Vec<(SubjectSet, bool)>>>,
    edges: HashMap<(String, String, String), Arc<Vec<SubjectSet>>>,
}

struct Request<'s> {
    store: &'s TupleStore,
    set: Arc<NamespaceSet>,
    strict: bool,
    width: usize,
    memo: Mutex<Memo>,
    pending: Mutex<Pending>,
}

type Expansion = Arc<Vec<(SubjectSet, bool)>>;

/// Lookups requested by the branches of one frontier, answered together: a branch that
/// needs a lookup registers here and yields once; by then every sibling that is ready has
/// registered too, and the first to resume runs one statement for all of them (direct
/// lookups and expansions alike, [`TupleStore::lookup_many`]). An entry without a sender is
/// a prefetch: its answer only goes to the memo.
#[derive(Default)]
struct Pending {
    direct: Vec<(Key, Option<tokio::sync::oneshot::Sender<bool>>)>,
    expansion: Vec<(Key, Option<tokio::sync::oneshot::Sender<Expansion>>)>,
}

impl Pending {
    fn len(&self) -> usize {
        self.direct.len() + self.expansion.len()
    }
}

fn key_of(t: &RelationTuple) -> Key {
    (t.namespace.clone(), t.object.clone(), t.relation.clone())
}

fn tuple_of(key: Key, subject: &Subject) -> RelationTuple {
    RelationTuple {
        namespace: key.0,
        object: key.1,
        relation: key.2,
        subject: subject.clone(),
    }
}

type Check<'a> = BoxFuture<'a, Result<Membership>>;

fn ready<'a>(m: Membership) -> Check<'a> {
    async move { Ok(m) }.boxed()
}

/// A Keto check group: the first `IsMember` or error wins; otherwise `NotMember` (an
/// `Unknown` child becomes `NotMember` here).
async fn group(checks: Vec<Check<'_>>) -> Result<Membership> {
    let mut running: FuturesUnordered<_> = checks.into_iter().collect();
    while let Some(result) = running.next().await {
        match result {
            Err(e) => return Err(e),
            Ok(Membership::IsMember) => return Ok(Membership::IsMember),
            Ok(_) => {}
        }
    }
    Ok(Membership::NotMember)
}

/// Keto's `and`: every child must be a member; the first non-member or error decides.
async fn all(checks: Vec<Check<'_>>) -> Result<Membership> {
    if checks.is_empty() {
        return Ok(Membership::NotMember);
    }
    let mut running: FuturesUnordered<_> = checks.into_iter().collect();
    while let Some(result) = running.next().await {
        match result {
            Err(e) => return Err(e),
            Ok(Membership::IsMember) => {}
            Ok(_) => return Ok(Membership::NotMember),
        }
    }
    Ok(Membership::IsMember)
}

fn lock(memo: &Mutex<Memo>) -> std::sync::MutexGuard<'_, Memo> {
    lock_any(memo)
}

impl<'s> Request<'s> {
    fn relation(&self, namespace: &str, relation: &str) -> Result<Option<&RelationDef>> {
        match self.set.relation(namespace, relation) {
            RelationLookup::Unconfigured => Ok(None),
            RelationLookup::Found(r) => Ok(Some(r)),
            RelationLookup::Missing => Err(PermissionError::UnknownRelation {
                namespace: namespace.to_string(),
                relation: relation.to_string(),
            }),
        }
    }

    /// `checkIsAllowed`.
    fn is_allowed<'a>(
        &'a self,
        t: RelationTuple,
        depth: i32,
        skip_direct: bool,
        path: Path,
    ) -> Check<'a> {
        async move {
            if depth <= 0 {
                return Ok(Membership::Unknown);
            }
            let relation = self.relation(&t.namespace, &t.relation)?;
            let rewrite = relation.and_then(RelationDef::rewrite);
            let can_have_sets = !self.strict
                || relation.is_none()
                || relation.is_some_and(RelationDef::declares_subject_set_type);
            let mut checks: Vec<Check<'a>> = Vec::new();
            if let Some(rw) = rewrite {
                checks.push(self.rewrite(t.clone(), rw, depth, path.clone()));
            }
            if (!self.strict || rewrite.is_none()) && !skip_direct {
                checks.push(self.direct(t.clone(), depth - 1));
            }
            if can_have_sets {
                checks.push(self.expand(t, depth - 1, path));
            }
            group(checks).await
        }
        .boxed()
    }

    /// `checkDirect`: a database error is logged and counts as "not a member" (Keto).
    fn direct<'a>(&'a self, t: RelationTuple, depth: i32) -> Check<'a> {
        if depth <= 0 {
            return ready(Membership::Unknown);
        }
        async move {
            let cached = lock(&self.memo).direct.get(&t).copied();
            let found = match cached {
                Some(f) => f,
                None => self.direct_batched(&t).await,
            };
            Ok(if found {
                Membership::IsMember
            } else {
                Membership::NotMember
            })
        }
        .boxed()
    }

    /// Yields until no more lookups join the pending batch (the scheduler may poll only part
    /// of a frontier per pass), at most 64 times.
    async fn settle(&self) {
        let mut seen = lock_any(&self.pending).len();
        for _ in 0..64 {
            tokio::task::yield_now().await;
            let now = lock_any(&self.pending).len();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    fn register_direct(&self, key: Key) -> tokio::sync::oneshot::Receiver<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock_any(&self.pending).direct.push((key, Some(tx)));
        rx
    }

    fn register_expansion(&self, key: Key) -> tokio::sync::oneshot::Receiver<Expansion> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock_any(&self.pending).expansion.push((key, Some(tx)));
        rx
    }

    /// Waits for the frontier to settle, then (in the first branch to resume) answers every
    /// pending lookup with one statement and memoises the answers. On a database error the
    /// senders drop: every waiter falls back to its own query.
    async fn flush(&self, subject: &Subject) {
        self.settle().await;
        let batch = std::mem::take(&mut *lock_any(&self.pending));
        if batch.len() == 0 {
            return;
        }
        let mut direct: Vec<Key> = batch.direct.iter().map(|(k, _)| k.clone()).collect();
        let mut expansion: Vec<Key> = batch.expansion.iter().map(|(k, _)| k.clone()).collect();
        direct.sort_unstable();
        direct.dedup();
        expansion.sort_unstable();
        expansion.dedup();
        // Yield once more before the statement: the answer must not resume a branch before
        // every sibling of the frontier has been polled (a warm connection starts the
        // statement without yielding; without this the batches split, a test counts them).
        tokio::task::yield_now().await;
        let found = match self.store.lookup_many(&direct, &expansion, subject).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "permission: lookup failed");
                return;
            }
        };
        // a key may be pending twice (two branches, or a branch and a prefetch): share rows
        let expanded: HashMap<Key, Expansion> = found
            .expansion
            .into_iter()
            .map(|(key, rows)| (key, Arc::new(rows)))
            .collect();
        let mut memo = lock(&self.memo);
        for (key, rows) in found.next_hop {
            memo.expansion
                .entry(tuple_of(key, subject))
                .or_insert_with(|| Arc::new(rows));
        }
        for (key, tx) in batch.direct {
            let hit = found.direct.contains(&key);
            memo.direct.insert(tuple_of(key, subject), hit);
            if let Some(tx) = tx {
                let _ = tx.send(hit);
            }
        }
        for (key, tx) in batch.expansion {
            let rows = expanded.get(&key).cloned().unwrap_or_default();
            memo.expansion.insert(tuple_of(key, subject), rows.clone());
            if let Some(tx) = tx {
                let _ = tx.send(rows);
            }
        }
    }

    /// The direct lookup through the frontier batch. A database error is logged and counts
    /// as "not a member" (Keto's `checkDirect`).
    async fn direct_batched(&self, t: &RelationTuple) -> bool {
        let rx = self.register_direct(key_of(t));
        self.flush(&t.subject).await;
        match rx.await {
            Ok(found) => found,
            // the batch ran in a branch that was cancelled, or failed: ask alone
            Err(_) => match self.store.exists(t).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::error!(error = %e, "permission: direct lookup failed");
                    false
                }
            },
        }
    }

    /// Keto's expansion query through the frontier batch.
    async fn expansion_batched(&self, t: &RelationTuple) -> Result<Expansion> {
        let rx = self.register_expansion(key_of(t));
        self.flush(&t.subject).await;
        match rx.await {
            Ok(rows) => Ok(rows),
            // cancelled or failed batch: run the query alone (errors propagate from here)
            Err(_) => {
                let rows = Arc::new(
                    self.store
                        .subject_set_expansion(&t.namespace, &t.object, &t.relation, &t.subject)
                        .await?,
                );
                lock(&self.memo).expansion.insert(t.clone(), rows.clone());
                Ok(rows)
            }
        }
    }

    /// Whether [`Request::is_allowed`] on `ns:_#relation` expands stored subject sets (not in
    /// strict mode unless the relation declares a `SubjectSet` type); an undeclared relation
    /// answers `false` here (`is_allowed` reports it).
    fn expands(&self, namespace: &str, relation: &str) -> bool {
        match self.relation(namespace, relation) {
            Ok(def) => {
                !self.strict
                    || def.is_none()
                    || def.is_some_and(RelationDef::declares_subject_set_type)
            }
            Err(_) => false,
        }
    }

    /// `checkExpandSubject`.
    fn expand<'a>(&'a self, t: RelationTuple, depth: i32, path: Path) -> Check<'a> {
        if depth <= 0 {
            return ready(Membership::Unknown);
        }
        async move {
            let cached = lock(&self.memo).expansion.get(&t).cloned();
            let results = match cached {
                Some(r) => r,
                None => self.expansion_batched(&t).await?,
            };
            if results.iter().any(|(_, found)| *found) {
                return Ok(Membership::IsMember);
            }
            let take = if results.len() > self.width {
                self.width - 1
            } else {
                results.len()
            };
            let mut checks = Vec::new();
            for (set, _) in results.iter().take(take) {
                if path.contains(set) {
                    continue;
                }
                let next = RelationTuple {
                    namespace: set.namespace.clone(),
                    object: set.object.clone(),
                    relation: set.relation.clone(),
                    subject: t.subject.clone(),
                };
                checks.push(self.is_allowed(next, depth, true, path.with(set.clone())));
            }
            group(checks).await
        }
        .boxed()
    }

    /// `checkSubjectSetRewrite` for an operator node.
    fn rewrite<'a>(
        &'a self,
        t: RelationTuple,
        rw: &'a Rewrite,
        depth: i32,
        path: Path,
    ) -> Check<'a> {
        if depth <= 0 {
            return ready(Membership::Unknown);
        }
        let (is_or, children): (bool, &'a [Rewrite]) = match rw {
            Rewrite::Union(c) => (true, c),
            Rewrite::Intersection(c) => (false, c),
            // The parser always produces an operator at the top; treat a bare operand as a
            // one-child union.
            other => (true, std::slice::from_ref(other)),
        };
        async move {
            let mut checks: Vec<Check<'a>> = Vec::new();
            if is_or {
                let computed: Vec<&'a str> = children
                    .iter()
                    .filter_map(|c| match c {
                        Rewrite::ComputedSubjectSet { relation } => Some(relation.as_str()),
                        _ => None,
                    })
                    .collect();
                if !computed.is_empty() {
                    checks.push(self.computed_shortcut(t.clone(), computed, depth, path.clone()));
                }
            }
            for child in children {
                match child {
                    Rewrite::ComputedSubjectSet { .. } if is_or => {}
                    Rewrite::ComputedSubjectSet { relation } => {
                        checks.push(self.is_allowed(
                            with_relation(&t, relation),
                            depth,
                            false,
                            path.clone(),
                        ));
                    }
                    Rewrite::TupleToSubjectSet {
                        relation,
                        computed_relation,
                    } => checks.push(self.traverse(
                        t.clone(),
                        relation,
                        computed_relation,
                        depth,
                        path.clone(),
                    )),
                    Rewrite::Union(_) | Rewrite::Intersection(_) => {
                        checks.push(self.rewrite(t.clone(), child, depth - 1, path.clone()))
                    }
                    Rewrite::Not(inner) => {
                        checks.push(self.inverted(t.clone(), inner, depth, path.clone()))
                    }
                }
            }
            if is_or {
                group(checks).await
            } else {
                all(checks).await
            }
        }
        .boxed()
    }

    /// Keto's OR-of-computed shortcut: one query for all computed relations, then a hop per
    /// relation (direct lookup skipped: the query already answered it).
    fn computed_shortcut<'a>(
        &'a self,
        t: RelationTuple,
        relations: Vec<&'a str>,
        depth: i32,
        path: Path,
    ) -> Check<'a> {
        async move {
            let queried: Vec<String> = relations
                .iter()
                .filter(|r| {
                    !(self.strict
                        && matches!(self.set.relation(&t.namespace, r),
                            RelationLookup::Found(def) if def.rewrite().is_some()))
                })
                .map(|r| r.to_string())
                .collect();
            let mut hit = false;
            if !queried.is_empty() {
                // memoise through the direct map: one entry per relation answered "no"
                let unknown: Vec<String> = {
                    let memo = lock(&self.memo);
                    if queried
                        .iter()
                        .any(|r| memo.direct.get(&with_relation(&t, r)) == Some(&true))
                    {
                        hit = true;
                    }
                    queried
                        .iter()
                        .filter(|r| !memo.direct.contains_key(&with_relation(&t, r)))
                        .cloned()
                        .collect()
                };
                if !hit && !unknown.is_empty() {
                    hit = self
                        .shortcut_lookup(&t, &unknown, &relations, depth)
                        .await?;
                }
            }
            if hit {
                return Ok(Membership::IsMember);
            }
            let checks = relations
                .into_iter()
                .map(|r| self.is_allowed(with_relation(&t, r), depth - 1, true, path.clone()))
                .collect();
            group(checks).await
        }
        .boxed()
    }

    /// The shortcut's query as direct lookups in the frontier batch, with the expansions
    /// that the hops after a miss need (`is_allowed(r, depth - 1)` expands `r` at
    /// `depth - 2`) prefetched into the memo by the same statement. Answers whether any of
    /// `unknown` is stored for the subject; alone (errors propagate) when the batch failed.
    async fn shortcut_lookup(
        &self,
        t: &RelationTuple,
        unknown: &[String],
        relations: &[&str],
        depth: i32,
    ) -> Result<bool> {
        let receivers: Vec<_> = unknown
            .iter()
            .map(|r| self.register_direct(key_of(&with_relation(t, r))))
            .collect();
        if depth - 2 > 0 {
            let prefetch: Vec<Key> = {
                let memo = lock(&self.memo);
                relations
                    .iter()
                    .filter(|r| self.expands(&t.namespace, r))
                    .map(|r| with_relation(t, r))
                    .filter(|next| !memo.expansion.contains_key(next))
                    .map(|next| key_of(&next))
                    .collect()
            };
            let mut pending = lock_any(&self.pending);
            pending
                .expansion
                .extend(prefetch.into_iter().map(|key| (key, None)));
        }
        self.flush(&t.subject).await;
        let mut hit = false;
        for rx in receivers {
            match rx.await {
                Ok(found) => hit |= found,
                Err(_) => {
                    return self
                        .store
                        .exists_any_relation(&t.namespace, &t.object, unknown, &t.subject)
                        .await
                }
            }
        }
        Ok(hit)
    }

    /// The subject sets stored on `ns:obj#relation` (traverse edges; subject-id rows are
    /// ignored as in Keto): the expansion rows of that key, from the memo or the frontier
    /// batch; a query of its own when the batch failed (errors propagate).
    async fn edges(&self, t: &RelationTuple, relation: &str) -> Result<Arc<Vec<SubjectSet>>> {
        let key = (t.namespace.clone(), t.object.clone(), relation.to_string());
        let probe = with_relation(t, relation);
        let (edges, rows) = {
            let memo = lock(&self.memo);
            (
                memo.edges.get(&key).cloned(),
                memo.expansion.get(&probe).cloned(),
            )
        };
        if let Some(edges) = edges {
            return Ok(edges);
        }
        let rows = match rows {
            Some(rows) => Some(rows),
            None => {
                let rx = self.register_expansion(key.clone());
                self.flush(&t.subject).await;
                rx.await.ok()
            }
        };
        let sets = match rows {
            Some(rows) => Arc::new(rows.iter().map(|(set, _)| set.clone()).collect()),
            None => Arc::new(
                self.store
                    .subject_sets_on(&t.namespace, &t.object, relation)
                    .await?,
            ),
        };
        lock(&self.memo).edges.insert(key, sets.clone());
        Ok(sets)
    }

    /// `checkInverted`: IsMember ↔ NotMember; Unknown and errors pass through.
    fn inverted<'a>(
        &'a self,
        t: RelationTuple,
        child: &'a Rewrite,
        depth: i32,
        path: Path,
    ) -> Check<'a> {
        if depth < 0 {
            return ready(Membership::Unknown);
        }
        async move {
            let inner = match child {
                Rewrite::TupleToSubjectSet {
                    relation,
                    computed_relation,
                } => {
                    self.traverse(t, relation, computed_relation, depth, path)
                        .await
                }
                Rewrite::ComputedSubjectSet { relation } => {
                    self.is_allowed(with_relation(&t, relation), depth, false, path)
                        .await
                }
                Rewrite::Union(_) | Rewrite::Intersection(_) => {
                    self.rewrite(t, child, depth, path).await
                }
                Rewrite::Not(inner) => self.inverted(t, inner, depth, path).await,
            }?;
            Ok(match inner {
                Membership::IsMember => Membership::NotMember,
                Membership::NotMember => Membership::IsMember,
                Membership::Unknown => Membership::Unknown,
            })
        }
        .boxed()
    }

    /// `checkTupleToSubjectSet`: for every subject set stored on `ns:obj#relation`, check
    /// `set.ns:set.obj#computed@subject` (rows with a subject id are ignored, as in Keto).
    fn traverse<'a>(
        &'a self,
        t: RelationTuple,
        relation: &'a str,
        computed: &'a str,
        depth: i32,
        path: Path,
    ) -> Check<'a> {
        if depth < 0 {
            return ready(Membership::Unknown);
        }
        async move {
            let sets = self.edges(&t, relation).await?;
            let checks = sets
                .iter()
                .map(|s| {
                    let next = RelationTuple {
                        namespace: s.namespace.clone(),
                        object: s.object.clone(),
                        relation: computed.to_string(),
                        subject: t.subject.clone(),
                    };
                    self.is_allowed(next, depth - 1, false, path.clone())
                })
                .collect();
            group(checks).await
        }
        .boxed()
    }
}

fn with_relation(t: &RelationTuple, relation: &str) -> RelationTuple {
    RelationTuple {
        namespace: t.namespace.clone(),
        object: t.object.clone(),
        relation: relation.to_string(),
        subject: t.subject.clone(),
    }
}
