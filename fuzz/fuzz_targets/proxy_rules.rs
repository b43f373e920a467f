//! Fuzzes the access-rule front end (`quartet::proxy`): repository documents (JSON or YAML)
//! and `match.url` patterns with both matching strategies decode, compile and match or fail
//! with a message, never panic or hang (`common/properties.rs`). Seeded from
//! `fuzz/seeds/proxy_rules`.
#![no_main]

#[path = "common/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        properties::rules(text);
    }
});
