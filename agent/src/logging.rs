//! Logs: tracing to stderr, one line per decision. Plain text without timestamps for journald
//! (which stamps every line itself), or JSON with timestamps. `RUST_LOG` filters (default
//! `info`).

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One plain line per event (journald adds the time).
    #[default]
    Text,
    /// One JSON object per event, with a timestamp.
    Json,
}

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling commands twice in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.without_time().with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
