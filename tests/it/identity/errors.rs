//! Kratos' error shapes as one table: for each malformed, unknown or unauthorised request to
//! the public and admin ports, the status and the whole `{"error": {…}}` envelope (`id`,
//! `code`, `status`, `reason`, `message`; the `request` id is the response's `x-request-id`).
//! A new error path is a new row.

use super::*;

on_every_backend!(every_error_has_kratos_status_and_envelope);

#[derive(Clone, Copy)]
enum Port {
    Public,
    Admin,
}

struct Case {
    name: &'static str,
    method: &'static str,
    port: Port,
    path: &'static str,
    /// A JSON body, sent as `application/json`.
    body: Option<&'static str>,
    session_token: Option<&'static str>,
    status: u16,
    /// `(id, reason)`: the envelope's optional members.
    id: Option<&'static str>,
    reason: Option<&'static str>,
}

const UNKNOWN: &str = "6f8a1b2c-3d4e-4f50-8a61-72b3c4d5e6f7";
const MALFORMED: &str = "The request was malformed or contained invalid parameters";
const NOT_FOUND: &str = "The requested resource could not be found";

fn cases() -> Vec<Case> {
    use Port::{Admin, Public};
    let case = |name, method, port, path, body, status, id, reason| Case {
        name,
        method,
        port,
        path,
        body,
        session_token: None,
        status,
        id,
        reason,
    };
    let inactive = Some("No active session was found in this request.");
    vec![
        case("whoami without a session", "GET", Public, "/sessions/whoami", None, 401,
            Some("session_inactive"), inactive),
        Case {
            session_token: Some("nope"),
            ..case("whoami with an unknown token", "GET", Public, "/sessions/whoami", None, 401,
                Some("session_inactive"), inactive)
        },
        case("an unknown identity", "GET", Admin, "/admin/identities/{unknown}", None, 404, None, None),
        case("an identity id that is no UUID", "GET", Admin, "/admin/identities/nope", None, 404, None, None),
        case("an identity that is not JSON", "POST", Admin, "/admin/identities", Some("{"), 400, None,
            Some("Unable to decode JSON body: EOF while parsing an object at line 1 column 1")),
        case("an identity with an unknown schema", "POST", Admin, "/admin/identities",
            Some(r#"{"schema_id":"nope","traits":{}}"#), 400, None,
            Some("The identity schema `nope` is unknown; use one of identity.schemas.")),
        case("an identity whose traits break the schema", "POST", Admin, "/admin/identities",
            Some(r#"{"schema_id":"default","traits":{"email":"not-an-email"}}"#), 400, None,
            Some("The identity does not match its schema: #/traits/email: \"not-an-email\" is not a \"email\"")),
        case("an identity with a taken identifier", "POST", Admin, "/admin/identities",
            Some(r#"{"schema_id":"default","traits":{"email":"taken@example.com"}}"#), 409, None,
            Some("This identity conflicts with another identity that already exists.")),
        case("patching an unknown identity", "PATCH", Admin, "/admin/identities/{unknown}",
            Some(r#"[{"op":"replace","path":"/state","value":"inactive"}]"#), 404, None, None),
        case("an unknown session", "GET", Admin, "/admin/sessions/{unknown}", None, 404, None, None),
        case("an unknown schema", "GET", Public, "/schemas/nope", None, 404, None, None),
        case("an unknown login flow", "GET", Public, "/self-service/login/flows?id={unknown}", None, 404, None, None),
        case("a login flow id that is no UUID", "GET", Public, "/self-service/login/flows?id=nope", None, 404, None, None),
        case("a login flow without an id", "GET", Public, "/self-service/login/flows", None, 400, None,
            Some("The flow query parameter is missing or malformed.")),
        // Kratos reads the nil UUID as no flow at all.
        case("submitting the nil flow", "POST", Public,
            "/self-service/login?flow=00000000-0000-0000-0000-000000000000",
            Some(r#"{"method":"password","identifier":"a","password":"b"}"#), 400, None,
            Some("The flow query parameter is missing or malformed.")),
        case("submitting an unknown login flow", "POST", Public, "/self-service/login?flow={unknown}",
            Some(r#"{"method":"password","identifier":"a","password":"b"}"#), 404, None, None),
        case("an unknown error", "GET", Public, "/self-service/errors?id={unknown}", None, 404, None, None),
        case("API logout without a token", "DELETE", Public, "/self-service/logout/api", Some("{}"), 400, None,
            Some("The session_token is missing from the request body.")),
        case("an unknown route", "GET", Public, "/nope", None, 404, None, None),
        case("a wrong method", "DELETE", Public, "/sessions/whoami", None, 405, None, None),
    ]
}

/// Kratos' `message` and `status` for each status code the table uses.
fn message_of(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("Bad Request", MALFORMED),
        401 => (
            "Unauthorized",
            "request does not have a valid authentication session",
        ),
        404 => ("Not Found", NOT_FOUND),
        405 => (
            "Method Not Allowed",
            "The requested method is not allowed on this resource",
        ),
        409 => (
            "Conflict",
            "Unable to insert or update resource because a resource with that value exists already",
        ),
        other => panic!("the table has no message for {other}"),
    }
}

async fn every_error_has_kratos_status_and_envelope(backend: Backend) {
    let env = start(backend).await;
    assert_eq!(
        env.create(person("taken@example.com", None)).await.status(),
        201
    );
    for case in cases() {
        let base = match case.port {
            Port::Public => &env.public,
            Port::Admin => &env.admin,
        };
        let path = case.path.replace("{unknown}", UNKNOWN);
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut req = env
            .http
            .request(method, format!("{base}{path}"))
            .header("accept", "application/json");
        if let Some(body) = case.body {
            req = req.header("content-type", "application/json").body(body);
        }
        if let Some(token) = case.session_token {
            req = req.header("x-session-token", token);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, case.status, "{}: {body}", case.name);
        let (status_text, message) = message_of(status);
        let mut expected = json!({"code": status, "status": status_text, "message": message,
            "request": request_id});
        if let Some(id) = case.id {
            expected["id"] = json!(id);
        }
        if let Some(reason) = case.reason {
            expected["reason"] = json!(reason);
        }
        assert_eq!(body, json!({ "error": expected }), "{}", case.name);
    }
    env.finish().await;
}
