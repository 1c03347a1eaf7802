//! `sk_reuseport` programs (`BPF_PROG_TYPE_SK_REUSEPORT`, 4.19) on a `SO_REUSEPORT` group:
//! the sockets bound to one address and port with `SO_REUSEPORT` share their incoming
//! connections (TCP) or datagrams (UDP), and the program picks the socket for each
//! (`bpf_sk_select_reuseport` with a `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`, or
//! `SK_PASS` to let the kernel's hash pick, `SK_DROP` to drop). The program is set on one
//! socket of the group and serves the whole group (`sk_reuseport/migrate`, 5.14, also
//! picks where a closing listener's requests go).
//!
//! One way: `setsockopt(SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog_fd)`; the
//! [`Link`] keeps a duplicate of the socket and takes the program off the group with
//! `SO_DETACH_REUSEPORT_BPF` (5.3) when dropped. Before 5.3 there is no detach: the
//! program stays with the group until its sockets are closed. libbpf leaves this to the
//! caller's `setsockopt`; cilium/ebpf and aya likewise.
//!
//! ABI: `SO_ATTACH_REUSEPORT_EBPF` and `SO_DETACH_REUSEPORT_BPF` in
//! `include/uapi/asm-generic/socket.h`; `socket(7)` (`SO_REUSEPORT`); `struct
//! sk_reuseport_md` and `bpf_sk_select_reuseport` in `include/uapi/linux/bpf.h`;
//! `net/core/sock_reuseport.c` (`reuseport_attach_prog`, `reuseport_detach_prog`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::prog_attach::duplicate;
use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::load::Program;
use crate::syscall::{self, SysError};
use crate::uapi::ProgramType;

/// `SO_ATTACH_REUSEPORT_EBPF` (4.6).
const SO_ATTACH_REUSEPORT_EBPF: libc::c_int = 52;
/// `SO_DETACH_REUSEPORT_BPF` (5.3).
const SO_DETACH_REUSEPORT_BPF: libc::c_int = 68;

/// The socket of a [`Link`] to an `sk_reuseport` program: on drop the program is taken
/// off the group and this duplicate closed; the caller's socket stays open.
#[derive(Debug)]
pub(crate) struct ReuseportGuard {
    socket: Option<OwnedFd>,
}

impl ReuseportGuard {
    pub(crate) fn detach(mut self, target: &str) -> Result<(), AttachError> {
        match self.socket.take() {
            Some(fd) => detach_program(fd.as_fd()).map_err(|error| AttachError::Sys {
                target: target.to_string(),
                error,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for ReuseportGuard {
    fn drop(&mut self) {
        if let Some(fd) = self.socket.take() {
            let _ = detach_program(fd.as_fd());
        }
    }
}

fn detach_program(socket: BorrowedFd<'_>) -> Result<(), SysError> {
    let detached = syscall::setsockopt_int(
        socket,
        libc::SOL_SOCKET,
        SO_DETACH_REUSEPORT_BPF,
        0,
        "setsockopt(SO_DETACH_REUSEPORT_BPF)",
    );
    match detached {
        // None attached any more (someone else detached it, or replaced it with a classic
        // filter): what was wanted. ENOPROTOOPT: before 5.3 there is no detach.
        Err(e) if e.errno == libc::ENOENT || e.errno == libc::ENOPROTOOPT => Ok(()),
        other => other,
    }
}

/// Sets an `sk_reuseport` program on the `SO_REUSEPORT` group of `socket` (a bound UDP
/// socket or a listening TCP socket with `SO_REUSEPORT` set). It replaces the group's
/// program, if it had one; dropping the link takes it off the group.
pub fn attach(prog: &Program, socket: BorrowedFd<'_>) -> Result<Link, AttachError> {
    if prog.program_type() != ProgramType::SkReuseport {
        return Err(AttachError::Unsupported {
            program: prog.name().to_string(),
            target: format!(
                "a SO_REUSEPORT group: its section {:?} is not an sk_reuseport program's",
                prog.section()
            ),
        });
    }
    let target = format!("SO_REUSEPORT group of socket fd {}", socket.as_raw_fd());
    let sys = |error| AttachError::Sys {
        target: target.clone(),
        error,
    };
    let own = duplicate(socket).map_err(sys)?;
    syscall::setsockopt_int(
        own.as_fd(),
        libc::SOL_SOCKET,
        SO_ATTACH_REUSEPORT_EBPF,
        prog.as_fd().as_raw_fd(),
        "setsockopt(SO_ATTACH_REUSEPORT_EBPF)",
    )
    .map_err(sys)?;
    let method = AttachMethod {
        probe: Probe::Reuseport,
        via: Via::ReuseportSetsockopt,
    };
    let guard = ReuseportGuard { socket: Some(own) };
    Ok(Link::of_owned(method, target, guard))
}
