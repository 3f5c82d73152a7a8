//! Consent: whether a customer agreed to reminders on a channel. The ledger is
//! append-only; the current state for a customer and channel is its latest record, so
//! every change stays on record with how it came in and who recorded it.

use chrono::{DateTime, Utc};

word_enum! {
    /// The channel a consent is about.
    pub enum ConsentChannel {
        Whatsapp = "whatsapp",
        Email = "email",
    }
}

word_enum! {
    pub enum ConsentStatus {
        OptedIn = "opted_in",
        OptedOut = "opted_out",
    }
}

word_enum! {
    /// How a consent came in.
    pub enum ConsentMethod {
        /// A marker in a calendar feed (`X-WHATSAPP-OPT-IN`, a pattern).
        Feed = "feed",
        /// The opt-in column of a practice database.
        Database = "database",
        /// `reminderd consent import`.
        Csv = "csv",
        /// `POST /api/consents`, e.g. from a booking site.
        Api = "api",
        /// The customer's own WhatsApp message (STOP, START).
        Whatsapp = "whatsapp",
        /// The unsubscribe link of an e-mail.
        EmailLink = "email_link",
        /// A staff member, by hand.
        Staff = "staff",
    }
}

impl ConsentMethod {
    /// A method that only mirrors what a calendar or database says. Such a record never
    /// overrides what the customer (or staff) said in another way: a calendar that still
    /// says "opted in" after the customer sent STOP changes nothing.
    pub fn is_mirror(self) -> bool {
        matches!(self, ConsentMethod::Feed | ConsentMethod::Database)
    }
}

/// The one scope reminderd asks consent for.
pub const SCOPE_REMINDERS: &str = "reminders";

/// A consent to record. At least one of `phone` (E.164) and `email` is given; the
/// channel's own address is required (a phone for WhatsApp, an e-mail for e-mail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewConsent {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub channel: ConsentChannel,
    pub status: ConsentStatus,
    pub method: ConsentMethod,
    /// What shows the choice: the customer's message, the source and event, the CSV
    /// file and line, the booking site's reference.
    pub evidence: Option<String>,
    /// Who recorded it: a staff name, an API client, `reminderd` for the daemon itself.
    pub recorded_by: String,
}

impl NewConsent {
    /// The address the channel reaches, which keys the consent.
    pub fn address(&self) -> Option<&str> {
        match self.channel {
            ConsentChannel::Whatsapp => self.phone.as_deref(),
            ConsentChannel::Email => self.email.as_deref(),
        }
    }
}

/// One record of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Consent {
    pub id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(serialize_with = "as_word")]
    pub channel: ConsentChannel,
    pub scope: String,
    #[serde(serialize_with = "as_word")]
    pub status: ConsentStatus,
    #[serde(serialize_with = "as_word")]
    pub method: ConsentMethod,
    pub evidence: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

fn as_word<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// An e-mail address as the ledger keys it: trimmed, lowercased; `None` when it is not
/// an address at all.
pub fn normalise_email(text: &str) -> Option<String> {
    let email = text.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c == ',' || c == ';' || c == '<');
    plausible.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_keyed_lowercase_and_non_addresses_refused() {
        assert_eq!(normalise_email(" Sanne@Example.NL "), Some("sanne@example.nl".into()));
        for bad in [
            "",
            "sanne",
            "sanne@",
            "@example.nl",
            "sanne@example",
            "a b@example.nl",
            "a@b.nl;c@d.nl",
        ] {
            assert_eq!(normalise_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_feed_and_database_markers_are_mirrors() {
        use ConsentMethod::*;
        for (method, mirror) in [
            (Feed, true),
            (Database, true),
            (Csv, false),
            (Api, false),
            (Whatsapp, false),
            (EmailLink, false),
            (Staff, false),
        ] {
            assert_eq!(method.is_mirror(), mirror, "{method}");
        }
    }
}
