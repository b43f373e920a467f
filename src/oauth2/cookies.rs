//! The browser cookies of the login, consent and logout flows, as Hydra names them: the login
//! session cookie (`ory_hydra_session`) and a CSRF cookie per challenge kind and client
//! (`ory_hydra_<kind>_csrf_<murmur3(client_id)>`), `_dev` suffixed in development mode.
//! Values are sealed for their cookie's name (`crypto::cookie`), so a forged, foreign or
//! planted cookie counts as not sent. Pure: the HTTP layer hands over the request's `Cookie`
//! headers ([`Cookies`]) and writes the `Set-Cookie` values built here.

use super::challenge::ChallengeKind;
use super::error::{Error, Result};
use crate::crypto::cookie::CookieSealer;

/// How many cookies of one name a request may carry that are tried (a browser sends one per
/// path and domain that matches; more is somebody hoping to make the server work).
const SAME_NAME_COOKIES: usize = 8;

/// The `Cookie` headers of a request (those that are text), in order.
#[derive(Debug, Default, Clone)]
pub struct Cookies(Vec<String>);

impl Cookies {
    pub fn new(headers: Vec<String>) -> Cookies {
        Cookies(headers)
    }

    /// Every value the request carries for the cookie `name`, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .flat_map(|v| v.split(';'))
            .filter_map(move |p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == name).then_some(v)
            })
    }

    /// The value sealed in the first cookie called `name` that opens; a forged, foreign or
    /// planted cookie of that name counts as not sent (and does not hide a genuine one sent
    /// after it). At most [`SAME_NAME_COOKIES`] cookies of one name are tried.
    pub fn sealed(&self, sealer: &CookieSealer, name: &str) -> Option<String> {
        self.values(name)
            .take(SAME_NAME_COOKIES)
            .find_map(|v| sealer.open(name, v))
            .and_then(|plain| String::from_utf8(plain).ok())
            .filter(|v| !v.is_empty())
    }
}

/// murmur3 x86 32-bit (seed 0), for Hydra's CSRF cookie names.
pub fn murmur3(data: &[u8]) -> u32 {
    let (c1, c2) = (0xcc9e_2d51u32, 0x1b87_3593u32);
    let mut h: u32 = 0;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let mut k: u32 = 0;
    for (i, b) in tail.iter().enumerate() {
        k ^= u32::from(*b) << (8 * i);
    }
    if !tail.is_empty() {
        h ^= k.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The cookies of the role: their names and `Set-Cookie` values (`Secure` unless in
/// development mode).
#[derive(Clone, Copy)]
pub struct Jar<'a> {
    pub sealer: &'a CookieSealer,
    pub dev: bool,
}

impl Jar<'_> {
    fn name(&self, base: &str) -> String {
        if self.dev {
            format!("{base}_dev")
        } else {
            base.to_string()
        }
    }

    /// The login session cookie's name.
    pub fn session_name(&self) -> String {
        self.name("ory_hydra_session")
    }

    /// The CSRF cookie's name of a challenge of `kind` for `client_id`.
    pub fn csrf_name(&self, kind: ChallengeKind, client_id: &str) -> String {
        self.name(&format!(
            "ory_hydra_{}_csrf_{}",
            kind.as_str(),
            murmur3(client_id.as_bytes())
        ))
    }

    /// A `Set-Cookie` value for `name` (a negative `max_age` deletes the cookie).
    pub fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(a) = max_age {
            c.push_str(&format!("; Max-Age={a}"));
        }
        if !self.dev {
            c.push_str("; Secure");
        }
        c
    }

    /// A `Set-Cookie` for `name` whose value is `value` sealed for that cookie: nobody without
    /// the cookie secrets can make one, whatever they know of `value`.
    pub fn set_sealed(&self, name: &str, value: &str, max_age: Option<i64>) -> Result<String> {
        let sealed = self
            .sealer
            .seal(name, value.as_bytes())
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(self.set(name, &sealed, max_age))
    }

    /// The login session id in the browser's session cookie, if it holds a genuine one.
    pub fn session(&self, cookies: &Cookies) -> Option<String> {
        cookies.sealed(self.sealer, &self.session_name())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_lists_every_cookie_of_a_name_in_order() {
        let cookies = Cookies::new(vec![
            "a=1; ory_hydra_session=forged;x; ory_hydra_session=real".into(),
            "ory_hydra_session=third".into(),
        ]);
        let values: Vec<_> = cookies.values("ory_hydra_session").collect();
        assert_eq!(values, ["forged", "real", "third"]);
        assert_eq!(cookies.values("ory_hydra").count(), 0);
    }

    #[test]
    fn murmur3_matches_reference_vectors() {
        assert_eq!(murmur3(b""), 0);
        assert_eq!(murmur3(b"hello"), 613_153_351);
        assert_eq!(
            murmur3(b"The quick brown fox jumps over the lazy dog"),
            776_992_547
        );
    }

    #[test]
    fn names_and_set_cookie_values_follow_hydra() {
        let sealer = CookieSealer::new("oauth2", &["a-cookie-secret-of-32-characters"]);
        let jar = Jar {
            sealer: &sealer,
            dev: false,
        };
        assert_eq!(jar.session_name(), "ory_hydra_session");
        assert_eq!(
            jar.csrf_name(ChallengeKind::Login, "hello"),
            "ory_hydra_login_csrf_613153351"
        );
        assert_eq!(
            jar.set("n", "", Some(-1)),
            "n=; Path=/; HttpOnly; SameSite=Lax; Max-Age=-1; Secure"
        );
        let dev = Jar { dev: true, ..jar };
        assert_eq!(dev.session_name(), "ory_hydra_session_dev");
        assert_eq!(
            dev.set("n", "v", None),
            "n=v; Path=/; HttpOnly; SameSite=Lax"
        );
        let set = jar
            .set_sealed("ory_hydra_session", "sid-1", Some(60))
            .unwrap();
        let value = set
            .strip_prefix("ory_hydra_session=")
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        let cookies = Cookies::new(vec![format!(
            "ory_hydra_session=forged; ory_hydra_session={value}"
        )]);
        assert_eq!(jar.session(&cookies).as_deref(), Some("sid-1"));
        assert_eq!(dev.session(&cookies), None, "sealed for another name");
    }
}
