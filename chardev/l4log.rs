// SPDX-License-Identifier: GPL-2.0

//! l4log: `/dev/l4log`, a misc character device whose writes go to the host's log.
//!
//! `echo hello > /dev/l4log` in the guest puts `hello\n` into the log of the host the kernel runs
//! on: the L4Re log (and serial console) under L4Linux, QEMU's debug console elsewhere. Each
//! open file sends whole lines, with control bytes shown escaped unless `escape=N`; see
//! `file.rs` for the write semantics, `params.rs` for the parameters and `../l4bridge` for
//! the host side.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{prelude::*, str::CString};

#[path = "../l4bridge/mod.rs"]
mod l4bridge;

mod channels;
mod device;
mod emit;
mod escape;
mod file;
mod lines;
mod owner;
mod params;
mod stamp;
#[cfg(CONFIG_L4LOG_KUNIT_TEST)]
mod tests;
mod throttle;
mod turn;
mod waiting;
mod words;

use channels::{ChannelSpec, NodeAccess};
use device::{Device, DeviceSpec, Devices};
use emit::{EmitError, Emitter, Pace, Stamping, Toll};
use l4bridge::{Address, HostLog};
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

/// The default device's node, under /dev; a named channel's is `l4log-NAME`.
const DEVICE_NAME: &CStr = c"l4log";

/// What every open file of one device (one channel) shares. Nothing of it is shared with
/// another channel: a writer that waits for one channel's host or rate limit holds nothing
/// another channel's writers need.
#[pin_data]
pub(crate) struct L4Log {
    /// The host's log channel.
    pub(crate) host: HostLog,
    /// The channel's own `escape`; `None`: the module parameter's, at each write.
    escape: Option<bool>,
    /// What the channel puts before each line.
    pub(crate) stamp: stamp::StampKind,
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
    fn new(
        host: HostLog,
        escape: Option<bool>,
        rate_limit: Option<u32>,
        stamp: stamp::StampKind,
    ) -> Result<impl PinInit<Self, Error>> {
        let emitter = Emitter::new()?;
        Ok(try_pin_init!(Self {
            host,
            escape,
            stamp,
            emitter <- Turn::new(emitter, turn_class!("l4log_emitter")),
            throttle <- Throttle::new(rate_limit),
            counts: Counts::default(),
        }? Error))
    }

    /// Whether control bytes are to be shown escaped on this channel now.
    pub(crate) fn escape(&self) -> bool {
        self.escape.unwrap_or_else(params::escape)
    }

    /// Sends `text`, the held bytes that `ready` describes, to the host at once: no other
    /// file's text comes between its bytes. Escaped when `escape` is set, stamped as
    /// `stamping` says on a stamped channel. Waits for the other files' sends, for a full
    /// host channel and for the rate limit (each host call is paid for before it goes) as
    /// `waiting` allows.
    pub(crate) fn emit(
        &self,
        text: &[u8],
        ready: Ready,
        escape: bool,
        stamping: Option<&Stamping>,
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
        let mut toll = RateToll {
            throttle: &self.throttle,
            waiting,
            turn: &self.emitter,
        };
        let pace = Pace {
            patience: &mut patience,
            toll: &mut toll,
        };
        let sent = match stamping {
            None => emitter.emit(&self.host, text, ready.plain, escape, pace),
            Some(stamping) => {
                emitter.emit_stamped(&self.host, text, ready.plain, escape, stamping, pace)
            }
        };
        drop(emitter);
        let lines_sent = match &sent {
            Ok(()) => ready.lines,
            Err(failed) => words::newlines(&text[..failed.consumed]).count,
        };
        Counts::add(&self.counts.lines, lines_sent);
        sent
    }
}

/// The rate limit's toll on a send that holds `turn`: every byte a host call puts on the host
/// is paid before the call goes.
struct RateToll<'a, T> {
    throttle: &'a Throttle,
    waiting: Waiting,
    turn: &'a Turn<T>,
}

impl<T> Toll for RateToll<'_, T> {
    fn pay(&mut self, bytes: usize) -> Result<usize> {
        self.throttle.pay(bytes, self.waiting, self.turn)
    }

    fn refund(&mut self, bytes: usize) {
        self.throttle.refund(bytes);
    }
}

/// The loaded module: its devices, `/dev/l4log` first.
struct L4LogModule {
    _devices: Devices,
}

impl kernel::Module for L4LogModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let text = params::channels()?;
        let text = core::str::from_utf8(&text).map_err(|_| {
            pr_err!("channels: not text\n");
            EINVAL
        })?;
        let channels = channels::parse(text)?;
        let mut specs = KVec::with_capacity(channels.len() + 1, GFP_KERNEL)?;
        specs.push(default_device()?, GFP_KERNEL)?;
        for channel in &channels {
            specs.push(named_device(channel)?, GFP_KERNEL)?;
        }
        Ok(Self {
            _devices: Devices::register(specs)?,
        })
    }
}

/// `/dev/l4log`: the module parameters' device.
fn default_device() -> Result<DeviceSpec<'static>> {
    Ok(DeviceSpec {
        node: CString::try_from_fmt(fmt!("{DEVICE_NAME}"))?,
        address: host_channel(),
        access: params::node_access(),
        escape: None,
        rate_limit: None,
        stamp: params::stamp()?,
    })
}

/// `/dev/l4log-NAME`: a named channel's device; what the channel does not set comes from the
/// module parameters.
fn named_device<'a>(channel: &ChannelSpec<'a>) -> Result<DeviceSpec<'a>> {
    let defaults = params::node_access();
    Ok(DeviceSpec {
        node: CString::try_from_fmt(fmt!("{DEVICE_NAME}-{}", channel.name))?,
        address: channel.address,
        access: NodeAccess {
            mode: channel.mode.unwrap_or(defaults.mode),
            group: channel.group.unwrap_or(defaults.group),
        },
        escape: channel.escape,
        rate_limit: channel.rate_limit,
        stamp: match channel.stamp {
            Some(stamp) => stamp,
            None => params::stamp()?,
        },
    })
}

/// The `host_channel` parameter: `/dev/l4log`'s host channel; any negative value (-1) for the
/// platform's default.
fn host_channel() -> Address<'static> {
    match *module_parameters::host_channel.value() {
        channel if channel >= 0 => Address::Number(channel),
        _ => Address::Default,
    }
}
