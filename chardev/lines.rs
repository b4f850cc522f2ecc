// SPDX-License-Identifier: GPL-2.0

//! A file's line buffer: where its writes wait for the end of their line.

use crate::{escape, l4bridge::MAX_CHUNK};
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
/// `len <= LINE_MAX`.
pub(crate) struct LineBuffer {
    /// Allocated on its own: a page-sized slab object.
    bytes: KBox<[u8; LINE_MAX]>,
    len: usize,
}

impl LineBuffer {
    /// An empty line buffer.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            bytes: KBox::init(pin_init::init_zeroed(), GFP_KERNEL)?,
            len: 0,
        })
    }

    /// The free room after the held bytes, to copy new bytes into before [`Self::commit`].
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.bytes[self.len..]
    }

    /// Holds the first `count` bytes of [`Self::spare`] as well.
    pub(crate) fn commit(&mut self, count: usize) {
        self.len = (self.len + count).min(LINE_MAX);
    }

    /// The held bytes, oldest first.
    pub(crate) fn held(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of the held bytes are ready for the host: every complete line; when the
    /// buffer is full and holds no line end, all of it (a piece of a long line) less, with
    /// `whole_chars`, an unfinished UTF-8 character at its end.
    pub(crate) fn ready(&self, whole_chars: bool) -> usize {
        let held = self.held();
        if let Some(last_newline) = held.iter().rposition(|&byte| byte == b'\n') {
            return last_newline + 1;
        }
        match (self.len == LINE_MAX, whole_chars) {
            (false, _) => 0,
            (true, false) => LINE_MAX,
            (true, true) => LINE_MAX - escape::unfinished_char_len(held),
        }
    }

    /// Drops the first `count` held bytes (they went to the host).
    pub(crate) fn consume(&mut self, count: usize) {
        let count = count.min(self.len);
        self.bytes.copy_within(count..self.len, 0);
        self.len -= count;
    }

    /// Drops all held bytes after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}
