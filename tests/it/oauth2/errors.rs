//! Hydra's error shapes as one table: for each malformed or unauthorised request to the public
//! and admin ports, the status and the whole JSON body, as Hydra v2.2 (fosite on the OAuth2
//! endpoints, Hydra's `{error, error_description}` on the admin API, Ory's envelope for
//! routes and methods that do not exist). A new error path is a new row.

use super::*;

on_every_backend!(every_error_has_hydras_status_and_body);

#[derive(Clone, Copy)]
enum Port {
    Public,
    Admin,
}

#[derive(Clone, Copy)]
enum Body {
    None,
    Form(&'static str),
    Json(&'static str),
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    /// The table's client, by HTTP basic authentication.
    Client,
    /// The table's client id with a wrong secret.
    WrongSecret,
    Bearer(&'static str),
}

struct Case {
    name: &'static str,
    method: &'static str,
    port: Port,
    path: &'static str,
    auth: Auth,
    body: Body,
    status: u16,
    /// `(error, error_description)` of Hydra's flat shape.
    error: (&'static str, &'static str),
}

const MALFORMED: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";
const CLIENT_FAILED: &str = "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).";
const UNAUTHORIZED: &str =
    "The request could not be authorized. Check that you provided valid credentials in the right format.";
const BAD_PARAMETERS: &str = "The request was malformed or contained invalid parameters";

fn cases() -> Vec<Case> {
    use Auth::{Bearer, Client, WrongSecret};
    use Body::{Form, Json};
    use Port::{Admin, Public};
    let case = |name, method, port, path, auth, body, status, error| Case {
        name,
        method,
        port,
        path,
        auth,
        body,
        status,
        error,
    };
    vec![
        case("token without client authentication", "POST", Public, "/oauth2/token", Auth::None,
            Form("grant_type=client_credentials"), 401,
            ("invalid_client", "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body.")),
        case("token with a wrong secret", "POST", Public, "/oauth2/token", WrongSecret,
            Form("grant_type=client_credentials"), 401, ("invalid_client", CLIENT_FAILED)),
        case("token without grant_type", "POST", Public, "/oauth2/token", Client,
            Form("scope=read"), 400,
            ("invalid_request", "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Request parameter 'grant_type' is missing")),
        // fosite: no handler takes an unknown grant type, which is invalid_request (not
        // unsupported_grant_type).
        case("token with an unknown grant_type", "POST", Public, "/oauth2/token", Client,
            Form("grant_type=magic"), 400, ("invalid_request", MALFORMED)),
        case("token with the password grant", "POST", Public, "/oauth2/token", Client,
            Form("grant_type=password&username=a&password=b"), 400, ("invalid_request", MALFORMED)),
        case("token with a grant the client lacks", "POST", Public, "/oauth2/token", Client,
            Form("grant_type=refresh_token&refresh_token=x"), 400,
            ("unauthorized_client", "The client is not authorized to request a token using this method. The OAuth 2.0 Client is not allowed to use authorization grant 'refresh_token'.")),
        case("token with a scope the client lacks", "POST", Public, "/oauth2/token", Client,
            Form("grant_type=client_credentials&scope=write"), 400,
            ("invalid_scope", "The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope 'write'.")),
        case("token with a JSON body", "POST", Public, "/oauth2/token", Client,
            Json(r#"{"grant_type":"client_credentials"}"#), 400,
            ("invalid_request", "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. The POST body can not be empty.")),
        case("revoke without client authentication", "POST", Public, "/oauth2/revoke", Auth::None,
            Form("token=x"), 401, ("invalid_client", CLIENT_FAILED)),
        case("revoke without a token", "POST", Public, "/oauth2/revoke", Client,
            Form(""), 400, ("invalid_request", MALFORMED)),
        case("introspect without a token", "POST", Admin, "/admin/oauth2/introspect", Auth::None,
            Form(""), 400,
            ("invalid_request", "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. The POST body can not be empty.")),
        case("userinfo without a token", "GET", Public, "/userinfo", Auth::None,
            Body::None, 401, ("request_unauthorized", UNAUTHORIZED)),
        case("userinfo with an unknown token", "GET", Public, "/userinfo", Bearer("ory_at_nope.nope"),
            Body::None, 401, ("request_unauthorized", UNAUTHORIZED)),
        case("an unknown client", "GET", Admin, "/admin/clients/nope", Auth::None,
            Body::None, 404, ("Unable to locate the resource", "")),
        case("a client that is not JSON", "POST", Admin, "/admin/clients", Auth::None,
            Json("{"), 400,
            (BAD_PARAMETERS, "Unable to decode the request body as JSON: EOF while parsing an object at line 1 column 1")),
        case("a client with a bad redirect URI", "POST", Admin, "/admin/clients", Auth::None,
            Json(r#"{"redirect_uris":["not a url"]}"#), 400,
            ("invalid_redirect_uri", "The value of one or more redirect_uris is invalid. Redirect URL 'not a url' is not a valid absolute URL.")),
        case("a client with a taken id", "POST", Admin, "/admin/clients", Auth::None,
            Json(r#"{"client_id":"errors-table-client"}"#), 409,
            ("Unable to insert or update resource because a resource with that value exists already", "")),
        case("an unknown login challenge", "GET", Admin, "/admin/oauth2/auth/requests/login?login_challenge=nope", Auth::None,
            Body::None, 404,
            ("Not Found", "Unable to locate the requested resource: The login challenge does not exist.")),
        case("a login request without a challenge", "GET", Admin, "/admin/oauth2/auth/requests/login", Auth::None,
            Body::None, 400,
            (BAD_PARAMETERS, "Query parameter 'login_challenge' is not defined but should have been.")),
        case("accepting an unknown consent challenge", "PUT", Admin, "/admin/oauth2/auth/requests/consent/accept?consent_challenge=nope", Auth::None,
            Json("{}"), 404,
            ("Not Found", "Unable to locate the requested resource: The consent challenge does not exist.")),
        case("an unknown logout challenge", "GET", Admin, "/admin/oauth2/auth/requests/logout?logout_challenge=nope", Auth::None,
            Body::None, 404,
            ("Not Found", "Unable to locate the requested resource: The logout challenge does not exist.")),
        case("an unknown key set", "GET", Admin, "/admin/keys/nope", Auth::None,
            Body::None, 404,
            ("Not Found", "Unable to locate the requested resource: The JSON Web Key Set 'nope' does not exist.")),
        case("deleting tokens without a client_id", "DELETE", Admin, "/admin/oauth2/tokens", Auth::None,
            Body::None, 400, (BAD_PARAMETERS, "Query parameter client_id is required.")),
        case("an unknown trust relationship", "GET", Admin, "/admin/trust/grants/jwt-bearer/issuers/nope", Auth::None,
            Body::None, 404, ("Unable to locate the resource", "")),
    ]
}

/// Routes and methods that do not exist answer with Ory's envelope, not Hydra's flat shape.
fn envelope_cases() -> Vec<(
    &'static str,
    &'static str,
    Port,
    &'static str,
    u16,
    &'static str,
    &'static str,
)> {
    vec![
        (
            "token by GET",
            "GET",
            Port::Public,
            "/oauth2/token",
            405,
            "Method Not Allowed",
            "The requested method is not allowed on this resource",
        ),
        (
            "an unknown route on the public port",
            "GET",
            Port::Public,
            "/nope",
            404,
            "Not Found",
            "The requested resource could not be found",
        ),
        (
            "an unknown route on the admin port",
            "GET",
            Port::Admin,
            "/admin/nope",
            404,
            "Not Found",
            "The requested resource could not be found",
        ),
    ]
}

fn request(env: &Env, method: &str, port: Port, path: &str) -> reqwest::RequestBuilder {
    let base = match port {
        Port::Public => &env.public,
        Port::Admin => &env.admin,
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    env.http.request(method, format!("{base}{path}"))
}

async fn every_error_has_hydras_status_and_body(backend: Backend) {
    let env = start(backend).await;
    let client = env
        .create_client(json!({"client_id": "errors-table-client", "client_secret": "errors-table-secret-0123456789",
            "grant_types": ["client_credentials"], "scope": "read"}))
        .await;
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    for case in cases() {
        let mut req = request(&env, case.method, case.port, case.path);
        req = match case.auth {
            Auth::None => req,
            Auth::Client => req.basic_auth(id, Some(secret)),
            Auth::WrongSecret => req.basic_auth(id, Some("wrong")),
            Auth::Bearer(token) => req.bearer_auth(token),
        };
        req = match case.body {
            Body::None => req,
            Body::Form(form) => req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
            Body::Json(text) => req.header("content-type", "application/json").body(text),
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, case.status, "{}: {body}", case.name);
        let (error, description) = case.error;
        assert_eq!(
            body,
            json!({"error": error, "error_description": description}),
            "{}",
            case.name
        );
    }
    for (name, method, port, path, status, text, message) in envelope_cases() {
        let r = request(&env, method, port, path).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": status, "status": text, "message": message, "request": request_id}}),
            "{name}"
        );
    }
    env.finish().await;
}
