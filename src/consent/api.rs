//! `POST /api/consents`: a booking site (or another system of the practice) records an
//! opt-in or opt-out. Authenticated by a bearer token from the config
//! (`consent.api_token`), compared in constant time; without a token the route does not
//! exist. The API and the staff report share nothing but the store.
//!
//! ```json
//! { "phone": "06-12345678", "channel": "whatsapp", "status": "opted_in",
//!   "evidence": "booking 2026-1187, checkbox 'herinneringen via WhatsApp'",
//!   "recorded_by": "boekingssite" }
//! ```
//!
//! 201 with the record; 400 naming what is wrong; 401 without the right token; 503
//! when the store is down (retry).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::ConsentInput;
use crate::clock::Clock;
use crate::domain::phone::mask;
use crate::domain::{Consent, ConsentMethod, Region, consent::SCOPE_REMINDERS};
use crate::http::AppError;
use crate::store::Store;

pub const PATH: &str = "/api/consents";
/// A consent is a few hundred bytes; anything much larger is not one.
const MAX_BODY: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Store,
    pub clock: Clock,
    pub token: SecretString,
    pub region: Region,
}

/// The route, when a token is configured.
pub fn router(state: Option<ApiState>) -> Router {
    match state {
        None => Router::new(),
        Some(state) => Router::new()
            .route(PATH, post(record))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
            .with_state(state),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    phone: Option<String>,
    email: Option<String>,
    channel: Option<String>,
    status: String,
    evidence: Option<String>,
    /// Who recorded it (the booking site's name); `api` by default.
    recorded_by: Option<String>,
}

async fn record(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let matches: bool = given.as_bytes().ct_eq(state.token.expose_secret().as_bytes()).into();
    if !matches {
        warn!("consent API: missing or wrong bearer token");
        return Err(AppError::Unauthorized("a valid bearer token is required"));
    }
    let body: Body = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is not a consent: {e}")))?;
    let input = ConsentInput {
        phone: body.phone.as_deref().filter(|p| !p.trim().is_empty()),
        email: body.email.as_deref().filter(|e| !e.trim().is_empty()),
        channel: body.channel.as_deref(),
        status: Some(&body.status),
        evidence: body.evidence.as_deref(),
    };
    if input.phone.is_none() && input.email.is_none() {
        return Err(AppError::BadRequest("give a phone number or an e-mail address".into()));
    }
    let mut consent =
        input.check(state.region, ConsentMethod::Api).map_err(AppError::BadRequest)?;
    consent.recorded_by = body.recorded_by.unwrap_or_else(|| "api".into());
    let now = state.clock.now();
    let id = state.store.record_consent(&consent, now).await?;
    info!(consent.id = id, channel = %consent.channel, status = %consent.status,
          customer = %consent.phone.as_deref().map(mask).unwrap_or_else(|| "(e-mail)".into()),
          "consent recorded through the API");
    let record = Consent {
        id,
        phone: consent.phone,
        email: consent.email,
        channel: consent.channel,
        scope: SCOPE_REMINDERS.into(),
        status: consent.status,
        method: consent.method,
        evidence: consent.evidence,
        recorded_at: now,
        recorded_by: consent.recorded_by,
    };
    Ok((StatusCode::CREATED, axum::Json(record)))
}
