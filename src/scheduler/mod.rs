//! Sending what is due: the dispatcher that drains the outbox into the channels, with
//! its retry policy.

pub(crate) mod backoff;
pub mod channel;
pub mod dispatch;
pub mod limits;

pub use dispatch::{DispatchOptions, Dispatcher, callback_data, parse_callback_data};

/// Waits until `wake` is notified or `poll` has passed; false when `shutdown` came
/// first. The idle half of every worker loop.
pub async fn wait_for_work(
    shutdown: &tokio_util::sync::CancellationToken,
    wake: &tokio::sync::Notify,
    poll: std::time::Duration,
) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = wake.notified() => true,
        _ = tokio::time::sleep(poll) => true,
    }
}
