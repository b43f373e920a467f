//! Every HTML page the oauth2 role serves: fosite's `form_post` page, the front-channel logout
//! page and the fallback pages. Values go into attributes with full escaping, never into
//! script; the only script is fixed text carrying a per-response nonce; each page is sent with a
//! strict `Content-Security-Policy`, `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`. A URL placed in a page must be
//! an absolute http(s) URL, whatever the database holds.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::Error;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` parsed, when it is an absolute http or https URL with a host: the only URLs a page
/// links, frames or posts to.
pub fn web_url(s: &str) -> Option<url::Url> {
    url::Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// The CSP source that matches `url`'s origin: `scheme://host[:port]`, or just `scheme:` when
/// the host cannot be written as a CSP host (an IPv6 literal, unusual characters).
fn csp_source(url: &url::Url) -> String {
    let plain_host = url.host_str().is_some_and(|h| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    });
    if plain_host {
        url.origin().ascii_serialization()
    } else {
        format!("{}:", url.scheme())
    }
}

fn nonce() -> String {
    crate::crypto::random_token(18)
}

/// A 200 HTML response with the security headers every page gets.
fn page(content_type: &'static str, csp: &str, body: String) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    } else {
        // Cannot happen (every source is ASCII we built); refuse scripts rather than send none.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The policy's fixed part: nothing loads, no `<base>`, never framed.
const CSP_BASE: &str = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// fosite's `form_post` page: hidden inputs posted to `action` on load, by a nonce'd script
/// (a `Continue` button without JavaScript). `form-action` allows only `action`'s origin. An
/// `action` that is not an http(s) URL is refused (400), even when it was stored earlier.
pub fn form_post(action: &str, params: &[&(&str, &str)]) -> Response {
    let Some(target) = web_url(action) else {
        return Error::InvalidRequest(
            "The redirect URI of this client is not an http or https URL, so response_mode=form_post cannot be used with it.".into(),
        )
        .into_response();
    };
    let nonce = nonce();
    let mut inputs = String::new();
    for (name, value) in params {
        inputs.push_str(&format!(
            "\n      <input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(value)
        ));
    }
    let body = format!(
        "<html>\n   <head>\n      <title>Submit This Form</title>\n   </head>\n   <body>\n      <form method=\"post\" action=\"{action}\">{inputs}\n      <noscript><button type=\"submit\">Continue</button></noscript>\n      </form>\n      <script nonce=\"{nonce}\">document.forms[0].submit();</script>\n   </body>\n</html>",
        action = escape(action),
    );
    let csp = format!(
        "{CSP_BASE}; script-src 'nonce-{nonce}'; form-action {}",
        csp_source(&target)
    );
    page("text/html;charset=UTF-8", &csp, body)
}

/// The script of the front-channel logout page: redirect to the body's `data-redirect` once
/// every iframe loaded, or after 7 s (Hydra's page). Fixed text: nothing is interpolated.
const FRONTCHANNEL_SCRIPT: &str = r#"(function () {
  var target = document.body.getAttribute("data-redirect");
  var frames = document.getElementsByTagName("iframe");
  var loaded = 0;
  var done = false;
  function redirect() { if (!done && target) { done = true; window.location.replace(target); } }
  function onLoaded() { loaded++; if (loaded >= frames.length) { redirect(); } }
  for (var i = 0; i < frames.length; i++) { frames[i].onload = onLoaded; }
  setTimeout(redirect, 7000);
})();"#;

/// Hydra's front-channel logout page: one hidden iframe per URL, then a redirect to
/// `redirect_to`. URLs that are not http(s) are left out; without a usable `redirect_to` the
/// page only says that the logout is done. `frame-src` allows only the frames' origins.
pub fn frontchannel_logout(urls: &[String], redirect_to: &str) -> Response {
    let frames: Vec<(&String, url::Url)> = urls
        .iter()
        .filter_map(|u| web_url(u).map(|p| (u, p)))
        .collect();
    let redirect = web_url(redirect_to).map(|_| escape(redirect_to));
    let nonce = nonce();
    let iframes: String = frames
        .iter()
        .map(|(u, _)| format!("<iframe src=\"{}\" hidden></iframe>\n", escape(u)))
        .collect();
    let (body_attr, noscript) = match &redirect {
        Some(href) => (
            format!(" data-redirect=\"{href}\""),
            format!("<noscript>\n<p>JavaScript is required for this page to work properly. Please enable JavaScript and <a href=\"{href}\">click here to continue</a>.</p>\n</noscript>\n"),
        ),
        None => (
            String::new(),
            "<p>You have been logged out.</p>\n".to_string(),
        ),
    };
    let body = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"UTF-8\">\n<title>Logging out...</title>\n</head>\n<body{body_attr}>\n{iframes}{noscript}<script nonce=\"{nonce}\">\n{FRONTCHANNEL_SCRIPT}\n</script>\n</body>\n</html>\n"
    );
    let mut sources: Vec<String> = frames.iter().map(|(_, p)| csp_source(p)).collect();
    sources.sort();
    sources.dedup();
    let frame_src = if sources.is_empty() {
        "'none'".to_string()
    } else {
        sources.join(" ")
    };
    let csp = format!(
        "{CSP_BASE}; script-src 'nonce-{nonce}'; frame-src {frame_src}; form-action 'none'"
    );
    page("text/html; charset=utf-8", &csp, body)
}

/// A page that only shows `text` (the fallback UIs): no script at all.
pub fn message(text: &str) -> Response {
    page(
        "text/html; charset=utf-8",
        &format!("{CSP_BASE}; form-action 'none'"),
        format!("<html><body><h1>{}</h1></body></html>", escape(text)),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    fn header_of(r: &Response, name: HeaderName) -> String {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    async fn text(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn nonce_of(csp: &str) -> String {
        let start = csp.find("'nonce-").unwrap() + 7;
        csp[start..start + csp[start..].find('\'').unwrap()].to_string()
    }

    #[tokio::test]
    async fn form_post_escapes_every_value_and_allows_only_its_target() {
        let action = "https://rp.example/cb?x=\"><script>alert(1)</script>";
        let r = form_post(action, &[&("state", "'\"><img src=x onerror=alert(2)>")]);
        assert_eq!(r.status(), 200);
        let csp = header_of(&r, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("form-action https://rp.example"), "{csp}");
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header_of(&r, header::REFERRER_POLICY), "no-referrer");
        let nonce = nonce_of(&csp);
        let body = text(r).await;
        assert!(body.contains(
            "action=\"https://rp.example/cb?x=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""
        ));
        assert!(body.contains("value=\"&#39;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;\""));
        assert!(!body.contains("<script>"), "{body}");
        assert_eq!(body.matches("<script").count(), 1);
        assert!(body.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(!body.contains("onload"));
    }

    #[tokio::test]
    async fn form_post_refuses_what_is_not_http() {
        for action in [
            "javascript:alert(1)",
            "JaVaScRiPt://x/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "com.example.app:/cb",
        ] {
            let r = form_post(action, &[]);
            assert_eq!(r.status(), 400, "{action}");
            assert!(!text(r).await.contains("alert"));
        }
    }

    #[tokio::test]
    async fn frontchannel_page_escapes_urls_and_keeps_the_redirect_out_of_script() {
        let r = frontchannel_logout(
            &[
                "https://a.example/?a=1&b=\"2\"".into(),
                "javascript:alert(3)".into(),
                "https://b.example:8443/fc".into(),
            ],
            "https://rp.example/</script><script>alert(1)</script>",
        );
        let csp = header_of(&r, header::CONTENT_SECURITY_POLICY);
        assert!(
            csp.contains("frame-src https://a.example https://b.example:8443;"),
            "{csp}"
        );
        let nonce = nonce_of(&csp);
        let page = text(r).await;
        assert!(page.contains("<iframe src=\"https://a.example/?a=1&amp;b=&quot;2&quot;\" hidden>"));
        assert_eq!(page.matches("<iframe").count(), 2, "{page}");
        assert!(!page.contains("alert(3)"));
        assert!(!page.contains("</script><script>alert(1)"));
        assert!(page.contains(
            "data-redirect=\"https://rp.example/&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""
        ));
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains(&format!("<script nonce=\"{nonce}\">")));
    }

    #[tokio::test]
    async fn frontchannel_page_without_a_web_redirect_only_says_done() {
        let r = frontchannel_logout(&["https://a.example/fc".into()], "javascript:alert(1)");
        let page = text(r).await;
        assert!(!page.contains("alert"));
        assert!(!page.contains("data-redirect="));
        assert!(page.contains("You have been logged out."));
    }

    #[test]
    fn csp_sources_are_origins_or_schemes() {
        let s = |u: &str| csp_source(&url::Url::parse(u).unwrap());
        assert_eq!(s("https://rp.example/cb?x=1"), "https://rp.example");
        assert_eq!(s("http://127.0.0.1:8080/cb"), "http://127.0.0.1:8080");
        assert_eq!(s("http://[::1]:8080/cb"), "http:");
    }

    #[tokio::test]
    async fn message_pages_have_no_script_and_the_headers() {
        let r = message("a <b> c");
        let csp = header_of(&r, header::CONTENT_SECURITY_POLICY);
        assert!(!csp.contains("script-src"));
        assert!(text(r).await.contains("a &lt;b&gt; c"));
    }
}
