//! Logout, as Hydra 2.2 does it (`consent/strategy_default.go`): `/oauth2/sessions/logout`
//! started by the browser or by a relying party (`id_token_hint`), confirmed by the logout UI
//! through the admin API (the logout challenge), and completed with the logout verifier in the
//! browser that holds the session; and the admin API's headless logout
//! (`DELETE /admin/oauth2/auth/sessions/login?sid=`).
//!
//! Completing a logout runs OpenID Connect front- and back-channel logout
//! (`executeBackChannelLogout`, `generateFrontChannelLogoutURLs`) for the clients that obtained a
//! consent within the login session. Back-channel logout tokens are signed with the ID-token
//! key and POSTed concurrently in the background through the guarded outbound client
//! (`clients.http.*`, a timeout); a failure is logged, never returned. The front-channel page
//! is rendered by `html::frontchannel_logout`. The login session then ends
//! ([`end_login_session`]), and with `urls.identity_provider.url` the Kratos session the login
//! accepted (`identity_provider_session_id`) is disabled too.

use serde_json::{json, Map, Value};

use super::challenge::{Flow, FlowEvent, FlowRefusal, LogoutRequest};
use super::client::Client;
use super::cookies::Cookies;
use super::error::{Error, Result};
use super::flows::{self, jar};
use super::form::{with_params, Form};
use super::navigation::Navigation;
use super::service::Oauth2;
use super::settings::{UiPage, ID_TOKEN_SET};

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

/// Deletes login session `sid` and, with `urls.identity_provider.url`, disables the Kratos
/// session the login named (Hydra's `performBackChannelLogoutAndDeleteSession`: a Kratos
/// failure is logged and the logout goes on).
pub async fn end_login_session(s: &Oauth2, sid: &str) -> Result<()> {
    let session = s.store().login_session(sid).await?;
    s.store().delete_login_sessions(None, Some(sid)).await?;
    let kratos_session = session
        .as_ref()
        .map(|session| session.identity_provider_session_id.as_str())
        .filter(|id| !id.is_empty());
    if let (Some(id), Some(kratos)) = (kratos_session, &s.settings().identity_provider) {
        let target = format!(
            "{}/admin/sessions/{}",
            kratos.admin_url.trim_end_matches('/'),
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        );
        let mut request = s.http().delete(&target);
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
pub async fn backchannel_logout(s: &Oauth2, clients: &[Client], sid: &str) -> Result<()> {
    let targets: Vec<&Client> = clients
        .iter()
        .filter(|c| !c.backchannel_logout_uri.is_empty())
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let key = s.keys().signer(ID_TOKEN_SET).await?;
    let issuer = s.issuer();
    for c in targets {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!([c.client_id]));
        claims.insert("iat".into(), json!(s.now_secs()));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("events".into(), json!({ BACKCHANNEL_EVENT: {} }));
        claims.insert("sid".into(), json!(sid));
        let token = key.sign(claims)?;
        let http = s.outbound().clone();
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

/// `GET|POST /oauth2/sessions/logout`: with a `logout_verifier`, the logout completes;
/// otherwise one starts.
pub async fn logout(s: &Oauth2, cookies: &Cookies, form: &Form) -> Result<Navigation> {
    match form.get("logout_verifier") {
        Some(verifier) => complete(s, cookies, verifier).await,
        None => start(s, cookies, form).await,
    }
}

/// What a relying party's `id_token_hint` names: the login session, the client, and where
/// the browser goes after the logout (a registered `post_logout_redirect_uri` with `state`).
struct Hinted {
    sid: String,
    client_id: String,
    post_logout: String,
}

async fn hinted(s: &Oauth2, form: &Form, hint: &str) -> Result<Hinted> {
    let keys = s.keys().public_keys(ID_TOKEN_SET).await?;
    let (_, claims) = super::jose::verify(hint, &keys)
        .ok_or_else(|| Error::InvalidRequest("The id_token_hint could not be verified.".into()))?;
    if claims.get("iss").and_then(Value::as_str) != Some(s.issuer().as_str()) {
        return Err(Error::InvalidRequest(
            "The id_token_hint was issued by another issuer.".into(),
        ));
    }
    let sid = claims
        .get("sid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if sid.is_empty() {
        return Err(Error::InvalidRequest(
            "Logout failed because query parameter id_token_hint is missing sid claim.".into(),
        ));
    }
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Error::InvalidRequest(
            "Logout failed because query parameter id_token_hint is missing sub claim.".into(),
        ));
    }
    let client_id = match claims.get("aud") {
        Some(Value::Array(a)) => a
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Some(Value::String(a)) => a.clone(),
        _ => String::new(),
    };
    let mut post_logout = String::new();
    if let Some(uri) = form
        .get("post_logout_redirect_uri")
        .filter(|u| !u.is_empty())
    {
        let client = s.store().get_client(&client_id).await?.ok_or_else(|| {
            Error::InvalidRequest("The id_token_hint names an unknown client.".into())
        })?;
        if !client
            .client
            .post_logout_redirect_uris
            .iter()
            .any(|u| u == uri)
        {
            return Err(Error::InvalidRequest("Logout failed because query parameter post_logout_redirect_uri is not a whitelisted as a post_logout_redirect_uri for the client.".into()));
        }
        post_logout = with_params(uri, &[("state", form.get("state").unwrap_or(""))]);
    }
    Ok(Hinted {
        sid,
        client_id,
        post_logout,
    })
}

/// A logout request: a logout challenge for the browser's remembered login session (or the
/// hinted one), the browser sent to the logout UI; without such a session, straight to the
/// post-logout URL.
async fn start(s: &Oauth2, cookies: &Cookies, form: &Form) -> Result<Navigation> {
    let hint = form.get("id_token_hint").filter(|h| !h.is_empty());
    let rp_initiated = hint.is_some();
    let Hinted {
        sid,
        client_id,
        post_logout,
    } = match hint {
        Some(hint) => hinted(s, form, hint).await?,
        None if form.get("state").is_some() || form.get("post_logout_redirect_uri").is_some() => {
            return Err(Error::InvalidRequest("Logout failed because query parameters state or post_logout_redirect_uri are set but id_token_hint is missing.".into()));
        }
        None => Hinted {
            sid: jar(s).session(cookies).unwrap_or_default(),
            client_id: String::new(),
            post_logout: String::new(),
        },
    };
    // Hydra's `GetRememberedLoginSession`: a session not remembered has no cookie in any
    // browser, so there is nothing a logout could end; straight to the post-logout URL.
    let session = if sid.is_empty() {
        None
    } else {
        s.store()
            .login_session(&sid)
            .await?
            .filter(|session| session.remember)
    };
    let Some(session) = session else {
        let to = if post_logout.is_empty() {
            s.ui_url(UiPage::PostLogout)
        } else {
            post_logout
        };
        return Ok(Navigation::redirect(to));
    };
    // Hydra takes the subject from the login session: the hint's `sub` may be pairwise.
    let challenge = crate::crypto::random_token(32);
    let doc = LogoutRequest {
        sid,
        rp_initiated,
        post_logout_redirect: post_logout,
        request_url: format!("{}/oauth2/sessions/logout", s.public_base()),
    };
    let flow = Flow::pending(
        challenge.clone(),
        client_id,
        session.subject,
        s.now_micros(),
        doc,
    );
    s.store().insert_flow(&flow).await?;
    Ok(Navigation::redirect(with_params(
        &s.ui_url(UiPage::Logout),
        &[("logout_challenge", &challenge)],
    )))
}

/// The logout verifier: the confirmed logout completes — in the browser of the session, the
/// back- and front-channel logouts, the session's end and its cookie cleared; elsewhere it
/// only goes on to the post-logout URL.
async fn complete(s: &Oauth2, cookies: &Cookies, verifier: &str) -> Result<Navigation> {
    let mut flow = s
        .store()
        .get_flow_by_verifier::<LogoutRequest>(verifier)
        .await?
        .ok_or_else(|| Error::AccessDenied("The logout verifier is invalid or was used.".into()))?;
    let from = flow
        .redeem(s.now_micros(), s.flow_ttl_micros())
        .map_err(|r| r.into_error(String::new()))?;
    if !s.store().transition_flow(&flow, from).await? {
        return Err(FlowRefusal::NotRedeemable.into_error(String::new()));
    }
    let sid = flow.doc.sid.as_str();
    let to = Some(flow.doc.post_logout_redirect.clone())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| s.ui_url(UiPage::PostLogout));
    if !completes_in_sessions_browser(s, cookies, &flow.subject).await? {
        return Ok(Navigation::redirect(to));
    }
    let clients = s.store().login_session_clients(&flow.subject, sid).await?;
    let frontchannel = frontchannel_urls(&clients, &s.issuer(), sid);
    // Back-channel first: the clients are found through the login session's consents.
    if let Err(e) = backchannel_logout(s, &clients, sid).await {
        tracing::error!(error = %e, "Unable to prepare OpenID Connect Back-Channel Logout");
    }
    end_login_session(s, sid).await?;
    let jar = jar(s);
    let cookies = vec![jar.set(&jar.session_name(), "", Some(-1))];
    if frontchannel.is_empty() {
        return Ok(Navigation::Redirect { to, cookies });
    }
    Ok(Navigation::FrontChannel {
        urls: frontchannel,
        to,
        cookies,
    })
}

/// Whether the browser completing a logout of `subject` holds a login session of that subject
/// (its own session cookie, genuine and not ended). Hydra asks this of an OP-initiated logout
/// only — the cookie may have gone or changed hands since the logout started, and then it
/// completes without logging anybody out (no channels called). Here an RP-initiated logout
/// must pass it too: its `id_token_hint` names a session, but anyone who has seen the ID token
/// can send it, and the logout UI's confirmation only says that the browser in front of it
/// agreed, not that it is the session's.
async fn completes_in_sessions_browser(
    s: &Oauth2,
    cookies: &Cookies,
    subject: &str,
) -> Result<bool> {
    let Some(sid) = jar(s).session(cookies) else {
        return Ok(false);
    };
    Ok(s.store()
        .login_session(&sid)
        .await?
        .is_some_and(|session| session.remember && session.subject == subject))
}

/// The logout UI's accept. Returns where the browser goes now (the logout endpoint with the
/// verifier).
pub async fn accept(s: &Oauth2, challenge: &str) -> Result<String> {
    let (flow, _) = flows::load::<LogoutRequest>(s, challenge).await?;
    flows::decide(s, flow, FlowEvent::Accept, |_| {}).await
}

/// The logout UI's reject: the logout is off (once; a handled challenge is not found).
pub async fn reject(s: &Oauth2, challenge: &str) -> Result<()> {
    let (mut flow, _) = flows::load::<LogoutRequest>(s, challenge).await?;
    let handled = || Error::NotFound("The logout challenge was already handled.".into());
    // A rejected logout keeps its verifier: no new one is drawn.
    let from = flow
        .decide(
            FlowEvent::Reject,
            s.now_micros(),
            s.flow_ttl_micros(),
            String::new(),
        )
        .map_err(|_| handled())?;
    if !s.store().transition_flow(&flow, from).await? {
        return Err(handled());
    }
    Ok(())
}

/// The admin API's headless logout: with `sid`, back-channel logout for the session's clients
/// and the session's end (and its Kratos session's, when configured); with `subject`, every
/// login session of the subject deleted.
pub async fn revoke_login_sessions(
    s: &Oauth2,
    subject: Option<&str>,
    sid: Option<&str>,
) -> Result<()> {
    if let Some(sid) = sid {
        if let Some(session) = s.store().login_session(sid).await? {
            let clients = s
                .store()
                .login_session_clients(&session.subject, sid)
                .await?;
            backchannel_logout(s, &clients, sid).await?;
        }
        end_login_session(s, sid).await?;
    }
    s.store().delete_login_sessions(subject, None).await
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
