//! The authorizers: [`Authz`] compiled from a rule's handler config (allow, deny, remote,
//! remote_json), and `authorize`: the remote call with its templated payload and headers, and
//! the answer's headers passed on upstream.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use serde_json::Value;

use super::error::Error;
use super::http_client::OutboundRequest;
use super::outbound::Outbound;
use super::request::PipelineRequest;
use super::template::{templates, with_shared, Template, TemplateData};

/// A compiled authorizer.
#[derive(Debug, Clone)]
pub enum Authz {
    Allow,
    Deny,
    Remote {
        url: String,
        headers: Vec<(String, Template)>,
        forward: Vec<String>,
    },
    RemoteJson {
        url: String,
        payload: Template,
        headers: Vec<(String, Template)>,
        forward: Vec<String>,
    },
}

impl Authz {
    pub fn build(id: &str, config: Value) -> Result<Self, String> {
        let forward = |c: &Value| -> Vec<String> {
            c.get("forward_response_headers_to_upstream")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let remote = |c: &Value| -> Result<String, String> {
            let u = c.get("remote").and_then(Value::as_str).unwrap_or_default();
            url::Url::parse(u).map_err(|e| format!("config.remote: {e}"))?;
            Ok(u.to_string())
        };
        Ok(match id {
            "allow" => Authz::Allow,
            "deny" => Authz::Deny,
            "remote" => Authz::Remote {
                url: remote(&config)?,
                headers: templates(config.get("headers"), "headers")?,
                forward: forward(&config),
            },
            "remote_json" => {
                let payload = config
                    .get("payload")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Authz::RemoteJson {
                    url: remote(&config)?,
                    payload: Template::parse(payload)
                        .map_err(|e| format!("config.payload: template: {e}"))?,
                    headers: templates(config.get("headers"), "headers")?,
                    forward: forward(&config),
                }
            }
            "keto_engine_acp_ory" => {
                return Err("authorizer \"keto_engine_acp_ory\" calls Keto <= v0.5's /engines/acp/ory API, which Keto v0.14 (and Quartet's permission role) does not serve; use the remote_json authorizer with the permission role's /relation-tuples/check instead (Oathkeeper issue #945)".into())
            }
            other => {
                return Err(format!(
                    "authorizer {other:?} is not supported by Quartet yet"
                ))
            }
        })
    }
}

/// The rendered header templates of a remote authorizer (empty values left out).
fn render_headers(
    list: &[(String, Template)],
    data: &Arc<TemplateData>,
) -> Result<HeaderMap, Error> {
    let mut h = HeaderMap::new();
    for (k, t) in list {
        let v = t
            .execute_shared(data)
            .map_err(|e| Error::internal(format!("header {k}: {e}")))?;
        if v.is_empty() {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(n, v);
        }
    }
    Ok(h)
}

/// Runs the authorizer: allow, deny, or ask the remote endpoint (its 200 allows, and the
/// headers named by `forward_response_headers_to_upstream` are set on the session).
pub(super) async fn authorize(
    out: &Outbound,
    a: &Authz,
    req: &PipelineRequest,
    session: &mut TemplateData,
) -> Result<(), Error> {
    let (url, body, mut headers, forward) = match a {
        Authz::Allow => return Ok(()),
        Authz::Deny => return Err(Error::forbidden("Access denied by the deny authorizer")),
        Authz::Remote {
            url,
            headers,
            forward,
        } => {
            let mut h = with_shared(session, |d| render_headers(headers, d))?;
            if let Some(ct) = req.headers.get(header::CONTENT_TYPE) {
                h.insert(header::CONTENT_TYPE, ct.clone());
            }
            (url, req.body.clone(), h, forward)
        }
        Authz::RemoteJson {
            url,
            payload,
            headers,
            forward,
        } => {
            let (body, mut h) = with_shared(session, |d| {
                let body = payload
                    .execute_shared(d)
                    .map_err(|e| Error::internal(format!("payload: {e}")))?;
                Ok::<_, Error>((body, render_headers(headers, d)?))
            })?;
            serde_json::from_str::<Value>(&body).map_err(|e| {
                Error::internal(format!("the remote_json payload is not valid JSON: {e}"))
            })?;
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (url, Bytes::from(body), h, forward)
        }
    };
    if let Some(auth) = req.headers.get(header::AUTHORIZATION) {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    let url = url::Url::parse(url).map_err(|e| Error::internal(e.to_string()))?;
    let resp = out
        .http
        .send(OutboundRequest {
            method: Method::POST,
            url,
            headers,
            body,
        })
        .await
        .map_err(|e| Error::internal(format!("the remote authorizer could not be reached: {e}")))?;
    match resp.status {
        200 => {
            for name in forward {
                if let (Ok(n), Some(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    resp.headers.get(name.as_str()),
                ) {
                    session.header.insert(n, v.clone());
                }
            }
            Ok(())
        }
        403 => Err(Error::forbidden("The remote authorizer denied the request")),
        s => Err(Error::internal(format!(
            "Expected status code 200 or 403 but got {s}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keto_engine_acp_ory_is_rejected_with_the_way_out() {
        let e = Authz::build("keto_engine_acp_ory", json!({})).unwrap_err();
        assert!(
            e.contains("remote_json") && e.contains("/relation-tuples/check"),
            "{e}"
        );
    }
}
