// SPDX-License-Identifier: GPL-2.0

//! A stand-in for the kernel crate, for the L4 compile check (`tests/l4/compile-check`).
//!
//! It offers the small part of `kernel` that `l4bridge/` uses (the prelude's `Result`, `Error`,
//! errno constants and `pr_*!`, and `kernel::ffi`), with the kernel's names and shapes, so that
//! `l4bridge/mod.rs` and `l4bridge/l4re.rs` compile unchanged outside a kernel tree, against the
//! bindings of real L4Re headers. Printing goes nowhere in an object file; in the host tests it
//! goes to standard error through `set_printer`.

#![no_std]

/// C types, as `kernel::ffi` names them (x86_64).
#[allow(non_camel_case_types)]
pub mod ffi {
    pub type c_char = i8;
    pub type c_schar = i8;
    pub type c_uchar = u8;
    pub type c_short = i16;
    pub type c_ushort = u16;
    pub type c_int = i32;
    pub type c_uint = u32;
    pub type c_long = isize; // as Linux 7.2's ffi crate has it
    pub type c_ulong = usize;
    pub type c_longlong = i64;
    pub type c_ulonglong = u64;
    pub use core::ffi::c_void;
}

/// Formatting, as `kernel::fmt` offers it (the core traits).
pub mod fmt {
    pub use core::fmt::{Display, Formatter, Result};
}

/// Errors as the kernel crate has them: a negative errno.
pub mod error {
    /// A kernel error code (`kernel::error::Error`).
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct Error(i32);

    impl Error {
        /// The error of errno `-errno`.
        pub const fn from_errno(errno: i32) -> Error {
            Error(errno)
        }

        /// The negative errno.
        pub const fn to_errno(self) -> i32 {
            self.0
        }
    }

    impl core::fmt::Debug for Error {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "Error({})", self.0)
        }
    }

    /// `Result` with [`Error`] and `()` as defaults, as in the kernel.
    pub type Result<T = (), E = Error> = core::result::Result<T, E>;

    /// The errno constants l4bridge may name.
    pub mod code {
        use super::Error;
        macro_rules! codes {
            ($($name:ident = $errno:expr,)*) => {
                $(
                    #[doc = concat!("`-", stringify!($name), "`")]
                    pub const $name: Error = Error(-$errno);
                )*
            };
        }
        codes! {
            EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9,
            EAGAIN = 11, ENOMEM = 12, EFAULT = 14, EBUSY = 16, ENODEV = 19, EINVAL = 22,
            ENOSPC = 28, EPIPE = 32, ERANGE = 34, EOVERFLOW = 75, ERESTARTSYS = 512,
        }
    }
}

/// What a `pr_*!` line goes to: nothing unless a host test sets a printer.
pub mod print {
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// A function that shows one formatted line.
    pub type Printer = fn(&str, core::fmt::Arguments<'_>);

    static PRINTER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Sends every later `pr_*!` line to `printer`.
    pub fn set_printer(printer: Printer) {
        PRINTER.store(printer as *mut (), Ordering::Relaxed);
    }

    #[doc(hidden)]
    pub fn print(level: &str, args: core::fmt::Arguments<'_>) {
        let printer = PRINTER.load(Ordering::Relaxed);
        if !printer.is_null() {
            // SAFETY: the only non-null value ever stored is a `Printer` (in `set_printer`).
            let printer: Printer = unsafe { core::mem::transmute(printer) };
            printer(level, args);
        }
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __print {
    ($level:literal, $($arg:tt)*) => {
        $crate::print::print($level, ::core::format_args!($($arg)*))
    };
}

/// `pr_err!`.
#[macro_export]
macro_rules! pr_err { ($($arg:tt)*) => { $crate::__print!("err", $($arg)*) }; }
/// `pr_warn!`.
#[macro_export]
macro_rules! pr_warn { ($($arg:tt)*) => { $crate::__print!("warn", $($arg)*) }; }
/// `pr_info!`.
#[macro_export]
macro_rules! pr_info { ($($arg:tt)*) => { $crate::__print!("info", $($arg)*) }; }
/// `pr_debug!`.
#[macro_export]
macro_rules! pr_debug { ($($arg:tt)*) => { $crate::__print!("debug", $($arg)*) }; }

/// The kernel prelude's names that l4bridge uses.
pub mod prelude {
    pub use crate::error::{code::*, Error, Result};
    pub use crate::{pr_debug, pr_err, pr_info, pr_warn};
}
