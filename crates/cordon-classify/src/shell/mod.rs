//! Shell commands: parsing ([`parse`]) and classification ([`classify`], with the program
//! tables in [`programs`] and [`git`], and argument helpers in [`args`]).

pub(crate) mod args;
pub(crate) mod classify;
pub(crate) mod git;
pub(crate) mod parse;
pub(crate) mod programs;

pub(crate) use classify::{ShellOutcome, classify_argv_top, classify_command_line};
pub(crate) use git::analyse_push;
pub(crate) mod gitread;
pub(crate) mod readonly;
