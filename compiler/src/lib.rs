//! The iotc compiler: parse → resolve → check → evaluated IR. Pure: no IO,
//! sources come in through [`source::SourceDb`] and the stdlib is embedded.

pub mod diag;
pub mod schema;
pub mod source;
pub mod syntax;
