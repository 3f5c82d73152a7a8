//! Meta's WhatsApp Cloud API: the requests reminderd sends, the client that sends them,
//! the answers it reads, and the webhooks that come back.

pub mod client;
mod json;
pub mod message;
pub mod response;
pub mod signature;
pub mod templates;
pub mod webhook;

#[cfg(test)]
mod conformance_tests;
