//! The oauth2 role's SQL: clients, JSON Web Keys, tokens, login/consent/logout flows, login
//! sessions, consents and seen JWT ids — portable SQL over the shared `Db` (SQLite and
//! PostgreSQL). The only module of the role that knows SQL. Timestamps are Unix microseconds.

use std::sync::{Arc, LazyLock, OnceLock};

use sqlx::any::AnyRow;
use sqlx::FromRow;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::challenge::{
    ChallengeKind, Consent, ConsentDoc, Flow, FlowDoc, FlowState, LoginSession,
};
use super::client::Client;
use super::error::{Error, Result};
use super::grant::TokenRow;
use super::token::Kind;
use super::trust::Grant;
use crate::store::batch::{Batcher, InList};
use crate::store::{Backend, Db, OnDb};

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
            let record = ClientRecord::from_row(row)?;
            Ok((record.id.clone(), Arc::new(StoredClient::try_from(record)?)))
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

// --- row mapping: one record per table, as its columns are; each becomes the role's type ------

/// `row` as the record `R` of its table, then as the role's type `T`.
fn from_row<R, T>(row: &AnyRow) -> Result<T>
where
    R: for<'r> FromRow<'r, AnyRow>,
    T: TryFrom<R, Error = Error>,
{
    T::try_from(R::from_row(row)?)
}

/// A JSON document column as the type it holds.
fn document<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored {what} is corrupt: {e}")))
}

fn to_document<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}

/// A stored value the code no longer knows (a state, a kind) is a corrupt row.
fn known<T>(parsed: std::result::Result<T, impl std::fmt::Display>) -> Result<T> {
    parsed.map_err(|e| Error::Internal(format!("a stored row holds an {e}")))
}

#[derive(FromRow)]
struct ClientRecord {
    id: String,
    doc: String,
    secret_hash: String,
    registration_key: String,
    revision: i64,
}

impl TryFrom<ClientRecord> for StoredClient {
    type Error = Error;
    fn try_from(r: ClientRecord) -> Result<StoredClient> {
        Ok(StoredClient {
            client: document("client", &r.doc)?,
            secret_hash: r.secret_hash,
            registration_key: r.registration_key,
            revision: r.revision,
        })
    }
}

impl TryFrom<ClientRecord> for Client {
    type Error = Error;
    fn try_from(r: ClientRecord) -> Result<Client> {
        document("client", &r.doc)
    }
}

#[derive(FromRow)]
struct TokenRecord {
    signature: String,
    kind: String,
    request_id: String,
    client_id: String,
    subject: String,
    active: i64,
    requested_at: i64,
    expires_at: i64,
    session: String,
}

impl TryFrom<TokenRecord> for TokenRow {
    type Error = Error;
    fn try_from(r: TokenRecord) -> Result<TokenRow> {
        Ok(TokenRow {
            signature: r.signature,
            kind: known(Kind::parse(&r.kind))?,
            request_id: r.request_id,
            client_id: r.client_id,
            subject: r.subject,
            active: r.active != 0,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            session: r.session,
        })
    }
}

#[derive(FromRow)]
struct FlowRecord {
    challenge: String,
    kind: String,
    verifier: String,
    state: String,
    client_id: String,
    subject: String,
    requested_at: i64,
    doc: String,
}

impl<D: FlowDoc> TryFrom<FlowRecord> for Flow<D> {
    type Error = Error;
    fn try_from(r: FlowRecord) -> Result<Flow<D>> {
        let kind = known(ChallengeKind::parse(&r.kind))?;
        if kind != D::KIND {
            return Err(Error::Internal(format!(
                "flow {} is a {} flow, not a {} flow",
                r.challenge,
                kind.as_str(),
                D::KIND.as_str()
            )));
        }
        Ok(Flow {
            doc: document(D::KIND.as_str(), &r.doc)?,
            challenge: r.challenge,
            verifier: r.verifier,
            state: known(FlowState::parse(&r.state))?,
            client_id: r.client_id,
            subject: r.subject,
            requested_at: r.requested_at,
        })
    }
}

#[derive(FromRow)]
struct GrantRecord {
    id: String,
    issuer: String,
    subject: String,
    allow_any_subject: i64,
    scope: String,
    key_set: String,
    key_id: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<GrantRecord> for Grant {
    type Error = Error;
    fn try_from(r: GrantRecord) -> Result<Grant> {
        Ok(Grant {
            id: r.id,
            issuer: r.issuer,
            subject: r.subject,
            allow_any_subject: r.allow_any_subject != 0,
            scope: serde_json::from_str(&r.scope).unwrap_or_default(),
            key_set: r.key_set,
            key_id: r.key_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(FromRow)]
struct ConsentRecord {
    challenge: String,
    subject: String,
    client_id: String,
    login_session_id: String,
    remember: i64,
    expires_at: i64,
    handled_at: i64,
    doc: String,
}

impl TryFrom<ConsentRecord> for Consent {
    type Error = Error;
    fn try_from(r: ConsentRecord) -> Result<Consent> {
        Ok(Consent {
            doc: document::<ConsentDoc>("consent", &r.doc)?,
            challenge: r.challenge,
            subject: r.subject,
            client_id: r.client_id,
            login_session_id: r.login_session_id,
            remember: r.remember != 0,
            expires_at: r.expires_at,
            handled_at: r.handled_at,
        })
    }
}

#[derive(FromRow)]
struct LoginSessionRecord {
    subject: String,
    authenticated_at: i64,
    remember: i64,
    expires_at: i64,
    doc: String,
}

/// A login session's document column.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
struct LoginSessionDoc {
    identity_provider_session_id: Option<String>,
}

impl TryFrom<LoginSessionRecord> for LoginSession {
    type Error = Error;
    fn try_from(r: LoginSessionRecord) -> Result<LoginSession> {
        let doc: LoginSessionDoc = document("login session", &r.doc)?;
        Ok(LoginSession {
            subject: r.subject,
            authenticated_at: r.authenticated_at,
            remember: r.remember != 0,
            expires_at: r.expires_at,
            identity_provider_session_id: doc.identity_provider_session_id.unwrap_or_default(),
        })
    }
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

    pub fn db(&self) -> &Db {
        &self.db
    }

    // --- clients ---------------------------------------------------------------------------

    pub async fn insert_client(
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

    pub async fn update_client(
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
    pub async fn get_client(&self, id: &str) -> Result<Option<StoredClient>> {
        let found = self.get_shared_client(id).await?;
        Ok(found.map(Arc::unwrap_or_clone))
    }

    /// [`Store::get_client`], as the shared copy the statement produced.
    pub async fn get_shared_client(&self, id: &str) -> Result<Option<Arc<StoredClient>>> {
        self.clients_by_id.get(id.to_owned()).await
    }

    /// One page of clients (oldest first) and the total matching the filters.
    pub async fn list_clients(
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

    pub async fn delete_client(&self, id: &str) -> Result<bool> {
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
    pub async fn put_forced_subject(
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
    pub async fn forced_subject(&self, client_id: &str, subject: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT obfuscated FROM oauth2_forced_subjects WHERE client_id = $1 AND subject = $2",
        )
        .bind(client_id)
        .bind(subject)
        .fetch_optional_on(&self.db)
        .await?;
        Ok(row.as_ref().map(<(String,)>::from_row).transpose()?.map(|(o,)| o))
    }

    // --- keys ------------------------------------------------------------------------------

    /// Keys of a set, newest first: `(kid, sealed private JWK)`.
    pub async fn keys(&self, set: &str) -> Result<Vec<(String, String)>> {
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
    pub async fn newest_key(&self, set: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT sealed FROM oauth2_jwks WHERE set_id = $1 ORDER BY seq DESC, created_at DESC LIMIT 1")
            .bind(set)
            .fetch_optional_on(&self.db)
            .await?;
        Ok(row.as_ref().map(<(String,)>::from_row).transpose()?.map(|(k,)| k))
    }

    /// Adds keys to a set (replacing same-kid keys); with `replace_set` the set is emptied
    /// first. One transaction; later keys in `keys` become newer.
    pub async fn put_keys(
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

    pub async fn delete_keys(&self, set: &str, kid: Option<&str>) -> Result<bool> {
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
    pub async fn insert_token(&self, t: TokenRow) -> Result<()> {
        self.tokens.insert(t, None).await.map(|_| ())
    }

    /// [`Store::insert_token`] for a client read earlier: the row is stored only if the
    /// client's row still has `revision` when the INSERT runs (in the same statement). `false`:
    /// the client was changed or deleted since, and nothing was stored.
    pub async fn insert_token_if_client_is(&self, t: TokenRow, revision: i64) -> Result<bool> {
        self.tokens.insert(t, Some(revision)).await
    }

    /// The token with this signature, read by a statement shared with concurrent lookups.
    pub async fn get_token(&self, signature: &str) -> Result<Option<TokenRow>> {
        self.tokens_by_signature.get(signature.to_owned()).await
    }

    /// Marks a token used/inactive if it is still active; `false` if someone else did first.
    pub async fn deactivate_token(&self, signature: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE oauth2_tokens SET active = 0 WHERE signature = $1 AND active = 1")
                .bind(signature)
                .execute_on(&self.db)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes a whole grant: deletes its access tokens, deactivates refresh tokens and codes.
    pub async fn revoke_request(&self, request_id: &str) -> Result<()> {
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

    pub async fn delete_access_tokens_of_request(&self, request_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth2_tokens WHERE request_id = $1 AND kind = 'access_token'")
            .bind(request_id)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    pub async fn delete_access_tokens_of_client(&self, client_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth2_tokens WHERE client_id = $1 AND kind = 'access_token'")
            .bind(client_id)
            .execute_on(&self.db)
            .await?;
        Ok(())
    }

    /// Records a JWT id until `expires_at`; `false` if it was seen before and has not expired.
    pub async fn use_jti(&self, jti: &str, expires_at: i64, now: i64) -> Result<bool> {
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

    pub async fn insert_flow<D: FlowDoc>(&self, f: &Flow<D>) -> Result<()> {
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
    pub async fn get_flow<D: FlowDoc>(&self, challenge: &str) -> Result<Option<Flow<D>>> {
        let row = sqlx::query("SELECT * FROM oauth2_flows WHERE challenge = $1 AND kind = $2")
            .bind(challenge)
            .bind(D::KIND.as_str())
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref().map(from_row::<FlowRecord, Flow<D>>).transpose()
    }

    /// The flow of kind `D` with this verifier.
    pub async fn get_flow_by_verifier<D: FlowDoc>(&self, verifier: &str) -> Result<Option<Flow<D>>> {
        let row = sqlx::query("SELECT * FROM oauth2_flows WHERE verifier = $1 AND kind = $2")
            .bind(verifier)
            .bind(D::KIND.as_str())
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref().map(from_row::<FlowRecord, Flow<D>>).transpose()
    }

    /// Moves a flow from `from` to the row's state (compare-and-set); `false` if it was not in
    /// `from` any more (a concurrent or replayed transition).
    pub async fn transition_flow<D: FlowDoc>(&self, f: &Flow<D>, from: FlowState) -> Result<bool> {
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
    pub async fn upsert_login_session(&self, id: &str, session: &LoginSession) -> Result<()> {
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
    pub async fn login_session(&self, id: &str) -> Result<Option<LoginSession>> {
        let row = sqlx::query("SELECT subject, authenticated_at, remember, expires_at, doc FROM oauth2_login_sessions WHERE id = $1").bind(id).fetch_optional_on(&self.db).await?;
        row.as_ref()
            .map(from_row::<LoginSessionRecord, LoginSession>)
            .transpose()
    }

    pub async fn delete_login_sessions(
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
    pub async fn login_session_clients(&self, subject: &str, sid: &str) -> Result<Vec<Client>> {
        let rows = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth2_clients WHERE id IN (SELECT client_id FROM oauth2_consents WHERE subject = $1 AND login_session_id = $2) ORDER BY id"))
            .bind(subject)
            .bind(sid)
            .fetch_all_on(&self.db)
            .await?;
        rows.iter().map(from_row::<ClientRecord, Client>).collect()
    }

    pub async fn insert_consent(&self, c: &Consent) -> Result<()> {
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
    pub async fn consents(
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
    pub async fn revoke_consents(&self, subject: &str, client_id: Option<&str>) -> Result<()> {
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
    pub async fn insert_grant(&self, g: &Grant, sealed_key: &str) -> Result<()> {
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

    pub async fn get_grant(&self, id: &str) -> Result<Option<Grant>> {
        let row = sqlx::query("SELECT * FROM oauth2_trust_grants WHERE id = $1")
            .bind(id)
            .fetch_optional_on(&self.db)
            .await?;
        row.as_ref().map(from_row::<GrantRecord, Grant>).transpose()
    }

    /// One page of grants (optionally of one issuer) and the total number of grants.
    pub async fn list_grants(
        &self,
        issuer: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Grant>, i64)> {
        let total: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth2_trust_grants")
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
    pub async fn delete_grant(&self, id: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let row = sqlx::query("SELECT * FROM oauth2_trust_grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(g) = row.as_ref().map(from_row::<GrantRecord, Grant>).transpose()? else {
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
    pub async fn trusting_grants(
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

// --- token writer ----------------------------------------------------------------------------

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
fn token_insert_sql(backend: Backend, n: usize) -> String {
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
    fn new(db: Db) -> TokenWriter {
        TokenWriter {
            db,
            queue: OnceLock::new(),
        }
    }

    async fn insert(&self, row: TokenRow, client_revision: Option<i64>) -> Result<bool> {
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
        .map(|row| <(String,)>::from_row(row).map(|(s,)| s).map_err(Error::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dsn;

    fn client(id: &str) -> Client {
        Client {
            client_id: id.into(),
            client_name: format!("name of {id}"),
            ..Client::default()
        }
    }

    /// Concurrent reads share statements, yet each caller gets its own client (or none), and a
    /// write that committed before a read is always seen by it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_client_reads_each_get_their_own_fresh_row() {
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        db.migrate().await.unwrap();
        let store = Store::new(db);
        for i in 0..5 {
            let id = format!("c{i}");
            store
                .insert_client(&client(&id), &format!("hash-{i}"), "", 0)
                .await
                .unwrap();
        }
        let reads = (0..100).map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("c{}", n % 7); // c5 and c6 do not exist
                (id.clone(), store.get_client(&id).await.unwrap())
            })
        });
        for read in futures::future::join_all(reads).await {
            let (id, found) = read.unwrap();
            let n: usize = id[1..].parse().unwrap();
            match found {
                Some(c) if n < 5 => {
                    assert_eq!(c.client.client_id, id);
                    assert_eq!(c.client.client_name, format!("name of {id}"));
                    assert_eq!(c.secret_hash, format!("hash-{n}"));
                }
                None if n >= 5 => {}
                other => panic!("{id}: {:?}", other.map(|c| c.client.client_id)),
            }
        }
        let mut renamed = client("c1");
        renamed.client_name = "renamed".into();
        assert!(store
            .update_client(&renamed, "hash-new", "", 1)
            .await
            .unwrap());
        let after = store.get_client("c1").await.unwrap().unwrap();
        assert_eq!(after.client.client_name, "renamed");
        assert_eq!(after.secret_hash, "hash-new");
    }

    fn token(signature: &str, client_id: &str) -> TokenRow {
        TokenRow {
            signature: signature.into(),
            kind: Kind::Access,
            request_id: format!("request-{signature}"),
            client_id: client_id.into(),
            subject: client_id.into(),
            active: true,
            requested_at: 0,
            expires_at: i64::MAX,
            session: "{}".into(),
        }
    }

    /// A token guarded by a client revision lands while the client row has it (in a batch
    /// with unguarded and stale rows alike), and never after the client was updated, deleted,
    /// or deleted and recreated under the same id.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn guarded_token_inserts_follow_the_clients_revision() {
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        db.migrate().await.unwrap();
        let store = Store::new(db);
        store.insert_client(&client("c"), "h", "", 0).await.unwrap();
        let read = store.get_client("c").await.unwrap().unwrap().revision;
        // Each client row draws its own revision (a collision has odds of 2^-63).
        store.insert_client(&client("d"), "h", "", 0).await.unwrap();
        let other = store.get_client("d").await.unwrap().unwrap().revision;
        assert_ne!(read, other);
        let (fresh, unguarded, wrong) = tokio::join!(
            store.insert_token_if_client_is(token("t1", "c"), read),
            store.insert_token(token("t2", "c")),
            store.insert_token_if_client_is(token("t3", "c"), read ^ 1),
        );
        assert!(fresh.unwrap());
        unguarded.unwrap();
        assert!(!wrong.unwrap());
        assert!(store.get_token("t1").await.unwrap().is_some());
        assert!(store.get_token("t3").await.unwrap().is_none());

        store.update_client(&client("c"), "h", "", 1).await.unwrap();
        let updated = store.get_client("c").await.unwrap().unwrap().revision;
        assert_ne!(updated, read);
        assert!(!store
            .insert_token_if_client_is(token("t4", "c"), read)
            .await
            .unwrap());
        assert!(store
            .insert_token_if_client_is(token("t5", "c"), updated)
            .await
            .unwrap());

        store.delete_client("c").await.unwrap();
        assert!(!store
            .insert_token_if_client_is(token("t6", "c"), updated)
            .await
            .unwrap());
        store.insert_client(&client("c"), "h", "", 2).await.unwrap();
        let recreated = store.get_client("c").await.unwrap().unwrap().revision;
        assert_ne!(recreated, updated);
        assert!(!store
            .insert_token_if_client_is(token("t7", "c"), updated)
            .await
            .unwrap());
        assert!(store.get_token("t7").await.unwrap().is_none());
    }

    #[test]
    fn token_batches_number_their_placeholders_per_backend() {
        let pg = token_insert_sql(Backend::Postgres, 2);
        assert!(pg.contains("(VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10), ($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)) AS v"), "{pg}");
        let lite = token_insert_sql(Backend::Sqlite, 2);
        assert!(
            lite.contains(
                "(VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)) AS v"
            ),
            "{lite}"
        );
    }
}
