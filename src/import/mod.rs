//! Import: calendar sources become appointments.
pub mod contact;
pub mod fetch;
pub mod sync;
