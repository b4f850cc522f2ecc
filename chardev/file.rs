// SPDX-License-Identifier: GPL-2.0

//! An open `/dev/l4log` and its write path.
//!
//! A write copies user memory one chunk at a time into the file's staging buffer of
//! [`MAX_CHUNK`] bytes and hands each chunk to the host log with one host call, so memory use
//! does not grow with the size of the write. The call returns:
//! - the number of bytes written, which is all of them unless one of the cases below stops it;
//! - fewer bytes when user memory faults part way (the bytes before the fault are written), when
//!   a signal arrives between chunks, or when the host channel fails after some bytes;
//! - `EFAULT` when the first byte faults, the host's error when the first chunk fails, `0` for
//!   an empty write.
//!
//! Nothing is printed to the kernel log on this path.
//!
//! The host log's counters show in the file's fdinfo (`/proc/PID/fdinfo/FD`):
//! `l4log-bytes`, `l4log-host-calls`, `l4log-host-errors`, counted since the module was loaded.

use crate::{
    l4bridge::{WriteError, MAX_CHUNK},
    owner, L4Log, L4LogModule,
};
use kernel::{
    fs::{File, Kiocb},
    iov::IovIterSource,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{Arc, Mutex},
};

/// A file's staging buffer: one host call's worth of bytes.
type Chunk = [u8; MAX_CHUNK];

/// The private data of an open `/dev/l4log`.
#[pin_data]
pub(crate) struct OpenFile {
    log: Arc<L4Log>,
    /// Held for the whole of a write, so writes through one file never interleave.
    #[pin]
    staging: Mutex<KBox<Chunk>>,
}

#[vtable]
impl MiscDevice for OpenFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        // First, so that the module stays loaded on every path out of here.
        // SAFETY: this is `file`'s `->open`, and the error is returned from it.
        unsafe { owner::hold_module_while_open(file)? };
        let staging = KBox::init(pin_init::init_zeroed::<Chunk>(), GFP_KERNEL)?;
        let open = KBox::pin_init(
            try_pin_init!(OpenFile {
                log: L4LogModule::shared(misc),
                staging <- new_mutex!(staging),
            }),
            GFP_KERNEL,
        )?;
        Ok(open)
    }

    fn write_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        kiocb.file().write(iov)
    }

    fn show_fdinfo(open: Pin<&OpenFile>, m: &SeqFile, _file: &File) {
        let stats = open.log.host.stats();
        seq_print!(m, "l4log-bytes:\t{}\n", stats.bytes);
        seq_print!(m, "l4log-host-calls:\t{}\n", stats.calls);
        seq_print!(m, "l4log-host-errors:\t{}\n", stats.errors);
    }
}

impl OpenFile {
    fn write(&self, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let mut staging = self.staging.lock();
        let mut written = 0;
        while !iov.is_empty() {
            if written > 0 && current!().signal_pending() {
                break;
            }
            // Short only at a fault in user memory; zero when the fault is at the start.
            let copied = iov.copy_from_iter(&mut staging[..]);
            if copied == 0 {
                break;
            }
            if let Err(WriteError { sent, error }) = self.log.host.write(&staging[..copied]) {
                // Give back what the host did not take, so the iterator agrees with the count.
                // SAFETY: `sent <= copied` (the bridge sends at most what it is given), and
                // `copied` bytes were taken from `iov` just above.
                unsafe { iov.revert(copied - sent) };
                return partial(written + sent, error);
            }
            written += copied;
        }
        if written == 0 && !iov.is_empty() {
            return Err(EFAULT);
        }
        Ok(written)
    }
}

/// The result of a write that stopped on `error` after `written` bytes.
fn partial(written: usize, error: Error) -> Result<usize> {
    if written > 0 {
        Ok(written)
    } else {
        Err(error)
    }
}
