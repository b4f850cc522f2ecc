// SPDX-License-Identifier: GPL-2.0

//! Looking at text a machine word at a time.
//!
//! Each function below classifies every byte of a word at once and answers with a mask that
//! has the high bit (0x80) of each byte that is in the class set, and no other bit. The sums
//! are arranged so that no byte carries into the next: every per-byte sum stays below 0x100.
//! That makes the masks exact for every byte, not only for the first match.

/// What the scans load at once.
pub(crate) type Word = usize;

/// Bytes in a [`Word`].
pub(crate) const WORD_BYTES: usize = core::mem::size_of::<Word>();

/// `byte` in every byte of a word.
const fn splat(byte: u8) -> Word {
    Word::MAX / 0xff * byte as Word
}

const LOW7: Word = splat(0x7f);
pub(crate) const HIGH: Word = splat(0x80);

/// The word made of the first [`WORD_BYTES`] bytes of `bytes`, with the rest, if `bytes` has
/// that many.
pub(crate) fn split_word(bytes: &[u8]) -> Option<(Word, &[u8])> {
    let (word, rest) = bytes.split_first_chunk::<WORD_BYTES>()?;
    Some((Word::from_le_bytes(*word), rest))
}

/// The bytes of `word` equal to `byte`.
pub(crate) fn equal_to(word: Word, byte: u8) -> Word {
    let diff = word ^ splat(byte);
    // A byte's high bit: set by the sum when its low 7 bits are not all zero, or set already.
    !(((diff & LOW7) + LOW7) | diff) & HIGH
}

/// The bytes of `word` that are not plain text (newline, tab, and plain ASCII: see
/// [`is_plain_ascii`]).
pub(crate) fn not_plain(word: Word) -> Word {
    let suspects = not_plain_ascii(word);
    if suspects == 0 {
        return 0;
    }
    suspects & !(equal_to(word, b'\n') | equal_to(word, b'\t'))
}

/// The bytes of `word` that can begin a character of several bytes: 0xc2 to 0xf4.
pub(crate) fn leads(word: Word) -> Word {
    // 0xc2 and above: the high bit of `byte + 0x3e` (over 0xff carries: only bytes >= 0x80
    // are asked, through their low 7 bits); 0xf4 and below: not the high bit of ...
    let low = word & LOW7;
    let at_least_c2 = (low + splat(0x80 - 0x42)) & HIGH;
    let at_most_f4 = !(low + splat(0x80 - 0x75)) & HIGH;
    at_least_c2 & at_most_f4 & word & HIGH
}

/// The bytes of `word` that are continuation bytes (0x80 to 0xbf): bit 7 set, bit 6 clear.
pub(crate) fn continuations(word: Word) -> Word {
    // Each byte's bit 6 moved to its bit 7 (bit 7 moves into the next byte's bit 0).
    word & !(word << 1) & HIGH
}

/// Whether `byte` is plain ASCII: printable (0x20 to 0x7e) and not the backslash, which is
/// escaped so that escaped text decodes back to exactly the bytes written.
pub(crate) fn is_plain_ascii(byte: u8) -> bool {
    matches!(byte, b' '..=b'[' | b']'..=b'~')
}

/// The bytes of `word` that are not plain ASCII: below 0x20 (newline and tab too), the
/// backslash (0x5c), 0x7f, and 0x80 and above.
fn not_plain_ascii(word: Word) -> Word {
    ascii_to_escape(word & LOW7) | (word & HIGH)
}

/// The bytes of `low`, a word whose bytes are all below 0x80, that are ASCII to escape (or to
/// pass, for newline and tab): below 0x20, the backslash (0x5c), and 0x7f.
fn ascii_to_escape(low: Word) -> Word {
    // Exact for every byte: each byte of `low`, and of `low ^ 0x5c`, is at most 0x7f, so no
    // byte of a sum below exceeds 0x7f + 0x7f = 0xfe and none carries into the next. Below
    // 0x20: no high bit in `low + 0x60`. 0x7f: the high bit of `low + 0x01`. The backslash:
    // no high bit in `(low ^ 0x5c) + 0x7f`, since `low ^ 0x5c` is 0 for 0x5c only.
    (!(low + splat(0x60)) | (low + splat(0x01)) | !((low ^ splat(b'\\')) + LOW7)) & HIGH
}

/// The index of the first byte that `mask` (as made above) marks.
pub(crate) fn first_marked(mask: Word) -> usize {
    // Little-endian loads: the first byte is the lowest.
    (mask.trailing_zeros() / 8) as usize
}

/// The index of the last byte that `mask` (not 0) marks.
pub(crate) fn last_marked(mask: Word) -> usize {
    WORD_BYTES - 1 - (mask.leading_zeros() / 8) as usize
}

/// How many bytes `mask` marks.
pub(crate) fn count_marked(mask: Word) -> usize {
    // One 1 per marked byte, summed into the top byte by the multiplication.
    ((mask >> 7).wrapping_mul(splat(1)) >> (Word::BITS - 8)) as usize
}

/// Where the newlines of `bytes` are: how many there are, and the index after the last one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Newlines {
    pub(crate) count: usize,
    /// 0 when there is none.
    pub(crate) end_of_last: usize,
}

/// The [`Newlines`] of `bytes`, in one pass.
pub(crate) fn newlines(bytes: &[u8]) -> Newlines {
    scan_lines(bytes, false).0
}

/// The [`Newlines`] of `bytes` and, with `plain`, how many bytes at their start are plain
/// text in the narrow sense of plain ASCII (see [`is_plain_ascii`]) and newline (0 without
/// `plain`), in one pass.
pub(crate) fn scan_lines(bytes: &[u8], plain: bool) -> (Newlines, usize) {
    let mut found = Newlines::default();
    // Where plain text was seen to end; `None` while it goes on.
    let mut plain_end = if plain { None } else { Some(0) };
    let mut rest = bytes;
    let mut at = 0;
    while let Some((word, after)) = split_word(rest) {
        let newlines = equal_to(word, b'\n');
        if newlines != 0 {
            found.count += count_marked(newlines);
            found.end_of_last = at + last_marked(newlines) + 1;
        }
        if plain_end.is_none() {
            let not_plain = not_plain_ascii(word) & !newlines;
            if not_plain != 0 {
                plain_end = Some(at + first_marked(not_plain));
            }
        }
        at += WORD_BYTES;
        rest = after;
    }
    for (offset, &byte) in rest.iter().enumerate() {
        if byte == b'\n' {
            found.count += 1;
            found.end_of_last = at + offset + 1;
        }
        if plain_end.is_none() && byte != b'\n' && !is_plain_ascii(byte) {
            plain_end = Some(at + offset);
        }
    }
    (found, plain_end.unwrap_or(bytes.len()))
}
