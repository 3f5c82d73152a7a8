//! Operating the daemon: health and readiness endpoints, logging, shutdown signals.

pub mod health;
pub mod shutdown;
pub mod telemetry;
