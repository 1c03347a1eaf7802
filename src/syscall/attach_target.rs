//! The `bpf(2)` commands that attach a program to a target named by a number rather than
//! by a perf event: a BPF link to a network interface (`link_create.target_ifindex`, XDP)
//! or to a network namespace (`link_create.target_fd`, `sk_lookup` and
//! `flow_dissector`), with the attach type's flags; and [`setns_net`], which moves the
//! calling thread into a network namespace for the flow dissector's older way,
//! `BPF_PROG_ATTACH` (before 5.8: `attach.rs`), which acts on the caller's own namespace.
//!
//! ABI: `union bpf_attr`'s `link_create` struct
//! (`include/uapi/linux/bpf.h`); for a namespace the kernel's side is
//! `kernel/bpf/net_namespace.c`, for XDP `bpf_xdp_link_attach` in `net/core/dev.c`;
//! `setns(2)`.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::bpf::{sys_bpf_fd, BPF_LINK_CREATE};
use super::SysError;
use crate::uapi::AttachType;

/// `BPF_LINK_CREATE`'s part of `union bpf_attr` up to `flags`: `target` is `target_fd`
/// or, in the same place, `target_ifindex`.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct LinkTargetAttr {
    pub(super) prog_fd: u32,
    pub(super) target: u32,
    pub(super) attach_type: u32,
    pub(super) flags: u32,
}

/// `BPF_LINK_CREATE` to a network interface (`target_ifindex`: XDP, 5.9) with the attach
/// type's `flags` (for XDP, one of the `XDP_FLAGS_*_MODE`, or none). Closing the returned
/// fd detaches the program.
pub fn link_create_ifindex(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: AttachType,
    flags: u32,
) -> Result<OwnedFd, SysError> {
    let mut attr = LinkTargetAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target: ifindex,
        attach_type: attach_type.0,
        flags,
    };
    sys_bpf_fd("BPF_LINK_CREATE", BPF_LINK_CREATE, &mut attr)
}

/// `BPF_LINK_CREATE` to the object `target` is an fd of (a network namespace for
/// `BPF_SK_LOOKUP` and `BPF_FLOW_DISSECTOR`, 5.8/5.9), without flags.
pub fn link_create_fd(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: AttachType,
) -> Result<OwnedFd, SysError> {
    let mut attr = LinkTargetAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target: target.as_raw_fd() as u32,
        attach_type: attach_type.0,
        flags: 0,
    };
    sys_bpf_fd("BPF_LINK_CREATE", BPF_LINK_CREATE, &mut attr)
}

/// `BPF_LINK_CREATE` with program fd -1 and `attach_type`, for feature probes (libbpf's
/// `probe_perf_link` trick): a kernel that can link that attach type answers `EBADF` (it
/// went on to look the program up), one that cannot answers `EINVAL`.
pub fn link_create_probe(attach_type: AttachType) -> Result<OwnedFd, SysError> {
    let mut attr = LinkTargetAttr {
        prog_fd: u32::MAX,
        target: 0,
        attach_type: attach_type.0,
        flags: 0,
    };
    sys_bpf_fd("BPF_LINK_CREATE", BPF_LINK_CREATE, &mut attr)
}

/// `setns(netns, CLONE_NEWNET)`: moves the calling thread (not the process) into the
/// network namespace `netns` (an fd of its `nsfs` file); `EINVAL` if it is no network
/// namespace.
pub fn setns_net(netns: BorrowedFd<'_>) -> Result<(), SysError> {
    let fd = netns.as_raw_fd();
    super::seam::call(super::seam::Call::SetnsNet { fd }, || {
        // SAFETY: setns takes an fd and flags; CLONE_NEWNET makes the kernel check that the
        // fd is a network namespace, and affects the calling thread only.
        i64::from(unsafe { libc::setns(fd, libc::CLONE_NEWNET) })
    })
    .map(drop)
    .map_err(|errno| SysError::new("setns(CLONE_NEWNET)", errno))
}
