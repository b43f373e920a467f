//! Outbound HTTP to URLs that API callers chose rather than the operator (an OAuth 2.0 client's
//! `jwks_uri`, `request_uri`, `sector_identifier_uri`, `backchannel_logout_uri`; web hooks later):
//! Ory's `clients.http.disallow_private_ip_ranges` guard, with each connection pinned to the
//! addresses that were checked (no second DNS answer can swap them), redirects capped and each
//! target checked again, the body read up to a cap, and the whole exchange under one timeout.
//! URLs from the operator's own config (token hooks, Kratos' admin URL) do not come here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use url::Url;

/// How long one outbound exchange (every redirect and the whole body) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many redirects a GET follows; a POST follows none.
pub const MAX_REDIRECTS: usize = 5;

/// What the operator configured: Ory's `clients.http.*`.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    /// Refuse every address that is not globally routable (Ory's default: `false`).
    pub disallow_private_ip_ranges: bool,
    /// URLs exempt from the check: an exact, case-sensitive match of the whole URL (as Ory).
    pub private_ip_exception_urls: Vec<String>,
    /// See [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            disallow_private_ip_ranges: false,
            private_ip_exception_urls: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why an outbound request was refused or failed; the text names the reason for a person.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("'{0}' is not an absolute http or https URL")]
    BadUrl(String),
    #[error("the host '{host}' could not be resolved: {reason}")]
    Resolve { host: String, reason: String },
    #[error("the host '{host}' resolves to {ip}, an internal address (loopback, private, link-local, unique-local, unspecified, multicast or shared), and clients.http.disallow_private_ip_ranges forbids calling it")]
    InternalAddress { host: String, ip: IpAddr },
    #[error("the server redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
    #[error("the server redirected without a usable Location header")]
    BadRedirect,
    #[error("the server did not answer within {} seconds", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the response body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Transport(String),
}

/// An answer: its status and (for a GET) its body.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub body: Bytes,
}

/// The guarded client; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    policy: OutboundPolicy,
    /// Used for URLs the policy does not guard (no pinning needed): connections are reused.
    shared: reqwest::Client,
}

fn builder() -> reqwest::ClientBuilder {
    let base = match crate::crypto::tls::http_client_builder() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "outbound TLS settings; using reqwest's defaults");
            reqwest::Client::builder()
        }
    };
    base.redirect(reqwest::redirect::Policy::none())
}

impl Outbound {
    pub fn new(policy: OutboundPolicy) -> Outbound {
        let shared = builder()
            .connect_timeout(policy.timeout)
            .build()
            .unwrap_or_default();
        Outbound {
            inner: Arc::new(Inner { policy, shared }),
        }
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.inner.policy
    }

    /// Whether `url` is to be checked: the guard is on and the URL is not an exception.
    fn guards(&self, url: &str) -> bool {
        let p = &self.inner.policy;
        p.disallow_private_ip_ranges && !p.private_ip_exception_urls.iter().any(|e| e == url)
    }

    /// The check alone, as Hydra runs it when a client is written: `url` must be an http(s)
    /// URL and, when guarded, every address its host resolves to must be public.
    pub async fn check(&self, url: &str) -> Result<(), OutboundError> {
        let parsed = parse(url)?;
        if self.guards(url) {
            public_addresses(&parsed).await?;
        }
        Ok(())
    }

    /// GETs `url`, following up to [`MAX_REDIRECTS`] redirects (each checked), reading at most
    /// `limit` bytes of the final body.
    pub async fn get(&self, url: &str, limit: usize) -> Result<Fetched, OutboundError> {
        let timeout = self.inner.policy.timeout;
        tokio::time::timeout(timeout, self.get_inner(url, limit))
            .await
            .map_err(|_| OutboundError::Timeout(timeout))?
    }

    async fn get_inner(&self, url: &str, limit: usize) -> Result<Fetched, OutboundError> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let target = parse(&current)?;
            let client = self.client_for(&current, &target).await?;
            let response = client
                .request(Method::GET, target.clone())
                .send()
                .await
                .map_err(transport)?;
            if response.status().is_redirection() && response.status() != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(OutboundError::BadRedirect)?;
                let next = target
                    .join(location)
                    .map_err(|_| OutboundError::BadRedirect)?;
                current = next.to_string();
                continue;
            }
            let status = response.status();
            let body = read_capped(response, limit).await?;
            return Ok(Fetched { status, body });
        }
        Err(OutboundError::TooManyRedirects)
    }

    /// POSTs `form` to `url` (no redirects followed); the answer's body is not read.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Fetched, OutboundError> {
        let timeout = self.inner.policy.timeout;
        let exchange = async {
            let target = parse(url)?;
            let client = self.client_for(url, &target).await?;
            let response = client
                .post(target)
                .form(form)
                .send()
                .await
                .map_err(transport)?;
            Ok(Fetched {
                status: response.status(),
                body: Bytes::new(),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| OutboundError::Timeout(timeout))?
    }

    /// The shared client for an unguarded URL; for a guarded one, a client whose only route to
    /// the host is the addresses just checked.
    async fn client_for(&self, raw: &str, url: &Url) -> Result<reqwest::Client, OutboundError> {
        if !self.guards(raw) {
            return Ok(self.inner.shared.clone());
        }
        let addrs = public_addresses(url).await?;
        let mut b = builder().connect_timeout(self.inner.policy.timeout);
        if let Some(url::Host::Domain(domain)) = url.host() {
            b = b.resolve_to_addrs(domain, &addrs);
        }
        b.build()
            .map_err(|e| OutboundError::Transport(format!("building the HTTP client: {e}")))
    }
}

fn transport(e: reqwest::Error) -> OutboundError {
    let e = e.without_url();
    // reqwest's own text is terse ("error sending request"); the cause says what happened.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    OutboundError::Transport(text)
}

fn parse(url: &str) -> Result<Url, OutboundError> {
    Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| OutboundError::BadUrl(url.to_string()))
}

/// Every address `url`'s host resolves to (or its literal address), all of them public; one
/// internal address refuses the host (as Ory's `ipx.AreAllAssociatedIPsAllowed`).
async fn public_addresses(url: &Url) -> Result<Vec<SocketAddr>, OutboundError> {
    let port = url.port_or_known_default().unwrap_or(443);
    let (host, addrs): (String, Vec<SocketAddr>) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Domain(d)) => {
            let found =
                tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|e| OutboundError::Resolve {
                        host: d.to_string(),
                        reason: e.to_string(),
                    })?;
            (d.to_string(), found.collect())
        }
        None => return Err(OutboundError::BadUrl(url.to_string())),
    };
    if addrs.is_empty() {
        return Err(OutboundError::Resolve {
            host,
            reason: "no addresses".into(),
        });
    }
    if let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(OutboundError::InternalAddress { host, ip: bad.ip() });
    }
    Ok(addrs)
}

/// Whether `ip` is anything but a globally routable unicast address: unspecified, loopback,
/// private (RFC 1918), shared (CGNAT, RFC 6598), link-local, IETF protocol assignments,
/// benchmarking, multicast, reserved or broadcast; for IPv6 also unique-local, site-local,
/// discard-only, and an IPv4 address embedded (mapped, compatible, NAT64, 6to4) is judged as
/// IPv4.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", incl. 0.0.0.0
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast, reserved, broadcast
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        // ::, ::1 and the deprecated IPv4-compatible addresses.
        return ip.is_unspecified() || ip.is_loopback() || is_internal_v4(tail_v4(&s));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(tail_v4(&s)); // NAT64
    }
    if s[0] == 0x2002 {
        let embedded = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_internal_v4(embedded); // 6to4
    }
    (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || s[..4] == [0x100, 0, 0, 0] // discard-only
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
}

fn tail_v4(s: &[u16; 8]) -> Ipv4Addr {
    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)
}

/// Reads at most `limit` bytes, stopping (and refusing) as soon as the body grows past it.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, OutboundError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(OutboundError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(OutboundError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn internal(s: &str) -> bool {
        is_internal(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_recognised_in_both_families() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.8.8.8",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(internal(ip), "{ip} is internal");
        }
        for ip in [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::",
        ] {
            assert!(!internal(ip), "{ip} is public");
        }
    }

    fn guarded(exceptions: &[&str]) -> Outbound {
        Outbound::new(OutboundPolicy {
            disallow_private_ip_ranges: true,
            private_ip_exception_urls: exceptions.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(2),
        })
    }

    #[tokio::test]
    async fn the_guard_refuses_loopback_literals_and_names_unless_excepted() {
        let g = guarded(&["http://127.0.0.1:9/allowed"]);
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://[::ffff:127.0.0.1]:9/x",
            "http://localhost:9/x",
        ] {
            let err = g.check(url).await.unwrap_err();
            assert!(
                matches!(err, OutboundError::InternalAddress { .. }),
                "{url}: {err}"
            );
            assert!(err.to_string().contains("disallow_private_ip_ranges"));
        }
        g.check("http://127.0.0.1:9/allowed").await.unwrap();
        assert!(matches!(
            g.check("javascript:alert(1)").await,
            Err(OutboundError::BadUrl(_))
        ));
        // off by default, as Ory
        Outbound::new(OutboundPolicy::default())
            .check("http://127.0.0.1:9/x")
            .await
            .unwrap();
    }

    /// A one-shot server: answers every connection with `reply` (raw HTTP).
    async fn server(reply: &'static [u8]) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(reply).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn redirects_are_checked_again_and_capped() {
        let to_loopback = server(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let url = format!("{to_loopback}/start");
        // the first hop is excepted, the redirect target is not
        let g = guarded(&[url.as_str()]);
        let err = g.get(&url, 1024).await.unwrap_err();
        assert!(
            matches!(err, OutboundError::InternalAddress { .. }),
            "{err}"
        );
        let looping =
            server(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n").await;
        let open = Outbound::new(OutboundPolicy::default());
        let err = open.get(&looping, 1024).await.unwrap_err();
        assert!(matches!(err, OutboundError::TooManyRedirects), "{err}");
    }

    #[tokio::test]
    async fn bodies_are_capped_and_slow_servers_time_out() {
        let big = server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789").await;
        let open = Outbound::new(OutboundPolicy::default());
        let err = open.get(&big, 10).await.unwrap_err();
        assert!(matches!(err, OutboundError::TooLarge(10)), "{err}");
        let ok = open.get(&big, 100).await.unwrap();
        assert_eq!(ok.body.len(), 100);

        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s); // never answers
            }
        });
        let slow = Outbound::new(OutboundPolicy {
            timeout: Duration::from_millis(200),
            ..OutboundPolicy::default()
        });
        let err = slow.get(&format!("http://{addr}/"), 10).await.unwrap_err();
        assert!(matches!(err, OutboundError::Timeout(_)), "{err}");
    }
}
