//! The one error shape of the API: `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use ppu_protocol::api::{ErrorBody, ErrorDetail};

/// An API error: HTTP status, stable code, human message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message, lowercase, no trailing punctuation.
    pub message: String,
    /// Seconds for `Retry-After` (503 only).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404: the object does not exist (or is not the caller's).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409 with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 500 for a database error; the detail goes to the log, not to the client.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error, see the hub's log",
        )
    }

    /// 503 for a database that does not answer, so clients retry.
    pub fn database(err: sea_orm::DbErr) -> Self {
        tracing::error!(error = %err, "database error");
        Self::unavailable(
            "storage_unavailable",
            "the database is not available, retry later",
            5,
        )
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::database(err)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        resp.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        })
    }
}

/// Extractor error handlers that speak the same shape.
pub mod extractors {
    use actix_web::{HttpRequest, error};

    use super::ApiError;

    /// JSON body errors.
    pub fn json(err: error::JsonPayloadError, _req: &HttpRequest) -> error::Error {
        let api = match &err {
            error::JsonPayloadError::ContentType => ApiError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected content-type application/json",
            ),
            error::JsonPayloadError::Overflow { .. }
            | error::JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "request body too large",
            ),
            other => {
                ApiError::bad_request("invalid_json", format!("invalid request body: {other}"))
            }
        };
        api.into()
    }

    /// Path parameter errors.
    pub fn path(err: error::PathError, _req: &HttpRequest) -> error::Error {
        ApiError::bad_request("invalid_path", format!("invalid path parameter: {err}")).into()
    }

    /// Query string errors.
    pub fn query(err: error::QueryPayloadError, _req: &HttpRequest) -> error::Error {
        ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
    }
}
