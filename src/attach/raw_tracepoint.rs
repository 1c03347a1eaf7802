//! Raw tracepoints: a `BPF_PROG_TYPE_RAW_TRACEPOINT` program on a tracepoint's raw
//! arguments, with no perf event in between.
//!
//! ABI: `BPF_RAW_TRACEPOINT_OPEN` (4.17, `include/uapi/linux/bpf.h`).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::PathBuf;

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::load::Program;
use crate::syscall;

/// Attaches a `BPF_PROG_TYPE_RAW_TRACEPOINT` program to the raw tracepoint `name`
/// (`sched_switch`, `sys_enter`): the tracepoint's arguments as they are in the kernel,
/// without the tracefs format's copying.
pub fn attach(prog: &Program, name: &str) -> Result<Link, AttachError> {
    let target = format!("raw tracepoint {name}");
    let c_name = CString::new(name).map_err(|_| AttachError::TracepointNotFound {
        category: "raw".into(),
        name: name.to_string(),
        tracefs: PathBuf::new(),
    })?;
    let fd = syscall::raw_tracepoint_open(prog.as_fd(), Some(&c_name)).map_err(|error| {
        AttachError::Sys {
            target: target.clone(),
            error,
        }
    })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::RawTracepoint,
            via: Via::RawTracepointOpen,
        },
        target,
        fd,
    ))
}
