// SPDX-License-Identifier: GPL-2.0

//! The module's devices: `/dev/l4log` and one `/dev/l4log-NAME` per named channel, each a misc
//! device with the state its open files share.
//!
//! Loading makes them in two passes, so that a load that fails leaves nothing behind and no
//! file can be opened on a module whose load then fails: first everything that can be refused
//! (each node's mode and group, each channel's host), then the registrations. Opens are
//! refused until the last of them is done ([`READY`]).

use crate::{
    channels::NodeAccess,
    file::OpenFile,
    l4bridge::{Address, HostLog},
    params,
    stamp::StampKind,
    L4Log,
};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    str::CString,
    sync::Arc,
};

/// Set once the module's `init` has done everything that can fail. Until then `open` refuses:
/// a module whose `init` fails is freed at once, whatever files are open.
static READY: AtomicBool = AtomicBool::new(false);

/// How to make one device.
pub(crate) struct DeviceSpec<'a> {
    /// The node's name under `/dev`.
    pub(crate) node: CString,
    /// Where its host log is.
    pub(crate) address: Address<'a>,
    pub(crate) access: NodeAccess,
    /// Its own `escape` and `rate_limit`; `None`: the module parameters'.
    pub(crate) escape: Option<bool>,
    pub(crate) rate_limit: Option<u32>,
    /// What it puts before each line.
    pub(crate) stamp: StampKind,
}

impl DeviceSpec<'_> {
    /// Says in the kernel log that the device's host channel cannot be had.
    fn report_no_host_channel(&self) {
        pr_err!(
            "/dev/{}: no host channel at {}\n",
            &*self.node,
            self.address
        );
    }
}

/// The registered devices of the loaded module; deregistered when dropped.
pub(crate) struct Devices {
    _registered: KVec<Pin<KBox<Device>>>,
}

impl Devices {
    /// Checks every device's mode and group and that no two write to the same host stream,
    /// opens every host channel, then registers every device: `specs` all, or none.
    pub(crate) fn register(specs: KVec<DeviceSpec<'_>>) -> Result<Self> {
        let mut streams = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for spec in &specs {
            params::check_node_access(&spec.node, spec.access)?;
            let stream =
                HostLog::resolve(spec.address).inspect_err(|_| spec.report_no_host_channel())?;
            if let Some(earlier) = streams
                .iter()
                .position(|other| HostLog::same_stream(other, &stream))
            {
                pr_err!(
                    "/dev/{} ({}) and /dev/{} ({}) write to the same host stream: one stream, one device\n",
                    &*specs[earlier].node,
                    streams[earlier],
                    &*spec.node,
                    stream
                );
                return Err(EINVAL);
            }
            streams.push(stream, GFP_KERNEL)?;
        }
        let mut logs = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for spec in &specs {
            let host =
                HostLog::open(spec.address).inspect_err(|_| spec.report_no_host_channel())?;
            let log = L4Log::new(host, spec.escape, spec.rate_limit, spec.stamp)?;
            logs.push(Arc::pin_init(log, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        let mut devices = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for (spec, log) in specs.into_iter().zip(logs) {
            devices.push(
                KBox::pin_init(Device::new(spec, log), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        READY.store(true, Ordering::Release);
        Ok(Self {
            _registered: devices,
        })
    }
}

/// One registered device and the state its open files share.
///
/// # Invariants
///
/// Every `MiscDeviceRegistration<OpenFile>` in the kernel is the `misc` field of a `Device`:
/// [`Device::new`] is the only place one is made.
#[pin_data]
pub(crate) struct Device {
    // Declared first so that it is dropped first: no file can be opened once `log` goes, and
    // the registration no longer names `node`.
    #[pin]
    misc: MiscDeviceRegistration<OpenFile>,
    log: Arc<L4Log>,
    /// The node's name, which the registration points to while it lasts.
    node: CString,
}

impl Device {
    /// Registers a device named `spec.node` whose files share `log`, with `spec.access` (which
    /// [`params::check_node_access`] accepted).
    fn new(spec: DeviceSpec<'_>, log: Arc<L4Log>) -> impl PinInit<Self, Error> {
        let access = spec.access;
        try_pin_init!(Self {
            node: spec.node,
            log,
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions {
                // SAFETY: the name lives in `node`'s own allocation, which does not move with
                // the `CString` and is freed only when `node` is dropped: after `misc`, which
                // is declared before it and, should a later step of this initializer fail, is
                // dropped first as the last field made. So it outlives the registration,
                // which is all that uses the name.
                name: unsafe { &*core::ptr::from_ref::<CStr>(&**node) },
            }),
            _: {
                params::apply_node_access(&misc, access)?;
            },
        })
    }

    /// The state shared by the files of the device that `misc` registered, for `open`; `None`
    /// until the module's `init` has succeeded.
    pub(crate) fn shared(misc: &MiscDeviceRegistration<OpenFile>) -> Option<Arc<L4Log>> {
        if !READY.load(Ordering::Acquire) {
            return None;
        }
        let misc: *const MiscDeviceRegistration<OpenFile> = misc;
        // SAFETY: by the type invariant `misc` is the `misc` field of a `Device`. That device
        // is initialized and no longer written: `READY` is set (with release ordering, read
        // above with acquire) as the last step of the module's `init`, after every device was
        // made. It is alive: this runs in an `->open`, which `misc_open` calls under
        // `misc_mtx`, and dropping the device first deregisters `misc`, which takes `misc_mtx`.
        let device = unsafe { &*kernel::container_of!(misc, Device, misc) };
        Some(device.log.clone())
    }
}
