// SPDX-License-Identifier: GPL-2.0

//! Rendering control bytes visibly, so that what a guest writes cannot drive the host's
//! terminal, and unambiguously, so that the host's log decodes back to the bytes written.
//!
//! Text passes unchanged: newline, tab and every printable character of valid UTF-8 but the
//! backslash. Each byte of anything else is shown as `\xNN` (lower-case hex): the C0 controls
//! (ESC included, so no escape sequence gets through), DEL, the C1 controls (U+0080 to U+009F,
//! which some terminals obey), bytes that are not valid UTF-8 (raw 0x80-0xff: a lone 0x9b is
//! CSI to an 8-bit terminal), and the backslash itself (`\x5c`, as `/dev/kmsg` has it). So every
//! backslash in the output starts a `\xNN`, and the output decodes back to exactly the bytes
//! written (`scripts/l4log-decode`): `\x1b` is an escaped ESC, and the four characters `\x1b`
//! written literally come out as `\x5cx1b`.

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
    /// An escaper of `input`, which it has already looked at up to the first byte to escape;
    /// `plain` bytes at its start are known to pass unchanged (printable ASCII but the
    /// backslash, newline, tab).
    pub(crate) fn new(input: &'a [u8], plain: usize) -> Self {
        let mut escaper = Self {
            rest: input,
            verbatim: 0,
            to_escape: 0,
        };
        (escaper.verbatim, escaper.to_escape) = scan(input, plain);
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
        self.fill_up_to(out, false)
    }

    /// [`Self::fill`], but it never cuts a character at the end of `out`: what follows is to
    /// go on in another host line (a stamp comes between), where the rest of a character would
    /// stand alone. Takes nothing when the next character or escaped byte does not fit.
    pub(crate) fn fill_whole(&mut self, out: &mut [u8]) -> Filled {
        self.fill_up_to(out, true)
    }

    fn fill_up_to(&mut self, out: &mut [u8], whole: bool) -> Filled {
        let input_len = self.rest.len();
        let mut written = 0;
        while !self.rest.is_empty() {
            if self.verbatim > 0 {
                let mut count = self.verbatim.min(out.len() - written);
                if whole && count < self.verbatim {
                    // Text that passes is valid UTF-8: only its end can cut a character.
                    count -= unfinished_char_len(&self.rest[..count]);
                }
                if count == 0 {
                    break;
                }
                copy(&mut out[written..written + count], &self.rest[..count]);
                written += count;
                self.verbatim -= count;
                self.advance(count);
            } else if self.to_escape > 1 {
                let Some(slot) = out[written..].first_chunk_mut::<ESCAPED_LEN>() else {
                    break;
                };
                *slot = escaped(self.rest[0]);
                written += ESCAPED_LEN;
                self.to_escape -= 1;
                self.advance(1);
            } else {
                // The last byte of a sequence to escape, and what follows it byte by byte.
                let Filled {
                    taken,
                    written: count,
                } = escape_mixed(self.rest, &mut out[written..]);
                if taken == 0 {
                    break;
                }
                written += count;
                self.to_escape = 0;
                self.advance(taken);
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
            match self.rest.first() {
                // Escaped on its own whatever follows: no need to look further (binary data).
                Some(&byte) if is_escaped_alone(byte) => self.to_escape = 1,
                _ => self.classify(),
            }
        }
    }

    /// Measures the text at the start of `rest` that passes and the bytes to escape after it.
    fn classify(&mut self) {
        (self.verbatim, self.to_escape) = scan(self.rest, 0);
    }
}

/// `to` is `from`: short runs (between bytes to escape) byte by byte, without a call.
fn copy(to: &mut [u8], from: &[u8]) {
    if from.len() <= SHORT_COPY {
        for (to, from) in to.iter_mut().zip(from) {
            *to = *from;
        }
    } else {
        to.copy_from_slice(from);
    }
}

/// The longest run [`copy`] copies byte by byte.
const SHORT_COPY: usize = 16;

/// Escapes `input`'s first byte (the last byte of a sequence to escape, or one escaped alone),
/// then goes on byte by byte while the text is a mix of plain ASCII and sequences to escape
/// (binary data, text with many controls): up to a character of several bytes that passes, a
/// run of [`PLAIN_RUN`] plain bytes (faster a run at a time), or where `out` has less than
/// [`ESCAPED_LEN`] bytes of room. Writes each byte's form whole, so what it leaves is what the
/// run-at-a-time path would have written up to there. Takes nothing when `out` has no room
/// for an escaped byte.
fn escape_mixed(input: &[u8], out: &mut [u8]) -> Filled {
    let Some(slot) = out.first_chunk_mut::<ESCAPED_LEN>() else {
        return Filled {
            taken: 0,
            written: 0,
        };
    };
    *slot = escaped(input[0]);
    let (mut taken, mut written, mut plain_run) = (1, ESCAPED_LEN, 0);
    while let (Some(&byte), Some(slot)) = (
        input.get(taken),
        out.get_mut(written..)
            .and_then(|room| room.first_chunk_mut::<ESCAPED_LEN>()),
    ) {
        match LEADS[usize::from(byte)] {
            Lead::Plain if plain_run < PLAIN_RUN => {
                slot[0] = byte;
                written += 1;
                taken += 1;
                plain_run += 1;
                continue;
            }
            Lead::Plain => break,
            Lead::Alone => {
                *slot = escaped(byte);
                written += ESCAPED_LEN;
                taken += 1;
            }
            lead => match char_len(&input[taken..], lead) {
                // An invalid sequence (or a C1 control) whose escaped bytes all fit.
                Err(len) if out.len() - written >= len * ESCAPED_LEN => {
                    for &byte in &input[taken..taken + len] {
                        out[written..written + ESCAPED_LEN].copy_from_slice(&escaped(byte));
                        written += ESCAPED_LEN;
                    }
                    taken += len;
                }
                _ => break,
            },
        }
        plain_run = 0;
    }
    Filled { taken, written }
}

/// Plain bytes in a row after which [`escape_mixed`] leaves the rest of the run to the
/// run-at-a-time path.
const PLAIN_RUN: usize = 16;

/// How many bytes at the start of `input` pass unchanged, and how many bytes after those form
/// the sequence to escape there (0 at the end of the input): 1 for a C0 control, the
/// backslash or DEL, 2 for a C1 control, the length of an invalid UTF-8 sequence, or the rest
/// of the input when it ends in an unfinished character. The first `plain` bytes are known to
/// pass unchanged.
fn scan(input: &[u8], plain: usize) -> (usize, usize) {
    let mut at = plain.min(input.len());
    loop {
        at = plain_words_end(input, at);
        let Some(&byte) = input.get(at) else {
            return (at, 0);
        };
        match byte {
            b'\n' | b'\t' => at += 1,
            _ if words::is_plain_ascii(byte) => at += 1,
            _ if is_escaped_alone(byte) => return (at, 1),
            _ => return utf8_scan(input, at),
        }
    }
}

/// What a byte can begin, as [`escape_mixed`] sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// Passes on its own: newline, tab, plain ASCII.
    Plain,
    /// Escaped on its own, whatever follows ([`is_escaped_alone`]).
    Alone,
    /// 0xc2: U+0080 to U+00BF, the C1 controls (to escape) below U+00A0.
    C2,
    /// 0xc3 to 0xdf: the other two-byte characters.
    Two,
    /// 0xe0: a three-byte character whose second byte is 0xa0 to 0xbf (no overlong form).
    E0,
    /// 0xed: a three-byte character whose second byte is 0x80 to 0x9f (no surrogate).
    Ed,
    /// 0xe1 to 0xec, 0xee, 0xef: the other three-byte characters.
    Three,
    /// 0xf0: a four-byte character whose second byte is 0x90 to 0xbf (no overlong form).
    F0,
    /// 0xf4: a four-byte character whose second byte is 0x80 to 0x8f (up to U+10FFFF).
    F4,
    /// 0xf1 to 0xf3: the other four-byte characters.
    Four,
}

/// What each byte value can begin.
static LEADS: [Lead; 256] = {
    let mut leads = [Lead::Alone; 256];
    let mut byte = 0;
    while byte < 256 {
        leads[byte] = lead_of(byte as u8);
        byte += 1;
    }
    leads
};

const fn lead_of(byte: u8) -> Lead {
    match byte {
        b'\n' | b'\t' | b' '..=b'[' | b']'..=b'~' => Lead::Plain,
        0xc2 => Lead::C2,
        0xc3..=0xdf => Lead::Two,
        0xe0 => Lead::E0,
        0xed => Lead::Ed,
        0xe1..=0xef => Lead::Three,
        0xf0 => Lead::F0,
        0xf4 => Lead::F4,
        0xf1..=0xf3 => Lead::Four,
        _ => Lead::Alone,
    }
}

/// The length of the character that starts `text` with the byte `lead` can begin (not
/// [`Lead::Plain`] or [`Lead::Alone`]), if it is whole, valid and not a C1 control; or how
/// many bytes to escape there: the C1 control's two, the invalid sequence's (the bytes that
/// some character begins with), or all of `text` when it ends inside the character.
fn char_len(text: &[u8], lead: Lead) -> Result<usize, usize> {
    const CONTINUATION: core::ops::RangeInclusive<u8> = 0x80..=0xbf;
    let (len, second) = match lead {
        Lead::C2 => {
            return match text.get(1) {
                Some(0xa0..=0xbf) => Ok(2),
                Some(0x80..=0x9f) => Err(2),
                Some(_) => Err(1),
                None => Err(text.len()),
            }
        }
        Lead::Two => (2, CONTINUATION),
        Lead::E0 => (3, 0xa0..=0xbf),
        Lead::Ed => (3, 0x80..=0x9f),
        Lead::Three => (3, CONTINUATION),
        Lead::F0 => (4, 0x90..=0xbf),
        Lead::F4 => (4, 0x80..=0x8f),
        Lead::Four => (4, CONTINUATION),
        Lead::Plain | Lead::Alone => return Err(1),
    };
    // The bytes after the lead that are as they must be, up to the character's length.
    let mut good = 1;
    while good < len {
        let range = if good == 1 { &second } else { &CONTINUATION };
        match text.get(good) {
            Some(byte) if range.contains(byte) => good += 1,
            Some(_) => return Err(good),
            None => return Err(text.len()),
        }
    }
    Ok(len)
}

/// Whether `byte` is a sequence to escape of one byte, whatever follows it: C0 controls but
/// newline and tab, the backslash, DEL, and bytes that start no UTF-8 character (continuation
/// bytes, the leads of overlong forms, 0xf5 and above).
fn is_escaped_alone(byte: u8) -> bool {
    LEADS[usize::from(byte)] == Lead::Alone
}

/// Where the plain text (printable ASCII but the backslash, newline, tab) from `at` on first
/// has a byte that is not plain, looking a word at a time; or where fewer than a word's bytes
/// are left.
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

/// [`scan`] from `at` (a byte >= 0x80 at a character's start) on, where the text is no longer
/// all ASCII: one pass of [`Utf8Dfa`] over the bytes, which validates UTF-8 and finds what is
/// to escape at once, up to the first sequence to escape. Returns where that sequence starts
/// (the start of the character the automaton stopped in) and its length.
fn utf8_scan(input: &[u8], at: usize) -> (usize, usize) {
    let mut state = Utf8Dfa::START;
    for (offset, &byte) in input[at..].iter().enumerate() {
        let before = state;
        state = Utf8Dfa::next(state, byte);
        if Utf8Dfa::is(state, Utf8Dfa::STOP) {
            // The sequence to escape begins with the character the automaton was in.
            let stop = at + offset;
            let start = if Utf8Dfa::is(before, Utf8Dfa::ACCEPT) {
                stop
            } else {
                char_start(input, stop)
            };
            return (start, to_escape_len(&input[start..]));
        }
    }
    if Utf8Dfa::is(state, Utf8Dfa::ACCEPT) {
        (input.len(), 0)
    } else {
        // The input ends inside a character.
        let start = char_start(input, input.len());
        (start, input.len() - start)
    }
}

/// Where the character that `end` is inside of (after its first byte) began: the last byte
/// before `end` that is no continuation byte, within the three before it.
fn char_start(input: &[u8], end: usize) -> usize {
    (end.saturating_sub(3)..end)
        .rev()
        .find(|&at| input[at] & 0xc0 != 0x80)
        .unwrap_or(end - 1)
}

/// The length of the sequence to escape at the start of `text`, where [`Utf8Dfa`] stopped: a
/// byte escaped alone, a C1 control's two bytes, an invalid sequence's bytes.
fn to_escape_len(text: &[u8]) -> usize {
    match LEADS[usize::from(text[0])] {
        Lead::Alone | Lead::Plain => 1,
        // A character that the automaton stopped in is no valid one: never `Ok`, and one byte
        // escaped would still decode back to what was written.
        lead => char_len(text, lead).unwrap_or_else(|len| len).max(1),
    }
}

/// A shift-based automaton over UTF-8 that stops at what is to escape: each state is a bit
/// offset into a row of [`UTF8_DFA`], the row of the byte read, whose six bits there name the
/// next state. One load, one shift and one mask per byte, with no branch on the byte's class.
struct Utf8Dfa;

impl Utf8Dfa {
    /// At a character's start (after a character that passes).
    const ACCEPT: u32 = 0;
    /// At a byte to escape, or in an invalid sequence: stays.
    const STOP: u32 = 6;
    /// After 0xc2: U+00A0 to U+00BF pass, the C1 controls stop.
    const C2: u32 = 12;
    /// One, two or three continuation bytes to go.
    const CONT1: u32 = 18;
    const CONT2: u32 = 24;
    const CONT3: u32 = 30;
    /// After 0xe0 (second byte 0xa0 to 0xbf), 0xed (0x80 to 0x9f), 0xf0 (0x90 to 0xbf), 0xf4
    /// (0x80 to 0x8f).
    const E0: u32 = 36;
    const ED: u32 = 42;
    const F0: u32 = 48;
    const F4: u32 = 54;

    /// The state to start in, as [`Self::next`] keeps it.
    const START: u64 = Self::ACCEPT as u64;

    /// The state after `byte` in `state`. Only the low six bits of a state as this keeps it
    /// name it (the rest are the row's higher bits): a shift by it takes those six bits only,
    /// as the processor's own shift does, so no mask lengthens the chain from byte to byte.
    fn next(state: u64, byte: u8) -> u64 {
        UTF8_DFA[usize::from(byte)].wrapping_shr(state as u32)
    }

    /// Whether `state`, as [`Self::next`] keeps it, is `named`.
    fn is(state: u64, named: u32) -> bool {
        state & 63 == u64::from(named)
    }

    const fn next_of(state: u32, byte: u8) -> u32 {
        const fn within(byte: u8, low: u8, high: u8) -> bool {
            byte >= low && byte <= high
        }
        let (low, high, then) = match state {
            Self::ACCEPT => {
                return match lead_of(byte) {
                    Lead::Plain => Self::ACCEPT,
                    Lead::Alone => Self::STOP,
                    Lead::C2 => Self::C2,
                    Lead::Two => Self::CONT1,
                    Lead::E0 => Self::E0,
                    Lead::Ed => Self::ED,
                    Lead::Three => Self::CONT2,
                    Lead::F0 => Self::F0,
                    Lead::F4 => Self::F4,
                    Lead::Four => Self::CONT3,
                }
            }
            Self::C2 => (0xa0, 0xbf, Self::ACCEPT),
            Self::CONT1 => (0x80, 0xbf, Self::ACCEPT),
            Self::CONT2 => (0x80, 0xbf, Self::CONT1),
            Self::CONT3 => (0x80, 0xbf, Self::CONT2),
            Self::E0 => (0xa0, 0xbf, Self::CONT1),
            Self::ED => (0x80, 0x9f, Self::CONT1),
            Self::F0 => (0x90, 0xbf, Self::CONT2),
            Self::F4 => (0x80, 0x8f, Self::CONT2),
            _ => return Self::STOP,
        };
        if within(byte, low, high) {
            then
        } else {
            Self::STOP
        }
    }
}

/// The rows of [`Utf8Dfa`], one per byte value: for each state, the next state at its offset.
static UTF8_DFA: [u64; 256] = {
    const STATES: [u32; 10] = [
        Utf8Dfa::ACCEPT,
        Utf8Dfa::STOP,
        Utf8Dfa::C2,
        Utf8Dfa::CONT1,
        Utf8Dfa::CONT2,
        Utf8Dfa::CONT3,
        Utf8Dfa::E0,
        Utf8Dfa::ED,
        Utf8Dfa::F0,
        Utf8Dfa::F4,
    ];
    let mut rows = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut i = 0;
        while i < STATES.len() {
            let state = STATES[i];
            rows[byte] |= (Utf8Dfa::next_of(state, byte as u8) as u64) << state;
            i += 1;
        }
        byte += 1;
    }
    rows
};

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
