//! Offsets across one edit: where a position of the document as it is now
//! was in the older text an analysis was made of. While a re-check runs,
//! the server answers a hover from the newest analysis through this map
//! (rust-analyzer answers from the last snapshot the same way); a position
//! inside the edited text has no older place and waits for the re-check.

/// The one edit between an older and a newer text: both share
/// `old[..start]` and everything from `old_end` on (`new_end` in the new
/// text). The edited region is widened to whole words, so a word the edit
/// touched never maps to its older spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditMap {
    start: usize,
    old_end: usize,
    new_end: usize,
}

/// Bytes compared at a time: equal blocks are skipped with one slice
/// comparison (a `memcmp`), so a 300 kB document costs microseconds.
const BLOCK: usize = 256;

/// The length of the longest common prefix of `a` and `b`.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= len && a.get(i..i + BLOCK) == b.get(i..i + BLOCK) {
        i += BLOCK;
    }
    while i < len && a.get(i) == b.get(i) {
        i += 1;
    }
    i
}

/// The length of the longest common suffix of `a` and `b`, at most `max`.
fn common_suffix(a: &[u8], b: &[u8], max: usize) -> usize {
    let (la, lb) = (a.len(), b.len());
    let mut k = 0;
    while k + BLOCK <= max && a.get(la - k - BLOCK..la - k) == b.get(lb - k - BLOCK..lb - k) {
        k += BLOCK;
    }
    while k < max && a.get(la - k - 1) == b.get(lb - k - 1) {
        k += 1;
    }
    k
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || !b.is_ascii()
}

impl EditMap {
    /// The edit from `old` to `new` (common prefix and suffix; `None` when
    /// the texts are equal).
    pub fn new(old: &str, new: &str) -> Option<EditMap> {
        if old == new {
            return None;
        }
        let (o, n) = (old.as_bytes(), new.as_bytes());
        let mut start = common_prefix(o, n);
        let max_suffix = o.len().min(n.len()) - start;
        let suffix = common_suffix(o, n, max_suffix);
        let (mut old_end, mut new_end) = (o.len() - suffix, n.len() - suffix);
        // Whole words: back over the word the edit starts in, forward over
        // the one it ends in (the same bytes in both texts).
        while start > 0 && o.get(start - 1).copied().is_some_and(is_word) {
            start -= 1;
        }
        while o.get(old_end).copied().is_some_and(is_word) {
            old_end += 1;
            new_end += 1;
        }
        Some(EditMap {
            start,
            old_end,
            new_end,
        })
    }

    /// Where the edit starts, the same offset in both texts.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Where `offset` of the new text was in the old one; `None` inside the
    /// edit.
    pub fn to_old(&self, offset: usize) -> Option<usize> {
        if offset < self.start {
            Some(offset)
        } else if offset >= self.new_end {
            Some(offset - self.new_end + self.old_end)
        } else {
            None
        }
    }

    /// Where `offset` of the old text is in the new one; `None` inside the
    /// edit.
    pub fn to_new(&self, offset: usize) -> Option<usize> {
        if offset <= self.start {
            Some(offset)
        } else if offset >= self.old_end {
            Some(offset - self.old_end + self.new_end)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::EditMap;

    #[test]
    fn offsets_before_and_after_an_edit_move_with_it() {
        let old = "service a { replicas = 1 per 10 }\nservice b { cpu = 1 }\n";
        let new = "service a { replicas = 1 per 12 }\nservice b { cpu = 1 }\n";
        let m = EditMap::new(old, new).unwrap();
        // `service a`: before the edit, the same place.
        assert_eq!(m.to_old(8), Some(8));
        // The edited number, whole: no older place.
        let at = new.find("12").unwrap();
        assert_eq!(m.to_old(at), None);
        assert_eq!(m.to_old(at + 1), None);
        // After it: the same place (same length).
        let b = new.find("b {").unwrap();
        assert_eq!(m.to_old(b), Some(old.find("b {").unwrap()));
        assert_eq!(m.to_new(old.find("b {").unwrap()), Some(b));
        assert_eq!(EditMap::new(old, old), None);
    }

    #[test]
    fn an_insertion_shifts_what_follows() {
        let old = "service a { }\nservice b { }\n";
        let new = "service a { cpu = 2 }\nservice b { }\n";
        let m = EditMap::new(old, new).unwrap();
        let (ob, nb) = (old.find('b').unwrap(), new.find('b').unwrap());
        assert_eq!(m.to_old(nb), Some(ob));
        assert_eq!(m.to_new(ob), Some(nb));
        // Inside the inserted text.
        assert_eq!(m.to_old(new.find("cpu").unwrap()), None);
        // A deletion, the other way round.
        let back = EditMap::new(new, old).unwrap();
        assert_eq!(back.to_old(ob), Some(nb));
        // Everything before the edit maps to itself, also at its start.
        assert_eq!(m.to_old(0), Some(0));
        assert_eq!(m.to_new(old.find('{').unwrap()), Some(new.find('{').unwrap()));
    }

    #[test]
    fn long_texts_compare_by_blocks_and_bytes() {
        let head = "a = 1\n".repeat(1000);
        let tail = "b = 2\n".repeat(1000);
        let old = format!("{head}x = 10\n{tail}");
        let new = format!("{head}x = 123\n{tail}");
        let m = EditMap::new(&old, &new).unwrap();
        let at = new.find("123").unwrap();
        assert_eq!(m.to_old(at - 2), Some(at - 2));
        assert_eq!(m.to_old(at), None);
        let after = new.find("b = 2").unwrap();
        assert_eq!(m.to_old(after), Some(old.find("b = 2").unwrap()));
        // Prefix and suffix as long as the shorter text: one is the other
        // with more at the end.
        let m = EditMap::new(&head, &old).unwrap();
        assert_eq!(m.to_old(head.len() - 6), Some(head.len() - 6));
        assert_eq!(m.to_old(head.len() + 1), None);
        assert_eq!(super::common_prefix(head.as_bytes(), old.as_bytes()), head.len());
        assert_eq!(
            super::common_suffix(old.as_bytes(), new.as_bytes(), 7000),
            tail.len() + 1
        );
    }

    #[test]
    fn a_word_the_edit_touches_is_inside_it() {
        // Appending to `sensor` edits the word `sensor` → `sensors`.
        let old = "x = sensor\ny = 1\n";
        let new = "x = sensors\ny = 1\n";
        let m = EditMap::new(old, new).unwrap();
        assert_eq!(m.to_old(new.find("sensors").unwrap()), None);
        assert_eq!(m.to_old(new.find('y').unwrap()), Some(old.find('y').unwrap()));
        assert_eq!(m.to_old(0), Some(0));
    }
}
