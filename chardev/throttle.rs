// SPDX-License-Identifier: GPL-2.0

//! The byte-rate limit shared by all writers of a channel (the `rate_limit` parameter, or the
//! channel's own): two token buckets.
//!
//! The limit bounds what the host receives: one token is one byte that reaches the host, after
//! escaping, with stamps and the newlines l4log adds. Two buckets, filled at the same rate,
//! hold at most one second's worth each:
//! - the host's ([`Throttle::pay`]): each send pays for all it puts on the host before its
//!   host calls, once nothing is owed, and what it puts beyond the credit is owed, which the
//!   next send waits for. Text held for its line's end pays when it goes. A close waits as a
//!   send does, but until its deadline ([`crate::waiting::CLOSE_WAIT`]) at most, and then
//!   sends what its file holds and owes it: closing files one after another, each holding a
//!   byte that a stamp makes tens, is paced as sending is, and no close drops its file's last
//!   bytes for the limit. So the host gets at most the rate, one second's worth and one send
//!   (a line buffer's worth, escaped and stamped: up to [`crate::l4bridge::MAX_CHUNK`] bytes a
//!   host call) at any time, one send more per sender that found nothing owed at the same
//!   moment or per close that waited its second, and one send more when a host call is slow,
//!   as the bucket fills meanwhile.
//! - the writers' ([`Throttle::acquire`]): a write step takes at most as many bytes as it
//!   holds and spends them, so that a write that only fills its line buffer is paced as one
//!   that sends. When it is empty, the writer sleeps interruptibly until enough has been
//!   earned, or gets `EAGAIN` if its file is non-blocking.

use crate::{params, turn::Turn, waiting::Waiting};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{CondVar, CondVarTimeoutResult, Mutex, MutexGuard},
    time::{delay::fsleep, msecs_to_jiffies, Delta, Instant, Monotonic},
};

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// The longest a writer sleeps for the limit before it looks at the rate again.
const MAX_SLEEP_NS: u64 = NSEC_PER_SEC;

/// The bucket's arithmetic, on nanosecond timestamps. Credit is kept in byte-nanoseconds
/// (a byte is `NSEC_PER_SEC` of them), so that no fraction of a byte is lost between refills.
///
/// # Invariants
///
/// `credit <= u64::from(rate) * NSEC_PER_SEC` for the last `rate` passed to [`Self::refill`];
/// `credit == 0` while `owed > 0`.
pub(crate) struct Bucket {
    credit: u64,
    /// Host bytes sent beyond the credit (a stamp, an escaped byte's other three): paid back
    /// from what the rate earns before any new credit.
    owed: u64,
    /// When `credit` was last brought up to date.
    updated: i64,
    /// The [`Throttle`]'s stretch of limit this bucket counts for.
    generation: u64,
}

impl Bucket {
    /// An empty bucket, up to date at `now`.
    pub(crate) fn new(now: i64) -> Self {
        Self {
            credit: 0,
            owed: 0,
            updated: now,
            generation: 0,
        }
    }

    /// Starts the bucket anew for the stretch of limit `generation`, full at `rate`, with
    /// nothing owed, unless it counts for that stretch already.
    pub(crate) fn restart(&mut self, generation: u64, now: i64, rate: u32) {
        if self.generation != generation {
            *self = Self {
                credit: u64::from(rate) * NSEC_PER_SEC,
                owed: 0,
                updated: now,
                generation,
            };
        }
    }

    /// Adds what `rate` bytes per second (not 0) earned since the last update, up to one
    /// second's worth, after paying what is owed.
    pub(crate) fn refill(&mut self, now: i64, rate: u32) {
        let capacity = u64::from(rate) * NSEC_PER_SEC;
        // The time it takes to pay what is owed and fill the bucket counts: that keeps the
        // product in range (`owed` is at most a few pages of host bytes).
        let elapsed = u64::try_from(now - self.updated)
            .unwrap_or(0)
            .min(NSEC_PER_SEC.saturating_add(self.owed / u64::from(rate)));
        let earned = elapsed.saturating_mul(u64::from(rate));
        let paid = earned.min(self.owed);
        self.owed -= paid;
        self.credit = (self.credit + (earned - paid)).min(capacity);
        self.updated = now;
    }

    /// Takes up to `want` whole bytes of credit (none while anything is owed); returns how
    /// many it took.
    pub(crate) fn take(&mut self, want: usize) -> usize {
        let taken = usize::try_from(self.credit / NSEC_PER_SEC).map_or(want, |held| held.min(want));
        self.credit -= taken as u64 * NSEC_PER_SEC;
        taken
    }

    /// Gives back `count` bytes that were taken or charged but not used (not taken from the
    /// caller, or never reached the host): what is owed first, then credit, up to one second's
    /// worth at `rate`.
    pub(crate) fn refund(&mut self, count: usize, rate: u32) {
        let capacity = u64::from(rate) * NSEC_PER_SEC;
        let mut returned = (count as u64).saturating_mul(NSEC_PER_SEC);
        let paid = returned.min(self.owed);
        self.owed -= paid;
        returned -= paid;
        self.credit = self.credit.saturating_add(returned).min(capacity);
    }

    /// Spends `count` bytes that go to the host: from the credit, and what it lacks is owed.
    pub(crate) fn charge(&mut self, count: usize) {
        let charged = (count as u64).saturating_mul(NSEC_PER_SEC);
        let from_credit = charged.min(self.credit);
        self.credit -= from_credit;
        self.owed = self.owed.saturating_add(charged - from_credit);
    }

    /// Whether host bytes sent beyond the credit are still to be paid.
    pub(crate) fn owes(&self) -> bool {
        self.owed > 0
    }

    /// Nanoseconds until what is owed is paid, at `rate` bytes per second (not 0).
    pub(crate) fn wait_for_debt(&self, rate: u32) -> u64 {
        self.owed.div_ceil(u64::from(rate))
    }

    /// Nanoseconds until the bucket holds `want` bytes (at most one second's worth counts) at
    /// `rate` bytes per second (not 0), after paying what is owed.
    pub(crate) fn wait_for(&self, want: usize, rate: u32) -> u64 {
        let want = (want as u64).clamp(1, u64::from(rate)) * NSEC_PER_SEC;
        want.saturating_add(self.owed)
            .saturating_sub(self.credit)
            .div_ceil(u64::from(rate))
    }
}

/// The rate limit of one device (one channel), shared by its writers.
#[pin_data]
pub(crate) struct Throttle {
    /// The writers' bucket: bytes taken from writers.
    #[pin]
    taken: Mutex<Bucket>,
    /// The host's bucket: bytes put on the host.
    #[pin]
    host: Mutex<Bucket>,
    /// Never notified: writers sleep on it with a timeout, interruptibly.
    #[pin]
    sleep: CondVar,
    /// When this throttle was made; the bucket's timestamps count from here.
    epoch: Instant<Monotonic>,
    /// Nanoseconds writers spent waiting for the limit, all writers added up.
    throttled_ns: AtomicU64,
    /// The channel's own rate; `None`: the `rate_limit` parameter's, at each write.
    fixed_rate: Option<u32>,
    /// Whether a writer last found a limit. One that finds none after that ends the stretch of
    /// limit (`generation`): switched off, the limit forgives what was owed, and the buckets
    /// start anew, full, when it is switched on again.
    limited: AtomicBool,
    generation: AtomicU64,
}

impl Throttle {
    /// A throttle at `fixed_rate` bytes per second (0: no limit), or at the `rate_limit`
    /// parameter's rate when `None`.
    pub(crate) fn new(fixed_rate: Option<u32>) -> impl PinInit<Self> {
        pin_init!(Self {
            taken <- new_mutex!(Bucket::new(0)),
            host <- new_mutex!(Bucket::new(0)),
            sleep <- new_condvar!(),
            epoch: Instant::now(),
            throttled_ns: AtomicU64::new(0),
            fixed_rate,
            limited: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        })
    }

    /// The byte rate the writers may not exceed now; 0 for no limit, which ends the stretch of
    /// limit that was under way, if any. Every write step asks, so without a limit this
    /// writes shared memory only once per stretch.
    fn rate(&self) -> u32 {
        let rate = self.fixed_rate.unwrap_or_else(params::rate_limit);
        let limited = rate > 0;
        if self.limited.load(Ordering::Relaxed) != limited
            && self.limited.swap(limited, Ordering::Relaxed)
            && !limited
        {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        rate
    }

    /// `bucket` brought up to date at `rate` (not 0): started anew if the limit was off since
    /// it was last used, then refilled.
    fn refill(&self, bucket: &mut Bucket, rate: u32) {
        let now = self.now();
        bucket.restart(self.generation.load(Ordering::Relaxed), now, rate);
        bucket.refill(now, rate);
    }

    /// Lets the caller take up to `want` bytes (not 0) from a writer: returns how many (at
    /// least 1) it took from the writers' bucket. Waits while the bucket is empty if `waiting`
    /// is [`Waiting::Allowed`], else fails with `EAGAIN`; a signal ends the wait with
    /// `ERESTARTSYS`.
    pub(crate) fn acquire(&self, want: usize, waiting: Waiting) -> Result<usize> {
        // Without a limit (the default) every write step comes here: no lock for nothing.
        if self.rate() == 0 {
            return Ok(want);
        }
        let mut bucket = self.taken.lock();
        loop {
            let rate = self.rate();
            if rate == 0 {
                return Ok(want);
            }
            self.refill(&mut bucket, rate);
            let taken = bucket.take(want);
            if taken > 0 {
                return Ok(taken);
            }
            if !matches!(waiting, Waiting::Allowed) {
                return Err(EAGAIN);
            }
            // At most a second at a time: the rate is read again after each sleep, so that a
            // writer follows a rate that was raised or removed.
            let wait_ns = bucket.wait_for(want, rate).min(MAX_SLEEP_NS);
            self.sleep_interruptibly(&mut bucket, wait_ns)?;
        }
    }

    /// Returns `count` bytes that [`Self::acquire`] granted but the writer did not take (a
    /// fault, a full line buffer, a send that failed).
    pub(crate) fn release_unused(&self, count: usize) {
        self.give_back(&self.taken, count);
    }

    /// Gives `count` bytes back to `bucket`, one of this throttle's, under a limit.
    fn give_back(&self, bucket: &Mutex<Bucket>, count: usize) {
        let rate = self.rate();
        if count > 0 && rate > 0 {
            let mut bucket = bucket.lock();
            self.refill(&mut bucket, rate);
            bucket.refund(count, rate);
        }
    }

    /// Sleeps `wait_ns` with `bucket` unlocked, counted in `l4log-throttled-ns`; a signal ends
    /// the sleep with `ERESTARTSYS`.
    fn sleep_interruptibly(&self, bucket: &mut MutexGuard<'_, Bucket>, wait_ns: u64) -> Result {
        let wait_ms = u32::try_from(wait_ns.div_ceil(1_000_000)).unwrap_or(u32::MAX);
        let started = Instant::<Monotonic>::now();
        let woke = self
            .sleep
            .wait_interruptible_timeout(bucket, msecs_to_jiffies(wait_ms));
        self.count_throttled(started);
        match woke {
            CondVarTimeoutResult::Signal { .. } => Err(ERESTARTSYS),
            _ => Ok(()),
        }
    }

    /// Before host calls that put `bytes` bytes on the host: waits until the host's bucket owes
    /// nothing, as `waiting` allows, then spends them there; returns how many it spent (0
    /// without a limit). A close waits until its deadline at most, whatever signals are
    /// pending, and then sends and owes: closing files one after another is paced as sending
    /// is (each close of a one-byte file puts a stamp of tens of bytes on the host), and no
    /// close loses its file's last bytes to the limit. While it waits, `turn` (the send's) is
    /// marked stalled, so that non-blocking writers waiting for it get `EAGAIN`. Fails with
    /// `EAGAIN` (non-blocking) or `ERESTARTSYS` (a signal) with nothing spent.
    pub(crate) fn pay<T>(&self, bytes: usize, waiting: Waiting, turn: &Turn<T>) -> Result<usize> {
        if bytes == 0 || self.rate() == 0 {
            return Ok(0);
        }
        let mut bucket = self.host.lock();
        loop {
            let rate = self.rate();
            if rate == 0 {
                return Ok(0);
            }
            self.refill(&mut bucket, rate);
            if !bucket.owes() || waiting.expired() {
                bucket.charge(bytes);
                return Ok(bytes);
            }
            let wait_ns = bucket.wait_for_debt(rate).min(MAX_SLEEP_NS);
            bucket = self.wait_to_pay(bucket, wait_ns, waiting, turn)?;
        }
    }

    /// Gives back `bytes` of what [`Self::pay`] spent that never reached the host (a host call
    /// that failed).
    pub(crate) fn refund(&self, bytes: usize) {
        self.give_back(&self.host, bytes);
    }

    /// Sleeps up to `wait_ns` for a debt to be paid, as `waiting` allows: a close until its
    /// deadline, whatever signals are pending (a killed process closes its files).
    fn wait_to_pay<'a, T>(
        &'a self,
        bucket: MutexGuard<'a, Bucket>,
        wait_ns: u64,
        waiting: Waiting,
        turn: &Turn<T>,
    ) -> Result<MutexGuard<'a, Bucket>> {
        if let Waiting::NotAllowed = waiting {
            return Err(EAGAIN);
        }
        drop(bucket);
        turn.mark_stalled();
        if let Waiting::Until(_) = waiting {
            let started = Instant::<Monotonic>::now();
            let sleep_ns = wait_ns.min(waiting.left_ns());
            fsleep(Delta::from_nanos(
                i64::try_from(sleep_ns).unwrap_or(i64::MAX),
            ));
            self.count_throttled(started);
            return Ok(self.host.lock());
        }
        let mut bucket = self.host.lock();
        self.sleep_interruptibly(&mut bucket, wait_ns)?;
        Ok(bucket)
    }

    /// Counts the time since `started` in `l4log-throttled-ns`.
    fn count_throttled(&self, started: Instant<Monotonic>) {
        let slept = started.elapsed().as_nanos();
        self.throttled_ns
            .fetch_add(u64::try_from(slept).unwrap_or(0), Ordering::Relaxed);
    }

    /// Nanoseconds writers have waited for the limit, all together.
    pub(crate) fn throttled_ns(&self) -> u64 {
        self.throttled_ns.load(Ordering::Relaxed)
    }

    fn now(&self) -> i64 {
        self.epoch.elapsed().as_nanos()
    }
}
