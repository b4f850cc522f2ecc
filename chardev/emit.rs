// SPDX-License-Identifier: GPL-2.0

//! Sending text to the host log, escaped or not; one sender at a time.

use crate::{
    escape::{Escaper, Filled, ESCAPED_LEN},
    l4bridge::{HostLog, Patience, MAX_CHUNK},
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

/// Escaped text on its way to the host: one host call's worth at a time.
pub(crate) struct Emitter {
    /// Allocated on its own, so that a page-sized chunk is a page-sized slab object.
    out: KBox<[u8; MAX_CHUNK]>,
}

impl Emitter {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            out: KBox::init(pin_init::init_zeroed(), GFP_KERNEL)?,
        })
    }

    /// Sends `text` to `host`, in order, escaped when `escape` is set (its first `plain` bytes
    /// are known to pass unchanged), waiting for a full host channel as `patience` says. Stops
    /// at the first failed host call.
    pub(crate) fn emit(
        &mut self,
        host: &HostLog,
        text: &[u8],
        plain: usize,
        escape: bool,
        patience: &mut dyn Patience,
    ) -> Result<(), EmitError> {
        if !escape {
            return send_unchanged(host, text, patience);
        }
        let mut escaper = Escaper::new(text, plain);
        if escaper.is_verbatim() {
            // Nothing to change: sent from where it is, in the host calls escaping would make.
            return send_unchanged(host, text, patience);
        }
        let mut sent = 0;
        while !escaper.is_done() {
            let Filled { taken, written } = escaper.fill(&mut self.out[..]);
            host.write(&self.out[..written], patience)
                .map_err(|failed| EmitError {
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
) -> Result<(), EmitError> {
    host.write(text, patience).map_err(|failed| EmitError {
        consumed: failed.sent,
        error: failed.error,
    })
}

// An escaped byte must fit in one host call.
const _: () = assert!(MAX_CHUNK >= ESCAPED_LEN);
