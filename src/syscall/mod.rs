//! The system calls the loader makes: `bpf(2)`, `perf_event_open(2)` and the perf ioctls,
//! each through `libc::syscall` with one typed attribute struct per command; and, in
//! [`net`] and [`rlimit`], the few other calls of the attach and load steps (sockets for
//! tc and socket filters, the memlock limit).
//!
//! ABI: `union bpf_attr`, `enum bpf_cmd` and `struct bpf_prog_info` in
//! `include/uapi/linux/bpf.h` (described in `Documentation/userspace-api/ebpf/syscall.rst`
//! and the `bpf(2)` man page); `struct perf_event_attr` and the `PERF_EVENT_IOC_*` ioctls in
//! `include/uapi/linux/perf_event.h` (the `perf_event_open(2)` man page).
//!
//! Two rules hold for every attribute struct here:
//! - It is zero-filled (`Default`), including its padding: every gap the C layout has is an
//!   explicit field, because Rust leaves implicit padding bytes undefined and the kernel
//!   rejects a non-zero byte it does not know (`E2BIG`, `bpf_check_uarg_tail_zero`).
//! - The size passed is exactly `size_of` the struct: the kernel copies that many bytes and
//!   treats the rest of its own, larger union as zero.
//!
//! Every fd comes back as an [`OwnedFd`](std::os::fd::OwnedFd) and is close-on-exec: the
//! kernel opens every BPF object fd with `O_CLOEXEC` (`bpf_map_new_fd`, `bpf_prog_new_fd`,
//! `bpf_link_new_fd` and the BTF fd all pass it to `anon_inode_getfd`; tested in
//! `src/syscall/kernel_tests.rs`), and `perf_event_open` is called with `PERF_FLAG_FD_CLOEXEC`.
//!
//! The module is private to the crate: the public API is the handles built on it
//! ([`crate::load::Map`], [`crate::load::Program`], [`crate::attach::Link`],
//! [`crate::perf::PerfReader`]). Its error types, [`SysError`] and [`VerifierError`], are
//! re-exported where they appear in public errors.
//!
//! This module holds the crate's `unsafe` for system calls; `perf` (the rings) and
//! `btf::kernel` (the kernel's BTF file) hold the `unsafe` of their mmaps.
//!
//! Every call goes through one function of `seam.rs`, which outside tests is the call
//! itself; in the crate's unit tests a fake kernel (`fake.rs`) can answer there instead,
//! record the calls, and fail the ones a test names (`docs/architecture.md`, "The
//! system-call seam and the fake kernel").

mod attach;
mod attach_target;
mod bpf;
mod cpus;
mod error;
mod iter;
mod load;
mod multi;
mod net;
mod ops;
mod perf_event;
mod rlimit;
mod seam;
mod struct_ops;

#[cfg(test)]
mod kernel_tests;

pub use attach::{
    filesystem_magic, prog_attach, prog_attach_own_netns, prog_detach, prog_detach_own_netns,
    BPF_F_ALLOW_MULTI, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC,
};
pub use attach_target::*;
#[cfg(test)]
pub(crate) use bpf::fake;
pub use bpf::*;
pub use cpus::{online_cpus, possible_cpus, CpuListError};
pub use error::{errno_name, SysError};
pub use iter::{link_create_iter, IterLinkInfo};
pub use load::{
    load_btf, load_program, BtfInfoOutcome, ProgLoadOptions, ProgLoadRequest, VerifierError,
    VerifierLog, MIN_LOG_SIZE,
};
pub use multi::*;
pub use net::*;
pub use ops::*;
pub use perf_event::*;
pub use rlimit::{get_memlock, set_memlock};
pub(crate) use seam::probe_once;
pub use struct_ops::link_create_struct_ops;

/// Mounts tracefs at `target` (`mount -t tracefs tracefs TARGET`). Needs root.
pub fn mount_tracefs(target: &std::path::Path) -> Result<(), SysError> {
    mount_pseudo(c"tracefs", "mount(tracefs)", target)
}

/// Mounts securityfs at `target` (`mount -t securityfs securityfs TARGET`), where the
/// kernel lists its active LSMs (`lsm`, 4.15). Needs root.
pub fn mount_securityfs(target: &std::path::Path) -> Result<(), SysError> {
    mount_pseudo(c"securityfs", "mount(securityfs)", target)
}

/// `mount(2)` of a filesystem without a device or options (tracefs, securityfs).
fn mount_pseudo(
    fstype: &std::ffi::CStr,
    what: &'static str,
    target: &std::path::Path,
) -> Result<(), SysError> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(target.as_os_str().as_bytes())
        .map_err(|_| SysError::new(what, libc::EINVAL))?;
    let call = seam::Call::Mount {
        fstype,
        target: &target,
    };
    seam::call(call, || {
        // SAFETY: every pointer is to a NUL-terminated string that lives across the call;
        // `data` may be null for these filesystems.
        i64::from(unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        })
    })
    .map(drop)
    .map_err(|errno| SysError::new(what, errno))
}

/// The size of a memory page (`sysconf(_SC_PAGESIZE)`; 4096 where it cannot say): what the
/// kernel rounds ring buffer sizes and mmap lengths to.
pub fn page_size() -> usize {
    // SAFETY: sysconf reads a value and has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}
