//! What the web modules share: the one error type of the HTTP edge.
//!
//! Each web module (`webhook`, `report`, `ops`) builds its own router with its own
//! state, so each sees only what it needs; `app` merges them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::error;

/// An error at the HTTP edge: 5xx are logged with their cause chain, and the client
/// sees a plain sentence, never internals.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// The store (or another dependency) is down: the caller should retry.
    #[error("temporarily unavailable, please retry")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        AppError::Unavailable(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            let cause: &(dyn std::error::Error + 'static) = &self;
            error!(error.cause_chain = ?anyhow::Error::msg(chain(cause)), %status, "request failed");
        }
        (status, self.to_string()).into_response()
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
