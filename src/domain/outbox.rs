//! Outgoing messages: planned reminders and replies to customers, each a row in the
//! durable queue, with the delivery state Meta reports back.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A channel a reminder can go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Whatsapp,
    Email,
}

impl Channel {
    /// The order used when a rule names none.
    pub const DEFAULT: [Channel; 2] = [Channel::Whatsapp, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "whatsapp" => Ok(Channel::Whatsapp),
            "email" => Ok(Channel::Email),
            other => Err(format!("`{other}` is not a channel (whatsapp or email)")),
        }
    }
}

word_enum! {
    /// What an outgoing message is.
    pub enum OutboxKind {
        /// A template reminder planned by a rule.
        Reminder = "reminder",
        /// A free-form answer to something the customer sent.
        Reply = "reply",
        /// A list of free times to choose a new one from (an interactive message, inside
        /// the service window a tap on "Verzetten" opened).
        Offer = "offer",
        /// An approved template telling the customer something after their service
        /// window closed (staff's decision on a requested time); `body` holds its
        /// name, language and parameters.
        Notice = "notice",
    }
}

word_enum! {
    /// Where a message is in the queue.
    pub enum OutboxState {
        /// Waiting for its moment (or for its next attempt).
        Pending = "pending",
        /// Claimed by a dispatcher, under a lease.
        Sending = "sending",
        /// Accepted by the channel.
        Sent = "sent",
        /// Given up: a permanent error, or attempts used up.
        Failed = "failed",
        /// Not sent on purpose (too late, no usable number); the reason is recorded.
        Skipped = "skipped",
        /// Withdrawn because the appointment changed or was cancelled.
        Cancelled = "cancelled",
    }
}

word_enum! {
    /// What the channel reported after accepting a message.
    pub enum Delivery {
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
    }
}

impl Delivery {
    /// Whether a status report moves the delivery state forward. Statuses arrive out of
    /// order and more than once: sent < delivered < read, and failed is final.
    pub fn advances(from: Option<Delivery>, to: Delivery) -> bool {
        fn rank(d: Delivery) -> u8 {
            match d {
                Delivery::Sent => 1,
                Delivery::Delivered => 2,
                Delivery::Read => 3,
                Delivery::Failed => 4,
            }
        }
        match from {
            None => true,
            Some(Delivery::Failed) => false,
            Some(Delivery::Read) => false,
            Some(from) => rank(to) > rank(from),
        }
    }
}

/// One outgoing message as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub appointment_id: i64,
    pub kind: OutboxKind,
    /// The rule that planned a reminder, or what a reply answers (`confirmed`, …).
    pub rule: String,
    /// The appointment's start when the message was planned: a button tapped on a
    /// reminder for an older start time must not confirm the new one.
    pub appointment_start: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub state: OutboxState,
    /// Attempts started so far (a claim counts as one).
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// A reply's text (a reminder is rendered when it is sent).
    pub body: Option<String>,
    /// The inbound message a reply answers.
    pub reply_to: Option<String>,
    pub channel: Option<String>,
    /// The provider's id (`wamid.…`) once accepted.
    pub message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The provider's error code of the last failure.
    pub error_code: Option<i64>,
    /// Why the message failed, was skipped or cancelled, in words.
    pub detail: Option<String>,
    pub delivery: Option<Delivery>,
    pub delivery_at: Option<DateTime<Utc>>,
    pub delivery_error_code: Option<i64>,
    /// Why a reminder goes at another time than its rule's moment.
    pub plan_note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Delivery::*;

    #[test]
    fn delivery_only_moves_forward_and_failed_is_final() {
        let cases = [
            (None, Sent, true),
            (None, Read, true),
            (Some(Sent), Delivered, true),
            (Some(Sent), Read, true),
            (Some(Delivered), Sent, false),
            (Some(Read), Delivered, false),
            (Some(Read), Read, false),
            (Some(Sent), Failed, true),
            (Some(Delivered), Failed, true),
            (Some(Failed), Read, false),
            (Some(Failed), Sent, false),
            // once read, a message was delivered: a late failure report changes nothing
            (Some(Read), Failed, false),
        ];
        for (from, to, expected) in cases {
            assert_eq!(Delivery::advances(from, to), expected, "{from:?} -> {to:?}");
        }
    }
}

/// What a [`OutboxKind::Notice`] carries in `body` (JSON): an approved template and its
/// body parameters, in order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoticeBody {
    pub template: String,
    pub language: String,
    pub params: Vec<String>,
}
