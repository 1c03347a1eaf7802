//! BTF-typed tracing programs: `tp_btf`, `fentry`, `fexit`, `fmod_ret` and `lsm`, attached to
//! the kernel function, hook or BTF tracepoint their `attach_btf_id` named at load: a BPF
//! trampoline, no perf event.
//!
//! ABI: `BPF_RAW_TRACEPOINT_OPEN` without a name (5.5; lsm 5.7), `include/uapi/linux/bpf.h`;
//! `Documentation/bpf/prog_lsm.rst`.

use std::os::fd::AsFd;

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::elf::AttachTarget;
use crate::load::Program;
use crate::syscall;

/// What a BTF-typed program is attached to, for messages: `fentry tcp_connect`.
pub(super) fn btf_target(prog: &Program) -> String {
    let kind = prog.section().split('/').next().unwrap_or("");
    match prog.attach_target() {
        AttachTarget::BtfFunction { name } => format!("{kind} {name}"),
        other => format!("{kind} {other}"),
    }
}

/// Attaches a BTF-typed program (tp_btf, fentry, fexit, fmod_ret, lsm) to the target its
/// `attach_btf_id` named at load: `BPF_RAW_TRACEPOINT_OPEN` without a name (5.5; lsm 5.7).
pub fn attach(prog: &Program) -> Result<Link, AttachError> {
    let target = btf_target(prog);
    let fd =
        syscall::raw_tracepoint_open(prog.as_fd(), None).map_err(|error| AttachError::Sys {
            target: target.clone(),
            error,
        })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::BtfTarget,
            via: Via::RawTracepointOpen,
        },
        target,
        fd,
    ))
}
