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

use crate::words::{self, Word, WORD_BYTES};

/// The most bytes one input byte becomes: `\xNN`.
pub(crate) const ESCAPED_LEN: usize = 4;

/// `byte` as `\xNN`.
pub(crate) const fn escaped(byte: u8) -> [u8; ESCAPED_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'x',
        HEX[(byte >> 4) as usize],
        HEX[(byte & 0xf) as usize],
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
/// then goes on while the text is a mix of text that passes and bytes to escape (binary data,
/// text with many controls): up to a run of [`PLAIN_RUN`] bytes that pass (faster a run at a
/// time), or where `out` has less than [`ESCAPED_LEN`] bytes of room. Writes each character's
/// and each escaped byte's form whole, so what it leaves is what the run-at-a-time path would
/// have written up to there. Takes nothing when `out` has no room for an escaped byte.
///
/// Random bytes are this path's hardest text: whether a byte passes cannot be predicted. So
/// it goes a word at a time without a branch on each byte ([`mixed_bytes`]), and only its last
/// few bytes of input and room a character or escaped byte at a time ([`next_form`]).
fn escape_mixed(input: &[u8], out: &mut [u8]) -> Filled {
    let Some(slot) = out.first_chunk_mut::<ESCAPED_LEN>() else {
        return Filled {
            taken: 0,
            written: 0,
        };
    };
    *slot = escaped(input[0]);
    let mut done = Filled {
        taken: 1,
        written: ESCAPED_LEN,
    };
    let mut passing = mixed_bytes(input, out, &mut done);
    while done.taken < input.len() {
        let Some(slot) = out
            .get_mut(done.written..)
            .and_then(|room| room.first_chunk_mut::<ESCAPED_LEN>())
        else {
            break;
        };
        let form = next_form(&input[done.taken..]);
        if form.passes {
            passing += form.taken;
            if passing > PLAIN_RUN {
                break;
            }
        } else {
            passing = 0;
        }
        *slot = form.bytes;
        done.taken += form.taken;
        done.written += form.written;
    }
    done
}

/// [`escape_mixed`]'s pass a word at a time, from `done` on: while a word of input and
/// [`MIXED_AHEAD`] bytes after it are left, and room for the word's bytes all escaped and as
/// many again, until a word has nothing to escape (text that passes goes faster a run at a
/// time). Ends at a character's start. Adds what it took and wrote to `done`, and returns how
/// many bytes in a row passed at its end (a word's, or 0).
///
/// Whether a byte passes does not depend on where the pass stands: a byte passes when it is
/// plain ASCII, or one of the bytes of a character of several bytes that passes
/// ([`char_passes`]), which begins at a lead byte (a continuation byte begins none, and no
/// lead byte is inside a character). So a word's bytes that pass are marked at once: plain
/// ASCII by [`words::not_plain`], characters by looking at the word's lead bytes that a
/// continuation byte follows (`carried` marks the bytes of the next word that a character
/// covers). Then each byte's form is chosen by indexing [`FORMS`] with its mark, not by a
/// branch: whether a random byte passes cannot be predicted.
fn mixed_bytes(input: &[u8], out: &mut [u8], done: &mut Filled) -> usize {
    let (mut taken, mut written) = (done.taken, done.written);
    // Bytes of the word after this one that a character begun in this one covers (bit 7 of
    // each, as `words` marks bytes).
    let mut carried: Word = 0;
    let mut passing = 0;
    while let Some(block) = input.get(taken..taken + WORD_BYTES + MIXED_AHEAD) {
        if out.len() - written < WORD_BYTES * ESCAPED_LEN + MIXED_AHEAD {
            // Room for the word's bytes escaped and a character's rest after them.
            break;
        }
        let Some((word, _)) = words::split_word(block) else {
            break;
        };
        let not_plain = words::not_plain(word);
        let mut passes = !not_plain & words::HIGH | carried;
        carried = 0;
        // Characters of several bytes that begin in this word: each lead byte followed by a
        // continuation byte looked at (in random bytes one in twenty).
        let Some((after, _)) = words::split_word(&block[1..]) else {
            break;
        };
        let mut leads = not_plain & words::leads(word) & words::continuations(after);
        while leads != 0 {
            let at = words::first_marked(leads);
            leads &= leads - 1;
            let ahead = block[at..]
                .first_chunk::<ESCAPED_LEN>()
                .unwrap_or(&[0; ESCAPED_LEN]);
            // The marks of the character's bytes (none when it does not pass), in this word
            // and, past its end, the next.
            let covered = COVERED[char_passes(ahead)];
            passes |= covered << (8 * at);
            carried |= (covered >> 1) >> (Word::BITS as usize - 1 - 8 * at);
        }
        let slot = &mut out[written..written + WORD_BYTES * ESCAPED_LEN];
        let mut at_out = 0;
        for (index, &byte) in block[..WORD_BYTES].iter().enumerate() {
            // 1 when the byte passes, else 0: an index, not a branch.
            let pass = (passes >> (8 * index + 7)) as usize & 1;
            let form = FORMS[pass][usize::from(byte)];
            slot[at_out..at_out + ESCAPED_LEN].copy_from_slice(&form);
            at_out += ESCAPED_LEN - (ESCAPED_LEN - 1) * pass;
        }
        taken += WORD_BYTES;
        written += at_out;
        if passes == words::HIGH && carried == 0 {
            passing = WORD_BYTES;
            break;
        }
    }
    // The rest of a character that began in the last word: its bytes pass (the margins leave
    // input and room for them).
    while carried != 0 {
        out[written] = input[taken];
        (taken, written, carried) = (taken + 1, written + 1, carried >> 8);
    }
    (done.taken, done.written) = (taken, written);
    passing
}

/// The marks (bit 7) of the first 0 to 4 bytes of a word: of a character's bytes.
const COVERED: [Word; ESCAPED_LEN + 1] = [0, 0x80, 0x8080, 0x80_8080, 0x8080_8080];

/// Input and room that [`mixed_bytes`] wants after a word: the rest of a character that begins
/// in it, and the bytes its last lead bytes look at ahead.
const MIXED_AHEAD: usize = 2 * ESCAPED_LEN;

/// `passes` ? `then` : `otherwise`, by a mask rather than a branch.
fn choose(
    passes: bool,
    then: [u8; ESCAPED_LEN],
    otherwise: [u8; ESCAPED_LEN],
) -> [u8; ESCAPED_LEN] {
    let mask = u32::from(passes).wrapping_neg();
    ((u32::from_le_bytes(then) & mask) | (u32::from_le_bytes(otherwise) & !mask)).to_le_bytes()
}

/// The length of the character that begins `next` (its first bytes, the rest of the text
/// after them) if it is whole in them, valid UTF-8 and passes (plain ASCII, newline, tab, or a
/// character of several bytes that is no C1 control); else 0. Integer operations on the bytes
/// only, no branch: random bytes would mispredict one on every other byte.
fn char_passes(next: &[u8; ESCAPED_LEN]) -> usize {
    let begins = &BEGINS[usize::from(next[0])];
    // 1 for a continuation byte (0x80 to 0xbf), else 0: bit 7 set and bit 6 clear.
    let continues = |byte: u8| u32::from((byte >> 7) & !(byte >> 6) & 1);
    let second = u32::from(next[1].wrapping_sub(begins.second_low) <= begins.second_span);
    let third = u32::from(begins.no_third) | continues(next[2]);
    let fourth = u32::from(begins.no_fourth) | continues(next[3]);
    usize::from(begins.len) & (second & third & fourth).wrapping_neg() as usize
}

/// Bytes in a row that pass after which [`escape_mixed`] leaves the rest of the run to the
/// run-at-a-time path.
const PLAIN_RUN: usize = 16;

/// What [`escape_mixed`] writes for the start of a text: a character that passes (of one to
/// four bytes), or the first byte escaped.
struct Form {
    /// Its bytes, the first `written` of them (the rest is whatever followed in the text).
    bytes: [u8; ESCAPED_LEN],
    taken: usize,
    written: usize,
    passes: bool,
}

/// The [`Form`] of the start of `text` (not empty): the character there if it passes
/// ([`char_passes`]: zeros stand for bytes after the end, which continue no character), else
/// its first byte escaped. The bytes of an invalid sequence, escaped one at a time, come out
/// as the run-at-a-time path escapes them: each of them after the first is a continuation
/// byte, which is escaped alone.
fn next_form(text: &[u8]) -> Form {
    let mut next = [0; ESCAPED_LEN];
    for (next, &byte) in next.iter_mut().zip(text) {
        *next = byte;
    }
    let begins = char_passes(&next);
    let passes = begins > 0;
    Form {
        bytes: choose(passes, next, FORMS[0][usize::from(next[0])]),
        taken: begins.max(1),
        written: if passes { begins } else { ESCAPED_LEN },
        passes,
    }
}

/// For each byte value, the character it can begin that passes: its length (1 for plain
/// ASCII, newline and tab; 0 for a byte that begins none) and the range of its second byte,
/// `second_low` to `second_low + second_span`.
struct Begins {
    len: u8,
    second_low: u8,
    second_span: u8,
    /// 1 when the character has no third (fourth) byte to look at, else 0.
    no_third: u8,
    no_fourth: u8,
}

static BEGINS: [Begins; 256] = {
    let mut begins = [const {
        Begins {
            len: 0,
            second_low: 0,
            second_span: 0,
            no_third: 0,
            no_fourth: 0,
        }
    }; 256];
    let mut byte = 0;
    while byte < 256 {
        let (len, second_low, second_high) = match lead_of(byte as u8) {
            Lead::Plain => (1, 0, 0xff),
            Lead::Alone => (0, 0, 0),
            // U+00A0 to U+00BF: below them the C1 controls, which are escaped.
            Lead::C2 => (2, 0xa0, 0xbf),
            Lead::Two => (2, 0x80, 0xbf),
            Lead::E0 => (3, 0xa0, 0xbf),
            Lead::Ed => (3, 0x80, 0x9f),
            Lead::Three => (3, 0x80, 0xbf),
            Lead::F0 => (4, 0x90, 0xbf),
            Lead::F4 => (4, 0x80, 0x8f),
            Lead::Four => (4, 0x80, 0xbf),
        };
        begins[byte] = Begins {
            len,
            second_low,
            second_span: second_high - second_low,
            no_third: (len < 3) as u8,
            no_fourth: (len < 4) as u8,
        };
        byte += 1;
    }
    begins
};

/// Each byte value's forms: escaped (`\xNN`, `FORMS[0]`) and as it is (`FORMS[1]`, the byte
/// and three bytes of no meaning), so that choosing one is indexing, not a branch.
static FORMS: [[[u8; ESCAPED_LEN]; 256]; 2] = {
    let mut forms = [[[0; ESCAPED_LEN]; 256]; 2];
    let mut byte = 0;
    while byte < 256 {
        forms[0][byte] = escaped(byte as u8);
        forms[1][byte] = [byte as u8, 0, 0, 0];
        byte += 1;
    }
    forms
};

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
