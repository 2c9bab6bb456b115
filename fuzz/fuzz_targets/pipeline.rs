//! libFuzzer target: one input through parse, check, plan, every backend,
//! fmt and the language server (see `../pipeline.rs`).
#![no_main]

#[path = "../pipeline.rs"]
mod pipeline;

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipeline::run(data));
