//! The signals the daemon handles: SIGTERM (systemd, the kubelet) and SIGINT (a terminal)
//! stop it; SIGHUP (`systemctl reload`, a terminal closing) does not. The configuration is
//! read once at start, so a reload cannot apply anything: SIGHUP is logged and ignored
//! rather than left to its default, which would kill the daemon.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The daemon's signals, installed once, before anything is served.
#[derive(Debug)]
pub struct Stop {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Stop {
    pub fn install() -> std::io::Result<Self> {
        Ok(Stop {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Resolves at the next SIGTERM or SIGINT; a SIGHUP meanwhile is logged.
    pub async fn received(&mut self) {
        loop {
            tokio::select! {
                _ = self.terminate.recv() => return,
                _ = self.interrupt.recv() => return,
                _ = self.hangup.recv() => tracing::warn!(
                    "SIGHUP: nothing reloaded; the configuration is read at start (restart the daemon to apply a new one)"
                ),
            }
        }
    }
}
