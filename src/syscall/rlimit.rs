//! `RLIMIT_MEMLOCK`, which kernels before 5.11 charge BPF maps and programs to
//! (`getrlimit(2)`, `setrlimit(2)`); `features::memlock` decides when to raise it.

/// The memlock limit; `Err(errno)` if it cannot be read.
pub fn get_memlock() -> Result<libc::rlimit, i32> {
    super::seam::get_memlock(|limit| {
        // SAFETY: `limit` is a valid, writable `struct rlimit` for the call's duration.
        i64::from(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, limit) })
    })
}

/// Sets the memlock limit; `Err(errno)` if the kernel refuses (`EPERM` without
/// `CAP_SYS_RESOURCE` for a raise of the hard limit).
pub fn set_memlock(limit: &libc::rlimit) -> Result<(), i32> {
    let call = super::seam::Call::SetMemlock { limit: *limit };
    super::seam::call(call, || {
        // SAFETY: `limit` is a valid `struct rlimit` the kernel only reads.
        i64::from(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, limit) })
    })
    .map(drop)
}
