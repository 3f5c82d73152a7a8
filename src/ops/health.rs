//! `/healthz` (the process answers) and `/readyz` (it can do its work: the database
//! answers; with detail on every source, the inbox backlog and the WhatsApp channel,
//! for operators).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;

use crate::scheduler::Dispatcher;
use crate::store::Store;

/// What readiness looks at.
#[derive(Clone, Debug)]
pub struct HealthState {
    pub store: Store,
    /// The configured source names, so a source that never imported shows up too.
    pub sources: Vec<String>,
    /// For the state of the WhatsApp channel.
    pub dispatcher: Dispatcher,
}

pub fn router(state: HealthState) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness: database unavailable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": e.to_string() })),
        );
    }
    let known = state.store.source_states().await.unwrap_or_default();
    let sources: Vec<_> = state
        .sources
        .iter()
        .map(|name| match known.iter().find(|s| &s.source == name) {
            Some(s) => json!({
                "name": name,
                "ok": s.last_error.is_none() && s.last_success_at.is_some(),
                "last_success_at": s.last_success_at,
                "last_attempt_at": s.last_attempt_at,
                "last_error": s.last_error,
                "events": s.events,
                "problems": s.problems.as_deref().map(|p| p.lines().collect::<Vec<_>>()).unwrap_or_default(),
            }),
            None => json!({ "name": name, "ok": false, "last_error": "not imported yet" }),
        })
        .collect();
    let backlog = state.store.unprocessed_inbox_count().await.unwrap_or(-1);
    // a stopped channel needs an operator, but the daemon is still ready: the webhook
    // and the imports work, and the reminders wait
    let whatsapp = match state.dispatcher.channel_stopped() {
        None => json!({ "ok": true }),
        Some(s) => json!({
            "ok": false,
            "stopped_since": s.since,
            "error_code": s.code,
            "reason": s.reason,
            "next_probe_at": s.until,
        }),
    };
    (
        StatusCode::OK,
        Json(json!({
            "status": "ready",
            "database": state.store.backend(),
            "sources": sources,
            "inbox_backlog": backlog,
            "whatsapp": whatsapp,
        })),
    )
}
