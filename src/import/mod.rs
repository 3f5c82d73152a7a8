//! Import: calendar sources become appointments.
pub mod contact;
