//! Errors as HTTP responses: `{ "error": { "code", "message" } }` with the status chosen here,
//! once, from the code.

use crate::error::Error;
use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mumu_shared::{ErrorBody, ErrorCode, ErrorResponse};

/// The HTTP status for an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadMessage
        | ErrorCode::UnknownType
        | ErrorCode::Validation
        | ErrorCode::InvalidPairingCode => StatusCode::BAD_REQUEST,
        ErrorCode::PairingCodeExpired | ErrorCode::PairingCodeUsed => StatusCode::GONE,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::InvitationRequired | ErrorCode::InvitationInvalid => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::NotFound | ErrorCode::SessionNotFound | ErrorCode::DeviceRemoved => {
            StatusCode::NOT_FOUND
        }
        ErrorCode::Conflict | ErrorCode::AlreadyHello | ErrorCode::Replaced => StatusCode::CONFLICT,
        ErrorCode::MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited | ErrorCode::MaxSessions => StatusCode::TOO_MANY_REQUESTS,
        // Push without VAPID keys: the service is not set up here (a lasting answer, not a fault).
        ErrorCode::DeviceOffline | ErrorCode::Unavailable | ErrorCode::PushDisabled => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::UnsupportedProtocol
        | ErrorCode::HelloRequired
        | ErrorCode::HeartbeatTimeout
        | ErrorCode::SlowConsumer => StatusCode::BAD_REQUEST,
        ErrorCode::Internal | ErrorCode::Other => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error on its way out of a handler.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.0.to_body();
        let retry_after = match &self.0 {
            Error::Client {
                retry_after_s: Some(s),
                ..
            } => Some(*s),
            _ => None,
        };
        let mut response = body_response(body);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The response for an error body.
pub fn body_response(body: ErrorBody) -> Response {
    (status_of(body.code), Json(ErrorResponse { error: body })).into_response()
}

/// A JSON body whose rejections (not JSON, wrong shape, too large) are answered in MuMu's error
/// format with a message naming the problem.
#[derive(Debug, FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::MessageTooLarge,
            _ => ErrorCode::BadMessage,
        };
        Self(Error::client(code, rejection.body_text()))
    }
}
