// SPDX-License-Identifier: GPL-2.0

//! l4log: `/dev/l4log`, a misc character device whose writes go to the host's log.
//!
//! `echo hello > /dev/l4log` in the guest puts `hello\n` into the log of the host the kernel runs
//! on: the L4Re log (and serial console) under L4Linux, QEMU's debug console elsewhere. Each
//! open file sends whole lines, with control bytes shown escaped unless `escape=N`; see
//! `file.rs` for the write semantics, `params.rs` for the parameters and `../l4bridge` for
//! the host side.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    sync::Arc,
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
mod turn;
mod waiting;
mod words;

use emit::{EmitError, Emitter};
use file::OpenFile;
use l4bridge::HostLog;
use lines::Ready;
use throttle::Throttle;
use turn::{turn_class, Turn};
use waiting::{HostPatience, Waiting};

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
    /// Held while text goes to the host, so that text sent at once stays together; for as long
    /// as the host takes, and waited for interruptibly.
    #[pin]
    emitter: Turn<Emitter>,
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
    /// Bytes writes returned as written that a close could not send: the host failed, or did
    /// not take them within [`waiting::CLOSE_WAIT`].
    pub(crate) dropped: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64, count: usize) {
        counter.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// The counters' values now: bytes, writes, lines, dropped.
    pub(crate) fn read(&self) -> [u64; 4] {
        [&self.bytes, &self.writes, &self.lines, &self.dropped]
            .map(|counter| counter.load(Ordering::Relaxed))
    }
}

impl L4Log {
    fn new(host: HostLog) -> Result<impl PinInit<Self, Error>> {
        let emitter = Emitter::new()?;
        Ok(try_pin_init!(Self {
            host,
            emitter <- Turn::new(emitter, turn_class!("l4log_emitter")),
            throttle <- Throttle::new(),
            counts: Counts::default(),
        }? Error))
    }

    /// Sends `text`, the held bytes that `ready` describes, to the host at once: no other
    /// file's text comes between its bytes. Escaped when `escape` is set. Waits for the other
    /// files' sends and for a full host channel as `waiting` allows.
    pub(crate) fn emit(
        &self,
        text: &[u8],
        ready: Ready,
        escape: bool,
        waiting: Waiting,
    ) -> Result<(), EmitError> {
        let mut emitter = self
            .emitter
            .take(waiting)
            .map_err(|error| EmitError { consumed: 0, error })?;
        let mut patience = HostPatience {
            waiting,
            turn: &self.emitter,
        };
        let sent = emitter.emit(&self.host, text, ready.plain, escape, &mut patience);
        drop(emitter);
        let lines_sent = match &sent {
            Ok(()) => ready.lines,
            Err(failed) => words::newlines(&text[..failed.consumed]).count,
        };
        Counts::add(&self.counts.lines, lines_sent);
        sent
    }
}

/// Set once the module's `init` has done everything that can fail. Until then `open` refuses:
/// a module whose `init` fails is freed at once, whatever files are open.
static READY: AtomicBool = AtomicBool::new(false);

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
        // Every parameter is checked before anything is made. `log` is written before `misc`
        // registers the device, and the device is `READY` for opens only after the last step
        // that can fail.
        try_pin_init!(Self {
            _: {
                params::check_node_access()?;
            },
            log: Arc::pin_init(L4Log::new(HostLog::open(host_channel())?)?, GFP_KERNEL)?,
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: DEVICE_NAME }),
            _: {
                params::apply_node_access(&misc)?;
                READY.store(true, Ordering::Release);
            },
        })
    }
}

/// The `host_channel` parameter; `None` (-1, or any negative value) for the platform's default.
fn host_channel() -> l4bridge::Address {
    Some(*module_parameters::host_channel.value()).filter(|address| *address >= 0)
}

impl L4LogModule {
    /// The state shared by the files of the device that `misc` registered, for `open`; `None`
    /// until the module's `init` has succeeded.
    fn shared(misc: &MiscDeviceRegistration<OpenFile>) -> Option<Arc<L4Log>> {
        if !READY.load(Ordering::Acquire) {
            return None;
        }
        let misc: *const MiscDeviceRegistration<OpenFile> = misc;
        // SAFETY: by the type invariant `misc` is the `misc` field of an `L4LogModule`. That
        // module is initialized and no longer written: `READY` is set (with release ordering,
        // read above with acquire) as the last step of its `init`, after every field. It is
        // alive: this runs in an `->open`, which `misc_open` calls under `misc_mtx`, and
        // dropping the module first deregisters `misc`, which takes `misc_mtx`.
        let module = unsafe { &*kernel::container_of!(misc, L4LogModule, misc) };
        Some(module.log.clone())
    }
}
