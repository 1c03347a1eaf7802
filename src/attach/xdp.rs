//! XDP programs (`BPF_PROG_TYPE_XDP`, `SEC("xdp")`, `SEC("xdp.frags")`) on a network
//! interface: the program sees each frame the interface receives, before the stack
//! allocates an skb for it (driver mode) or on the skb (generic mode), and says what becomes
//! of it (`XDP_PASS`, `XDP_DROP`, `XDP_TX`, `XDP_REDIRECT`).
//!
//! ABI, two ways, the first where a probe says the kernel has it:
//! - A BPF link (5.9): `BPF_LINK_CREATE` with `link_create.target_ifindex` and attach type
//!   `BPF_XDP`, `link_create.flags` the mode (`include/uapi/linux/bpf.h`; the kernel's side
//!   is `bpf_xdp_link_attach` in `net/core/dev.c`). The program stays while the link fd is
//!   open; the kernel refuses (`EBUSY`) if the interface holds a program in that mode
//!   already, however it was attached.
//! - rtnetlink (2.6-era `ip link set dev X xdp`; generic mode 4.12): `RTM_SETLINK` with the
//!   nest `IFLA_XDP { IFLA_XDP_FD, IFLA_XDP_FLAGS, IFLA_XDP_EXPECTED_FD }`
//!   (`include/uapi/linux/if_link.h`, `include/uapi/linux/rtnetlink.h`; `do_setlink` and
//!   `dev_change_xdp_fd` in the kernel). Such a program stays until someone removes it:
//!   the [`Link`] does on drop, with `XDP_FLAGS_REPLACE` and `IFLA_XDP_EXPECTED_FD` (5.7) =
//!   its own program, so that it never removes a program someone attached in its place.
//!
//! Modes (`XDP_FLAGS_*`, if_link.h): generic (`XDP_FLAGS_SKB_MODE`, any interface), driver
//! (`XDP_FLAGS_DRV_MODE`, drivers with native XDP: veth, virtio_net, mlx5, ...), offload
//! (`XDP_FLAGS_HW_MODE`, NICs that run BPF: nfp), or none: the kernel picks driver mode
//! where the driver has it, else generic. An interface holds one program per mode.
//!
//! Replacing: this loader never takes the place of a program silently. Without
//! [`XdpOptions::replace`], the netlink way sends `XDP_FLAGS_UPDATE_IF_NOEXIST` and a
//! program already there is refused with [`AttachError::AlreadyAttached`] (`EBUSY`), as the
//! BPF link way is by the kernel itself. With it, the request carries `XDP_FLAGS_REPLACE`
//! and `IFLA_XDP_EXPECTED_FD`: the new program takes the place of exactly that one, and
//! if another is attached by then the kernel refuses (`EEXIST`). A BPF link cannot take
//! another program's place (`BPF_LINK_UPDATE` replaces a link's own program): a replace
//! goes through rtnetlink, on every kernel.
//!
//! What the others do: libbpf's `bpf_xdp_attach` (`tools/lib/bpf/netlink.c`) is the
//! netlink way, with `opts.old_prog_fd` for the replace, `bpf_xdp_detach` and
//! `bpf_xdp_query` beside it; its `bpf_program__attach_xdp` is the BPF link way alone.
//! cilium/ebpf's `link.AttachXDP` makes a BPF link only (5.9+, `ErrNotSupported` before);
//! aya's `Xdp::attach` makes a link where the kernel can, else uses netlink, as here.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;

use super::netlink::{self, netlink_error, open_socket, Failure};
use super::tc::interface_index;
use super::{AttachError, AttachMethod, AttachOptions, Link, Probe, Via};
use crate::load::Program;
use crate::syscall::{self, SysError};
use crate::uapi::AttachType;

/// Where on the interface the program runs (`XDP_FLAGS_*_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// No mode flag: the kernel picks driver mode where the driver has native XDP, else
    /// generic.
    #[default]
    Default,
    /// `XDP_FLAGS_SKB_MODE`: generic XDP, on the skb, after the driver: any interface.
    Generic,
    /// `XDP_FLAGS_DRV_MODE`: native XDP in the driver, before any skb is made.
    Driver,
    /// `XDP_FLAGS_HW_MODE`: offloaded to the NIC (the program must have been loaded for
    /// that device).
    Offload,
}

impl XdpMode {
    /// The mode's `XDP_FLAGS_*` bit (0 for the default).
    fn flags(self) -> u32 {
        match self {
            XdpMode::Default => 0,
            XdpMode::Generic => netlink::XDP_FLAGS_SKB_MODE,
            XdpMode::Driver => netlink::XDP_FLAGS_DRV_MODE,
            XdpMode::Offload => netlink::XDP_FLAGS_HW_MODE,
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Default => "default",
            XdpMode::Generic => "generic",
            XdpMode::Driver => "driver",
            XdpMode::Offload => "offload",
        })
    }
}

impl std::str::FromStr for XdpMode {
    type Err = String;

    fn from_str(s: &str) -> Result<XdpMode, String> {
        match s {
            "default" => Ok(XdpMode::Default),
            "generic" | "skb" => Ok(XdpMode::Generic),
            "driver" | "drv" | "native" => Ok(XdpMode::Driver),
            "offload" | "hw" => Ok(XdpMode::Offload),
            _ => Err(format!(
                "{s:?} is not an XDP mode (default, generic, driver or offload)"
            )),
        }
    }
}

/// How to attach an XDP program.
#[derive(Debug, Clone, Copy, Default)]
pub struct XdpOptions<'a> {
    /// The mode.
    pub mode: XdpMode,
    /// The program to take the place of (attached in the same mode, by anyone, with
    /// rtnetlink): the kernel swaps them at once, and refuses if that program is no
    /// longer the one attached. `None`: refuse if any program is attached.
    pub replace: Option<&'a Program>,
}

/// An interface's XDP programs, as `ip link show` reads them (`IFLA_XDP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XdpInfo {
    /// The generic-mode program's id.
    pub generic: Option<u32>,
    /// The driver-mode program's id.
    pub driver: Option<u32>,
    /// The offloaded program's id.
    pub offload: Option<u32>,
}

impl XdpInfo {
    /// Is any program attached?
    pub fn is_empty(&self) -> bool {
        *self == XdpInfo::default()
    }

    /// The program attached in `mode` (for [`XdpMode::Default`]: in any mode).
    pub fn program(&self, mode: XdpMode) -> Option<u32> {
        match mode {
            XdpMode::Default => self.driver.or(self.generic).or(self.offload),
            XdpMode::Generic => self.generic,
            XdpMode::Driver => self.driver,
            XdpMode::Offload => self.offload,
        }
    }
}

/// `XDP_ATTACHED_*` of `IFLA_XDP_ATTACHED` (if_link.h).
const XDP_ATTACHED_DRV: u8 = 1;
const XDP_ATTACHED_SKB: u8 = 2;
const XDP_ATTACHED_HW: u8 = 3;

/// Does this kernel make XDP BPF links (5.9)? As libbpf's `probe_perf_link`, without a
/// program: `BPF_LINK_CREATE` with attach type `BPF_XDP` and program fd -1 gets `EBADF`
/// where the kernel knows the attach type (it went on to look the program up), `EINVAL`
/// where it does not (and before 5.7, where there is no `BPF_LINK_CREATE` at all).
pub fn links_supported() -> bool {
    static CELL: OnceLock<bool> = OnceLock::new();
    syscall::probe_once(
        &CELL,
        || matches!(syscall::link_create_probe(AttachType::XDP), Err(e) if e.errno == libc::EBADF),
    )
}

/// The XDP programs on interface `interface` (a name or an index): `RTM_GETLINK` and
/// its `IFLA_XDP` nest.
pub fn query(interface: &str) -> Result<XdpInfo, AttachError> {
    let ifindex = interface_index(interface)?;
    let target = format!("the XDP programs of ifindex {ifindex}");
    let mut socket = open_socket(&target)?;
    let seq = socket.next_seq();
    let messages = socket
        .request(&netlink::get_link(ifindex as i32, seq), seq)
        .map_err(|failure| netlink_error(&target, "RTM_GETLINK", failure))?;
    let mut info = XdpInfo::default();
    for message in messages {
        if message.msg_type != netlink::RTM_NEWLINK {
            continue;
        }
        let state = netlink::parse_link_xdp(&message.payload)
            .map_err(|m| netlink_error(&target, "RTM_GETLINK", Failure::Malformed(m)))?;
        if state.ifindex as u32 != ifindex {
            continue;
        }
        // One mode: IFLA_XDP_PROG_ID and ATTACHED say which. Several (XDP_ATTACHED_MULTI):
        // the per-mode ids.
        let single = |mode| (state.attached == mode).then_some(state.prog_id).flatten();
        info.generic = state.skb_prog_id.or(single(XDP_ATTACHED_SKB));
        info.driver = state.drv_prog_id.or(single(XDP_ATTACHED_DRV));
        info.offload = state.hw_prog_id.or(single(XDP_ATTACHED_HW));
    }
    Ok(info)
}

/// Attaches an XDP program to interface `interface` (a name, `eth0`, or an index): as a
/// BPF link where the kernel has them (5.9) unless [`AttachOptions::force_xdp_netlink`]
/// or a [`XdpOptions::replace`], else with rtnetlink. A program already attached in that
/// mode is refused with [`AttachError::AlreadyAttached`], unless it is the one
/// [`XdpOptions::replace`] names. [`Link::method`] says which way was taken; dropping the
/// link detaches the program.
pub fn attach(
    prog: &Program,
    interface: &str,
    xdp: &XdpOptions<'_>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let ifindex = interface_index(interface)?;
    let target = if interface.parse::<u32>().is_ok() {
        format!("XDP ({}) of ifindex {ifindex}", xdp.mode)
    } else {
        format!("XDP ({}) of {interface} (ifindex {ifindex})", xdp.mode)
    };
    if !opts.force_xdp_netlink && xdp.replace.is_none() && links_supported() {
        return attach_link(prog, ifindex, xdp.mode, target);
    }
    attach_netlink(prog, ifindex, xdp, target)
}

/// The BPF link way: `BPF_LINK_CREATE` with `BPF_XDP`.
fn attach_link(
    prog: &Program,
    ifindex: u32,
    mode: XdpMode,
    target: String,
) -> Result<Link, AttachError> {
    match syscall::link_create_ifindex(prog.as_fd(), ifindex, AttachType::XDP, mode.flags()) {
        Ok(fd) => Ok(Link::of_bpf_link(
            AttachMethod {
                probe: Probe::Xdp,
                via: Via::BpfLink,
            },
            target,
            fd,
        )),
        Err(error) if error.errno == libc::EBUSY => Err(AttachError::AlreadyAttached {
            target,
            error,
            message: None,
        }),
        Err(error) => Err(AttachError::Sys { target, error }),
    }
}

/// The rtnetlink way: `RTM_SETLINK` with `IFLA_XDP`; the link holds a copy of the
/// program's fd, to remove exactly that program later.
fn attach_netlink(
    prog: &Program,
    ifindex: u32,
    xdp: &XdpOptions<'_>,
    target: String,
) -> Result<Link, AttachError> {
    let (flags, expected) = match xdp.replace {
        Some(old) => (
            xdp.mode.flags() | netlink::XDP_FLAGS_REPLACE,
            Some(old.as_fd().as_raw_fd()),
        ),
        None => (
            xdp.mode.flags() | netlink::XDP_FLAGS_UPDATE_IF_NOEXIST,
            None,
        ),
    };
    let own = prog
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| AttachError::Sys {
            target: target.clone(),
            error: SysError::new("dup(program fd)", e.raw_os_error().unwrap_or(libc::EBADF)),
        })?;
    let mut socket = open_socket(&target)?;
    let seq = socket.next_seq();
    let request = netlink::set_xdp(ifindex as i32, own.as_raw_fd(), flags, expected, seq);
    match socket.request(&request, seq) {
        Ok(_) => {}
        Err(Failure::Refused { errno, message })
            if errno == libc::EBUSY || errno == libc::EEXIST =>
        {
            return Err(AttachError::AlreadyAttached {
                target,
                error: SysError::new("RTM_SETLINK", errno),
                message,
            })
        }
        Err(failure) => return Err(netlink_error(&target, "RTM_SETLINK", failure)),
    }
    Ok(Link {
        method: AttachMethod {
            probe: Probe::Xdp,
            via: Via::NetlinkXdp,
        },
        target,
        bpf_link: None,
        perf_event: None,
        kprobe: None,
        owned: Some(Box::new(XdpGuard {
            ifindex,
            mode: xdp.mode,
            prog: Some(own),
        })),
    })
}

/// An XDP program set with rtnetlink: removed on drop, if it is still the one attached.
#[derive(Debug)]
pub(crate) struct XdpGuard {
    ifindex: u32,
    mode: XdpMode,
    /// The program (a copy of its fd): what `IFLA_XDP_EXPECTED_FD` names. `None` once
    /// removed.
    prog: Option<OwnedFd>,
}

impl XdpGuard {
    pub(crate) fn remove(mut self) -> Result<(), AttachError> {
        self.remove_now()
    }

    fn remove_now(&mut self) -> Result<(), AttachError> {
        let Some(prog) = self.prog.take() else {
            return Ok(());
        };
        let target = format!("XDP ({}) of ifindex {}", self.mode, self.ifindex);
        let mut socket = open_socket(&target)?;
        let seq = socket.next_seq();
        let request = netlink::set_xdp(
            self.ifindex as i32,
            -1,
            self.mode.flags() | netlink::XDP_FLAGS_REPLACE,
            Some(prog.as_raw_fd()),
            seq,
        );
        match socket.request(&request, seq) {
            Ok(_) => Ok(()),
            // Someone else's program is there now (EEXIST: "Active program does not match
            // expected"), or the interface is gone with ours (ENODEV): nothing of ours left.
            Err(Failure::Refused { errno, .. })
                if errno == libc::EEXIST || errno == libc::ENODEV =>
            {
                Ok(())
            }
            Err(failure) => Err(netlink_error(&target, "RTM_SETLINK", failure)),
        }
    }
}

impl Drop for XdpGuard {
    fn drop(&mut self) {
        let _ = self.remove_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_have_their_flags_and_names() {
        assert_eq!(XdpMode::Default.flags(), 0);
        assert_eq!(XdpMode::Generic.flags(), 1 << 1);
        assert_eq!(XdpMode::Driver.flags(), 1 << 2);
        assert_eq!(XdpMode::Offload.flags(), 1 << 3);
        for mode in [
            XdpMode::Default,
            XdpMode::Generic,
            XdpMode::Driver,
            XdpMode::Offload,
        ] {
            assert_eq!(mode.to_string().parse::<XdpMode>(), Ok(mode));
        }
        assert_eq!("skb".parse::<XdpMode>(), Ok(XdpMode::Generic));
        assert!("fast".parse::<XdpMode>().is_err());
    }

    #[test]
    fn an_info_finds_the_program_of_each_mode() {
        let info = XdpInfo {
            generic: Some(3),
            driver: None,
            offload: None,
        };
        assert!(!info.is_empty());
        assert_eq!(info.program(XdpMode::Generic), Some(3));
        assert_eq!(info.program(XdpMode::Driver), None);
        assert_eq!(info.program(XdpMode::Default), Some(3));
        assert!(XdpInfo::default().is_empty());
    }
}
