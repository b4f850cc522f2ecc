// SPDX-License-Identifier: GPL-2.0

//! The byte-rate limit shared by all writers of a channel (the `rate_limit` parameter, or the
//! channel's own): a token bucket.
//!
//! The limit bounds what the host receives: one token is one byte that reaches the host, after
//! escaping, with stamps and the newlines l4log adds. Tokens are spent when bytes go to the
//! host, not when a write takes them: each send pays for all the bytes it puts on the host
//! before it makes its host calls ([`Throttle::pay`]), once nothing is owed, and what it puts
//! beyond the credit is owed, which the next send, and every writer, waits for. So text held
//! for its line's end, and a close's flush, pay when they go. A writer asks for up to a line
//! buffer's worth of bytes and may take as many as the bucket holds ([`Throttle::acquire`]),
//! without spending them: that paces writers that would only fill their line buffers. When
//! the bucket is empty, the writer sleeps interruptibly until enough has been earned, or gets
//! `EAGAIN` if its file is non-blocking. The bucket holds at most one second's worth of bytes,
//! so the host gets at most that much, and one send (a line buffer's worth, escaped and
//! stamped: up to [`crate::l4bridge::MAX_CHUNK`] bytes a host call), more than the rate allows
//! at any time.

use crate::{params, turn::Turn, waiting::Waiting};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{CondVar, CondVarTimeoutResult, Mutex, MutexGuard},
    time::{delay::fsleep, msecs_to_jiffies, Delta, Instant, Monotonic},
};

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// The longest a writer sleeps for the limit before it looks at the rate again.
const MAX_SLEEP_NS: u64 = NSEC_PER_SEC;

/// How long a close waiting for a debt to be paid sleeps between looks: no signal may end its
/// wait, so it cannot sleep on the condition variable.
const CLOSE_POLL: Delta = Delta::from_millis(1);

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
}

impl Bucket {
    /// An empty bucket, up to date at `now`.
    pub(crate) fn new(now: i64) -> Self {
        Self {
            credit: 0,
            owed: 0,
            updated: now,
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

    /// How many of `want` bytes the credit covers now (whole bytes; none while anything is
    /// owed). Spends nothing.
    pub(crate) fn grant(&self, want: usize) -> usize {
        usize::try_from(self.credit / NSEC_PER_SEC).map_or(want, |held| held.min(want))
    }

    /// Gives back `count` bytes that were charged but never reached the host: what is owed
    /// first, then credit, up to one second's worth at `rate`.
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
    #[pin]
    bucket: Mutex<Bucket>,
    /// Never notified: writers sleep on it with a timeout, interruptibly.
    #[pin]
    sleep: CondVar,
    /// When this throttle was made; the bucket's timestamps count from here.
    epoch: Instant<Monotonic>,
    /// Nanoseconds writers spent waiting for the limit, all writers added up.
    throttled_ns: AtomicU64,
    /// The channel's own rate; `None`: the `rate_limit` parameter's, at each write.
    fixed_rate: Option<u32>,
}

impl Throttle {
    /// A throttle at `fixed_rate` bytes per second (0: no limit), or at the `rate_limit`
    /// parameter's rate when `None`.
    pub(crate) fn new(fixed_rate: Option<u32>) -> impl PinInit<Self> {
        pin_init!(Self {
            bucket <- new_mutex!(Bucket::new(0)),
            sleep <- new_condvar!(),
            epoch: Instant::now(),
            throttled_ns: AtomicU64::new(0),
            fixed_rate,
        })
    }

    /// The byte rate the writers may not exceed now; 0 for no limit.
    fn rate(&self) -> u32 {
        self.fixed_rate.unwrap_or_else(params::rate_limit)
    }

    /// Lets the caller take up to `want` bytes (not 0) into its line buffer: returns how many
    /// (at least 1), as many as the bucket holds, without spending them (their send pays).
    /// Waits while the bucket is empty or owes if `waiting` is [`Waiting::Allowed`], else
    /// fails with `EAGAIN`; a signal ends the wait with `ERESTARTSYS`.
    pub(crate) fn acquire(&self, want: usize, waiting: Waiting) -> Result<usize> {
        // Without a limit (the default) every write step comes here: no lock for nothing.
        if self.rate() == 0 {
            return Ok(want);
        }
        let mut bucket = self.bucket.lock();
        loop {
            let rate = self.rate();
            if rate == 0 {
                return Ok(want);
            }
            bucket.refill(self.now(), rate);
            let granted = bucket.grant(want);
            if granted > 0 {
                return Ok(granted);
            }
            if !matches!(waiting, Waiting::Allowed) {
                return Err(EAGAIN);
            }
            // At most a second at a time: the rate is read again after each sleep, so that a
            // writer waiting to pay a large debt follows a rate that was raised or removed.
            let wait_ns = bucket.wait_for(want, rate).min(MAX_SLEEP_NS);
            self.sleep_interruptibly(&mut bucket, wait_ns)?;
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
        let slept = started.elapsed().as_nanos();
        self.throttled_ns
            .fetch_add(u64::try_from(slept).unwrap_or(0), Ordering::Relaxed);
        match woke {
            CondVarTimeoutResult::Signal { .. } => Err(ERESTARTSYS),
            _ => Ok(()),
        }
    }

    /// Before host calls that put `bytes` bytes on the host: waits until nothing is owed, as
    /// `waiting` allows, then spends them. While it waits, `turn` (the send's) is marked
    /// stalled, so that non-blocking writers waiting for it get `EAGAIN`. Fails with `EAGAIN`
    /// (non-blocking), `ERESTARTSYS` (a signal) or `ETIMEDOUT` (a close's deadline) with
    /// nothing spent.
    pub(crate) fn pay<T>(&self, bytes: usize, waiting: Waiting, turn: &Turn<T>) -> Result {
        if bytes == 0 || self.rate() == 0 {
            return Ok(());
        }
        let mut bucket = self.bucket.lock();
        loop {
            let rate = self.rate();
            if rate == 0 {
                return Ok(());
            }
            bucket.refill(self.now(), rate);
            if !bucket.owes() {
                bucket.charge(bytes);
                return Ok(());
            }
            let wait_ns = bucket.wait_for_debt(rate).min(MAX_SLEEP_NS);
            bucket = self.wait_to_pay(bucket, wait_ns, waiting, turn)?;
        }
    }

    /// Gives back `bytes` that [`Self::pay`] spent but that never reached the host (a host call
    /// that failed).
    pub(crate) fn refund(&self, bytes: usize) {
        let rate = self.rate();
        if bytes > 0 && rate > 0 {
            let mut bucket = self.bucket.lock();
            bucket.refill(self.now(), rate);
            bucket.refund(bytes, rate);
        }
    }

    /// Sleeps up to `wait_ns` for a debt to be paid, as `waiting` allows.
    fn wait_to_pay<'a, T>(
        &'a self,
        bucket: MutexGuard<'a, Bucket>,
        wait_ns: u64,
        waiting: Waiting,
        turn: &Turn<T>,
    ) -> Result<MutexGuard<'a, Bucket>> {
        match waiting {
            Waiting::NotAllowed => return Err(EAGAIN),
            Waiting::Until(_) if waiting.expired() => return Err(ETIMEDOUT),
            _ => {}
        }
        drop(bucket);
        turn.mark_stalled();
        if let Waiting::Until(_) = waiting {
            fsleep(CLOSE_POLL);
            return Ok(self.bucket.lock());
        }
        let mut bucket = self.bucket.lock();
        self.sleep_interruptibly(&mut bucket, wait_ns)?;
        Ok(bucket)
    }

    /// Nanoseconds writers have waited for the limit, all together.
    pub(crate) fn throttled_ns(&self) -> u64 {
        self.throttled_ns.load(Ordering::Relaxed)
    }

    fn now(&self) -> i64 {
        self.epoch.elapsed().as_nanos()
    }
}
