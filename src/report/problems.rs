//! What needs a person, shown on top of the report: a calendar that failed or was
//! refused, a template Meta does not allow, the WhatsApp channel stopped by a token or
//! account error. In Dutch, as staff read it.

use chrono_tz::Tz;

use crate::domain::time::dutch_moment_short;
use crate::scheduler::Dispatcher;
use crate::store::{Store, StoreError};
use crate::whatsapp::templates::unusable;

/// Every problem now, most urgent first.
pub async fn problems(
    store: &Store,
    dispatcher: &Dispatcher,
    zone: Tz,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    if let Some(stopped) = dispatcher.channel_stopped() {
        out.push(format!(
            "WhatsApp is gestopt sinds {}: {}{}. Er gaan geen herinneringen via WhatsApp tot \
             dit is opgelost (volgende poging {}).",
            dutch_moment_short(stopped.since, zone),
            stopped.reason,
            stopped.code.map(|c| format!(" (code {c})")).unwrap_or_default(),
            dutch_moment_short(stopped.until, zone),
        ));
    }
    for source in store.source_states().await? {
        if let Some(error) = &source.last_error {
            let last_good = source.last_success_at.map_or_else(
                || "nog geen goede import".to_string(),
                |t| format!("laatste goede import {}", dutch_moment_short(t, zone)),
            );
            out.push(format!(
                "Agenda {}: de import lukt niet ({error}); de afspraken van de {last_good} \
                 blijven gelden.",
                source.source
            ));
        }
    }
    for template in store.templates().await? {
        if let Some(reason) = unusable(&template) {
            out.push(format!(
                "{reason}: herinneringen met dit sjabloon wachten of gaan per e-mail."
            ));
        }
    }
    Ok(out)
}
