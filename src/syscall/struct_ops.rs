//! `BPF_LINK_CREATE` for a struct_ops map (6.4): the link registers the map's ops struct
//! with the kernel, and closing it unregisters it.
//!
//! ABI: `link_create` in `union bpf_attr` with `map_fd` in place of `prog_fd` and attach
//! type `BPF_STRUCT_OPS` (`include/uapi/linux/bpf.h`; `bpf_struct_ops_link_create` in
//! `kernel/bpf/bpf_struct_ops.c`). The map must have been created with `BPF_F_LINK`.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::bpf::{sys_bpf_fd, BPF_LINK_CREATE};
use super::SysError;
use crate::uapi::AttachType;

/// `link_create` with its `map_fd` member: 16 bytes.
#[repr(C)]
#[derive(Debug, Default)]
struct StructOpsLinkAttr {
    map_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// Registers struct_ops map `map` (created with `BPF_F_LINK`, its value already written)
/// through a BPF link: `BPF_LINK_CREATE` with `BPF_STRUCT_OPS`.
pub fn link_create_struct_ops(map: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    let mut attr = StructOpsLinkAttr {
        map_fd: map.as_raw_fd() as u32,
        attach_type: AttachType::STRUCT_OPS.0,
        ..Default::default()
    };
    sys_bpf_fd("BPF_LINK_CREATE(struct_ops)", BPF_LINK_CREATE, &mut attr)
}
