//! The parameters of an OAuth 2.0 request — a query or a POST body as fosite reads them —
//! keeping repeated keys: Go's `url.ParseQuery` for form bodies, the parts of a
//! `multipart/form-data` body, and the list and duplicate rules of RFC 6749. Pure (the
//! multipart reader is async but reads only the bytes it is given); the HTTP layer hands over
//! the `Content-Type` and the body. Also [`with_params`], a URL with parameters appended.

use super::error::{Error, Result};

/// A parsed `application/x-www-form-urlencoded` body or query, keeping repeated keys.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

/// fosite's hint for a POST body it cannot read.
pub const UNPARSABLE_BODY: &str =
    "Unable to parse HTTP body, make sure to send a properly formatted form request body.";

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// A query followed by a body, both form-encoded (`/oauth2/auth`, `/oauth2/sessions/logout`
    /// take their parameters from either).
    pub fn query_and_body(query: &str, body: &[u8]) -> Form {
        let mut form = Form::parse(query.as_bytes());
        if !body.is_empty() {
            form.0.extend(Form::parse(body).0);
        }
        form
    }

    /// A POST body as fosite reads one at the token, revocation and introspection endpoints
    /// (Go's `ParseMultipartForm`, then `PostForm`), by the request's `Content-Type`:
    /// `application/x-www-form-urlencoded` as Go's `url.ParseQuery`; `multipart/form-data` by
    /// its parts without a file name; any other or no `Content-Type` as no parameters at all.
    /// Only a multipart body that cannot be read is an error (`invalid_request` with fosite's
    /// hint).
    pub async fn from_post(content_type: &str, body: bytes::Bytes) -> Result<Form> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Ok(Form::parse_go_query(&body))
        } else if media_type.eq_ignore_ascii_case("multipart/form-data") {
            multipart_form(content_type, body).await
        } else {
            Ok(Form::default())
        }
    }

    /// Go's `url.ParseQuery`: pairs split on `&`; a pair holding `;`, or with a key or value
    /// that is not validly percent-encoded, is left out; `+` is a space.
    pub fn parse_go_query(bytes: &[u8]) -> Form {
        let mut form = Form::default();
        for pair in bytes.split(|b| *b == b'&') {
            if pair.is_empty() || pair.contains(&b';') {
                continue;
            }
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            if let (Some(key), Some(value)) = (go_unescape(key), go_unescape(value)) {
                form.0.push((key, value));
            }
        }
        form
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A space-separated or repeated parameter as a list.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.all(key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }

    /// Replaces every value of `key` by `value` (Go's `url.Values.Set`).
    pub fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value));
    }

    /// The first parameter sent more than once among `keys` (RFC 6749 §3.1).
    pub fn duplicate(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .find(|k| self.all(k).len() > 1)
            .map(|k| k.to_string())
    }
}

/// `base` with `params` appended to its query, form-encoded; empty values are left out.
pub fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    format!("{base}{sep}{q}")
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` needs two hex digits (else `None`).
fn go_unescape(bytes: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Most parts a `multipart/form-data` body may have; a body with more is unreadable.
const MAX_MULTIPART_PARTS: usize = 1000;

/// The parameters of a `multipart/form-data` body: every part with a name and no file name
/// (Go's `MultipartForm.Value`, which `PostForm` takes over). At most
/// [`MAX_MULTIPART_PARTS`] parts are read; one more is an `invalid_request` naming the limit,
/// and a body that is not valid multipart is one with fosite's hint.
async fn multipart_form(content_type: &str, body: bytes::Bytes) -> Result<Form> {
    let unreadable = |_| Error::InvalidRequest(UNPARSABLE_BODY.into());
    let boundary = multer::parse_boundary(content_type).map_err(unreadable)?;
    let whole = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::new(whole, boundary);
    let mut form = Form::default();
    let mut seen = 0usize;
    while let Some(part) = parts.next_field().await.map_err(unreadable)? {
        seen += 1;
        if seen > MAX_MULTIPART_PARTS {
            return Err(Error::InvalidRequest(format!(
                "The request body has more than {MAX_MULTIPART_PARTS} multipart parts."
            )));
        }
        if part.file_name().is_some() {
            continue;
        }
        let Some(name) = part.name().map(str::to_string) else {
            continue;
        };
        form.0.push((name, part.text().await.map_err(unreadable)?));
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_forms_parse_as_gos_parse_query() {
        let form = Form::parse_go_query(b"a=1&b=x+y%21&c=%zz&d=1;2&&=e&f&g=%4");
        assert_eq!(
            form.0,
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y!".to_string()),
                (String::new(), "e".to_string()),
                ("f".to_string(), String::new()),
            ]
        );
        assert_eq!(go_unescape(b"%+1"), None);
    }

    #[test]
    fn lists_split_on_spaces_and_repeats() {
        let form = Form::parse(b"scope=a+b&scope=c&x=1&x=2");
        assert_eq!(form.list("scope"), ["a", "b", "c"]);
        assert_eq!(form.duplicate(&["scope", "x"]), Some("scope".into()));
        let both = Form::query_and_body("a=1", b"b=2");
        assert_eq!((both.get("a"), both.get("b")), (Some("1"), Some("2")));
    }
}
