//! Fuzzes the Go-template subset of the proxy's mutators and authorizers
//! (`quartet::proxy::template`): any text parses or fails with a message, and a parsed template
//! executes to a string or an error, never a panic (`common/properties.rs`). Seeded from
//! `fuzz/seeds/proxy_template`.
#![no_main]

#[path = "common/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        properties::template(text);
    }
});
