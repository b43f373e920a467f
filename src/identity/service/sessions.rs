//! Sessions: issued with their token (shown once), looked up by token — whoami through the
//! opt-in session cache.

use std::sync::Arc;

use super::super::error::Result;
use super::super::model::{Aal, AuthMethod, Device, Identity, Session};
use super::{new_id, random_alnum, sha256_hex, Service};

impl Service {
    /// Creates and stores a new session for `identity` authenticated by `method`; returns it
    /// with its token (shown once).
    pub async fn issue_session(
        &self,
        identity: &Identity,
        method: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(Session, String)> {
        let now = self.now();
        let token = format!("ory_st_{}", random_alnum(32));
        let session = Session {
            id: new_id(),
            identity_id: identity.id.clone(),
            active: true,
            aal: Aal::Aal1,
            authenticated_at: now,
            issued_at: now,
            expires_at: now + self.config.session.lifespan.micros(),
            methods: vec![AuthMethod {
                method: method.into(),
                aal: Aal::Aal1,
                completed_at: now,
            }],
            devices: vec![Device {
                id: new_id(),
                ip_address: ip,
                user_agent,
                location: None,
            }],
            logout_token: format!("ory_lo_{}", random_alnum(32)),
        };
        self.store
            .insert_session(&session, &sha256_hex(&token), now)
            .await?;
        Ok((session, token))
    }

    /// whoami's lookup of a session token: like [`Self::session_by_token`], through the
    /// session cache when it is on.
    pub async fn whoami_session(&self, token: &str) -> Result<Option<Arc<(Session, Identity)>>> {
        let Some(cache) = &self.session_cache else {
            return Ok(self.session_by_token(token).await?.map(Arc::new));
        };
        let hash = sha256_hex(token);
        let now = self.now();
        let generation = self.store.write_generation();
        let found = match cache.get(&hash, now, generation) {
            Some(hit) => hit,
            None => match self.store.session_by_token(&hash).await? {
                None => return Ok(None),
                Some(found) => {
                    let found = Arc::new(found);
                    cache.put(hash, found.clone(), now, generation);
                    found
                }
            },
        };
        Ok(found.0.is_active(&found.1, now).then_some(found))
    }

    pub async fn session_by_token(&self, token: &str) -> Result<Option<(Session, Identity)>> {
        let found = self.store.session_by_token(&sha256_hex(token)).await?;
        let now = self.now();
        Ok(found.filter(|(s, i)| s.is_active(i, now)))
    }
}
