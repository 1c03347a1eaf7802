//! `BPF_LINK_CREATE` for an iterator with parameters: the link's `iter_info` points to a
//! `union bpf_iter_link_info` that names the one map (5.9), task or process (6.1) or
//! cgroup and walk order (6.1) the iterator runs over.
//!
//! ABI: `include/uapi/linux/bpf.h`: in `union bpf_attr`'s `link_create` struct, after
//! `prog_fd` (offset 0), `target_fd` (4), `attach_type` (8) and `flags` (12), the
//! per-kind union at offset 16 holds, for `BPF_TRACE_ITER`, `__aligned_u64 iter_info`
//! (offset 16) and `__u32 iter_info_len` (offset 24): 28 bytes, padded to 32.
//! `union bpf_iter_link_info` is 16 bytes (6.1; 4 bytes, `map` alone, in 5.9 to 6.0):
//!
//! | offset | `map` (5.9) | `cgroup` (6.1) | `task` (6.1) |
//! |---|---|---|---|
//! | 0 | `__u32 map_fd` | `enum bpf_cgroup_iter_order order` | `__u32 tid` |
//! | 4 | | `__u32 cgroup_fd` | `__u32 pid` |
//! | 8 | | `__u64 cgroup_id` | `__u32 pid_fd` |
//!
//! The kernel's side is `bpf_iter_link_attach` in `kernel/bpf/bpf_iter.c`: it copies at
//! most its own `sizeof(union bpf_iter_link_info)` bytes and refuses (`E2BIG`) a longer
//! one whose extra bytes are not zero; then the target's `attach_target` callback reads
//! the member of its kind (`bpf_iter_attach_map`, `bpf_iter_attach_task`,
//! `bpf_iter_attach_cgroup`). A target without that callback ignores the union: which is
//! why [`crate::attach::iter`] decides by a probe what the kernel would read.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::bpf::{ptr_u64, sys_bpf_fd, BPF_LINK_CREATE};
use super::SysError;
use crate::uapi::AttachType;

/// `union bpf_iter_link_info` as the four 32-bit words it is made of (16 bytes): each
/// constructor fills the words of one member and leaves the others zero, as the kernel
/// requires of what it does not read.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IterLinkInfo {
    words: [u32; 4],
}

impl IterLinkInfo {
    /// `map.map_fd`: the map an `iter/bpf_map_elem`, `iter/bpf_sk_storage_map` or
    /// `iter/sockmap` program walks.
    pub fn map(map: BorrowedFd<'_>) -> IterLinkInfo {
        IterLinkInfo {
            words: [map.as_raw_fd() as u32, 0, 0, 0],
        }
    }

    /// `task.tid`, `task.pid` or `task.pid_fd` (the kernel refuses more than one set).
    pub fn task(tid: u32, pid: u32, pid_fd: u32) -> IterLinkInfo {
        IterLinkInfo {
            words: [tid, pid, pid_fd, 0],
        }
    }

    /// `cgroup.order`, `cgroup.cgroup_fd`, `cgroup.cgroup_id` (fd and id both 0: the
    /// root of the hierarchy; both set is refused).
    pub fn cgroup(order: u32, cgroup_fd: u32, cgroup_id: u64) -> IterLinkInfo {
        let id = cgroup_id.to_ne_bytes();
        let half = |at: usize| u32::from_ne_bytes([id[at], id[at + 1], id[at + 2], id[at + 3]]);
        IterLinkInfo {
            words: [order, cgroup_fd, half(0), half(4)],
        }
    }

    /// The 16 bytes, as the kernel reads them.
    #[cfg(test)]
    fn bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        out
    }
}

/// `link_create` with its `iter_info` and `iter_info_len` members: 32 bytes.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct IterLinkAttr {
    pub(super) prog_fd: u32,
    /// Must be 0 for an iterator.
    pub(super) target_fd: u32,
    pub(super) attach_type: u32,
    /// Must be 0 for an iterator.
    pub(super) flags: u32,
    /// Pointer to the `union bpf_iter_link_info`, or 0 for none.
    pub(super) iter_info: u64,
    /// Its length in bytes, 0 with no pointer (the kernel refuses one without the other).
    pub(super) iter_info_len: u32,
    pub(super) _pad: u32,
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_ITER`: an iterator link for `prog` (loaded for an
/// `iter/NAME` target), over what `info` names (`None`: every object of the target's
/// kind). Reading a [`super::iter_create`] fd of the link runs the program.
pub fn link_create_iter(
    prog: BorrowedFd<'_>,
    info: Option<&IterLinkInfo>,
) -> Result<OwnedFd, SysError> {
    // `info` lives across the call.
    let mut attr = IterLinkAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: AttachType::TRACE_ITER.0,
        iter_info: info.map_or(0, |info| ptr_u64(info as *const IterLinkInfo)),
        iter_info_len: info.map_or(0, |_| std::mem::size_of::<IterLinkInfo>() as u32),
        ..Default::default()
    };
    sys_bpf_fd("BPF_LINK_CREATE(iter)", BPF_LINK_CREATE, &mut attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attribute_and_the_union_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<IterLinkAttr>(), 32);
        assert_eq!(std::mem::offset_of!(IterLinkAttr, iter_info), 16);
        assert_eq!(std::mem::offset_of!(IterLinkAttr, iter_info_len), 24);
        assert_eq!(std::mem::size_of::<IterLinkInfo>(), 16);
    }

    #[test]
    fn each_member_fills_its_own_words_and_leaves_the_rest_zero() {
        let ne = |v: u32| v.to_ne_bytes();
        let task = IterLinkInfo::task(0, 1234, 0).bytes();
        assert_eq!(task[..4], [0; 4]);
        assert_eq!(task[4..8], ne(1234));
        assert_eq!(task[8..], [0; 8]);
        let pid_fd = IterLinkInfo::task(0, 0, 7).bytes();
        assert_eq!(pid_fd[8..12], ne(7));
        let cgroup = IterLinkInfo::cgroup(2, 0, 0x1122_3344_5566_7788).bytes();
        assert_eq!(cgroup[..4], ne(2));
        assert_eq!(cgroup[4..8], [0; 4]);
        assert_eq!(cgroup[8..], 0x1122_3344_5566_7788u64.to_ne_bytes());
    }
}
