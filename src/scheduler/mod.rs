//! Sending what is due: the dispatcher that drains the outbox into the channels, with
//! its retry policy.

mod backoff;
pub mod dispatch;

pub use dispatch::{DispatchOptions, Dispatcher, callback_data, parse_callback_data};
