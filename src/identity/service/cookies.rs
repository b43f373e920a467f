//! The cookies of the role, as `Set-Cookie` texts: the session cookie (the token with an HMAC
//! under the cookie secrets, verified on the way back), and the anti-CSRF cookie with the
//! masked tokens of the `csrf_token` nodes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use super::super::model::Micros;
use super::{sha256_hex, Service};
use crate::crypto::constant_time_eq;

impl Service {
    /// The token inside the value of a session cookie, if the value is untampered.
    pub fn session_cookie_token<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (token, mac) = value.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.cookie_secrets
            .iter()
            .any(|secret| constant_time_eq(&sign(secret, token), &mac))
            .then_some(token)
    }

    /// The session cookie's name (`session.cookie.name`).
    pub fn session_cookie_name(&self) -> &str {
        &self.config.session.cookie.name
    }

    /// `Set-Cookie` for a session token, honouring `session.cookie.*` and `cookies.*`.
    pub fn session_cookie(&self, token: &str, expires_at: Micros) -> String {
        let secret = self.cookie_secrets.first().cloned().unwrap_or_default();
        let value = format!("{token}.{}", URL_SAFE_NO_PAD.encode(sign(&secret, token)));
        let c = &self.config.session.cookie;
        let mut s = format!(
            "{}={value}; Path={}; HttpOnly",
            c.name,
            c.path
                .as_deref()
                .or(self.config.cookies.path.as_deref())
                .unwrap_or("/")
        );
        if let Some(d) = c
            .domain
            .as_deref()
            .or(self.config.cookies.domain.as_deref())
        {
            s.push_str(&format!("; Domain={d}"));
        }
        s.push_str(&format!(
            "; SameSite={}",
            same_site(
                c.same_site
                    .as_deref()
                    .or(self.config.cookies.same_site.as_deref())
            )
        ));
        if c.persistent {
            let max_age = ((expires_at - self.now()) / 1_000_000).max(0);
            s.push_str(&format!("; Max-Age={max_age}"));
        }
        if !self.dev {
            s.push_str("; Secure");
        }
        s
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        let c = &self.config.session.cookie;
        let mut s = format!(
            "{}=; Path={}; Max-Age=0; HttpOnly",
            c.name,
            c.path
                .as_deref()
                .or(self.config.cookies.path.as_deref())
                .unwrap_or("/")
        );
        if let Some(d) = c
            .domain
            .as_deref()
            .or(self.config.cookies.domain.as_deref())
        {
            s.push_str(&format!("; Domain={d}"));
        }
        s
    }

    /// `csrf_token_<sha256(public base URL)>`.
    pub fn csrf_cookie_name(&self, public_base: &str) -> String {
        format!("csrf_token_{}", sha256_hex(&format!("{public_base}/")))
    }

    /// The CSRF token of the browser (the value of its CSRF cookie) or a new one; `true` when
    /// new.
    pub fn csrf_token(&self, cookie: Option<&str>) -> (String, bool) {
        match cookie {
            Some(t) if t.len() >= 32 => (t.to_string(), false),
            _ => (crate::crypto::random_token(32), true),
        }
    }

    /// A freshly masked variant of the CSRF token for a `csrf_token` node.
    pub fn masked_csrf(&self, token: &str) -> String {
        let mut key = vec![0u8; token.len()];
        rand::thread_rng().fill(&mut key[..]);
        super::super::csrf::mask(token, &key)
    }

    /// `Set-Cookie` for the CSRF cookie `name` holding `token`.
    pub fn csrf_cookie(&self, name: &str, token: &str) -> String {
        let mut s = format!(
            "{name}={token}; Path={}; Max-Age=31536000; HttpOnly; SameSite={}",
            self.config.cookies.path.as_deref().unwrap_or("/"),
            same_site(self.config.cookies.same_site.as_deref())
        );
        if let Some(d) = self.config.cookies.domain.as_deref() {
            s.push_str(&format!("; Domain={d}"));
        }
        if !self.dev {
            s.push_str("; Secure");
        }
        s
    }
}

fn sign(secret: &[u8], token: &str) -> Vec<u8> {
    match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(token.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn same_site(v: Option<&str>) -> &'static str {
    match v.map(str::to_ascii_lowercase).as_deref() {
        Some("strict") => "Strict",
        Some("none") => "None",
        _ => "Lax",
    }
}
