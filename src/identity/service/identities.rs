//! Building an identity from admin or self-service input: the traits validated against their
//! schema, the addresses they yield merged with the ones the identity had (ids and
//! verification status kept), the password hashed or an imported hash checked, the password
//! credential's identifiers. The merging is pure and tested here.

use std::sync::Arc;

use serde_json::{json, Value};

use super::super::error::{Error, Result};
use super::super::model::{
    Credential, CredentialType, Identity, IdentityState, Micros, RecoveryAddress, VerifiableAddress,
};
use super::super::schema::{FieldError, IdentitySchema, TraitFacts};
use super::{new_id, Service};
use crate::crypto::password;

/// Input common to admin create/update and registration.
#[derive(Debug, Clone, Default)]
pub struct IdentityInput {
    pub schema_id: String,
    pub traits: Value,
    pub state: Option<IdentityState>,
    pub metadata_public: Option<Value>,
    pub metadata_admin: Option<Value>,
    /// Addresses given by the admin: their verification status is kept for matching values.
    pub verifiable_addresses: Vec<VerifiableAddress>,
    pub password: Option<PasswordInput>,
}

#[derive(Debug, Clone)]
pub enum PasswordInput {
    Plain(String),
    Hashed(String),
}

/// A built identity or the field errors that prevent it.
pub enum Built {
    Ok(Box<Identity>, Vec<Credential>),
    Invalid(Vec<FieldError>),
}

/// Traits checked against their schema.
enum Validated {
    /// The schema, and what the traits yield.
    Valid(Arc<IdentitySchema>, TraitFacts),
    Invalid(Vec<FieldError>),
}

impl Service {
    /// Validates traits, derives identifiers and addresses, hashes a plain password.
    /// `existing` keeps ids, timestamps and verification status of an identity being updated.
    pub async fn build_identity(
        &self,
        input: IdentityInput,
        existing: Option<(&Identity, &[Credential])>,
    ) -> Result<Built> {
        let (schema, facts) = match self.validated(&input)? {
            Validated::Valid(schema, facts) => (schema, facts),
            Validated::Invalid(errors) => return Ok(Built::Invalid(errors)),
        };
        let now = self.now();
        let old = existing.map(|(i, _)| i);
        let IdentityInput {
            traits,
            state,
            metadata_public,
            metadata_admin,
            verifiable_addresses,
            password,
            ..
        } = input;
        let state = state
            .or(old.map(|o| o.state))
            .unwrap_or(IdentityState::Active);
        let state_changed_at = match old {
            Some(o) if o.state == state => o.state_changed_at,
            _ => Some(now),
        };
        let identity = Identity {
            id: old.map(|o| o.id.clone()).unwrap_or_else(new_id),
            schema_id: schema.id.clone(),
            state,
            state_changed_at,
            traits,
            metadata_public,
            metadata_admin,
            verifiable_addresses: merge_verifiable_addresses(
                &facts.verifiable_addresses,
                &verifiable_addresses,
                old,
                now,
            ),
            recovery_addresses: merge_recovery_addresses(&facts.recovery_addresses, old, now),
            created_at: old.map(|o| o.created_at).unwrap_or(now),
            updated_at: now,
        };
        let mut credentials: Vec<Credential> =
            existing.map(|(_, c)| c.to_vec()).unwrap_or_default();
        let hashed = self.hashed_password(password).await?;
        set_password(&mut credentials, hashed, &facts.password_identifiers, now);
        Ok(Built::Ok(Box::new(identity), credentials))
    }

    /// The input's schema and what its traits yield, or the field errors of the traits. An
    /// unknown schema or traits, metadata nested too deep are the request's error.
    fn validated(&self, input: &IdentityInput) -> Result<Validated> {
        let Some(schema) = self.schemas.get(&input.schema_id).cloned() else {
            return Err(Error::BadRequest(format!(
                "The identity schema `{}` is unknown; use one of identity.schemas.",
                input.schema_id
            )));
        };
        super::super::limits::check_depth(&input.traits, "traits")?;
        for metadata in [&input.metadata_public, &input.metadata_admin]
            .into_iter()
            .flatten()
        {
            super::super::limits::check_depth(metadata, "metadata")?;
        }
        if !input.traits.is_object() {
            return Ok(Validated::Invalid(vec![FieldError {
                pointer: "#/traits".into(),
                message: super::super::text::UiText::error(
                    4000001,
                    "traits must be an object",
                    json!({"reason": "traits must be an object"}),
                ),
            }]));
        }
        let errors = schema.validate(&input.traits);
        if !errors.is_empty() {
            return Ok(Validated::Invalid(errors));
        }
        let facts = schema.facts(&input.traits);
        Ok(Validated::Valid(schema, facts))
    }

    /// The hash to store for a password input: a plain password hashed, an imported hash
    /// checked to be of a known format (400 if not).
    async fn hashed_password(&self, password: Option<PasswordInput>) -> Result<Option<String>> {
        match password {
            Some(PasswordInput::Plain(p)) => Ok(Some(self.hash_password(p).await?)),
            Some(PasswordInput::Hashed(h)) => {
                // Checking the format computes the hash once: on the hashing pool, like a login.
                let check = h.clone();
                if !self
                    .off_runtime(move || password::is_known_format(&check))
                    .await?
                {
                    return Err(Error::BadRequest(
                        "The hashed password does not match any known hash format.".into(),
                    ));
                }
                Ok(Some(h))
            }
            None => Ok(None),
        }
    }
}

/// The verifiable addresses the traits yield (`(value, via)`, lower-cased), each keeping the
/// id and verification status of the same address as the admin `given` it, else as the
/// `old` identity had it; a new one is unverified and pending.
fn merge_verifiable_addresses(
    yielded: &[(String, String)],
    given: &[VerifiableAddress],
    old: Option<&Identity>,
    now: Micros,
) -> Vec<VerifiableAddress> {
    let find_old_v = |value: &str, via: &str| {
        given
            .iter()
            .find(|a| a.value.to_lowercase() == value && a.via == via)
            .cloned()
            .or_else(|| {
                old.and_then(|o| {
                    o.verifiable_addresses
                        .iter()
                        .find(|a| a.value == value && a.via == via)
                        .cloned()
                })
            })
    };
    yielded
        .iter()
        .map(|(value, via)| match find_old_v(value, via) {
            Some(a) => VerifiableAddress {
                id: if a.id.is_empty() { new_id() } else { a.id },
                value: value.clone(),
                via: via.clone(),
                updated_at: now,
                ..a
            },
            None => VerifiableAddress {
                id: new_id(),
                value: value.clone(),
                verified: false,
                via: via.clone(),
                status: "pending".into(),
                verified_at: None,
                created_at: now,
                updated_at: now,
            },
        })
        .collect()
}

/// The recovery addresses the traits yield, each keeping the id and creation time of the same
/// address of the `old` identity.
fn merge_recovery_addresses(
    yielded: &[(String, String)],
    old: Option<&Identity>,
    now: Micros,
) -> Vec<RecoveryAddress> {
    yielded
        .iter()
        .map(|(value, via)| {
            match old.and_then(|o| {
                o.recovery_addresses
                    .iter()
                    .find(|a| &a.value == value && &a.via == via)
            }) {
                Some(a) => RecoveryAddress {
                    updated_at: now,
                    ..a.clone()
                },
                None => RecoveryAddress {
                    id: new_id(),
                    value: value.clone(),
                    via: via.clone(),
                    created_at: now,
                    updated_at: now,
                },
            }
        })
        .collect()
}

/// Stores `hashed` (if any) in the password credential, creating it when there is none, and
/// gives the password credential the traits' `identifiers`.
fn set_password(
    credentials: &mut Vec<Credential>,
    hashed: Option<String>,
    identifiers: &[String],
    now: Micros,
) {
    let existing_pw = credentials
        .iter()
        .position(|c| c.kind == CredentialType::Password);
    match (hashed, existing_pw) {
        (Some(h), Some(i)) => {
            credentials[i].config = json!({"hashed_password": h});
            credentials[i].updated_at = now;
        }
        (Some(h), None) => credentials.push(Credential {
            id: new_id(),
            kind: CredentialType::Password,
            identifiers: Vec::new(),
            config: json!({"hashed_password": h}),
            version: 0,
            created_at: now,
            updated_at: now,
        }),
        (None, _) => {}
    }
    for c in credentials.iter_mut() {
        if c.kind == CredentialType::Password {
            c.identifiers = identifiers.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(id: &str, value: &str, verified: bool) -> VerifiableAddress {
        VerifiableAddress {
            id: id.into(),
            value: value.into(),
            verified,
            via: "email".into(),
            status: if verified { "completed" } else { "pending" }.into(),
            verified_at: verified.then_some(5),
            created_at: 1,
            updated_at: 1,
        }
    }

    fn identity(addresses: Vec<VerifiableAddress>) -> Identity {
        Identity {
            id: "i".into(),
            schema_id: "default".into(),
            state: IdentityState::Active,
            state_changed_at: None,
            traits: json!({}),
            metadata_public: None,
            metadata_admin: None,
            verifiable_addresses: addresses,
            recovery_addresses: vec![RecoveryAddress {
                id: "r1".into(),
                value: "ann@example.com".into(),
                via: "email".into(),
                created_at: 1,
                updated_at: 1,
            }],
            created_at: 1,
            updated_at: 1,
        }
    }

    fn yielded(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| (v.to_string(), "email".to_string()))
            .collect()
    }

    #[test]
    fn addresses_keep_what_the_admin_gave_else_what_the_identity_had() {
        let old = identity(vec![address("v1", "ann@example.com", true)]);
        let given = [address("", "BOB@example.com", true)];
        let merged = merge_verifiable_addresses(
            &yielded(&["ann@example.com", "bob@example.com", "cy@example.com"]),
            &given,
            Some(&old),
            9,
        );
        assert_eq!(merged[0].id, "v1");
        assert!(merged[0].verified);
        assert_eq!((merged[0].created_at, merged[0].updated_at), (1, 9));
        assert!(merged[1].verified, "as the admin gave it");
        assert!(!merged[1].id.is_empty(), "an empty id is replaced");
        assert_eq!(merged[1].value, "bob@example.com");
        assert!(!merged[2].verified);
        assert_eq!(merged[2].status, "pending");
        assert_eq!(merged[2].created_at, 9);

        let recovery = merge_recovery_addresses(
            &yielded(&["ann@example.com", "bob@example.com"]),
            Some(&old),
            9,
        );
        assert_eq!((recovery[0].id.as_str(), recovery[0].updated_at), ("r1", 9));
        assert_ne!(recovery[1].id, "r1");
    }

    #[test]
    fn the_password_credential_gets_the_hash_and_the_identifiers() {
        let mut credentials = Vec::new();
        set_password(&mut credentials, None, &["a".into()], 3);
        assert!(credentials.is_empty(), "no password, no credential");
        set_password(&mut credentials, Some("h1".into()), &["a".into()], 3);
        assert_eq!(credentials.len(), 1);
        assert_eq!(credentials[0].config, json!({"hashed_password": "h1"}));
        assert_eq!(credentials[0].identifiers, ["a"]);
        set_password(&mut credentials, Some("h2".into()), &["b".into()], 4);
        assert_eq!(credentials.len(), 1);
        assert_eq!(credentials[0].config, json!({"hashed_password": "h2"}));
        assert_eq!(credentials[0].updated_at, 4);
        set_password(&mut credentials, None, &["c".into()], 5);
        assert_eq!(credentials[0].config, json!({"hashed_password": "h2"}));
        assert_eq!(
            credentials[0].identifiers,
            ["c"],
            "identifiers follow the traits"
        );
    }
}
