//! Iterators: an `iter/...` program (`iter/task`, `iter/bpf_map`) as an iterator link, which
//! runs the program over the kernel's objects each time it is read ([`Link::read_iter`]).
//!
//! ABI: `BPF_LINK_CREATE` with `BPF_TRACE_ITER` (5.8), then `BPF_ITER_CREATE`
//! (`include/uapi/linux/bpf.h`, `Documentation/bpf/bpf_iterators.rst`).

use std::os::fd::AsFd;

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::load::Program;
use crate::syscall;
use crate::uapi::AttachType;

/// Attaches an iterator program (`iter/task`, ...) as an iterator link (5.8); each
/// [`Link::read_iter`] runs it.
pub fn attach(prog: &Program) -> Result<Link, AttachError> {
    let target = super::tracing::btf_target(prog);
    let fd = syscall::link_create_raw_target(prog.as_fd(), 0, AttachType::TRACE_ITER.0).map_err(
        |error| AttachError::Sys {
            target: target.clone(),
            error,
        },
    )?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::Iterator,
            via: Via::BpfLink,
        },
        target,
        fd,
    ))
}
