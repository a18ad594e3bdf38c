//! The HTTP requests an app answers on its `/api` routes.

use serde_json::Value;

/// An HTTP request handed to [`crate::App::on_request`].
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The request body (at most 64 KiB).
    pub body: Vec<u8>,
}

/// The answer to an [`ApiRequest`]: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// The methods the route takes, sent as `Allow` (set by [`ApiResponse::wrong_method`]).
    pub allow: Option<&'static str>,
}

impl ApiResponse {
    /// `200` with `body`.
    pub fn ok(body: Value) -> Self {
        ApiResponse { status: 200, body, allow: None }
    }

    /// `status` with `{"ok":false,"error":message}`.
    pub fn error(status: u16, message: &str) -> Self {
        ApiResponse { status, body: serde_json::json!({"ok": false, "error": message}), allow: None }
    }

    /// `405` for a method the route does not take, with `Allow: allow`
    /// (`"GET, HEAD"`) and `{"ok":false,"error":message}`.
    pub fn wrong_method(allow: &'static str, message: &str) -> Self {
        ApiResponse { allow: Some(allow), ..ApiResponse::error(405, message) }
    }
}
