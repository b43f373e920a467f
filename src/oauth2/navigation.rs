//! Where a browser is sent next by the endpoints it walks (`/oauth2/auth`,
//! `/oauth2/sessions/logout`): to a UI page, back to the client at its redirect URI in the
//! request's response mode, or through the front-channel logout page — with the cookies to
//! set. Decided by the flows, written to the wire by the HTTP layer (`browser`). Pure.

/// How the authorization endpoint's answer reaches the client (`response_mode`, fosite's
/// `ResponseModeType`; Hydra's clients allow all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    /// An HTML page whose form POSTs the parameters to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// Whether fosite knows a `response_mode` value (`""`, `query`, `fragment`, `form_post`).
    pub fn known(value: &str) -> bool {
        matches!(value, "" | "query" | "fragment" | "form_post")
    }

    /// The mode of a `response_mode` value fosite knows; without one, `code` alone answers in
    /// the query and implicit and hybrid responses in the fragment.
    pub fn of(value: &str, code_only: bool) -> Self {
        match value {
            "query" => Self::Query,
            "fragment" => Self::Fragment,
            "form_post" => Self::FormPost,
            _ if code_only => Self::Query,
            _ => Self::Fragment,
        }
    }
}

/// The next step of a browser (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Navigation {
    /// A 302 to `to` (a UI page, the post-logout URL).
    Redirect { to: String, cookies: Vec<String> },
    /// The answer to the client at its (validated) redirect URI, in `mode`.
    ToClient {
        redirect_uri: String,
        mode: ResponseMode,
        params: Vec<(&'static str, String)>,
        cookies: Vec<String>,
    },
    /// The front-channel logout page (one frame per URL), then `to`.
    FrontChannel {
        urls: Vec<String>,
        to: String,
        cookies: Vec<String>,
    },
}

impl Navigation {
    /// A 302 without cookies.
    pub fn redirect(to: String) -> Navigation {
        Navigation::Redirect {
            to,
            cookies: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mode_follows_the_response_type() {
        assert_eq!(ResponseMode::of("", true), ResponseMode::Query);
        assert_eq!(ResponseMode::of("", false), ResponseMode::Fragment);
        assert_eq!(ResponseMode::of("form_post", true), ResponseMode::FormPost);
        assert!(ResponseMode::known("fragment") && !ResponseMode::known("web_message"));
    }
}
