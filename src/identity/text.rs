//! Kratos' UI messages (`{id, text, type, context}`) with their numeric ids, as the
//! self-service UIs and SDKs key on the ids rather than the English text.

use serde::Serialize;
use serde_json::{json, Value};

/// One UI message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiText {
    pub id: u32,
    pub text: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub context: Value,
}

impl UiText {
    pub fn error(id: u32, text: impl Into<String>, context: Value) -> Self {
        Self {
            id,
            text: text.into(),
            kind: "error",
            context,
        }
    }
    pub fn info(id: u32, text: impl Into<String>, context: Value) -> Self {
        Self {
            id,
            text: text.into(),
            kind: "info",
            context,
        }
    }
    pub fn success(id: u32, text: impl Into<String>) -> Self {
        Self {
            id,
            text: text.into(),
            kind: "success",
            context: json!({}),
        }
    }

    pub fn invalid_credentials() -> Self {
        Self::error(
            4000006,
            "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.",
            json!({}),
        )
    }
    pub fn duplicate_identifier() -> Self {
        Self::error(
            4000007,
            "An account with the same identifier (email, phone, username, ...) exists already.",
            json!({}),
        )
    }
    pub fn flow_expired(id: u32, expired_at: &str) -> Self {
        Self::error(
            id,
            format!("The self-service flow expired at {expired_at}, please try again."),
            json!({ "expired_at": expired_at }),
        )
    }
    pub fn missing(property: &str) -> Self {
        Self::error(
            4000002,
            format!("Property {property} is missing."),
            json!({ "property": property }),
        )
    }
    pub fn settings_saved() -> Self {
        Self::success(1050001, "Your changes have been saved!")
    }
    pub fn too_many_attempts(wait_seconds: u64) -> Self {
        Self::error(
            4000001,
            format!("Too many failed sign-in attempts; try again in {wait_seconds} seconds."),
            json!({ "reason": "too many failed attempts", "retry_after_seconds": wait_seconds }),
        )
    }
    pub fn label(id: u32, text: &str) -> Self {
        Self::info(id, text, json!({}))
    }
}
