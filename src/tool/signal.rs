//! SIGINT and SIGTERM, read through a signalfd, so that the tool's loops stop cleanly
//! between two reads: [`signals`] blocks them for the thread and opens the descriptor,
//! [`signalled`] reads it without blocking.
//!
//! ABI: `signalfd(2)` (`struct signalfd_siginfo`), `pthread_sigmask(3)`, through `nix`.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use ebpf_loader::SysError;

/// SIGINT and SIGTERM, blocked and read through a signalfd.
pub fn signals() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block()
        .map_err(sys_error("pthread_sigmask"))
        .context("blocking SIGINT and SIGTERM")?;
    Ok(
        SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(sys_error("signalfd"))?,
    )
}

/// Whether SIGINT or SIGTERM has arrived (read from the signalfd of [`signals`]).
pub fn signalled(signals: &SignalFd) -> Result<bool> {
    let read = signals.read_signal().map_err(sys_error("read"));
    Ok(read.context("reading signalfd")?.is_some())
}

/// A failed `nix` call as the library reports a failed system call ([`SysError`]: the
/// call, the errno's description and name). Not `nix`'s own `Errno` as the error: its
/// `Display` and `Debug` link a name table and a description table of their own beside
/// the library's (~8 KB of the static binary, BENCHMARKS.md, 2026-12-07).
fn sys_error(op: &'static str) -> impl Fn(nix::errno::Errno) -> SysError {
    move |errno| SysError::new(op, errno as i32)
}
