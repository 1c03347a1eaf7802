//! What a [`Link`](super::Link) made with `BPF_PROG_ATTACH` holds: no BPF link fd keeps
//! such an attachment, so the link keeps the target (a cgroup directory, a sockmap) and
//! the program, and detaches exactly that program from that target with
//! `BPF_PROG_DETACH` when dropped, as cilium/ebpf's `progAttachCgroup.Close` does.
//!
//! ABI: `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` (`include/uapi/linux/bpf.h`; the calls in
//! `syscall::attach`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::AttachError;
use crate::syscall::{self, SysError};
use crate::uapi::AttachType;

/// A program attached with `BPF_PROG_ATTACH`: its own fds of the target and of the
/// program (duplicates: the caller's may be closed first), and the attach type.
#[derive(Debug)]
pub(crate) struct ProgAttachGuard {
    target: OwnedFd,
    prog: OwnedFd,
    attach_type: AttachType,
    detached: bool,
}

/// A duplicate of `fd` for a guard, or the error of `fcntl(F_DUPFD_CLOEXEC)`.
pub(crate) fn duplicate(fd: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    fd.try_clone_to_owned()
        .map_err(|e| SysError::new("fcntl(F_DUPFD_CLOEXEC)", e.raw_os_error().unwrap_or(0)))
}

impl ProgAttachGuard {
    /// Attaches `prog` to `target` with `flags`; the guard detaches it.
    pub(crate) fn attach(
        target: BorrowedFd<'_>,
        prog: BorrowedFd<'_>,
        attach_type: AttachType,
        flags: u32,
    ) -> Result<ProgAttachGuard, SysError> {
        let (target_dup, prog_dup) = (duplicate(target)?, duplicate(prog)?);
        syscall::prog_attach(target, prog, attach_type, flags)?;
        Ok(ProgAttachGuard {
            target: target_dup,
            prog: prog_dup,
            attach_type,
            detached: false,
        })
    }

    fn detach_now(&self) -> Result<(), SysError> {
        if self.detached {
            return Ok(());
        }
        match syscall::prog_detach(self.target.as_fd(), self.prog.as_fd(), self.attach_type) {
            // Detached already (by someone else, or the map's last user is gone).
            Err(e) if e.errno == libc::ENOENT => Ok(()),
            other => other,
        }
    }

    /// Detaches the program now, reporting an error.
    pub(crate) fn detach(mut self, target: &str) -> Result<(), AttachError> {
        let result = self.detach_now().map_err(|error| AttachError::Sys {
            target: target.to_string(),
            error,
        });
        self.detached = true;
        result
    }
}

impl Drop for ProgAttachGuard {
    fn drop(&mut self) {
        let _ = self.detach_now();
    }
}
