//! The challenges' I/O shared by the login, consent and logout flows: a flow loaded with its
//! client for the admin API, an admin decision applied, a verifier redeemed — each the
//! challenge core's transition (`challenge`) applied to the store with a compare-and-set, so a
//! replayed verifier or a concurrent accept never wins twice.

use super::challenge::{
    logout_verifier_url, ChallengeKind, Flow, FlowDoc, FlowEvent, FlowRefusal, FlowState,
};
use super::client::Client;
use super::cookies::{Cookies, Jar};
use super::error::{Error, Result};
use super::service::Oauth2;

/// The role's cookies.
pub fn jar(s: &Oauth2) -> Jar<'_> {
    Jar {
        sealer: s.cookie_sealer(),
        dev: s.settings().dev,
    }
}

/// A flow of kind `D` and its client (without secrets; a default client when it is gone).
pub async fn load<D: FlowDoc>(s: &Oauth2, challenge: &str) -> Result<(Flow<D>, Client)> {
    let flow = s.store().get_flow::<D>(challenge).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "The {} challenge does not exist.",
            D::KIND.as_str()
        ))
    })?;
    let client = s
        .store()
        .get_client(&flow.client_id)
        .await?
        .map(|c| c.client.without_secrets())
        .unwrap_or_default();
    Ok((flow, client))
}

/// Where the browser of a handled flow goes: back with the verifier (a logout to the logout
/// endpoint), or to the request URL once the verifier was used.
pub fn handled_redirect<D: FlowDoc>(s: &Oauth2, flow: &Flow<D>) -> String {
    match D::KIND {
        ChallengeKind::Logout => logout_verifier_url(&s.public_base(), &flow.verifier),
        _ => flow.handled_redirect(),
    }
}

/// A flow the admin API may show (pending; a login request also unexpired), with its client.
pub async fn read<D: FlowDoc>(s: &Oauth2, challenge: &str) -> Result<(Flow<D>, Client)> {
    let (flow, client) = load::<D>(s, challenge).await?;
    flow.readable(s.now_micros(), s.flow_ttl_micros())
        .map_err(|r| match r {
            FlowRefusal::Handled => r.into_error(handled_redirect(s, &flow)),
            other => other.into_error(String::new()),
        })?;
    Ok((flow, client))
}

/// The UI's accept or reject of `flow`: the transition under a fresh verifier, `record`
/// writing what the UI sent into the flow, stored if nobody decided first. Returns where the
/// browser goes now (`redirect_to`).
pub async fn decide<D: FlowDoc>(
    s: &Oauth2,
    mut flow: Flow<D>,
    event: FlowEvent,
    record: impl FnOnce(&mut Flow<D>),
) -> Result<String> {
    let before = handled_redirect(s, &flow);
    let from = flow
        .decide(
            event,
            s.now_micros(),
            s.flow_ttl_micros(),
            crate::crypto::random_token(32),
        )
        .map_err(|r| r.into_error(before.clone()))?;
    record(&mut flow);
    if !s.store().transition_flow(&flow, from).await? {
        // Lost to a concurrent decision: a logout names the verifier it was read with, a
        // login or consent the one it would have had (as Hydra answers).
        let redirect_to = match D::KIND {
            ChallengeKind::Logout => before,
            _ => handled_redirect(s, &flow),
        };
        return Err(Error::Gone { redirect_to });
    }
    Ok(handled_redirect(s, &flow))
}

/// The browser's verifier of a login or consent: the flow it names, issued to `client_id`,
/// completed in the browser that started it (its CSRF cookie), decided and not yet used —
/// now used. A rejected flow is the UI's error.
pub async fn redeem<D: FlowDoc>(
    s: &Oauth2,
    cookies: &Cookies,
    verifier: &str,
    client_id: &str,
) -> Result<Flow<D>> {
    let kind = D::KIND.as_str();
    let mut flow = s
        .store()
        .get_flow_by_verifier::<D>(verifier)
        .await?
        .ok_or_else(|| {
            Error::AccessDenied(format!(
                "The {kind} verifier has already been used, has not been granted, or is invalid."
            ))
        })?;
    if flow.client_id != client_id {
        return Err(Error::InvalidRequest(format!(
            "The {kind} request was issued to another OAuth 2.0 client."
        )));
    }
    let expected = flow.doc.csrf();
    let csrf_cookie = jar(s).csrf_name(D::KIND, client_id);
    let given = cookies
        .sealed(s.cookie_sealer(), &csrf_cookie)
        .unwrap_or_default();
    if expected.is_empty()
        || !crate::crypto::constant_time_eq(expected.as_bytes(), given.as_bytes())
    {
        return Err(Error::RequestForbidden(format!("No CSRF value available in the session cookie, or the CSRF value does not match. Make sure the {kind} request is completed in the same browser that started it.")));
    }
    let from = flow
        .redeem(s.now_micros(), s.flow_ttl_micros())
        .map_err(|r| r.into_error(String::new()))?;
    if !s.store().transition_flow(&flow, from).await? {
        return Err(FlowRefusal::NotRedeemable.into_error(String::new()));
    }
    if from == FlowState::Rejected {
        let rejection = flow.doc.rejection().cloned().unwrap_or_default();
        return Err(rejection.into_error(D::KIND));
    }
    Ok(flow)
}
