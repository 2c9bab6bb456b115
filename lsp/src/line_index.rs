//! Byte offsets ↔ LSP positions (zero-based line, UTF-16 code units).
//! The compiler speaks byte offsets only; this is the one place they meet
//! the protocol's columns.

use iotc_compiler::source::SourceFile;
use lsp_types::Position;

/// Line starts of one text, for converting positions both ways.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: std::borrow::Cow<'a, [usize]>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        // `\n`, `\r\n` and a lone `\r` all end a line, for LSP as for the parser.
        let line_starts = iotc_compiler::source::line_starts(text).into();
        LineIndex { text, line_starts }
    }

    /// An index of `text` whose line starts (`source::line_starts`) are
    /// already known, as an open document keeps them.
    pub fn with_starts(text: &'a str, line_starts: &'a [usize]) -> LineIndex<'a> {
        LineIndex {
            text,
            line_starts: line_starts.into(),
        }
    }

    /// The position of a byte offset. Offsets past the end clamp to the end;
    /// offsets inside a multi-byte character count that character's start.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        Position::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            utf16_column(self.text, start, offset),
        )
    }

    /// The byte offset of a position. A column past the end of its line
    /// clamps to the line end (before the newline); a line past the end
    /// clamps to the end of the text; a column inside a surrogate pair
    /// moves to the character's start.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(pos.line as usize + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        byte_offset(self.text, start, end, pos.character)
    }

    /// The range of a byte span.
    pub fn range(&self, start: usize, end: usize) -> lsp_types::Range {
        lsp_types::Range::new(self.position(start), self.position(end))
    }
}

/// The position of a byte offset in a loaded file, using the line table
/// the file already has (no scan of the whole text).
pub fn position_in(src: &SourceFile, offset: usize) -> Position {
    let (line, col) = src.line_col(offset);
    let start = offset.min(src.text.len()) - col;
    Position::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        utf16_column(&src.text, start, offset),
    )
}

/// The byte offset of a position in a loaded file (clamped like
/// [`LineIndex::offset`]).
pub fn offset_in(src: &SourceFile, pos: Position) -> usize {
    let Some(start) = src.line_start(pos.line as usize) else {
        return src.text.len();
    };
    let end = src
        .line_start(pos.line as usize + 1)
        .map(|e| e - 1)
        .unwrap_or(src.text.len());
    byte_offset(&src.text, start, end, pos.character)
}

/// UTF-16 code units from the line start `start` to the byte `offset`
/// (a character that `offset` falls inside does not count).
fn utf16_column(text: &str, start: usize, offset: usize) -> u32 {
    let units: usize = text
        .get(start..)
        .unwrap_or("")
        .char_indices()
        .take_while(|(i, c)| start + i + c.len_utf8() <= offset)
        .map(|(_, c)| c.len_utf16())
        .sum();
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// The byte offset of UTF-16 column `character` in the line
/// `text[start..end]`: clamped to the line end (past the end of the line, or
/// a `\r` before the newline); inside a surrogate pair, the character start.
fn byte_offset(text: &str, start: usize, end: usize, character: u32) -> usize {
    let line = text.get(start..end).unwrap_or("");
    let mut units = 0u32;
    for (i, c) in line.char_indices() {
        let next = units + u32::try_from(c.len_utf16()).unwrap_or(1);
        if next > character {
            return start + i;
        }
        units = next;
    }
    start + line.len()
}

/// The range of a span in a loaded file.
pub fn range_in(src: &SourceFile, start: usize, end: usize) -> lsp_types::Range {
    lsp_types::Range::new(position_in(src, start), position_in(src, end))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn ascii_offsets_round_trip() {
        let ix = LineIndex::new("ab\ncd\n");
        assert_eq!(ix.position(0), Position::new(0, 0));
        assert_eq!(ix.position(4), Position::new(1, 1));
        assert_eq!(ix.position(6), Position::new(2, 0));
        assert_eq!(ix.offset(Position::new(1, 1)), 4);
    }

    #[test]
    fn non_ascii_text_counts_utf16_units() {
        // `é` is 2 bytes and 1 unit; `𝔘` is 4 bytes and 2 units (a surrogate pair).
        let text = "x = \"é𝔘\" // ünïcode\nnext";
        let ix = LineIndex::new(text);
        let quote = text.rfind('"').unwrap();
        // x = " (5 units) + é (1) + 𝔘 (2)
        assert_eq!(ix.position(quote), Position::new(0, 8));
        assert_eq!(ix.offset(Position::new(0, 8)), quote);
        let u = text.find('𝔘').unwrap();
        assert_eq!(ix.position(u), Position::new(0, 6));
        // A column in the middle of the pair lands on the character.
        assert_eq!(ix.offset(Position::new(0, 7)), u);
        let next = text.find("next").unwrap();
        assert_eq!(ix.position(next + 2), Position::new(1, 2));
        assert_eq!(ix.offset(Position::new(1, 2)), next + 2);
    }

    #[test]
    fn every_char_boundary_round_trips() {
        let text = "αβγ\n日本語 \u{1F600} end\r\nlast";
        let ix = LineIndex::new(text);
        for (i, _) in text.char_indices() {
            assert_eq!(ix.offset(ix.position(i)), i, "offset {i}");
        }
    }

    #[test]
    fn source_file_conversions_agree_with_the_index() {
        use iotc_compiler::source::{FileId, Origin};
        let text = "αβγ\n日本語 \u{1F600} end\r\nlast";
        let src = SourceFile::new(FileId(0), Origin::CommandLine, text.to_string());
        let ix = LineIndex::new(text);
        for (i, _) in text.char_indices().chain([(text.len(), ' ')]) {
            assert_eq!(position_in(&src, i), ix.position(i), "offset {i}");
            assert_eq!(offset_in(&src, ix.position(i)), i, "offset {i}");
        }
        assert_eq!(offset_in(&src, Position::new(9, 0)), text.len());
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let ix = LineIndex::new("ab\ncd");
        assert_eq!(ix.offset(Position::new(0, 99)), 2);
        assert_eq!(ix.offset(Position::new(9, 0)), 5);
        assert_eq!(ix.position(99), Position::new(1, 2));
        // Inside a multi-byte character: its start.
        let ix = LineIndex::new("é");
        assert_eq!(ix.position(1), Position::new(0, 0));
    }
}
