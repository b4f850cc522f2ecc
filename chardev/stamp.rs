// SPDX-License-Identifier: GPL-2.0

//! Stamps: what the kernel knows of a line's writer, put before the line on the host.
//!
//! A channel with `stamp=task`, `time` or `task+time` (and `/dev/l4log` with the `stamp`
//! parameter) starts every line the host receives with
//!
//! ```text
//! [    5.140900] comm[tgid]: text of the line
//! ```
//!
//! the time in seconds and microseconds of the kernel's monotonic clock (`CLOCK_MONOTONIC`; not
//! `/proc/uptime`'s `CLOCK_BOOTTIME`, which counts suspend too) and the writer's command name and thread-group id (in the initial
//! PID namespace). They are taken when the line's first byte is written, from the task that
//! writes it: a line that several writes of one file assemble carries the stamp of the write
//! that began it, and so does a line's unfinished rest that the file's close sends; when another
//! thread group writes to the file while a line is unfinished, that line is ended first (see
//! [`crate::lines::LineBuffer::end_line_of_other`]). The stamps live with the bytes they stamp,
//! in the line buffer ([`LineStamp`]): dropped bytes take their stamp with them. Nothing a
//! program writes can make a line that looks stamped by another: the stamp comes first on every
//! host line, and the command name (which a program sets itself) is shown with every byte but
//! printable ASCII, the backslash and the brackets as `?`, so that the stamp ends at the first
//! `]: ` after the time.

use kernel::ffi::{c_char, c_int, c_ulonglong};

extern "C" {
    // `rust/helpers.c`.
    fn l4log_current_writer(
        comm: *mut c_char,
        tgid: *mut c_int,
        started: *mut c_ulonglong,
        ns: *mut c_ulonglong,
    );
}

/// The command name's size, with its NUL (`TASK_COMM_LEN`).
const COMM_LEN: usize = 16;

/// The most bytes a stamp takes: `[` seconds (at most 12 digits) `.` 6 digits `] `, and a
/// command name of 15 bytes, `[`, a thread-group id of at most 10 digits and `]: `.
pub(crate) const STAMP_MAX: usize = 1 + 12 + 1 + 6 + 2 + (COMM_LEN - 1) + 1 + 10 + 3;

/// What a channel puts before each line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StampKind {
    pub(crate) time: bool,
    pub(crate) task: bool,
}

impl StampKind {
    /// `none`, `task`, `time`, `task+time` (or `time+task`); `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut kind = Self::default();
        if text == "none" {
            return Some(kind);
        }
        for part in text.split('+') {
            let seen = match part {
                "task" => core::mem::replace(&mut kind.task, true),
                "time" => core::mem::replace(&mut kind.time, true),
                _ => return None,
            };
            if seen {
                return None;
            }
        }
        Some(kind)
    }

    /// Whether lines get a stamp at all.
    pub(crate) fn any(self) -> bool {
        self.time || self.task
    }
}

/// A line's writer and the time its first byte was written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    comm: [u8; COMM_LEN],
    tgid: i32,
    /// When the writer's thread group began (its leader's `start_time`): with `tgid`, the
    /// writer, also after its id is given to another process.
    started: u64,
    ns: u64,
}

impl Stamp {
    /// The current task, now.
    pub(crate) fn now() -> Self {
        let mut comm = [0u8; COMM_LEN];
        let mut tgid = 0;
        let mut started = 0;
        let mut ns = 0;
        // SAFETY: `comm` has room for `COMM_LEN` (`TASK_COMM_LEN`) bytes, which is what the
        // helper writes at most; `tgid`, `started` and `ns` are valid for writes. The helper
        // only reads the current task and the clock.
        unsafe { l4log_current_writer(comm.as_mut_ptr().cast(), &mut tgid, &mut started, &mut ns) };
        Self {
            comm,
            tgid,
            started,
            ns,
        }
    }

    /// A stamp of the given values, for the tests.
    #[cfg(CONFIG_L4LOG_KUNIT_TEST)]
    pub(crate) fn of(comm: &[u8], tgid: i32, ns: u64) -> Self {
        let mut stamp = Self {
            comm: [0; COMM_LEN],
            tgid,
            started: 0,
            ns,
        };
        let len = comm.len().min(COMM_LEN - 1);
        stamp.comm[..len].copy_from_slice(&comm[..len]);
        stamp
    }

    /// The same stamp of a thread group that began at `started`, for the tests.
    #[cfg(CONFIG_L4LOG_KUNIT_TEST)]
    pub(crate) fn started_at(self, started: u64) -> Self {
        Self { started, ..self }
    }

    /// Whether `self` and `other` are of one writer (thread group).
    pub(crate) fn same_writer(&self, other: &Self) -> bool {
        (self.tgid, self.started) == (other.tgid, other.started)
    }

    /// The writer's thread-group id, for the tests.
    #[cfg(CONFIG_L4LOG_KUNIT_TEST)]
    pub(crate) fn tgid(&self) -> i32 {
        self.tgid
    }

    /// Writes the stamp as `kind` asks to the start of `out` (at least [`STAMP_MAX`] bytes);
    /// returns its length.
    pub(crate) fn write(&self, kind: StampKind, out: &mut [u8]) -> usize {
        let mut writer = SliceWriter { out, len: 0 };
        if kind.time {
            writer.push(b"[");
            writer.push_number(self.ns / 1_000_000_000, 5, b' ');
            writer.push(b".");
            writer.push_number(self.ns % 1_000_000_000 / 1000, 6, b'0');
            writer.push(b"] ");
        }
        if kind.task {
            for &byte in self.comm.iter().take_while(|byte| **byte != 0) {
                writer.push(&[shown(byte)]);
            }
            writer.push(b"[");
            writer.push_number(u64::try_from(self.tgid).unwrap_or(0), 1, b' ');
            writer.push(b"]: ");
        }
        writer.len
    }
}

/// A command name's byte as the stamp shows it: printable ASCII but the backslash and the
/// brackets, else `?`. So the first `[` after the time is the one before the thread-group id.
fn shown(byte: u8) -> u8 {
    if (0x20..0x7f).contains(&byte) && !matches!(byte, b'\\' | b'[' | b']') {
        byte
    } else {
        b'?'
    }
}

/// How many decimal digits `value` has.
fn digits(mut value: u64) -> usize {
    let mut count = 1;
    while value >= 10 {
        value /= 10;
        count += 1;
    }
    count
}

/// Bytes appended to a slice that has room for them.
struct SliceWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl SliceWriter<'_> {
    fn push(&mut self, bytes: &[u8]) {
        self.out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// `value` in decimal, right-aligned to `width` with `pad` (as `printk` shows its time:
    /// seconds padded with spaces, microseconds with zeros).
    fn push_number(&mut self, value: u64, width: usize, pad: u8) {
        let count = digits(value);
        for _ in count..width {
            self.push(&[pad]);
        }
        let mut rest = value;
        let end = self.len + count;
        for slot in self.out[self.len..end].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.len = end;
    }
}

/// The stamps of the lines a file's line buffer holds: kept by [`crate::lines::LineBuffer`]
/// beside its bytes, and changed only with them, so that a stamp never outlives its line.
///
/// # Invariants
///
/// `head` is `None` exactly when no line is under way: nothing is held, and no line's start
/// reached the host without its end. `latest` is `Some` whenever `head` is.
#[derive(Debug, Default)]
pub(crate) struct LineStamp {
    /// The stamp of the line the held bytes begin, or of the line under way on the host.
    head: Option<Stamp>,
    /// Whether that line's start, with its stamp, reached the host: the held bytes go on with it.
    sent: bool,
    /// The stamp of the latest bytes taken: the lines that begin after a held newline began
    /// then.
    latest: Option<Stamp>,
}

impl LineStamp {
    /// Bytes were taken at `now`: they begin a line unless one is under way.
    pub(crate) fn taken(&mut self, now: &Stamp) {
        if self.head.is_none() {
            self.head = Some(*now);
            self.sent = false;
        }
        self.latest = Some(*now);
    }

    /// The oldest held bytes, up to `last_sent`, reached the host, of which a line ended if
    /// `ended_a_line`. What stays held (if `more_held`) begins a line when they ended with a
    /// newline, and goes on with the line under way on the host otherwise: the one they began
    /// after their last newline, if any, with the stamp of the latest bytes.
    pub(crate) fn sent(&mut self, last_sent: u8, ended_a_line: bool, more_held: bool) {
        if last_sent == b'\n' {
            self.head = if more_held { self.latest } else { None };
            self.sent = false;
        } else {
            if ended_a_line {
                self.head = self.latest;
            }
            self.sent = true;
        }
        if self.head.is_none() {
            self.latest = None;
        }
    }

    /// No line is under way any more: its held bytes were dropped.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The stamp of the line the held bytes begin (`now` if none was taken), whether that
    /// line's start reached the host, and the stamp of the lines after its newlines.
    pub(crate) fn head(&self, now: &Stamp) -> (Stamp, bool, Stamp) {
        (
            self.head.unwrap_or(*now),
            self.sent,
            self.latest.unwrap_or(*now),
        )
    }

    /// Whether a line is under way that a thread group other than `now`'s writes: its last
    /// bytes were not taken from `now`'s thread group.
    pub(crate) fn under_way_by_other(&self, now: &Stamp) -> bool {
        self.head.is_some() && self.latest.is_some_and(|latest| !latest.same_writer(now))
    }
}
