//! What an admin request answers: [`AdminResponse`], for the adapter to write.

use serde_json::{Value, json};

/// A response from [`Admin::handle`](crate::Admin::handle), for the adapter to write.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Extra headers (e.g. `WWW-Authenticate` on a 401).
    pub headers: Vec<(&'static str, &'static str)>,
}

impl AdminResponse {
    pub(super) fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: value.to_string(),
            headers: Vec::new(),
        }
    }

    pub(super) fn error(status: u16, message: impl Into<String>) -> Self {
        Self::json(status, &json!({ "error": message.into() }))
    }
}
