// SPDX-License-Identifier: GPL-2.0

//! l4log: `/dev/l4log`, a misc character device whose writes go to the host's log.
//!
//! `echo hello > /dev/l4log` in the guest puts `hello\n` into the log of the host the kernel runs
//! on: the L4Re log (and serial console) under L4Linux, QEMU's debug console elsewhere. Each
//! open file sends whole lines, with control bytes shown escaped unless `escape=N`; see
//! `file.rs` for the write semantics, `params.rs` for the parameters and `../l4bridge` for
//! the host side.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

#[path = "../l4bridge/mod.rs"]
mod l4bridge;

mod emit;
mod escape;
mod file;
mod lines;
mod owner;
mod params;
#[cfg(CONFIG_L4LOG_KUNIT_TEST)]
mod tests;
mod throttle;
mod words;

use emit::{EmitError, Emitter};
use file::OpenFile;
use l4bridge::HostLog;
use lines::Ready;
use throttle::Throttle;

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
#[pin_data]
pub(crate) struct L4Log {
    /// The host's log channel.
    pub(crate) host: HostLog,
    /// Held while text goes to the host, so that text sent at once stays together.
    #[pin]
    emitter: Mutex<Emitter>,
    /// The `rate_limit` parameter at work.
    #[pin]
    pub(crate) throttle: Throttle,
    /// Counters shown in fdinfo, beside the host log's own.
    pub(crate) counts: Counts,
}

/// What the device's writers have done since the module was loaded.
#[derive(Default)]
pub(crate) struct Counts {
    /// Bytes writes returned as written.
    pub(crate) bytes: AtomicU64,
    /// `write` calls, failed ones included.
    pub(crate) writes: AtomicU64,
    /// Newlines sent to the host.
    pub(crate) lines: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64, count: usize) {
        counter.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// The counters' values now: bytes, writes, lines.
    pub(crate) fn read(&self) -> [u64; 3] {
        [&self.bytes, &self.writes, &self.lines].map(|counter| counter.load(Ordering::Relaxed))
    }
}

impl L4Log {
    fn new(host: HostLog) -> Result<impl PinInit<Self, Error>> {
        let emitter = Emitter::new()?;
        Ok(try_pin_init!(Self {
            host,
            emitter <- new_mutex!(emitter),
            throttle <- Throttle::new(),
            counts: Counts::default(),
        }? Error))
    }

    /// Sends `text`, the held bytes that `ready` describes, to the host at once: no other
    /// file's text comes between its bytes. Escaped when `escape` is set.
    pub(crate) fn emit(&self, text: &[u8], ready: Ready, escape: bool) -> Result<(), EmitError> {
        let sent = self
            .emitter
            .lock()
            .emit(&self.host, text, ready.plain, escape);
        let lines_sent = match &sent {
            Ok(()) => ready.lines,
            Err(failed) => words::newlines(&text[..failed.consumed]).count,
        };
        Counts::add(&self.counts.lines, lines_sent);
        sent
    }
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
            log: Arc::pin_init(L4Log::new(HostLog::open(host_channel())?)?, GFP_KERNEL)?,
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: DEVICE_NAME }),
            _: {
                params::apply_node_access(&misc)?;
            },
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
