//! The HTTP of the endpoints a browser walks: `/oauth2/auth` (a new login, the login
//! verifier, the consent verifier) and `/oauth2/sessions/logout`. Parameters come from the
//! query and the form body alike; a [`Navigation`] becomes a 302, a 303 to the client with
//! its parameters in the query or the fragment, the `form_post` page or the front-channel
//! logout page, with its cookies; an error goes to the client once its redirect URI is
//! trusted, else to the error UI.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth_request;
use super::consent;
use super::cookies::Cookies;
use super::error::Error;
use super::form::{with_params, Form};
use super::html;
use super::login;
use super::logout;
use super::navigation::{Navigation, ResponseMode};
use super::request_object;
use super::service::Oauth2;
use super::settings::UiPage;
use super::wire::no_store;

/// The request's `Cookie` headers (those that are text), in order.
fn cookies(headers: &HeaderMap) -> Cookies {
    Cookies::new(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect(),
    )
}

/// `GET|POST /oauth2/auth`.
pub async fn authorize(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let form = Form::query_and_body(&query.unwrap_or_default(), &body);
    let form = match request_object::merged(&s, form).await {
        Ok(f) => f,
        Err(e) => return auth_error(&s, e, None, "", ResponseMode::Query),
    };
    let req = match auth_request::validate(&s, &form).await {
        Ok(r) => r,
        Err(refused) => {
            return auth_error(
                &s,
                refused.error,
                refused.redirect_uri.as_deref(),
                &refused.state,
                refused.mode,
            )
        }
    };
    let cookies = cookies(&headers);
    let result = if let Some(v) = form.get("consent_verifier") {
        consent::finish(&s, &cookies, &form, &req, v).await
    } else if let Some(v) = form.get("login_verifier") {
        login::finish(&s, &cookies, &form, &req, v).await
    } else {
        login::start(&s, &cookies, &form, &req).await
    };
    match result {
        Ok(navigation) => navigate(navigation),
        Err(e) => auth_error(&s, e, Some(&req.redirect_uri), &req.state, req.mode),
    }
}

/// `GET|POST /oauth2/sessions/logout`.
pub async fn logout(
    State(s): State<Oauth2>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let form = Form::query_and_body(&query.unwrap_or_default(), &body);
    match logout::logout(&s, &cookies(&headers), &form).await {
        Ok(navigation) => navigate(navigation),
        Err(e) => auth_error(&s, e, None, "", ResponseMode::Query),
    }
}

/// A navigation on the wire.
fn navigate(navigation: Navigation) -> Response {
    match navigation {
        Navigation::Redirect { to, cookies } => redirect_with(StatusCode::FOUND, &to, cookies),
        Navigation::ToClient {
            redirect_uri,
            mode,
            params,
            cookies,
        } => {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            to_client(&redirect_uri, mode, &pairs, cookies)
        }
        Navigation::FrontChannel { urls, to, cookies } => {
            with_cookies(html::frontchannel_logout(&urls, &to), cookies)
        }
    }
}

fn redirect_with(status: StatusCode, to: &str, cookies: Vec<String>) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    with_cookies(r, cookies)
}

fn with_cookies(mut r: Response, cookies: Vec<String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// An answer to the client at its (validated) redirect URI, as fosite writes it: a 303 with
/// the parameters in the query or the fragment, or the `form_post` page; never cached.
fn to_client(
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, &str)],
    cookies: Vec<String>,
) -> Response {
    let present = params.iter().filter(|(_, v)| !v.is_empty());
    let see_other = StatusCode::SEE_OTHER;
    let mut response = match mode {
        ResponseMode::Query => {
            redirect_with(see_other, &with_params(redirect_uri, params), cookies)
        }
        ResponseMode::Fragment => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(present)
                .finish();
            redirect_with(see_other, &format!("{redirect_uri}#{q}"), cookies)
        }
        ResponseMode::FormPost => {
            let mut sorted: Vec<&(&str, &str)> = present.collect();
            sorted.sort_by_key(|(k, _)| *k);
            with_cookies(html::form_post(redirect_uri, &sorted), cookies)
        }
    };
    no_store(&mut response);
    response
}

/// An error of the authorization or logout endpoint, redirected to the client when its
/// redirect URI is known good, else to `urls.error`.
fn auth_error(
    s: &Oauth2,
    e: Error,
    redirect_uri: Option<&str>,
    state: &str,
    mode: ResponseMode,
) -> Response {
    let (_, code, description) = e.parts();
    match redirect_uri {
        Some(uri) => to_client(
            uri,
            mode,
            &[
                ("error", code.as_str()),
                ("error_description", description.as_str()),
                ("state", state),
            ],
            vec![],
        ),
        None => redirect_with(
            StatusCode::FOUND,
            &with_params(
                &s.ui_url(UiPage::Error),
                &[("error", &code), ("error_description", &description)],
            ),
            vec![],
        ),
    }
}
