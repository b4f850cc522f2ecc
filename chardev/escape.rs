// SPDX-License-Identifier: GPL-2.0

//! Rendering control bytes visibly, so that what a guest writes cannot drive the host's
//! terminal.
//!
//! Text passes unchanged: newline, tab and every printable character of valid UTF-8. Each byte
//! of anything else is shown as `\xNN` (lower-case hex): the C0 controls (ESC included, so no
//! escape sequence gets through), DEL, the C1 controls (U+0080 to U+009F, which some terminals
//! obey), and bytes that are not valid UTF-8 (raw 0x80-0xff: a lone 0x9b is CSI to an 8-bit
//! terminal). A backslash is not escaped, so `\x1b` in the output is either an escaped ESC or
//! those four characters written literally; use `escape=N` for byte-exact output.

use crate::words::{self, WORD_BYTES};

/// The most bytes one input byte becomes: `\xNN`.
pub(crate) const ESCAPED_LEN: usize = 4;

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

/// Escapes a text into buffers of host-call size, one [`Escaper::fill`] at a time.
pub(crate) struct Escaper<'a> {
    /// The input not yet taken.
    rest: &'a [u8],
    /// How many bytes at the start of `rest` pass as they are.
    verbatim: usize,
    /// How many bytes after those are to be shown as `\xNN`, each on its own.
    to_escape: usize,
}

/// What one [`Escaper::fill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Filled {
    /// Input bytes taken.
    pub(crate) taken: usize,
    /// Output bytes written.
    pub(crate) written: usize,
}

impl<'a> Escaper<'a> {
    /// An escaper of `input`, which it has already looked at up to the first byte to escape.
    pub(crate) fn new(input: &'a [u8]) -> Self {
        let mut escaper = Self {
            rest: input,
            verbatim: 0,
            to_escape: 0,
        };
        escaper.classify();
        escaper
    }

    /// Whether all of the input still to take passes unchanged (then it can be sent as it is).
    pub(crate) fn is_verbatim(&self) -> bool {
        self.verbatim == self.rest.len()
    }

    /// Whether all the input has been taken.
    pub(crate) fn is_done(&self) -> bool {
        self.rest.is_empty()
    }

    /// Writes the escaped form of as much of the input as fits into `out`: text up to the last
    /// byte of `out` (a character may be cut there; the next fill goes on with the rest of
    /// it), an escaped byte only when all of its [`ESCAPED_LEN`] bytes fit.
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Filled {
        let input_len = self.rest.len();
        let mut written = 0;
        while !self.rest.is_empty() {
            let room = &mut out[written..];
            if self.verbatim > 0 {
                let count = self.verbatim.min(room.len());
                if count == 0 {
                    break;
                }
                room[..count].copy_from_slice(&self.rest[..count]);
                written += count;
                self.verbatim -= count;
                self.advance(count);
            } else {
                let Some(slot) = room.first_chunk_mut::<ESCAPED_LEN>() else {
                    break;
                };
                *slot = escaped(self.rest[0]);
                written += ESCAPED_LEN;
                self.to_escape -= 1;
                self.advance(1);
            }
        }
        Filled {
            taken: input_len - self.rest.len(),
            written,
        }
    }

    fn advance(&mut self, count: usize) {
        self.rest = &self.rest[count..];
        if self.verbatim == 0 && self.to_escape == 0 {
            self.classify();
        }
    }

    /// Measures the text at the start of `rest` that passes and the bytes to escape after it.
    fn classify(&mut self) {
        (self.verbatim, self.to_escape) = scan(self.rest);
    }
}

/// How many bytes at the start of `input` pass unchanged, and how many bytes after those form
/// the sequence to escape there (0 at the end of the input): 1 for a C0 control or DEL, 2 for
/// a C1 control, the length of an invalid UTF-8 sequence, or the rest of the input when it
/// ends in an unfinished character.
fn scan(input: &[u8]) -> (usize, usize) {
    let mut at = 0;
    loop {
        at = plain_words_end(input, at);
        let Some(&byte) = input.get(at) else {
            return (at, 0);
        };
        match byte {
            b'\n' | b'\t' | 0x20..=0x7e => at += 1,
            0..=0x1f | 0x7f => return (at, 1),
            _ => match utf8_sequence(&input[at..]) {
                // U+0080 to U+009F are 0xc2 0x80 to 0xc2 0x9f in UTF-8.
                Sequence::Char(2) if byte == 0xc2 && input[at + 1] <= 0x9f => return (at, 2),
                Sequence::Char(len) => at += len,
                Sequence::Invalid(len) => return (at, len),
            },
        }
    }
}

/// Where the plain text (printable ASCII, newline, tab) from `at` on first has a byte that is
/// not plain, looking a word at a time; or where fewer than a word's bytes are left.
fn plain_words_end(input: &[u8], mut at: usize) -> usize {
    while let Some((word, _)) = words::split_word(&input[at..]) {
        let not_plain = words::not_plain(word);
        if not_plain != 0 {
            return at + words::first_marked(not_plain);
        }
        at += WORD_BYTES;
    }
    at
}

/// The UTF-8 sequence at the start of a text.
#[derive(Debug, PartialEq, Eq)]
enum Sequence {
    /// A valid character of this many bytes.
    Char(usize),
    /// Not a character: this many bytes, as `core::str::Utf8Error::error_len` counts them, or
    /// all of them when they are the start of a character that the text ends before.
    Invalid(usize),
}

/// The sequence at the start of `bytes` (which starts with a byte >= 0x80), checked as
/// `core::str::from_utf8` checks it: no overlong forms, no surrogates, nothing above U+10FFFF.
fn utf8_sequence(bytes: &[u8]) -> Sequence {
    let (len, second) = match bytes[0] {
        0xc2..=0xdf => (2, 0x80..=0xbf),
        0xe0 => (3, 0xa0..=0xbf),
        0xe1..=0xec | 0xee..=0xef => (3, 0x80..=0xbf),
        0xed => (3, 0x80..=0x9f),
        0xf0 => (4, 0x90..=0xbf),
        0xf1..=0xf3 => (4, 0x80..=0xbf),
        0xf4 => (4, 0x80..=0x8f),
        _ => return Sequence::Invalid(1),
    };
    for at in 1..len {
        let Some(&byte) = bytes.get(at) else {
            return Sequence::Invalid(bytes.len());
        };
        let continues = if at == 1 {
            second.contains(&byte)
        } else {
            (0x80..=0xbf).contains(&byte)
        };
        if !continues {
            return Sequence::Invalid(at);
        }
    }
    Sequence::Char(len)
}

/// How many bytes at the end of `bytes` are the beginning of a UTF-8 character that is not
/// finished there (0 to 3): what to hold back when a long line is cut.
pub(crate) fn unfinished_char_len(bytes: &[u8]) -> usize {
    let tail_start = bytes.len().saturating_sub(3);
    let Some(lead) = (tail_start..bytes.len())
        .rev()
        .find(|&at| bytes[at] & 0xc0 != 0x80)
    else {
        return 0;
    };
    match core::str::from_utf8(&bytes[lead..]) {
        Err(error) if error.error_len().is_none() => bytes.len() - lead,
        _ => 0,
    }
}
