//! Logging: human-readable lines by default, JSON for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `filter`.
/// Calling it twice is harmless (the second call does nothing).
pub fn init(json: bool, filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info")));
    // stderr: stdout belongs to what a command prints (the demo's messages, check-config)
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
