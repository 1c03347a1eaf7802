//! Registering a struct_ops map: the kernel's ops struct (`struct tcp_congestion_ops`,
//! ...) implemented by the object's programs, made live, as libbpf's
//! `bpf_map__attach_struct_ops`.
//!
//! The map was fitted to the kernel and its programs loaded with their members at load
//! ([`crate::load`], `load/struct_ops.rs`); here each function pointer of the value gets
//! its program's fd, and the value is written at key 0 (`BPF_MAP_UPDATE_ELEM`). Then:
//! - a map of `.struct_ops.link` (created with `BPF_F_LINK`, 6.4): the write only stores
//!   the value; `BPF_LINK_CREATE` with `BPF_STRUCT_OPS` registers it, and closing the
//!   link unregisters it;
//! - a map of `.struct_ops` (5.6): the write registers it, and it stays registered, even
//!   after this process exits, until its key is deleted (`BPF_MAP_DELETE_ELEM`), which the
//!   [`Link`] does when dropped.
//!
//! ABI: `BPF_MAP_UPDATE_ELEM`/`BPF_MAP_DELETE_ELEM` on a `BPF_MAP_TYPE_STRUCT_OPS` map,
//! `BPF_LINK_CREATE` with `BPF_STRUCT_OPS` (`include/uapi/linux/bpf.h`;
//! `kernel/bpf/bpf_struct_ops.c`: `bpf_struct_ops_map_update_elem`,
//! `bpf_struct_ops_link_create`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::load::Object;
use crate::syscall;
use crate::uapi::BPF_F_LINK;

/// Registers the struct_ops map `map` of `object` (the variable's name: `SEC(".struct_ops")
/// struct tcp_congestion_ops my_ca = {...}` is map `my_ca`).
pub fn register(object: &Object, map: &str) -> Result<Link, AttachError> {
    let refused = |reason: String| AttachError::StructOps {
        map: map.to_string(),
        reason,
    };
    let handle = object
        .map(map)
        .ok_or_else(|| refused("no map of that name in the object".into()))?;
    let spec = handle.spec();
    let ops = spec
        .struct_ops
        .as_ref()
        .ok_or_else(|| refused("not a struct_ops map".into()))?;
    let kernel = ops
        .kernel
        .as_ref()
        .ok_or_else(|| refused("not fitted to the kernel at load".into()))?;
    let value =
        value_with_program_fds(object, &kernel.value, &kernel.programs).map_err(&refused)?;
    let target = format!("struct_ops {map} (struct {})", ops.type_name);
    let sys = |error| AttachError::Sys {
        target: target.clone(),
        error,
    };
    syscall::map_update_elem(handle.as_fd(), &0u32.to_ne_bytes(), &value, 0).map_err(sys)?;
    if spec.map_flags & BPF_F_LINK != 0 {
        let fd = syscall::link_create_struct_ops(handle.as_fd()).map_err(sys)?;
        return Ok(Link::of_bpf_link(
            AttachMethod {
                probe: Probe::StructOps,
                via: Via::BpfLink,
            },
            target,
            fd,
        ));
    }
    // Registered: the guard holds its own fd of the map, to delete the key when dropped.
    let fd = handle.as_fd().try_clone_to_owned().map_err(|e| {
        // Leave nothing registered behind.
        let _ = syscall::map_delete_elem(handle.as_fd(), &0u32.to_ne_bytes());
        refused(format!("duplicating the map's fd: {e}"))
    })?;
    Ok(Link {
        method: AttachMethod {
            probe: Probe::StructOps,
            via: Via::MapUpdate,
        },
        target,
        bpf_link: None,
        perf_event: None,
        kprobe: None,
        owned: Some(Box::new(StructOpsGuard { map: Some(fd) })),
    })
}

/// `value` with each program's fd written where its function pointer goes (an `unsigned
/// long`, as libbpf's `bpf_map_prepare_vdata` writes it).
fn value_with_program_fds(
    object: &Object,
    value: &[u8],
    programs: &[(u32, String, u32)],
) -> Result<Vec<u8>, String> {
    let mut value = value.to_vec();
    for (offset, name, _) in programs {
        let program = object
            .program(name)
            .ok_or_else(|| format!("its program {name} was not loaded"))?;
        let fd = program.as_fd().as_raw_fd() as u64;
        let at = *offset as usize;
        value
            .get_mut(at..at + 8)
            .ok_or_else(|| format!("the slot of {name} lies outside the value"))?
            .copy_from_slice(&fd.to_ne_bytes());
    }
    Ok(value)
}

/// A struct_ops map registered with `BPF_MAP_UPDATE_ELEM`: unregistered
/// (`BPF_MAP_DELETE_ELEM` of key 0) when dropped.
#[derive(Debug)]
pub(super) struct StructOpsGuard {
    map: Option<OwnedFd>,
}

impl StructOpsGuard {
    /// Unregisters now, reporting the error.
    pub(super) fn unregister(mut self, target: &str) -> Result<(), AttachError> {
        match self.map.take() {
            Some(map) => syscall::map_delete_elem(map.as_fd(), &0u32.to_ne_bytes())
                .map(drop)
                .map_err(|error| AttachError::Sys {
                    target: target.to_string(),
                    error,
                }),
            None => Ok(()),
        }
    }
}

impl Drop for StructOpsGuard {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            let _ = syscall::map_delete_elem(map.as_fd(), &0u32.to_ne_bytes());
        }
    }
}
