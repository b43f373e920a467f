//! The client's address as every role should count it: the peer of the TCP connection, unless
//! that peer is one of the trusted reverse proxies of `http.trusted_proxies` — then the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A header from anyone
//! else is ignored, so that rotating it cannot dodge a per-address limit and setting it cannot
//! pin one on somebody else.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;

/// One network of `http.trusted_proxies`: an address and the length of its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a single address (`192.0.2.1`, `::1`).
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR network"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The parsed `http.trusted_proxies`; empty (the default) trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<Vec<Network>>);

impl TrustedProxies {
    /// Parses the configured entries; the error names the index of the first bad one and why.
    pub fn parse(entries: &[String]) -> Result<Self, (usize, String)> {
        let networks = entries
            .iter()
            .enumerate()
            .map(|(i, e)| Network::parse(e).map_err(|reason| (i, reason)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies(Arc::new(networks)))
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client behind `peer`: `peer` itself unless it is trusted; then, walking
    /// `X-Forwarded-For` from the right, the first entry that is not trusted. An entry that is
    /// no address ends the walk at the last trusted hop (a client could have written it); when
    /// every entry is trusted, the left-most one.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for entry in entries.iter().rev() {
            let Some(ip) = parse_hop(entry) else {
                return client;
            };
            client = ip;
            if !self.is_trusted(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Extracts the client address of a request served with connect info (every listener is);
/// the trusted proxies are the `TrustedProxies` extension the composition root adds, none
/// when it is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Err(ApiError::internal(
                "the listener was served without connection info",
            ));
        };
        let trusted = parts
            .extensions
            .get::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        Ok(ClientIp(trusted.client_ip(peer.ip(), &parts.headers)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn networks_parse_and_bad_entries_are_named() {
        let t = trusted(&["10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "0.0.0.0/0"]);
        assert_eq!(t.0.len(), 4);
        assert!(t.is_trusted(ip("10.200.3.4")));
        assert!(t.is_trusted(ip("2001:db8:1::5")));
        assert!(!trusted(&["10.0.0.0/8"]).is_trusted(ip("11.0.0.1")));
        assert!(!trusted(&["192.0.2.1"]).is_trusted(ip("192.0.2.2")));
        // an IPv4-mapped IPv6 peer is its IPv4 address
        assert!(trusted(&["127.0.0.1/32"]).is_trusted(ip("::ffff:127.0.0.1")));
        let bad = |e: &str| TrustedProxies::parse(&["10.0.0.0/8".into(), e.into()]).unwrap_err();
        assert_eq!(bad("nope").0, 1);
        assert!(bad("nope").1.contains("not an IP address"));
        assert!(bad("10.0.0.0/33").1.contains("0 to 32"));
        assert!(bad("::/129").1.contains("0 to 128"));
        assert!(bad("10.0.0.0/x").1.contains("prefix"));
    }

    #[test]
    fn the_loader_names_a_bad_entry_of_http_trusted_proxies() {
        use crate::config::{ConfigError, Loader};
        let load = |list: &str| {
            Loader::new()
                .dev(true)
                .text(format!("http:\n  trusted_proxies: {list}\n"))
                .load()
        };
        let loaded = load("[10.0.0.0/8, '::1']").unwrap();
        assert_eq!(loaded.config.http.trusted_proxies.len(), 2);
        let errors = load("[10.0.0.0/8, 10.0.0.0/40]").unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| matches!(e, ConfigError::Invalid { path, reason }
                if path == "http.trusted_proxies[1]" && reason.contains("prefix"))),
            "{errors:?}"
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let none = TrustedProxies::default();
        let h = xff(&["198.51.100.9"]);
        assert_eq!(none.client_ip(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(t.client_ip(ip("203.0.113.5"), &h), ip("203.0.113.5"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_entry_counts() {
        let t = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        let peer = ip("127.0.0.1");
        // the client's spoofed left-most entry is skipped
        let h = xff(&["6.6.6.6, 198.51.100.1, 10.1.1.1"]);
        assert_eq!(t.client_ip(peer, &h), ip("198.51.100.1"));
        // several header lines read as one list
        let h = xff(&["6.6.6.6", "198.51.100.2:4711, 10.1.1.1"]);
        assert_eq!(t.client_ip(peer, &h), ip("198.51.100.2"));
        // no header: the proxy itself
        assert_eq!(t.client_ip(peer, &HeaderMap::new()), peer);
        // all trusted: the left-most
        let h = xff(&["10.0.0.7, 10.0.0.8"]);
        assert_eq!(t.client_ip(peer, &h), ip("10.0.0.7"));
        // garbage ends the walk at the last trusted hop
        let h = xff(&["198.51.100.3, garbage, 10.2.2.2"]);
        assert_eq!(t.client_ip(peer, &h), ip("10.2.2.2"));
        let h = xff(&["[2001:db8::1]:80"]);
        assert_eq!(t.client_ip(peer, &h), ip("2001:db8::1"));
    }
}
