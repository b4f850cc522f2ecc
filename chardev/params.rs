// SPDX-License-Identifier: GPL-2.0

//! The module parameters that live on the C side (`rust/helpers.c`), read through safe calls.
//!
//! Under `/sys/module/l4log/parameters/`: `escape` and `rate_limit` (writable at run time),
//! `mode` and `group` (load time). `host_channel` is a Rust parameter, in `l4log.rs`.

use crate::file::OpenFile;
use kernel::{
    error::to_result,
    ffi::{c_int, c_uint, c_void},
    miscdevice::MiscDeviceRegistration,
    prelude::*,
};

// The functions of `rust/helpers.h`.
extern "C" {
    fn l4log_escape() -> bool;
    fn l4log_rate_limit() -> c_uint;
    fn l4log_check_node_access() -> c_int;
    // `struct miscdevice *`: only passed through, so Rust needs no FFI-safe layout of it.
    fn l4log_apply_node_access(misc: *mut c_void) -> c_int;
    fn l4log_cond_resched();
}

/// Whether control bytes are to be shown escaped (the `escape` parameter, default on).
pub(crate) fn escape() -> bool {
    // SAFETY: `l4log_escape` takes no arguments and only reads a parameter with `READ_ONCE`.
    unsafe { l4log_escape() }
}

/// The byte rate all writers together may not exceed, in bytes per second; 0 for no limit.
pub(crate) fn rate_limit() -> u32 {
    // SAFETY: `l4log_rate_limit` takes no arguments and only reads a parameter with `READ_ONCE`.
    unsafe { l4log_rate_limit() }
}

/// Checks the `mode` and `group` parameters: `EINVAL`, with a message, for values that cannot
/// be applied.
pub(crate) fn check_node_access() -> Result {
    // SAFETY: `l4log_check_node_access` takes no arguments and only reads the parameters and
    // the current task's user namespace.
    to_result(unsafe { l4log_check_node_access() })
}

/// Gives `misc`'s device node the `mode` and `group` parameters (nothing to do for the
/// defaults), which [`check_node_access`] accepted.
pub(crate) fn apply_node_access(misc: &MiscDeviceRegistration<OpenFile>) -> Result {
    // SAFETY: `misc` is registered for as long as the borrow lasts, so its `this_device` is
    // valid, which is all `l4log_apply_node_access` reads of it; it does not keep the pointer.
    to_result(unsafe { l4log_apply_node_access(misc.as_raw().cast()) })
}

/// Lets the scheduler run something else if this task has used up its time (`cond_resched`).
pub(crate) fn cond_resched() {
    // SAFETY: called from process context (a write), with no spinlock held.
    unsafe { l4log_cond_resched() }
}
