//! The one door every system call of the crate goes through: `bpf(2)`, `perf_event_open(2)`,
//! the perf ioctls, the socket calls of `net`, the memlock limit of `rlimit` and `mount(2)`.
//!
//! Each caller in this module tree hands the seam a description of its call and a closure
//! that makes it (the closure holds the `unsafe` block and its `// SAFETY:`). Outside tests
//! the seam is that closure, called at once: every function here is `#[inline(always)]`,
//! the description is never read, and the release binary makes the direct call (checked
//! with `objdump` and by size: `BENCHMARKS.md`, "The system-call seam costs nothing").
//!
//! In the crate's unit tests (`cfg(test)`) the seam first asks the fake kernel installed on
//! the test's thread, if any (`syscall::bpf::fake`, `src/syscall/fake.rs`), which records the call and answers it
//! from its model of the kernel, fails it as its fault plan says, or passes it to the real
//! kernel. A thread without a fake makes the real call, so the tests that need a kernel
//! run beside those that fake one.

use std::ffi::CStr;
use std::os::fd::RawFd;

use super::PerfEventAttr;

/// A system call other than `bpf(2)`, described for the fake kernel (`bpf(2)` goes through
/// [`bpf`], whose attribute the fake reads as the typed struct it is).
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
pub(super) enum Call<'a> {
    /// `perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)`.
    PerfEventOpen {
        attr: &'a PerfEventAttr,
        pid: i32,
        cpu: i32,
    },
    /// `ioctl(fd, PERF_EVENT_IOC_*, arg)`.
    PerfIoctl {
        op: &'static str,
        fd: RawFd,
        arg: u64,
    },
    /// `socket(domain, type, protocol)`.
    Socket {
        op: &'static str,
        domain: i32,
        protocol: i32,
    },
    /// `bind(fd, sockaddr_ll { ifindex, protocol })` of a packet socket.
    BindPacket { fd: RawFd, ifindex: i32 },
    /// `setsockopt(fd, level, option, &value, sizeof(int))`.
    Setsockopt {
        op: &'static str,
        fd: RawFd,
        value: i32,
    },
    /// `sendto(fd, data, ...)` to the kernel's netlink port.
    Sendto { fd: RawFd, data: &'a [u8] },
    /// `setrlimit(RLIMIT_MEMLOCK, limit)`.
    SetMemlock { limit: libc::rlimit },
    /// `mount(fstype, target, fstype, 0, NULL)`.
    Mount { fstype: &'a CStr, target: &'a CStr },
    /// `setns(fd, CLONE_NEWNET)`: the calling thread into a network namespace.
    SetnsNet { fd: RawFd },
}

/// A negative return value turned into the thread's errno.
#[inline(always)]
pub(super) fn outcome(rc: i64) -> Result<i64, i32> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc)
    }
}

/// The calling thread's `errno`: one function, called on the error paths only (as
/// `SysError::last` was before the seam), not inlined into every call site.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `bpf(cmd, attr, ...)`: `real` makes the call on `attr` and returns its raw result.
#[inline(always)]
pub(super) fn bpf<A: std::any::Any>(
    cmd: u32,
    attr: &mut A,
    real: impl FnOnce(&mut A) -> i64,
) -> Result<i64, i32> {
    #[cfg(test)]
    return super::bpf::fake::bpf(cmd, attr, real);
    #[cfg(not(test))]
    {
        let _ = cmd;
        outcome(real(attr))
    }
}

/// Any other call: `real` makes it and returns its raw result (negative: see `errno`).
#[inline(always)]
pub(super) fn call(call: Call<'_>, real: impl FnOnce() -> i64) -> Result<i64, i32> {
    #[cfg(test)]
    return super::bpf::fake::call(call, real);
    #[cfg(not(test))]
    {
        let _ = call;
        outcome(real())
    }
}

/// `recv(fd, buf, len, 0)`: `real` receives into `buf`.
#[inline(always)]
pub(super) fn recv(
    fd: RawFd,
    buf: &mut [u8],
    real: impl FnOnce(&mut [u8]) -> i64,
) -> Result<usize, i32> {
    #[cfg(test)]
    return super::bpf::fake::recv(fd, buf, real);
    #[cfg(not(test))]
    {
        let _ = fd;
        outcome(real(buf)).map(|n| n as usize)
    }
}

/// `getrlimit(RLIMIT_MEMLOCK, limit)`: `real` fills `limit`.
#[inline(always)]
pub(super) fn get_memlock(
    real: impl FnOnce(&mut libc::rlimit) -> i64,
) -> Result<libc::rlimit, i32> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[cfg(test)]
    return super::bpf::fake::get_memlock(&mut limit, real).map(|()| limit);
    #[cfg(not(test))]
    outcome(real(&mut limit)).map(|_| limit)
}

/// A feature probe's answer, computed once per process (`cell`) and kept: the kernel does
/// not change under a running process. With a fake kernel on the thread, once per fake
/// kernel instead, so that each test's fake is probed as the kernel it plays.
#[inline(always)]
pub(crate) fn probe_once<T: Copy + Send + Sync + 'static>(
    cell: &'static std::sync::OnceLock<T>,
    probe: impl FnOnce() -> T,
) -> T {
    #[cfg(test)]
    if super::bpf::fake::installed() {
        return super::bpf::fake::probe_once(cell as *const _ as usize, probe);
    }
    *cell.get_or_init(probe)
}
