//! Access-rule repositories: `file://` files and directories (polled for changes, hot
//! reload), `inline://` and `base64://` documents, `http(s)://` URLs fetched once at start.
//! Each source is decoded on its own; a source that fails to read or decode keeps its last good
//! rules, and an invalid rule keeps its last good version (or is left out) without touching
//! the others.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;

use super::http_client::HttpClient;

/// One configured repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Dir(PathBuf),
    Inline(String),
    Remote(String),
}

impl Source {
    pub fn parse(location: &str) -> Result<Source, String> {
        if let Some(b) = location
            .strip_prefix("inline://")
            .or_else(|| location.strip_prefix("base64://"))
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(b.trim()))
                .map_err(|e| format!("{}: not valid base64: {e}", short(location)))?;
            let text =
                String::from_utf8(raw).map_err(|_| format!("{}: not UTF-8", short(location)))?;
            return Ok(Source::Inline(text));
        }
        if location.starts_with("http://") || location.starts_with("https://") {
            return Ok(Source::Remote(location.to_string()));
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(format!(
                "{location}: unsupported repository scheme (file, inline, base64, http, https)"
            ));
        }
        let path = PathBuf::from(location.strip_prefix("file://").unwrap_or(location));
        if path.is_dir() {
            Ok(Source::Dir(path))
        } else {
            Ok(Source::File(path))
        }
    }

    /// A stable key naming this source in logs and the rule set.
    pub fn key(&self) -> String {
        match self {
            Source::File(p) | Source::Dir(p) => format!("file://{}", p.display()),
            Source::Inline(t) => format!("inline://({} bytes)", t.len()),
            Source::Remote(u) => u.clone(),
        }
    }
}

fn short(location: &str) -> String {
    location.chars().take(32).collect::<String>() + "…"
}

/// The documents of a source: (document name, text) each, or why it could not be read.
pub async fn read(source: &Source, http: &HttpClient) -> Result<Vec<(String, String)>, String> {
    match source {
        Source::Inline(text) => Ok(vec![(source.key(), text.clone())]),
        Source::File(p) => std::fs::read_to_string(p)
            .map(|t| vec![(p.display().to_string(), t)])
            .map_err(|e| format!("{}: {e}", p.display())),
        Source::Dir(dir) => {
            let mut out = Vec::new();
            for file in dir_files(dir)? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                out.push((file.display().to_string(), text));
            }
            Ok(out)
        }
        Source::Remote(u) => {
            let url = url::Url::parse(u).map_err(|e| format!("{u}: {e}"))?;
            let resp = tokio::time::timeout(
                std::time::Duration::from_secs(15),
                http.send(super::http_client::OutboundRequest {
                    method: axum::http::Method::GET,
                    url,
                    headers: Default::default(),
                    body: Default::default(),
                }),
            )
            .await
            .map_err(|_| format!("{u}: timed out after 15s"))?
            .map_err(|e| format!("{u}: {e}"))?;
            if resp.status != 200 {
                return Err(format!("{u}: expected status 200 but got {}", resp.status));
            }
            Ok(vec![(
                u.clone(),
                String::from_utf8_lossy(&resp.body).into_owned(),
            )])
        }
    }
}

fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("json" | "yaml" | "yml")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// What a file source looks like on disk now; a change means "reload".
pub fn fingerprint(source: &Source) -> Option<Vec<(PathBuf, Option<SystemTime>, u64)>> {
    let stat = |p: &Path| {
        let m = std::fs::metadata(p).ok();
        (
            p.to_path_buf(),
            m.as_ref().and_then(|m| m.modified().ok()),
            m.map(|m| m.len()).unwrap_or(0),
        )
    };
    match source {
        Source::File(p) => Some(vec![stat(p)]),
        Source::Dir(d) => Some(
            dir_files(d)
                .unwrap_or_default()
                .iter()
                .map(|p| stat(p))
                .collect(),
        ),
        Source::Inline(_) | Source::Remote(_) => None,
    }
}
