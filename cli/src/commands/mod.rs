//! One module per command that is more than a few lines, so `main.rs` only
//! parses arguments and dispatches.

pub mod check;
pub mod diff;
pub mod graph;
pub mod misc;
