//! `BPF_PROG_ATTACH` and `BPF_PROG_DETACH`: a program attached to a target that is no BPF
//! link, the way of cgroup programs before BPF links (5.7) and of sockmap programs before
//! theirs (6.10); and `fstatfs(2)`, which tells a cgroup v2 directory from any other.
//!
//! ABI: the `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` member of `union bpf_attr` (`target_fd`,
//! `attach_bpf_fd`, `attach_type`, `attach_flags`, `replace_bpf_fd`) and the flags
//! `BPF_F_ALLOW_OVERRIDE`, `BPF_F_ALLOW_MULTI` in `include/uapi/linux/bpf.h`; what each
//! flag means for a cgroup in `kernel/bpf/cgroup.c` (`__cgroup_bpf_attach`); the
//! filesystem magic numbers in `include/uapi/linux/magic.h`.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::bpf::{BPF_PROG_ATTACH, BPF_PROG_DETACH};
use super::SysError;

/// `BPF_F_ALLOW_MULTI` (4.15): this program runs beside the others attached to the cgroup
/// with the same flag, instead of replacing them; a cgroup's descendants run theirs too.
pub const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// `CGROUP2_SUPER_MAGIC`: `f_type` of a cgroup v2 directory.
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// `CGROUP_SUPER_MAGIC`: `f_type` of a cgroup v1 directory.
pub const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// `BPF_PROG_ATTACH` and `BPF_PROG_DETACH`'s part of `union bpf_attr`, up to
/// `replace_bpf_fd` (5.6; 0 here: replace nothing).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct ProgAttachAttr {
    /// The cgroup directory's fd, or the sockmap's.
    pub(crate) target_fd: u32,
    /// The program.
    pub(crate) attach_bpf_fd: u32,
    pub(crate) attach_type: u32,
    pub(crate) attach_flags: u32,
    pub(crate) replace_bpf_fd: u32,
}

fn attr(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: crate::uapi::AttachType,
    flags: u32,
) -> ProgAttachAttr {
    ProgAttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: attach_type.0,
        attach_flags: flags,
        replace_bpf_fd: 0,
    }
}

/// Attaches `prog` to `target` (a cgroup directory or a sockmap) as `attach_type`, with
/// `flags` (`BPF_F_ALLOW_MULTI` for a cgroup; 0 for a sockmap). The attachment stays until
/// [`prog_detach`] (or the cgroup or map is freed): no fd holds it.
pub fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: crate::uapi::AttachType,
    flags: u32,
) -> Result<(), SysError> {
    let mut attr = attr(target, prog, attach_type, flags);
    super::bpf::sys_bpf("BPF_PROG_ATTACH", BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches exactly `prog` from `target` (`attach_bpf_fd` names it: the other programs
/// attached there with `BPF_F_ALLOW_MULTI` stay).
pub fn prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: crate::uapi::AttachType,
) -> Result<(), SysError> {
    let mut attr = attr(target, prog, attach_type, 0);
    super::bpf::sys_bpf("BPF_PROG_DETACH", BPF_PROG_DETACH, &mut attr).map(drop)
}

/// `BPF_PROG_ATTACH` in the calling thread's network namespace (the flow dissector: the
/// kernel takes the namespace from the caller and refuses any `target_fd` but 0 with
/// `EINVAL`; a caller attaching to another namespace `setns`es into it first).
pub fn prog_attach_own_netns(
    prog: BorrowedFd<'_>,
    attach_type: crate::uapi::AttachType,
) -> Result<(), SysError> {
    let mut attr = ProgAttachAttr {
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: attach_type.0,
        ..Default::default()
    };
    super::bpf::sys_bpf("BPF_PROG_ATTACH", BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// `BPF_PROG_DETACH` of exactly `prog` in the calling thread's network namespace (5.8+: the
/// kernel detaches it only if it is the program attached there, `ENOENT` otherwise).
pub fn prog_detach_own_netns(
    prog: BorrowedFd<'_>,
    attach_type: crate::uapi::AttachType,
) -> Result<(), SysError> {
    let mut attr = ProgAttachAttr {
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: attach_type.0,
        ..Default::default()
    };
    super::bpf::sys_bpf("BPF_PROG_DETACH", BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The filesystem type (`f_type` of `fstatfs(2)`) of the file `fd` is open on.
pub fn filesystem_magic(fd: BorrowedFd<'_>) -> Result<i64, SysError> {
    // SAFETY: statfs is plain old data; all zero is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the length of the borrow; `stat` is a live, exclusively
    // borrowed struct the kernel fills.
    let rc = unsafe { libc::fstatfs(fd.as_raw_fd(), &mut stat) };
    if rc != 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return Err(SysError::new("fstatfs", errno));
    }
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86-64, not everywhere
    Ok(stat.f_type as i64)
}
