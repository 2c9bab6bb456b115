//! Sources: file identities, byte spans and the trait through which the
//! compiler reads files. The compiler itself never touches the file system.

use std::fmt;

/// Index of a loaded file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct FileId(pub u32);

/// A half-open byte range `start..end` in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn contains(&self, offset: usize) -> bool {
        (self.start as usize) <= offset && offset <= (self.end as usize)
    }
}

/// Where a file came from: the user's project, or the embedded stdlib.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A path as the [`SourceDb`] names it.
    Path(String),
    /// An embedded stdlib module, e.g. `devices` for `std.devices`.
    Std(String),
    /// A value given on the command line (`--set`).
    CommandLine,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Path(p) => write!(f, "{p}"),
            Origin::Std(m) => write!(f, "<std>/{m}.iot"),
            Origin::CommandLine => write!(f, "<command line>"),
        }
    }
}

/// Where each line starts. A line ends at `\n`, `\r\n` or a lone `\r`, as
/// for the parser and for LSP clients.
pub fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = vec![0];
    for (i, b) in bytes.iter().enumerate() {
        let lone_cr = *b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        if *b == b'\n' || lone_cr {
            out.push(i + 1);
        }
    }
    out
}

/// `text` with every lone `\r` (one not followed by `\n`) as `\n`: the same
/// bytes and offsets, for readers that only know `\n` and `\r\n`.
pub fn lone_cr_as_lf(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let lone = |i: usize| bytes.get(i) == Some(&b'\r') && bytes.get(i + 1) != Some(&b'\n');
    if !(0..bytes.len()).any(lone) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        out.push(if lone(i) { '\n' } else { c });
    }
    std::borrow::Cow::Owned(out)
}

/// One loaded source text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub id: FileId,
    pub origin: Origin,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(id: FileId, origin: Origin, text: String) -> SourceFile {
        let line_starts = line_starts(&text);
        SourceFile {
            id,
            origin,
            text,
            line_starts,
        }
    }

    pub fn name(&self) -> String {
        self.origin.to_string()
    }

    /// Zero-based line and byte column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        (line, offset - start)
    }

    /// Byte offset of the start of a zero-based line.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line).copied()
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// All files of one compilation, indexed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, origin: Origin, text: String) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(id, origin, text));
        id
    }

    /// How many files there are (the next [`FileId`]).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Forget every file from the `len`th on (the studio replaces its
    /// `--set` text on every preview).
    pub fn truncate(&mut self, len: usize) {
        self.files.truncate(len);
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn find(&self, origin: &Origin) -> Option<FileId> {
        self.files.iter().find(|f| &f.origin == origin).map(|f| f.id)
    }

    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    pub fn text(&self, span: Span) -> &str {
        self.get(span.file).map(|f| f.slice(span)).unwrap_or("")
    }
}

/// Error returned by a [`SourceDb`] when a file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

/// How the compiler reads user files. The CLI implements it over the file
/// system, the language server over open documents, tests over a map.
pub trait SourceDb {
    /// Read the file at `path` (as returned by [`SourceDb::resolve`] or given
    /// as the root).
    fn read(&self, path: &str) -> Result<String, ReadError>;

    /// Resolve `relative` as written in an `import` of the file at `from`.
    fn resolve(&self, from: &str, relative: &str) -> String {
        join_relative(from, relative)
    }
}

/// Join a relative import path onto the directory of `from`, normalising
/// `.` and `..` segments. Pure string work, so it behaves the same for every
/// [`SourceDb`].
pub fn join_relative(from: &str, relative: &str) -> String {
    if relative.starts_with('/') {
        return normalise(relative);
    }
    let dir = match from.rfind('/') {
        Some(i) => from.get(..i).unwrap_or(""),
        None => "",
    };
    if dir.is_empty() {
        normalise(relative)
    } else {
        normalise(&format!("{dir}/{relative}"))
    }
}

fn normalise(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// A [`SourceDb`] over an in-memory map, for tests and the language server.
#[derive(Debug, Clone, Default)]
pub struct MemoryDb {
    pub files: std::collections::BTreeMap<String, String>,
}

impl MemoryDb {
    pub fn new() -> MemoryDb {
        MemoryDb::default()
    }

    pub fn with(mut self, path: &str, text: &str) -> MemoryDb {
        self.files.insert(normalise(path), text.to_string());
        self
    }
}

impl SourceDb for MemoryDb {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        self.files
            .get(&normalise(path))
            .cloned()
            .ok_or_else(|| ReadError(format!("no such file: {path}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_and_normalise() {
        assert_eq!(join_relative("a/b/main.iot", "./c.iot"), "a/b/c.iot");
        assert_eq!(join_relative("a/b/main.iot", "../c.iot"), "a/c.iot");
        assert_eq!(join_relative("main.iot", "lib/x.iot"), "lib/x.iot");
        assert_eq!(join_relative("/abs/main.iot", "x.iot"), "/abs/x.iot");
    }

    #[test]
    fn line_col_counts_bytes() {
        let f = SourceFile::new(FileId(0), Origin::CommandLine, "ab\néx\n".into());
        assert_eq!(f.line_col(0), (0, 0));
        assert_eq!(f.line_col(3), (1, 0));
        assert_eq!(f.line_col(5), (1, 2));
    }
}
