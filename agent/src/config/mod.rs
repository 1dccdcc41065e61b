//! Configuration: `/etc/nodecap/config.toml`, then `NODECAP_*` environment variables, then
//! command-line flags, each layer overriding the one before. Raw layers are TOML tables; they
//! are checked one by one (so an error names the file and line, the variable or the flag),
//! merged, and turned into a validated [`Config`] before anything is bound or written.
//!
//! The checked [`Config`] hands each stage its own settings ([`Config::init`],
//! [`Config::daemon`]): the stages never see the configuration file's shape.
//!
//! Every key is listed in [`DEFAULTS`] (`defaults.toml`, the commented file `nodecap config
//! defaults` prints); a test parses it back so the documentation cannot drift from the code.

mod checked;
mod error;
mod layers;
mod raw;
mod shape;
mod validate;
mod values;

pub use checked::Config;
pub use error::Error;
pub use layers::*;
pub use values::parse_duration;

pub const DEFAULT_PATH: &str = "/etc/nodecap/config.toml";

/// The default configuration file, every key commented out at its default.
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[cfg(test)]
mod tests;
