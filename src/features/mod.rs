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
//! - [`iter`]: the parameters iterator links take (`union bpf_iter_link_info` in the
//!   kernel's BTF), and which iterator targets the kernel has.
//! - [`lsm`]: the active Linux security modules (is the BPF LSM one of them?).
//! - [`probe_perf_link`]: perf event links (5.15).
//! - [`probe_bpf_cookie`], [`probe_fentry`]: BPF cookies (5.15), a trampoline on a function.
//! - [`refusal`]: what an `EPERM` of `BPF_PROG_LOAD` means to a privileged process (no
//!   BPF trampoline, a security policy), found by probes, so that no message blames
//!   permissions when the cause is something else.
//! - [`report`]: everything at once, as a plain [`report::Features`] struct; it sits above
//!   [`crate::attach`] (it asks where tracefs is), the rest of this module below
//!   [`crate::load`], which consults it (`docs/architecture.md`, "Layers").
//! - [`syscall_wrapper`]: the prefix of the kernel's system call wrappers (`__x64_sys_`),
//!   for `ksyscall` programs and `LINUX_HAS_SYSCALL_WRAPPER`.

use std::os::fd::{AsFd, OwnedFd};

use crate::btf::Kind;
use crate::insn::{Insn, BPF_ALU64, BPF_K, BPF_MOV, CALL, EXIT};
use crate::syscall::{self, SysError};

pub mod btf;
pub mod iter;
pub mod lsm;
pub mod memlock;
pub mod refusal;
pub mod report;
mod wrapper;

pub use wrapper::{syscall_function, syscall_wrapper};

/// `enum bpf_prog_type` / `enum bpf_attach_type` values probed here only
/// (`include/uapi/linux/bpf.h`).
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_FENTRY: u32 = 24;
/// `BPF_FUNC_get_attach_cookie` (5.15).
const BPF_FUNC_GET_ATTACH_COOKIE: i32 = 174;

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
/// Whether the kernel has the map batch commands (`BPF_MAP_*_BATCH`, 5.6): a lookup batch
/// of no map is `EBADF` where the command exists, `EINVAL` where it does not.
pub fn probe_map_batch() -> bool {
    crate::syscall::map_batch_exists()
}

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

/// Does a program of `prog_type` made of `insns` load?
pub(crate) fn prog_loads(prog_type: u32, insns: &[Insn]) -> bool {
    probe_load("probe", prog_type, 0, 0, insns).is_ok()
}

/// Can a tracepoint program call `bpf_get_attach_cookie` (5.15)? libbpf's
/// `FEAT_BPF_COOKIE` probe.
pub fn probe_bpf_cookie() -> bool {
    prog_loads(
        crate::uapi::ProgramType::Tracepoint.as_u32(),
        &[
            Insn::new(CALL, 0, 0, 0, BPF_FUNC_GET_ATTACH_COOKIE),
            Insn::new(EXIT, 0, 0, 0, 0),
        ],
    )
}

/// A `fentry` program on kernel function `function`, found in the kernel's BTF: loaded,
/// then attached (`BPF_RAW_TRACEPOINT_OPEN`) and at once detached. Loading alone is not
/// enough: arm64 before 6.4 verifies fentry programs on kernel functions but cannot attach
/// them (no BPF trampoline before 6.0; no ftrace direct calls to reach one before 6.4:
/// `ENOTSUPP`, 524, at attach; Debian's arm64 5.10 and 6.1).
pub fn probe_fentry(function: &str) -> bool {
    let Ok(kernel) = crate::btf::kernel::load() else {
        return false;
    };
    let Ok(func) = kernel.find_by_name_kind(function, Kind::Func) else {
        return false;
    };
    let Ok(prog) = probe_load(
        "fentry_probe",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_FENTRY,
        func,
        &RETURN_ZERO,
    ) else {
        return false;
    };
    syscall::raw_tracepoint_open(prog.as_fd(), None).is_ok()
}
