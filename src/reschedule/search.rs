//! The free times offered to one customer, read from the store: the opening hours of
//! the appointment's calendar, minus what is booked there. Shared by the WhatsApp list
//! and the e-mail's reschedule page, so both offer the same times.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::offer::MAX_TIMES;
use super::{RescheduleSettings, Search, Slot, free_slots};
use crate::domain::Appointment;
use crate::rules::WorkCalendar;
use crate::store::{StoreError, Tx};

/// The next free times for `appointment` (at most [`MAX_TIMES`]); `None` when no
/// opening hours cover its calendar or location.
pub async fn free_times(
    tx: &mut Tx,
    settings: &RescheduleSettings,
    zone: Tz,
    workdays: &WorkCalendar,
    appointment: &Appointment,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Slot>>, StoreError> {
    let Some((hours, schedule)) = settings.schedule_for(appointment) else {
        return Ok(None);
    };
    let earliest = now + Duration::from_std(settings.min_notice).unwrap_or_default();
    let until = earliest + Duration::days(i64::from(settings.days) + 2);
    let busy = tx
        .busy_times(
            hours.calendar.as_deref(),
            hours.location.as_deref(),
            earliest - Duration::days(1),
            until,
        )
        .await?;
    let search = Search { zone, workdays, earliest, days: settings.days, limit: MAX_TIMES };
    Ok(Some(free_slots(&schedule, &busy, search)))
}
