// SPDX-License-Identifier: GPL-2.0

//! l4bridge: a safe API over the host's log channel.
//!
//! A paravirtualized guest reaches its host's log through one platform call: an IPC to the
//! L4Re log capability on L4Linux, a port write that traps to the hypervisor under QEMU. Each
//! platform's transport implements [`Channel`] and keeps every `unsafe` block to itself; the rest
//! of l4log sees only [`HostLog`], which splits writes into host calls of at most
//! [`MAX_CHUNK`] bytes and counts what it sent.
//!
//! Exactly one transport is compiled in, chosen by the kernel's configuration.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

#[cfg(all(CONFIG_X86_64, not(CONFIG_UML), not(CONFIG_L4)))]
mod debugcon;
#[cfg(all(CONFIG_X86_64, not(CONFIG_UML), not(CONFIG_L4)))]
use debugcon::DebugCon as Transport;

#[cfg(CONFIG_UML)]
mod hostfd;
#[cfg(CONFIG_UML)]
use hostfd::HostFd as Transport;

#[cfg(CONFIG_L4)]
mod l4re;
#[cfg(CONFIG_L4)]
use l4re::L4ReLog as Transport;

#[cfg(CONFIG_L4LOG_KUNIT_TEST)]
mod tests;

/// Which host channel to use, in the transport's own terms. See each transport's `open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Address<'a> {
    /// The platform's default channel: `/dev/l4log`'s unless the module parameter
    /// `host_channel` names another.
    Default,
    /// A number: an I/O port (qemu), a host file descriptor (uml).
    Number(i64),
    /// A name: an L4Re capability in the L4Linux task's environment (l4linux).
    Name(&'a str),
}

impl kernel::fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        match self {
            Self::Default => f.write_str("the default channel"),
            Self::Number(number) => write!(f, "{number}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// One platform's way of putting bytes into the host's log.
pub(crate) trait Channel: Sized + Send + Sync {
    /// The most bytes one host call carries.
    const MAX_CHUNK: usize;

    /// The longest line, with its newline, that the host shows as one line (with its own
    /// marks); a longer one it cuts where it likes. Unlimited unless the host says otherwise.
    const HOST_LINE_MAX: usize = usize::MAX;

    /// What a NUL byte costs of [`Self::HOST_LINE_MAX`] beyond its own byte: what the host
    /// adds for the host call a NUL ends, where one does ([`Self::calls`]).
    const NUL_LINE_COST: usize = 0;

    /// What an address names on this platform: a port, a host descriptor, a capability.
    type Stream: Copy + PartialEq + kernel::fmt::Display;

    /// The host stream `address` names, or why it names none (with a message).
    fn resolve(address: Address<'_>) -> Result<Self::Stream>;

    /// Whether `a` and `b` reach the same stream on the host: equal, or two names of one (two
    /// descriptors of one host file, two capabilities of one log object).
    fn same_stream(a: &Self::Stream, b: &Self::Stream) -> bool {
        a == b
    }

    /// Takes hold of `stream`, or explains why the host offers none there.
    fn open(stream: Self::Stream) -> Result<Self>;

    /// Puts `chunk` (at most [`Self::MAX_CHUNK`] bytes, never empty) into the host's log, in
    /// one host call unless the host takes less than all of it. When the host cannot take bytes
    /// now (its channel is full), asks `patience` whether to wait. On error, `sent` counts the
    /// bytes of `chunk` that did arrive.
    fn send(&self, chunk: &[u8], patience: &mut dyn Patience) -> Result<(), WriteError>;

    /// How many host calls [`Self::send`] makes for `bytes` when all goes well: one.
    fn calls(_bytes: &[u8]) -> usize {
        1
    }
}

/// What a host call does when the host's channel is full: the caller's policy.
pub(crate) trait Patience {
    /// Called each time the host cannot take bytes now. Returns once it is time to try again,
    /// after a wait of its choosing, or the error that ends the host call.
    #[cfg_attr(
        not(CONFIG_UML),
        expect(
            dead_code,
            reason = "only the uml transport finds the host full; the others never ask"
        )
    )]
    fn wait_for_host(&mut self) -> Result;
}

/// The most bytes one host call of this platform carries.
pub(crate) const MAX_CHUNK: usize = <Transport as Channel>::MAX_CHUNK;

/// The longest line the host of this platform shows whole: see [`Channel::HOST_LINE_MAX`].
pub(crate) const HOST_LINE_MAX: usize = <Transport as Channel>::HOST_LINE_MAX;

/// What a NUL byte costs of a host line beyond itself: see [`Channel::NUL_LINE_COST`].
pub(crate) const NUL_LINE_COST: usize = <Transport as Channel>::NUL_LINE_COST;

/// A write to the host log stopped early.
#[derive(Debug)]
pub(crate) struct WriteError {
    /// Bytes that reached the host before the failure.
    pub(crate) sent: usize,
    /// Why the host call failed.
    pub(crate) error: Error,
}

/// Counters of what went to the host; read them with [`HostLog::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Bytes the host accepted.
    pub(crate) bytes: u64,
    /// Host calls made, failed ones included.
    pub(crate) calls: u64,
    /// Host calls that failed, or that a full host channel ended (the writer would not wait).
    pub(crate) errors: u64,
}

/// The host's log channel of the running platform.
pub(crate) type HostLog = Bridge<Transport>;

/// A [`Channel`] with chunking and counters; use it through [`HostLog`].
pub(crate) struct Bridge<C: Channel> {
    channel: C,
    bytes: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl<C: Channel> Bridge<C> {
    /// Takes hold of the host's log channel at `address`.
    pub(crate) fn open(address: Address<'_>) -> Result<Self> {
        Ok(Self::with_channel(C::open(C::resolve(address)?)?))
    }

    /// The host stream `address` names (an I/O port, a host descriptor, a capability), without
    /// taking hold of it: addresses that name one stream resolve equal.
    pub(crate) fn resolve(address: Address<'_>) -> Result<C::Stream> {
        C::resolve(address)
    }

    /// Whether the resolved streams `a` and `b` reach the same stream on the host.
    pub(crate) fn same_stream(a: &C::Stream, b: &C::Stream) -> bool {
        C::same_stream(a, b)
    }

    fn with_channel(channel: C) -> Self {
        Self {
            channel,
            bytes: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Puts all of `bytes` into the host's log, one host call per [`Channel::MAX_CHUNK`] bytes,
    /// in order, waiting for a full host channel as `patience` says. Stops at the first failed
    /// host call (one that `patience` ended included) and reports how much was sent before it.
    pub(crate) fn write(
        &self,
        bytes: &[u8],
        patience: &mut dyn Patience,
    ) -> Result<(), WriteError> {
        let mut sent = 0;
        for chunk in bytes.chunks(C::MAX_CHUNK) {
            let planned = C::calls(chunk);
            if let Err(err) = self.channel.send(chunk, patience) {
                // The calls that reached the host and the one that failed; none after it.
                let made = planned.min(C::calls(&chunk[..err.sent]) + 1);
                self.calls.fetch_add(made as u64, Ordering::Relaxed);
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(err.sent as u64, Ordering::Relaxed);
                return Err(WriteError {
                    sent: sent + err.sent,
                    error: err.error,
                });
            }
            self.calls.fetch_add(planned as u64, Ordering::Relaxed);
            sent += chunk.len();
            self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// What has gone to the host so far.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            bytes: self.bytes.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
