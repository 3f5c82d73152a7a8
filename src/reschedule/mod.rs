//! Rescheduling: after a tap on "Verzetten", the free times to offer and the short
//! conversation that ends with a time for staff to accept. Both parts are pure; the
//! webhook processor stores the conversation and carries out its effects.

pub mod availability;
pub mod conversation;
pub mod offer;
pub mod search;
pub mod settings;
pub mod staff;

pub use availability::{Schedule, Search, Slot, free_slots};
pub use conversation::{Conversation, Effect, Input, Message, Refused, State};
pub use offer::{Offer, offer_list};
pub use settings::{CalendarHours, ConversationTexts, OfferTexts, RescheduleSettings};
