//! The identity role's SQL: identities with credentials and addresses (written in one
//! transaction), sessions, self-service flows and their stored errors, and failed-login
//! counters. Portable SQL over `sqlx::AnyPool`; the only module of the role that knows SQL.
//! What a statement reads is mapped to the domain types once per table, in `rows.rs`.

mod rows;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use serde_json::Value;
use sqlx::{Any, FromRow, Transaction};

use self::rows::{
    CountRow, CredentialRow, FlowErrorRow, FlowRow, FoundCredentialRow, IdentifierRow, IdentityRow,
    SessionIdentityRow, SessionRow, ThrottleRow, TokenSessionRow, FLOW_COLS, FOUND_CREDENTIAL_COLS,
    IDENTITY_COLS, SESSION_COLS,
};
use super::error::{Error, Result};
use super::flow::Flow;
use super::model::{Credential, CredentialType, Identity, Micros, Session};
use super::throttle::Rule;
use crate::store::batch::{Batcher, InList};
use crate::store::{Db, OnDb};

/// Filters of the admin identity list.
#[derive(Debug, Default, Clone)]
pub struct IdentityFilter {
    pub ids: Vec<String>,
    /// `(type, identifier)`: exact match on a lower-cased identifier.
    pub credentials_identifier: Option<String>,
}

/// Where a page starts.
#[derive(Debug, Clone)]
pub enum PageStart {
    After(Option<String>),
    Offset(i64),
}

#[derive(Clone, Debug)]
pub struct IdentityStore {
    db: Db,
    /// Bumped after every write that can end or change a session or its identity, so that a
    /// read cache ([`super::session_cache`]) can tell an answer fetched before the write.
    writes: Arc<AtomicU64>,
    /// whoami's read: concurrent lookups share statements ([`crate::store::batch`]).
    sessions_by_token: Batcher<String, (Session, Identity), Error>,
}

/// At most this many tokens per session statement, and this many statements at once. One at a
/// time lets every whoami arriving meanwhile share the next statement: at 64 connections
/// (`benches/identity_load.sh`), 1 × 64 answered 40-41k/s where 4 × 32 gave 19-21k/s on
/// SQLite and 29-30k/s on PostgreSQL.
const SESSION_BATCH_KEYS: usize = 64;
const SESSION_BATCH_STATEMENTS: usize = 1;

/// Sessions with their identities by token hash, in one statement over `hashes`.
async fn sessions_by_token_hashes(
    db: Db,
    hashes: Vec<String>,
) -> Result<Vec<(String, (Session, Identity))>> {
    static SQL: LazyLock<InList> = LazyLock::new(|| {
        InList::new(SESSION_BATCH_KEYS, &format!("SELECT s.token_hash AS s_token_hash, {SESSION_COLS}, {IDENTITY_COLS} FROM identity_sessions s JOIN identity_identities i ON i.id = s.identity_id WHERE s.token_hash IN ({{keys}})"))
    });
    let rows = SQL.fetch(&db, &hashes).await?;
    rows.iter()
        .map(|row| {
            let found = TokenSessionRow::from_row(row)?;
            Ok((found.token_hash, found.found.into_pair()?))
        })
        .collect()
}

fn to_text(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

impl IdentityStore {
    pub fn new(db: Db) -> Self {
        let reader = db.clone();
        let sessions_by_token = Batcher::new(
            SESSION_BATCH_KEYS,
            SESSION_BATCH_STATEMENTS,
            move |hashes| Box::pin(sessions_by_token_hashes(reader.clone(), hashes)),
        );
        Self {
            db,
            writes: Arc::new(AtomicU64::new(0)),
            sessions_by_token,
        }
    }

    /// How many session- or identity-changing writes this process has made so far.
    pub fn write_generation(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Called after such a write has committed.
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::Release);
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Inserts an identity with its credentials and addresses, all or nothing.
    pub async fn create_identity(
        &self,
        identity: &Identity,
        credentials: &[Credential],
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_identity_row(&mut tx, identity).await?;
        insert_children(&mut tx, identity, credentials).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates many identities in one transaction (batch PATCH); any conflict aborts all.
    pub async fn create_identities(&self, items: &[(Identity, Vec<Credential>)]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for (identity, credentials) in items {
            insert_identity_row(&mut tx, identity).await?;
            insert_children(&mut tx, identity, credentials).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an identity's row, credentials and addresses, all or nothing.
    pub async fn replace_identity(
        &self,
        identity: &Identity,
        credentials: &[Credential],
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let done = sqlx::query("UPDATE identity_identities SET schema_id = $1, state = $2, state_changed_at = $3, traits = $4, metadata_public = $5, metadata_admin = $6, verifiable_addresses = $7, recovery_addresses = $8, updated_at = $9 WHERE id = $10")
            .bind(&identity.schema_id)
            .bind(identity.state.as_str())
            .bind(identity.state_changed_at)
            .bind(to_text(&identity.traits)?)
            .bind(identity.metadata_public.as_ref().map(to_text).transpose()?)
            .bind(identity.metadata_admin.as_ref().map(to_text).transpose()?)
            .bind(to_text(&identity.verifiable_addresses)?)
            .bind(to_text(&identity.recovery_addresses)?)
            .bind(identity.updated_at)
            .bind(&identity.id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        for table in [
            "identity_credential_identifiers",
            "identity_credentials",
            "identity_verifiable_addresses",
            "identity_recovery_addresses",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE identity_id = $1"))
                .bind(&identity.id)
                .execute(&mut *tx)
                .await?;
        }
        insert_children(&mut tx, identity, credentials).await?;
        tx.commit().await?;
        self.wrote();
        Ok(())
    }

    pub async fn get_identity(&self, id: &str) -> Result<Option<Identity>> {
        let row = sqlx::query(&format!(
            "SELECT {IDENTITY_COLS} FROM identity_identities i WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional_on(&self.db)
        .await?;
        row.as_ref()
            .map(|row| IdentityRow::from_row(row)?.into_identity())
            .transpose()
    }

    pub async fn credentials(&self, identity_id: &str) -> Result<Vec<Credential>> {
        let rows = sqlx::query("SELECT id, type, config, version, created_at, updated_at FROM identity_credentials WHERE identity_id = $1 ORDER BY type")
            .bind(identity_id)
            .fetch_all_on(&self.db)
            .await?;
        let idents = sqlx::query("SELECT credential_id, identifier FROM identity_credential_identifiers WHERE identity_id = $1 ORDER BY identifier")
            .bind(identity_id)
            .fetch_all_on(&self.db)
            .await?;
        let idents = idents
            .iter()
            .map(IdentifierRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        rows.iter()
            .map(|row| {
                let row = CredentialRow::from_row(row)?;
                let identifiers = idents
                    .iter()
                    .filter(|i| i.credential_id == row.id)
                    .map(|i| i.identifier.clone())
                    .collect();
                row.into_credential(identifiers)
            })
            .collect()
    }

    /// A page of identities ordered by id (keyset) or by offset (legacy pagination).
    pub async fn list_identities(
        &self,
        filter: &IdentityFilter,
        start: &PageStart,
        limit: i64,
    ) -> Result<Vec<Identity>> {
        let after = match start {
            PageStart::After(after) => after.as_deref(),
            PageStart::Offset(_) => None,
        };
        let (where_sql, mut binds) = identity_where(filter, after);
        let offset = match start {
            PageStart::Offset(o) => *o,
            PageStart::After(_) => 0,
        };
        // LIMIT/OFFSET are bound as BIGINT (both backends accept a bound integer there).
        let sql = format!(
            "SELECT {IDENTITY_COLS} FROM identity_identities i{where_sql} ORDER BY i.id LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut q = sqlx::query(&sql);
        for b in binds.drain(..) {
            q = q.bind(b);
        }
        let rows = q
            .bind(limit.max(0))
            .bind(offset.max(0))
            .fetch_all_on(&self.db)
            .await?;
        rows.iter()
            .map(|row| IdentityRow::from_row(row)?.into_identity())
            .collect()
    }

    /// How many identities match `filter` (the legacy pagination's `X-Total-Count`).
    pub async fn count_identities(&self, filter: &IdentityFilter) -> Result<i64> {
        let (where_sql, binds) = identity_where(filter, None);
        let sql = format!("SELECT COUNT(*) AS n FROM identity_identities i{where_sql}");
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let row = q.fetch_one_on(&self.db).await?;
        Ok(CountRow::from_row(&row)?.n)
    }

    pub async fn delete_identity(&self, id: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        for table in [
            "identity_sessions",
            "identity_credential_identifiers",
            "identity_credentials",
            "identity_verifiable_addresses",
            "identity_recovery_addresses",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE identity_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM identity_identities WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.wrote();
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_credential(&self, identity_id: &str, kind: CredentialType) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "DELETE FROM identity_credential_identifiers WHERE identity_id = $1 AND type = $2",
        )
        .bind(identity_id)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?;
        let done =
            sqlx::query("DELETE FROM identity_credentials WHERE identity_id = $1 AND type = $2")
                .bind(identity_id)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        self.wrote();
        Ok(done.rows_affected() > 0)
    }

    /// The identity and credential owning a lower-cased identifier of `kind`.
    pub async fn find_by_identifier(
        &self,
        kind: CredentialType,
        identifier: &str,
    ) -> Result<Option<(Identity, Credential)>> {
        let row = sqlx::query(&format!("SELECT {IDENTITY_COLS}, {FOUND_CREDENTIAL_COLS} FROM identity_credential_identifiers ci JOIN identity_credentials c ON c.id = ci.credential_id JOIN identity_identities i ON i.id = ci.identity_id WHERE ci.type = $1 AND ci.identifier = $2"))
            .bind(kind.as_str())
            .bind(identifier.to_lowercase())
            .fetch_optional_on(&self.db)
            .await?;
        let Some(row) = row else { return Ok(None) };
        FoundCredentialRow::from_row(&row)?
            .into_pair(kind, identifier.to_lowercase())
            .map(Some)
    }

    pub async fn update_credential_config(
        &self,
        credential_id: &str,
        config: &Value,
        now: Micros,
    ) -> Result<()> {
        sqlx::query("UPDATE identity_credentials SET config = $1, updated_at = $2 WHERE id = $3")
            .bind(to_text(config)?)
            .bind(now)
            .bind(credential_id)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    // --- sessions ---------------------------------------------------------------------------

    pub async fn insert_session(
        &self,
        session: &Session,
        token_hash: &str,
        now: Micros,
    ) -> Result<()> {
        sqlx::query("INSERT INTO identity_sessions (id, identity_id, token_hash, logout_token, active, aal, authenticated_at, issued_at, expires_at, methods, devices, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
            .bind(&session.id)
            .bind(&session.identity_id)
            .bind(token_hash)
            .bind(&session.logout_token)
            .bind(i64::from(session.active))
            .bind(session.aal.as_str())
            .bind(session.authenticated_at)
            .bind(session.issued_at)
            .bind(session.expires_at)
            .bind(to_text(&session.methods)?)
            .bind(to_text(&session.devices)?)
            .bind(now)
            .bind(now)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// whoami: the session and its identity by token hash — one indexed lookup, shared with
    /// the lookups running concurrently.
    pub async fn session_by_token(&self, token_hash: &str) -> Result<Option<(Session, Identity)>> {
        self.sessions_by_token.get(token_hash.to_owned()).await
    }

    pub async fn session_by_logout_token(&self, logout_token: &str) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM identity_sessions s WHERE s.logout_token = $1"
        ))
        .bind(logout_token)
        .fetch_optional_on(&self.db)
        .await?;
        row.as_ref()
            .map(|row| SessionRow::from_row(row)?.into_session())
            .transpose()
    }

    pub async fn session(&self, id: &str) -> Result<Option<(Session, Identity)>> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLS}, {IDENTITY_COLS} FROM identity_sessions s JOIN identity_identities i ON i.id = s.identity_id WHERE s.id = $1"))
            .bind(id)
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref()
            .map(|row| SessionIdentityRow::from_row(row)?.into_pair())
            .transpose()
    }

    /// Sessions ordered by id; `identity_id` narrows to one identity, `active` to (in)active
    /// ones at `now`, `after` is the keyset cursor.
    pub async fn list_sessions(
        &self,
        identity_id: Option<&str>,
        active: Option<bool>,
        now: Micros,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(Session, Identity)>> {
        let mut sql = format!("SELECT {SESSION_COLS}, {IDENTITY_COLS} FROM identity_sessions s JOIN identity_identities i ON i.id = s.identity_id WHERE 1 = 1");
        let mut n = 0;
        if identity_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND s.identity_id = ${n}"));
        }
        if let Some(a) = active {
            n += 1;
            if a {
                sql.push_str(&format!(" AND s.active = 1 AND s.expires_at > ${n}"));
            } else {
                sql.push_str(&format!(" AND (s.active = 0 OR s.expires_at <= ${n})"));
            }
        }
        if after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND s.id > ${n}"));
        }
        sql.push_str(&format!(" ORDER BY s.id LIMIT {}", limit.max(0)));
        let mut q = sqlx::query(&sql);
        if let Some(id) = identity_id {
            q = q.bind(id);
        }
        if active.is_some() {
            q = q.bind(now);
        }
        if let Some(a) = after {
            q = q.bind(a);
        }
        let rows = q.fetch_all_on(&self.db).await?;
        rows.iter()
            .map(|row| SessionIdentityRow::from_row(row)?.into_pair())
            .collect()
    }

    pub async fn disable_session(
        &self,
        id: &str,
        identity_id: Option<&str>,
        now: Micros,
    ) -> Result<bool> {
        let done = match identity_id {
            Some(owner) => sqlx::query("UPDATE identity_sessions SET active = 0, updated_at = $1 WHERE id = $2 AND identity_id = $3")
                .bind(now)
                .bind(id)
                .bind(owner)
                .execute_on(&self.db)
                .await?,
            None => sqlx::query("UPDATE identity_sessions SET active = 0, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute_on(&self.db)
                .await?,
        };
        self.wrote();
        Ok(done.rows_affected() > 0)
    }

    /// Deactivates every active session of `identity_id` except `keep`; returns how many.
    pub async fn disable_other_sessions(
        &self,
        identity_id: &str,
        keep: &str,
        now: Micros,
    ) -> Result<u64> {
        let done = sqlx::query("UPDATE identity_sessions SET active = 0, updated_at = $1 WHERE identity_id = $2 AND id <> $3 AND active = 1")
            .bind(now)
            .bind(identity_id)
            .bind(keep)
            .execute_on(&self.db)
            .await?;
        self.wrote();
        Ok(done.rows_affected())
    }

    pub async fn delete_identity_sessions(&self, identity_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM identity_sessions WHERE identity_id = $1")
            .bind(identity_id)
            .execute_on(&self.db)
            .await?;
        self.wrote();
        Ok(done.rows_affected())
    }

    pub async fn set_session_expiry(
        &self,
        id: &str,
        expires_at: Micros,
        now: Micros,
    ) -> Result<()> {
        sqlx::query("UPDATE identity_sessions SET expires_at = $1, updated_at = $2 WHERE id = $3")
            .bind(expires_at)
            .bind(now)
            .bind(id)
            .execute_on(&self.db)
            .await?;
        self.wrote();
        Ok(())
    }

    /// Re-authentication (`refresh=true`): new `authenticated_at`, methods and expiry.
    pub async fn refresh_session(&self, session: &Session, now: Micros) -> Result<()> {
        sqlx::query("UPDATE identity_sessions SET authenticated_at = $1, expires_at = $2, methods = $3, aal = $4, updated_at = $5 WHERE id = $6")
            .bind(session.authenticated_at)
            .bind(session.expires_at)
            .bind(to_text(&session.methods)?)
            .bind(session.aal.as_str())
            .bind(now)
            .bind(&session.id)
            .execute_on(&self.db)
            .await?;
        self.wrote();
        Ok(())
    }

    // --- flows ------------------------------------------------------------------------------

    pub async fn insert_flow(&self, flow: &Flow, now: Micros) -> Result<()> {
        sqlx::query(&format!("INSERT INTO identity_flows ({FLOW_COLS}, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"))
            .bind(&flow.id)
            .bind(flow.kind.as_str())
            .bind(flow.flow_type.as_str())
            .bind(flow.state.as_str())
            .bind(&flow.csrf_token)
            .bind(flow.return_to.clone())
            .bind(&flow.request_url)
            .bind(to_text(&flow.ui)?)
            .bind(flow.identity_id.clone())
            .bind(flow.session_id.clone())
            .bind(i64::from(flow.refresh))
            .bind(flow.requested_aal.as_str())
            .bind(flow.active.map(|m| m.as_str()))
            .bind(flow.issued_at)
            .bind(flow.expires_at)
            .bind(now)
            .bind(now)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    pub async fn update_flow(&self, flow: &Flow, now: Micros) -> Result<()> {
        sqlx::query("UPDATE identity_flows SET state = $1, ui = $2, active = $3, identity_id = $4, updated_at = $5 WHERE id = $6")
            .bind(flow.state.as_str())
            .bind(to_text(&flow.ui)?)
            .bind(flow.active.map(|m| m.as_str()))
            .bind(flow.identity_id.clone())
            .bind(now)
            .bind(&flow.id)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// Stores the error of a failed browser flow (Kratos' error container).
    pub async fn insert_flow_error(&self, id: &str, error: &Value, now: Micros) -> Result<()> {
        sqlx::query("INSERT INTO identity_flow_errors (id, error, created_at, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(to_text(error)?)
            .bind(now)
            .bind(now)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// A stored flow error: `(error, created_at, updated_at)`.
    pub async fn flow_error(&self, id: &str) -> Result<Option<(Value, Micros, Micros)>> {
        let row = sqlx::query(
            "SELECT error, created_at, updated_at FROM identity_flow_errors WHERE id = $1",
        )
        .bind(id)
        .fetch_optional_on(&self.db)
        .await?;
        row.as_ref()
            .map(|row| FlowErrorRow::from_row(row)?.into_parts())
            .transpose()
    }

    pub async fn get_flow(&self, id: &str) -> Result<Option<Flow>> {
        let row = sqlx::query(&format!(
            "SELECT {FLOW_COLS} FROM identity_flows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional_on(&self.db)
        .await?;
        row.as_ref()
            .map(|row| FlowRow::from_row(row)?.into_flow())
            .transpose()
    }

    // --- brute force ------------------------------------------------------------------------

    pub async fn throttle_get(&self, key: &str) -> Result<Option<(i64, Micros)>> {
        let row = sqlx::query(
            "SELECT failures, last_failure FROM identity_login_throttle WHERE key = $1",
        )
        .bind(key)
        .fetch_optional_on(&self.db)
        .await?;
        row.as_ref()
            .map(|row| {
                let row = ThrottleRow::from_row(row)?;
                Ok((row.failures, row.last_failure))
            })
            .transpose()
    }

    /// Counts one failure for `key` at `now` if `rule` allows an attempt — in one statement,
    /// so that every instance on the database sees each reservation and concurrent attempts
    /// cannot all pass one check. `false` (nothing counted) when the key must still wait.
    /// The failures restart at 1 once the window has passed since the last one.
    pub async fn throttle_reserve(&self, key: &str, now: Micros, rule: &Rule) -> Result<bool> {
        const T: &str = "identity_login_throttle";
        let sql = format!(
            "INSERT INTO {T} (key, failures, last_failure) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN $2 - {T}.last_failure >= $3 THEN 1 ELSE {T}.failures + 1 END, \
               last_failure = $2 \
             WHERE $2 - {T}.last_failure >= $3 OR {T}.failures < $4 \
               OR {T}.last_failure + (CASE WHEN ($5 << {shift}) < $6 THEN ($5 << {shift}) ELSE $6 END) <= $2 \
             RETURNING failures",
            shift = format!(
                "CAST(CASE WHEN {T}.failures - $4 < 0 THEN 0 WHEN {T}.failures - $4 > $7 THEN $7 ELSE {T}.failures - $4 END AS INTEGER)"
            ),
        );
        let row = sqlx::query(&sql)
            .bind(key)
            .bind(now)
            .bind(rule.window)
            .bind(rule.free)
            .bind(rule.base)
            .bind(rule.max)
            .bind(rule.max_shift)
            .fetch_optional_on(&self.db)
            .await?;
        Ok(row.is_some())
    }

    /// Gives back one reserved failure of `key` (the attempt turned out not to be one).
    pub async fn throttle_refund(&self, key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE identity_login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .execute_on(&self.db)
        .await?;
        Ok(())
    }

    pub async fn throttle_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM identity_login_throttle WHERE key = $1")
            .bind(key)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }
}

/// The `WHERE` clause (with a leading space, or empty) and its text binds for an identity list.
fn identity_where(filter: &IdentityFilter, after: Option<&str>) -> (String, Vec<String>) {
    let mut binds: Vec<String> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    if let Some(identifier) = &filter.credentials_identifier {
        binds.push(identifier.to_lowercase());
        clauses.push(format!(
            "i.id IN (SELECT identity_id FROM identity_credential_identifiers WHERE identifier = ${})",
            binds.len()
        ));
    }
    if !filter.ids.is_empty() {
        let mut marks = Vec::new();
        for id in &filter.ids {
            binds.push(id.clone());
            marks.push(format!("${}", binds.len()));
        }
        clauses.push(format!("i.id IN ({})", marks.join(", ")));
    }
    if let Some(after) = after {
        binds.push(after.to_owned());
        clauses.push(format!("i.id > ${}", binds.len()));
    }
    if clauses.is_empty() {
        (String::new(), binds)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), binds)
    }
}

async fn insert_identity_row(tx: &mut Transaction<'_, Any>, identity: &Identity) -> Result<()> {
    sqlx::query("INSERT INTO identity_identities (id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, verifiable_addresses, recovery_addresses, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(&identity.id)
        .bind(&identity.schema_id)
        .bind(identity.state.as_str())
        .bind(identity.state_changed_at)
        .bind(to_text(&identity.traits)?)
        .bind(identity.metadata_public.as_ref().map(to_text).transpose()?)
        .bind(identity.metadata_admin.as_ref().map(to_text).transpose()?)
        .bind(to_text(&identity.verifiable_addresses)?)
        .bind(to_text(&identity.recovery_addresses)?)
        .bind(identity.created_at)
        .bind(identity.updated_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_children(
    tx: &mut Transaction<'_, Any>,
    identity: &Identity,
    credentials: &[Credential],
) -> Result<()> {
    for c in credentials {
        sqlx::query("INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&c.id)
            .bind(&identity.id)
            .bind(c.kind.as_str())
            .bind(to_text(&c.config)?)
            .bind(c.version)
            .bind(c.created_at)
            .bind(c.updated_at)
            .execute(&mut **tx)
            .await?;
        for ident in &c.identifiers {
            sqlx::query("INSERT INTO identity_credential_identifiers (type, identifier, identity_id, credential_id) VALUES ($1, $2, $3, $4)")
                .bind(c.kind.as_str())
                .bind(ident)
                .bind(&identity.id)
                .bind(&c.id)
                .execute(&mut **tx)
                .await?;
        }
    }
    for a in &identity.verifiable_addresses {
        insert_address(
            tx,
            "identity_verifiable_addresses",
            &a.id,
            &identity.id,
            &a.via,
            &a.value,
        )
        .await?;
    }
    for a in &identity.recovery_addresses {
        insert_address(
            tx,
            "identity_recovery_addresses",
            &a.id,
            &identity.id,
            &a.via,
            &a.value,
        )
        .await?;
    }
    Ok(())
}

async fn insert_address(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    id: &str,
    identity_id: &str,
    via: &str,
    value: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {table} (id, identity_id, via, value) VALUES ($1, $2, $3, $4)"
    ))
    .bind(id)
    .bind(identity_id)
    .bind(via)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
