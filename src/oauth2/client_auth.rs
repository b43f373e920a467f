//! Client authentication at the token and revocation endpoints, as fosite's: HTTP basic
//! (`client_secret_basic`), the body (`client_secret_post`), a signed assertion
//! (`private_key_jwt`) or none (public clients). Unknown clients and wrong secrets answer alike
//! and take the same time (a dummy hash is verified). A secret verified once is remembered
//! for a while (`secret_cache`), and a client_credentials request whose client this process
//! read and verified before may skip the client read (`client_cache`).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::client::Client;
use super::client_keys::unverified_claims;
use super::error::{Error, Result};
use super::form::Form;
use super::service::Oauth2;
use super::store::StoredClient;

/// The `client_assertion_type` of `private_key_jwt`.
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The id and secret a token/revoke request authenticates with (not an assertion), and the
/// method they came by.
struct PresentedCredentials {
    id: String,
    secret: Option<String>,
    method: &'static str,
}

/// The client credentials in the `Authorization: Basic` header (its parts form-decoded, as
/// Go's `url.QueryUnescape`) or, failing that, in the body (`client_id`, `client_secret`).
fn presented_credentials(authorization: Option<&str>, form: &Form) -> Result<PresentedCredentials> {
    let basic = authorization
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .map(str::trim);
    if let Some(b) = basic {
        let raw = STANDARD.decode(b).map_err(|_| {
            Error::InvalidRequest("The basic authorization header is not base64.".into())
        })?;
        let raw = String::from_utf8(raw).map_err(|_| {
            Error::InvalidRequest("The basic authorization header is not UTF-8.".into())
        })?;
        let (id, secret) = raw.split_once(':').ok_or_else(|| {
            Error::InvalidRequest("The basic authorization header must be 'id:secret'.".into())
        })?;
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Ok(PresentedCredentials {
            id: dec(id),
            secret: Some(dec(secret)),
            method: "client_secret_basic",
        });
    }
    let Some(id) = form.get("client_id") else {
        return Err(Error::InvalidClient("Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body.".into()));
    };
    Ok(match form.get("client_secret") {
        Some(secret) => PresentedCredentials {
            id: id.to_string(),
            secret: Some(secret.to_string()),
            method: "client_secret_post",
        },
        None => PresentedCredentials {
            id: id.to_string(),
            secret: None,
            method: "none",
        },
    })
}

async fn verify_secret(secret: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || super::secret::verify(&secret, &hash))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Authenticates the client of a token/revoke request (basic, post, private_key_jwt, none);
/// `authorization` is the request's `Authorization` header.
pub async fn authenticate(s: &Oauth2, authorization: Option<&str>, form: &Form) -> Result<Client> {
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
            return Err(Error::InvalidRequest(
                "Unknown client_assertion_type.".into(),
            ));
        }
        return private_key_jwt(s, assertion).await;
    }
    let PresentedCredentials { id, secret, method } = presented_credentials(authorization, form)?;
    let bad = || Error::InvalidClient(String::new());
    let stored = s.store().get_shared_client(&id).await?;
    let Some(stored) = stored else {
        if let Some(secret) = secret {
            let _ = verify_secret(secret, s.dummy_hash()).await;
        }
        return Err(bad());
    };
    s.client_cache().remember(stored.clone());
    let stored = Arc::unwrap_or_clone(stored);
    let client = stored.client;
    if client.token_endpoint_auth_method != method {
        return Err(Error::InvalidClient(format!(
            "The OAuth 2.0 Client supports client authentication method '{}', but method '{method}' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '{method}'.",
            client.token_endpoint_auth_method
        )));
    }
    if method == "none" {
        return Ok(client);
    }
    let secret = secret.unwrap_or_default();
    if stored.secret_hash.is_empty() {
        return Err(bad());
    }
    let cache = s.secret_cache();
    if cache.verified(
        &client.client_id,
        &secret,
        &stored.secret_hash,
        std::time::Instant::now(),
    ) {
        return Ok(client);
    }
    if !verify_secret(secret.clone(), stored.secret_hash.clone()).await? {
        return Err(bad());
    }
    cache.remember(
        &client.client_id,
        &secret,
        &stored.secret_hash,
        std::time::Instant::now(),
    );
    Ok(client)
}

/// The client of a client_credentials request as last read by this process, if its
/// credentials are ones already verified against that copy (no database read, no PBKDF2).
/// Anything else — no copy, another method, a secret not verified before, an assertion — is
/// `None`: the caller then takes [`authenticate`]. A token issued for this copy must be stored
/// under the copy's revision (`issue::access_token_for_revision`), which refuses it if the
/// client has changed since.
pub fn recently_authenticated(
    s: &Oauth2,
    authorization: Option<&str>,
    form: &Form,
) -> Option<Arc<StoredClient>> {
    if form.get("client_assertion").is_some() {
        return None;
    }
    let presented = presented_credentials(authorization, form).ok()?;
    let secret = presented.secret?;
    let stored = s.client_cache().get(&presented.id)?;
    if stored.client.token_endpoint_auth_method != presented.method || stored.secret_hash.is_empty()
    {
        return None;
    }
    s.secret_cache()
        .verified(
            &stored.client.client_id,
            &secret,
            &stored.secret_hash,
            std::time::Instant::now(),
        )
        .then_some(stored)
}

/// Drops this process's copy of a client found to be stale.
pub fn forget_recent(s: &Oauth2, client_id: &str) {
    s.client_cache().forget(client_id);
}

/// Drops cached secret verifications of a client (after it was updated or deleted here;
/// other instances notice through the stored hash, see `secret_cache`).
pub fn forget_secrets(s: &Oauth2, client_id: &str) {
    s.secret_cache().forget_client(client_id);
    s.client_cache().forget(client_id);
}

/// `private_key_jwt`: the assertion's issuer names the client, one of its keys verifies it in
/// its signing algorithm; `sub` is the client, `aud` the token endpoint, `exp` ahead, `jti`
/// not seen before.
async fn private_key_jwt(s: &Oauth2, assertion: &str) -> Result<Client> {
    let claims_unverified = unverified_claims(assertion)
        .ok_or_else(|| Error::InvalidClient("Unable to decode the client assertion.".into()))?;
    let id = claims_unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let stored = s
        .store()
        .get_client(&id)
        .await?
        .ok_or_else(|| Error::InvalidClient(String::new()))?;
    let client = stored.client;
    if client.token_endpoint_auth_method != "private_key_jwt" {
        return Err(Error::InvalidClient(format!("The OAuth 2.0 Client supports client authentication method '{}', but method 'private_key_jwt' was requested.", client.token_endpoint_auth_method)));
    }
    let verified = s.client_keys().verify(&client, assertion).await?;
    let (header, claims) = verified.ok_or_else(|| {
        Error::InvalidClient(
            "Unable to verify the integrity of the 'client_assertion' value.".into(),
        )
    })?;
    if header.get("alg").and_then(Value::as_str)
        != Some(client.token_endpoint_auth_signing_alg.as_str())
    {
        return Err(Error::InvalidClient(format!("The 'client_assertion' uses signing algorithm '{}' but the requested OAuth 2.0 Client enforces signing algorithm '{}'.", header.get("alg").and_then(Value::as_str).unwrap_or(""), client.token_endpoint_auth_signing_alg)));
    }
    let now = s.now_secs();
    if claims.get("sub").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(Error::InvalidClient("Claim 'sub' from 'client_assertion' must match the 'client_id' of the OAuth 2.0 Client.".into()));
    }
    let token_url = s.token_url();
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == token_url,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(token_url.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err(Error::InvalidClient(format!("Claim 'audience' from 'client_assertion' must match the authorization server's token endpoint '{token_url}'.")));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| {
        Error::InvalidClient("Claim 'exp' from 'client_assertion' is required.".into())
    })?;
    if exp < now {
        return Err(Error::InvalidClient(
            "Claim 'exp' from 'client_assertion' is expired.".into(),
        ));
    }
    let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(|| {
        Error::InvalidClient("Claim 'jti' from 'client_assertion' must be set but is not.".into())
    })?;
    // Saturating: a wrapped far-future `exp` was a past expiry, replayable at once.
    let fresh = s
        .store()
        .use_jti(
            &format!("client:{id}:{jti}"),
            exp.saturating_mul(1_000_000),
            s.now_micros(),
        )
        .await?;
    if !fresh {
        return Err(jti_known());
    }
    Ok(client)
}

/// fosite's answer to a JWT id seen before.
pub fn jti_known() -> Error {
    Error::Rejected {
        error: "jti_known".into(),
        description: "The jti was already used.".into(),
        status: 400,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_basic_auth_else_the_body() {
        let form = Form::parse(b"client_id=b&client_secret=s2");
        let basic = format!("Basic {}", STANDARD.encode("a%20b:s+1"));
        let p = presented_credentials(Some(&basic), &form).unwrap();
        assert_eq!(
            (p.id.as_str(), p.secret.as_deref(), p.method),
            ("a b", Some("s 1"), "client_secret_basic")
        );
        let p = presented_credentials(None, &form).unwrap();
        assert_eq!((p.id.as_str(), p.method), ("b", "client_secret_post"));
        let p = presented_credentials(None, &Form::parse(b"client_id=c")).unwrap();
        assert_eq!((p.secret, p.method), (None, "none"));
        assert!(presented_credentials(None, &Form::default()).is_err());
        assert!(presented_credentials(Some("Basic !!"), &form).is_err());
        let no_colon = format!("Basic {}", STANDARD.encode("abc"));
        assert!(presented_credentials(Some(&no_colon), &form).is_err());
    }
}
