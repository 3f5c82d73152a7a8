//! Meta's webhook: `GET` answers the verification challenge, `POST` checks the
//! signature, stores the raw delivery durably (through the group commit of
//! [`ingest`](crate::webhook::ingest)) and answers 200; processing follows in
//! [`process`](crate::webhook::process), never in the request.

pub mod actions;
pub mod ingest;
pub mod process;
pub mod words;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::http::AppError;
use crate::store::Inserted;
use crate::whatsapp::signature;
use ingest::Ingest;

pub const PATH: &str = "/webhooks/whatsapp";
/// Meta's largest webhook body; anything larger is refused with 413 before it is read
/// whole.
pub const MAX_BODY: usize = 3 * 1024 * 1024;
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

#[derive(Clone, Debug)]
pub struct WebhookState {
    /// The inbox writer (which also wakes the processor).
    pub inbox: Ingest,
    pub clock: Clock,
    /// Without it every delivery is refused: nothing unsigned is ever stored.
    pub app_secret: Option<SecretString>,
    pub verify_token: Option<SecretString>,
}

pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route(PATH, get(verify).post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Meta's subscription check: the challenge back when the token matches.
async fn verify(
    State(state): State<WebhookState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, AppError> {
    let Some(expected) = &state.verify_token else {
        warn!("webhook verification attempted, but whatsapp.verify_token is not set");
        return Err(AppError::Forbidden("verification is not configured"));
    };
    let given = query.get("hub.verify_token").map(String::as_str).unwrap_or_default();
    let matches: bool = given.as_bytes().ct_eq(expected.expose_secret().as_bytes()).into();
    if query.get("hub.mode").map(String::as_str) != Some("subscribe") || !matches {
        warn!("webhook verification refused: wrong mode or token");
        return Err(AppError::Forbidden("verification failed"));
    }
    info!("webhook verified by Meta");
    Ok(query.get("hub.challenge").cloned().unwrap_or_default())
}

/// A delivery: verified over the raw bytes, stored, acknowledged.
async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let Some(secret) = &state.app_secret else {
        warn!("webhook refused: whatsapp.app_secret is not set, so no signature can be checked");
        return Err(AppError::Unauthorized("invalid signature"));
    };
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(secret.expose_secret().as_bytes(), &body, header) {
        warn!(error = %e, bytes = body.len(), "webhook refused: signature");
        return Err(AppError::Unauthorized("invalid signature"));
    }
    // Never 200 without a durable write: a store error (or a writer stopped for
    // shutdown) is a 503, and Meta retries.
    let bytes = body.len();
    match state.inbox.store(body, state.clock.now()).await {
        Ok(Inserted::New(id)) => debug!(inbox.id = id, bytes, "webhook stored"),
        Ok(Inserted::Duplicate) => debug!("webhook redelivered; stored before"),
        Err(e) => return Err(AppError::Unavailable(e.into())),
    }
    Ok(StatusCode::OK)
}
