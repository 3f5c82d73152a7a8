//! Plain types and invariants of the product, without I/O: appointments and their
//! states, outgoing messages, local time in the business zone, phone numbers, and the
//! signed button payloads that bind a customer's tap to one reminder.

/// An enum stored and shown as a fixed lowercase word, with `as_str` and `FromStr`.
macro_rules! word_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word,)+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(format!(concat!("`{}` is not a valid ", stringify!($name)), other)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// For enums stored as words outside `domain` too.
pub(crate) use word_enum;

pub mod appointment;
pub mod consent;
pub mod keys;
pub mod language;
pub mod link;
pub mod outbox;
pub mod payload;
pub mod phone;
pub mod redact;
pub mod secret;
pub mod time;

pub use appointment::{Appointment, AppointmentStatus, Reply};
pub use consent::{Consent, ConsentChannel, ConsentMethod, ConsentStatus, NewConsent};
pub use language::Language;
pub use link::{LinkError, LinkToken, LinkVerb};
pub use outbox::{Channel, Delivery, NoticeBody, OutboxKind, OutboxMessage, OutboxState};
pub use payload::{Action, ButtonPayload, PayloadKey, SlotChoice};
pub use phone::{Phone, PhoneError, Region};
