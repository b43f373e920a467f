//! Fuzzes the query-string reading of the permission role's read port
//! (`quartet::permission::http::Query`): any query string parses, and its subject, filter and
//! `max-depth` are read or refused with a 400-style error, never a panic. Seeded from
//! `fuzz/seeds/permission_query`.
#![no_main]

use quartet::permission::http::Query;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let q = Query::parse(Some(raw));
    let _ = q.subject();
    let _ = q.filter();
    if let Ok(Some(depth)) = q.max_depth() {
        // the engine clamps whatever was asked to its configured maximum
        let d = quartet::permission::engine::effective_depth(Some(depth), 5);
        assert!((1..=5).contains(&d));
    }
    let _ = q.keys().count();
});
