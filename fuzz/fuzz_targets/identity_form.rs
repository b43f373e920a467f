//! Fuzzes the identity role's form decoding (`quartet::identity::limits::expand_form`), which
//! turns dotted keys (`traits.email`) of self-service form bodies into nested objects: any
//! bytes expand or are refused with a message, never a panic or a stack overflow, and what
//! they expand to holds at most `MAX_FORM_FIELDS` fields nested at most `MAX_KEY_SEGMENTS`
//! deep. Seeded from `fuzz/seeds/identity_form`.
#![no_main]

use quartet::identity::limits::{depth, expand_form, MAX_FORM_FIELDS, MAX_KEY_SEGMENTS};
use serde_json::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = expand_form(data) {
        assert!(fields.len() <= MAX_FORM_FIELDS);
        let expanded = Value::Object(fields);
        assert!(depth(&expanded, MAX_KEY_SEGMENTS + 1) <= MAX_KEY_SEGMENTS);
    }
});
