//! Writing clients, for the admin API and dynamic client registration alike: a client
//! document validated with Hydra's rules (`client`), its fetched URLs checked (public addresses
//! only with `clients.http.disallow_private_ip_ranges`; the `sector_identifier_uri` document
//! listing every redirect URI), its secret hashed with `oauth2.hashers`, its registration
//! access token minted; replaced whole, patched (RFC 6902) or deleted — and a registration
//! access token checked for the client it names.

use serde_json::Value;

use super::client::{self, Client, Origin, Policy};
use super::client_auth;
use super::error::{Error, Result};
use super::service::Oauth2;
use super::store::StoredClient;
use super::token::{storage_key, Kind};
use crate::store::time::rfc3339_seconds as rfc3339;

/// The largest `sector_identifier_uri` document read (Hydra's 5 MiB).
const SECTOR_IDENTIFIER_LIMIT: usize = 5 << 20;

/// Validates a client document with what validation needs from the settings: the default
/// scope of dynamic registration, the subject types, development mode.
fn validate(s: &Oauth2, c: &mut Client, origin: Origin) -> Result<()> {
    let settings = s.settings();
    c.validate(
        origin,
        &Policy {
            default_scope: &settings.dcr_default_scope,
            subject_types: &settings.subject_types,
            dev: settings.dev,
        },
    )
}

/// Hashes a client secret with `oauth2.hashers`; a secret bcrypt cannot take (over 72
/// bytes) is a 400 naming the limit (Hydra: hasherx's error, as a 500).
async fn hash_secret(s: &Oauth2, secret: String) -> Result<String> {
    let hasher = s.settings().secret_hasher;
    tokio::task::spawn_blocking(move || hasher.hash(&secret))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "The client secret is longer than {} bytes, which is the most bcrypt (oauth2.hashers.algorithm) can hash.",
                super::secret::BCRYPT_MAX_BYTES
            ))
        })
}

/// `/oauth2/register/<id>` on the public listener.
fn registration_client_uri(s: &Oauth2, id: &str) -> String {
    format!("{}/oauth2/register/{id}", s.public_base())
}

/// Validates, fills server-side fields, hashes the secret and stores a new client. Returns the
/// client with its plain secret (the only time it is ever shown).
pub async fn create(s: &Oauth2, body: Value, origin: Origin) -> Result<Client> {
    let mut c = Client::from_json(body)?;
    validate(s, &mut c, origin)?;
    check_addresses(s, &c).await?;
    check_sector_identifier(s, &c).await?;
    if origin == Origin::Dynamic || c.client_id.is_empty() {
        c.client_id = uuid::Uuid::new_v4().to_string();
    }
    let secret = if c.is_public() {
        None
    } else {
        Some(
            c.client_secret
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(client::generate_secret),
        )
    };
    let hash = match &secret {
        Some(sec) => hash_secret(s, sec.clone()).await?,
        None => String::new(),
    };
    let (rat, rat_sig) = s.hmac().generate(Kind::Access);
    let now = s.now_micros();
    c.created_at = rfc3339(now);
    c.updated_at = rfc3339(now);
    c.client_secret = None;
    s.store()
        .insert_client(&c, &hash, &storage_key(&rat_sig), now)
        .await?;
    c.client_secret = secret;
    c.registration_access_token = Some(rat);
    c.registration_client_uri = Some(registration_client_uri(s, &c.client_id));
    Ok(c)
}

/// The client with this id (`ClientNotFound` if none).
pub async fn get(s: &Oauth2, id: &str) -> Result<StoredClient> {
    s.store().get_client(id).await?.ok_or(Error::ClientNotFound)
}

/// Replaces a client; the secret is kept unless the body brings a new one (then echoed).
pub async fn replace(s: &Oauth2, id: &str, body: Value, origin: Origin) -> Result<Client> {
    let stored = get(s, id).await?;
    let mut c = Client::from_json(body)?;
    c.client_id = id.to_string();
    validate(s, &mut c, origin)?;
    check_addresses(s, &c).await?;
    check_sector_identifier(s, &c).await?;
    let new_secret = c.client_secret.clone().filter(|s| !s.is_empty());
    let hash = match &new_secret {
        Some(sec) => hash_secret(s, sec.clone()).await?,
        None if c.is_public() => String::new(),
        None => stored.secret_hash.clone(),
    };
    c.created_at = stored.client.created_at.clone();
    let now = s.now_micros();
    c.updated_at = rfc3339(now);
    c.client_secret = None;
    c.registration_access_token = None;
    c.registration_client_uri = None;
    let updated = s
        .store()
        .update_client(&c, &hash, &stored.registration_key, now)
        .await?;
    client_auth::forget_secrets(s, id);
    if !updated {
        return Err(Error::ClientNotFound);
    }
    c.client_secret = new_secret;
    Ok(c)
}

/// Applies an RFC 6902 JSON Patch to a client (its `client_id` may not change).
pub async fn patch(s: &Oauth2, id: &str, patch: &json_patch::Patch) -> Result<Client> {
    let stored = get(s, id).await?;
    let mut doc = serde_json::to_value(stored.client.without_secrets())
        .map_err(|e| Error::Internal(e.to_string()))?;
    json_patch::patch(&mut doc, patch)
        .map_err(|e| Error::BadRequest(format!("Unable to apply the JSON Patch: {e}")))?;
    if doc.get("client_id").and_then(Value::as_str) != Some(id) {
        return Err(Error::BadRequest(
            "Field client_id can not be patched.".into(),
        ));
    }
    replace(s, id, doc, Origin::Admin).await
}

/// Sets a client's per-grant lifespans (the fields of `lifespans` among them).
pub async fn set_lifespans(s: &Oauth2, id: &str, lifespans: &Value) -> Result<Client> {
    let stored = get(s, id).await?;
    let mut doc = serde_json::to_value(stored.client.without_secrets())
        .map_err(|e| Error::Internal(e.to_string()))?;
    for field in client::LIFESPANS {
        if let Some(v) = lifespans.get(field) {
            doc[field] = v.clone();
        }
    }
    replace(s, id, doc, Origin::Admin).await
}

/// Deletes a client and forgets what was cached of it; `false` if there was none.
pub async fn delete(s: &Oauth2, id: &str) -> Result<bool> {
    let deleted = s.store().delete_client(id).await?;
    client_auth::forget_secrets(s, id);
    Ok(deleted)
}

/// The client of a dynamic-registration request: dynamic registration is enabled and
/// `bearer` is the client's registration access token.
pub async fn registered(s: &Oauth2, bearer: Option<String>, id: &str) -> Result<StoredClient> {
    if !s.settings().dcr_enabled {
        return Err(Error::RegistrationDisabled);
    }
    let unauthorized = || Error::Rejected {
        error: "The request could not be authorized".into(),
        description:
            "The requested OAuth 2.0 client does not exist or you provided incorrect credentials."
                .into(),
        status: 401,
    };
    let token = bearer.ok_or_else(unauthorized)?;
    let sig = s
        .hmac()
        .validate(Kind::Access, &token)
        .ok_or_else(unauthorized)?;
    let stored = s.store().get_client(id).await?.ok_or_else(unauthorized)?;
    if !crate::crypto::constant_time_eq(
        storage_key(&sig).as_bytes(),
        stored.registration_key.as_bytes(),
    ) {
        return Err(unauthorized());
    }
    Ok(stored)
}

/// Dynamic registration's update of a client (already [`registered`]): replaced like an
/// admin update, under a new registration access token, which the answer carries.
pub async fn replace_registered(
    s: &Oauth2,
    stored: StoredClient,
    id: &str,
    doc: Value,
) -> Result<Client> {
    let mut c = replace(s, id, doc, Origin::Dynamic).await?;
    let (rat, sig) = s.hmac().generate(Kind::Access);
    let hash = s
        .store()
        .get_client(id)
        .await?
        .map(|c| c.secret_hash)
        .unwrap_or(stored.secret_hash);
    let mut plain = c.clone();
    plain.client_secret = None;
    s.store()
        .update_client(&plain, &hash, &storage_key(&sig), s.now_micros())
        .await?;
    client_auth::forget_secrets(s, id);
    c.registration_access_token = Some(rat);
    c.registration_client_uri = Some(registration_client_uri(s, id));
    Ok(c)
}

/// Hydra's check of a client's fetched URLs when it is written: with
/// `clients.http.disallow_private_ip_ranges`, `jwks_uri`, `backchannel_logout_uri` and every
/// `request_uris` entry must resolve to public addresses only (an URL listed in
/// `clients.http.private_ip_exception_urls` is exempt here too).
async fn check_addresses(s: &Oauth2, client: &Client) -> Result<()> {
    if !s.outbound().policy().disallow_private_ip_ranges {
        return Ok(());
    }
    let mut fields: Vec<(String, &str)> = vec![
        ("jwks_uri".into(), client.jwks_uri.as_str()),
        (
            "backchannel_logout_uri".into(),
            client.backchannel_logout_uri.as_str(),
        ),
    ];
    for (i, u) in client.request_uris.iter().enumerate() {
        fields.push((format!("request_uris.{i}"), u.as_str()));
    }
    for (field, url) in fields.into_iter().filter(|(_, u)| !u.is_empty()) {
        if let Err(e) = s.outbound().check(url).await {
            return Err(Error::InvalidClientMetadata(format!(
                "Client IP address is not allowed: {field}: {e}"
            )));
        }
    }
    Ok(())
}

/// Hydra's `ValidateSectorIdentifierURL`: `sector_identifier_uri` must be an https URL
/// answering a non-empty JSON array that lists every redirect URI of the client. (Hydra puts
/// the reason in the error's debug field; we put it in the hint.)
async fn check_sector_identifier(s: &Oauth2, client: &Client) -> Result<()> {
    let location = client.sector_identifier_uri.as_str();
    if location.is_empty() {
        return Ok(());
    }
    let url = url::Url::parse(location).map_err(|e| {
        Error::InvalidClientMetadata(format!(
            "Value of sector_identifier_uri could not be parsed because {e}."
        ))
    })?;
    if url.scheme() != "https" {
        return Err(Error::InvalidClientMetadata(
            "Value sector_identifier_uri must be an HTTPS URL but it is not.".into(),
        ));
    }
    let failed = |why: String| Error::InvalidClientMetadata(why);
    let response = s
        .outbound()
        .get(url.as_str(), SECTOR_IDENTIFIER_LIMIT)
        .await
        .map_err(|e| {
            failed(format!(
                "Unable to connect to URL set by sector_identifier_uri: {e}"
            ))
        })?;
    let urls: Vec<String> = serde_json::from_slice(&response.body).map_err(|e| {
        failed(format!(
            "Unable to decode values from sector_identifier_uri: {e}"
        ))
    })?;
    if urls.is_empty() {
        return Err(failed(
            "Array from sector_identifier_uri contains no items".into(),
        ));
    }
    if let Some(r) = client.redirect_uris.iter().find(|r| !urls.contains(r)) {
        return Err(failed(format!(
            "Redirect URL \"{r}\" does not match values from sector_identifier_uri."
        )));
    }
    Ok(())
}
