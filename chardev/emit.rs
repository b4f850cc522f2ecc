// SPDX-License-Identifier: GPL-2.0

//! Sending text to the host log, escaped or not, stamped or not; one sender at a time.

use crate::{
    escape::{Escaper, Filled, ESCAPED_LEN},
    l4bridge::{HostLog, Patience, WriteError, HOST_LINE_MAX, MAX_CHUNK, NUL_LINE_COST},
    stamp::{Stamp, StampKind, STAMP_MAX},
};
use kernel::prelude::*;

/// Text that did not all reach the host.
#[derive(Debug)]
pub(crate) struct EmitError {
    /// How many bytes at the start of the text certainly reached the host. Escaped, a host
    /// call that failed part way counts as sending none of its text, so those bytes may reach
    /// the host again if they are sent again.
    pub(crate) consumed: usize,
    /// Why the host call failed.
    pub(crate) error: Error,
}

/// Pays, before host calls, for every byte they put on the host (text, escapes, stamps, the
/// newlines that end host lines): the rate limit's policy.
pub(crate) trait Toll {
    /// Returns once host calls of `bytes` bytes may go, with how many of them it charged, or
    /// the error that stops the send before them.
    fn pay(&mut self, bytes: usize) -> Result<usize>;

    /// Gives back what was charged for `bytes` bytes that did not reach the host.
    fn refund(&mut self, bytes: usize);
}

/// How a send waits: for a full host channel, and for the rate limit before each host call.
pub(crate) struct Pace<'a> {
    pub(crate) patience: &'a mut dyn Patience,
    pub(crate) toll: &'a mut dyn Toll,
}

/// How the lines of a stamped channel's text get their stamps.
pub(crate) struct Stamping {
    pub(crate) kind: StampKind,
    /// The open file the text comes from.
    pub(crate) file: u64,
    /// The stamp of the line the text begins with, and whether that line's start reached the
    /// host already (the text goes on with it).
    pub(crate) head: Stamp,
    pub(crate) head_sent: bool,
    /// The stamp of the lines that begin after the text's newlines.
    pub(crate) later: Stamp,
}

/// Escaped or stamped text on its way to the host: one host call's worth at a time.
pub(crate) struct Emitter {
    /// Allocated on its own, so that a page-sized chunk is a page-sized slab object.
    out: KBox<[u8; MAX_CHUNK]>,
    /// Stamped channels: the file whose text left the host in the middle of a line, if any.
    mid_line: Option<u64>,
    /// Stamped channels: the bytes of the host's last line so far.
    line_len: usize,
}

/// A `mid_line` that is no file's: after a host call that failed part way, the text it
/// carried counts as not sent, though part of it reached the host.
const UNKNOWN_FILE: u64 = u64::MAX;

impl Emitter {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            out: KBox::init(pin_init::init_zeroed(), GFP_KERNEL)?,
            mid_line: None,
            line_len: 0,
        })
    }

    /// Sends `text` as [`Self::emit`] does, with a stamp at the start of every line on the
    /// host: before each line the text begins, before the line it goes on with when another
    /// file's text came between, and, when another file's text left the host in the middle of
    /// a line, after a newline that ends that line. A host line that would be longer than the
    /// host shows whole ([`HOST_LINE_MAX`]) is ended there and goes on in a host line stamped
    /// again. A host call that fails part way counts as sending none of its text, as with
    /// escaping.
    pub(crate) fn emit_stamped(
        &mut self,
        host: &HostLog,
        text: &[u8],
        plain: usize,
        escape: bool,
        stamping: &Stamping,
        pace: Pace<'_>,
    ) -> Result<(), EmitError> {
        let mut out = Outbox {
            patience: pace.patience,
            toll: pace.toll,
            buf: &mut self.out[..],
            len: 0,
            host,
            sent: 0,
            taken: 0,
            file: stamping.file,
            mid_line: self.mid_line,
            line_len: self.line_len,
            line_stamp: None,
            kind: stamping.kind,
        };
        let sent = out.stamped_text(text, plain, escape, stamping);
        // Where the host stands: what the host calls that reached it ended with.
        self.mid_line = out.mid_line;
        self.line_len = out.line_len;
        sent
    }

    /// Sends `text` to `host`, in order, escaped when `escape` is set (its first `plain` bytes
    /// are known to pass unchanged), waiting for a full host channel as `pace` says, and
    /// paying its toll before each host call. Stops at the first failed host call or toll.
    pub(crate) fn emit(
        &mut self,
        host: &HostLog,
        text: &[u8],
        plain: usize,
        escape: bool,
        pace: Pace<'_>,
    ) -> Result<(), EmitError> {
        let Pace { patience, toll } = pace;
        if !escape {
            return send_unchanged(host, text, patience, toll);
        }
        let mut escaper = Escaper::new(text, plain);
        if escaper.is_verbatim() {
            // Nothing to change: sent from where it is, in the host calls escaping would make.
            return send_unchanged(host, text, patience, toll);
        }
        let mut sent = 0;
        while !escaper.is_done() {
            let Filled { taken, written } = escaper.fill(&mut self.out[..]);
            paid_write(host, &self.out[..written], patience, toll).map_err(|failed| EmitError {
                consumed: sent,
                error: failed.error,
            })?;
            sent += taken;
        }
        Ok(())
    }
}

/// Sends `text` to `host` as it is.
fn send_unchanged(
    host: &HostLog,
    text: &[u8],
    patience: &mut dyn Patience,
    toll: &mut dyn Toll,
) -> Result<(), EmitError> {
    paid_write(host, text, patience, toll).map_err(|failed| EmitError {
        consumed: failed.sent,
        error: failed.error,
    })
}

/// `bytes` to `host` once `toll` has them paid for; what a failed write did not get to the host
/// is refunded.
fn paid_write(
    host: &HostLog,
    bytes: &[u8],
    patience: &mut dyn Patience,
    toll: &mut dyn Toll,
) -> Result<(), WriteError> {
    let charged = toll
        .pay(bytes.len())
        .map_err(|error| WriteError { sent: 0, error })?;
    host.write(bytes, patience).inspect_err(|failed| {
        toll.refund(charged.min(bytes.len() - failed.sent));
    })
}

/// Stamps and text gathered into host calls of at most [`MAX_CHUNK`] bytes.
struct Outbox<'a> {
    /// The file whose text this is.
    file: u64,
    /// The file whose text left the host in the middle of a line, if any: brought up to date
    /// by every host call that reaches the host.
    mid_line: Option<u64>,
    /// Bytes of the current host line so far, sent or gathered.
    line_len: usize,
    /// The stamp of the current host line, to stamp its next piece with when it is cut.
    line_stamp: Option<&'a Stamp>,
    kind: StampKind,
    buf: &'a mut [u8],
    len: usize,
    host: &'a HostLog,
    patience: &'a mut dyn Patience,
    toll: &'a mut dyn Toll,
    /// Bytes of the text in host calls that succeeded.
    sent: usize,
    /// Bytes of the text in `buf` and before it.
    taken: usize,
}

impl<'a> Outbox<'a> {
    /// `text` with a stamp at the start of every line on the host: see
    /// [`Emitter::emit_stamped`].
    fn stamped_text(
        &mut self,
        text: &[u8],
        plain: usize,
        escape: bool,
        stamping: &'a Stamping,
    ) -> Result<(), EmitError> {
        let goes_on = stamping.head_sent && self.mid_line == Some(self.file);
        if self.mid_line.is_some() && !goes_on {
            // Another file's line, or this file's that it does not go on with (its bytes were
            // dropped, or another writer's line begins): the host line ends here.
            self.push(b"\n", 0)?;
        }
        let mut stamp = (!goes_on).then_some(&stamping.head);
        // Going on with a host line: its stamp is the head's.
        self.line_stamp = Some(&stamping.head);
        let mut start = 0;
        for segment in text.split_inclusive(|byte| *byte == b'\n') {
            if let Some(stamp) = stamp {
                self.stamp(stamp, start)?;
            }
            let known_plain = plain.saturating_sub(start).min(segment.len());
            self.text(segment, start, known_plain, escape)?;
            start += segment.len();
            stamp = Some(&stamping.later);
        }
        self.flush()
    }

    /// Makes room for `bytes` bytes, sending what is gathered if it is less.
    fn room(&mut self, bytes: usize) -> Result<(), EmitError> {
        if self.buf.len() - self.len < bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// `bytes`, which are no text of the file's, after its first `taken` bytes.
    fn push(&mut self, bytes: &[u8], taken: usize) -> Result<(), EmitError> {
        self.room(bytes.len())?;
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.added(bytes.len());
        self.taken = taken;
        Ok(())
    }

    /// The stamp that begins a host line, as the channel's kind shows it, before the text's
    /// byte `taken`.
    fn stamp(&mut self, stamp: &'a Stamp, taken: usize) -> Result<(), EmitError> {
        self.room(STAMP_MAX)?;
        let len = stamp.write(self.kind, &mut self.buf[self.len..]);
        self.added(len);
        self.line_stamp = Some(stamp);
        self.taken = taken;
        Ok(())
    }

    /// Counts the last `count` bytes gathered into the host line they belong to.
    fn added(&mut self, count: usize) {
        self.len += count;
        if count > 0 && self.buf[self.len - 1] == b'\n' {
            self.line_len = 0;
        } else {
            let cost = line_cost(&self.buf[self.len - count..self.len]);
            self.line_len = self.line_len.saturating_add(cost);
        }
    }

    /// How many more bytes of text the host line takes before its newline, at least `want`:
    /// ends the host line, and stamps its next piece, when fewer are left.
    fn line_room(&mut self, want: usize) -> Result<usize, EmitError> {
        let left = TEXT_MAX.saturating_sub(self.line_len);
        if left >= want {
            return Ok(left);
        }
        let taken = self.taken;
        self.push(b"\n", taken)?;
        if let Some(stamp) = self.line_stamp {
            self.stamp(stamp, taken)?;
        }
        Ok(TEXT_MAX.saturating_sub(self.line_len).max(want))
    }

    /// `segment`, the text from its byte `start` on, escaped when `escape` is set (its first
    /// `plain` bytes are known to pass unchanged). Escaped, a character is never cut where the
    /// host line is ([`Escaper::fill_whole`]): its rest would begin the next host line, after a
    /// stamp, as bytes that are no character (0x9b, CSI to an 8-bit terminal).
    fn text(
        &mut self,
        segment: &[u8],
        start: usize,
        plain: usize,
        escape: bool,
    ) -> Result<(), EmitError> {
        // The segment's newline, if any, may take the host line's last byte.
        let body = segment.len() - usize::from(segment.ends_with(b"\n"));
        if !escape {
            let mut done = 0;
            while done < segment.len() {
                let want = if done < body {
                    let room = self.line_room(line_cost(&segment[done..=done]))?;
                    line_fit(&segment[done..body], room)
                } else {
                    segment.len() - done
                };
                self.room(1)?;
                let count = want.min(self.buf.len() - self.len);
                self.buf[self.len..self.len + count].copy_from_slice(&segment[done..done + count]);
                self.added(count);
                done += count;
                self.taken = start + done;
            }
            return Ok(());
        }
        let mut escaper = Escaper::new(segment, plain);
        let mut taken = start;
        while !escaper.is_done() {
            let line_room = if taken - start < body {
                self.line_room(ESCAPED_LEN)?
            } else {
                ESCAPED_LEN
            };
            self.room(ESCAPED_LEN)?;
            let end = self.buf.len().min(self.len.saturating_add(line_room));
            let Filled {
                taken: took,
                written,
            } = escaper.fill_whole(&mut self.buf[self.len..end]);
            self.added(written);
            taken += took;
            self.taken = taken;
        }
        Ok(())
    }

    /// Sends what is gathered in one host call, once its toll is paid.
    fn flush(&mut self) -> Result<(), EmitError> {
        if self.len == 0 {
            return Ok(());
        }
        let sent = paid_write(
            self.host,
            &self.buf[..self.len],
            &mut *self.patience,
            &mut *self.toll,
        );
        let reached = sent
            .as_ref()
            .map_or_else(|failed| failed.sent, |()| self.len);
        if let Some(last) = reached.checked_sub(1).map(|last| self.buf[last]) {
            self.mid_line = match (last, &sent) {
                (b'\n', _) => None,
                (_, Ok(())) => Some(self.file),
                // Part of a call whose text does not count as sent: it may come again.
                (_, Err(_)) => Some(UNKNOWN_FILE),
            };
        }
        sent.map_err(|failed| EmitError {
            consumed: self.sent,
            error: failed.error,
        })?;
        self.len = 0;
        self.sent = self.taken;
        Ok(())
    }
}

/// The most bytes of stamp and text a host line holds before its newline.
const TEXT_MAX: usize = HOST_LINE_MAX - 1;

/// What `bytes` cost of a host line's [`HOST_LINE_MAX`]: a byte each, and each NUL what the
/// host call it ends adds ([`NUL_LINE_COST`]: on L4Linux the log server's colours around
/// another IPC).
fn line_cost(bytes: &[u8]) -> usize {
    if NUL_LINE_COST == 0 {
        return bytes.len();
    }
    bytes.len() + NUL_LINE_COST * bytes.iter().filter(|byte| **byte == 0).count()
}

/// How many bytes at the start of `bytes` cost at most `room` of a host line ([`line_cost`]).
fn line_fit(bytes: &[u8], room: usize) -> usize {
    if NUL_LINE_COST == 0 {
        return bytes.len().min(room);
    }
    let mut cost = 0;
    bytes
        .iter()
        .take_while(|byte| {
            cost += 1 + if **byte == 0 { NUL_LINE_COST } else { 0 };
            cost <= room
        })
        .count()
}

// An escaped byte, and a stamp, must fit in one host call; a stamp and an escaped byte in one
// host line.
const _: () = assert!(MAX_CHUNK >= ESCAPED_LEN && MAX_CHUNK >= STAMP_MAX);
const _: () = assert!(TEXT_MAX >= STAMP_MAX + ESCAPED_LEN);
