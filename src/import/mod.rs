//! Import: calendar sources become appointments.
pub mod contact;
pub mod fetch;
pub mod ical;
pub mod runner;
pub mod sync;

use tracing::warn;

use crate::domain::AppointmentStatus;
use crate::store::AppointmentInput;

/// Reads an iCalendar feed into the appointments it holds in `window`. All-day events
/// are skipped (they are holidays and notes, not visits). Events that cannot be read
/// are logged and left out; the feed as a whole fails only when the text is not
/// iCalendar, so one broken event never hides the others.
pub fn to_appointments(
    text: &str,
    source: &runner::SourceSpec,
    window: sync::Window,
    options: &runner::ImportOptions,
) -> Result<Vec<AppointmentInput>, String> {
    let feed =
        ical::read_feed(text, options.zone, window.from, window.to).map_err(|e| e.to_string())?;
    for problem in &feed.problems {
        // problems name UIDs and causes, never a customer's name or number
        warn!(source = %source.name, %problem, "event skipped");
    }
    Ok(feed
        .occurrences
        .iter()
        .filter(|occ| !occ.all_day)
        .map(|occ| {
            let contact = source.contact.extract(occ, options.region);
            let mut problems = contact.problems;
            if contact.phone.is_none() && problems.is_empty() {
                problems.push("no phone number found".to_string());
            }
            let cancelled = occ.status.as_deref() == Some("CANCELLED");
            AppointmentInput {
                external_id: occ.key(),
                starts_at: occ.starts_at,
                ends_at: occ.ends_at,
                summary: occ.summary.clone(),
                location: occ
                    .location
                    .clone()
                    .or_else(|| source.default_location.clone()),
                calendar: source.name.clone(),
                customer_name: contact.name,
                phone_is_mobile: contact.phone.as_ref().is_some_and(|p| p.is_mobile()),
                customer_phone: contact.phone.map(|p| p.e164().to_string()),
                customer_email: contact.email,
                contact_problem: (!problems.is_empty()).then(|| problems.join("; ")),
                status: if cancelled {
                    AppointmentStatus::Cancelled
                } else {
                    AppointmentStatus::Scheduled
                },
            }
        })
        .collect())
}

#[cfg(test)]
mod ical_conformance;
