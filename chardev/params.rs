// SPDX-License-Identifier: GPL-2.0

//! The module parameters that live on the C side (`rust/helpers.c`), read through safe calls.
//!
//! Under `/sys/module/l4log/parameters/`: `escape` and `rate_limit` (writable at run time),
//! `mode`, `group`, `stamp` and `channels` (load time). `host_channel` is a Rust parameter, in
//! `l4log.rs`.

use crate::{channels::NodeAccess, file::OpenFile, stamp::StampKind};
use kernel::{
    error::to_result,
    ffi::{c_char, c_int, c_uint, c_ushort, c_void},
    miscdevice::MiscDeviceRegistration,
    prelude::*,
};

// The functions of `rust/helpers.h`.
extern "C" {
    fn l4log_escape() -> bool;
    fn l4log_rate_limit() -> c_uint;
    fn l4log_mode() -> c_ushort;
    fn l4log_group() -> c_uint;
    fn l4log_channels() -> *const c_char;
    fn l4log_stamp() -> *const c_char;
    fn l4log_check_node_access(name: *const c_char, mode: c_ushort, group: c_uint) -> c_int;
    // `struct miscdevice *`: only passed through, so Rust needs no FFI-safe layout of it.
    fn l4log_apply_node_access(misc: *mut c_void, mode: c_ushort, group: c_uint) -> c_int;
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

/// The `mode` and `group` parameters: `/dev/l4log`'s, and the named channels' by default.
pub(crate) fn node_access() -> NodeAccess {
    // SAFETY: `l4log_mode` and `l4log_group` take no arguments and only read a load-time
    // parameter.
    unsafe {
        NodeAccess {
            mode: l4log_mode(),
            group: l4log_group(),
        }
    }
}

/// A copy of the `channels` parameter's text (empty when not given).
pub(crate) fn channels() -> Result<KVec<u8>> {
    // SAFETY: `l4log_channels` takes no arguments and returns the load-time parameter's
    // string, or NULL.
    copy_string(unsafe { l4log_channels() })
}

/// The `stamp` parameter: what `/dev/l4log` (and a named channel without its own) puts before
/// each line; `EINVAL`, with a message, for a value that is not one.
pub(crate) fn stamp() -> Result<StampKind> {
    // SAFETY: `l4log_stamp` takes no arguments and returns the load-time parameter's string.
    let text = copy_string(unsafe { l4log_stamp() })?;
    core::str::from_utf8(&text)
        .ok()
        .and_then(StampKind::parse)
        .ok_or_else(|| {
            pr_err!("stamp: not none, task, time or task+time\n");
            EINVAL
        })
}

/// A copy of `text`, a load-time string parameter (empty for NULL): a module's `init` runs
/// after its parameters were set, and nobody writes a parameter of permission 0444 or frees it
/// before the module is unloaded.
fn copy_string(text: *const c_char) -> Result<KVec<u8>> {
    let mut copy = KVec::new();
    if !text.is_null() {
        // SAFETY: a string parameter is NUL-terminated and stays unchanged while the module is
        // loaded (above), and this runs in the module's `init`.
        copy.extend_from_slice(unsafe { CStr::from_char_ptr(text) }.to_bytes(), GFP_KERNEL)?;
    }
    Ok(copy)
}

/// Checks the mode and group of `/dev/NODE`: `EINVAL`, with a message, for values that cannot
/// be applied.
pub(crate) fn check_node_access(node: &CStr, access: NodeAccess) -> Result {
    // SAFETY: `node` is a NUL-terminated string, which the function only prints; otherwise it
    // only reads the current task's user namespace.
    to_result(unsafe { l4log_check_node_access(node.as_char_ptr(), access.mode, access.group) })
}

/// Gives `misc`'s device node `access`, which [`check_node_access`] accepted (nothing to do for
/// 0600 and group 0).
pub(crate) fn apply_node_access(
    misc: &MiscDeviceRegistration<OpenFile>,
    access: NodeAccess,
) -> Result {
    // SAFETY: `misc` is registered for as long as the borrow lasts, so its `this_device` is
    // valid, which is all `l4log_apply_node_access` reads of it; it does not keep the pointer.
    to_result(unsafe { l4log_apply_node_access(misc.as_raw().cast(), access.mode, access.group) })
}

/// Lets the scheduler run something else if this task has used up its time (`cond_resched`).
pub(crate) fn cond_resched() {
    // SAFETY: called from process context (a write), with no spinlock held.
    unsafe { l4log_cond_resched() }
}
