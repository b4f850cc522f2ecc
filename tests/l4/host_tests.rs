// SPDX-License-Identifier: GPL-2.0

//! Host unit tests of the L4Re transport's chunking (`tests/l4/compile-check`, `rustc --test`).
//!
//! `l4bridge/mod.rs` and `l4bridge/l4re.rs` are compiled for the host with the constants of real
//! L4Re headers. The C helpers of `rust/l4re.c` make L4 system calls, which a Linux process
//! cannot, so this file defines functions of the same names that record each vcon write and fail
//! the ones a test asks for. What is tested is everything on the Rust side of the helpers: the
//! chunk size, how a write is split, the bytes and their order, and what a failed IPC does to
//! the write and the counters.

#[path = "../../l4bridge/mod.rs"]
mod l4bridge;

use kernel::ffi::{c_char, c_int, c_uint, c_ulong};
use std::sync::{Mutex, MutexGuard};

type Cap = c_ulong;

/// What the fake L4Re log saw, and how it should behave.
struct FakeLog {
    log_cap: Cap,
    /// The capability named `l4log`, `/dev/l4log`'s own, when the environment has one.
    own_cap: Option<Cap>,
    /// Bytes of every vcon write, in order.
    writes: Vec<Vec<u8>>,
    /// The capability of every vcon write, in order.
    caps: Vec<Cap>,
    /// The vcon write (counting from 0) that fails, with this IPC error.
    fail_at: Option<(usize, c_ulong)>,
}

/// The capabilities of the fake environment's caps table: name and capability. `again` names
/// the object that `app` names, in a slot of its own.
const NAMED_CAPS: [(&str, Cap); 3] = [
    ("app", 0x2000),
    ("again", 0x3000),
    ("invalid", L4_INVALID_CAP_BIT),
];

/// The slots that name one object in the fake task.
const SAME_OBJECT: [Cap; 2] = [0x2000, 0x3000];

static FAKE: Mutex<FakeLog> = Mutex::new(FakeLog {
    log_cap: 0x1000,
    own_cap: None,
    writes: Vec::new(),
    caps: Vec::new(),
    fail_at: None,
});
/// The fake is global: tests take this for their whole run.
static SERIAL: Mutex<()> = Mutex::new(());

const L4_INVALID_CAP_BIT: Cap = 0x800;

#[no_mangle]
extern "C" fn l4log_l4re_log_cap() -> Cap {
    FAKE.lock().unwrap().log_cap
}

#[no_mangle]
extern "C" fn l4log_l4re_named_cap(name: *const c_char, len: c_uint, cap: *mut Cap) -> c_int {
    // SAFETY: the transport passes a name of `len` readable bytes.
    let name = unsafe { std::slice::from_raw_parts(name.cast::<u8>(), len as usize) };
    let own = FAKE.lock().unwrap().own_cap.map(|cap| ("l4log", cap));
    match NAMED_CAPS
        .iter()
        .chain(own.iter())
        .find(|(known, _)| known.as_bytes() == name)
    {
        Some((_, found)) => {
            // SAFETY: the transport passes a capability to write.
            unsafe { cap.write(*found) };
            0
        }
        None => 1,
    }
}

#[no_mangle]
extern "C" fn l4log_l4_is_invalid_cap(cap: Cap) -> c_int {
    c_int::from(cap & L4_INVALID_CAP_BIT != 0)
}

#[no_mangle]
extern "C" fn l4log_l4_same_object(a: Cap, b: Cap) -> c_int {
    c_int::from(a == b || (SAME_OBJECT.contains(&a) && SAME_OBJECT.contains(&b)))
}

#[no_mangle]
extern "C" fn l4log_vcon_send(cap: Cap, buf: *const c_char, len: c_uint) -> c_ulong {
    let mut fake = FAKE.lock().unwrap();
    assert!(
        cap == fake.log_cap
            || fake.own_cap == Some(cap)
            || NAMED_CAPS.iter().any(|(_, named)| *named == cap),
        "vcon write to a capability the environment does not have"
    );
    fake.caps.push(cap);
    assert!(
        len as usize <= 488,
        "vcon write of {len} bytes: more than an IPC carries"
    );
    // SAFETY: the transport passes a chunk of `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len as usize) };
    let index = fake.writes.len();
    fake.writes.push(bytes.to_vec());
    match fake.fail_at {
        Some((at, error)) if at == index => error,
        _ => 0,
    }
}

fn reset(fail_at: Option<(usize, c_ulong)>) -> MutexGuard<'static, ()> {
    let serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut fake = FAKE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    fake.log_cap = 0x1000;
    fake.own_cap = None;
    fake.writes.clear();
    fake.caps.clear();
    fake.fail_at = fail_at;
    drop(fake);
    serial
}

fn writes() -> Vec<Vec<u8>> {
    FAKE.lock().unwrap().writes.clone()
}

/// `len` bytes of every value but 0 (a NUL ends its IPC: see `a_nul_ends_its_ipc`).
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + i / 251) % 255 + 1) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::prelude::*;
    use l4bridge::{Address, HostLog, Patience, Stats, MAX_CHUNK};

    /// Never waits: the L4Re transport does not ask (its IPC has no timeout).
    struct NoWait;

    impl Patience for NoWait {
        fn wait_for_host(&mut self) -> Result {
            Err(EAGAIN)
        }
    }

    /// The write sizes of the tests: around one and two chunks, a page, a large write.
    const SIZES: [usize; 11] = [1, 2, 487, 488, 489, 975, 976, 977, 4096, 65536, 1 << 20];

    #[test]
    fn chunk_is_l4_vcon_write_size_from_the_headers() {
        // amd64: 63 message registers, 2 for opcode and length, 8 bytes each.
        assert_eq!(MAX_CHUNK, 488);
    }

    #[test]
    fn writes_split_into_full_chunks_and_a_rest() {
        for size in SIZES {
            let _serial = reset(None);
            let data = pattern(size);
            let log = HostLog::open(Address::Default).unwrap();
            log.write(&data, &mut NoWait).unwrap();
            let writes = writes();
            let chunks = size.div_ceil(488);
            assert_eq!(writes.len(), chunks, "IPCs for {size} bytes");
            for (i, write) in writes.iter().enumerate() {
                let expected = if i + 1 < chunks {
                    488
                } else {
                    size - 488 * (chunks - 1)
                };
                assert_eq!(write.len(), expected, "IPC {i} of a {size}-byte write");
            }
            assert_eq!(
                writes.concat(),
                data,
                "bytes of a {size}-byte write, in order"
            );
            let calls = chunks as u64;
            assert_eq!(
                log.stats(),
                Stats {
                    bytes: size as u64,
                    calls,
                    errors: 0
                }
            );
        }
    }

    #[test]
    fn a_page_is_nine_ipcs_and_a_mebibyte_2149() {
        for (size, ipcs) in [(4096, 9), (1 << 20, 2149)] {
            let _serial = reset(None);
            let log = HostLog::open(Address::Default).unwrap();
            log.write(&pattern(size), &mut NoWait).unwrap();
            assert_eq!(writes().len(), ipcs, "{size} bytes");
        }
    }

    #[test]
    fn empty_write_makes_no_ipc() {
        let _serial = reset(None);
        let log = HostLog::open(Address::Default).unwrap();
        log.write(&[], &mut NoWait).unwrap();
        assert!(writes().is_empty());
        assert_eq!(log.stats(), Stats::default());
    }

    #[test]
    fn failed_ipc_stops_the_write_with_eio_and_the_bytes_before_it() {
        // L4_IPC_ENOT_EXISTENT, L4_IPC_SECANCELED, L4_IPC_SEMSGCUT: all the same to the guest.
        for error in [0x04, 0x06, 0x08] {
            for (size, fail_at) in [(1, 0), (488, 0), (489, 1), (4096, 3), (4096, 8)] {
                let _serial = reset(Some((fail_at, error)));
                let log = HostLog::open(Address::Default).unwrap();
                let err = log.write(&pattern(size), &mut NoWait).unwrap_err();
                assert_eq!(err.error, EIO, "IPC error {error:#x}");
                assert_eq!(
                    err.sent,
                    488 * fail_at,
                    "{size} bytes, IPC {fail_at} failed"
                );
                assert_eq!(writes().len(), fail_at + 1, "no IPC after the failed one");
                assert_eq!(
                    log.stats(),
                    Stats {
                        bytes: 488 * fail_at as u64,
                        calls: fail_at as u64 + 1,
                        errors: 1
                    }
                );
            }
        }
    }

    #[test]
    fn a_nul_ends_its_ipc() {
        let _serial = reset(None);
        let log = HostLog::open(Address::Default).unwrap();
        log.write(b"ab\0cd\0\0e\n", &mut NoWait).unwrap();
        let want: Vec<Vec<u8>> = vec![
            b"ab\0".to_vec(),
            b"cd\0".to_vec(),
            b"\0".to_vec(),
            b"e\n".to_vec(),
        ];
        assert_eq!(writes(), want);
        // Every IPC counts as a host call.
        assert_eq!(
            log.stats(),
            Stats {
                bytes: 9,
                calls: 4,
                errors: 0
            }
        );
    }

    /// 498 bytes with a NUL inside the first chunk and one at its end.
    fn with_nuls() -> Vec<u8> {
        let mut data = pattern(488 + 10);
        data[100] = 0;
        data[487] = 0;
        data
    }

    #[test]
    fn nuls_split_chunks_but_no_chunk_grows() {
        let _serial = reset(None);
        let log = HostLog::open(Address::Default).unwrap();
        log.write(&with_nuls(), &mut NoWait).unwrap();
        let sizes: Vec<usize> = writes().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![101, 387, 10]);
        assert_eq!(writes().concat(), with_nuls());
    }

    #[test]
    fn a_failed_ipc_after_a_nul_reports_the_bytes_before_it() {
        let _serial = reset(Some((1, 0x04)));
        let log = HostLog::open(Address::Default).unwrap();
        let err = log.write(&with_nuls(), &mut NoWait).unwrap_err();
        assert_eq!(err.sent, 101, "the piece after the first NUL failed");
        assert_eq!(writes().len(), 2, "no IPC after the failed one");
        assert_eq!(
            log.stats().calls,
            2,
            "the IPCs made, the failed one included"
        );
    }

    #[test]
    fn two_slots_of_one_object_are_one_stream() {
        let _serial = reset(None);
        let app = HostLog::resolve(Address::Name("app")).unwrap();
        let again = HostLog::resolve(Address::Name("again")).unwrap();
        let default = HostLog::resolve(Address::Default).unwrap();
        assert!(HostLog::same_stream(&app, &again));
        assert!(HostLog::same_stream(&app, &app));
        assert!(!HostLog::same_stream(&app, &default));
    }

    #[test]
    fn the_default_is_the_own_capability_when_there_is_one() {
        let _serial = reset(None);
        HostLog::open(Address::Default)
            .unwrap()
            .write(b"console\n", &mut NoWait)
            .unwrap();
        FAKE.lock().unwrap().own_cap = Some(0x4000);
        HostLog::open(Address::Default)
            .unwrap()
            .write(b"own\n", &mut NoWait)
            .unwrap();
        assert_eq!(FAKE.lock().unwrap().caps, vec![0x1000, 0x4000]);
    }

    #[test]
    fn a_number_is_refused() {
        let _serial = reset(None);
        assert_eq!(HostLog::open(Address::Number(0xe9)).err(), Some(EINVAL));
    }

    #[test]
    fn a_named_capability_gets_the_writes() {
        let _serial = reset(None);
        let log = HostLog::open(Address::Name("app")).unwrap();
        log.write(b"to app\n", &mut NoWait).unwrap();
        assert_eq!(writes(), vec![b"to app\n".to_vec()]);
        assert_eq!(FAKE.lock().unwrap().caps, vec![0x2000]);
    }

    #[test]
    fn an_unknown_or_invalid_name_is_refused() {
        let _serial = reset(None);
        assert_eq!(HostLog::open(Address::Name("nosuch")).err(), Some(ENOENT));
        assert_eq!(HostLog::open(Address::Name("ap")).err(), Some(ENOENT));
        assert_eq!(HostLog::open(Address::Name("invalid")).err(), Some(ENODEV));
        assert_eq!(HostLog::open(Address::Name("app/x")).err(), Some(EINVAL));
        assert!(writes().is_empty());
    }

    #[test]
    fn no_log_capability_is_enodev() {
        let _serial = reset(None);
        FAKE.lock().unwrap().log_cap = L4_INVALID_CAP_BIT;
        assert_eq!(HostLog::open(Address::Default).err(), Some(ENODEV));
    }
}
