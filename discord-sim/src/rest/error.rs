//! Discord's JSON error responses (`{code, message, errors}`).

use hyper::StatusCode;
use serde_json::{Value, json};

/// A REST error with Discord's status, code and message.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) errors: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: u32, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            errors: None,
        }
    }

    pub(crate) fn body(&self) -> Value {
        // OAuth2 errors have their own shape: {"error", "error_description"}.
        if let Some(oauth) = self.errors.as_ref().filter(|e| e.get("error").is_some()) {
            return oauth.clone();
        }
        let mut v = json!({"message": self.message, "code": self.code});
        if let Some(errors) = &self.errors {
            v["errors"] = errors.clone();
        }
        v
    }

    /// 404 for a route that does not exist.
    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 0, "404: Not Found")
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
    }

    pub(crate) fn unknown_channel() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10003, "Unknown Channel")
    }

    pub(crate) fn unknown_guild() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10004, "Unknown Guild")
    }

    pub(crate) fn unknown_member() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10007, "Unknown Member")
    }

    pub(crate) fn unknown_message() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10008, "Unknown Message")
    }

    pub(crate) fn unknown_role() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10011, "Unknown Role")
    }

    pub(crate) fn unknown_user() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10013, "Unknown User")
    }

    pub(crate) fn unknown_webhook() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10015, "Unknown Webhook")
    }

    pub(crate) fn unknown_ban() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10026, "Unknown Ban")
    }

    pub(crate) fn unknown_interaction() -> Self {
        Self::new(StatusCode::NOT_FOUND, 10062, "Unknown interaction")
    }

    pub(crate) fn already_acknowledged() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        )
    }

    pub(crate) fn missing_access() -> Self {
        Self::new(StatusCode::FORBIDDEN, 50001, "Missing Access")
    }

    pub(crate) fn missing_permissions() -> Self {
        Self::new(StatusCode::FORBIDDEN, 50013, "Missing Permissions")
    }

    pub(crate) fn empty_message() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        )
    }

    pub(crate) fn invalid_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            50109,
            "The request body contains invalid JSON.",
        )
    }

    /// 50035 Invalid Form Body with one field error.
    pub(crate) fn invalid_field(field: &str, code: &str, message: &str) -> Self {
        let mut errors = json!({});
        let mut cursor = &mut errors;
        for part in field.split('.') {
            cursor = &mut cursor[part];
        }
        *cursor = json!({"_errors": [{"code": code, "message": message}]});
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 50035,
            message: "Invalid Form Body".to_owned(),
            errors: Some(errors),
        }
    }

    /// 50035 for a missing required field.
    pub(crate) fn required(field: &str) -> Self {
        Self::invalid_field(field, "BASE_TYPE_REQUIRED", "This field is required")
    }
}
