//! Socket filters (`BPF_PROG_TYPE_SOCKET_FILTER`) on a socket: the program sees each
//! packet the socket would receive, and its return value is how many bytes of it the
//! socket keeps (0: none).
//!
//! ABI: `setsockopt(SOL_SOCKET, SO_ATTACH_BPF, &prog_fd)` and `SO_DETACH_BPF`
//! (= `SO_DETACH_FILTER`) in `include/uapi/asm-generic/socket.h`, documented in
//! `Documentation/networking/filter.rst` and `socket(7)`; the packet socket (`AF_PACKET`,
//! `SOCK_RAW`, `htons(ETH_P_ALL)`, bound with `struct sockaddr_ll` to one interface) in
//! `include/uapi/linux/if_packet.h` and `packet(7)`, as libbpf-bootstrap's `sockfilter.c`
//! opens it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::load::Program;
use crate::syscall::{self, SysError};

/// `SO_ATTACH_BPF` (3.19).
const SO_ATTACH_BPF: libc::c_int = 50;
/// `SO_DETACH_BPF`, the same number as `SO_DETACH_FILTER`.
const SO_DETACH_BPF: libc::c_int = 27;
/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// The socket of a [`Link`] to a socket filter: a duplicate of the caller's fd, or the
/// packet socket [`attach_packet_socket`] opened. On drop the filter is detached
/// (`SO_DETACH_BPF`) and this fd closed; the caller's own fd stays open.
#[derive(Debug)]
pub(crate) struct SocketGuard {
    socket: Option<OwnedFd>,
}

impl SocketGuard {
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.socket.as_ref().map(|fd| fd.as_fd())
    }

    pub(crate) fn detach(mut self, target: &str) -> Result<(), AttachError> {
        match self.socket.take() {
            Some(fd) => detach_filter(fd.as_fd()).map_err(|error| AttachError::Sys {
                target: target.to_string(),
                error,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(fd) = self.socket.take() {
            let _ = detach_filter(fd.as_fd());
        }
    }
}

fn set_socket_option(
    socket: BorrowedFd<'_>,
    option: libc::c_int,
    value: libc::c_int,
    op: &'static str,
) -> Result<(), SysError> {
    syscall::setsockopt_int(socket, libc::SOL_SOCKET, option, value, op)
}

fn detach_filter(socket: BorrowedFd<'_>) -> Result<(), SysError> {
    match set_socket_option(socket, SO_DETACH_BPF, 0, "setsockopt(SO_DETACH_BPF)") {
        // Nothing attached any more (someone else detached it): that is what was wanted.
        Err(e) if e.errno == libc::ENOENT => Ok(()),
        other => other,
    }
}

fn attach_to(prog: BorrowedFd<'_>, socket: OwnedFd, target: String) -> Result<Link, AttachError> {
    set_socket_option(
        socket.as_fd(),
        SO_ATTACH_BPF,
        prog.as_raw_fd(),
        "setsockopt(SO_ATTACH_BPF)",
    )
    .map_err(|error| AttachError::Sys {
        target: target.clone(),
        error,
    })?;
    Ok(Link {
        method: AttachMethod {
            probe: Probe::Socket,
            via: Via::Setsockopt,
        },
        target,
        bpf_link: None,
        perf_event: None,
        kprobe: None,
        owned: Some(Box::new(SocketGuard {
            socket: Some(socket),
        })),
    })
}

/// Attaches a socket filter to `socket` (any kind: a packet, UDP or TCP socket...). The
/// link holds a duplicate of the fd: the filter stays until the link is dropped (it is
/// then detached) or the socket is closed by all its holders.
pub fn attach(prog: &Program, socket: BorrowedFd<'_>) -> Result<Link, AttachError> {
    let prog = prog.as_fd();
    let target = format!("socket fd {}", socket.as_raw_fd());
    let own = socket.try_clone_to_owned().map_err(|e| AttachError::Sys {
        target: target.clone(),
        error: SysError::new("fcntl(F_DUPFD_CLOEXEC)", e.raw_os_error().unwrap_or(0)),
    })?;
    attach_to(prog, own, target)
}

/// Opens a raw packet socket on `interface` (every protocol, both directions, as
/// libbpf-bootstrap's `sockfilter.c` does) and attaches the filter to it. The link owns
/// the socket ([`Link::socket`] to read what the filter keeps) and closes it on drop.
pub fn attach_packet(prog: &Program, interface: &str) -> Result<Link, AttachError> {
    let prog = prog.as_fd();
    let ifindex = super::tc::interface_index(interface)?;
    let target = format!("AF_PACKET socket on {interface} (ifindex {ifindex})");
    let sys = |error| AttachError::Sys {
        target: target.clone(),
        error,
    };
    let socket = syscall::packet_socket(ifindex, ETH_P_ALL).map_err(sys)?;
    attach_to(prog, socket, target)
}
