//! Compiles the parser that `tree-sitter generate` wrote to `src/` (the
//! generated C is committed, as tree-sitter grammars do, so building needs
//! no tree-sitter CLI and no Node).
fn main() {
    let src = std::path::Path::new("src");
    cc::Build::new()
        .std("c11")
        .include(src)
        .file(src.join("parser.c"))
        .warnings(false)
        .compile("tree-sitter-iot");
    println!("cargo:rerun-if-changed=src/parser.c");
}
