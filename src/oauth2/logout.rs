//! OpenID Connect front- and back-channel logout, as Hydra 2.2 does it on logout completion
//! (`consent/strategy_default.go` `completeLogout`, `executeBackChannelLogout`,
//! `generateFrontChannelLogoutURLs`) and on `DELETE /admin/oauth2/auth/sessions/login?sid=`.
//!
//! The clients concerned are those that obtained a consent within the login session. Back-channel
//! logout tokens are signed with the ID-token key and POSTed concurrently in the background
//! through the guarded outbound client (`clients.http.*`, a timeout); a failure is logged,
//! never returned.
//! The front-channel page is rendered by `html::frontchannel_logout`. The login session then
//! ends ([`Oauth2::end_login_session`]), and with `urls.identity_provider.url` the Kratos session
//! the login accepted (`identity_provider_session_id`) is disabled too.

use serde_json::{json, Map};

use super::client::Client;
use super::error::Result;
use super::service::{Oauth2, ID_TOKEN_SET};

/// The `events` member of a back-channel logout token.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Front-channel logout URLs of `clients` with Hydra's `iss` and `sid` query parameters (Hydra
/// adds both whether or not the client set `frontchannel_logout_session_required`). A URI that
/// is not http(s) (stored before such URIs were refused) is skipped.
pub fn frontchannel_urls(clients: &[Client], issuer: &str, sid: &str) -> Vec<String> {
    clients
        .iter()
        .filter(|c| !c.frontchannel_logout_uri.is_empty())
        .filter_map(|c| {
            let mut url = super::html::web_url(&c.frontchannel_logout_uri)?;
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "iss" && k != "sid")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("iss", issuer)
                .append_pair("sid", sid);
            Some(url.to_string())
        })
        .collect()
}

impl Oauth2 {
    /// Deletes login session `sid` and, with `urls.identity_provider.url`, disables the Kratos
    /// session the login named (Hydra's `performBackChannelLogoutAndDeleteSession`: a Kratos
    /// failure is logged and the logout goes on).
    pub async fn end_login_session(&self, sid: &str) -> Result<()> {
        let session = self.store().login_session(sid).await?;
        self.store().delete_login_sessions(None, Some(sid)).await?;
        let kratos_session = session
            .as_ref()
            .and_then(|(.., doc)| doc["identity_provider_session_id"].as_str())
            .filter(|id| !id.is_empty());
        if let (Some(id), Some(kratos)) = (kratos_session, &self.settings().identity_provider) {
            let target = format!(
                "{}/admin/sessions/{}",
                kratos.admin_url.trim_end_matches('/'),
                url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
            );
            let mut request = self.http().delete(&target);
            for (name, value) in &kratos.headers {
                request = request.header(name.as_str(), value.expose().as_str());
            }
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::error!(
                    status = r.status().as_u16(),
                    "Unable to revoke session in ORY Kratos."
                ),
                Err(e) => tracing::error!(
                    error = %e.without_url(),
                    "Unable to revoke session in ORY Kratos."
                ),
            }
        }
        Ok(())
    }

    /// Signs one back-channel logout token per client with a `backchannel_logout_uri` and POSTs
    /// them in the background. Errors building the tokens are returned (a missing key); delivery
    /// failures are only logged.
    pub async fn backchannel_logout(&self, clients: &[Client], sid: &str) -> Result<()> {
        let targets: Vec<&Client> = clients
            .iter()
            .filter(|c| !c.backchannel_logout_uri.is_empty())
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let key = self.signer(ID_TOKEN_SET).await?;
        let issuer = self.issuer();
        for c in targets {
            let mut claims = Map::new();
            claims.insert("iss".into(), json!(issuer));
            claims.insert("aud".into(), json!([c.client_id]));
            claims.insert("iat".into(), json!(self.now_secs()));
            claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
            claims.insert("events".into(), json!({ BACKCHANNEL_EVENT: {} }));
            claims.insert("sid".into(), json!(sid));
            let token = key.sign(claims)?;
            let http = self.outbound().clone();
            let uri = c.backchannel_logout_uri.clone();
            let client_id = c.client_id.clone();
            tokio::spawn(async move {
                let result = http.post_form(&uri, &[("logout_token", &token)]).await;
                match result {
                    Ok(r)
                        if r.status == reqwest::StatusCode::OK
                            || r.status == reqwest::StatusCode::NO_CONTENT =>
                    {
                        tracing::info!(client_id = %client_id, "Back-Channel Logout Request");
                    }
                    Ok(r) => tracing::error!(
                        client_id = %client_id,
                        status = r.status.as_u16(),
                        "Unable to execute OpenID Connect Back-Channel Logout Request: expected HTTP status code 200 or 204"
                    ),
                    Err(e) => tracing::error!(
                        client_id = %client_id,
                        error = %e,
                        "Unable to execute OpenID Connect Back-Channel Logout Request"
                    ),
                }
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn client(id: &str, front: &str) -> Client {
        let mut c: Client = serde_json::from_value(json!({"client_id": id})).unwrap();
        c.frontchannel_logout_uri = front.into();
        c
    }

    #[test]
    fn frontchannel_urls_carry_iss_and_sid_and_skip_clients_without_uri() {
        let clients = [
            client("a", "https://a.example/logout?x=1&sid=old"),
            client("b", ""),
            client("c", "not a url"),
            client("d", "javascript://a.example/%0aalert(1)"),
        ];
        let urls = frontchannel_urls(&clients, "https://issuer.example/", "s 1");
        assert_eq!(
            urls,
            vec!["https://a.example/logout?x=1&iss=https%3A%2F%2Fissuer.example%2F&sid=s+1"]
        );
    }
}
