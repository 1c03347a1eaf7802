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
//! - [`probe_perf_link`]: perf event links (5.15).
//! - [`probe_all`]: everything at once, as a plain [`Features`] struct, with the attach path
//!   the tool takes here ([`Features::plan`]); `tcpconnect features` prints it.

use std::os::fd::AsFd;

use crate::insn::{Insn, BPF_ALU64, BPF_K, BPF_MOV, EXIT};
use crate::syscall::{self, ProgLoadOptions, ProgLoadRequest};

pub mod btf;
pub mod memlock;
mod report;

pub use report::{probe_all, AttachPlan, Decision, Features, KPROBE_FUNCTION, TRACEPOINT};

/// `r0 = 0; exit`: the smallest program every type accepts.
pub(crate) const RETURN_ZERO: [Insn; 2] = [
    Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
    Insn::new(EXIT, 0, 0, 0, 0),
];

fn probe_load_opts() -> ProgLoadOptions {
    ProgLoadOptions {
        log_level: 0,
        initial_log_size: syscall::load::MIN_LOG_SIZE,
        max_log_size: syscall::load::MIN_LOG_SIZE,
        eagain_retries: 2,
        retry_without_btf_info: false,
    }
}

/// Can `BPF_LINK_CREATE` attach a program to a perf event (`BPF_PERF_EVENT`, 5.15)? As
/// libbpf's `probe_perf_link`: a tracepoint program linked to fd -1 gets `EBADF` where the
/// kernel knows the attach type (it looked the fd up), `EINVAL` where it does not. Without it
/// the attach goes through `PERF_EVENT_IOC_SET_BPF` (see [`crate::attach`]).
pub fn probe_perf_link() -> bool {
    memlock::ensure();
    let request = ProgLoadRequest::new(
        "perf_link_probe",
        syscall::BPF_PROG_TYPE_TRACEPOINT,
        &RETURN_ZERO,
        "GPL",
    );
    let Ok(prog) = syscall::load_program(&request, &probe_load_opts()) else {
        return false;
    };
    match syscall::bpf::link_create_raw_target(prog.fd.as_fd(), -1, syscall::BPF_PERF_EVENT) {
        Ok(_) => true,
        Err(e) => e.errno == libc::EBADF,
    }
}
