//! Kratos' 307s for requests that reached the wrong port (`x.RedirectToAdminRoute`,
//! `x.RedirectToPublicRoute`): admin routes asked of the public port go to the admin URL with
//! the `/admin` prefix, public routes asked of the admin port go to the public URL without it.
//! The query string is kept; the target base is `serve.*.base_url`, else the bound listener.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::service::Service;

/// `base` + `/admin` + the path without its `/admin` prefix, with the query.
pub fn admin_target(base: &str, uri: &Uri) -> String {
    target(&format!("{}/admin", base.trim_end_matches('/')), uri)
}

/// `base` + the path without its `/admin` prefix, with the query.
pub fn public_target(base: &str, uri: &Uri) -> String {
    target(base, uri)
}

fn target(base: &str, uri: &Uri) -> String {
    let path = uri.path();
    let rest = path.strip_prefix("/admin").unwrap_or(path);
    let rest = if rest.is_empty() { "/" } else { rest };
    match uri.query() {
        Some(q) => format!("{}{rest}?{q}", base.trim_end_matches('/')),
        None => format!("{}{rest}", base.trim_end_matches('/')),
    }
}

fn temporary_redirect(location: &str) -> Response {
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Handler: this admin route was asked of the public port.
pub async fn to_admin(State(s): State<Service>, uri: Uri) -> Response {
    temporary_redirect(&admin_target(&s.configured_admin_base(), &uri))
}

/// Handler: this public route was asked of the admin port.
pub async fn to_public(State(s): State<Service>, uri: Uri) -> Response {
    temporary_redirect(&public_target(&s.configured_public_base(), &uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_add_or_strip_the_admin_prefix_and_keep_the_query() {
        let uri: Uri = "/identities/abc?x=1".parse().unwrap();
        assert_eq!(
            admin_target("http://a:4434", &uri),
            "http://a:4434/admin/identities/abc?x=1"
        );
        let uri: Uri = "/admin/identities".parse().unwrap();
        assert_eq!(
            admin_target("http://a:4434/", &uri),
            "http://a:4434/admin/identities"
        );
        let uri: Uri = "/admin/schemas/ZGVmYXVsdA".parse().unwrap();
        assert_eq!(
            public_target("http://p/.ory", &uri),
            "http://p/.ory/schemas/ZGVmYXVsdA"
        );
        let uri: Uri = "/admin/self-service/login/browser?return_to=http://x/"
            .parse()
            .unwrap();
        assert_eq!(
            public_target("http://p:4433", &uri),
            "http://p:4433/self-service/login/browser?return_to=http://x/"
        );
    }
}
