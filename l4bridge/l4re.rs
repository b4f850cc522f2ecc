// SPDX-License-Identifier: GPL-2.0

//! The `l4linux` transport: the L4Re log capability.
//!
//! L4Linux runs as an L4Re task on the Fiasco microkernel. Its environment names a log
//! capability (`l4re_env()->log`), a vcon: the kernel's own log object, shown on the serial
//! console, or one that ned made, which prefixes each line with its tag. One vcon write IPC
//! carries the opcode and the length in the first two message registers and the bytes in the
//! rest, so at most `L4_VCON_WRITE_SIZE` bytes (488 on amd64: 61 registers of 8 bytes). The value
//! is the headers' own: bindgen evaluates it from `rust/bindings_l4re.h`.
//!
//! The IPC itself runs in a C helper (`rust/l4re.c`), because L4Re's vcon and IPC functions are
//! inline C. The helper holds the L4Linux vCPU lock (interrupt delivery off) from filling the
//! message registers to reading the IPC error back, as the L4Linux console driver (`l4ser.c`)
//! does for each of its writes, and nothing else runs under that lock: no Rust code, no
//! allocation, nothing that sleeps. The IPC is a send without timeout; it returns when the log
//! server has the message. A failed IPC (no such object, the log server gone, a cancelled send)
//! ends the write with `EIO`, after the chunks that went before it.

use super::{Address, Channel, Patience, WriteError};
use kernel::{ffi::c_uint, prelude::*};

/// What bindgen made of `rust/bindings_l4re.h`: the helpers of `rust/l4re.h` and the L4Re
/// constants, with the `RUST_CONST_HELPER_` prefix removed (see `rust/l4re.kbuild`).
#[allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unreachable_pub,
    clippy::all
)]
mod bindings {
    use kernel::ffi;
    include!(env!("L4LOG_L4RE_BINDINGS"));
}

/// The most bytes one vcon write IPC carries (`L4_VCON_WRITE_SIZE` of the L4Re headers).
pub(crate) const VCON_WRITE_SIZE: usize = bindings::L4_VCON_WRITE_SIZE;

// The headers define the write size as every message register but the two that carry opcode
// and length. Check that the value bindgen read agrees, and that a chunk's length fits the
// helper's `unsigned int`.
const _: () = assert!(
    VCON_WRITE_SIZE == (bindings::L4_UTCB_GENERIC_DATA_SIZE - 2) * bindings::L4_MWORD_BYTES
);
const _: () = assert!(VCON_WRITE_SIZE > 0 && VCON_WRITE_SIZE <= c_uint::MAX as usize);

/// The log capability of the L4Re task this kernel runs in.
///
/// # Invariants
///
/// `cap` is the task's log capability (`l4re_env()->log`) and names an object.
pub(crate) struct L4ReLog {
    cap: bindings::l4_cap_idx_t,
}

impl Channel for L4ReLog {
    const MAX_CHUNK: usize = VCON_WRITE_SIZE;

    /// There is one log capability; `address` must be `None`.
    fn open(address: Address) -> Result<Self> {
        if let Some(channel) = address {
            pr_err!(
                "host_channel={channel}: on L4Linux l4log writes to the L4Re log capability, \
                 there is no channel to choose\n"
            );
            return Err(EINVAL);
        }
        // SAFETY: `l4log_l4re_log_cap` reads the log capability from the L4Re environment of
        // this task, which L4Re set up before L4Linux started and which stays mapped and
        // unchanged while it runs; it has no other effect and no precondition.
        let cap = unsafe { bindings::l4log_l4re_log_cap() };
        // SAFETY: `l4log_l4_is_invalid_cap` only tests bits of its argument.
        if unsafe { bindings::l4log_l4_is_invalid_cap(cap) } != 0 {
            pr_err!("no L4Re log capability: start L4Linux with one (ned: log = ...)\n");
            return Err(ENODEV);
        }
        // INVARIANT: `cap` is the log capability and was checked to name an object.
        Ok(Self { cap })
    }

    /// One vcon write IPC per chunk. The IPC has no timeout and its sender cannot see that the
    /// log server is slow, so there is nothing to ask `patience` (see the module documentation).
    fn send(&self, chunk: &[u8], _patience: &mut dyn Patience) -> Result<(), WriteError> {
        let len = vcon_len(chunk.len()).ok_or(WriteError {
            sent: 0,
            error: EINVAL,
        })?;
        // SAFETY: `chunk` is valid for reads of `len` bytes, which the helper copies into this
        // vCPU's UTCB and does not keep; `len` is at most `VCON_WRITE_SIZE`, the room the UTCB
        // has for them (checked by `vcon_len`, and again by the helper). `self.cap` names the
        // log object by the type invariant. The helper holds the vCPU lock only around the IPC
        // and the read of its error, and does not sleep.
        let error = unsafe { bindings::l4log_vcon_send(self.cap, chunk.as_ptr().cast(), len) };
        if error != 0 {
            // A vcon write is all or nothing: the log server got no byte of this chunk.
            return Err(WriteError {
                sent: 0,
                error: EIO,
            });
        }
        Ok(())
    }
}

/// The length of a chunk as the vcon helper takes it: `None` unless `1..=VCON_WRITE_SIZE`.
pub(crate) fn vcon_len(len: usize) -> Option<c_uint> {
    if len == 0 || len > VCON_WRITE_SIZE {
        return None;
    }
    c_uint::try_from(len).ok()
}
