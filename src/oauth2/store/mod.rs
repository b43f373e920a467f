//! The oauth2 role's SQL: clients, JSON Web Keys, tokens, login/consent/logout flows, login
//! sessions, consents and seen JWT ids — portable SQL over the shared `Db` (SQLite and
//! PostgreSQL). The only module of the role that knows SQL. Timestamps are Unix microseconds.
//! Rows become the role's types through one record per table ([`rows`]); issued tokens are
//! written by a group-committing writer ([`token_writer`]).

mod rows;
#[cfg(test)]
mod tests;
mod token_writer;

use std::sync::{Arc, LazyLock};

use sqlx::FromRow;

use self::rows::{
    from_row, to_document, ClientRecord, ConsentRecord, FlowRecord, GrantRecord, LoginSessionDoc,
    LoginSessionRecord, TokenRecord,
};
use self::token_writer::TokenWriter;
use super::challenge::{Consent, Flow, FlowDoc, FlowState, LoginSession};
use super::client::Client;
use super::error::{Error, Result};
use super::grant::TokenRow;
use super::trust::Grant;
use crate::store::batch::{Batcher, InList};
use crate::store::{Db, OnDb};

/// The oauth2 tables.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    tokens: Arc<TokenWriter>,
    /// Token reads (introspection above all): concurrent lookups share statements.
    tokens_by_signature: Batcher<String, TokenRow, Error>,
    /// Client reads (every token request authenticates one): concurrent lookups of the same
    /// or other clients share statements, each as fresh as a read of its own.
    clients_by_id: Batcher<String, Arc<StoredClient>, Error>,
}

/// At most this many signatures per token statement, and this many statements at once. One
/// statement at a time lets every lookup that arrives meanwhile share the next one: at 64
/// concurrent introspections, 1 × 64 answered 37-48k/s with p99 3.0-4.1 ms where 4 × 32 gave
/// 25-32k/s with p99 4.8-6.8 ms (PostgreSQL and SQLite alike; `docs/benchmarks.md`).
const TOKEN_BATCH_KEYS: usize = 64;
const TOKEN_BATCH_STATEMENTS: usize = 1;

/// Tokens by signature in one statement.
async fn tokens_by_signatures(db: Db, signatures: Vec<String>) -> Result<Vec<(String, TokenRow)>> {
    static SQL: LazyLock<InList> = LazyLock::new(|| {
        InList::new(
            TOKEN_BATCH_KEYS,
            "SELECT * FROM oauth2_tokens WHERE signature IN ({keys})",
        )
    });
    let rows = SQL.fetch(&db, &signatures).await?;
    rows.iter()
        .map(|row| from_row::<TokenRecord, TokenRow>(row).map(|t| (t.signature.clone(), t)))
        .collect()
}

/// Clients by id in one statement.
async fn clients_by_ids(db: Db, ids: Vec<String>) -> Result<Vec<(String, Arc<StoredClient>)>> {
    static SQL: LazyLock<InList> = LazyLock::new(|| {
        InList::new(
            CLIENT_BATCH_KEYS,
            &format!("SELECT {CLIENT_COLUMNS} FROM oauth2_clients WHERE id IN ({{keys}})"),
        )
    });
    let rows = SQL.fetch(&db, &ids).await?;
    rows.iter()
        .map(|row| {
            let mut record = ClientRecord::from_row(row)?;
            let id = std::mem::take(&mut record.id);
            Ok((id, Arc::new(StoredClient::try_from(record)?)))
        })
        .collect()
}

/// At most this many ids per client statement, and this many statements at once.
const CLIENT_BATCH_KEYS: usize = 16;
const CLIENT_BATCH_STATEMENTS: usize = 2;

/// The columns every client read selects (a [`ClientRecord`]).
const CLIENT_COLUMNS: &str = "id, doc, secret_hash, registration_key, revision";

/// A stored client with what never leaves the server.
#[derive(Clone)]
pub struct StoredClient {
    pub client: Client,
    pub secret_hash: String,
    pub registration_key: String,
    /// A new random value on every write of the row (never negative): a token insert guarded
    /// by it lands only while the client is still the one that was read.
    pub revision: i64,
}

/// A fresh client revision: random, non-negative (a deleted and recreated client gets a new
/// one, so an old copy of it can never pass for the new one).
fn new_revision() -> i64 {
    (rand::random::<u64>() >> 1) as i64
}

impl Store {
    pub fn new(db: Db) -> Store {
        let reader = db.clone();
        let client_reader = db.clone();
        Store {
            tokens: Arc::new(TokenWriter::new(db.clone())),
            tokens_by_signature: Batcher::new(TOKEN_BATCH_KEYS, TOKEN_BATCH_STATEMENTS, move |s| {
                Box::pin(tokens_by_signatures(reader.clone(), s))
            }),
            clients_by_id: Batcher::new(CLIENT_BATCH_KEYS, CLIENT_BATCH_STATEMENTS, move |ids| {
                Box::pin(clients_by_ids(client_reader.clone(), ids))
            }),
            db,
        }
    }

    #[cfg(test)]
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    // --- clients ---------------------------------------------------------------------------

    pub(crate) async fn insert_client(
        &self,
        c: &Client,
        secret_hash: &str,
        registration_key: &str,
        now: i64,
    ) -> Result<()> {
        let doc = serde_json::to_string(&c.clone().without_secrets())
            .map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query("INSERT INTO oauth2_clients (id, client_name, owner, secret_hash, registration_key, doc, created_at, updated_at, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&c.client_id)
            .bind(&c.client_name)
            .bind(&c.owner)
            .bind(secret_hash)
            .bind(registration_key)
            .bind(doc)
            .bind(now)
            .bind(now)
            .bind(new_revision())
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    pub(crate) async fn update_client(
        &self,
        c: &Client,
        secret_hash: &str,
        registration_key: &str,
        now: i64,
    ) -> Result<bool> {
        let doc = serde_json::to_string(&c.clone().without_secrets())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let done = sqlx::query("UPDATE oauth2_clients SET client_name = $2, owner = $3, secret_hash = $4, registration_key = $5, doc = $6, updated_at = $7, revision = $8 WHERE id = $1")
            .bind(&c.client_id)
            .bind(&c.client_name)
            .bind(&c.owner)
            .bind(secret_hash)
            .bind(registration_key)
            .bind(doc)
            .bind(now)
            .bind(new_revision())
            .execute_on(&self.db)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The client with this id, read by a statement shared with concurrent lookups.
    pub(crate) async fn get_client(&self, id: &str) -> Result<Option<StoredClient>> {
        let found = self.get_shared_client(id).await?;
        Ok(found.map(Arc::unwrap_or_clone))
    }

    /// [`Store::get_client`], as the shared copy the statement produced.
    pub(crate) async fn get_shared_client(&self, id: &str) -> Result<Option<Arc<StoredClient>>> {
        self.clients_by_id.get(id.to_owned()).await
    }

    /// One page of clients (oldest first) and the total matching the filters.
    pub(crate) async fn list_clients(
        &self,
        name: &str,
        owner: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Client>, i64)> {
        let filter = "($1 = '' OR client_name = $1) AND ($2 = '' OR owner = $2)";
        let total: (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM oauth2_clients WHERE {filter}"
        ))
        .bind(name)
        .bind(owner)
        .fetch_one(self.db.pool())
        .await?;
        let rows = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth2_clients WHERE {filter} ORDER BY created_at, id LIMIT $3 OFFSET $4"))
            .bind(name)
            .bind(owner)
            .bind(limit)
            .bind(offset)
            .fetch_all_on(&self.db)
            .await?;
        let clients = rows
            .iter()
            .map(from_row::<ClientRecord, Client>)
            .collect::<Result<Vec<_>>>()?;
        Ok((clients, total.0))
    }

    pub(crate) async fn delete_client(&self, id: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = sqlx::query("DELETE FROM oauth2_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth2_tokens WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth2_consents WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth2_forced_subjects WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records the `force_subject_identifier` a login accepted for `client_id` and `subject`
    /// (the newest wins).
    pub(crate) async fn put_forced_subject(
        &self,
        client_id: &str,
        subject: &str,
        obfuscated: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO oauth2_forced_subjects (client_id, subject, obfuscated) VALUES ($1, $2, $3) ON CONFLICT (client_id, subject) DO UPDATE SET obfuscated = excluded.obfuscated")
            .bind(client_id)
            .bind(subject)
            .bind(obfuscated)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// The identifier a login forced for `client_id` and `subject`, if any.
    pub(crate) async fn forced_subject(
        &self,
        client_id: &str,
        subject: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT obfuscated FROM oauth2_forced_subjects WHERE client_id = $1 AND subject = $2",
        )
        .bind(client_id)
        .bind(subject)
        .fetch_optional_on(&self.db)
        .await?;
        Ok(row
            .as_ref()
            .map(<(String,)>::from_row)
            .transpose()?
            .map(|(o,)| o))
    }

    // --- keys ------------------------------------------------------------------------------

    /// Keys of a set, newest first: `(kid, sealed private JWK)`.
    pub(crate) async fn keys(&self, set: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT kid, sealed FROM oauth2_jwks WHERE set_id = $1 ORDER BY seq DESC, created_at DESC")
            .bind(set)
            .fetch_all_on(&self.db)
            .await?;
        Ok(rows
            .iter()
            .map(<(String, String)>::from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The sealed form of a set's newest key (the one that signs).
    pub(crate) async fn newest_key(&self, set: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT sealed FROM oauth2_jwks WHERE set_id = $1 ORDER BY seq DESC, created_at DESC LIMIT 1")
            .bind(set)
            .fetch_optional_on(&self.db)
            .await?;
        Ok(row
            .as_ref()
            .map(<(String,)>::from_row)
            .transpose()?
            .map(|(k,)| k))
    }

    /// Adds keys to a set (replacing same-kid keys); with `replace_set` the set is emptied
    /// first. One transaction; later keys in `keys` become newer.
    pub(crate) async fn put_keys(
        &self,
        set: &str,
        keys: &[(String, String)],
        replace_set: bool,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if replace_set {
            sqlx::query("DELETE FROM oauth2_jwks WHERE set_id = $1")
                .bind(set)
                .execute(&mut *tx)
                .await?;
        }
        let max: (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM oauth2_jwks")
            .fetch_one(&mut *tx)
            .await?;
        let mut seq = max.0.unwrap_or(0);
        for (kid, sealed) in keys {
            seq += 1;
            sqlx::query("DELETE FROM oauth2_jwks WHERE set_id = $1 AND kid = $2")
                .bind(set)
                .bind(kid)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO oauth2_jwks (set_id, kid, seq, sealed, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(set)
                .bind(kid)
                .bind(seq)
                .bind(sealed)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_keys(&self, set: &str, kid: Option<&str>) -> Result<bool> {
        let done = match kid {
            Some(kid) => {
                sqlx::query("DELETE FROM oauth2_jwks WHERE set_id = $1 AND kid = $2")
                    .bind(set)
                    .bind(kid)
                    .execute_on(&self.db)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM oauth2_jwks WHERE set_id = $1")
                    .bind(set)
                    .execute_on(&self.db)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    // --- tokens ----------------------------------------------------------------------------

    /// Stores a new token once it has committed. Concurrent calls are coalesced into one
    /// multi-row INSERT (see [`TokenWriter`]), so a burst of issuances pays one commit.
    pub(crate) async fn insert_token(&self, t: TokenRow) -> Result<()> {
        self.tokens.insert(t, None).await.map(|_| ())
    }

    /// [`Store::insert_token`] for a client read earlier: the row is stored only if the
    /// client's row still has `revision` when the INSERT runs (in the same statement). `false`:
    /// the client was changed or deleted since, and nothing was stored.
    pub(crate) async fn insert_token_if_client_is(
        &self,
        t: TokenRow,
        revision: i64,
    ) -> Result<bool> {
        self.tokens.insert(t, Some(revision)).await
    }

    /// The token with this signature, read by a statement shared with concurrent lookups.
    pub(crate) async fn get_token(&self, signature: &str) -> Result<Option<TokenRow>> {
        self.tokens_by_signature.get(signature.to_owned()).await
    }

    /// Marks a token used/inactive if it is still active; `false` if someone else did first.
    pub(crate) async fn deactivate_token(&self, signature: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE oauth2_tokens SET active = 0 WHERE signature = $1 AND active = 1")
                .bind(signature)
                .execute_on(&self.db)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes a whole grant: deletes its access tokens, deactivates refresh tokens and codes.
    pub(crate) async fn revoke_request(&self, request_id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM oauth2_tokens WHERE request_id = $1 AND kind = 'access_token'")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE oauth2_tokens SET active = 0 WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_access_tokens_of_request(&self, request_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth2_tokens WHERE request_id = $1 AND kind = 'access_token'")
            .bind(request_id)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_access_tokens_of_client(&self, client_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth2_tokens WHERE client_id = $1 AND kind = 'access_token'")
            .bind(client_id)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// Records a JWT id until `expires_at`; `false` if it was seen before and has not expired.
    pub(crate) async fn use_jti(&self, jti: &str, expires_at: i64, now: i64) -> Result<bool> {
        sqlx::query("DELETE FROM oauth2_jtis WHERE jti = $1 AND expires_at < $2")
            .bind(jti)
            .bind(now)
            .execute_on(&self.db)
            .await?;
        match sqlx::query("INSERT INTO oauth2_jtis (jti, expires_at) VALUES ($1, $2)")
            .bind(jti)
            .bind(expires_at)
            .execute_on(&self.db)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match crate::store::map_unique(e) {
                crate::store::StoreError::Conflict(_) => Ok(false),
                other => Err(other.into()),
            },
        }
    }

    // --- flows -----------------------------------------------------------------------------

    pub(crate) async fn insert_flow<D: FlowDoc>(&self, f: &Flow<D>) -> Result<()> {
        sqlx::query("INSERT INTO oauth2_flows (challenge, kind, verifier, state, client_id, subject, requested_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&f.challenge)
            .bind(D::KIND.as_str())
            .bind(&f.verifier)
            .bind(f.state.as_str())
            .bind(&f.client_id)
            .bind(&f.subject)
            .bind(f.requested_at)
            .bind(to_document(&f.doc)?)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// The flow of kind `D` with this challenge.
    pub(crate) async fn get_flow<D: FlowDoc>(&self, challenge: &str) -> Result<Option<Flow<D>>> {
        let row = sqlx::query("SELECT * FROM oauth2_flows WHERE challenge = $1 AND kind = $2")
            .bind(challenge)
            .bind(D::KIND.as_str())
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref()
            .map(from_row::<FlowRecord, Flow<D>>)
            .transpose()
    }

    /// The flow of kind `D` with this verifier.
    pub(crate) async fn get_flow_by_verifier<D: FlowDoc>(
        &self,
        verifier: &str,
    ) -> Result<Option<Flow<D>>> {
        let row = sqlx::query("SELECT * FROM oauth2_flows WHERE verifier = $1 AND kind = $2")
            .bind(verifier)
            .bind(D::KIND.as_str())
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref()
            .map(from_row::<FlowRecord, Flow<D>>)
            .transpose()
    }

    /// Moves a flow from `from` to the row's state (compare-and-set); `false` if it was not in
    /// `from` any more (a concurrent or replayed transition).
    pub(crate) async fn transition_flow<D: FlowDoc>(
        &self,
        f: &Flow<D>,
        from: FlowState,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE oauth2_flows SET state = $2, verifier = $3, subject = $4, doc = $5 WHERE challenge = $1 AND state = $6")
            .bind(&f.challenge)
            .bind(f.state.as_str())
            .bind(&f.verifier)
            .bind(&f.subject)
            .bind(to_document(&f.doc)?)
            .bind(from.as_str())
            .execute_on(&self.db)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // --- login sessions --------------------------------------------------------------------

    /// Stores login session `id` (replacing one of that id).
    pub(crate) async fn upsert_login_session(
        &self,
        id: &str,
        session: &LoginSession,
    ) -> Result<()> {
        let doc = to_document(&LoginSessionDoc {
            identity_provider_session_id: Some(session.identity_provider_session_id.clone()),
        })?;
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM oauth2_login_sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO oauth2_login_sessions (id, subject, authenticated_at, remember, expires_at, doc) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(&session.subject)
            .bind(session.authenticated_at)
            .bind(i64::from(session.remember))
            .bind(session.expires_at)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Login session `id`, if it exists.
    pub(crate) async fn login_session(&self, id: &str) -> Result<Option<LoginSession>> {
        let row = sqlx::query("SELECT subject, authenticated_at, remember, expires_at, doc FROM oauth2_login_sessions WHERE id = $1").bind(id).fetch_optional_on(&self.db).await?;
        row.as_ref()
            .map(from_row::<LoginSessionRecord, LoginSession>)
            .transpose()
    }

    pub(crate) async fn delete_login_sessions(
        &self,
        subject: Option<&str>,
        sid: Option<&str>,
    ) -> Result<()> {
        if let Some(sid) = sid {
            sqlx::query("DELETE FROM oauth2_login_sessions WHERE id = $1")
                .bind(sid)
                .execute_on(&self.db)
                .await?;
        }
        if let Some(subject) = subject {
            sqlx::query("DELETE FROM oauth2_login_sessions WHERE subject = $1")
                .bind(subject)
                .execute_on(&self.db)
                .await?;
        }
        Ok(())
    }

    // --- consents --------------------------------------------------------------------------

    /// The clients that obtained a consent of `subject` within login session `sid` (revoked or
    /// not), for front- and back-channel logout — Hydra's
    /// `ListUserAuthenticatedClientsWith{Front,Back}ChannelLogout`.
    pub(crate) async fn login_session_clients(
        &self,
        subject: &str,
        sid: &str,
    ) -> Result<Vec<Client>> {
        let rows = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth2_clients WHERE id IN (SELECT client_id FROM oauth2_consents WHERE subject = $1 AND login_session_id = $2) ORDER BY id"))
            .bind(subject)
            .bind(sid)
            .fetch_all_on(&self.db)
            .await?;
        rows.iter().map(from_row::<ClientRecord, Client>).collect()
    }

    pub(crate) async fn insert_consent(&self, c: &Consent) -> Result<()> {
        sqlx::query("INSERT INTO oauth2_consents (challenge, subject, client_id, login_session_id, remember, revoked, expires_at, handled_at, doc) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)")
            .bind(&c.challenge)
            .bind(&c.subject)
            .bind(&c.client_id)
            .bind(&c.login_session_id)
            .bind(i64::from(c.remember))
            .bind(c.expires_at)
            .bind(c.handled_at)
            .bind(to_document(&c.doc)?)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// Unrevoked consents of a subject (optionally one client or one login session), newest first.
    pub(crate) async fn consents(
        &self,
        subject: &str,
        client_id: Option<&str>,
        login_session_id: Option<&str>,
    ) -> Result<Vec<Consent>> {
        let rows = sqlx::query("SELECT * FROM oauth2_consents WHERE subject = $1 AND revoked = 0 AND ($2 = '' OR client_id = $2) AND ($3 = '' OR login_session_id = $3) ORDER BY handled_at DESC")
            .bind(subject)
            .bind(client_id.unwrap_or(""))
            .bind(login_session_id.unwrap_or(""))
            .fetch_all_on(&self.db)
            .await?;
        rows.iter()
            .map(from_row::<ConsentRecord, Consent>)
            .collect()
    }

    /// Revokes consents (of one client or all) and every token issued under them.
    pub(crate) async fn revoke_consents(
        &self,
        subject: &str,
        client_id: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let rows = sqlx::query("SELECT challenge FROM oauth2_consents WHERE subject = $1 AND ($2 = '' OR client_id = $2)")
            .bind(subject)
            .bind(client_id.unwrap_or(""))
            .fetch_all(&mut *tx)
            .await?;
        for r in rows {
            let (challenge,) = <(String,)>::from_row(&r)?;
            sqlx::query(
                "DELETE FROM oauth2_tokens WHERE request_id = $1 AND kind = 'access_token'",
            )
            .bind(&challenge)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE oauth2_tokens SET active = 0 WHERE request_id = $1")
                .bind(&challenge)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE oauth2_consents SET revoked = 1 WHERE subject = $1 AND ($2 = '' OR client_id = $2)")
            .bind(subject)
            .bind(client_id.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // --- trusted jwt-bearer issuers ---------------------------------------------------------

    /// Stores a trust relationship and its public key (in the key set named after the issuer,
    /// as Hydra) in one transaction; an existing (issuer, kid) key or (issuer, subject, kid)
    /// grant is a conflict.
    pub(crate) async fn insert_grant(&self, g: &Grant, sealed_key: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let max: (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM oauth2_jwks")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO oauth2_jwks (set_id, kid, seq, sealed, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&g.key_set)
            .bind(&g.key_id)
            .bind(max.0.unwrap_or(0) + 1)
            .bind(sealed_key)
            .bind(g.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO oauth2_trust_grants (id, issuer, subject, allow_any_subject, scope, key_set, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&g.id)
            .bind(&g.issuer)
            .bind(&g.subject)
            .bind(i64::from(g.allow_any_subject))
            .bind(serde_json::to_string(&g.scope).map_err(|e| Error::Internal(e.to_string()))?)
            .bind(&g.key_set)
            .bind(&g.key_id)
            .bind(g.created_at)
            .bind(g.expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_grant(&self, id: &str) -> Result<Option<Grant>> {
        let row = sqlx::query("SELECT * FROM oauth2_trust_grants WHERE id = $1")
            .bind(id)
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref().map(from_row::<GrantRecord, Grant>).transpose()
    }

    /// One page of grants (optionally of one issuer) and how many grants the filter matches.
    pub(crate) async fn list_grants(
        &self,
        issuer: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Grant>, i64)> {
        let total: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM oauth2_trust_grants WHERE ($1 = '' OR issuer = $1)",
        )
        .bind(issuer)
        .fetch_one(self.db.pool())
        .await?;
        let rows = sqlx::query("SELECT * FROM oauth2_trust_grants WHERE ($1 = '' OR issuer = $1) ORDER BY created_at, id LIMIT $2 OFFSET $3")
            .bind(issuer)
            .bind(limit)
            .bind(offset)
            .fetch_all_on(&self.db)
            .await?;
        let grants = rows
            .iter()
            .map(from_row::<GrantRecord, Grant>)
            .collect::<Result<Vec<_>>>()?;
        Ok((grants, total.0))
    }

    /// Deletes a grant and its key; `false` if there was none.
    pub(crate) async fn delete_grant(&self, id: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let row = sqlx::query("SELECT * FROM oauth2_trust_grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(g) = row
            .as_ref()
            .map(from_row::<GrantRecord, Grant>)
            .transpose()?
        else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM oauth2_trust_grants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth2_jwks WHERE set_id = $1 AND kid = $2")
            .bind(&g.key_set)
            .bind(&g.key_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Unexpired grants that trust `issuer` for `subject` (by name or any subject), optionally
    /// only those of key `kid`.
    pub(crate) async fn trusting_grants(
        &self,
        issuer: &str,
        subject: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT * FROM oauth2_trust_grants WHERE issuer = $1 AND (subject = $2 OR allow_any_subject = 1) AND ($3 = '' OR key_id = $3) AND expires_at > $4 ORDER BY created_at DESC")
            .bind(issuer)
            .bind(subject)
            .bind(kid.unwrap_or(""))
            .bind(now)
            .fetch_all_on(&self.db)
            .await?;
        rows.iter().map(from_row::<GrantRecord, Grant>).collect()
    }
}
