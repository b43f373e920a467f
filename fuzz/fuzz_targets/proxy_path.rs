//! Fuzzes the proxy's request-path check (`quartet::proxy::forward::checked_path`), which decides
//! whether a raw path may be matched and forwarded: it never panics, and a path it accepts has
//! no segment an upstream could read as `.` or `..` and no empty segment inside, so the path
//! rules match is the path the upstream reads. Seeded from `fuzz/seeds/proxy_path`.
#![no_main]

use quartet::proxy::forward::checked_path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(decoded) = checked_path(raw) else {
        return;
    };
    let segments: Vec<&str> = decoded.split(['/', '\\']).collect();
    for (i, segment) in segments.iter().enumerate() {
        let name = segment.split(';').next().unwrap_or_default().trim_end();
        assert!(
            name.is_empty() || !name.bytes().all(|b| b == b'.'),
            "dot segment accepted: {raw:?}"
        );
        let inner = i > 0 && i + 1 < segments.len();
        assert!(!(inner && segment.is_empty()), "empty segment accepted: {raw:?}");
    }
    assert!(!decoded.contains('\0'), "NUL accepted: {raw:?}");
});
