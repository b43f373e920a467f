//! OpenID Connect request objects (`request`, or fetched from a registered `request_uri`), as
//! fosite's `authorizeRequestParametersFromOpenIDConnectRequest` reads them: only for requests
//! whose `scope` holds `openid`; signed with the client's keys (RS*, PS*, ES*) or `alg: none`,
//! in the client's `request_object_signing_alg` when it names one; `exp`, `nbf` and `iat`
//! checked. The object's claims then replace the authorization request's parameters.

use serde_json::{Map, Value};

use super::client::Client;
use super::client_keys::{unverified_claims, unverified_header};
use super::error::{Error, Result};
use super::form::Form;
use super::service::Oauth2;

/// The largest request object read from a `request_uri`.
const REQUEST_OBJECT_LIMIT: usize = 1 << 20;

/// Whether fosite reads a request object for this request: `request` or `request_uri` is
/// given and the query's `scope` holds `openid`.
pub fn carried(form: &Form) -> bool {
    let given = |k: &str| form.get(k).is_some_and(|v| !v.is_empty());
    (given("request") || given("request_uri"))
        && form
            .get("scope")
            .unwrap_or("")
            .split(' ')
            .any(|s| s == "openid")
}

fn invalid(hint: &str) -> Error {
    Error::Rejected {
        error: "invalid_request_object".into(),
        description: format!("The request parameter contains an invalid Request Object. {hint}"),
        status: 400,
    }
}

/// The claims of the request's object, verified (see the module docs); `None` when the
/// request carries none. Errors come before the redirect URI is trusted (they go to the error
/// UI).
pub async fn claims(
    s: &Oauth2,
    client: &Client,
    form: &Form,
) -> Result<Option<Map<String, Value>>> {
    if !carried(form) {
        return Ok(None);
    }
    let by_value = form.get("request").unwrap_or("");
    let by_reference = form.get("request_uri").unwrap_or("");
    if !by_value.is_empty() && !by_reference.is_empty() {
        return Err(Error::InvalidRequest("OpenID Connect parameters 'request' and 'request_uri' were both given, but you can use at most one.".into()));
    }
    if client.jwks_uri.is_empty() && client.jwks.get("keys").is_none() {
        return Err(Error::InvalidRequest("OpenID Connect 'request' or 'request_uri' context was given, but the OAuth 2.0 Client does not have any JSON Web Keys registered.".into()));
    }
    let assertion = if by_reference.is_empty() {
        by_value.to_string()
    } else {
        fetch(s, client, by_reference).await?
    };
    let header = unverified_header(&assertion)
        .ok_or_else(|| invalid("Unable to verify the request object's signature."))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let required = client.request_object_signing_alg.as_str();
    if !required.is_empty() && required != alg {
        return Err(invalid(&format!("The request object uses signing algorithm '{alg}', but the requested OAuth 2.0 Client enforces signing algorithm '{required}'.")));
    }
    let claims = match alg {
        // fosite accepts an unsigned object; the JWS must then carry no signature.
        "none" if assertion.ends_with('.') => unverified_claims(&assertion),
        "none" => None,
        a if a.starts_with("RS") || a.starts_with("PS") || a.starts_with("ES") => {
            let verified = s
                .client_keys()
                .verify(client, &assertion)
                .await
                .map_err(|e| {
                    invalid(&format!(
                        "Unable to retrieve the signing key from the OAuth 2.0 Client. {}",
                        e.parts().2
                    ))
                })?;
            verified.map(|(_, claims)| claims)
        }
        other => {
            return Err(invalid(&format!(
                "This request object uses unsupported signing algorithm '{other}'."
            )))
        }
    }
    .ok_or_else(|| invalid("Unable to verify the request object's signature."))?;
    check_times(&claims, s.now_secs())?;
    Ok(Some(claims))
}

/// `exp` not passed, `nbf` and `iat` not ahead of `now` (seconds).
fn check_times(claims: &Map<String, Value>, now: i64) -> Result<()> {
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    let expired = time("exp").is_some_and(|exp| (now as f64) > exp);
    let early = time("nbf").is_some_and(|nbf| (now as f64) < nbf)
        || time("iat").is_some_and(|iat| (now as f64) < iat);
    if expired || early {
        return Err(invalid("Unable to verify the request object because its claims could not be validated, check if the expiry time is set correctly."));
    }
    Ok(())
}

/// A request object by reference: the URI must be one of the client's `request_uris`.
async fn fetch(s: &Oauth2, client: &Client, location: &str) -> Result<String> {
    let invalid_uri = |hint: String| {
        Error::Rejected {
        error: "invalid_request_uri".into(),
        description: format!("The request_uri in the Authorization Request returns an error or contains invalid data. {hint}"),
        status: 400,
    }
    };
    if !client.request_uris.iter().any(|u| u == location) {
        return Err(invalid_uri(format!(
            "Request URI '{location}' is not whitelisted by the OAuth 2.0 Client."
        )));
    }
    // Read at most REQUEST_OBJECT_LIMIT: a request object is a few KiB.
    let response = s
        .outbound()
        .get(location, REQUEST_OBJECT_LIMIT)
        .await
        .map_err(|e| {
            invalid_uri(format!(
                "Unable to fetch OpenID Connect request parameters from 'request_uri' because: {e}."
            ))
        })?;
    if response.status != reqwest::StatusCode::OK {
        return Err(invalid_uri(format!("Unable to fetch OpenID Connect request parameters from 'request_uri' because status code '200' was expected, but got '{}'.", response.status.as_u16())));
    }
    Ok(String::from_utf8_lossy(&response.body).trim().to_string())
}

/// Merges a request object into the request's parameters, as fosite does: each string (or
/// number, or boolean) claim replaces the parameter of its name, and the query's `scope`
/// values are kept beside the object's. The client stays the one `client_id` named in the
/// query. Without an object, or for an unknown client (which the request's validation
/// refuses), the form is unchanged.
pub async fn merged(s: &Oauth2, mut form: Form) -> Result<Form> {
    if !carried(&form) {
        return Ok(form);
    }
    let Some(client_id) = form.get("client_id").map(str::to_string) else {
        return Ok(form);
    };
    let Ok(Some(stored)) = s.store().get_client(&client_id).await else {
        return Ok(form);
    };
    let Some(claims) = claims(s, &stored.client, &form).await? else {
        return Ok(form);
    };
    merge(&mut form, claims);
    Ok(form)
}

/// The pure half of [`merged`].
fn merge(form: &mut Form, claims: Map<String, Value>) {
    let words = |v: &str| -> Vec<String> {
        v.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let query_scope = words(form.get("scope").unwrap_or(""));
    for (name, value) in claims {
        if matches!(name.as_str(), "client_id" | "request" | "request_uri") {
            continue;
        }
        let text = match value {
            Value::String(t) => t,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        form.set(&name, text);
    }
    let mut scope = words(form.get("scope").unwrap_or(""));
    for sc in query_scope {
        if !scope.contains(&sc) {
            scope.push(sc);
        }
    }
    form.set("scope", scope.join(" "));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_openid_request_carries_an_object() {
        assert!(carried(&Form::parse(b"request=x&scope=openid+email")));
        assert!(!carried(&Form::parse(b"request=x&scope=email")));
        assert!(!carried(&Form::parse(b"request=&scope=openid")));
    }

    #[test]
    fn claims_replace_parameters_and_query_scopes_stay() {
        let mut form = Form::parse(b"client_id=app&scope=openid+extra&state=s");
        let claims = json!({"client_id": "other", "state": "from-object", "max_age": 5,
            "scope": "openid email", "claims": {"x": 1}});
        merge(&mut form, claims.as_object().unwrap().clone());
        assert_eq!(form.get("client_id"), Some("app"));
        assert_eq!(form.get("state"), Some("from-object"));
        assert_eq!(form.get("max_age"), Some("5"));
        assert_eq!(form.get("scope"), Some("openid email extra"));
        assert_eq!(form.get("claims"), None);
    }

    #[test]
    fn times_are_checked_against_now() {
        let at = |c: Value| check_times(c.as_object().unwrap(), 100);
        assert!(at(json!({"exp": 101, "nbf": 100, "iat": 99})).is_ok());
        assert!(at(json!({"exp": 99})).is_err());
        assert!(at(json!({"nbf": 101})).is_err());
        assert!(at(json!({"iat": 101})).is_err());
    }
}
