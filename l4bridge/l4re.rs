// SPDX-License-Identifier: GPL-2.0

//! The `l4linux` transport: the L4Re log capability.
//!
//! L4Linux runs as an L4Re task on the Fiasco microkernel. Its environment names a log
//! capability (`l4re_env()->log`), a vcon: the kernel's own log object, shown on the serial
//! console, or one that ned made, which prefixes each line with its tag. `/dev/l4log` writes to
//! a capability of its own, `l4log`, when ned gives one (tagged: no guest line can pass for
//! another component's, and the console's messages do not come between its bytes), else to
//! that log capability. One vcon write IPC
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
//!
//! The L4Re log server (moe) ends a message at its first NUL byte and drops the rest; the
//! kernel's log object prints NUL as any byte. A NUL therefore ends its IPC: on moe's channels
//! only the NUL is lost, and text with no NUL goes in the same IPCs as before.

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

/// A log capability of the L4Re task this kernel runs in.
///
/// # Invariants
///
/// `cap` is a capability of the task's environment (its log capability, `l4re_env()->log`, or
/// one of its named capabilities), which stays valid while L4Linux runs, and names an object.
pub(crate) struct L4ReLog {
    cap: bindings::l4_cap_idx_t,
}

/// A log capability of the task's environment: the stream a channel names.
///
/// # Invariants
///
/// Made only by [`L4ReLog::resolve`]: the capability is one of the task's environment and
/// names an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogCap(bindings::l4_cap_idx_t);

impl kernel::fmt::Display for LogCap {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        write!(f, "L4Re capability {:#x}", self.0)
    }
}

/// The L4Re log server (moe's `Moe::Log`, `pkg/l4re-core/moe/server/src/log.cc`) gathers a
/// line in a buffer of 1024 bytes (`Pbuf`) and writes it out early, without its tag, when the
/// next piece does not fit: before each formatted piece (the colour it puts before every IPC's
/// text, the colour reset after it, the line's end) it wants 50 bytes to spare. A line of
/// `LOG_SERVER_LINE_MAX` bytes with its newline, in up to three IPCs (its text may begin in one
/// IPC and end in the third), adds the tag and its separator (10 bytes) and at most
/// [`LOG_SERVER_IPC_MARKS`] bytes of colours per IPC: 896 + 10 + 36 = 942 bytes, below the
/// 969 that leave room for the last reset and its margin. Each NUL in a line ends one more IPC
/// ([`L4ReLog::send`]): l4log counts it as that many bytes more of the line
/// ([`Channel::NUL_LINE_COST`]).
const LOG_SERVER_LINE_MAX: usize = 896;

/// The most bytes the log server puts around one IPC's text: its colour (up to 8 bytes,
/// `ESC [ 0 1 ; 3 N m`) and the reset after it (4).
const LOG_SERVER_IPC_MARKS: usize = 12;

// Whole IPCs of a line, and one more where it begins and ends inside IPCs: at most three.
const _: () = assert!(LOG_SERVER_LINE_MAX.div_ceil(VCON_WRITE_SIZE) < 3);

impl Channel for L4ReLog {
    const MAX_CHUNK: usize = VCON_WRITE_SIZE;

    const HOST_LINE_MAX: usize = LOG_SERVER_LINE_MAX;

    /// A NUL ends its IPC ([`Self::send`]), and the log server puts its colour before each
    /// IPC's text and a reset after it (see [`LOG_SERVER_LINE_MAX`]).
    const NUL_LINE_COST: usize = LOG_SERVER_IPC_MARKS;

    type Stream = LogCap;

    /// `address` names a capability in the L4Linux task's environment (ned's `caps` table).
    /// By default the capability named [`DEFAULT_CAP_NAME`], a log of `/dev/l4log`'s own that
    /// the log server tags, when the boot configuration gives one; else the task's log
    /// capability, `l4re_env()->log`, the console's.
    fn resolve(address: Address<'_>) -> Result<LogCap> {
        let cap = match address {
            Address::Default => match find_cap(DEFAULT_CAP_NAME)? {
                Some(cap) => cap,
                // SAFETY: `l4log_l4re_log_cap` reads the log capability from the L4Re
                // environment of this task, which L4Re set up before L4Linux started and which
                // stays mapped and unchanged while it runs; it has no other effect and no
                // precondition.
                None => unsafe { bindings::l4log_l4re_log_cap() },
            },
            Address::Number(number) => {
                pr_err!("{number}: on L4Linux a host channel is an L4Re capability's name\n");
                return Err(EINVAL);
            }
            Address::Name(name) => named_cap(name)?,
        };
        // SAFETY: `l4log_l4_is_invalid_cap` only tests bits of its argument.
        if unsafe { bindings::l4log_l4_is_invalid_cap(cap) } != 0 {
            pr_err!("no L4Re capability for {address}: start L4Linux with one (ned: caps = ...)\n");
            return Err(ENODEV);
        }
        // INVARIANT: `cap` is a capability of the task's environment and names an object.
        Ok(LogCap(cap))
    }

    /// Two capabilities of one log object (ned's `caps` naming one object twice, or the
    /// task's log capability again) are one stream.
    fn same_stream(a: &LogCap, b: &LogCap) -> bool {
        // SAFETY: by the type invariant both capabilities are the task's own and name objects;
        // the helper asks the task whether they name the same one (a system call under the
        // vCPU lock, which it holds only around the call and the read of its result, and does
        // not sleep) and has no other effect.
        a == b || unsafe { bindings::l4log_l4_same_object(a.0, b.0) } != 0
    }

    fn open(LogCap(cap): LogCap) -> Result<Self> {
        // INVARIANT: only `resolve` makes a `LogCap`, of a capability of the task's environment
        // that names an object.
        Ok(Self { cap })
    }

    /// One vcon write IPC per chunk, and one more after each NUL byte in it. The IPC has no
    /// timeout and its sender cannot see that the log server is slow, so there is nothing to
    /// ask `patience` (see the module documentation).
    fn send(&self, chunk: &[u8], _patience: &mut dyn Patience) -> Result<(), WriteError> {
        // moe's log server ends a message at a NUL byte and drops the rest of it (the kernel's
        // log object prints the NUL): a NUL ends its IPC, so that no more than the NUL is lost.
        let mut sent = 0;
        for piece in chunk.split_inclusive(|byte| *byte == 0) {
            self.send_ipc(piece)
                .map_err(|error| WriteError { sent, error })?;
            sent += piece.len();
        }
        Ok(())
    }

    /// One IPC for each piece of `bytes` that ends with a NUL, and one for the rest.
    fn calls(bytes: &[u8]) -> usize {
        bytes.split_inclusive(|byte| *byte == 0).count()
    }
}

impl L4ReLog {
    /// One vcon write IPC of `piece` (1 to [`VCON_WRITE_SIZE`] bytes): all of it or none.
    fn send_ipc(&self, piece: &[u8]) -> Result {
        let len = vcon_len(piece.len()).ok_or(EINVAL)?;
        // SAFETY: `piece` is valid for reads of `len` bytes, which the helper copies into this
        // vCPU's UTCB and does not keep; `len` is at most `VCON_WRITE_SIZE`, the room the UTCB
        // has for them (checked by `vcon_len`, and again by the helper). `self.cap` names the
        // object by the type invariant. The helper holds the vCPU lock only around the IPC
        // and the read of its error, and does not sleep.
        let error = unsafe { bindings::l4log_vcon_send(self.cap, piece.as_ptr().cast(), len) };
        if error != 0 {
            // A vcon write is all or nothing: the log server got no byte of this piece.
            return Err(EIO);
        }
        Ok(())
    }
}

/// The name of `/dev/l4log`'s own log capability in the task's environment, when the boot
/// configuration gives one (`configs/l4re/l4log.cfg`).
const DEFAULT_CAP_NAME: &str = "l4log";

/// The capability named `name` in the task's environment, without an IPC (a name with `/`,
/// which would ask a name space, is refused): `ENOENT` with a message when there is none.
fn named_cap(name: &str) -> Result<bindings::l4_cap_idx_t> {
    find_cap(name)?.ok_or_else(|| {
        pr_err!("no capability {name} in the L4Linux task's environment (ned: caps = {{ {name} = ... }})\n");
        ENOENT
    })
}

/// The capability named `name` in the task's environment, if there is one.
fn find_cap(name: &str) -> Result<Option<bindings::l4_cap_idx_t>> {
    let len = c_uint::try_from(name.len()).map_err(|_| EINVAL)?;
    if name.contains('/') {
        pr_err!("{name}: a channel's capability is one of the task's own, without '/'\n");
        return Err(EINVAL);
    }
    let mut cap = 0;
    // SAFETY: `name` is valid for reads of `len` bytes, which the helper compares with the
    // names of the environment's capabilities and does not keep; `cap` is valid for a write.
    // The environment stays mapped and unchanged while L4Linux runs.
    let found = unsafe { bindings::l4log_l4re_named_cap(name.as_ptr().cast(), len, &mut cap) } == 0;
    Ok(found.then_some(cap))
}

/// The length of a chunk as the vcon helper takes it: `None` unless `1..=VCON_WRITE_SIZE`.
pub(crate) fn vcon_len(len: usize) -> Option<c_uint> {
    if len == 0 || len > VCON_WRITE_SIZE {
        return None;
    }
    c_uint::try_from(len).ok()
}
