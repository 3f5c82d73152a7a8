//! What a button tap does to an appointment, and what the customer is told: a pure
//! decision, so every case is a table test.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Action, Appointment, AppointmentStatus, Reply};

/// Texts sent back to a customer after a tap (`[messages]` in the config). Placeholders
/// as in rule templates: `{first_name}`, `{date}`, `{time}`, `{location}`, `{practice}`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyTexts {
    pub confirmed: String,
    pub cancelled: String,
    pub reschedule: String,
    pub already_cancelled: String,
    pub not_active: String,
    pub moved: String,
    pub unclear: String,
    pub stopped: String,
    pub started: String,
}

impl ReplyTexts {
    /// Every text with its config key, for validation.
    pub fn all(&self) -> [(&'static str, &str); 9] {
        [
            ("confirmed", &self.confirmed),
            ("cancelled", &self.cancelled),
            ("reschedule", &self.reschedule),
            ("already_cancelled", &self.already_cancelled),
            ("not_active", &self.not_active),
            ("moved", &self.moved),
            ("unclear", &self.unclear),
            ("stopped", &self.stopped),
            ("started", &self.started),
        ]
    }

    pub fn text(&self, answer: Answer) -> &str {
        match answer {
            Answer::Confirmed => &self.confirmed,
            Answer::Cancelled => &self.cancelled,
            Answer::Reschedule => &self.reschedule,
            Answer::AlreadyCancelled => &self.already_cancelled,
            Answer::NotActive => &self.not_active,
            Answer::Moved => &self.moved,
            Answer::Unclear => &self.unclear,
            Answer::Stopped => &self.stopped,
            Answer::Started => &self.started,
        }
    }
}

/// What the customer is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Confirmed,
    Cancelled,
    Reschedule,
    AlreadyCancelled,
    /// The appointment is gone from the calendar, or already over.
    NotActive,
    /// The tap was on a reminder for an earlier start time.
    Moved,
    /// A message reminderd does not understand: a person will read it.
    Unclear,
    /// The customer opted out of WhatsApp (STOP).
    Stopped,
    /// The customer opted in again (START).
    Started,
}

impl Answer {
    /// The word stored with the reply message (shown to staff).
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Confirmed => "confirmed",
            Answer::Cancelled => "cancelled",
            Answer::Reschedule => "reschedule",
            Answer::AlreadyCancelled => "already_cancelled",
            Answer::NotActive => "not_active",
            Answer::Moved => "moved",
            Answer::Unclear => "unclear",
            Answer::Stopped => "stopped",
            Answer::Started => "started",
        }
    }
}

/// The change a tap makes, besides the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Record the customer's reply.
    Reply(Reply),
    /// Record the cancellation and withdraw the reminders still pending.
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub effect: Option<Effect>,
    pub answer: Answer,
}

/// Decides what a tap on `action`, on a reminder planned for `planned_start`, does to
/// `appointment` at `now`.
///
/// A tap on a reminder for an earlier start time confirms nothing: the customer agreed
/// to a time that is no longer the appointment's. Taps after the appointment began, or
/// on one that is gone from the calendar, change nothing either.
pub fn decide(
    action: Action,
    appointment: &Appointment,
    planned_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Decision {
    let only = |answer| Decision { effect: None, answer };
    let cancelled =
        appointment.status == AppointmentStatus::Cancelled || appointment.reply == Reply::Cancelled;
    if appointment.status == AppointmentStatus::Removed || appointment.starts_at <= now {
        return only(Answer::NotActive);
    }
    if cancelled {
        return only(Answer::AlreadyCancelled);
    }
    if appointment.starts_at != planned_start {
        return only(Answer::Moved);
    }
    match action {
        Action::Confirm => {
            Decision { effect: Some(Effect::Reply(Reply::Confirmed)), answer: Answer::Confirmed }
        }
        Action::Cancel => Decision { effect: Some(Effect::Cancel), answer: Answer::Cancelled },
        Action::Reschedule => {
            Decision { effect: Some(Effect::Reply(Reply::Reschedule)), answer: Answer::Reschedule }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::appointment::sample;

    fn at(appointment: &Appointment, before: i64) -> DateTime<Utc> {
        appointment.starts_at - Duration::hours(before)
    }

    #[test]
    fn taps_on_a_current_reminder_act() {
        let a = sample();
        let now = at(&a, 20);
        let cases = [
            (Action::Confirm, Some(Effect::Reply(Reply::Confirmed)), Answer::Confirmed),
            (Action::Cancel, Some(Effect::Cancel), Answer::Cancelled),
            (Action::Reschedule, Some(Effect::Reply(Reply::Reschedule)), Answer::Reschedule),
        ];
        for (action, effect, answer) in cases {
            assert_eq!(
                decide(action, &a, a.starts_at, now),
                Decision { effect, answer },
                "{action}"
            );
        }
    }

    #[test]
    fn a_tap_on_a_reminder_for_an_earlier_time_confirms_nothing() {
        let a = sample();
        let planned = a.starts_at - Duration::days(1);
        let d = decide(Action::Confirm, &a, planned, at(&a, 30));
        assert_eq!(d, Decision { effect: None, answer: Answer::Moved });
    }

    #[test]
    fn cancelled_removed_and_past_appointments_do_not_change() {
        let now_for = |a: &Appointment| at(a, 2);
        let mut cancelled = sample();
        cancelled.status = AppointmentStatus::Cancelled;
        let mut cancelled_by_customer = sample();
        cancelled_by_customer.reply = Reply::Cancelled;
        let mut removed = sample();
        removed.status = AppointmentStatus::Removed;
        let past = sample();
        for action in Action::ALL {
            for (a, now, answer) in [
                (&cancelled, now_for(&cancelled), Answer::AlreadyCancelled),
                (&cancelled_by_customer, now_for(&cancelled_by_customer), Answer::AlreadyCancelled),
                (&removed, now_for(&removed), Answer::NotActive),
                (&past, past.starts_at + Duration::minutes(5), Answer::NotActive),
            ] {
                let d = decide(action, a, a.starts_at, now);
                assert_eq!(d, Decision { effect: None, answer }, "{action} on {a:?}");
            }
        }
    }

    #[test]
    fn a_second_confirmation_is_answered_again() {
        let mut a = sample();
        a.reply = Reply::Confirmed;
        let d = decide(Action::Confirm, &a, a.starts_at, at(&a, 3));
        assert_eq!(d.answer, Answer::Confirmed);
    }
}
