// SPDX-License-Identifier: GPL-2.0

//! The escaper's own cost, natively (`bench/escape/run`, part of `make bench`).
//!
//! `chardev/escape.rs` and `chardev/words.rs`, compiled for the host unchanged (as the
//! differential test does), escape 1 MiB of each kind of text the way the module does: one
//! write step of up to 4096 bytes at a time (a character cut at its end left to the next) (`Escaper::new`, then `fill` into a 4096-byte host call
//! until the step is taken). Two references go over the same steps: `core::str::from_utf8`
//! (validation alone) and a plain copy of each step into the host call's buffer (`memcpy`).
//!
//! Each figure is the best of several rounds, the three passes of a kind interleaved in each
//! round, so that the ratios compare passes taken moments apart. Prints a table of ns per input
//! byte, input bytes per TSC cycle (x86_64) and the ratio to the copy, then a mark per kind
//! (MET or NOT MET) against the goals below, and writes the figures as CSV when given a path.

#![allow(dead_code)]

use std::hint::black_box;
use std::time::Instant;

#[path = "../../chardev/escape.rs"]
mod escape;
#[path = "../../tests/escape/prng.rs"]
mod prng;
#[path = "../../chardev/words.rs"]
mod words;

use escape::{Escaper, Filled};
use prng::Prng;

/// A write step: what the module takes from user memory at once.
const STEP: usize = 4096;
/// One host call: the module's output buffer (a page on QEMU and UML).
const CALL: usize = 4096;
/// Bytes of text per kind.
const TEXT_BYTES: usize = 1 << 20;
/// Rounds; each pass of a round repeats until it has taken at least `MIN_PASS_NS`.
const ROUNDS: usize = 7;
const MIN_PASS_NS: u128 = 20_000_000;

/// The goals of issue #29, ns per input byte, natively: (kind, most ns per byte).
const GOALS: [(&str, f64); 4] = [("ascii", 0.2), ("utf8", 1.0), ("cjk", 1.0), ("binary", 1.5)];

/// Lines of 30 to 120 bytes of `words`, a space after one in three, each line ending in a
/// newline; whole lines only.
fn lines(prng: &mut Prng, size: usize, words: &[&str]) -> Vec<u8> {
    let mut text = Vec::with_capacity(size + 128);
    while text.len() < size {
        let end = text.len() + 29 + prng.below(91);
        while text.len() < end {
            text.extend_from_slice(words[prng.below(words.len())].as_bytes());
            if prng.below(3) == 0 {
                text.push(b' ');
            }
        }
        text.push(b'\n');
    }
    let cut = text[..size]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    text.truncate(cut);
    text
}

/// The kinds of text: log lines of ASCII; UTF-8-heavy lines (as `make bench`'s guest writes:
/// Latin, Greek, Cyrillic and CJK words and emoji between ASCII, about half the bytes
/// multi-byte); CJK lines (3-byte characters); random bytes; and the worst case, where every
/// byte is escaped (C0 controls).
fn texts() -> Vec<(&'static str, Vec<u8>)> {
    const ASCII: &[&str] = &[
        "request",
        "id=42",
        "GET",
        "/api/v1/items",
        "200",
        "ok",
        "log:",
        "[main]",
        "-",
        ".",
    ];
    const UTF8: &[&str] = &[
        "café", "naïve", "Größe", "東京", "лог", "€", "😀", "αβγ", "ok", "log", "request", "=",
        "42",
    ];
    const CJK: &[&str] = &[
        "日本語",
        "中文",
        "漢字",
        "東京都",
        "ログ",
        "記録",
        "한국어",
        "、",
        "。",
    ];
    let mut prng = Prng(0x5eed_1234_abcd_0001);
    let ascii = lines(&mut prng, TEXT_BYTES, ASCII);
    let utf8 = lines(&mut prng, TEXT_BYTES, UTF8);
    let cjk = lines(&mut prng, TEXT_BYTES, CJK);
    let binary: Vec<u8> = (0..TEXT_BYTES).map(|_| prng.next() as u8).collect();
    let worst: Vec<u8> = (0..TEXT_BYTES).map(|i| (i % 9) as u8 + 1).collect();
    vec![
        ("ascii", ascii),
        ("utf8", utf8),
        ("cjk", cjk),
        ("binary", binary),
        ("worst", worst),
    ]
}

/// `text` in write steps as the module takes them: at most `STEP` bytes, a character cut at a
/// step's end held back for the next (`unfinished_char_len`, as the line buffer does).
fn steps(text: &[u8]) -> Vec<&[u8]> {
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut len = rest.len().min(STEP);
        if len < rest.len() {
            len -= escape::unfinished_char_len(&rest[..len]);
        }
        steps.push(&rest[..len]);
        rest = &rest[len..];
    }
    steps
}

/// The module's pass: each step escaped into host calls. Returns the bytes written.
fn escape_pass(steps: &[&[u8]], out: &mut [u8; CALL]) -> usize {
    let mut written = 0;
    for step in steps {
        let mut escaper = Escaper::new(step, 0);
        while !escaper.is_done() {
            let Filled { written: w, .. } = escaper.fill(&mut out[..]);
            black_box(&out[..w]);
            written += w;
        }
    }
    written
}

/// Validation alone, step by step.
fn utf8_pass(steps: &[&[u8]]) -> usize {
    steps
        .iter()
        .map(|step| core::str::from_utf8(black_box(step)).map_or(0, str::len))
        .sum()
}

/// A plain copy of each step into the host call's buffer.
fn copy_pass(steps: &[&[u8]], out: &mut [u8; CALL]) -> usize {
    for step in steps {
        out[..step.len()].copy_from_slice(black_box(step));
        black_box(&out[..step.len()]);
    }
    steps.iter().map(|step| step.len()).sum()
}

/// A time stamp counter, where there is one: to show bytes per cycle.
fn tsc() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64 and only reads the counter.
        Some(unsafe { core::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// One timed pass, repeated for at least `MIN_PASS_NS`: ns and TSC cycles per input byte.
fn timed(bytes: usize, pass: &mut dyn FnMut() -> usize) -> (f64, Option<f64>) {
    let (start, cycles) = (Instant::now(), tsc());
    let mut repeats = 0;
    while repeats == 0 || start.elapsed().as_nanos() < MIN_PASS_NS {
        black_box(pass());
        repeats += 1;
    }
    let ns = start.elapsed().as_nanos() as f64;
    let total = (bytes * repeats) as f64;
    (
        ns / total,
        cycles.zip(tsc()).map(|(a, b)| total / (b - a) as f64),
    )
}

/// The best figures of a kind's passes over `ROUNDS` rounds (interleaved within each round).
struct Figures {
    escape: (f64, Option<f64>),
    utf8: (f64, Option<f64>),
    copy: (f64, Option<f64>),
    /// Output bytes per input byte.
    growth: f64,
}

fn measure(text: &[u8]) -> Figures {
    let mut out = Box::new([0u8; CALL]);
    let steps = steps(text);
    let growth = escape_pass(&steps, &mut out) as f64 / text.len() as f64;
    let best = |a: (f64, Option<f64>), b: (f64, Option<f64>)| if b.0 < a.0 { b } else { a };
    let worst = (f64::INFINITY, None);
    let mut figures = Figures {
        escape: worst,
        utf8: worst,
        copy: worst,
        growth,
    };
    for _ in 0..ROUNDS {
        figures.escape = best(
            figures.escape,
            timed(text.len(), &mut || escape_pass(&steps, &mut out)),
        );
        figures.utf8 = best(figures.utf8, timed(text.len(), &mut || utf8_pass(&steps)));
        figures.copy = best(
            figures.copy,
            timed(text.len(), &mut || copy_pass(&steps, &mut out)),
        );
    }
    figures
}

fn per_cycle(figure: (f64, Option<f64>)) -> String {
    figure.1.map_or("-".into(), |b| format!("{b:.2}"))
}

fn main() {
    let csv = std::env::args().nth(1);
    let mut rows = vec!["kind,escape_ns_per_byte,utf8_ns_per_byte,copy_ns_per_byte,escape_bytes_per_tsc_cycle,growth".to_string()];
    println!("escaper, natively: 1 MiB per kind in write steps of {STEP} bytes, host calls of {CALL} bytes;");
    println!("best of {ROUNDS} rounds; ns per input byte (input bytes per TSC cycle); x copy = escape / memcpy");
    println!(
        "{:<8} {:>16} {:>16} {:>16} {:>8} {:>8}",
        "kind", "escape", "from_utf8", "memcpy", "x copy", "out/in"
    );
    let mut marks = Vec::new();
    for (kind, text) in texts() {
        let f = measure(&text);
        println!(
            "{kind:<8} {:>8.3} ({:>5}) {:>8.3} ({:>5}) {:>8.3} ({:>5}) {:>8.1} {:>8.2}",
            f.escape.0,
            per_cycle(f.escape),
            f.utf8.0,
            per_cycle(f.utf8),
            f.copy.0,
            per_cycle(f.copy),
            f.escape.0 / f.copy.0,
            f.growth
        );
        rows.push(format!(
            "{kind},{:.4},{:.4},{:.4},{},{:.3}",
            f.escape.0,
            f.utf8.0,
            f.copy.0,
            per_cycle(f.escape),
            f.growth
        ));
        if let Some(&(_, goal)) = GOALS.iter().find(|(name, _)| *name == kind) {
            marks.push((kind, goal, f.escape.0));
        }
    }
    println!();
    for (kind, goal, got) in marks {
        let met = if got <= goal { "MET" } else { "NOT MET" };
        println!("escaper {kind}: {got:.3} ns/byte, goal <= {goal} ns/byte: {met}");
    }
    if let Some(path) = csv {
        std::fs::write(&path, rows.join("\n") + "\n").expect("writing the CSV");
    }
}
