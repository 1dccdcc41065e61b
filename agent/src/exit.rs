//! Every exit code nodecap uses, in one place (sysexits.h where one fits), so a systemd unit
//! can tell "fix the configuration" (64: no restart) from "try again" (69). `nodecap --help`
//! lists them; every command's error maps to exactly one.

/// How a `nodecap` process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// `nodecap check` found drift.
    Drift = 1,
    /// The instance type is unknown: sizing is impossible without its limits.
    UnknownInstanceType = 2,
    /// Invalid arguments or configuration (EX_USAGE).
    Usage = 64,
    /// An existing file nodecap must merge into is malformed (EX_DATAERR).
    DataErr = 65,
    /// A needed service is unavailable (IMDS), or the listen address is taken
    /// (EX_UNAVAILABLE).
    Unavailable = 69,
    /// Internal error (EX_SOFTWARE).
    Software = 70,
    /// A file cannot be written; nothing half-written is left behind (EX_CANTCREAT).
    CantCreate = 73,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The help text's table; a test checks it lists every code of [`Exit`].
pub const HELP: &str = "\
Exit codes:
  0   success
  1   `check` found drift
  2   the instance type is unknown: sizing is impossible without its limits
  64  invalid arguments or configuration (a count of zero, an unknown key, a bad CNI version)
  65  an existing file nodecap must merge into is malformed
  69  a needed service is unavailable (IMDS, the EC2 API), or the listen address is taken
  70  internal error
  73  a file cannot be written (nothing half-written is left behind)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_every_code() {
        for exit in [
            Exit::Success,
            Exit::Drift,
            Exit::UnknownInstanceType,
            Exit::Usage,
            Exit::DataErr,
            Exit::Unavailable,
            Exit::Software,
            Exit::CantCreate,
        ] {
            let line = format!("\n  {:<3} ", exit.code());
            assert!(HELP.contains(&line), "{exit:?} is not in the help");
        }
        assert_eq!(HELP.lines().count(), 9);
    }
}
