//! Quick-reply button payloads.
//!
//! Meta echoes a button's payload back in the webhook when the customer taps it. The
//! payload names the action and the outgoing message (reminder) it belongs to, and
//! carries a short HMAC tag, so a payload cannot be forged or moved to another
//! appointment: `CONFIRM:42:Zm9vYmFyYmF6cXV4`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keys::Key;

/// Bytes of HMAC kept in a payload: 96 bits, 16 characters of base64url.
const TAG_LEN: usize = 12;

/// What a customer asks for with a button.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Confirm,
    Cancel,
    Reschedule,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Confirm, Action::Cancel, Action::Reschedule];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Confirm => "confirm",
            Action::Cancel => "cancel",
            Action::Reschedule => "reschedule",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Action::Confirm => "CONFIRM",
            Action::Cancel => "CANCEL",
            Action::Reschedule => "RESCHEDULE",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "confirm" => Ok(Action::Confirm),
            "cancel" => Ok(Action::Cancel),
            "reschedule" => Ok(Action::Reschedule),
            other => Err(format!("`{other}` is not an action (confirm, cancel or reschedule)")),
        }
    }
}

/// The key that signs payloads, derived from the configured secret.
#[derive(Clone, Debug)]
pub struct PayloadKey(Key);

impl PayloadKey {
    pub fn from_secret(secret: &[u8]) -> Self {
        PayloadKey(Key::derive(secret, "button payload v1"))
    }

    /// `body:tag`, the tag binding every byte of `body`.
    pub(crate) fn sign(&self, body: &str) -> String {
        let tag = URL_SAFE_NO_PAD.encode(self.0.tag(body.as_bytes(), TAG_LEN));
        format!("{body}:{tag}")
    }

    /// The body of a signed text, if its tag (after the last `:`) verifies.
    pub(crate) fn open<'a>(&self, text: &'a str) -> Result<&'a str, PayloadError> {
        let (body, tag) = text.rsplit_once(':').ok_or(PayloadError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| PayloadError::Malformed)?;
        if !self.0.verify(body.as_bytes(), &tag, TAG_LEN) {
            return Err(PayloadError::BadSignature);
        }
        Ok(body)
    }
}

/// A verified payload: this action, for this outgoing message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ButtonPayload {
    pub action: Action,
    pub outbox_id: i64,
}

/// Why a payload was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not of the form ACTION:ID:TAG")]
    Malformed,
    #[error("payload names an unknown action")]
    UnknownAction,
    #[error("payload signature does not verify")]
    BadSignature,
}

impl ButtonPayload {
    pub fn new(action: Action, outbox_id: i64) -> Self {
        ButtonPayload { action, outbox_id }
    }

    /// The text sent to Meta as the button's payload.
    pub fn encode(&self, key: &PayloadKey) -> String {
        key.sign(&format!("{}:{}", self.action.code(), self.outbox_id))
    }

    /// Reads and verifies a payload that came back in a webhook.
    pub fn decode(text: &str, key: &PayloadKey) -> Result<ButtonPayload, PayloadError> {
        let mut parts = text.splitn(3, ':');
        let (Some(code), Some(id), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PayloadError::Malformed);
        };
        let outbox_id: i64 = id.parse().map_err(|_| PayloadError::Malformed)?;
        key.open(text)?;
        let action = Action::ALL
            .into_iter()
            .find(|a| a.code() == code)
            .ok_or(PayloadError::UnknownAction)?;
        Ok(ButtonPayload { action, outbox_id })
    }
}

/// A verified choice from the list of free times: this time (or none of them, when
/// `start` is `None`) for this appointment. Signed like a button payload, so a row id
/// cannot be edited into another appointment or a time that was not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotChoice {
    pub appointment_id: i64,
    /// Unix seconds of the chosen start; `None`: "Geen van deze tijden".
    pub start: Option<i64>,
}

impl SlotChoice {
    /// `SLOT:<appointment>:<unix start or ->:<tag>`, well under Meta's 200 characters.
    pub fn encode(&self, key: &PayloadKey) -> String {
        let start = self.start.map_or_else(|| "-".to_string(), |s| s.to_string());
        key.sign(&format!("SLOT:{}:{start}", self.appointment_id))
    }

    pub fn decode(text: &str, key: &PayloadKey) -> Result<SlotChoice, PayloadError> {
        let body = text.rsplit_once(':').map_or("", |(body, _)| body);
        let mut parts = body.splitn(3, ':');
        let (Some("SLOT"), Some(id), Some(start)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(PayloadError::Malformed);
        };
        let appointment_id = id.parse().map_err(|_| PayloadError::Malformed)?;
        let start = match start {
            "-" => None,
            s => Some(s.parse().map_err(|_| PayloadError::Malformed)?),
        };
        key.open(text)?;
        Ok(SlotChoice { appointment_id, start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_choice_round_trips_and_cannot_be_edited() {
        for choice in [
            SlotChoice { appointment_id: 7, start: Some(1_760_511_600) },
            SlotChoice { appointment_id: 7, start: None },
        ] {
            let text = choice.encode(&key());
            assert!(text.len() <= 64, "{text}");
            assert_eq!(SlotChoice::decode(&text, &key()), Ok(choice));
        }
        let text = SlotChoice { appointment_id: 7, start: Some(1_760_511_600) }.encode(&key());
        let other_time = text.replacen("1760511600", "1760515200", 1);
        assert_eq!(SlotChoice::decode(&other_time, &key()), Err(PayloadError::BadSignature));
        let other_appointment = text.replacen(":7:", ":8:", 1);
        assert_eq!(SlotChoice::decode(&other_appointment, &key()), Err(PayloadError::BadSignature));
        for garbage in ["SLOT:7", "CONFIRM:7:abc", "SLOT:x:1:abc", "09:00"] {
            assert_eq!(
                SlotChoice::decode(garbage, &key()),
                Err(PayloadError::Malformed),
                "{garbage}"
            );
        }
    }

    fn key() -> PayloadKey {
        PayloadKey::from_secret(b"test secret that is long enough!")
    }

    #[test]
    fn a_payload_round_trips() {
        for action in Action::ALL {
            let payload = ButtonPayload::new(action, 7_000_000_001);
            let text = payload.encode(&key());
            assert!(text.len() <= 64, "{text}");
            assert_eq!(ButtonPayload::decode(&text, &key()), Ok(payload));
        }
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let text = ButtonPayload::new(Action::Cancel, 42).encode(&key());
        // another reminder, same tag
        let moved = text.replacen(":42:", ":43:", 1);
        assert_eq!(ButtonPayload::decode(&moved, &key()), Err(PayloadError::BadSignature));
        // another action, same tag
        let flipped = text.replacen("CANCEL", "CONFIRM", 1);
        assert_eq!(ButtonPayload::decode(&flipped, &key()), Err(PayloadError::BadSignature));
        // another key
        let other = PayloadKey::from_secret(b"another secret, also long enough");
        assert_eq!(ButtonPayload::decode(&text, &other), Err(PayloadError::BadSignature));
    }

    #[test]
    fn labels_and_garbage_are_malformed() {
        for text in ["Bevestigen", "CONFIRM:x:abc", "CONFIRM:1", "", "CONFIRM:1:!!!"] {
            assert_eq!(ButtonPayload::decode(text, &key()), Err(PayloadError::Malformed), "{text}");
        }
    }
}
