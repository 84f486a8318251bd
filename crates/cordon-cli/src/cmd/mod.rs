//! One module per command group; each owns its clap arguments and its `run`.

pub mod agents;
pub mod approvals;
pub mod fleet;
pub mod hook;
pub mod log;
pub mod mcp;
pub mod pause;
pub mod policy;
pub mod secret;
pub mod serve;
pub mod status;
pub mod tools;

/// Exit code for a finding: invalid policy, failed policy test, failed verification.
pub const EXIT_FINDING: u8 = 1;
/// Exit code for a usage error (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
