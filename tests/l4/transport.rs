// SPDX-License-Identifier: GPL-2.0

//! Crate root of the L4 compile check (`tests/l4/compile-check`): `l4bridge/` as the module
//! builds it on L4Linux (`CONFIG_L4`: the L4Re transport), compiled to an object file against
//! the bindings of real L4Re headers, with `tests/l4/kernel.rs` standing in for the kernel crate.

#![no_std]

#[path = "../../l4bridge/mod.rs"]
mod l4bridge;

use kernel::prelude::*;
use l4bridge::{Address, HostLog, Patience, MAX_CHUNK};

/// Never waits: the L4Re transport does not ask (its IPC has no timeout).
struct NoWait;

impl Patience for NoWait {
    fn wait_for_host(&mut self) -> Result {
        Err(EAGAIN)
    }
}

/// Opens the L4Re log (the task's, or the capability `name` when given) and writes `bytes` to
/// it: the whole transport, reachable from one symbol. Returns the bytes that reached the log,
/// or a negative errno when opening failed.
pub fn l4log_check_write(name: Option<&str>, bytes: &[u8]) -> Result<usize> {
    let log = HostLog::open(name.map_or(Address::Default, Address::Name))?;
    let sent = match log.write(bytes, &mut NoWait) {
        Ok(()) => bytes.len(),
        Err(err) => err.sent,
    };
    let stats = log.stats();
    if stats.bytes != sent as u64 || stats.calls < stats.errors {
        return Err(EINVAL);
    }
    Ok(sent)
}

/// The chunk size the transport uses (`L4_VCON_WRITE_SIZE`), for the check to print.
#[no_mangle]
pub static L4LOG_CHECK_MAX_CHUNK: usize = MAX_CHUNK;
