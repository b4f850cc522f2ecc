// SPDX-License-Identifier: GPL-2.0

//! The `channels` parameter: the named channels, each a device `/dev/l4log-NAME` of its own
//! with its own host log stream.
//!
//! ```text
//! channels=SPEC[,SPEC...]
//! SPEC    = NAME[=ADDRESS][:KEY=VALUE...]
//! NAME    = 1 to 16 of A-Z a-z 0-9 _ -
//! ADDRESS = a number (decimal, or hexadecimal after 0x): qemu: an I/O port, uml: a host file
//!           descriptor; or a name: l4linux: a capability of the L4Linux task. Without one,
//!           the channel's NAME (on L4Linux, the capability of that name).
//! KEY     = mode (octal) | group (decimal) | escape (y/n) | rate_limit (bytes per second)
//!           | stamp (none, task, time, task+time)
//! ```
//!
//! A key a channel does not give takes the module-wide parameter of that name: `mode` and
//! `group` and `stamp` as the module was loaded, `escape` and `rate_limit` as they are at each
//! write (as for `/dev/l4log`). A channel given the key has its own value, fixed at load time.
//!
//! Anything else is refused with a message naming what is wrong: an empty or unknown name,
//! a name given twice, an unknown or repeated key, a value that does not parse. Two devices
//! that write to one host stream (`/dev/l4log`'s included: the same port, descriptor or
//! capability, however it is named) are refused when the module loads (`device.rs`).

use crate::{l4bridge::Address, stamp::StampKind};
use kernel::prelude::*;

/// The longest channel name: as long as an L4Re capability name (`l4re_env_cap_entry_t`).
pub(crate) const NAME_MAX: usize = 16;

/// A device's mode and group, for its node under `/dev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeAccess {
    pub(crate) mode: u16,
    pub(crate) group: u32,
}

/// One named channel, as the parameter describes it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChannelSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) address: Address<'a>,
    pub(crate) mode: Option<u16>,
    pub(crate) group: Option<u32>,
    pub(crate) escape: Option<bool>,
    pub(crate) rate_limit: Option<u32>,
    pub(crate) stamp: Option<StampKind>,
}

/// The channels that `text` (the `channels` parameter) describes, in its order; `EINVAL`, with
/// a message, when it is not a list of channel specifications.
pub(crate) fn parse(text: &str) -> Result<KVec<ChannelSpec<'_>>> {
    let mut channels = KVec::new();
    if text.is_empty() {
        return Ok(channels);
    }
    for spec in text.split(',') {
        let channel = parse_spec(spec)?;
        if let Some(other) = channels
            .iter()
            .find(|other: &&ChannelSpec<'_>| other.name == channel.name)
        {
            pr_err!("channels: the name {} is given twice\n", other.name);
            return Err(EINVAL);
        }
        channels.push(channel, GFP_KERNEL)?;
    }
    Ok(channels)
}

/// One channel's `NAME[=ADDRESS][:KEY=VALUE...]`.
fn parse_spec(spec: &str) -> Result<ChannelSpec<'_>> {
    let mut parts = spec.split(':');
    let head = parts.next().unwrap_or("");
    let (name, address) = match head.split_once('=') {
        Some((name, address)) => (name, Some(address)),
        None => (head, None),
    };
    check_name(name)?;
    let mut channel = ChannelSpec {
        name,
        address: match address {
            None => Address::Name(name),
            Some(address) => parse_address(name, address)?,
        },
        mode: None,
        group: None,
        escape: None,
        rate_limit: None,
        stamp: None,
    };
    for setting in parts {
        apply_setting(&mut channel, setting)?;
    }
    Ok(channel)
}

/// Refuses a name that is empty, too long, or has a byte other than `A-Z a-z 0-9 _ -`.
fn check_name(name: &str) -> Result {
    let allowed = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'-';
    if name.is_empty() || name.len() > NAME_MAX || !name.bytes().all(|byte| allowed(&byte)) {
        pr_err!(
            "channels: '{name}' is no channel name: 1 to {NAME_MAX} of A-Z, a-z, 0-9, '_' and '-'\n"
        );
        return Err(EINVAL);
    }
    Ok(())
}

/// A number when `address` starts with a digit, else a name.
fn parse_address<'a>(name: &str, address: &'a str) -> Result<Address<'a>> {
    if address.is_empty() {
        pr_err!("channels: {name}= names no address\n");
        return Err(EINVAL);
    }
    if !address.as_bytes()[0].is_ascii_digit() {
        return Ok(Address::Name(address));
    }
    let number = parse_number(address).ok_or_else(|| {
        pr_err!("channels: {name}={address}: not a number (decimal, or hexadecimal after 0x)\n");
        EINVAL
    })?;
    i64::try_from(number).map(Address::Number).map_err(|_| {
        pr_err!("channels: {name}={address}: too large\n");
        EINVAL
    })
}

/// `text` as an unsigned number: decimal, or hexadecimal after `0x`; digits only.
fn parse_number(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x") {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// One `KEY=VALUE` of a channel.
fn apply_setting(channel: &mut ChannelSpec<'_>, setting: &str) -> Result {
    let name = channel.name;
    let (key, value) = setting.split_once('=').ok_or_else(|| {
        pr_err!("channels: {name}: '{setting}' is not KEY=VALUE\n");
        EINVAL
    })?;
    let bad_value = |what: &str| {
        pr_err!("channels: {name}: {key}={value}: {what}\n");
        EINVAL
    };
    let given = match key {
        "mode" => channel
            .mode
            .replace(
                u16::from_str_radix(value, 8)
                    .ok()
                    .filter(|_| value.bytes().all(|byte| byte.is_ascii_digit()))
                    .ok_or_else(|| bad_value("not an octal mode"))?,
            )
            .is_some(),
        "group" => channel
            .group
            .replace(
                parse_decimal(value)
                    .and_then(|group| u32::try_from(group).ok())
                    .ok_or_else(|| bad_value("not a group id"))?,
            )
            .is_some(),
        "rate_limit" => channel
            .rate_limit
            .replace(
                parse_decimal(value)
                    .and_then(|rate| u32::try_from(rate).ok())
                    .ok_or_else(|| bad_value("not a number of bytes per second"))?,
            )
            .is_some(),
        "escape" => channel
            .escape
            .replace(parse_bool(value).ok_or_else(|| bad_value("not y or n"))?)
            .is_some(),
        "stamp" => channel
            .stamp
            .replace(
                StampKind::parse(value)
                    .ok_or_else(|| bad_value("not none, task, time or task+time"))?,
            )
            .is_some(),
        _ => {
            pr_err!(
                "channels: {name}: unknown key '{key}' (mode, group, escape, rate_limit, stamp)\n"
            );
            return Err(EINVAL);
        }
    };
    if given {
        pr_err!("channels: {name}: {key} is given twice\n");
        return Err(EINVAL);
    }
    Ok(())
}

/// `text` as a decimal number, digits only.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `y`, `Y`, `1` or `n`, `N`, `0`, as boolean module parameters take them.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "1" => Some(true),
        "n" | "N" | "0" => Some(false),
        _ => None,
    }
}
