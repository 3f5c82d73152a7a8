//! An appointment: one visit at one start time, as the practice's calendar has it,
//! plus what the customer answered.

use chrono::{DateTime, Utc};

word_enum! {
    /// Where the appointment stands in the practice's calendar.
    pub enum AppointmentStatus {
        /// In the calendar and going ahead.
        Scheduled = "scheduled",
        /// Marked cancelled in the calendar (`STATUS:CANCELLED`).
        Cancelled = "cancelled",
        /// No longer in the calendar at all.
        Removed = "removed",
    }
}

word_enum! {
    /// What the customer said about the appointment.
    pub enum Reply {
        /// Nothing yet.
        None = "none",
        Confirmed = "confirmed",
        Cancelled = "cancelled",
        /// Asked for another time.
        Reschedule = "reschedule",
    }
}

/// One appointment as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Appointment {
    pub id: i64,
    /// Name of the configured source it came from.
    pub source: String,
    /// Identity within the source: the event's UID, plus the original start of the
    /// instance for a recurring series.
    pub external_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub summary: Option<String>,
    pub location: Option<String>,
    /// The calendar it came from, as staff call it.
    pub calendar: String,
    pub customer_name: Option<String>,
    /// E.164, when a usable number was found.
    pub customer_phone: Option<String>,
    /// Whether that number can receive WhatsApp (a mobile number).
    pub phone_is_mobile: bool,
    pub customer_email: Option<String>,
    /// Why no usable number was found, for staff.
    pub contact_problem: Option<String>,
    pub status: AppointmentStatus,
    pub reply: Reply,
    pub reply_at: Option<DateTime<Utc>>,
}

impl Appointment {
    /// The customer's first name, for a friendly greeting.
    pub fn first_name(&self) -> Option<&str> {
        self.customer_name.as_deref().and_then(|n| n.split_whitespace().next())
    }

    /// Whether the appointment still takes place and lies ahead of `now`.
    pub fn is_upcoming(&self, now: DateTime<Utc>) -> bool {
        self.status == AppointmentStatus::Scheduled
            && self.reply != Reply::Cancelled
            && self.starts_at > now
    }
}

/// An appointment for tests: Sanne de Vries, Wednesday 14 October 2026, 10:30.
#[cfg(test)]
pub(crate) fn sample() -> Appointment {
    Appointment {
        id: 1,
        source: "praktijk".into(),
        external_id: "uid-1".into(),
        starts_at: "2026-10-14T08:30:00Z".parse().unwrap(),
        ends_at: "2026-10-14T09:00:00Z".parse().unwrap(),
        summary: Some("Controle".into()),
        location: Some("Praktijk De Linde".into()),
        calendar: "praktijk".into(),
        customer_name: Some("Sanne de Vries".into()),
        customer_phone: Some("+31612345678".into()),
        phone_is_mobile: true,
        customer_email: None,
        contact_problem: None,
        status: AppointmentStatus::Scheduled,
        reply: Reply::None,
        reply_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_name_is_the_first_word() {
        assert_eq!(sample().first_name(), Some("Sanne"));
        let nameless = Appointment { customer_name: Some("  ".into()), ..sample() };
        assert_eq!(nameless.first_name(), None);
    }

    #[test]
    fn cancelled_or_past_appointments_are_not_upcoming() {
        let before = "2026-10-13T00:00:00Z".parse().unwrap();
        assert!(sample().is_upcoming(before));
        assert!(!sample().is_upcoming("2026-10-14T08:30:00Z".parse().unwrap()));
        let cancelled = Appointment { reply: Reply::Cancelled, ..sample() };
        assert!(!cancelled.is_upcoming(before));
        let removed = Appointment { status: AppointmentStatus::Removed, ..sample() };
        assert!(!removed.is_upcoming(before));
    }

    #[test]
    fn states_round_trip_through_their_words() {
        for s in
            [AppointmentStatus::Scheduled, AppointmentStatus::Cancelled, AppointmentStatus::Removed]
        {
            assert_eq!(s.as_str().parse::<AppointmentStatus>(), Ok(s));
        }
        assert!("gone".parse::<Reply>().unwrap_err().contains("gone"));
    }
}
