//! The staff report: one page per day with every appointment, whether its reminder went
//! out, and what the customer answered. Read-only, behind a staff login.

pub mod actions;
pub mod chart;
pub mod morning;
mod problems;
pub mod session;
pub mod texts;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use serde::Deserialize;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::domain::Language;
use crate::domain::time::resolve_local;
use crate::http::AppError;
use crate::reschedule::ConversationTexts;
use crate::reschedule::settings::OutcomeTemplates;
use crate::reschedule::staff::{DecideError, Verdict, Voice, decide};
use crate::rules::{RuleSet, WorkCalendar};
use crate::store::Store;
use session::{
    LOGIN_COOKIE, Lockout, Sessions, StaffAccount, check_login, cookie_value, named_cookie,
};
use view::{LoginPage, ReportPage, WhyPage};

/// What the report needs.
#[derive(Clone, Debug)]
pub struct ReportState {
    pub store: Store,
    pub clock: Clock,
    pub zone: Tz,
    pub practice: String,
    pub accounts: Arc<Vec<StaffAccount>>,
    pub sessions: Sessions,
    /// Failed logins per name (see [`Lockout`]).
    pub lockout: Lockout,
    /// For the state of the WhatsApp channel, in the problems on top.
    pub dispatcher: crate::scheduler::Dispatcher,
    /// What the customer is told when staff accept or decline a requested time.
    pub reschedule_texts: Arc<ConversationTexts>,
    /// Default location per source, for `{location}` in those texts.
    pub source_locations: Arc<HashMap<String, String>>,
    /// The templates that tell it once the customer's service window has closed.
    pub reschedule_templates: Arc<OutcomeTemplates>,
    /// The language of the pages for staff who name none (and of the login page when
    /// the browser names neither Dutch nor English).
    pub language: Language,
    /// For the "why" of an appointment's reminders, as `reminderd explain` gives it.
    pub rules: Arc<RuleSet>,
    pub workdays: WorkCalendar,
    /// Wakes the dispatcher for a reminder sent again.
    pub dispatch_wake: Arc<tokio::sync::Notify>,
}

pub fn router(state: ReportState) -> Router {
    Router::new()
        .route("/report", get(report))
        .route("/report.csv", get(report_csv))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/report/reschedule/{appointment}", axum::routing::post(decide_reschedule))
        .route("/report/appointment/{appointment}", get(why).post(mark_by_phone))
        .route("/report/appointment/{appointment}/resend", axum::routing::post(resend))
        .with_state(state)
}

#[derive(Deserialize)]
struct ReportQuery {
    date: Option<String>,
    /// Only this calendar or location.
    calendar: Option<String>,
    /// Only this reply state: confirmed, cancelled, reschedule, unclear, none.
    state: Option<String>,
}

async fn report(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let Some(staff) = logged_in(&state, &headers) else {
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
    let rows = &state.store.report(from, to).await?;
    // the chart's two weeks end with the day shown
    let weeks = state.store.tally_by_day(&chart::day_bounds(state.zone, day, 14)).await?;
    let csrf = state.sessions.csrf_token(&staff.session);
    let problems =
        problems::problems(&state.store, &state.dispatcher, state.zone, staff.language).await?;
    let mut page = ReportPage::new(
        staff.language,
        &state.practice,
        &staff.name,
        &csrf,
        day,
        rows,
        state.zone,
        now,
    );
    page = page.filtered(query.calendar.as_deref(), query.state.as_deref()).grouped();
    page.problems = problems;
    page.chart = chart::svg(&chart::rates(&weeks, day, 14), staff.language);
    Ok(html(page.render()))
}

#[derive(Deserialize)]
struct CsvQuery {
    from: NaiveDate,
    /// The last day included.
    to: NaiveDate,
    /// `semicolon` (Excel in Dutch) or `comma` (the default).
    sep: Option<String>,
}

/// The longest range one export covers.
const MAX_EXPORT_DAYS: i64 = 366;

/// The report of a range of days as CSV.
async fn report_csv(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Query(query): Query<CsvQuery>,
) -> Result<Response, AppError> {
    let Some(staff) = logged_in(&state, &headers) else {
        return Ok(redirect("/login"));
    };
    let days = (query.to - query.from).num_days();
    if !(0..MAX_EXPORT_DAYS).contains(&days) {
        return Err(AppError::BadRequest(format!(
            "from {} to {} is not a range of 1 to {MAX_EXPORT_DAYS} days",
            query.from, query.to
        )));
    }
    let separator = match query.sep.as_deref() {
        None | Some("comma") => b',',
        Some("semicolon") => b';',
        Some(other) => {
            return Err(AppError::BadRequest(format!("`{other}` is not comma or semicolon")));
        }
    };
    let midnight =
        |day: NaiveDate| resolve_local(state.zone, day.and_hms_opt(0, 0, 0).unwrap_or_default());
    let to = midnight(query.to.checked_add_days(Days::new(1)).unwrap_or(query.to));
    let rows = state.store.report(midnight(query.from), to).await?;
    let body = view::csv(&rows, state.zone, state.clock.now(), separator, staff.language);
    let stem = texts::tr(staff.language, "afspraken", "appointments");
    let name = format!("{stem}-{}-{}.csv", query.from, query.to);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: String,
    /// `accept` or `decline`.
    verdict: String,
    /// The day the form was on, to go back to.
    date: NaiveDate,
}

/// Staff accept or decline the time a customer chose: the customer is told (see
/// `reschedule::staff`), and the decision is recorded with the staff member's name.
async fn decide_reschedule(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Path(appointment): Path<i64>,
    Form(form): Form<DecideForm>,
) -> Result<Response, AppError> {
    let Some(staff) = form_staff(&state, &headers, &form.csrf)? else {
        return Ok(redirect("/login"));
    };
    let verdict = match form.verdict.as_str() {
        "accept" => Verdict::Accept,
        "decline" => Verdict::Decline,
        other => return Err(AppError::BadRequest(format!("`{other}` is not accept or decline"))),
    };
    let voice = Voice {
        zone: state.zone,
        practice: &state.practice,
        source_locations: &state.source_locations,
        texts: &state.reschedule_texts,
    };
    let templates = &state.reschedule_templates;
    match decide(
        &state.store,
        voice,
        templates,
        appointment,
        verdict,
        &staff.name,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => {}
        Err(DecideError::Store(e)) => return Err(e.into()),
        // decided meanwhile (by a colleague, or a second click): the page shows how
        Err(e) => info!(staff = %staff.name, appointment, "nothing to decide: {e}"),
    }
    Ok(back_to(form.date))
}

async fn login_form(State(state): State<ReportState>, headers: HeaderMap) -> Response {
    if logged_in(&state, &headers).is_some() {
        return redirect("/report");
    }
    login_page(&state, &headers, StatusCode::OK, None)
}

/// The login form with a fresh CSRF nonce (in its cookie and its hidden field).
fn login_page(
    state: &ReportState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<fn(&texts::PageTexts) -> &'static str>,
) -> Response {
    let t = texts::page(browser_language(state, headers));
    let error = error.map(|e| e(t)).unwrap_or_default();
    let (nonce, csrf) = state.sessions.login_nonce();
    let page = LoginPage { t, practice: &state.practice, csrf: &csrf, error }.render();
    let mut response = (status, html(page)).into_response();
    if let Ok(cookie) = state.sessions.set_login_cookie(&nonce).parse() {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// The language a browser asks for, among Dutch and English; the report's otherwise.
fn browser_language(state: &ReportState, headers: &HeaderMap) -> Language {
    headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|h| h.to_str().ok())
        .and_then(Language::from_accept_language)
        .unwrap_or(state.language)
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    /// The token of the login form's nonce cookie.
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let nonce = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| named_cookie(h, LOGIN_COOKIE));
    if !nonce.is_some_and(|n| state.sessions.check_login_csrf(n, &form.csrf)) {
        warn!("a login without its form's CSRF token; refused");
        return login_page(&state, &headers, StatusCode::FORBIDDEN, Some(|t| t.form_expired));
    }
    let accounts = state.accounts.clone();
    let name = form.name.trim().to_string();
    let now = state.clock.now();
    if !state.lockout.allows(&name, now) {
        warn!("staff login refused: too many failed attempts for this name");
        return login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(|t| t.log_in_failed),
        );
    }
    let check_name = name.clone();
    let ok =
        tokio::task::spawn_blocking(move || check_login(&accounts, &check_name, &form.password))
            .await
            .unwrap_or(false);
    if !ok {
        warn!("failed staff login");
        state.lockout.failed(&name, now);
        return login_page(&state, &headers, StatusCode::UNAUTHORIZED, Some(|t| t.log_in_failed));
    }
    state.lockout.succeeded(&name);
    info!(staff = %name, "staff login");
    let value = state.sessions.issue(&name, state.clock.now());
    let mut response = redirect("/report");
    if let Ok(cookie) = state.sessions.set_cookie(&value).parse() {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    // refused without this session's token; without a session there is nothing to end
    form_staff(&state, &headers, &form.csrf)?;
    let mut response = redirect("/login");
    if let Ok(cookie) = state.sessions.clear_cookie().parse() {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct MarkForm {
    csrf: String,
    /// `confirmed` or `cancelled`.
    mark: String,
    date: NaiveDate,
}

/// Staff note that a customer confirmed or cancelled by phone.
async fn mark_by_phone(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Path(appointment): Path<i64>,
    Form(form): Form<MarkForm>,
) -> Result<Response, AppError> {
    let Some(staff) = form_staff(&state, &headers, &form.csrf)? else {
        return Ok(redirect("/login"));
    };
    let mark = match form.mark.as_str() {
        "confirmed" => actions::PhoneMark::Confirmed,
        "cancelled" => actions::PhoneMark::Cancelled,
        other => {
            return Err(AppError::BadRequest(format!("`{other}` is not confirmed or cancelled")));
        }
    };
    match actions::mark(&state.store, appointment, mark, &staff.name, state.clock.now()).await {
        Ok(()) => info!(staff = %staff.name, appointment, ?mark, "noted from a phone call"),
        Err(actions::MarkError::Store(e)) => return Err(e.into()),
        Err(e) => info!(staff = %staff.name, appointment, "nothing to note: {e}"),
    }
    Ok(back_to(form.date))
}

#[derive(Deserialize)]
struct ResendForm {
    csrf: String,
    date: NaiveDate,
}

/// Staff send an appointment's last reminder again (see [`actions::resend`]).
async fn resend(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Path(appointment): Path<i64>,
    Form(form): Form<ResendForm>,
) -> Result<Response, AppError> {
    let Some(staff) = form_staff(&state, &headers, &form.csrf)? else {
        return Ok(redirect("/login"));
    };
    match actions::resend(&state.store, appointment, &staff.name, state.clock.now()).await {
        Ok(id) => {
            info!(staff = %staff.name, appointment, message = id, "reminder sent again");
            state.dispatch_wake.notify_one();
        }
        Err(actions::ResendError::Store(e)) => return Err(e.into()),
        // a colleague was first, or the page was stale: the day shows how it stands
        Err(e) => info!(staff = %staff.name, appointment, "nothing to send again: {e}"),
    }
    Ok(back_to(form.date))
}

#[derive(Deserialize)]
struct WhyQuery {
    /// The day the link was on, to go back to.
    date: Option<NaiveDate>,
}

/// Why an appointment got the messages it got — `reminderd explain` — and what staff
/// did about it.
async fn why(
    State(state): State<ReportState>,
    headers: HeaderMap,
    Path(appointment): Path<i64>,
    Query(query): Query<WhyQuery>,
) -> Result<Response, AppError> {
    let Some(staff) = logged_in(&state, &headers) else {
        return Ok(redirect("/login"));
    };
    let Some(found) = state.store.appointment(appointment).await? else {
        return Err(AppError::NotFound(format!("there is no appointment {appointment}")));
    };
    let day = query.date.unwrap_or_else(|| found.starts_at.with_timezone(&state.zone).date_naive());
    let planning =
        crate::rules::Planning { rules: &state.rules, zone: state.zone, workdays: &state.workdays };
    let explanation = crate::inspect::explain(&state.store, planning, found).await?;
    let audit = state.store.audit_for(appointment).await?;
    let page = WhyPage::new(staff.language, &state.practice, day, &explanation, &audit, state.zone);
    Ok(html(page.render()))
}

/// The staff member who posted a form: `None` when not logged in (go to the login
/// page), refused when the form lacks this session's CSRF token.
fn form_staff(
    state: &ReportState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Option<Staff>, AppError> {
    let Some(staff) = logged_in(state, headers) else { return Ok(None) };
    if !state.sessions.check_csrf(&staff.session, csrf) {
        warn!(staff = %staff.name, "a report form without this session's CSRF token; refused");
        return Err(AppError::Forbidden("the form has expired; open the report again"));
    }
    Ok(Some(staff))
}

/// Back to the report of the day the form was on.
fn back_to(day: NaiveDate) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, format!("/report?date={day}"))]).into_response()
}

/// A logged-in staff member.
struct Staff {
    name: String,
    /// The session cookie's value (its CSRF token is derived from it).
    session: String,
    /// The language of their pages.
    language: Language,
}

/// The staff member of a valid session, if the request carries one and the account
/// still exists in the config.
fn logged_in(state: &ReportState, headers: &HeaderMap) -> Option<Staff> {
    let value =
        headers.get_all(COOKIE).iter().filter_map(|h| h.to_str().ok()).find_map(cookie_value)?;
    let name = state.sessions.verify(value, state.clock.now())?;
    let account = state.accounts.iter().find(|a| a.name == name)?;
    let language = account.language.unwrap_or(state.language);
    Some(Staff { name, session: value.to_string(), language })
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
