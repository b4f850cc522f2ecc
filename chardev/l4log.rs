// SPDX-License-Identifier: GPL-2.0

//! l4log: `/dev/l4log`, a misc character device whose writes go to the host's log.
//!
//! `echo hello > /dev/l4log` in the guest puts `hello\n` into the log of the host the kernel runs
//! on: the L4Re log (and serial console) under L4Linux, QEMU's debug console elsewhere. The
//! bytes go through unchanged and in order; see `file.rs` for the write semantics and
//! `../l4bridge` for the host side.

use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    sync::Arc,
};

#[path = "../l4bridge/mod.rs"]
mod l4bridge;

mod file;
mod owner;

use file::OpenFile;
use l4bridge::HostLog;

module! {
    type: L4LogModule,
    name: "l4log",
    authors: ["The l4log developers"],
    description: "Writes to /dev/l4log go to the host's log (L4Re log, QEMU debug console)",
    license: "GPL",
    params: {
        host_channel: i64 {
            default: -1,
            description: "Host log channel: qemu: I/O port (-1: 0xe9); uml: host fd (-1: 2, stderr)",
        },
    },
}

/// The device node's name, under /dev.
const DEVICE_NAME: &CStr = c"l4log";

/// What every open file of the device shares.
pub(crate) struct L4Log {
    /// The host's log channel.
    pub(crate) host: HostLog,
}

/// The loaded module: the registered device and the state its files share.
///
/// # Invariants
///
/// Every `MiscDeviceRegistration<OpenFile>` in the kernel is the `misc` field of an
/// `L4LogModule`: this type's `init` is the only place one is created.
#[pin_data]
struct L4LogModule {
    // Declared first so that it is dropped first: no file can be opened once `log` goes.
    #[pin]
    misc: MiscDeviceRegistration<OpenFile>,
    log: Arc<L4Log>,
}

impl kernel::InPlaceModule for L4LogModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // `log` is written before `misc` registers the device, so an open right after
        // registration finds it.
        try_pin_init!(Self {
            log: Arc::new(L4Log { host: HostLog::open(host_channel())? }, GFP_KERNEL)?,
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: DEVICE_NAME }),
        })
    }
}

/// The `host_channel` parameter; `None` (-1, or any negative value) for the platform's default.
fn host_channel() -> l4bridge::Address {
    Some(*module_parameters::host_channel.value()).filter(|address| *address >= 0)
}

impl L4LogModule {
    /// The state shared by the files of the device that `misc` registered; for `open`.
    fn shared(misc: &MiscDeviceRegistration<OpenFile>) -> Arc<L4Log> {
        let misc: *const MiscDeviceRegistration<OpenFile> = misc;
        // SAFETY: by the type invariant `misc` is the `misc` field of an `L4LogModule`. That
        // module is alive: this runs in an `->open`, which `misc_open` calls under `misc_mtx`,
        // and dropping the module first deregisters `misc`, which takes `misc_mtx`.
        let module = unsafe { &*kernel::container_of!(misc, L4LogModule, misc) };
        module.log.clone()
    }
}
