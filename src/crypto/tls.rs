//! Which servers outbound TLS trusts, for every role: the operating system's roots (honouring
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`, as Go's `crypto/x509` does for Ory's binaries) plus the
//! Mozilla roots compiled in, so that a private CA works where the system trusts it and a
//! minimal container without a CA bundle still reaches public servers.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The process's client TLS settings, built on first use (reading the system roots once).
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| build(system_roots()).map(Arc::new))
        .clone()
}

/// A `reqwest` client builder that trusts [`client_config`]'s roots.
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, String> {
    let config = client_config()?;
    Ok(reqwest::Client::builder().use_preconfigured_tls((*config).clone()))
}

/// A `reqwest` client with a whole-request timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    http_client_builder()?
        .timeout(timeout)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

/// Client settings trusting the compiled-in roots and `extra`; TLS 1.2 and 1.3 over *ring*.
fn build(extra: Vec<CertificateDer<'static>>) -> Result<ClientConfig, String> {
    let roots = trusted(extra);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The compiled-in roots and every parsable certificate of `extra`.
fn trusted(extra: Vec<CertificateDer<'static>>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let (added, ignored) = roots.add_parsable_certificates(extra);
    tracing::debug!(added, ignored, "trusted system certificate authorities");
    roots
}

/// The system's roots; a missing or unreadable bundle is logged, never fatal.
fn system_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the system's certificate authorities");
    }
    found.certs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_always_trusted() {
        assert_eq!(
            trusted(Vec::new()).len(),
            webpki_roots::TLS_SERVER_ROOTS.len()
        );
    }

    #[test]
    fn an_unparsable_system_certificate_is_skipped() {
        let junk = CertificateDer::from(vec![0u8; 16]);
        assert_eq!(
            trusted(vec![junk]).len(),
            webpki_roots::TLS_SERVER_ROOTS.len()
        );
    }

    #[test]
    fn reqwest_accepts_the_settings() {
        build(Vec::new()).unwrap();
        http_client(Duration::from_secs(1)).unwrap();
    }
}
