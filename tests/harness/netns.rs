//! A network namespace of the test's own, for tests that send packets (the developers'
//! rule: only inside namespaces the test creates). [`NetNs::enter`] moves the calling thread
//! (each cargo test runs on a thread of its own) into a new namespace, `unshare(CLONE_NEWNET)`
//! being per thread, and brings its loopback up; dropping the guard moves the thread back
//! (`setns` to the namespace it came from), and the new namespace, with every interface,
//! socket and attachment in it, is freed by the kernel once nothing holds it.
//!
//! Sockets opened while inside stay in the new namespace; a thread the test spawns starts
//! in the process's namespace, not this one (so connect from the entering thread, or pass
//! [`NetNs::fd`] to the other thread's `setns`).
#![allow(dead_code)] // each test crate uses a part

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// The calling thread, inside a fresh network namespace with `lo` up, until dropped.
pub struct NetNs {
    /// The namespace the thread was in before (`/proc/thread-self/ns/net`).
    previous: File,
    /// The new namespace, held open so that other threads can join it.
    this: File,
}

impl NetNs {
    /// Moves the calling thread into a new network namespace and brings `lo` up.
    pub fn enter() -> io::Result<NetNs> {
        let previous = File::open("/proc/thread-self/ns/net")?;
        // SAFETY: unshare takes flags only; CLONE_NEWNET affects the calling thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let this = File::open("/proc/thread-self/ns/net")?;
        let guard = NetNs { previous, this };
        set_up("lo")?;
        Ok(guard)
    }

    /// The new namespace (for `setns` from another thread, or a link's netns target).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.this.as_fd()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // SAFETY: `previous` is an open namespace file; CLONE_NEWNET checks its kind.
        let rc = unsafe { libc::setns(self.previous.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns back: {}", io::Error::last_os_error());
    }
}

/// Moves the calling thread into the namespace `ns` (a [`NetNs::fd`]).
pub fn join(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `ns` is an open namespace file; CLONE_NEWNET checks its kind.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets `IFF_UP` on the interface `name` of the calling thread's namespace
/// (`SIOCGIFFLAGS`/`SIOCSIFFLAGS`, netdevice(7)).
pub fn set_up(name: &str) -> io::Result<()> {
    // SAFETY: a plain socket call; the fd is owned right below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new fd nobody else owns.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (slot, byte) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq with a NUL-terminated name; the kernel fills its flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; the kernel reads the name and the flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
