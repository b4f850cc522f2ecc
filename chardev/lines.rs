// SPDX-License-Identifier: GPL-2.0

//! A file's line buffer: where its writes wait for the end of their line.

use crate::{
    escape,
    l4bridge::MAX_CHUNK,
    stamp::{LineStamp, Stamp},
    words::{self, Newlines},
};
use kernel::prelude::*;

/// The most bytes a file holds back while its line is unfinished: as many whole host calls as
/// fit in a page (4096 bytes where a host call takes a page, 3904 = 8 x 488 on L4Linux), so that
/// a long line, sent in pieces of this size without escaping, costs `ceil(size / MAX_CHUNK)`
/// host calls, none of them short but the last. A line longer than this goes to the host in
/// pieces of at most this size.
pub(crate) const LINE_MAX: usize = PAGE_BYTES / MAX_CHUNK * MAX_CHUNK;

/// The line buffer's allocation: a page-sized slab object.
const PAGE_BYTES: usize = 4096;

const _: () = assert!(LINE_MAX >= MAX_CHUNK && LINE_MAX <= PAGE_BYTES);

/// The bytes an open file has taken but not yet sent: the start of its current line, or
/// several lines on their way to the host.
///
/// # Invariants
///
/// `len <= room <= LINE_MAX`; `newlines` are the [`Newlines`] of the held bytes; the first
/// `plain_end <= len` held bytes are printable ASCII but the backslash, or newlines: bytes that
/// pass escaping unchanged.
pub(crate) struct LineBuffer {
    /// Allocated on its own: a page-sized slab object.
    bytes: KBox<[u8; LINE_MAX]>,
    len: usize,
    /// How many bytes it holds at most: [`LINE_MAX`], less a stamp's room on a stamped channel
    /// (so that a stamp and a piece of a long line fit the same bound).
    room: usize,
    /// The stamps of the held lines, on a stamped channel: changed only with the bytes.
    stamp: LineStamp,
    /// Found as bytes arrive, so that each byte is looked at once for its line end.
    newlines: Newlines,
    /// Found in the same pass, while escaping is on, so that the escaper need not look at
    /// plain text again.
    plain_end: usize,
}

/// What a failed send left of a write step: see [`LineBuffer::settle_failed_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Bytes of the write's earlier steps that the host did not get.
    pub(crate) given_back: usize,
    /// Bytes of the step's copy that the host got.
    pub(crate) taken: usize,
    /// Bytes the step copied.
    pub(crate) copied: usize,
}

impl Settled {
    /// The bytes the write no longer takes: to go back to where they came from.
    pub(crate) fn returned(&self) -> usize {
        self.given_back + self.copied - self.taken
    }
}

/// The held bytes that are ready for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    /// How many, from the oldest.
    pub(crate) len: usize,
    /// How many newlines they have.
    pub(crate) lines: usize,
    /// How many of them, from the oldest, are known to be printable ASCII but the backslash, or
    /// newlines.
    pub(crate) plain: usize,
}

impl LineBuffer {
    /// An empty line buffer that holds at most `room` bytes (at most [`LINE_MAX`]).
    pub(crate) fn with_room(room: usize) -> Result<Self> {
        Ok(Self {
            bytes: KBox::init(pin_init::init_zeroed(), GFP_KERNEL)?,
            len: 0,
            room: room.min(LINE_MAX),
            stamp: LineStamp::default(),
            newlines: Newlines::default(),
            plain_end: 0,
        })
    }

    /// The free room after the held bytes, to copy new bytes into before [`Self::commit`].
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.bytes[self.len..self.room]
    }

    /// Holds the first `count` bytes of [`Self::spare`] as well, looking for their line ends
    /// and, with `find_plain`, for where plain text ends; on a stamped channel, taken at `now`.
    pub(crate) fn commit(&mut self, count: usize, find_plain: bool, now: Option<&Stamp>) {
        let start = self.len;
        let end = (start + count).min(self.room);
        if let (Some(now), true) = (now, end > start) {
            self.stamp.taken(now);
        }
        // Plain text is followed only while it goes on from the oldest held byte.
        let find_plain = find_plain && self.plain_end == start;
        let (new, plain) = words::scan_lines(&self.bytes[start..end], find_plain);
        if new.count > 0 {
            self.newlines.count += new.count;
            self.newlines.end_of_last = start + new.end_of_last;
        }
        if find_plain {
            self.plain_end = start + plain;
        }
        self.len = end;
    }

    /// The held bytes, oldest first.
    pub(crate) fn held(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The stamps of the held lines.
    pub(crate) fn stamp(&self) -> &LineStamp {
        &self.stamp
    }

    /// Before a stamped write of `now`'s writer takes bytes: when another thread group's line
    /// is under way, ends it. Then the held line, if any, gets a newline, the one byte l4log
    /// adds, and is to be sent before the write takes any byte (returns `true`); a line under
    /// way only on the host is forgotten, and the next send ends its host line.
    pub(crate) fn end_line_of_other(&mut self, now: &Stamp) -> bool {
        if !self.stamp.under_way_by_other(now) {
            return false;
        }
        match self.held().last() {
            None => {
                self.stamp.clear();
                false
            }
            Some(b'\n') => false,
            Some(_) => {
                // Never full here (a full buffer is always ready, and was sent or given back),
                // so the newline fits.
                let Some(slot) = self.spare().first_mut() else {
                    return false;
                };
                *slot = b'\n';
                self.commit(1, self.plain_end == self.len, None);
                true
            }
        }
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All the held bytes, as if ready: for the close, which sends the rest of the line.
    pub(crate) fn all(&self) -> Ready {
        Ready {
            len: self.len,
            lines: self.newlines.count,
            plain: self.plain_end,
        }
    }

    /// The held bytes that are ready for the host: every complete line; when the buffer is
    /// full and holds no line end, all of it (a piece of a long line) less, with
    /// `whole_chars`, an unfinished UTF-8 character at its end.
    pub(crate) fn ready(&self, whole_chars: bool) -> Ready {
        let Newlines { count, end_of_last } = self.newlines;
        let len = match (count > 0, self.len == self.room, whole_chars) {
            (true, _, _) => end_of_last,
            (false, false, _) => 0,
            (false, true, false) => self.room,
            (false, true, true) => self.room - escape::unfinished_char_len(self.held()),
        };
        Ready {
            len,
            lines: count,
            plain: self.plain_end.min(len),
        }
    }

    /// Drops the first `count` held bytes (they went to the host).
    pub(crate) fn consume(&mut self, count: usize) {
        let count = count.min(self.len);
        if count > 0 {
            // Whether the sent bytes end a line: the held newlines are known, and only after a
            // failed send can the sent bytes end inside the held lines.
            let Newlines {
                count: lines,
                end_of_last,
            } = self.newlines;
            let ended_a_line =
                lines > 0 && (end_of_last <= count || self.bytes[..count].contains(&b'\n'));
            self.stamp
                .sent(self.bytes[count - 1], ended_a_line, count < self.len);
        }
        self.bytes.copy_within(count..self.len, 0);
        self.len -= count;
        self.plain_end = self.plain_end.saturating_sub(count);
        self.newlines = if count >= self.newlines.end_of_last {
            Newlines::default()
        } else {
            // Only after a failed send: some of the lines are still held.
            words::newlines(self.held())
        };
    }

    /// Settles a send that failed after the host got the first `consumed` held bytes, in a
    /// write step that found `before_step` bytes held (of which the last `own` were taken by
    /// the same write's earlier steps) and added the rest. Drops what the host got; keeps the
    /// bytes of earlier writes it did not get, which those writes counted; drops the write's own
    /// bytes it did not get, which the write gives back.
    pub(crate) fn settle_failed_send(
        &mut self,
        before_step: usize,
        own: usize,
        consumed: usize,
    ) -> Settled {
        let older = before_step - own;
        let copied = self.len - before_step;
        let settled = Settled {
            given_back: own - consumed.saturating_sub(older).min(own),
            taken: consumed.saturating_sub(before_step).min(copied),
            copied,
        };
        self.truncate(older.max(consumed));
        self.consume(consumed);
        settled
    }

    /// Drops all held bytes after the first `len`; their stamp with them when none is left.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        if self.len == 0 {
            self.stamp.clear();
        }
        self.plain_end = self.plain_end.min(len);
        if self.newlines.end_of_last > self.len {
            self.newlines = words::newlines(self.held());
        }
    }
}
