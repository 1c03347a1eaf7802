//! What the running kernel offers this loader, found by probing it (loading tiny programs
//! and BTF blobs, opening files), never by its version number.
//!
//! ABI: each probe names the command it makes and the kernel change it detects; the
//! reference is libbpf's feature probes (`tools/lib/bpf/features.c`, `probe_kern_*`,
//! `probe_perf_link`) and `bpftool feature probe` (`tools/bpf/bpftool/feature.c`).
//!
//! - [`memlock`]: where BPF memory is charged (memory cgroup, or `RLIMIT_MEMLOCK` before
//!   5.11), and the raise of the limit older kernels need.
//! - [`btf`]: which BTF kinds `BPF_BTF_LOAD` accepts, for [`crate::btf::sanitize`].
//! - [`lsm`]: the active Linux security modules (is the BPF LSM one of them?).
//! - [`probe_perf_link`]: perf event links (5.15).
//! - [`syscall_wrapper`]: the prefix of the kernel's system call wrappers (`__x64_sys_`),
//!   for `ksyscall` programs and `LINUX_HAS_SYSCALL_WRAPPER`.
//! - [`probe_all`]: everything at once, as a plain [`Features`] struct.

use std::os::fd::{AsFd, OwnedFd};

use crate::insn::{Insn, BPF_ALU64, BPF_K, BPF_MOV, EXIT};
use crate::syscall::{self, SysError};

pub mod btf;
pub mod lsm;
pub mod memlock;
mod report;
mod wrapper;

pub use report::{probe_all, probe_bpf_cookie, probe_fentry, Features};
pub use wrapper::{syscall_function, syscall_wrapper};

/// `r0 = 0; exit`: the smallest program every type accepts.
pub(crate) const RETURN_ZERO: [Insn; 2] = [
    Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
    Insn::new(EXIT, 0, 0, 0, 0),
];

/// One `BPF_PROG_LOAD` of a probe program, without a log and without retries: the errno is
/// the probe's answer (a log retry would turn a short `EINVAL` into `ENOSPC`).
pub(crate) fn probe_load(
    name: &str,
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    insns: &[Insn],
) -> Result<OwnedFd, SysError> {
    let license = c"GPL";
    let code = crate::insn::encode(insns);
    let mut attr = syscall::ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: code.as_ptr() as usize as u64,
        license: license.as_ptr() as usize as u64,
        prog_name: crate::uapi::obj_name(name),
        expected_attach_type,
        attach_btf_id,
        ..Default::default()
    };
    syscall::prog_load_raw(&mut attr)
}

/// Can `BPF_LINK_CREATE` attach a program to a perf event (`BPF_PERF_EVENT`, 5.15)? As
/// libbpf's `probe_perf_link`: a tracepoint program linked to fd -1 gets `EBADF` where the
/// kernel knows the attach type (it looked the fd up), `EINVAL` where it does not. Without it
/// the attach goes through `PERF_EVENT_IOC_SET_BPF` (see [`crate::attach`]).
pub fn probe_perf_link() -> bool {
    memlock::ensure();
    let Ok(prog) = probe_load(
        "perf_link_probe",
        crate::uapi::ProgramType::Tracepoint.as_u32(),
        0,
        0,
        &RETURN_ZERO,
    ) else {
        return false;
    };
    match syscall::link_create_raw_target(prog.as_fd(), -1, crate::uapi::AttachType::PERF_EVENT.0) {
        Ok(_) => true,
        Err(e) => e.errno == libc::EBADF,
    }
}
