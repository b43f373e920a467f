//! Fuzzes the relation-tuple parsers (`quartet::permission`): Keto's text form
//! `ns:obj#rel@subject` and the import file (a JSON array or text lines) parse or fail, never
//! panic, and plain tuples round-trip through their text form (`common/properties.rs`).
//! Seeded from `fuzz/seeds/permission_tuples`.
#![no_main]

#[path = "common/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        properties::tuples(text);
    }
});
