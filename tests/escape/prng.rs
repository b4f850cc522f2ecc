// SPDX-License-Identifier: GPL-2.0

//! xorshift64*, as the other test programs have it (`tests/guest/`, `tests/suite/harness.py`):
//! the generated inputs of the escaper's host programs (`differential.rs`, `bench/escape`).

/// The generator's state.
pub(crate) struct Prng(pub(crate) u64);

impl Prng {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
