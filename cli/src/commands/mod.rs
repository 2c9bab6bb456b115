//! One module per command that is more than a few lines, so `main.rs` only
//! parses arguments and dispatches.

pub mod diff;
pub mod graph;
