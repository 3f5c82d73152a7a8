//! The signed tokens in an e-mail's links. A token names what the link does (confirm,
//! cancel, reschedule, unsubscribe), the appointment, and the start time the e-mail was
//! about, and carries an HMAC tag made with the same key as the WhatsApp button
//! payloads: `M.c.42.1760430600:Zm9vYmFyYmF6cXV4`. It sits in the URL path, so it is
//! the capability: the pages need no login, and a changed character makes it worthless.
//!
//! An action link expires when the appointment starts (its start is in the token, so a
//! link for an earlier time of a moved appointment changes nothing, as a tap on an old
//! WhatsApp reminder does). The unsubscribe link does not expire.

use chrono::{DateTime, Utc};

use super::payload::{Action, PayloadError, PayloadKey};

/// What a link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkVerb {
    Act(Action),
    Unsubscribe,
}

impl LinkVerb {
    fn code(self) -> &'static str {
        match self {
            LinkVerb::Act(Action::Confirm) => "c",
            LinkVerb::Act(Action::Cancel) => "x",
            LinkVerb::Act(Action::Reschedule) => "r",
            LinkVerb::Unsubscribe => "u",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "c" => LinkVerb::Act(Action::Confirm),
            "x" => LinkVerb::Act(Action::Cancel),
            "r" => LinkVerb::Act(Action::Reschedule),
            "u" => LinkVerb::Unsubscribe,
            _ => return None,
        })
    }
}

/// A verified link: this verb, for this appointment as it was at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkToken {
    pub verb: LinkVerb,
    pub appointment_id: i64,
    /// The appointment's start the e-mail was about (Unix seconds).
    pub start: i64,
}

/// Why a link is not honoured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is damaged or was changed")]
    Invalid(#[from] PayloadError),
    #[error("the link has expired")]
    Expired,
}

impl LinkToken {
    pub fn new(verb: LinkVerb, appointment_id: i64, start: DateTime<Utc>) -> Self {
        LinkToken { verb, appointment_id, start: start.timestamp() }
    }

    /// The text for the URL path (only `A-Za-z0-9._-:`).
    pub fn encode(&self, key: &PayloadKey) -> String {
        key.sign(&format!("M.{}.{}.{}", self.verb.code(), self.appointment_id, self.start))
    }

    /// Reads and verifies a token; an action link is refused from the appointment's
    /// start on.
    pub fn decode(text: &str, key: &PayloadKey, now: DateTime<Utc>) -> Result<Self, LinkError> {
        let body = key.open(text)?;
        let mut parts = body.split('.');
        let (Some("M"), Some(code), Some(id), Some(start), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PayloadError::Malformed.into());
        };
        let verb = LinkVerb::from_code(code).ok_or(PayloadError::UnknownAction)?;
        let appointment_id = id.parse().map_err(|_| PayloadError::Malformed)?;
        let start: i64 = start.parse().map_err(|_| PayloadError::Malformed)?;
        if matches!(verb, LinkVerb::Act(_)) && now.timestamp() >= start {
            return Err(LinkError::Expired);
        }
        Ok(LinkToken { verb, appointment_id, start })
    }

    /// The start time the e-mail was about.
    pub fn start_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.start, 0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn key() -> PayloadKey {
        PayloadKey::from_secret(b"test secret that is long enough!")
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 14, 8, 30, 0).unwrap()
    }

    #[test]
    fn a_link_round_trips_until_the_appointment_starts() {
        let before = start() - Duration::minutes(1);
        for verb in [
            LinkVerb::Act(Action::Confirm),
            LinkVerb::Act(Action::Cancel),
            LinkVerb::Act(Action::Reschedule),
            LinkVerb::Unsubscribe,
        ] {
            let token = LinkToken::new(verb, 42, start());
            let text = token.encode(&key());
            assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c)));
            assert_eq!(LinkToken::decode(&text, &key(), before), Ok(token));
            let at_start = LinkToken::decode(&text, &key(), start());
            match verb {
                LinkVerb::Unsubscribe => assert_eq!(at_start, Ok(token)),
                _ => assert_eq!(at_start, Err(LinkError::Expired), "{verb:?}"),
            }
        }
    }

    #[test]
    fn a_changed_link_is_refused() {
        let text = LinkToken::new(LinkVerb::Act(Action::Confirm), 42, start()).encode(&key());
        let now = start() - Duration::days(1);
        let bad = |t: &str| LinkToken::decode(t, &key(), now);
        let invalid = Err(LinkError::Invalid(PayloadError::BadSignature));
        assert_eq!(bad(&text.replacen("M.c.", "M.x.", 1)), invalid);
        assert_eq!(bad(&text.replacen(".42.", ".43.", 1)), invalid);
        let later = (start() + Duration::days(7)).timestamp().to_string();
        assert_eq!(bad(&text.replacen(&start().timestamp().to_string(), &later, 1)), invalid);
        let other = PayloadKey::from_secret(b"another secret, also long enough");
        assert_eq!(LinkToken::decode(&text, &other, now), invalid);
        // a WhatsApp button payload is not a link
        let payload = crate::domain::ButtonPayload::new(Action::Confirm, 42).encode(&key());
        assert!(bad(&payload).is_err());
        assert!(bad("garbage").is_err());
    }
}
