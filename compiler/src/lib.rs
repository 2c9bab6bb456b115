//! The iotc compiler: parse → resolve → check → evaluated IR. Pure: no IO,
//! sources come in through [`source::SourceDb`] and the stdlib is embedded.

pub mod check;
pub mod diag;
pub mod emit;
pub mod fmt;
pub mod graph;
pub mod ide;
pub mod ir;
pub mod names;
pub mod overview;
pub mod picture;
pub mod plan;
pub mod schema;
pub mod source;
pub mod stdlib;
pub mod syntax;

pub use check::{analyze, analyze_names, analyze_with, prepare, Analysis, Overrides, Prepared, Recheck};
