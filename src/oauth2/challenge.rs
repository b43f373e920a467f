//! The login, consent and logout challenges' pure core: what a read, an accept, a reject or a
//! verifier does to a flow in each state ([`Flow`], [`FlowState`], [`next_state`]), the typed
//! document each kind of flow carries ([`LoginRequest`], [`ConsentRequest`],
//! [`LogoutRequest`]), and the decisions around them — whether a login session spares the
//! login UI, whether a remembered consent spares the consent UI, what a rejection tells the
//! client. No I/O and no clock: the time is a parameter; the caller applies a transition to
//! the store with a compare-and-set, so a replayed verifier or a concurrent accept never wins
//! twice.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Error;
use super::strategy::ScopeStrategy;

/// A stored value that names no variant (a kind or state the code does not know).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// The three kinds of challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    Login,
    Consent,
    Logout,
}

impl ChallengeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Login => "login",
            ChallengeKind::Consent => "consent",
            ChallengeKind::Logout => "logout",
        }
    }

    pub fn parse(s: &str) -> Result<ChallengeKind, UnknownValue> {
        match s {
            "login" => Ok(ChallengeKind::Login),
            "consent" => Ok(ChallengeKind::Consent),
            "logout" => Ok(ChallengeKind::Logout),
            other => Err(UnknownValue {
                what: "challenge kind",
                value: other.to_string(),
            }),
        }
    }

    /// The query parameter that carries this kind's verifier back (`login_verifier`, …).
    pub fn verifier_param(self) -> &'static str {
        match self {
            ChallengeKind::Login => "login_verifier",
            ChallengeKind::Consent => "consent_verifier",
            ChallengeKind::Logout => "logout_verifier",
        }
    }
}

/// Where a challenge is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    Pending,
    Accepted,
    Rejected,
    Used,
}

impl FlowState {
    pub fn parse(s: &str) -> Result<FlowState, UnknownValue> {
        match s {
            "pending" => Ok(FlowState::Pending),
            "accepted" => Ok(FlowState::Accepted),
            "rejected" => Ok(FlowState::Rejected),
            "used" => Ok(FlowState::Used),
            other => Err(UnknownValue {
                what: "flow state",
                value: other.to_string(),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Pending => "pending",
            FlowState::Accepted => "accepted",
            FlowState::Rejected => "rejected",
            FlowState::Used => "used",
        }
    }
}

/// What happens to a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEvent {
    Accept,
    Reject,
    Redeem,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowRefusal {
    /// Already handled: answer 410 with `redirect_to`.
    Handled,
    /// Older than `ttl.login_consent_request`.
    Expired,
    /// A verifier presented before the UI decided, or twice.
    NotRedeemable,
}

impl FlowRefusal {
    /// The answer to a refused transition; `redirect_to` is where a handled challenge's
    /// browser goes now.
    pub fn into_error(self, redirect_to: String) -> Error {
        match self {
            FlowRefusal::Handled => Error::Gone { redirect_to },
            FlowRefusal::Expired => Error::RequestUnauthorized(
                "The login or consent request has expired, please try again.".into(),
            ),
            FlowRefusal::NotRedeemable => Error::AccessDenied("The login or consent verifier has already been used, has not been granted, or is invalid.".into()),
        }
    }
}

/// The pure transition function: `(state, event, now, requested_at, ttl)` → next state.
pub fn next_state(
    state: FlowState,
    event: FlowEvent,
    now: i64,
    requested_at: i64,
    ttl_micros: i64,
) -> Result<FlowState, FlowRefusal> {
    if now > requested_at.saturating_add(ttl_micros) {
        return Err(FlowRefusal::Expired);
    }
    match (state, event) {
        (FlowState::Pending, FlowEvent::Accept) => Ok(FlowState::Accepted),
        (FlowState::Pending, FlowEvent::Reject) => Ok(FlowState::Rejected),
        (FlowState::Accepted | FlowState::Rejected, FlowEvent::Redeem) => Ok(FlowState::Used),
        (_, FlowEvent::Accept | FlowEvent::Reject) => Err(FlowRefusal::Handled),
        (FlowState::Pending | FlowState::Used, FlowEvent::Redeem) => {
            Err(FlowRefusal::NotRedeemable)
        }
    }
}

/// The typed document of a kind of flow (stored as JSON beside the flow's columns).
pub trait FlowDoc: Serialize + for<'de> Deserialize<'de> {
    const KIND: ChallengeKind;

    /// The URL the browser returns to with the verifier.
    fn request_url(&self) -> &str;

    /// The CSRF value the browser's cookie must carry back with the verifier (none: the
    /// verifier alone suffices).
    fn csrf(&self) -> &str {
        ""
    }

    /// The UI's rejection, once it rejected.
    fn rejection(&self) -> Option<&Rejection> {
        None
    }
}

/// A challenge: its columns and its kind's document.
#[derive(Debug, Clone)]
pub struct Flow<D> {
    pub challenge: String,
    pub verifier: String,
    pub state: FlowState,
    pub client_id: String,
    pub subject: String,
    /// Unix microseconds.
    pub requested_at: i64,
    pub doc: D,
}

impl<D: FlowDoc> Flow<D> {
    /// A new challenge awaiting the UI's decision (no verifier yet).
    pub fn pending(
        challenge: String,
        client_id: String,
        subject: String,
        requested_at: i64,
        doc: D,
    ) -> Flow<D> {
        Flow {
            verifier: format!("unset-{challenge}"),
            challenge,
            state: FlowState::Pending,
            client_id,
            subject,
            requested_at,
            doc,
        }
    }

    /// Whether the admin API may show this flow: only while pending, and a login request only
    /// within `ttl.login_consent_request` (Hydra checks no expiry on the other two).
    pub fn readable(&self, now: i64, ttl_micros: i64) -> Result<(), FlowRefusal> {
        if self.state != FlowState::Pending {
            return Err(FlowRefusal::Handled);
        }
        if D::KIND == ChallengeKind::Login && now > self.requested_at.saturating_add(ttl_micros) {
            return Err(FlowRefusal::Expired);
        }
        Ok(())
    }

    /// The UI's accept or reject: the next state, under a fresh `verifier`. Returns the state
    /// it left, for the store's compare-and-set. A logout is rejected without the expiry
    /// check and keeps its verifier (nobody redeems a rejected logout).
    pub fn decide(
        &mut self,
        event: FlowEvent,
        now: i64,
        ttl_micros: i64,
        verifier: String,
    ) -> Result<FlowState, FlowRefusal> {
        let from = self.state;
        if D::KIND == ChallengeKind::Logout && event == FlowEvent::Reject {
            if from != FlowState::Pending {
                return Err(FlowRefusal::Handled);
            }
            self.state = FlowState::Rejected;
            return Ok(from);
        }
        self.state = next_state(from, event, now, self.requested_at, ttl_micros)?;
        self.verifier = verifier;
        Ok(from)
    }

    /// The browser's verifier: the decided flow becomes used. Returns the state it left.
    pub fn redeem(&mut self, now: i64, ttl_micros: i64) -> Result<FlowState, FlowRefusal> {
        let from = self.state;
        self.state = next_state(from, FlowEvent::Redeem, now, self.requested_at, ttl_micros)?;
        Ok(from)
    }

    /// Where the browser of a handled login or consent goes: back with the verifier, or to
    /// the request URL once the verifier was used.
    pub fn handled_redirect(&self) -> String {
        let url = self.doc.request_url();
        if self.state == FlowState::Used {
            url.to_string()
        } else {
            super::form::with_params(url, &[(D::KIND.verifier_param(), &self.verifier)])
        }
    }
}

/// Where the browser completing a logout goes with its verifier.
pub fn logout_verifier_url(public_base: &str, verifier: &str) -> String {
    format!("{public_base}/oauth2/sessions/logout?logout_verifier={verifier}")
}

/// The UI's rejection of a login or consent, as the admin API took it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Rejection {
    pub error: String,
    pub error_description: String,
    pub error_hint: String,
    pub error_debug: String,
    pub status_code: i64,
}

impl Rejection {
    /// The error the client gets for it: the UI's code (`"login request denied"` or
    /// `"consent request denied"` without one), its description and hint, its status when it
    /// is an error status (else 400).
    pub fn into_error(self, kind: ChallengeKind) -> Error {
        let default = match kind {
            ChallengeKind::Login => "login request denied",
            _ => "consent request denied",
        };
        let description = [self.error_description, self.error_hint]
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Error::Rejected {
            error: Some(self.error)
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| default.into()),
            description,
            status: u16::try_from(self.status_code)
                .ok()
                .filter(|c| *c >= 400)
                .unwrap_or(400),
        }
    }
}

/// A login request (`login_challenge`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginRequest {
    pub request_url: String,
    pub requested_scope: Vec<String>,
    pub requested_access_token_audience: Vec<String>,
    /// A remembered login session spares the UI: it must accept the session's subject.
    pub skip: bool,
    pub session_id: String,
    /// When the remembered session authenticated (Unix microseconds; 0 without one).
    pub auth_time: i64,
    pub oidc_context: Value,
    pub csrf: String,
    /// The `redirect_uri` the authorize request named (empty when it named none).
    pub redirect_uri: String,
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept: Option<LoginAccept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Rejection>,
}

impl FlowDoc for LoginRequest {
    const KIND: ChallengeKind = ChallengeKind::Login;
    fn request_url(&self) -> &str {
        &self.request_url
    }
    fn csrf(&self) -> &str {
        &self.csrf
    }
    fn rejection(&self) -> Option<&Rejection> {
        self.error.as_ref()
    }
}

/// What the UI accepted a login with (besides the subject, which the flow keeps).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginAccept {
    pub remember: bool,
    pub remember_for: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub context: Value,
    pub extend_session_lifespan: bool,
    pub force_subject_identifier: String,
    pub identity_provider_session_id: String,
}

/// A consent request (`consent_challenge`), created when a login verifier is redeemed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentRequest {
    pub request_url: String,
    pub requested_scope: Vec<String>,
    pub requested_access_token_audience: Vec<String>,
    /// A remembered consent covers every requested scope.
    pub skip: bool,
    pub login_challenge: String,
    pub login_session_id: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub context: Value,
    pub oidc_context: Value,
    /// Seconds since the epoch.
    pub auth_time: i64,
    pub csrf: String,
    pub redirect_uri: String,
    pub nonce: String,
    pub code_challenge: String,
    /// When the login request was made (Unix microseconds).
    pub requested_at: i64,
    pub force_subject_identifier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept: Option<ConsentAccept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Rejection>,
}

impl FlowDoc for ConsentRequest {
    const KIND: ChallengeKind = ChallengeKind::Consent;
    fn request_url(&self) -> &str {
        &self.request_url
    }
    fn csrf(&self) -> &str {
        &self.csrf
    }
    fn rejection(&self) -> Option<&Rejection> {
        self.error.as_ref()
    }
}

/// What the UI granted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentAccept {
    pub grant_scope: Vec<String>,
    pub grant_access_token_audience: Vec<String>,
    pub remember: bool,
    pub remember_for: i64,
    pub session: SessionClaims,
}

/// The extra claims a consent puts in the access token and the ID token (JSON objects).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionClaims {
    pub access_token: Value,
    pub id_token: Value,
}

impl Default for SessionClaims {
    fn default() -> Self {
        SessionClaims {
            access_token: Value::Object(Default::default()),
            id_token: Value::Object(Default::default()),
        }
    }
}

/// A logout request (`logout_challenge`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogoutRequest {
    pub sid: String,
    /// Started by a relying party (with an `id_token_hint`), not by the browser alone.
    pub rp_initiated: bool,
    pub post_logout_redirect: String,
    pub request_url: String,
}

impl FlowDoc for LogoutRequest {
    const KIND: ChallengeKind = ChallengeKind::Logout;
    fn request_url(&self) -> &str {
        &self.request_url
    }
}

/// A login session (Hydra's authentication session behind the `ory_hydra_session` cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    pub subject: String,
    /// Unix microseconds.
    pub authenticated_at: i64,
    pub remember: bool,
    /// Unix microseconds; 0 for ever.
    pub expires_at: i64,
    /// The Kratos session the login accepted (ended with this one, see `logout`).
    pub identity_provider_session_id: String,
}

impl LoginSession {
    /// Whether this session spares the login UI: remembered and unexpired, authenticated
    /// within the request's `max_age` (seconds), and no `prompt=login`.
    pub fn skips_login(&self, now: i64, max_age: Option<i64>, prompt: &str) -> bool {
        let max_age_ok =
            max_age.is_none_or(|m| now - self.authenticated_at <= m.saturating_mul(1_000_000));
        self.remember
            && (self.expires_at == 0 || self.expires_at > now)
            && max_age_ok
            && !prompt.contains("login")
    }
}

/// When a login or consent remembered for `remember_for` seconds (the UI's number, any `i64`)
/// expires, in Unix microseconds; `0` is Hydra's "for ever", as is a non-positive value. A
/// `remember_for` past year 294 247 saturates instead of overflowing (a 500 in debug builds, a
/// wrapped — possibly already past — expiry in release ones).
pub fn remembered_until(now: i64, remember_for: i64) -> i64 {
    if remember_for > 0 {
        now.saturating_add(remember_for.saturating_mul(1_000_000))
    } else {
        0
    }
}

/// A granted consent (Hydra's consent session).
#[derive(Debug, Clone)]
pub struct Consent {
    pub challenge: String,
    pub subject: String,
    pub client_id: String,
    pub login_session_id: String,
    pub remember: bool,
    /// Unix microseconds; 0 for ever.
    pub expires_at: i64,
    pub handled_at: i64,
    pub doc: ConsentDoc,
}

/// A consent session as the admin API lists it (`OAuth2ConsentSession`, without
/// `expires_at`, which the listing adds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentDoc {
    pub grant_scope: Vec<String>,
    pub grant_access_token_audience: Vec<String>,
    pub session: SessionClaims,
    pub context: Value,
    pub remember: bool,
    pub remember_for: i64,
    /// RFC 3339.
    pub handled_at: String,
    /// The consent request as the admin API showed it.
    pub consent_request: Value,
}

/// Whether a remembered, unexpired consent of `consents` covers every `requested` scope.
pub fn consent_remembered(
    consents: &[Consent],
    requested: &[String],
    now: i64,
    strategy: ScopeStrategy,
) -> bool {
    consents.iter().any(|c| {
        c.remember
            && (c.expires_at == 0 || c.expires_at > now)
            && requested
                .iter()
                .all(|r| strategy.allows(&c.doc.grant_scope, r))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn flow<D: FlowDoc>(doc: D, state: FlowState) -> Flow<D> {
        let mut f = Flow::pending("ch".into(), "app".into(), "alice".into(), 0, doc);
        f.state = state;
        f
    }

    fn login() -> LoginRequest {
        LoginRequest {
            request_url: "https://issuer/oauth2/auth?x=1".into(),
            ..LoginRequest::default()
        }
    }

    #[test]
    fn the_state_machine_allows_one_decision_and_one_redemption() {
        use FlowEvent::*;
        use FlowState::*;
        let ttl = 1_000;
        assert_eq!(next_state(Pending, Accept, 10, 0, ttl), Ok(Accepted));
        assert_eq!(next_state(Pending, Reject, 10, 0, ttl), Ok(Rejected));
        assert_eq!(
            next_state(Accepted, Accept, 10, 0, ttl),
            Err(FlowRefusal::Handled)
        );
        assert_eq!(next_state(Accepted, Redeem, 10, 0, ttl), Ok(Used));
        assert_eq!(next_state(Rejected, Redeem, 10, 0, ttl), Ok(Used));
        assert_eq!(
            next_state(Used, Redeem, 10, 0, ttl),
            Err(FlowRefusal::NotRedeemable)
        );
        assert_eq!(
            next_state(Pending, Redeem, 10, 0, ttl),
            Err(FlowRefusal::NotRedeemable)
        );
        assert_eq!(
            next_state(Pending, Accept, 2_000, 0, ttl),
            Err(FlowRefusal::Expired)
        );
    }

    #[test]
    fn unknown_stored_values_are_errors_not_pending() {
        for s in [
            FlowState::Pending,
            FlowState::Accepted,
            FlowState::Rejected,
            FlowState::Used,
        ] {
            assert_eq!(FlowState::parse(s.as_str()), Ok(s));
        }
        let e = FlowState::parse("done").unwrap_err();
        assert_eq!(e.to_string(), "unknown flow state 'done'");
        for k in [
            ChallengeKind::Login,
            ChallengeKind::Consent,
            ChallengeKind::Logout,
        ] {
            assert_eq!(ChallengeKind::parse(k.as_str()), Ok(k));
        }
        assert!(ChallengeKind::parse("device").is_err());
    }

    #[test]
    fn reading_a_request_needs_it_pending_and_a_login_unexpired() {
        let ttl = 100;
        assert_eq!(flow(login(), FlowState::Pending).readable(50, ttl), Ok(()));
        assert_eq!(
            flow(login(), FlowState::Pending).readable(101, ttl),
            Err(FlowRefusal::Expired)
        );
        assert_eq!(
            flow(login(), FlowState::Accepted).readable(50, ttl),
            Err(FlowRefusal::Handled)
        );
        // Hydra checks no expiry on consent and logout requests.
        let consent = flow(ConsentRequest::default(), FlowState::Pending);
        assert_eq!(consent.readable(101, ttl), Ok(()));
        let logout = flow(LogoutRequest::default(), FlowState::Used);
        assert_eq!(logout.readable(0, ttl), Err(FlowRefusal::Handled));
    }

    #[test]
    fn a_decision_takes_a_fresh_verifier_and_the_redirect_carries_it() {
        let mut f = flow(login(), FlowState::Pending);
        assert_eq!(
            f.decide(FlowEvent::Accept, 5, 100, "v1".into()),
            Ok(FlowState::Pending)
        );
        assert_eq!((f.state, f.verifier.as_str()), (FlowState::Accepted, "v1"));
        assert_eq!(
            f.handled_redirect(),
            "https://issuer/oauth2/auth?x=1&login_verifier=v1"
        );
        assert_eq!(
            f.decide(FlowEvent::Reject, 5, 100, "v2".into()),
            Err(FlowRefusal::Handled)
        );
        assert_eq!(f.verifier, "v1", "a refused decision changes nothing");
        assert_eq!(f.redeem(6, 100), Ok(FlowState::Accepted));
        assert_eq!(f.handled_redirect(), "https://issuer/oauth2/auth?x=1");
        assert_eq!(f.redeem(6, 100), Err(FlowRefusal::NotRedeemable));
        let mut late = flow(login(), FlowState::Pending);
        assert_eq!(
            late.decide(FlowEvent::Accept, 101, 100, "v".into()),
            Err(FlowRefusal::Expired)
        );
    }

    #[test]
    fn a_logout_is_rejected_once_without_expiry_and_keeps_its_verifier() {
        let mut f = flow(LogoutRequest::default(), FlowState::Pending);
        let verifier = f.verifier.clone();
        assert_eq!(
            f.decide(FlowEvent::Reject, i64::MAX, 1, "new".into()),
            Ok(FlowState::Pending)
        );
        assert_eq!((f.state, &f.verifier), (FlowState::Rejected, &verifier));
        assert_eq!(
            f.decide(FlowEvent::Reject, 0, 1, "new".into()),
            Err(FlowRefusal::Handled)
        );
        let mut accepted = flow(LogoutRequest::default(), FlowState::Pending);
        assert_eq!(
            accepted.decide(FlowEvent::Accept, 0, 1, "v".into()),
            Ok(FlowState::Pending)
        );
        assert_eq!(accepted.verifier, "v");
        assert_eq!(
            logout_verifier_url("https://h", "v"),
            "https://h/oauth2/sessions/logout?logout_verifier=v"
        );
    }

    #[test]
    fn a_rejection_reaches_the_client_as_the_ui_worded_it() {
        let parts = |r: Rejection, kind| match r.into_error(kind) {
            Error::Rejected {
                error,
                description,
                status,
            } => (error, description, status),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parts(Rejection::default(), ChallengeKind::Login),
            ("login request denied".into(), String::new(), 400)
        );
        let r = Rejection {
            error: "access_denied".into(),
            error_description: "No.".into(),
            error_hint: "Ask.".into(),
            status_code: 403,
            ..Rejection::default()
        };
        assert_eq!(
            parts(r, ChallengeKind::Consent),
            ("access_denied".into(), "No. Ask.".into(), 403)
        );
        for status in [200, -1, 70_000] {
            let r = Rejection {
                status_code: status,
                ..Rejection::default()
            };
            assert_eq!(parts(r, ChallengeKind::Consent).2, 400, "{status}");
        }
    }

    #[test]
    fn a_login_session_spares_the_ui_only_while_remembered_fresh_and_not_prompted() {
        let s = LoginSession {
            subject: "alice".into(),
            authenticated_at: 1_000_000,
            remember: true,
            expires_at: 0,
            identity_provider_session_id: String::new(),
        };
        assert!(s.skips_login(5_000_000, None, ""));
        assert!(s.skips_login(5_000_000, Some(4), "consent"));
        assert!(!s.skips_login(5_000_001, Some(4), ""));
        assert!(!s.skips_login(5_000_000, None, "login"));
        let expired = LoginSession {
            expires_at: 4_000_000,
            ..s.clone()
        };
        assert!(!expired.skips_login(5_000_000, None, ""));
        let forgotten = LoginSession {
            remember: false,
            ..s
        };
        assert!(!forgotten.skips_login(5_000_000, None, ""));
        assert_eq!(remembered_until(10, 0), 0);
        assert_eq!(remembered_until(10, 2), 2_000_010);
        assert_eq!(remembered_until(10, i64::MAX), i64::MAX);
    }

    #[test]
    fn a_remembered_consent_must_cover_every_requested_scope() {
        let consent = |remember, expires_at, scope: &[&str]| Consent {
            challenge: "c".into(),
            subject: "alice".into(),
            client_id: "app".into(),
            login_session_id: String::new(),
            remember,
            expires_at,
            handled_at: 0,
            doc: ConsentDoc {
                grant_scope: scope.iter().map(|s| s.to_string()).collect(),
                ..ConsentDoc::default()
            },
        };
        let requested = vec!["openid".to_string(), "email".into()];
        let wildcard = ScopeStrategy::Wildcard;
        assert!(consent_remembered(
            &[consent(true, 0, &["openid", "email"])],
            &requested,
            5,
            wildcard
        ));
        assert!(!consent_remembered(
            &[consent(true, 0, &["openid"])],
            &requested,
            5,
            wildcard
        ));
        assert!(!consent_remembered(
            &[consent(false, 0, &["openid", "email"])],
            &requested,
            5,
            wildcard
        ));
        assert!(!consent_remembered(
            &[consent(true, 4, &["openid", "email"])],
            &requested,
            5,
            wildcard
        ));
    }

    #[test]
    fn documents_keep_their_stored_shape() {
        let mut doc = login();
        doc.accept = Some(LoginAccept {
            remember: true,
            ..LoginAccept::default()
        });
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains("\"accept\":{\"remember\":true,"), "{text}");
        assert!(!text.contains("\"error\""), "{text}");
        let back: LoginRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back.accept.map(|a| a.remember), Some(true));
        // A document written before a field existed reads with the field's default.
        let old: ConsentRequest = serde_json::from_str(r#"{"skip":true}"#).unwrap();
        assert!(old.skip && old.accept.is_none());
        assert_eq!(
            serde_json::to_string(&SessionClaims::default()).unwrap(),
            r#"{"access_token":{},"id_token":{}}"#
        );
    }
}
