// SPDX-License-Identifier: GPL-2.0

//! The reference escaper: the escaping part of l4log's `chardev/escape.rs` as it was before its
//! word-at-a-time fast path (commit 5006279), as the oracle of `differential.rs`, with one
//! change since: the backslash is escaped too (in `first_to_escape`, one byte at a time like the
//! rest); and in `chunks`, the chunking of `chardev/emit.rs` of the same commit.
//!
//! Text passes unchanged: newline, tab and every printable character of valid UTF-8 but the
//! backslash. Each byte of anything else is shown as `\xNN` (lower-case hex): the C0 controls
//! (ESC included, so no escape sequence gets through), DEL, the C1 controls (U+0080 to U+009F,
//! which some terminals obey), bytes that are not valid UTF-8 (raw 0x80-0xff: a lone 0x9b is
//! CSI to an 8-bit terminal), and the backslash (`\x5c`), so that the output decodes back to
//! exactly the input: every backslash in it starts a `\xNN`.

/// The most bytes one input byte becomes: `\xNN`.
pub(crate) const ESCAPED_LEN: usize = 4;

/// A stretch of the input: to be sent as it is, or one byte to be shown as `\xNN`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Verbatim(&'a [u8]),
    Escaped(u8),
}

/// `byte` as `\xNN`.
pub(crate) fn escaped(byte: u8) -> [u8; ESCAPED_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'x',
        HEX[usize::from(byte >> 4)],
        HEX[usize::from(byte & 0xf)],
    ]
}

/// The input cut into [`Piece`]s, in order; together they cover every input byte once.
pub(crate) fn pieces(input: &[u8]) -> Pieces<'_> {
    Pieces {
        rest: input,
        valid: 0,
        to_escape: 0,
    }
}

/// The iterator of [`pieces`].
pub(crate) struct Pieces<'a> {
    /// The input not yet returned.
    rest: &'a [u8],
    /// How many bytes at the start of `rest` are known to be valid UTF-8.
    valid: usize,
    /// How many bytes at the start of `rest` are to be escaped, one [`Piece::Escaped`] each.
    to_escape: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        let first = *self.rest.first()?;
        if self.to_escape == 0 && self.valid == 0 {
            self.measure();
        }
        if self.to_escape > 0 {
            self.to_escape -= 1;
            self.advance(1);
            return Some(Piece::Escaped(first));
        }
        let valid = &self.rest[..self.valid];
        match first_to_escape(valid) {
            Some((0, len)) => {
                self.to_escape = len;
                self.next()
            }
            found => {
                let end = found.map_or(valid.len(), |(start, _)| start);
                self.advance(end);
                Some(Piece::Verbatim(&valid[..end]))
            }
        }
    }
}

impl Pieces<'_> {
    /// Sets `valid` to the length of the valid UTF-8 at the start of `rest`, or, when there is
    /// none, `to_escape` to the length of the invalid sequence there.
    fn measure(&mut self) {
        match core::str::from_utf8(self.rest) {
            Ok(_) => self.valid = self.rest.len(),
            Err(error) => {
                self.valid = error.valid_up_to();
                if self.valid == 0 {
                    // `None`: an unfinished character ends the input; escape what there is.
                    self.to_escape = error.error_len().unwrap_or(self.rest.len());
                }
            }
        }
    }

    fn advance(&mut self, count: usize) {
        self.rest = &self.rest[count..];
        self.valid = self.valid.saturating_sub(count);
    }
}

/// Where the first character to escape of the valid UTF-8 `text` starts and how many bytes it
/// has: a control character (newline and tab excepted) or a backslash.
fn first_to_escape(text: &[u8]) -> Option<(usize, usize)> {
    text.iter().enumerate().find_map(|(at, &byte)| match byte {
        b'\n' | b'\t' => None,
        0..=0x1f | 0x7f => Some((at, 1)),
        // The backslash, so that every backslash of the output starts a `\xNN`.
        b'\\' => Some((at, 1)),
        // U+0080 to U+009F are 0xc2 0x80 to 0xc2 0x9f in UTF-8.
        0xc2 if matches!(text.get(at + 1), Some(0x80..=0x9f)) => Some((at, 2)),
        _ => None,
    })
}

/// The host calls the emitter of commit 5006279 made for `input` with escaping on, `chunk`
/// bytes at most each: escaped pieces pushed into a buffer that is sent when full, an escaped
/// byte only when all of it fits.
pub(crate) fn chunks(input: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut calls = Vec::new();
    let mut out = Vec::new();
    for piece in pieces(input) {
        match piece {
            Piece::Verbatim(mut run) => {
                while !run.is_empty() {
                    if out.len() == chunk {
                        calls.push(std::mem::take(&mut out));
                    }
                    let count = run.len().min(chunk - out.len());
                    out.extend_from_slice(&run[..count]);
                    run = &run[count..];
                }
            }
            Piece::Escaped(byte) => {
                if chunk - out.len() < ESCAPED_LEN {
                    calls.push(std::mem::take(&mut out));
                }
                out.extend_from_slice(&escaped(byte));
            }
        }
    }
    if !out.is_empty() {
        calls.push(out);
    }
    calls
}
