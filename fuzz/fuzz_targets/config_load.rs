//! Fuzz target: the config loader on arbitrary documents must return a config or errors,
//! never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = quartet::config::Loader::new().text(text).dev(true).load();
    }
});
