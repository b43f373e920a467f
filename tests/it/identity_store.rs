//! Storage conformance of the identity role's `IdentityStore`: the same cases on SQLite (in
//! memory and on disk) always, and on PostgreSQL when `TEST_DATABASE_URL` is set. They pin the
//! parts of the SQL that differ between dialects: BIGINT microsecond timestamps, TEXT ids,
//! 0/1 booleans, bound `LIMIT`/`OFFSET`, `ON CONFLICT` upserts, unique-violation mapping and
//! all-or-nothing transactions.

use crate::common;

use quartet::config::Dsn;
use quartet::identity::flow::{Flow, FlowKind, FlowState, FlowType, Ui};
use quartet::identity::model::{
    Aal, AuthMethod, Credential, CredentialType, Device, Identity, IdentityState, RecoveryAddress,
    Session, VerifiableAddress,
};
use quartet::identity::store::{IdentityFilter, IdentityStore, PageStart};
use quartet::identity::throttle::Rule;
use quartet::identity::Error;
use quartet::store::Db;
use serde_json::json;

/// Runs `case` once per backend with a freshly migrated database.
async fn on_every_backend<F, Fut>(case: F)
where
    F: Fn(IdentityStore, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("identity.sqlite");
    let mut dsns = vec![Dsn::Memory, Dsn::Sqlite(file.display().to_string())];
    let pg = common::pg_database().await;
    if let Some(pg) = &pg {
        dsns.push(pg.dsn.clone());
    }
    for dsn in dsns {
        let db = Db::connect(&dsn).await.unwrap();
        db.migrate().await.unwrap();
        case(IdentityStore::new(db.clone()), format!("{dsn:?}")).await;
        db.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

const T0: i64 = 1_700_000_000_123_456;

fn identity(n: u32, email: &str) -> (Identity, Vec<Credential>) {
    let id = format!("00000000-0000-4000-8000-{n:012}");
    let identity = Identity {
        id: id.clone(),
        schema_id: "default".into(),
        state: IdentityState::Active,
        state_changed_at: Some(T0),
        traits: json!({"email": email}),
        metadata_public: Some(json!({"n": n})),
        metadata_admin: None,
        verifiable_addresses: vec![VerifiableAddress {
            id: format!("10000000-0000-4000-8000-{n:012}"),
            value: email.into(),
            verified: false,
            via: "email".into(),
            status: "pending".into(),
            verified_at: None,
            created_at: T0,
            updated_at: T0,
        }],
        recovery_addresses: vec![RecoveryAddress {
            id: format!("20000000-0000-4000-8000-{n:012}"),
            value: email.into(),
            via: "email".into(),
            created_at: T0,
            updated_at: T0,
        }],
        created_at: T0 + i64::from(n),
        updated_at: T0 + i64::from(n),
    };
    let credential = Credential {
        id: format!("30000000-0000-4000-8000-{n:012}"),
        kind: CredentialType::Password,
        identifiers: vec![email.into()],
        config: json!({"hashed_password": "$2a$04$x"}),
        version: 0,
        created_at: T0,
        updated_at: T0,
    };
    (identity, vec![credential])
}

fn session(n: u32, identity_id: &str, expires_at: i64) -> Session {
    Session {
        id: format!("40000000-0000-4000-8000-{n:012}"),
        identity_id: identity_id.into(),
        active: true,
        aal: Aal::Aal1,
        authenticated_at: T0,
        issued_at: T0,
        expires_at,
        methods: vec![AuthMethod {
            method: "password".into(),
            aal: Aal::Aal1,
            completed_at: T0,
        }],
        devices: vec![Device {
            id: format!("50000000-0000-4000-8000-{n:012}"),
            ip_address: Some("127.0.0.1".into()),
            user_agent: None,
            location: None,
        }],
        logout_token: format!("ory_lo_{n}"),
    }
}

#[tokio::test]
async fn identities_round_trip_list_count_and_filter() {
    on_every_backend(|store, dsn| async move {
        for n in 1..=5 {
            let (i, c) = identity(n, &format!("user{n}@example.com"));
            store.create_identity(&i, &c).await.unwrap();
        }
        let (expected, creds) = identity(3, "user3@example.com");
        let got = store.get_identity(&expected.id).await.unwrap().unwrap();
        assert_eq!(got, expected, "{dsn}");
        assert_eq!(
            store.credentials(&expected.id).await.unwrap(),
            creds,
            "{dsn}"
        );

        let all = IdentityFilter::default();
        assert_eq!(store.count_identities(&all).await.unwrap(), 5, "{dsn}");
        // Legacy offset pages: bound LIMIT/OFFSET.
        let page = store
            .list_identities(&all, &PageStart::Offset(2), 2)
            .await
            .unwrap();
        let ids: Vec<_> = page.iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids, [identity(3, "").0.id, identity(4, "").0.id], "{dsn}");
        // Keyset pages.
        let page = store
            .list_identities(&all, &PageStart::After(Some(identity(4, "").0.id)), 10)
            .await
            .unwrap();
        assert_eq!(page.len(), 1, "{dsn}");
        // Filters narrow both the page and the count.
        let by_identifier = IdentityFilter {
            ids: vec![],
            credentials_identifier: Some("USER2@example.com".into()),
        };
        let page = store
            .list_identities(&by_identifier, &PageStart::Offset(0), 10)
            .await
            .unwrap();
        assert_eq!(page.len(), 1, "{dsn}");
        assert_eq!(page[0].traits["email"], "user2@example.com", "{dsn}");
        assert_eq!(store.count_identities(&by_identifier).await.unwrap(), 1);
        let by_ids = IdentityFilter {
            ids: vec![identity(1, "").0.id, identity(5, "").0.id],
            credentials_identifier: None,
        };
        assert_eq!(store.count_identities(&by_ids).await.unwrap(), 2, "{dsn}");

        let (found, cred) = store
            .find_by_identifier(CredentialType::Password, "User4@Example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, identity(4, "").0.id, "{dsn}");
        assert_eq!(cred.config["hashed_password"], "$2a$04$x");

        assert!(store.delete_identity(&found.id).await.unwrap(), "{dsn}");
        assert!(!store.delete_identity(&found.id).await.unwrap(), "{dsn}");
        assert!(store
            .find_by_identifier(CredentialType::Password, "user4@example.com")
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn duplicates_conflict_and_write_nothing() {
    on_every_backend(|store, dsn| async move {
        let (a, ca) = identity(1, "dup@example.com");
        store.create_identity(&a, &ca).await.unwrap();
        // Same identifier, other ids: the credential identifier's key conflicts.
        let (b, cb) = identity(2, "dup@example.com");
        let err = store.create_identity(&b, &cb).await.unwrap_err();
        assert!(matches!(err, Error::Conflict), "{dsn}: {err:?}");
        assert!(store.get_identity(&b.id).await.unwrap().is_none(), "{dsn}");
        // A batch whose last item conflicts writes none of them.
        let batch = vec![
            identity(3, "fresh3@example.com"),
            identity(4, "fresh4@example.com"),
            identity(5, "dup@example.com"),
        ];
        let err = store.create_identities(&batch).await.unwrap_err();
        assert!(matches!(err, Error::Conflict), "{dsn}: {err:?}");
        assert_eq!(
            store
                .count_identities(&IdentityFilter::default())
                .await
                .unwrap(),
            1,
            "{dsn}"
        );
        // A replace that would collide leaves the old row and credentials intact.
        let (c, cc) = identity(6, "other@example.com");
        store.create_identity(&c, &cc).await.unwrap();
        let (mut c2, cc2) = identity(6, "dup@example.com");
        c2.traits = json!({"email": "dup@example.com"});
        let err = store.replace_identity(&c2, &cc2).await.unwrap_err();
        assert!(matches!(err, Error::Conflict), "{dsn}: {err:?}");
        let kept = store.get_identity(&c.id).await.unwrap().unwrap();
        assert_eq!(kept.traits["email"], "other@example.com", "{dsn}");
        assert_eq!(store.credentials(&c.id).await.unwrap(), cc, "{dsn}");
    })
    .await;
}

#[tokio::test]
async fn sessions_by_token_list_disable_extend_and_cascade() {
    on_every_backend(|store, dsn| async move {
        let (i, c) = identity(1, "s@example.com");
        store.create_identity(&i, &c).await.unwrap();
        let now = T0 + 1_000;
        let live = session(1, &i.id, now + 3_600_000_000);
        let other = session(2, &i.id, now + 3_600_000_000);
        let expired = session(3, &i.id, now - 1);
        for (s, hash) in [(&live, "h1"), (&other, "h2"), (&expired, "h3")] {
            store.insert_session(s, hash, now).await.unwrap();
        }
        let (got, owner) = store.session_by_token("h1").await.unwrap().unwrap();
        assert_eq!(got, live, "{dsn}");
        assert_eq!(owner.id, i.id, "{dsn}");
        assert!(store.session_by_token("nope").await.unwrap().is_none());
        assert_eq!(
            store
                .session_by_logout_token("ory_lo_2")
                .await
                .unwrap()
                .unwrap()
                .id,
            other.id
        );

        let active = store
            .list_sessions(Some(&i.id), Some(true), now, None, 10)
            .await
            .unwrap();
        assert_eq!(active.len(), 2, "{dsn}");
        let inactive = store
            .list_sessions(None, Some(false), now, None, 10)
            .await
            .unwrap();
        assert_eq!(inactive.len(), 1, "{dsn}");
        let page = store
            .list_sessions(None, None, now, Some(&live.id), 1)
            .await
            .unwrap();
        assert_eq!(page.len(), 1, "{dsn}");
        assert_eq!(page[0].0.id, other.id, "{dsn}");

        assert_eq!(
            store
                .disable_other_sessions(&i.id, &live.id, now)
                .await
                .unwrap(),
            2,
            "{dsn}: the other session and the expired one still flagged active"
        );
        let (o, _) = store.session(&other.id).await.unwrap().unwrap();
        assert!(!o.active, "{dsn}");
        assert!(
            !store
                .disable_session(&live.id, Some("someone-else"), now)
                .await
                .unwrap(),
            "{dsn}: a session of another identity is left alone"
        );
        assert!(store
            .disable_session(&live.id, Some(&i.id), now)
            .await
            .unwrap());
        store
            .set_session_expiry(&live.id, now + 42, now)
            .await
            .unwrap();
        let (l, _) = store.session(&live.id).await.unwrap().unwrap();
        assert_eq!((l.active, l.expires_at), (false, now + 42), "{dsn}");

        assert!(store.delete_identity(&i.id).await.unwrap());
        assert!(store.session(&live.id).await.unwrap().is_none(), "{dsn}");
    })
    .await;
}

/// whoami's lookups are shared between concurrent callers (one statement for many tokens):
/// each caller still gets its own session, absent tokens stay absent, and a session disabled
/// before a lookup starts is seen disabled by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_session_lookups_each_get_their_own_fresh_row() {
    on_every_backend(|store, dsn| async move {
        let now = T0 + 1_000;
        let mut ids = Vec::new();
        for n in 0..40u32 {
            let (i, c) = identity(100 + n, &format!("c{n}@example.com"));
            store.create_identity(&i, &c).await.unwrap();
            let s = session(100 + n, &i.id, now + 3_600_000_000);
            store
                .insert_session(&s, &format!("hash{n}"), now)
                .await
                .unwrap();
            ids.push((i.id, s.id));
        }
        for round in 0..3 {
            let lookups = (0..60u32).map(|n| {
                let store = store.clone();
                // keys repeat (n % 45) and some have no session (40..45)
                tokio::spawn(async move {
                    (
                        n % 45,
                        store
                            .session_by_token(&format!("hash{}", n % 45))
                            .await
                            .unwrap(),
                    )
                })
            });
            for lookup in futures::future::join_all(lookups).await {
                let (n, found) = lookup.unwrap();
                match ids.get(n as usize) {
                    Some((identity_id, session_id)) => {
                        let (s, i) = found.unwrap_or_else(|| panic!("{dsn}: hash{n} not found"));
                        assert_eq!(
                            (&s.id, &i.id),
                            (session_id, identity_id),
                            "{dsn} round {round}"
                        );
                        assert_eq!(
                            s.active,
                            round < 2 || n % 2 == 1,
                            "{dsn}: hash{n}, round {round}"
                        );
                    }
                    None => assert!(found.is_none(), "{dsn}: hash{n} has no session"),
                }
            }
            if round == 1 {
                for (identity_id, session_id) in ids.iter().step_by(2) {
                    assert!(store
                        .disable_session(session_id, Some(identity_id), now)
                        .await
                        .unwrap());
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn flows_and_throttle_counters_round_trip() {
    on_every_backend(|store, dsn| async move {
        let flow = Flow {
            id: "60000000-0000-4000-8000-000000000001".into(),
            kind: FlowKind::Login,
            flow_type: FlowType::Browser,
            state: FlowState::ChooseMethod,
            csrf_token: "csrf".into(),
            return_to: None,
            request_url: "http://x/self-service/login/browser".into(),
            ui: Ui {
                action: "http://x/self-service/login?flow=1".into(),
                method: "POST".into(),
                nodes: vec![],
                messages: vec![],
            },
            identity_id: None,
            session_id: None,
            refresh: true,
            requested_aal: Aal::Aal2,
            active: None,
            issued_at: T0,
            expires_at: T0 + 3_600_000_000,
        };
        store.insert_flow(&flow, T0).await.unwrap();
        let got = store.get_flow(&flow.id).await.unwrap().unwrap();
        assert_eq!(
            (
                got.refresh,
                got.requested_aal,
                got.expires_at,
                got.return_to
            ),
            (true, Aal::Aal2, flow.expires_at, None),
            "{dsn}"
        );
        assert!(matches!(got.kind, FlowKind::Login) && matches!(got.flow_type, FlowType::Browser));

        assert!(store.throttle_get("id:a").await.unwrap().is_none());
        // two free failures, then 1 s doubling up to 4 s, forgotten after 60 s
        let s = 1_000_000;
        let rule = Rule {
            free: 2,
            window: 60 * s,
            base: s,
            max: 4 * s,
            max_shift: 2,
        };
        assert!(store.throttle_reserve("id:a", T0, &rule).await.unwrap());
        assert!(store.throttle_reserve("id:a", T0 + 5, &rule).await.unwrap());
        assert_eq!(
            store.throttle_get("id:a").await.unwrap(),
            Some((2, T0 + 5)),
            "{dsn}"
        );
        // the third attempt waits 1 s after the last failure; a refused one counts nothing
        assert!(!store.throttle_reserve("id:a", T0 + s, &rule).await.unwrap());
        assert_eq!(store.throttle_get("id:a").await.unwrap(), Some((2, T0 + 5)));
        assert!(store
            .throttle_reserve("id:a", T0 + 5 + s, &rule)
            .await
            .unwrap());
        // then 2 s, then 4 s (the cap), again 4 s
        let mut last = T0 + 5 + s;
        for delay in [2 * s, 4 * s, 4 * s] {
            assert!(
                !store
                    .throttle_reserve("id:a", last + delay - 1, &rule)
                    .await
                    .unwrap(),
                "{dsn}"
            );
            assert!(
                store
                    .throttle_reserve("id:a", last + delay, &rule)
                    .await
                    .unwrap(),
                "{dsn}"
            );
            last += delay;
        }
        assert_eq!(store.throttle_get("id:a").await.unwrap(), Some((6, last)));
        store.throttle_refund("id:a").await.unwrap();
        assert_eq!(store.throttle_get("id:a").await.unwrap(), Some((5, last)));
        // after the window the count restarts
        assert!(store
            .throttle_reserve("id:a", last + 60 * s, &rule)
            .await
            .unwrap());
        assert_eq!(
            store.throttle_get("id:a").await.unwrap(),
            Some((1, last + 60 * s))
        );
        // concurrent reservations: exactly the free ones go through
        let attempts = (0..20).map(|_| store.throttle_reserve("id:b", T0, &rule));
        let granted = futures::future::join_all(attempts)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(granted, 2, "{dsn}");
        assert_eq!(store.throttle_get("id:b").await.unwrap(), Some((2, T0)));
        store.throttle_clear("id:a").await.unwrap();
        assert!(store.throttle_get("id:a").await.unwrap().is_none());
    })
    .await;
}
