//! Outgoing messages: planned reminders and replies to customers, each a row in the
//! durable queue, with the delivery state Meta reports back.

word_enum! {
    /// What an outgoing message is.
    pub enum OutboxKind {
        /// A template reminder planned by a rule.
        Reminder = "reminder",
        /// A free-form answer to something the customer sent.
        Reply = "reply",
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
