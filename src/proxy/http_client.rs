//! Plain HTTP for the pipeline's outbound calls: [`OutboundRequest`] and [`OutboundResponse`],
//! sent by [`HttpClient`] (a pooled `reqwest` client, redirects not followed, bodies capped at
//! [`MAX_RESPONSE_BODY`]); also used by rule repositories and JSON Web Key sets fetched over
//! HTTP.

use axum::http::{HeaderMap, Method};
use bytes::Bytes;

/// The largest response body an outbound call reads (sessions, introspection answers, remote
/// authorizer and hydrator answers); a larger one is a transport failure.
pub const MAX_RESPONSE_BODY: usize = 8 << 20;

/// One outbound HTTP request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Its response.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body already decoded, when an in-process adapter has it as JSON (`body` is then
    /// empty): the pipeline reads it instead of parsing `body`.
    pub json: Option<serde_json::Value>,
}

/// Plain HTTP over a pooled `reqwest` client; also used by remote authorizers, the hydrator
/// and client-credentials grants.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub fn new() -> Result<Self, String> {
        let client = crate::crypto::tls::http_client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self { client })
    }

    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, String> {
        let response = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut response = response;
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(format!(
                    "the response body is larger than {MAX_RESPONSE_BODY} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body: body.freeze(),
            json: None,
        })
    }
}

/// A form body (`application/x-www-form-urlencoded`) of `pairs`.
pub fn encode_form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
