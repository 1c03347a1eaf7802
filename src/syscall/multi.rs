//! `BPF_LINK_CREATE` for the multi-probes: one link that attaches a kprobe program to many
//! kernel functions (`BPF_TRACE_KPROBE_MULTI`, 5.18) or to many places of one user-space
//! binary (`BPF_TRACE_UPROBE_MULTI`, 6.6), each place with its own BPF cookie.
//!
//! ABI: the `kprobe_multi` and `uprobe_multi` members of `link_create` in `union bpf_attr`
//! (`include/uapi/linux/bpf.h`); the kernel's side is `bpf_kprobe_multi_link_attach` and
//! `bpf_uprobe_multi_link_attach` in `kernel/trace/bpf_trace.c`.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::bpf::{ptr_u64, sys_bpf_fd, BPF_LINK_CREATE};
use super::SysError;
use crate::uapi::AttachType;

/// `BPF_F_KPROBE_MULTI_RETURN`: fire on the functions' returns (a kretprobe).
pub const BPF_F_KPROBE_MULTI_RETURN: u32 = 1;
/// `BPF_F_UPROBE_MULTI_RETURN`: fire on the functions' returns (a uretprobe).
pub const BPF_F_UPROBE_MULTI_RETURN: u32 = 1;

/// `link_create` with its `kprobe_multi` member: 48 bytes.
#[repr(C)]
#[derive(Debug, Default)]
struct KprobeMultiAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    /// `kprobe_multi.flags`: [`BPF_F_KPROBE_MULTI_RETURN`].
    multi_flags: u32,
    cnt: u32,
    /// Pointer to `cnt` pointers to NUL-terminated function names, or 0.
    syms: u64,
    /// Pointer to `cnt` kernel addresses, or 0.
    addrs: u64,
    /// Pointer to `cnt` cookies, or 0.
    cookies: u64,
}

/// `link_create` with its `uprobe_multi` member: 64 bytes.
#[repr(C)]
#[derive(Debug, Default)]
struct UprobeMultiAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    /// Pointer to the binary's NUL-terminated path.
    path: u64,
    /// Pointer to `cnt` file offsets.
    offsets: u64,
    /// Pointer to `cnt` reference-counter (semaphore) file offsets, or 0.
    ref_ctr_offsets: u64,
    /// Pointer to `cnt` cookies, or 0.
    cookies: u64,
    cnt: u32,
    /// `uprobe_multi.flags`: [`BPF_F_UPROBE_MULTI_RETURN`].
    multi_flags: u32,
    /// Only in this process (0: every process).
    pid: u32,
    _pad: u32,
}

/// Where one kprobe-multi link attaches: the kernel functions by name, which the kernel
/// looks up in kallsyms (`kprobe_multi.syms`), or by address, as `/proc/kallsyms` gives
/// them (`kprobe_multi.addrs`).
#[derive(Debug, Clone, Copy)]
pub enum KprobeMultiTargets<'a> {
    /// Function names.
    Names(&'a [&'a CStr]),
    /// Function addresses.
    Addresses(&'a [u64]),
}

/// `BPF_LINK_CREATE` with `attach_type` `BPF_TRACE_KPROBE_MULTI` (5.18) or
/// `BPF_TRACE_KPROBE_SESSION` (6.10; the kernel wants the one `prog` was loaded with): `prog`
/// on every kernel function of `targets`, `cookies` (empty, or one per place) for
/// `bpf_get_attach_cookie`, `flags` [`BPF_F_KPROBE_MULTI_RETURN`]. Closing the fd detaches
/// it from all of them.
pub fn link_create_kprobe_multi(
    prog: BorrowedFd<'_>,
    targets: KprobeMultiTargets<'_>,
    cookies: &[u64],
    flags: u32,
    attach_type: AttachType,
) -> Result<OwnedFd, SysError> {
    let op = "BPF_LINK_CREATE(kprobe_multi)";
    // The kernel reads `cnt` entries of each array it is given; `pointers` outlives the
    // call.
    let pointers: Vec<u64>;
    let (cnt, syms, addrs) = match targets {
        KprobeMultiTargets::Names(names) => {
            pointers = names.iter().map(|name| ptr_u64(name.as_ptr())).collect();
            (names.len(), ptr_u64(pointers.as_ptr()), 0)
        }
        KprobeMultiTargets::Addresses(addresses) => {
            (addresses.len(), 0, ptr_u64(addresses.as_ptr()))
        }
    };
    if !cookies.is_empty() && cookies.len() != cnt {
        return Err(SysError::new(op, libc::EINVAL));
    }
    let mut attr = KprobeMultiAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: attach_type.0,
        multi_flags: flags,
        cnt: u32::try_from(cnt).map_err(|_| SysError::new(op, libc::E2BIG))?,
        syms,
        addrs,
        cookies: if cookies.is_empty() {
            0
        } else {
            ptr_u64(cookies.as_ptr())
        },
        ..Default::default()
    };
    sys_bpf_fd(op, BPF_LINK_CREATE, &mut attr)
}

/// One uprobe-multi link's places in one binary: file offsets, with optional reference
/// counters (USDT semaphores) and cookies, each empty or one per offset.
#[derive(Debug, Clone, Copy)]
pub struct UprobeMultiPlaces<'a> {
    /// The binary's path.
    pub path: &'a CStr,
    /// File offsets of the probed instructions.
    pub offsets: &'a [u64],
    /// File offsets of their reference counters (empty: none).
    pub ref_ctr_offsets: &'a [u64],
    /// Their cookies (empty: all 0).
    pub cookies: &'a [u64],
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_UPROBE_MULTI` (6.6): `prog` (loaded with that
/// expected attach type) at every offset of the binary, in process `pid` only (0: every
/// process), `flags` [`BPF_F_UPROBE_MULTI_RETURN`].
pub fn link_create_uprobe_multi(
    prog: BorrowedFd<'_>,
    places: &UprobeMultiPlaces<'_>,
    pid: u32,
    flags: u32,
) -> Result<OwnedFd, SysError> {
    let op = "BPF_LINK_CREATE(uprobe_multi)";
    let cnt = places.offsets.len();
    let optional = |array: &[u64]| -> Result<u64, SysError> {
        match array.len() {
            0 => Ok(0),
            n if n == cnt => Ok(ptr_u64(array.as_ptr())),
            _ => Err(SysError::new(op, libc::EINVAL)),
        }
    };
    let mut attr = UprobeMultiAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: AttachType::TRACE_UPROBE_MULTI.0,
        path: ptr_u64(places.path.as_ptr()),
        offsets: ptr_u64(places.offsets.as_ptr()),
        ref_ctr_offsets: optional(places.ref_ctr_offsets)?,
        cookies: optional(places.cookies)?,
        cnt: u32::try_from(cnt).map_err(|_| SysError::new(op, libc::E2BIG))?,
        multi_flags: flags,
        pid,
        ..Default::default()
    };
    sys_bpf_fd(op, BPF_LINK_CREATE, &mut attr)
}

/// `BPF_LINK_CREATE` of a multi-probe with a raw target fd and attributes, for the feature
/// probes (libbpf's `probe_uprobe_multi_link`: a link on `/` must fail with `EBADF` where
/// the kernel knows the attach type).
pub(crate) fn link_create_uprobe_multi_probe(
    prog: BorrowedFd<'_>,
    path: &CStr,
    offset: u64,
) -> Result<OwnedFd, SysError> {
    let offsets = [offset];
    let mut attr = UprobeMultiAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: u32::MAX, // -1
        attach_type: AttachType::TRACE_UPROBE_MULTI.0,
        path: ptr_u64(path.as_ptr()),
        offsets: ptr_u64(offsets.as_ptr()),
        cnt: 1,
        ..Default::default()
    };
    sys_bpf_fd("BPF_LINK_CREATE(uprobe_multi)", BPF_LINK_CREATE, &mut attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attributes_have_the_kernels_layout() {
        // link_create: 16 bytes of fds, type and flags, then the member's union.
        assert_eq!(std::mem::size_of::<KprobeMultiAttr>(), 48);
        assert_eq!(std::mem::offset_of!(KprobeMultiAttr, syms), 24);
        assert_eq!(std::mem::offset_of!(KprobeMultiAttr, cookies), 40);
        assert_eq!(std::mem::size_of::<UprobeMultiAttr>(), 64);
        assert_eq!(std::mem::offset_of!(UprobeMultiAttr, path), 16);
        assert_eq!(std::mem::offset_of!(UprobeMultiAttr, cnt), 48);
        assert_eq!(std::mem::offset_of!(UprobeMultiAttr, pid), 56);
    }
}
