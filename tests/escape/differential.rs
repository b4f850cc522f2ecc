// SPDX-License-Identifier: GPL-2.0

//! Differential test of l4log's escaper (`tests/escape/run`, a host program built by rustc).
//!
//! `chardev/escape.rs` and `chardev/words.rs`, compiled for the host unchanged, against the
//! reference escaper (`reference.rs`, the escaper before its fast path): for every generated
//! input, the host calls of both with escaping on, at the host-call sizes of every transport
//! (4096 bytes, 488 on L4Linux), must be the same byte for byte, call for call, whether the
//! escaper starts from the beginning or is told where the plain text at the start ends. The
//! line buffer's one pass (newlines and the end of plain text) is checked against plain
//! counts on the same inputs, and the word classes the escaper looks at text with
//! (`words::not_plain`) for every byte value at every offset of a word.
//! Every host call must be unambiguous (each backslash in it starts a `\xNN` with lower-case
//! hex digits), and the calls must decode back to the input. The fills that end a stamped
//! channel's host lines (`fill_whole`) must cut no character and join to the same text.
//!
//! Inputs: every length 0..=64 of random bytes, ASCII with sparse controls and backslashes,
//! valid multi-byte UTF-8 with backslashes, C1 controls, and invalid sequences, each placed at
//! every offset of a word; inputs that cross the host-call sizes with the same kinds of
//! sequence at the boundary; and every two-byte sequence at every word offset. Prints the
//! number of inputs; exits 1 at the first difference, showing the input.
//!
//! `differential DIR` also writes the round-trip corpus for `scripts/l4log-decode` to DIR:
//! inputs (backslashes written literally, every byte value, random bytes, and one in
//! [`ROUND_TRIP_STRIDE`] of the inputs compared with the reference) concatenated in
//! `corpus.original`, and their escaped forms (the host calls of 4096 bytes) in
//! `corpus.escaped`; the first of them, up to the random bytes, in `small.original` and
//! `small.escaped` as well; and in `corpus.summary`, how many inputs and bytes there are.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

#[path = "../../chardev/escape.rs"]
mod escape;
mod prng;
mod reference;
#[path = "../../chardev/words.rs"]
mod words;

use escape::{Escaper, Filled, ESCAPED_LEN};
use prng::Prng;
use words::WORD_BYTES;

/// The host-call sizes of the transports: a page (QEMU, UML), one vcon IPC (L4Linux).
const CHUNKS: [usize; 2] = [4096, 488];

/// The host calls the escaper under test makes for `input`, as `chardev/emit.rs` drives it,
/// told that the first `plain` bytes are plain text.
fn chunks(input: &[u8], chunk: usize, plain: usize) -> Vec<Vec<u8>> {
    let mut escaper = Escaper::new(input, plain);
    if escaper.is_verbatim() {
        return input.chunks(chunk).map(<[u8]>::to_vec).collect();
    }
    let mut out = vec![0; chunk];
    let mut calls = Vec::new();
    let mut taken = 0;
    while !escaper.is_done() {
        let filled: Filled = escaper.fill(&mut out);
        assert!(
            filled.taken > 0 && filled.written > 0,
            "a fill made no progress"
        );
        taken += filled.taken;
        calls.push(out[..filled.written].to_vec());
    }
    assert_eq!(taken, input.len(), "the fills did not take all the input");
    calls
}

/// The fills of a stamped channel's host lines (`Escaper::fill_whole`, which `chardev/emit.rs`
/// uses where a host line may end): into room of 4 bytes or more, each takes something, cuts no
/// character (each piece is valid UTF-8, as all escaped text is), and the pieces joined are the
/// escaped text `want`. The room of each fill comes from `seed`: 4 to 35 bytes, or a host line's.
fn check_whole_lines(input: &[u8], want: &[u8], seed: u64) {
    let mut rooms = Prng(seed | 1);
    let mut escaper = Escaper::new(input, 0);
    let mut joined = Vec::with_capacity(want.len());
    let mut out = [0u8; 896];
    while !escaper.is_done() {
        let room = match rooms.below(4) {
            0 => 896,
            _ => 4 + rooms.below(32),
        };
        let filled = escaper.fill_whole(&mut out[..room]);
        let piece = &out[..filled.written];
        if filled.taken == 0 || std::str::from_utf8(piece).is_err() {
            eprintln!(
                "fill_whole into {room} bytes took {} and wrote {piece:02x?}",
                filled.taken
            );
            eprintln!("input: {input:02x?}");
            std::process::exit(1);
        }
        joined.extend_from_slice(piece);
    }
    if joined != want {
        eprintln!("fill_whole's pieces joined are not the escaped text of {input:02x?}");
        std::process::exit(1);
    }
}

/// One in this many inputs compared with the reference goes into the round-trip corpus.
const ROUND_TRIP_STRIDE: u64 = 31;

struct Checker {
    inputs: u64,
    /// The round-trip corpus, when a directory was named.
    corpus: Option<Corpus>,
}

impl Checker {
    fn check(&mut self, input: &[u8]) {
        self.inputs += 1;
        // The line buffer's pass, which finds where plain text ends for the escaper.
        let (newlines, plain) = words::scan_lines(input, true);
        let count = input.iter().filter(|&&byte| byte == b'\n').count();
        let end_of_last = input
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |at| at + 1);
        // Printable ASCII but the backslash, and newline.
        let plain_end = input
            .iter()
            .position(|&byte| !matches!(byte, b'\n' | 0x20..=0x7e) || byte == b'\\')
            .unwrap_or(input.len());
        assert_eq!(
            (newlines.count, newlines.end_of_last, plain),
            (count, end_of_last, plain_end),
            "newlines and plain text of {input:02x?}"
        );
        assert_eq!(newlines, words::newlines(input));
        for chunk in CHUNKS {
            let want = reference::chunks(input, chunk);
            for known_plain in [0, plain] {
                let got = chunks(input, chunk, known_plain);
                if got != want {
                    fail(input, chunk, &got, &want);
                }
            }
            // The escaper's calls, the same as the reference's.
            check_decodes(input, &want);
            check_whole_lines(input, &want.concat(), self.inputs);
            if chunk == CHUNKS[0] && self.inputs % ROUND_TRIP_STRIDE == 0 {
                if let Some(corpus) = &mut self.corpus {
                    corpus.add(input, &want);
                }
            }
        }
    }
}

/// Checks that each of `calls`, the host calls the escaper made for `input`, is unambiguous
/// escaped text: that every backslash in it starts a `\xNN` with lower-case hex digits; and that
/// the calls, each decoded on its own, give back `input`. Exits 1 otherwise, showing where.
fn check_decodes(input: &[u8], calls: &[Vec<u8>]) {
    let hex = |digit: u8| match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut decoded = Vec::with_capacity(input.len());
    for (number, call) in calls.iter().enumerate() {
        let mut at = 0;
        while at < call.len() {
            if call[at] != b'\\' {
                decoded.push(call[at]);
                at += 1;
                continue;
            }
            let value = match call.get(at + 1..at + 4) {
                Some(&[b'x', high, low]) => hex(high).zip(hex(low)),
                _ => None,
            };
            let Some((high, low)) = value else {
                eprintln!("a backslash that starts no \\xNN at byte {at} of host call {number}");
                eprintln!(
                    "there: {:?}",
                    String::from_utf8_lossy(&call[at.saturating_sub(16)..call.len().min(at + 16)])
                );
                print_input(input);
                std::process::exit(1);
            };
            decoded.push(high << 4 | low);
            at += ESCAPED_LEN;
        }
    }
    if decoded != input {
        let at = decoded.iter().zip(input).position(|(a, b)| a != b);
        eprintln!(
            "the escaped text does not decode back to the input (first difference at {at:?})"
        );
        print_input(input);
        std::process::exit(1);
    }
}

/// Inputs and their escaped forms for `scripts/l4log-decode`, each concatenated in a file of
/// their own: the escaped forms of several inputs one after the other decode to the inputs one
/// after the other, since each is whole `\xNN`s and bytes that pass.
struct Corpus {
    original: BufWriter<File>,
    escaped: BufWriter<File>,
    inputs: u64,
    bytes: u64,
    escaped_bytes: u64,
}

impl Corpus {
    /// The corpus `name` (`name.original`, `name.escaped`) in `dir`.
    fn create(dir: &Path, name: &str) -> Self {
        let create = |suffix: &str| {
            let path = dir.join(format!("{name}.{suffix}"));
            let file = File::create(&path)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
            BufWriter::new(file)
        };
        Self {
            original: create("original"),
            escaped: create("escaped"),
            inputs: 0,
            bytes: 0,
            escaped_bytes: 0,
        }
    }

    /// Adds `input`, which the escaper made `calls` of.
    fn add(&mut self, input: &[u8], calls: &[Vec<u8>]) {
        self.inputs += 1;
        self.bytes += input.len() as u64;
        self.original.write_all(input).unwrap();
        for call in calls {
            self.escaped_bytes += call.len() as u64;
            self.escaped.write_all(call).unwrap();
        }
    }

    fn finish(mut self) {
        self.original.flush().unwrap();
        self.escaped.flush().unwrap();
    }
}

/// The inputs of the round trip of its own (not compared with the reference): backslashes and
/// what looks like escaped text, written literally; every byte value, in order, at every offset
/// of a word, and each alone; then random bytes. And how many come before the random bytes.
fn round_trip_inputs(rng: &mut Prng) -> (Vec<Vec<u8>>, usize) {
    let mut inputs: Vec<Vec<u8>> = [
        &b"\\"[..],
        b"\\\\",
        b"\\x1b",
        b"\\x5c",
        b"\\x5cx1b",
        b"\\x",
        b"\\x1",
        b"\\xZZ \\X1B \\x1B \\\\x1b",
        b"C:\\Windows\\System32\\",
        b"printf 'tab\\t newline\\n \\033[2J'\n",
        "caf\u{e9} \\ \u{20ac}\\\u{1f600}\\\n".as_bytes(),
        b"\\\xc2\x9b\\\x1b[2J\x1b\\",
        b"ends in a backslash \\",
    ]
    .iter()
    .map(|input| input.to_vec())
    .collect();
    // Backslashes filling words, and one more.
    inputs.push(vec![b'\\'; 3 * WORD_BYTES + 1]);
    for before in 0..WORD_BYTES {
        let mut input = vec![b'x'; before];
        input.extend(0..=u8::MAX);
        input.extend((0..=u8::MAX).rev());
        inputs.push(input);
    }
    inputs.extend((0..=u8::MAX).map(|byte| vec![b'a', byte, b'z']));
    let small = inputs.len();
    for _ in 0..64 {
        let len = rng.below(8192);
        inputs.push((0..len).map(|_| rng.byte()).collect());
    }
    (inputs, small)
}

/// Shows `input` (its start) on standard error.
fn print_input(input: &[u8]) {
    eprintln!(
        "input ({} bytes): {:02x?}",
        input.len(),
        &input[..input.len().min(96)]
    );
}

/// Checks that the word classes of `chardev/words.rs` that the escaper uses mark exactly the
/// bytes of their class: every byte value at every offset of a word, among random bytes.
/// Returns how many words it looked at.
fn check_word_classes(rng: &mut Prng) -> u64 {
    let mut words_checked = 0;
    for byte in 0..=u8::MAX {
        let not_plain = !matches!(byte, b'\n' | b'\t' | b' '..=b'~') || byte == b'\\';
        for offset in 0..WORD_BYTES {
            for _ in 0..64 {
                let mut bytes = rng.next().to_le_bytes()[..WORD_BYTES].to_vec();
                bytes[offset] = byte;
                let (word, _) = words::split_word(&bytes).unwrap();
                let marked = |mask: words::Word| (mask >> (8 * offset)) & 0xff;
                assert_eq!(
                    marked(words::not_plain(word)),
                    if not_plain { 0x80 } else { 0 },
                    "word classes of byte {byte:#04x} in {bytes:02x?}"
                );
                words_checked += 1;
            }
        }
    }
    words_checked
}

fn fail(input: &[u8], chunk: usize, got: &[Vec<u8>], want: &[Vec<u8>]) -> ! {
    let flat = |calls: &[Vec<u8>]| calls.concat();
    let (got_flat, want_flat) = (flat(got), flat(want));
    let at = got_flat
        .iter()
        .zip(&want_flat)
        .position(|(a, b)| a != b)
        .unwrap_or(got_flat.len().min(want_flat.len()));
    eprintln!("escaper differs from the reference, host calls of {chunk} bytes");
    print_input(input);
    eprintln!(
        "output: {} calls, {} bytes; reference: {} calls, {} bytes; first difference at output byte {at}",
        got.len(),
        got_flat.len(),
        want.len(),
        want_flat.len()
    );
    let show = |bytes: &[u8]| {
        String::from_utf8_lossy(&bytes[at.saturating_sub(16)..bytes.len().min(at + 32)])
            .into_owned()
    };
    eprintln!("output there:    {:?}", show(&got_flat));
    eprintln!("reference there: {:?}", show(&want_flat));
    std::process::exit(1);
}

/// The kinds of text generated; each appends `len` bytes (about: a character is not cut).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Random,
    AsciiSparseControls,
    Utf8,
    C1,
    Invalid,
}

const KINDS: [Kind; 5] = [
    Kind::Random,
    Kind::AsciiSparseControls,
    Kind::Utf8,
    Kind::C1,
    Kind::Invalid,
];

/// One "special" sequence of `kind`: what the kind is about.
fn special(kind: Kind, rng: &mut Prng, out: &mut Vec<u8>) {
    match kind {
        Kind::Random => out.push(rng.byte()),
        Kind::AsciiSparseControls => {
            // The controls, and the backslash, which is escaped too.
            const CONTROLS: &[u8] = b"\x00\x07\x08\x0b\x0c\x0d\x1b\x1f\x7f\n\t\\";
            out.push(CONTROLS[rng.below(CONTROLS.len())]);
        }
        // A backslash in text that is not all ASCII: found by the UTF-8 scan, not the ASCII one.
        Kind::Utf8 if rng.below(8) == 0 => out.push(b'\\'),
        Kind::Utf8 => {
            let code = loop {
                let code = match rng.below(3) {
                    0 => 0xa0 + rng.below(0x800 - 0xa0),
                    1 => 0x800 + rng.below(0x10000 - 0x800),
                    _ => 0x10000 + rng.below(0x110000 - 0x10000),
                } as u32;
                if let Some(c) = char::from_u32(code) {
                    break c;
                }
            };
            let mut buf = [0; 4];
            out.extend_from_slice(code.encode_utf8(&mut buf).as_bytes());
        }
        Kind::C1 => {
            let byte = 0x80 + rng.below(0x20) as u8;
            if rng.below(2) == 0 {
                out.extend_from_slice(&[0xc2, byte]);
            } else {
                out.push(byte);
            }
        }
        Kind::Invalid => {
            const INVALID: &[&[u8]] = &[
                b"\x80",
                b"\xbf",
                b"\xc0\xaf",
                b"\xc1\xbf",
                b"\xc2",
                b"\xe0\x80\x80",
                b"\xe0\x9f\xbf",
                b"\xe2\x82",
                b"\xed\xa0\x80",
                b"\xed\xbf\xbf",
                b"\xef\xbf",
                b"\xf0\x80\x80\x80",
                b"\xf0\x8f\xbf\xbf",
                b"\xf0\x9f\x98",
                b"\xf4\x90\x80\x80",
                b"\xf5\x80\x80\x80",
                b"\xf8\x88\x80\x80\x80",
                b"\xfe",
                b"\xff",
            ];
            out.extend_from_slice(INVALID[rng.below(INVALID.len())]);
        }
    }
}

/// Plain text between the special sequences: printable ASCII with newlines.
fn filler(rng: &mut Prng, out: &mut Vec<u8>) {
    out.push(match rng.below(20) {
        0 => b'\n',
        1 => b' ',
        _ => b'!' + rng.below(94) as u8,
    });
}

/// An input of about `len` bytes of `kind`, with its special sequences this dense (1 in
/// `sparseness` positions; 1: all of them).
fn generate(kind: Kind, len: usize, sparseness: usize, rng: &mut Prng) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        if rng.below(sparseness) == 0 {
            special(kind, rng, &mut out);
        } else {
            filler(rng, &mut out);
        }
    }
    out.truncate(len);
    out
}

fn main() {
    let dir = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let mut checker = Checker {
        inputs: 0,
        corpus: dir.as_deref().map(|dir| Corpus::create(dir, "corpus")),
    };
    let mut rng = Prng(0x4c34_6c6f_6721);

    // The round trip's own inputs, first in the corpus; those before the random bytes also in
    // the small corpus (for the decoder's smallest blocks).
    let mut round_trip_only = 0;
    if let (Some(dir), Some(corpus)) = (&dir, &mut checker.corpus) {
        let mut small_corpus = Corpus::create(dir, "small");
        let (inputs, small) = round_trip_inputs(&mut Prng(0x5c_7831_6221));
        for (number, input) in inputs.iter().enumerate() {
            let calls = chunks(input, CHUNKS[0], 0);
            check_decodes(input, &calls);
            corpus.add(input, &calls);
            if number < small {
                small_corpus.add(input, &calls);
            }
        }
        round_trip_only = inputs.len();
        small_corpus.finish();
    }

    // Every length 0..=64, every kind, dense and sparse: 65 x 5 x 3 x 1000.
    for len in 0..=64 {
        for kind in KINDS {
            for sparseness in [1, 4, 16] {
                for _ in 0..1000 {
                    let input = generate(kind, len, sparseness, &mut rng);
                    checker.check(&input);
                }
            }
        }
    }
    let short = checker.inputs;

    // A special sequence at every offset of a word, in plain text of 8 to 40 bytes.
    for kind in KINDS {
        for before in 0..32 {
            for _ in 0..200 {
                let mut input: Vec<u8> = (0..before).map(|_| b'a' + rng.below(26) as u8).collect();
                special(kind, &mut rng, &mut input);
                input.extend((0..rng.below(9)).map(|_| b'z'));
                checker.check(&input);
            }
        }
    }
    let offsets = checker.inputs - short;

    // Across the host-call sizes: a special sequence within 8 bytes of each multiple of 488
    // and 4096 in inputs of up to 3 pages.
    for kind in KINDS {
        for boundary in [488, 976, 1464, 4096, 8192] {
            for delta in 0..16 {
                for _ in 0..40 {
                    let mut input = generate(
                        Kind::AsciiSparseControls,
                        boundary + delta - 8,
                        64,
                        &mut rng,
                    );
                    special(kind, &mut rng, &mut input);
                    special(kind, &mut rng, &mut input);
                    let tail = rng.below(600);
                    input.extend(generate(kind, tail, 8, &mut rng));
                    checker.check(&input);
                }
            }
        }
    }
    // Long inputs of every kind.
    for kind in KINDS {
        for sparseness in [1, 3, 50, 1000] {
            for _ in 0..40 {
                let len = rng.below(13_000);
                checker.check(&generate(kind, len, sparseness, &mut rng));
            }
        }
    }
    let long = checker.inputs - short - offsets;

    // Every two-byte sequence at every offset of a word, between plain bytes.
    for pair in 0..=u16::MAX {
        for before in 0..8 {
            let mut input = vec![b'x'; before];
            input.extend_from_slice(&pair.to_be_bytes());
            input.extend_from_slice(b"yz");
            checker.check(&input);
        }
    }
    let pairs = checker.inputs - short - offsets - long;
    let words_checked = check_word_classes(&mut rng);

    println!(
        "escaper and reference agree on {} inputs ({short} of length 0..=64, {offsets} at word offsets, \
         {long} across host calls and long, {pairs} two-byte sequences), host calls of {CHUNKS:?} bytes",
        checker.inputs
    );
    println!(
        "word classes exact: every byte value at every offset of a word ({words_checked} words)"
    );
    println!(
        "unambiguous: every backslash the escaper sent starts a \\xNN, and each input's host calls \
         decode back to it ({} inputs)",
        checker.inputs
    );
    if let (Some(dir), Some(corpus)) = (&dir, checker.corpus) {
        // For tests/escape/run's line: inputs, bytes, escaped bytes; inputs of the round trip's
        // own, and one in how many of the inputs above.
        let summary = format!(
            "{} {} {} {round_trip_only} {ROUND_TRIP_STRIDE}\n",
            corpus.inputs, corpus.bytes, corpus.escaped_bytes
        );
        corpus.finish();
        std::fs::write(dir.join("corpus.summary"), summary).unwrap();
    }
}
