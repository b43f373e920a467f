//! Fuzzes Go's `html/template` on the kernel's template engine
//! (`quartet::template::Template::parse_html`): any text parses or fails with a message and a
//! parsed template executes against hostile data to a string or an error, never a panic; and
//! as data, the text is escaped in every HTML context so that it cannot end that context, a
//! URL with an unsafe scheme becoming `#ZgotmplZ` (`common/properties.rs`). Seeded from
//! `fuzz/seeds/html_template`.
#![no_main]

#[path = "common/properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        properties::html_template(text);
    }
});
