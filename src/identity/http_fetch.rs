//! Outbound HTTP GET for configuration documents that Kratos loads by URL (identity schemas
//! at `http(s)://`), with a timeout and a size cap.

use std::time::Duration;

const MAX_BYTES: usize = 1024 * 1024;

/// Fetches `url` and returns its body as text; non-2xx statuses are errors.
pub async fn get_text(url: &str) -> Result<String, String> {
    let client = crate::crypto::tls::http_client(Duration::from_secs(10))?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("GET {url} answered {}", response.status()));
    }
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_BYTES {
        return Err(format!("{url} is larger than {MAX_BYTES} bytes"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{url} is not UTF-8"))
}
