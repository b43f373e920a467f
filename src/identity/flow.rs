//! Self-service flows as data: the closed set of flow kinds (login, registration, settings,
//! and later recovery/verification), their type (browser or api), state and methods, and the
//! UI container with nodes and messages that clients render, with the flow JSON. Pure. The
//! nodes themselves are built by `selfservice::nodes`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::model::{Aal, Micros};
use super::schema::FieldError;
use super::text::UiText;
use crate::config::identity::Methods;

/// Every kind of self-service flow. Recovery and verification slot in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Login,
    Registration,
    Settings,
}

impl FlowKind {
    pub const ALL: [FlowKind; 3] = [FlowKind::Login, FlowKind::Registration, FlowKind::Settings];
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Login => "login",
            FlowKind::Registration => "registration",
            FlowKind::Settings => "settings",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
    /// The UI message id of "this flow expired".
    pub fn expired_message_id(self) -> u32 {
        match self {
            FlowKind::Login => 4010001,
            FlowKind::Registration => 4040001,
            FlowKind::Settings => 4050001,
        }
    }
    /// The state a new flow of this kind starts in.
    pub fn initial_state(self) -> FlowState {
        match self {
            FlowKind::Login | FlowKind::Registration => FlowState::ChooseMethod,
            FlowKind::Settings => FlowState::ShowForm,
        }
    }
    /// The methods a flow of this kind offers, in the order their UI nodes appear.
    pub fn methods(self) -> &'static [Method] {
        match self {
            FlowKind::Login | FlowKind::Registration => &[Method::Password],
            FlowKind::Settings => &[Method::Profile, Method::Password],
        }
    }
    /// Whether a flow of this kind belongs to the signed-in identity (settings): only that
    /// identity may read it, and its JSON shows the identity.
    pub fn belongs_to_identity(self) -> bool {
        match self {
            FlowKind::Settings => true,
            FlowKind::Login | FlowKind::Registration => false,
        }
    }
}

/// Kratos' flow states (`choose_method`, `sent_email`, `passed_challenge`, `show_form`,
/// `success`); login and registration start in `choose_method` and end in `passed_challenge`,
/// settings starts in `show_form` and ends in `success`. The e-mail flows (recovery,
/// verification) will use `sent_email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    ChooseMethod,
    SentEmail,
    PassedChallenge,
    ShowForm,
    Success,
}

impl FlowState {
    pub const ALL: [FlowState; 5] = [
        FlowState::ChooseMethod,
        FlowState::SentEmail,
        FlowState::PassedChallenge,
        FlowState::ShowForm,
        FlowState::Success,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::ChooseMethod => "choose_method",
            FlowState::SentEmail => "sent_email",
            FlowState::PassedChallenge => "passed_challenge",
            FlowState::ShowForm => "show_form",
            FlowState::Success => "success",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// The self-service methods (Kratos' strategies: the `method` a submission names, the
/// `group` of its UI nodes, the flow's `active`). A new method (code, totp, webauthn, oidc,
/// lookup_secret) is a new variant here, its nodes in `selfservice::nodes` and its arm in the
/// submissions of the kinds that offer it ([`FlowKind::methods`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    Profile,
}

impl Method {
    pub const ALL: [Method; 2] = [Method::Password, Method::Profile];
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Profile => "profile",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// Whether `selfservice.methods.<method>.enabled`.
    pub fn enabled(self, methods: &Methods) -> bool {
        match self {
            Method::Password => methods.password.enabled,
            Method::Profile => methods.profile.enabled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowType {
    Browser,
    Api,
}

impl FlowType {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowType::Browser => "browser",
            FlowType::Api => "api",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "browser" => Some(FlowType::Browser),
            "api" => Some(FlowType::Api),
            _ => None,
        }
    }
}

/// The UI container (`ui`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ui {
    pub action: String,
    pub method: String,
    pub nodes: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Value>,
}

/// One flow of any kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub id: String,
    pub kind: FlowKind,
    pub flow_type: FlowType,
    pub state: FlowState,
    pub csrf_token: String,
    pub return_to: Option<String>,
    pub request_url: String,
    pub ui: Ui,
    pub identity_id: Option<String>,
    pub session_id: Option<String>,
    pub refresh: bool,
    pub requested_aal: Aal,
    /// The method of the last submission.
    pub active: Option<Method>,
    pub issued_at: Micros,
    pub expires_at: Micros,
}

impl Flow {
    pub fn is_expired(&self, now: Micros) -> bool {
        self.expires_at <= now
    }

    /// Clears every message (before re-validating a submission).
    pub fn clear_messages(&mut self) {
        self.ui.messages.clear();
        for node in &mut self.ui.nodes {
            if let Some(obj) = node.as_object_mut() {
                obj.insert("messages".into(), json!([]));
            }
        }
    }

    /// Adds a flow-level message.
    pub fn add_message(&mut self, text: UiText) {
        self.ui.messages.push(json!(text));
    }

    /// Places validation errors on the node named by each pointer (`#/traits/email` →
    /// `traits.email`), or on the flow when no node matches.
    pub fn add_field_errors(&mut self, errors: &[FieldError]) {
        for e in errors {
            let name = e
                .pointer
                .trim_start_matches('#')
                .trim_start_matches('/')
                .replace('/', ".");
            let node = self.ui.nodes.iter_mut().find(|n| {
                n.pointer("/attributes/name").and_then(Value::as_str) == Some(name.as_str())
            });
            match node {
                Some(n) if !name.is_empty() => {
                    if let Some(list) = n.get_mut("messages").and_then(Value::as_array_mut) {
                        list.push(json!(e.message));
                    }
                }
                _ => self.ui.messages.push(json!(e.message)),
            }
        }
    }

    /// Sets the `value` of input nodes from submitted fields (not for passwords/csrf).
    pub fn fill_values(&mut self, fields: &Map<String, Value>) {
        for node in &mut self.ui.nodes {
            let Some(attrs) = node.get_mut("attributes").and_then(Value::as_object_mut) else {
                continue;
            };
            let name = attrs
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let kind = attrs
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind == "password" || kind == "submit" || name == "csrf_token" {
                continue;
            }
            if let Some(v) = lookup_dotted(fields, &name) {
                attrs.insert("value".into(), v.clone());
            }
        }
    }

    /// The flow JSON of Kratos (`LoginFlow`, `RegistrationFlow`, `SettingsFlow`); `extra`
    /// adds the kind-specific keys (settings' `identity`).
    pub fn to_json(&self, extra: Option<(&str, Value)>) -> Value {
        let mut obj = json!({
            "id": self.id,
            "type": self.flow_type.as_str(),
            "expires_at": crate::store::time::rfc3339_micros(self.expires_at),
            "issued_at": crate::store::time::rfc3339_micros(self.issued_at),
            "request_url": self.request_url,
            "state": self.state.as_str(),
            "ui": self.ui,
        });
        if let Some(map) = obj.as_object_mut() {
            if let Some(rt) = &self.return_to {
                map.insert("return_to".into(), json!(rt));
            }
            if let Some(active) = self.active {
                map.insert("active".into(), json!(active.as_str()));
            }
            match self.kind {
                FlowKind::Login => {
                    map.insert("refresh".into(), json!(self.refresh));
                    map.insert("requested_aal".into(), json!(self.requested_aal.as_str()));
                    map.insert(
                        "created_at".into(),
                        json!(crate::store::time::rfc3339_micros(self.issued_at)),
                    );
                    map.insert(
                        "updated_at".into(),
                        json!(crate::store::time::rfc3339_micros(self.issued_at)),
                    );
                }
                FlowKind::Registration | FlowKind::Settings => {}
            }
            if let Some((k, v)) = extra {
                map.insert(k.into(), v);
            }
        }
        obj
    }
}

fn lookup_dotted<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = fields.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut node = fields.get(parts.next()?)?;
    for p in parts {
        node = node.get(p)?;
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::super::text::UiText;
    use super::*;

    fn flow(kind: FlowKind) -> Flow {
        Flow {
            id: "f".into(),
            kind,
            flow_type: FlowType::Api,
            state: kind.initial_state(),
            csrf_token: "c".into(),
            return_to: Some("http://app.test/".into()),
            request_url: "http://k/self-service/login/api".into(),
            ui: Ui {
                action: "http://k/self-service/login?flow=f".into(),
                method: "POST".into(),
                nodes: vec![
                    json!({"type": "input", "group": "default", "attributes": {"name": "identifier", "type": "text"}, "messages": []}),
                    json!({"type": "input", "group": "password", "attributes": {"name": "password", "type": "password"}, "messages": []}),
                    json!({"type": "input", "group": "default", "attributes": {"name": "csrf_token", "type": "hidden", "value": "x"}, "messages": []}),
                    json!({"type": "input", "group": "profile", "attributes": {"name": "traits.email", "type": "email"}, "messages": []}),
                ],
                messages: Vec::new(),
            },
            identity_id: None,
            session_id: None,
            refresh: false,
            requested_aal: Aal::Aal1,
            active: None,
            issued_at: 0,
            expires_at: 3_600_000_000,
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for state in FlowState::ALL {
            assert_eq!(FlowState::parse(state.as_str()), Some(state));
        }
        for method in Method::ALL {
            assert_eq!(Method::parse(method.as_str()), Some(method));
        }
        for kind in FlowKind::ALL {
            assert_eq!(FlowKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FlowState::parse("done"), None);
        assert_eq!(Method::parse("totp"), None);
        assert_eq!(FlowType::parse("native"), None);
        assert_eq!(FlowKind::Settings.initial_state(), FlowState::ShowForm);
        assert_eq!(FlowKind::Login.initial_state(), FlowState::ChooseMethod);
    }

    #[test]
    fn field_errors_go_to_their_node_or_the_flow() {
        let mut f = flow(FlowKind::Login);
        f.add_field_errors(&[
            FieldError {
                pointer: "#/traits/email".into(),
                message: UiText::missing("email"),
            },
            FieldError {
                pointer: "#/nowhere".into(),
                message: UiText::missing("nowhere"),
            },
            FieldError {
                pointer: "#/".into(),
                message: UiText::missing("all"),
            },
        ]);
        assert_eq!(
            f.ui.nodes[3]["messages"][0]["text"],
            "Property email is missing."
        );
        assert_eq!(f.ui.messages.len(), 2);
        f.clear_messages();
        assert!(f.ui.messages.is_empty());
        assert_eq!(f.ui.nodes[3]["messages"], json!([]));
    }

    #[test]
    fn submitted_values_fill_inputs_but_not_secrets() {
        let mut f = flow(FlowKind::Login);
        let fields = json!({"identifier": "ann", "password": "pw", "csrf_token": "t",
            "traits": {"email": "ann@example.com"}});
        f.fill_values(fields.as_object().unwrap());
        assert_eq!(f.ui.nodes[0]["attributes"]["value"], "ann");
        assert_eq!(f.ui.nodes[1]["attributes"].get("value"), None);
        assert_eq!(f.ui.nodes[2]["attributes"]["value"], "x");
        assert_eq!(f.ui.nodes[3]["attributes"]["value"], "ann@example.com");
    }

    #[test]
    fn the_json_has_kratos_keys_per_kind() {
        let mut login = flow(FlowKind::Login);
        login.active = Some(Method::Password);
        let json = login.to_json(None);
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "type",
                "expires_at",
                "issued_at",
                "request_url",
                "state",
                "ui",
                "return_to",
                "active",
                "refresh",
                "requested_aal",
                "created_at",
                "updated_at"
            ]
        );
        assert_eq!(json["state"], "choose_method");
        assert_eq!(json["active"], "password");
        assert_eq!(json["expires_at"], "1970-01-01T01:00:00Z");
        let settings = flow(FlowKind::Settings).to_json(Some(("identity", json!({"id": "i"}))));
        assert_eq!(settings["state"], "show_form");
        assert_eq!(settings["identity"]["id"], "i");
        assert_eq!(settings.get("refresh"), None);
    }
}
