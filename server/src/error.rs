//! The one error type of the server's services. A client error carries the stable code and the
//! message the client sees; a server fault is logged in full and reaches the client as
//! `internal` or `unavailable`. The HTTP status is chosen once, in `http::error`.

use mumu_shared::{ErrorBody, ErrorCode};

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller did something wrong; `message` tells them what.
    #[error("{code}: {message}")]
    Client {
        /// The stable code.
        code: ErrorCode,
        /// For people.
        message: String,
        /// For `rate_limited`: seconds until a retry can succeed.
        retry_after_s: Option<u64>,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// Anything else that should not happen.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Service results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A client error with this code.
    pub fn client(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Client {
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// A field failed validation.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Validation, message)
    }

    /// Missing or wrong credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Unauthorized, message)
    }

    /// Not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Forbidden, message)
    }

    /// Nothing by that name (for this caller).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::NotFound, message)
    }

    /// Clashes with existing state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Conflict, message)
    }

    /// Too many attempts; retry after this many seconds.
    pub fn rate_limited(what: &str, retry_after_s: u64) -> Self {
        Self::Client {
            code: ErrorCode::RateLimited,
            message: format!("too many {what}; try again in {retry_after_s} s"),
            retry_after_s: Some(retry_after_s),
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } => *code,
            Self::Database(_) | Self::Redis(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the client is told. Faults are logged here, once, with their detail; the client
    /// gets no internals.
    pub fn to_body(&self) -> ErrorBody {
        match self {
            Self::Client { code, message, .. } => ErrorBody::new(*code, message.clone()),
            fault => {
                tracing::error!(error = %fault, "request failed");
                let message = match fault.code() {
                    ErrorCode::Unavailable => {
                        "a service the server depends on is unavailable; try again"
                    }
                    _ => "internal error; it has been logged",
                };
                ErrorBody::new(fault.code(), message)
            }
        }
    }
}

/// Whether a database error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
