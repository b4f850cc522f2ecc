// SPDX-License-Identifier: GPL-2.0

//! Keeps the module loaded while any `/dev/l4log` is open.
//!
//! The VFS pins a module for as long as a file uses its `file_operations` when the table's
//! `owner` is the module. The table that `kernel::miscdevice` builds (Linux 7.2) leaves `owner`
//! NULL (Rust-for-Linux issue #1182), so `rmmod` would succeed with files open and their next
//! `write` or `close` would run freed module code. Until the abstraction sets `owner`, each open
//! swaps in a copy of that table that names this module, which is what the C helper
//! `replace_fops()` does from an `->open`. `rmmod` then fails with `EBUSY` while a file is open.
//! Without `CONFIG_MODULE_UNLOAD` no module is ever removed, and there is nothing to do.

#[cfg(CONFIG_MODULE_UNLOAD)]
pub(crate) use unload::hold_module_while_open;

use kernel::{fs::File, prelude::*};

/// Makes `file`'s `->open` fail with `ENODEV` without leaving the VFS anything of this module
/// to read afterwards; returns the error.
///
/// When an `->open` fails, the VFS puts the file's operations (`fops_put`), which reads their
/// `owner` from the table: this module's memory, which may be gone by then (a module whose
/// `init` fails is freed at once; one being removed goes after the last reference). With no
/// table there is nothing to read: `fops_put(NULL)` does nothing.
///
/// # Safety
///
/// Call it only from `file`'s `->open`, before the file is visible to other threads, and
/// return its error from the `->open`.
pub(crate) unsafe fn refuse_open(file: &File) -> Error {
    // SAFETY: the caller is `file`'s `->open`, which may replace `f_op` (`replace_fops()`), and
    // no other thread uses the file yet.
    unsafe { (*file.as_ptr()).f_op = core::ptr::null() };
    ENODEV
}

/// Without module unloading, the module outlives every file.
///
/// # Safety
///
/// As for the variant with module unloading: call it from `file`'s `->open`.
#[cfg(not(CONFIG_MODULE_UNLOAD))]
pub(crate) unsafe fn hold_module_while_open(_file: &File) -> Result {
    Ok(())
}

#[cfg(CONFIG_MODULE_UNLOAD)]
mod unload {
    use crate::{file::OpenFile, DEVICE_NAME, THIS_MODULE};
    use kernel::{bindings, fs::File, miscdevice::MiscDeviceOptions, prelude::*};

    /// The operations `kernel::miscdevice` installs for an open `/dev/l4log`.
    const UPSTREAM_FOPS: *const bindings::file_operations = MiscDeviceOptions { name: DEVICE_NAME }
        .into_raw::<OpenFile>()
        .fops;

    // Once the abstraction sets `owner` itself, swapping would leak the reference it took: remove
    // this file then.
    const _: () = assert!(
        // SAFETY: `into_raw` points `fops` at the abstraction's `'static` operations table.
        unsafe { (*UPSTREAM_FOPS).owner.is_null() },
        "kernel::miscdevice now sets file_operations.owner: remove chardev/owner.rs"
    );

    /// The upstream operations with `owner` set to this module.
    struct OwnedFops(bindings::file_operations);

    // SAFETY: the table is never written after compile time; C code only reads it.
    unsafe impl Sync for OwnedFops {}

    static OWNED_FOPS: OwnedFops = OwnedFops(bindings::file_operations {
        owner: THIS_MODULE.as_ptr(),
        // SAFETY: `UPSTREAM_FOPS` points to a `'static` table (see above).
        ..unsafe { *UPSTREAM_FOPS }
    });

    /// Makes `file`, which is being opened, hold a reference to this module until it is closed.
    ///
    /// Call it first in `open`: from then on the VFS drops the reference on every path, after
    /// the last `->release` or, should `open` fail, in `do_dentry_open`'s error path. Fails with
    /// `ENODEV` when the module is being removed.
    ///
    /// # Safety
    ///
    /// Call it only from `file`'s `->open`, before the file is visible to other threads, and
    /// return its error from the `->open` when it fails.
    pub(crate) unsafe fn hold_module_while_open(file: &File) -> Result {
        // SAFETY: `THIS_MODULE` is this module, which is loaded while its code runs.
        if !unsafe { bindings::try_module_get(THIS_MODULE.as_ptr()) } {
            // The module is going away.
            // SAFETY: the caller is `file`'s `->open` and returns this error from it.
            return Err(unsafe { super::refuse_open(file) });
        }
        // SAFETY: the caller is `file`'s `->open`, where the VFS lets the driver replace `f_op`
        // (`replace_fops()`) and no other thread uses the file yet. `OWNED_FOPS` has the same
        // operations as the table it replaces, so the private data keeps the type they expect.
        // The replaced table has no owner, so there is no reference of it to drop; the
        // reference taken above is the one the VFS drops (`fops_put`) after the file's last
        // `->release`, or in its error path if the `->open` fails.
        unsafe { (*file.as_ptr()).f_op = &OWNED_FOPS.0 };
        Ok(())
    }
}
