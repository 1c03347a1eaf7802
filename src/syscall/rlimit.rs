//! `RLIMIT_MEMLOCK`, which kernels before 5.11 charge BPF maps and programs to
//! (`getrlimit(2)`, `setrlimit(2)`); `features::memlock` decides when to raise it.

/// The memlock limit; `Err(errno)` if it cannot be read.
pub fn get_memlock() -> Result<libc::rlimit, i32> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `struct rlimit` for the call's duration.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc == 0 {
        Ok(limit)
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Sets the memlock limit; `Err(errno)` if the kernel refuses (`EPERM` without
/// `CAP_SYS_RESOURCE` for a raise of the hard limit).
pub fn set_memlock(limit: &libc::rlimit) -> Result<(), i32> {
    // SAFETY: `limit` is a valid `struct rlimit` the kernel only reads.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, limit) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}
