// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the bridge's own logic, against a fake host channel.
//!
//! Run by `make test` (`uml_debug_kunit`): `l4log.ko` built with them (`scripts/module`,
//! `L4LOG_KUNIT=1`) runs them when it loads on UML's debug kernel.

#[kernel::macros::kunit_tests(l4bridge)]
mod kunit {
    use crate::l4bridge::{Address, Bridge, Channel, Patience, Stats, WriteError};
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use kernel::prelude::*;

    /// The most calls a test makes.
    const SLOTS: usize = 8;

    /// A host that records each call's length and a hash of all bytes it took, in order.
    /// Call number `fail_on_call` (1-based; 0: none) takes `taken_before_failure` bytes, then
    /// fails with `EIO`. Call number `full_on_call` (0: none) finds the host full once and asks
    /// the caller's patience first.
    struct FakeHost {
        lens: [AtomicUsize; SLOTS],
        calls: AtomicUsize,
        hash: AtomicU64,
        fail_on_call: usize,
        taken_before_failure: usize,
        full_on_call: usize,
    }

    impl FakeHost {
        fn new(fail_on_call: usize, taken_before_failure: usize) -> Self {
            Self {
                lens: [const { AtomicUsize::new(0) }; SLOTS],
                calls: AtomicUsize::new(0),
                hash: AtomicU64::new(FNV_OFFSET),
                fail_on_call,
                taken_before_failure,
                full_on_call: 0,
            }
        }

        fn take(&self, bytes: &[u8]) {
            let hash = fnv(self.hash.load(Ordering::Relaxed), bytes);
            self.hash.store(hash, Ordering::Relaxed);
        }

        fn lens(&self) -> KVec<usize> {
            let mut lens = KVec::new();
            for len in &self.lens[..self.calls.load(Ordering::Relaxed)] {
                lens.push(len.load(Ordering::Relaxed), GFP_KERNEL).unwrap();
            }
            lens
        }
    }

    impl Channel for FakeHost {
        const MAX_CHUNK: usize = 8;

        type Stream = i64;

        fn resolve(_address: Address<'_>) -> Result<i64> {
            Err(ENODEV)
        }

        fn open(_stream: i64) -> Result<Self> {
            Err(ENODEV)
        }

        fn send(&self, chunk: &[u8], patience: &mut dyn Patience) -> Result<(), WriteError> {
            assert!(!chunk.is_empty() && chunk.len() <= Self::MAX_CHUNK);
            let call = self.calls.fetch_add(1, Ordering::Relaxed);
            self.lens[call].store(chunk.len(), Ordering::Relaxed);
            if call + 1 == self.full_on_call {
                patience
                    .wait_for_host()
                    .map_err(|error| WriteError { sent: 0, error })?;
            }
            if call + 1 == self.fail_on_call {
                self.take(&chunk[..self.taken_before_failure]);
                return Err(WriteError {
                    sent: self.taken_before_failure,
                    error: EIO,
                });
            }
            self.take(chunk);
            Ok(())
        }
    }

    /// Never waits for the host: a full channel ends the host call with `EAGAIN`.
    struct NoWait;

    impl Patience for NoWait {
        fn wait_for_host(&mut self) -> Result {
            Err(EAGAIN)
        }
    }

    /// Waits (at once) as often as asked, and counts how often that was.
    struct Waits(usize);

    impl Patience for Waits {
        fn wait_for_host(&mut self) -> Result {
            self.0 += 1;
            Ok(())
        }
    }

    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

    /// FNV-1a, continued from `hash`.
    fn fnv(hash: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(hash, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    fn data<const N: usize>() -> [u8; N] {
        core::array::from_fn(|i| (i * 7 + 3) as u8)
    }

    #[test]
    fn splits_into_chunks_in_order() {
        let bytes = data::<20>();
        let bridge = Bridge::with_channel(FakeHost::new(0, 0));
        assert!(bridge.write(&bytes, &mut NoWait).is_ok());
        assert_eq!(bridge.channel.lens()[..], [8, 8, 4]);
        assert_eq!(
            bridge.channel.hash.load(Ordering::Relaxed),
            fnv(FNV_OFFSET, &bytes)
        );
        let want = Stats {
            bytes: 20,
            calls: 3,
            errors: 0,
        };
        assert_eq!(bridge.stats(), want);
    }

    #[test]
    fn exact_multiple_makes_no_empty_call() {
        let bridge = Bridge::with_channel(FakeHost::new(0, 0));
        assert!(bridge.write(&data::<16>(), &mut NoWait).is_ok());
        assert_eq!(bridge.channel.lens()[..], [8, 8]);
    }

    #[test]
    fn empty_write_makes_no_call() {
        let bridge = Bridge::with_channel(FakeHost::new(0, 0));
        assert!(bridge.write(&[], &mut NoWait).is_ok());
        assert_eq!(bridge.stats(), Stats::default());
    }

    #[test]
    fn failure_reports_the_bytes_that_arrived() {
        let bytes = data::<20>();
        let bridge = Bridge::with_channel(FakeHost::new(2, 3));
        let err = bridge.write(&bytes, &mut NoWait).unwrap_err();
        assert_eq!(err.sent, 8 + 3);
        assert_eq!(err.error, EIO);
        assert_eq!(bridge.channel.lens()[..], [8, 8]);
        assert_eq!(
            bridge.channel.hash.load(Ordering::Relaxed),
            fnv(FNV_OFFSET, &bytes[..11])
        );
        let want = Stats {
            bytes: 11,
            calls: 2,
            errors: 1,
        };
        assert_eq!(bridge.stats(), want);
    }

    #[test]
    fn a_full_host_is_waited_for_when_the_caller_may() {
        let bytes = data::<20>();
        let mut host = FakeHost::new(0, 0);
        host.full_on_call = 2;
        let bridge = Bridge::with_channel(host);
        let mut waits = Waits(0);
        assert!(bridge.write(&bytes, &mut waits).is_ok());
        assert_eq!(waits.0, 1);
        assert_eq!(bridge.channel.lens()[..], [8, 8, 4]);
        assert_eq!(
            bridge.channel.hash.load(Ordering::Relaxed),
            fnv(FNV_OFFSET, &bytes)
        );
        assert_eq!(bridge.stats().errors, 0);
    }

    #[test]
    fn a_full_host_ends_the_write_when_the_caller_may_not_wait() {
        let mut host = FakeHost::new(0, 0);
        host.full_on_call = 2;
        let bridge = Bridge::with_channel(host);
        let err = bridge.write(&data::<20>(), &mut NoWait).unwrap_err();
        assert_eq!(err.error, EAGAIN);
        assert_eq!(err.sent, 8);
        let want = Stats {
            bytes: 8,
            calls: 2,
            errors: 1,
        };
        assert_eq!(bridge.stats(), want);
    }

    #[test]
    fn first_call_failing_sends_nothing() {
        let bridge = Bridge::with_channel(FakeHost::new(1, 0));
        let err = bridge.write(&data::<4>(), &mut NoWait).unwrap_err();
        assert_eq!(err.sent, 0);
        assert_eq!(bridge.stats().bytes, 0);
    }
}
