// SPDX-License-Identifier: GPL-2.0

//! A lock held for as long as a write or a send to the host takes, with waits a signal ends.
//!
//! A kernel mutex is meant to be held briefly, and it is waited for uninterruptibly. A write
//! through one file, or a send to the host, can take long: the rate limit, or a host channel
//! that is full, keeps it waiting. A [`Turn`] is held that long, and whoever waits for it sleeps
//! interruptibly: a signal ends the wait with `ERESTARTSYS`. A holder that waits for the host
//! (or for the rate limit) says so ([`Turn::mark_stalled`]); from then on, until it lets go, a non-blocking caller gets
//! `EAGAIN` instead of waiting. A close waits for the turn only until its deadline, whatever
//! the holder does, and ahead of the writers that wait for it.

use crate::waiting::Waiting;
use kernel::{
    prelude::*,
    str::CStr,
    sync::{CondVar, LockClassKey, Mutex, MutexGuard},
    time::{delay::fsleep, Delta},
};

/// Who has the turn.
struct State {
    taken: bool,
    /// The holder waits for the host.
    stalled: bool,
    /// Closes waiting for the turn: the other callers let them go first, unless the last
    /// holder was a close (so that closes one after the other do not keep writers out).
    closing: usize,
    /// The last holder was a close.
    closed_last: bool,
}

/// Data that one caller at a time uses, for as long as it needs; see the module documentation.
#[pin_data]
pub(crate) struct Turn<T> {
    #[pin]
    state: Mutex<State>,
    /// Notified when the turn is given back and when its holder stalls.
    #[pin]
    changed: CondVar,
    /// Locked only by the holder of the turn (and so never waited for long).
    #[pin]
    data: Mutex<T>,
}

/// The names and lockdep classes of the locks of one kind of [`Turn`]; made by [`turn_class!`].
pub(crate) struct TurnClass {
    pub(crate) names: [&'static CStr; 3],
    pub(crate) keys: [Pin<&'static LockClassKey>; 3],
}

/// The [`TurnClass`] of the turns made at the place of the call, named `$name`.
macro_rules! turn_class {
    ($name:literal) => {
        $crate::turn::TurnClass {
            names: [
                kernel::c_str!(concat!($name, ".state")),
                kernel::c_str!(concat!($name, ".changed")),
                kernel::c_str!(concat!($name, ".data")),
            ],
            keys: [
                kernel::static_lock_class!(),
                kernel::static_lock_class!(),
                kernel::static_lock_class!(),
            ],
        }
    };
}
pub(crate) use turn_class;

/// How long a close waiting for the turn sleeps between looks.
const CLOSE_POLL: Delta = Delta::from_millis(1);

impl<T> Turn<T> {
    pub(crate) fn new(data: impl PinInit<T>, class: TurnClass) -> impl PinInit<Self> {
        let TurnClass { names, keys } = class;
        pin_init!(Self {
            state <- Mutex::new(
                State {
                    taken: false,
                    stalled: false,
                    closing: 0,
                    closed_last: false,
                },
                names[0],
                keys[0]
            ),
            changed <- CondVar::new(names[1], keys[1]),
            data <- Mutex::new(data, names[2], keys[2]),
        })
    }

    /// Takes the turn, waiting for it as `waiting` allows:
    /// - [`Waiting::Allowed`]: until it is free, or a signal ends the wait (`ERESTARTSYS`);
    /// - [`Waiting::NotAllowed`]: the same while the holder makes progress; `EAGAIN` once the
    ///   holder waits for the host;
    /// - [`Waiting::Until`] (a close): until the deadline (`ETIMEDOUT`), whatever signals are
    ///   pending and whatever the holder does; ahead of the callers of the other kinds, which
    ///   wait while a close does, unless a close had the turn last.
    pub(crate) fn take(&self, waiting: Waiting) -> Result<TurnGuard<'_, T>> {
        let mut state = self.state.lock();
        if let Waiting::Until(_) = waiting {
            return self.take_before_deadline(state, waiting);
        }
        while state.taken || (state.closing > 0 && !state.closed_last) {
            if let (Waiting::NotAllowed, true) = (waiting, state.stalled) {
                return Err(EAGAIN);
            }
            if self.changed.wait_interruptible(&mut state) {
                return Err(ERESTARTSYS);
            }
        }
        state.closed_last = false;
        Ok(self.hand_over(state))
    }

    /// [`Self::take`] for a close: looks for a free turn until the deadline of `waiting`.
    /// No signal may end this wait (a close of a killed process has one pending), and no
    /// holder need wake it (one that waits for a host that never answers does not): it sleeps
    /// briefly, then looks again.
    fn take_before_deadline<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        waiting: Waiting,
    ) -> Result<TurnGuard<'a, T>> {
        state.closing += 1;
        loop {
            if !state.taken {
                state.closing -= 1;
                state.closed_last = true;
                return Ok(self.hand_over(state));
            }
            if waiting.expired() {
                state.closing -= 1;
                // Those that waited for this close may take the turn now.
                self.changed.notify_all();
                return Err(ETIMEDOUT);
            }
            drop(state);
            fsleep(CLOSE_POLL);
            state = self.state.lock();
        }
    }

    /// Marks the turn taken, with `state` locked and the turn free.
    fn hand_over<'a>(&'a self, mut state: MutexGuard<'a, State>) -> TurnGuard<'a, T> {
        state.taken = true;
        state.stalled = false;
        drop(state);
        TurnGuard {
            data: self.data.lock(),
            _held: Held { turn: self },
        }
    }

    /// Tells those waiting for the turn that its holder waits for the host, or for the rate
    /// limit's debt. Only the holder calls it; it holds until the turn is given back.
    pub(crate) fn mark_stalled(&self) {
        let mut state = self.state.lock();
        if state.taken && !state.stalled {
            state.stalled = true;
            self.changed.notify_all();
        }
    }
}

/// The turn, held: the data, to use until it is dropped.
pub(crate) struct TurnGuard<'a, T> {
    // Dropped before `_held`, so that whoever takes the turn next finds the data unlocked.
    data: MutexGuard<'a, T>,
    _held: Held<'a, T>,
}

impl<T> core::ops::Deref for TurnGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: Unpin> core::ops::DerefMut for TurnGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

/// Gives the turn back when dropped.
struct Held<'a, T> {
    turn: &'a Turn<T>,
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        let mut state = self.turn.state.lock();
        state.taken = false;
        state.stalled = false;
        self.turn.changed.notify_all();
    }
}
