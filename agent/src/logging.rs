//! Logs: tracing to stderr, one line per decision. Plain text without timestamps for journald
//! (which stamps every line itself), or JSON with timestamps. `RUST_LOG` filters by target
//! and level (default `info`; `warn,nodecap=debug`): `tracing_subscriber`'s `Targets`, which
//! needs no regular expressions (its `EnvFilter` brings a regex engine into the binary for
//! span and field filters nodecap's logs do not need).

use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
    // A RUST_LOG that does not parse is passed over for the default, as before.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // The builder's own level filter lets everything through to `filter`.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling commands twice in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder
            .without_time()
            .with_ansi(false)
            .finish()
            .with(filter)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init(),
    };
}
