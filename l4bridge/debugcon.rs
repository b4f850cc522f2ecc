// SPDX-License-Identifier: GPL-2.0

//! The `qemu` transport: the hypervisor's debug console port.
//!
//! QEMU's `isa-debugcon` device (and Bochs' port e9 hack) takes every byte written to I/O port
//! 0xe9 and hands it to a host character device. A `rep outsb` writes a whole chunk with one
//! instruction: under KVM that is one exit to the host per page of data, under TCG one helper
//! call per byte inside the emulator, and in both cases one host call as l4log counts them.
//!
//! The device answers reads of its port with 0xe9, which is how [`DebugCon::open`] tells that it
//! is there: an unclaimed port reads as 0xff. The port is 0xe9 unless the module parameter
//! `host_channel` names another (QEMU's `iobase`); each named channel has a port of its own.

use super::{Address, Channel, Patience, WriteError};
use kernel::{bindings, prelude::*};

/// The debug console's usual I/O port (QEMU's `iobase` default, Bochs, Xen).
const DEFAULT_PORT: u16 = 0xe9;
/// What the device returns on a read of its port (QEMU's `readback` property default).
const READBACK: u8 = 0xe9;
/// One page: KVM forwards string port I/O to the host one page at a time.
const PAGE: usize = 4096;

/// The claimed debug console port; released on drop.
///
/// # Invariants
///
/// `port` was claimed for this value with `request_region` and is released exactly once, in
/// `drop`.
pub(crate) struct DebugCon {
    port: u16,
}

/// An I/O port: the stream a channel names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoPort(u16);

impl kernel::fmt::Display for IoPort {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        write!(f, "I/O port {:#x}", self.0)
    }
}

impl Channel for DebugCon {
    const MAX_CHUNK: usize = PAGE;

    type Stream = IoPort;

    /// `address` is the I/O port, 0xe9 by default.
    fn resolve(address: Address<'_>) -> Result<IoPort> {
        let port = match address {
            Address::Default => DEFAULT_PORT,
            Address::Number(port) => u16::try_from(port).map_err(|_| {
                pr_err!("{port} is not an I/O port (0 to 0xffff)\n");
                EINVAL
            })?,
            Address::Name(name) => {
                pr_err!(
                    "{name} is not an I/O port: name the port of the channel's debug console\n"
                );
                return Err(EINVAL);
            }
        };
        Ok(IoPort(port))
    }

    fn open(IoPort(port): IoPort) -> Result<Self> {
        // `request_region` fails the same way when another driver holds the port and when it
        // has no memory for the claim's record: a second try tells a passing shortage apart.
        if !claim_port(port) && !claim_port(port) {
            pr_err!(
                "I/O port {port:#x} cannot be claimed: another driver holds it (see /proc/ioports), \
                 or memory ran out\n"
            );
            return Err(EBUSY);
        }
        // INVARIANT: the port was claimed just above.
        let debugcon = DebugCon { port };
        if debugcon.read() != READBACK {
            pr_err!(
                "no host debug console at I/O port {port:#x} \
                 (QEMU: -device isa-debugcon,iobase={port:#x},chardev=...)\n"
            );
            return Err(ENODEV);
        }
        Ok(debugcon)
    }

    /// Port output cannot fail: the device takes every byte, so nothing waits for it here (a
    /// QEMU whose character device is slow holds the vCPU in the `rep outsb` meanwhile).
    fn send(&self, chunk: &[u8], _patience: &mut dyn Patience) -> Result<(), WriteError> {
        // SAFETY: `rep outsb` reads `rcx` bytes starting at `rsi` and writes them to port `dx`.
        // `rsi`/`rcx` describe `chunk`, which is valid for reads for its whole length; the
        // instruction writes no memory, uses no stack and leaves the flags alone. The kernel
        // keeps the direction flag clear, so it walks the buffer upwards. We own the port by the
        // type invariant.
        unsafe {
            core::arch::asm!(
                "rep outsb",
                inout("rcx") chunk.len() => _,
                inout("rsi") chunk.as_ptr() => _,
                in("dx") self.port,
                options(nostack, preserves_flags, readonly)
            );
        }
        Ok(())
    }
}

/// Claims `port` for l4log in the I/O port resource tree; whether that worked.
fn claim_port(port: u16) -> bool {
    // SAFETY: `request_region` only records a claim in the I/O port resource tree; the name is a
    // static string, so it outlives the claim.
    let claim = unsafe { bindings::request_region(port.into(), 1, c"l4log".as_char_ptr()) };
    !claim.is_null()
}

impl DebugCon {
    fn read(&self) -> u8 {
        let value: u8;
        // SAFETY: reading our claimed port (type invariant) has no effect on memory or flags.
        unsafe {
            core::arch::asm!(
                "in al, dx",
                out("al") value,
                in("dx") self.port,
                options(nomem, nostack, preserves_flags)
            );
        }
        value
    }
}

impl Drop for DebugCon {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the port was claimed for `self` and is released once.
        unsafe { bindings::release_region(self.port.into(), 1) };
    }
}
