//! The oauth2 store's tests: shared reads, guarded token inserts, the batch SQL, and the row
//! mapping of every table (a round trip through SQLite).

use super::token_writer::token_insert_sql;
use super::*;
use crate::config::Dsn;
use crate::oauth2::token::Kind;
use crate::store::Backend;

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

/// Each table's record maps back to what was written; a stored state or kind the code does
/// not know is an error, never a default.
#[tokio::test]
async fn every_table_maps_back_to_what_was_written() {
    use crate::oauth2::challenge::{ConsentRequest, LoginRequest};
    let db = Db::connect(&Dsn::Memory).await.unwrap();
    db.migrate().await.unwrap();
    let store = Store::new(db);

    let doc = LoginRequest {
        request_url: "https://issuer/oauth2/auth?x=1".into(),
        skip: true,
        ..LoginRequest::default()
    };
    store
        .insert_flow(&Flow::pending(
            "ch".into(),
            "app".into(),
            "alice".into(),
            5,
            doc,
        ))
        .await
        .unwrap();
    let back = store.get_flow::<LoginRequest>("ch").await.unwrap().unwrap();
    assert_eq!(
        (back.state, back.verifier.as_str(), back.requested_at),
        (FlowState::Pending, "unset-ch", 5)
    );
    assert!(back.doc.skip && back.doc.request_url.ends_with("x=1"));
    assert!(store
        .get_flow::<ConsentRequest>("ch")
        .await
        .unwrap()
        .is_none());
    let mut decided = back.clone();
    decided.state = FlowState::Accepted;
    decided.verifier = "v".into();
    assert!(store
        .transition_flow(&decided, FlowState::Pending)
        .await
        .unwrap());
    assert!(!store
        .transition_flow(&decided, FlowState::Pending)
        .await
        .unwrap());
    let by_verifier = store
        .get_flow_by_verifier::<LoginRequest>("v")
        .await
        .unwrap();
    assert_eq!(by_verifier.map(|f| f.state), Some(FlowState::Accepted));
    sqlx::query("UPDATE oauth2_flows SET state = 'done' WHERE challenge = 'ch'")
        .execute(store.db().pool())
        .await
        .unwrap();
    let e = store.get_flow::<LoginRequest>("ch").await.unwrap_err();
    assert!(e.to_string().contains("unknown flow state 'done'"), "{e}");

    let session = LoginSession {
        subject: "alice".into(),
        authenticated_at: 7,
        remember: true,
        expires_at: 0,
        identity_provider_session_id: "kratos-1".into(),
    };
    store.upsert_login_session("sid", &session).await.unwrap();
    assert_eq!(store.login_session("sid").await.unwrap(), Some(session));

    let consent = Consent {
        challenge: "cc".into(),
        subject: "alice".into(),
        client_id: "app".into(),
        login_session_id: "sid".into(),
        remember: true,
        expires_at: 9,
        handled_at: 8,
        doc: crate::oauth2::challenge::ConsentDoc {
            grant_scope: vec!["openid".into()],
            handled_at: "1970-01-01T00:00:00Z".into(),
            ..Default::default()
        },
    };
    store.insert_consent(&consent).await.unwrap();
    let found = store.consents("alice", Some("app"), None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].remember,
            found[0].expires_at,
            found[0].doc.grant_scope.clone()
        ),
        (true, 9, vec!["openid".to_string()])
    );

    let grant = Grant {
        id: "g".into(),
        issuer: "https://idp".into(),
        subject: "alice".into(),
        allow_any_subject: false,
        scope: vec!["a".into()],
        key_set: "https://idp".into(),
        key_id: "k".into(),
        created_at: 1_000_000,
        expires_at: 2_000_000,
    };
    store.insert_grant(&grant, "sealed").await.unwrap();
    assert_eq!(store.get_grant("g").await.unwrap(), Some(grant));

    store.insert_token(token("t", "app")).await.unwrap();
    assert_eq!(
        store.get_token("t").await.unwrap().map(|t| t.kind),
        Some(Kind::Access)
    );
    sqlx::query("UPDATE oauth2_tokens SET kind = 'id_token' WHERE signature = 't'")
        .execute(store.db().pool())
        .await
        .unwrap();
    assert!(store.get_token("t").await.is_err());
}
