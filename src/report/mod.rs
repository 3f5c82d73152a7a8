//! The staff report: one page per day with every appointment, whether its reminder went
//! out, and what the customer answered. Read-only, behind a staff login.

pub mod session;
mod view;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use serde::Deserialize;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::domain::time::resolve_local;
use crate::http::AppError;
use crate::store::Store;
use session::{Sessions, StaffAccount, check_login, cookie_value};
use view::{LoginPage, ReportPage};

/// What the report needs.
#[derive(Clone, Debug)]
pub struct ReportState {
    pub store: Store,
    pub clock: Clock,
    pub zone: Tz,
    pub practice: String,
    pub accounts: Arc<Vec<StaffAccount>>,
    pub sessions: Sessions,
}

pub fn router(state: ReportState) -> Router {
    Router::new()
        .route("/report", get(report))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .with_state(state)
}

#[derive(Deserialize)]
struct ReportQuery {
    date: Option<String>,
}

async fn report(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let Some(user) = logged_in(&state, &headers) else {
        return Ok(redirect("/login"));
    };
    let now = state.clock.now();
    let today = now.with_timezone(&state.zone).date_naive();
    let day = match query.date.as_deref() {
        None | Some("") => today,
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| AppError::BadRequest(format!("`{text}` is not a date like 2026-10-14")))?,
    };
    let next_day = day.checked_add_days(Days::new(1)).unwrap_or(day);
    let from = resolve_local(state.zone, day.and_hms_opt(0, 0, 0).unwrap_or_default());
    let to = resolve_local(state.zone, next_day.and_hms_opt(0, 0, 0).unwrap_or_default());
    let rows = state.store.report(from, to).await?;
    let page = ReportPage::new(&state.practice, &user, day, today, &rows, state.zone);
    Ok(html(page.render()))
}

async fn login_form(State(state): State<ReportState>, headers: HeaderMap) -> Response {
    if logged_in(&state, &headers).is_some() {
        return redirect("/report");
    }
    html(LoginPage { practice: &state.practice, error: false }.render())
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(State(state): State<ReportState>, Form(form): Form<LoginForm>) -> Response {
    let accounts = state.accounts.clone();
    let name = form.name.trim().to_string();
    let check_name = name.clone();
    let ok =
        tokio::task::spawn_blocking(move || check_login(&accounts, &check_name, &form.password))
            .await
            .unwrap_or(false);
    if !ok {
        warn!("failed staff login");
        let page = LoginPage { practice: &state.practice, error: true }.render();
        return (StatusCode::UNAUTHORIZED, html(page)).into_response();
    }
    info!(staff = %name, "staff login");
    let value = state.sessions.issue(&name, state.clock.now());
    let mut response = redirect("/report");
    if let Ok(cookie) = state.sessions.set_cookie(&value).parse() {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

async fn logout(State(state): State<ReportState>) -> Response {
    let mut response = redirect("/login");
    if let Ok(cookie) = state.sessions.clear_cookie().parse() {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// The staff name of a valid session, if the request carries one and the account
/// still exists in the config.
fn logged_in(state: &ReportState, headers: &HeaderMap) -> Option<String> {
    let value =
        headers.get_all(COOKIE).iter().filter_map(|h| h.to_str().ok()).find_map(cookie_value)?;
    let name = state.sessions.verify(value, state.clock.now())?;
    state.accounts.iter().any(|a| a.name == name).then_some(name)
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

fn html(rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => Html(body).into_response(),
        Err(e) => AppError::Internal(anyhow::Error::new(e)).into_response(),
    }
}
