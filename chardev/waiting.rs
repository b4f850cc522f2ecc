// SPDX-License-Identifier: GPL-2.0

//! How long a writer may wait: for the rate limit, for its turn, for the host.

use crate::{l4bridge::Patience, turn::Turn};
use kernel::{
    prelude::*,
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

/// The longest a close waits for the host (and for a writer of another file that waits for
/// the host) before it gives up the file's last bytes, counted in `l4log-dropped-bytes`.
pub(crate) const CLOSE_WAIT: Delta = Delta::from_secs(1);

/// How long a writer sleeps before it asks a full host channel again.
#[cfg_attr(
    not(CONFIG_UML),
    expect(
        dead_code,
        reason = "only the uml transport finds the host full; the others never ask"
    )
)]
const HOST_POLL: Delta = Delta::from_millis(1);

/// How long a writer may wait.
#[derive(Clone, Copy)]
pub(crate) enum Waiting {
    /// As long as it takes, until a signal arrives: a blocking file.
    Allowed,
    /// Not for the rate limit nor for a host that is full (`EAGAIN`): a non-blocking file.
    NotAllowed,
    /// Until the deadline, whatever signals arrive: a close, which must neither lose the file's
    /// last bytes to a pending signal (a killed process closes its files) nor wait forever.
    Until(Instant<Monotonic>),
}

impl Waiting {
    /// The waiting of a close that starts now.
    pub(crate) fn close() -> Self {
        Self::Until(Instant::now() + CLOSE_WAIT)
    }

    /// Nanoseconds left until the deadline (0 once it has passed; `u64::MAX` without one).
    pub(crate) fn left_ns(self) -> u64 {
        match self {
            Self::Until(deadline) => {
                u64::try_from((deadline - Instant::<Monotonic>::now()).as_nanos()).unwrap_or(0)
            }
            _ => u64::MAX,
        }
    }

    /// Whether the deadline has passed (never, without one).
    pub(crate) fn expired(self) -> bool {
        self.left_ns() == 0
    }
}

/// A writer's patience with a full host channel, during a send that holds `turn`.
#[cfg_attr(
    not(CONFIG_UML),
    expect(
        dead_code,
        reason = "only the uml transport finds the host full; the others never ask"
    )
)]
pub(crate) struct HostPatience<'a, T> {
    pub(crate) waiting: Waiting,
    pub(crate) turn: &'a Turn<T>,
}

impl<T> Patience for HostPatience<'_, T> {
    /// Waits a little (and tells the writers waiting for the turn so), unless the writer may
    /// not: `EAGAIN` for a non-blocking file, `ERESTARTSYS` once a signal is pending for a
    /// blocking one, `ETIMEDOUT` past a close's deadline.
    fn wait_for_host(&mut self) -> Result {
        match self.waiting {
            Waiting::NotAllowed => return Err(EAGAIN),
            Waiting::Allowed if current!().signal_pending() => return Err(ERESTARTSYS),
            Waiting::Until(_) if self.waiting.expired() => return Err(ETIMEDOUT),
            _ => {}
        }
        self.turn.mark_stalled();
        fsleep(HOST_POLL);
        Ok(())
    }
}
