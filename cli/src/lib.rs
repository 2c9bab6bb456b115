//! The `iotc` command line: a thin shell over the compiler library. It owns
//! all file-system IO, argument parsing and rendering.

pub mod render;

use iotc_compiler::source::{ReadError, SourceDb};

/// Reads sources from the file system.
pub struct FsDb;

impl SourceDb for FsDb {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}
