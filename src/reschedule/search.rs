//! The free times offered to one customer, read from the store: the opening hours of
//! the appointment's calendar, minus what is booked there. Shared by the WhatsApp list
//! and the e-mail's reschedule page, so both offer the same times.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::offer::MAX_TIMES;
use super::{RescheduleSettings, Search, Slot, free_slots};
use crate::domain::Appointment;
use crate::rules::WorkCalendar;
use crate::store::{Store, StoreError, Tx};

/// Booked `[start, end)` intervals.
pub type Busy = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// Where the booked times are read: inside the transaction that records the choice, or
/// straight from the pool for a page that only shows them.
pub trait Bookings {
    /// The `[start, end)` of what still takes place in `[from, to)`, in `calendar` or
    /// at `location`.
    fn busy(
        &mut self,
        calendar: Option<&str>,
        location: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Busy, StoreError>> + Send;
}

impl Bookings for Tx {
    async fn busy(
        &mut self,
        calendar: Option<&str>,
        location: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Busy, StoreError> {
        self.busy_times(calendar, location, from, to).await
    }
}

impl Bookings for &Store {
    async fn busy(
        &mut self,
        calendar: Option<&str>,
        location: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Busy, StoreError> {
        self.busy_times(calendar, location, from, to).await
    }
}

/// The next free times for `appointment` (at most [`MAX_TIMES`]); `None` when no
/// opening hours cover its calendar or location.
pub async fn free_times(
    tx: &mut impl Bookings,
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
        .busy(
            hours.calendar.as_deref(),
            hours.location.as_deref(),
            earliest - Duration::days(1),
            until,
        )
        .await?;
    let search = Search { zone, workdays, earliest, days: settings.days, limit: MAX_TIMES };
    Ok(Some(free_slots(&schedule, &busy, search)))
}
