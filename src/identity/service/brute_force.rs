//! Failed-login throttling: every attempt is reserved as a failure of its identifier and of
//! its client address before the password is verified, and settled after (`throttle.rs` holds
//! the backoff rule).

use super::super::error::{Error, Result};
use super::super::throttle;
use super::Service;

impl Service {
    fn throttle_keys(identifier: &str, ip: Option<&str>) -> Vec<(String, bool)> {
        let mut keys = vec![(format!("id:{}", identifier.to_lowercase()), true)];
        if let Some(ip) = ip {
            keys.push((format!("ip:{ip}"), false));
        }
        keys
    }

    /// Reserves the attempt for the identifier and then the client address: each counts it
    /// as a failure at once, in the database, before any password is verified — N concurrent
    /// attempts cost N failures. 429 (nothing counted) when either must still wait.
    /// [`Self::throttle_success`] or [`Self::throttle_refund`] settle the attempt.
    pub async fn throttle_reserve(&self, identifier: &str, ip: Option<&str>) -> Result<()> {
        let cfg = &self.config.quartet.brute_force;
        if !cfg.enabled {
            return Ok(());
        }
        let now = self.now();
        let mut reserved: Vec<String> = Vec::new();
        for (key, per_id) in Self::throttle_keys(identifier, ip) {
            let free = if per_id {
                cfg.free_failures_per_identifier
            } else {
                cfg.free_failures_per_ip
            };
            if self
                .store
                .throttle_reserve(&key, now, &throttle::Rule::new(cfg, free))
                .await?
            {
                reserved.push(key);
                continue;
            }
            for earlier in &reserved {
                self.store.throttle_refund(earlier).await?;
            }
            let wait = match self.store.throttle_get(&key).await? {
                Some((failures, last)) => throttle::wait_micros(cfg, free, failures, last, now),
                None => 0,
            };
            return Err(Error::TooManyAttempts {
                retry_after_secs: u64::try_from((wait + 999_999) / 1_000_000)
                    .unwrap_or(1)
                    .max(1),
            });
        }
        Ok(())
    }

    /// A reserved attempt logged in: the identifier's failures are forgotten, the client
    /// address gets its reservation back.
    pub async fn throttle_success(&self, identifier: &str, ip: Option<&str>) -> Result<()> {
        if !self.config.quartet.brute_force.enabled {
            return Ok(());
        }
        for (key, per_id) in Self::throttle_keys(identifier, ip) {
            if per_id {
                self.store.throttle_clear(&key).await?;
            } else {
                self.store.throttle_refund(&key).await?;
            }
        }
        Ok(())
    }

    /// A reserved attempt was no failed guess (the password was right but the account is
    /// disabled): both reservations are given back.
    pub async fn throttle_refund(&self, identifier: &str, ip: Option<&str>) -> Result<()> {
        if !self.config.quartet.brute_force.enabled {
            return Ok(());
        }
        for (key, _) in Self::throttle_keys(identifier, ip) {
            self.store.throttle_refund(&key).await?;
        }
        Ok(())
    }
}
