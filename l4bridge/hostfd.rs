// SPDX-License-Identifier: GPL-2.0

//! The `uml` transport: a file descriptor of the host process that runs User-Mode Linux.
//!
//! UML is Linux running as an ordinary Linux process; its host-call layer (`arch/um/os-Linux`)
//! makes system calls of that process on the kernel's behalf. `os_write_file()` is a host
//! `write(2)`: one per chunk, repeated for the rest when the host takes less, and again when it
//! is interrupted (`EINTR`) or, on a non-blocking descriptor, full (`EAGAIN`, when the writer's
//! [`Patience`] has waited). Any other host error ends the write as the same errno in the guest.
//! A host `write(2)` to a blocking descriptor that is full blocks the whole UML process, and so
//! the guest, until the host drains it: name a non-blocking descriptor where the host may stall.
//!
//! The descriptor is the UML process's standard error (2) unless the module parameter
//! `host_channel` names another one that the process was started with for this purpose. Only
//! root sets it, at load time; naming one of UML's own descriptors (its memory file, a disk
//! image) would write the log into it.

use super::{Address, Channel, Patience, WriteError};
use kernel::{
    ffi::{c_int, c_void},
    prelude::*,
};

/// The UML process's standard error.
const DEFAULT_FD: c_int = 2;

extern "C" {
    // arch/um/include/shared/os.h, exported to modules by arch/um/kernel/ksyms.c. Returns the
    // bytes written or a negative host errno.
    fn os_write_file(fd: c_int, buf: *const c_void, len: c_int) -> c_int;

    // rust/hostfd.c: the host device and inode of the UML process's descriptor `fd` (a host
    // `fstat`), or a negative host errno.
    fn l4log_host_fd_file(fd: c_int, dev: *mut u64, ino: *mut u64) -> c_int;
}

/// A host file descriptor: the stream a channel names, and the host file it writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostFdNumber {
    fd: c_int,
    /// The host file's device and inode; `None` when the host cannot say (the descriptor is
    /// not open, which [`HostFd::open`] reports).
    file: Option<(u64, u64)>,
}

impl HostFdNumber {
    fn new(fd: c_int) -> Self {
        let (mut dev, mut ino) = (0, 0);
        // SAFETY: `dev` and `ino` are valid for writes; the helper asks the host about `fd`
        // and has no other effect.
        let found = unsafe { l4log_host_fd_file(fd, &mut dev, &mut ino) } == 0;
        Self {
            fd,
            file: found.then_some((dev, ino)),
        }
    }
}

impl kernel::fmt::Display for HostFdNumber {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        write!(f, "host file descriptor {}", self.fd)?;
        if let Some((dev, ino)) = self.file {
            write!(f, ", device {dev:#x} inode {ino}")?;
        }
        Ok(())
    }
}

/// A host file descriptor open for writing.
pub(crate) struct HostFd {
    fd: c_int,
}

impl Channel for HostFd {
    const MAX_CHUNK: usize = 4096;

    type Stream = HostFdNumber;

    /// `address` is the host file descriptor, 2 (standard error) by default.
    fn resolve(address: Address<'_>) -> Result<HostFdNumber> {
        let fd = match address {
            Address::Default => DEFAULT_FD,
            Address::Number(fd) => {
                c_int::try_from(fd)
                    .ok()
                    .filter(|fd| *fd >= 0)
                    .ok_or_else(|| {
                        pr_err!("{fd} is not a host file descriptor\n");
                        EINVAL
                    })?
            }
            Address::Name(name) => {
                pr_err!("{name} is not a host file descriptor: name the channel's descriptor\n");
                return Err(EINVAL);
            }
        };
        Ok(HostFdNumber::new(fd))
    }

    /// Two descriptors of one host file (a `dup`, or the same pipe, terminal or file opened
    /// twice) are one stream: their writes would interleave on the host.
    fn same_stream(a: &HostFdNumber, b: &HostFdNumber) -> bool {
        match (a.file, b.file) {
            (Some(a), Some(b)) => a == b,
            _ => a.fd == b.fd,
        }
    }

    fn open(HostFdNumber { fd, .. }: HostFdNumber) -> Result<Self> {
        let host = HostFd { fd };
        // A zero-length write checks that the descriptor is open for writing.
        host.write_once(&[]).map_err(|err| {
            let why = match err {
                EBADF => ": not open in the UML process",
                EINVAL => ": not a descriptor to write to",
                _ => "",
            };
            pr_err!(
                "host file descriptor {fd} cannot be written (host error {}{why})\n",
                -err.to_errno()
            );
            ENODEV
        })?;
        Ok(host)
    }

    fn send(&self, chunk: &[u8], patience: &mut dyn Patience) -> Result<(), WriteError> {
        let mut sent = 0;
        while sent < chunk.len() {
            match self.write_once(&chunk[sent..]) {
                Ok(0) => return Err(WriteError { sent, error: EIO }),
                Ok(n) => sent += n,
                Err(error) if error == EINTR => continue,
                // A non-blocking descriptor that is full (UML makes its console's descriptors
                // non-blocking, and a standard error that shares them is too).
                Err(error) if error == EAGAIN => patience
                    .wait_for_host()
                    .map_err(|error| WriteError { sent, error })?,
                Err(error) => return Err(WriteError { sent, error }),
            }
        }
        Ok(())
    }
}

impl HostFd {
    /// One host `write(2)` of at most [`Channel::MAX_CHUNK`] bytes of `bytes`.
    fn write_once(&self, bytes: &[u8]) -> Result<usize> {
        let len = bytes.len().min(Self::MAX_CHUNK);
        // SAFETY: `bytes` is valid for reads of `len` bytes, and the host only reads them;
        // `len` fits a `c_int` because it is at most `MAX_CHUNK`.
        let n = unsafe { os_write_file(self.fd, bytes.as_ptr().cast(), len as c_int) };
        if n < 0 {
            return Err(Error::from_errno(n));
        }
        // A non-negative `c_int` fits a `usize`.
        Ok(n as usize)
    }
}
