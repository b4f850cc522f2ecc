// SPDX-License-Identifier: GPL-2.0

//! Sending text to the host log, escaped or not; one sender at a time.

use crate::{
    escape::{self, Piece, ESCAPED_LEN},
    l4bridge::{HostLog, MAX_CHUNK},
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

/// Escaped text on its way to the host: one host call's worth.
///
/// # Invariants
///
/// `len <= MAX_CHUNK`.
pub(crate) struct Emitter {
    /// Allocated on its own, so that a page-sized chunk is a page-sized slab object.
    out: KBox<[u8; MAX_CHUNK]>,
    len: usize,
}

/// An escaped send in progress: how far the input has got.
struct Progress {
    /// Input bytes whose output has gone to the host.
    sent: usize,
    /// Input bytes whose output is in the emitter (or sent).
    taken: usize,
}

impl Emitter {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            out: KBox::init(pin_init::init_zeroed(), GFP_KERNEL)?,
            len: 0,
        })
    }

    /// Sends `text` to `host`, in order, escaped when `escape` is set. Stops at the first
    /// failed host call.
    pub(crate) fn emit(
        &mut self,
        host: &HostLog,
        text: &[u8],
        escape: bool,
    ) -> Result<(), EmitError> {
        if !escape {
            return host.write(text).map_err(|failed| EmitError {
                consumed: failed.sent,
                error: failed.error,
            });
        }
        self.len = 0;
        let mut progress = Progress { sent: 0, taken: 0 };
        for piece in escape::pieces(text) {
            match piece {
                Piece::Verbatim(mut run) => {
                    while !run.is_empty() {
                        if self.len == MAX_CHUNK {
                            self.flush(host, &mut progress)?;
                        }
                        let count = run.len().min(MAX_CHUNK - self.len);
                        self.push(&run[..count]);
                        progress.taken += count;
                        run = &run[count..];
                    }
                }
                Piece::Escaped(byte) => {
                    if MAX_CHUNK - self.len < ESCAPED_LEN {
                        self.flush(host, &mut progress)?;
                    }
                    self.push(&escape::escaped(byte));
                    progress.taken += 1;
                }
            }
        }
        self.flush(host, &mut progress)
    }

    /// Appends `bytes`, which fit.
    fn push(&mut self, bytes: &[u8]) {
        self.out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Sends what the emitter holds, if anything.
    fn flush(&mut self, host: &HostLog, progress: &mut Progress) -> Result<(), EmitError> {
        if self.len == 0 {
            return Ok(());
        }
        let sent = host.write(&self.out[..self.len]);
        self.len = 0;
        match sent {
            Ok(()) => {
                progress.sent = progress.taken;
                Ok(())
            }
            Err(failed) => Err(EmitError {
                consumed: progress.sent,
                error: failed.error,
            }),
        }
    }
}

// An escaped byte must fit in one host call.
const _: () = assert!(MAX_CHUNK >= ESCAPED_LEN);
