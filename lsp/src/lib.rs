//! The iotc language server (`iotc lsp`): LSP over stdio on top of the
//! compiler. The only crate that knows LSP and JSON-RPC.
//!
//! - `world`: open documents and one fresh analysis per open document;
//! - `features`: hover, completion, definitions, … in byte offsets;
//! - `context`: the cursor's surroundings read from raw text;
//! - `line_index`: byte offsets ↔ UTF-16 positions;
//! - `server`: the main loop, debouncing and LSP conversion.

pub mod context;
pub mod edit_map;
pub mod features;
pub mod line_index;
pub mod server;
pub mod world;

pub use server::{run, run_stdio};
