// SPDX-License-Identifier: GPL-2.0

//! An open `/dev/l4log` and its write path.
//!
//! Each open file assembles what is written to it into lines in a buffer of [`LINE_MAX`]
//! (4096 bytes; 3904 on L4Linux) and sends every complete line to the host log as soon as the
//! write that ends it arrives. A write takes its bytes a buffer's worth at a time (a step), and
//! the lines one step completes go to the host at once: no other file's text comes between
//! their bytes. A line longer than the buffer goes in pieces of that size (with escaping on, a
//! piece ends before an unfinished UTF-8 character). The unfinished rest of a line is sent
//! when the file is closed, as it is: no newline is added.
//!
//! Writes through one open file do not interleave: a write holds the file from its first step
//! to its return (threads, and processes after `fork`, that share the file wait their turn,
//! interruptibly), so a write's bytes reach the host in one piece unless another file's lines
//! come between its steps.
//!
//! A write returns:
//! - the number of bytes written, which is all of them unless one of the cases below stops it;
//!   bytes counted as written are sent, or held as the start of a line that the next write or
//!   the close sends;
//! - fewer bytes when user memory faults part way, when a signal arrives (between steps, or
//!   while the write waits for the rate limit), or when a non-blocking write reaches the rate
//!   limit: then the bytes counted are the ones the host has or that are held, and the rest is
//!   not taken;
//! - fewer bytes when the host channel fails, or is full and the write may not wait for it (a
//!   non-blocking file, or a signal while a blocking one waits): then the bytes counted are
//!   the ones of this write that the host has, and the rest is not taken (nor held: with
//!   escaping off, every byte a write counted reaches the host, once). Bytes of earlier
//!   writes that were held for their line's end stay held, for the next write or the close;
//! - `EFAULT` when the first byte faults, `ERESTARTSYS` (`EINTR` to the caller unless the
//!   signal handler restarts the call) when a signal comes before any byte was taken, `EAGAIN`
//!   when a non-blocking write finds the rate limit reached or the host full, the host's error
//!   when it fails before taking any byte of this write; `0` for an empty write.
//!
//! A close sends what the file holds, waiting for the host at most [`crate::waiting::CLOSE_WAIT`]
//! whatever signals are pending; what it cannot send is counted in `l4log-dropped-bytes`.
//!
//! Nothing is printed to the kernel log on this path. The counters show in the fdinfo of any
//! open file of the device (`/proc/PID/fdinfo/FD`); they count since the module was loaded.

use crate::{
    lines::{LineBuffer, LINE_MAX},
    owner, params,
    stamp::{Stamp, STAMP_MAX},
    turn::{turn_class, Turn},
    waiting::Waiting,
    Counts, Device, EmitError, L4Log, Stamping,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    fs::{file::flags::O_NONBLOCK, File, Kiocb},
    iov::IovIterSource,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::Arc,
};

/// Numbers the open files, so that a stamped channel can tell their lines apart.
static OPENED: AtomicU64 = AtomicU64::new(0);

/// The private data of an open `/dev/l4log`.
#[pin_data]
pub(crate) struct OpenFile {
    log: Arc<L4Log>,
    /// This file's number among the files opened since the module was loaded.
    id: u64,
    /// The file's unsent bytes. A write holds this turn from its first step to its return, so
    /// that the writes of threads and processes sharing the file never interleave.
    #[pin]
    line: Turn<LineBuffer>,
}

#[vtable]
impl MiscDevice for OpenFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        let Some(log) = Device::shared(misc) else {
            // The module is still loading, and its load may yet fail.
            // SAFETY: this is `file`'s `->open`, and the error is returned from it.
            return Err(unsafe { owner::refuse_open(file) });
        };
        // Next, so that the module stays loaded on every path out of here.
        // SAFETY: this is `file`'s `->open`, and the error is returned from it.
        unsafe { owner::hold_module_while_open(file)? };
        // On a stamped channel a piece of a long line and its stamp fit the same bound.
        let room = if log.stamp.any() {
            LINE_MAX - STAMP_MAX
        } else {
            LINE_MAX
        };
        let line = LineBuffer::with_room(room)?;
        let open = KBox::pin_init(
            try_pin_init!(OpenFile {
                log,
                id: OPENED.fetch_add(1, Ordering::Relaxed),
                line <- Turn::new(line, turn_class!("l4log_line")),
            }),
            GFP_KERNEL,
        )?;
        Ok(open)
    }

    fn release(open: Self::Ptr, _file: &File) {
        open.flush();
    }

    fn write_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let waiting = waiting_allowed(&kiocb);
        let open = kiocb.file();
        Counts::add(&open.log.counts.writes, 1);
        let written = open.write(iov, waiting);
        if let Ok(count) = written {
            Counts::add(&open.log.counts.bytes, count);
        }
        written
    }

    fn show_fdinfo(open: Pin<&OpenFile>, m: &SeqFile, _file: &File) {
        let log = &open.log;
        let host = log.host.stats();
        let [bytes, writes, lines, dropped] = log.counts.read();
        seq_print!(m, "l4log-bytes:\t{}\n", bytes);
        seq_print!(m, "l4log-writes:\t{}\n", writes);
        seq_print!(m, "l4log-lines:\t{}\n", lines);
        seq_print!(m, "l4log-host-bytes:\t{}\n", host.bytes);
        seq_print!(m, "l4log-host-calls:\t{}\n", host.calls);
        seq_print!(m, "l4log-host-errors:\t{}\n", host.errors);
        seq_print!(m, "l4log-throttled-ns:\t{}\n", log.throttle.throttled_ns());
        seq_print!(m, "l4log-dropped-bytes:\t{}\n", dropped);
    }
}

/// What a write step took.
struct Step {
    copied: usize,
    /// User memory faulted after `copied` bytes.
    faulted: bool,
}

/// A write step that stopped on `error` because the host channel failed.
struct StepError {
    /// Bytes of the step's copy that the host got.
    taken: usize,
    /// Bytes of the write's earlier steps, held for their line's end, that the host did not
    /// get: no longer counted as written.
    given_back: usize,
    error: Error,
}

impl OpenFile {
    fn write(&self, iov: &mut IovIterSource<'_>, waiting: Waiting) -> Result<usize> {
        if iov.is_empty() {
            return Ok(0);
        }
        // Held until the write returns: whatever this write holds of a line was written by it
        // or by writes before it, never by one that runs meanwhile.
        let mut line = self.line.take(waiting)?;
        if self.log.stamp.any() {
            self.end_line_of_other(&mut line, Stamp::now(), waiting)?;
        }
        let mut written = 0;
        while !iov.is_empty() {
            if written > 0 && current!().signal_pending() {
                break;
            }
            params::cond_resched();
            let wanted = iov.len().min(LINE_MAX);
            let granted = match self.log.throttle.acquire(wanted, waiting) {
                Ok(granted) => granted,
                Err(error) => return partial(written, error),
            };
            match self.write_step(&mut line, iov, granted, written, waiting) {
                Ok(Step { copied, faulted }) => {
                    written += copied;
                    if faulted {
                        return partial(written, EFAULT);
                    }
                }
                Err(StepError {
                    taken,
                    given_back,
                    error,
                }) => return partial(written - given_back + taken, error),
            }
        }
        Ok(written)
    }

    /// Takes up to `granted` bytes from `iov` into `line`, the file's line buffer, as many as
    /// fit, and sends what is ready. Takes fewer than `granted` when user memory faults or the
    /// buffer is full. `written`: the bytes the write took in its earlier steps.
    fn write_step(
        &self,
        line: &mut LineBuffer,
        iov: &mut IovIterSource<'_>,
        granted: usize,
        written: usize,
        waiting: Waiting,
    ) -> Result<Step, StepError> {
        // Never full here, so `room > 0`: a step that fills the buffer sends it (a full buffer
        // is always ready), and a failed step keeps only bytes held before it, fewer than fill it.
        let held = line.held().len();
        let room = granted.min(line.spare().len());
        // The time and writer of the lines this step begins, on a stamped channel.
        let now = self.log.stamp.any().then(Stamp::now);
        // Short only at a fault in user memory.
        let copied = iov.copy_from_iter(&mut line.spare()[..room]);
        self.log.throttle.release_unused(granted - copied);
        let escape = self.log.escape();
        line.commit(copied, escape, now.as_ref());
        let step = Step {
            copied,
            faulted: copied < room,
        };
        let ready = line.ready(escape);
        if ready.len == 0 {
            return Ok(step);
        }
        let stamping = now.map(|now| self.stamping(line, now));
        let sent = self.log.emit(
            &line.held()[..ready.len],
            ready,
            escape,
            stamping.as_ref(),
            waiting,
        );
        match sent {
            Ok(()) => {
                line.consume(ready.len);
                Ok(step)
            }
            Err(EmitError { consumed, error }) => {
                // Of the bytes held before this step, the last `held.min(written)` are this
                // write's own: the write has held the file's turn since its first step, so
                // only it added bytes since then, and sends take the oldest bytes first.
                let settled = line.settle_failed_send(held, held.min(written), consumed);
                // The bytes given back are not reverted in `iov`: a short write's caller goes
                // by the count it returns. In Linux 7.2 only regular files and block devices
                // have short writes continued from where the iterator stands (io_uring's
                // `need_complete_io`); `write(2)`, `writev(2)`, aio, io_uring and splice use
                // the count.
                self.log.throttle.release_unused(settled.returned());
                Err(StepError {
                    taken: settled.taken,
                    given_back: settled.given_back,
                    error,
                })
            }
        }
    }

    /// On a stamped channel, before a write of `now`'s writer takes any byte: ends the line
    /// that another thread group has under way on this file (a process that shares the file
    /// after `fork`, or that was given it), with a newline of l4log's, and sends it, so that no
    /// writer's bytes go on under another's stamp. Fails as a send does, with nothing taken;
    /// the ended line stays held for the next write or the close.
    fn end_line_of_other(&self, line: &mut LineBuffer, now: Stamp, waiting: Waiting) -> Result {
        if !line.end_line_of_other(&now) {
            return Ok(());
        }
        let stamping = self.stamping(line, now);
        let held = line.held().len();
        match self.log.emit(
            line.held(),
            line.all(),
            self.log.escape(),
            Some(&stamping),
            waiting,
        ) {
            Ok(()) => {
                line.consume(held);
                Ok(())
            }
            Err(EmitError { consumed, error }) => {
                // Every held byte is an earlier write's: none is given back.
                line.settle_failed_send(held, 0, consumed);
                Err(error)
            }
        }
    }

    /// Sends whatever the file still holds; on close. Waits for the host at most until
    /// [`Waiting::close`]'s deadline, whatever signals are pending; what it cannot send is
    /// counted in `l4log-dropped-bytes` (and a failed host call in `l4log-host-errors`): a
    /// close cannot report it.
    fn flush(&self) {
        let waiting = Waiting::close();
        // No write runs any more, so the turn is free.
        let Ok(mut line) = self.line.take(waiting) else {
            return;
        };
        if line.is_empty() {
            return;
        }
        let stamping = self
            .log
            .stamp
            .any()
            .then(|| self.stamping(&line, Stamp::now()));
        if let Err(failed) = self.log.emit(
            line.held(),
            line.all(),
            self.log.escape(),
            stamping.as_ref(),
            waiting,
        ) {
            Counts::add(
                &self.log.counts.dropped,
                line.held().len() - failed.consumed,
            );
        }
        line.truncate(0);
    }
}

impl OpenFile {
    /// How the held lines of `line` get their stamps in a send at `now`.
    fn stamping(&self, line: &LineBuffer, now: Stamp) -> Stamping {
        let (head, head_sent, later) = line.stamp().head(&now);
        Stamping {
            kind: self.log.stamp,
            file: self.id,
            head,
            head_sent,
            later,
        }
    }
}

/// Whether the write may wait for the rate limit and the host: not when its file is
/// non-blocking.
fn waiting_allowed(kiocb: &Kiocb<'_, Pin<KBox<OpenFile>>>) -> Waiting {
    let kiocb = kiocb.as_raw();
    // SAFETY: `kiocb` is the control block of the write in progress, valid until `->write_iter`
    // returns, and its `ki_filp` is the file being written, to which the caller holds a
    // reference until then. `f_flags` can change under `fcntl(F_SETFL)` meanwhile, so it is
    // read once, as `READ_ONCE` does (and as `LocalFile::flags` does, which cannot be used
    // here: a `LocalFile` claims that no other thread uses the file without `f_pos_lock`, and
    // threads sharing a character device's file do).
    let flags = unsafe { core::ptr::addr_of!((*(*kiocb).ki_filp).f_flags).read_volatile() };
    if flags & O_NONBLOCK != 0 {
        Waiting::NotAllowed
    } else {
        Waiting::Allowed
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
