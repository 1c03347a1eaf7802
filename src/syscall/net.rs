//! The socket calls of the attach step: an rtnetlink socket (tc filters before TCX), a raw
//! packet socket bound to one interface and `setsockopt` (socket filters), and interface
//! names turned into indices.
//!
//! ABI: `socket(2)`, `bind(2)`, `sendto(2)`, `recv(2)`, `setsockopt(2)`; `AF_NETLINK` and
//! `NETLINK_ROUTE` in `include/uapi/linux/netlink.h` (`netlink(7)`, `rtnetlink(7)`),
//! `NETLINK_EXT_ACK` (4.12) for the kernel's own words with an error; `AF_PACKET` and
//! `struct sockaddr_ll` in `include/uapi/linux/if_packet.h` (`packet(7)`); the interface
//! index lookups `if_nametoindex(3)`, `if_indextoname(3)`. The messages sent are built,
//! and the answers parsed, by pure code in `attach::netlink`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::SysError;

/// A new fd from `socket(2)`'s result (a `c_int`, widened by the seam).
fn owned_socket(fd: Result<i64, i32>, op: &'static str) -> Result<OwnedFd, SysError> {
    let fd = fd.map_err(|errno| SysError::new(op, errno))? as libc::c_int;
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets an `int` socket option; `op` names it in the error (`setsockopt(SO_ATTACH_BPF)`).
pub fn setsockopt_int(
    socket: BorrowedFd<'_>,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
    op: &'static str,
) -> Result<(), SysError> {
    let call = super::seam::Call::Setsockopt {
        op,
        fd: socket.as_raw_fd(),
        value,
    };
    super::seam::call(call, || {
        // SAFETY: `value` is a c_int that lives across the call; its size is passed.
        i64::from(unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                option,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
    })
    .map(drop)
    .map_err(|errno| SysError::new(op, errno))
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket, close-on-exec, with extended acks asked for
/// (where the kernel has none, before 4.12, errors come with their errno alone).
pub fn netlink_route_socket() -> Result<OwnedFd, SysError> {
    let op = "socket(AF_NETLINK)";
    let call = super::seam::Call::Socket {
        op,
        domain: libc::AF_NETLINK,
        protocol: libc::NETLINK_ROUTE,
    };
    let fd = super::seam::call(call, || {
        // SAFETY: socket(2) with constant arguments.
        i64::from(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })
    });
    let fd = owned_socket(fd, op)?;
    let _ = setsockopt_int(
        std::os::fd::AsFd::as_fd(&fd),
        libc::SOL_NETLINK,
        libc::NETLINK_EXT_ACK,
        1,
        "setsockopt(NETLINK_EXT_ACK)",
    );
    Ok(fd)
}

/// Sends one netlink request to the kernel (port id 0).
pub fn netlink_send(socket: BorrowedFd<'_>, request: &[u8]) -> Result<(), SysError> {
    // SAFETY: sockaddr_nl is plain data; all zeros is the kernel's address (nl_pid 0).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    let call = super::seam::Call::Sendto {
        fd: socket.as_raw_fd(),
        data: request,
    };
    super::seam::call(call, || {
        // SAFETY: `request` and `kernel` live across the call, their lengths are passed.
        unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                request.as_ptr() as *const libc::c_void,
                request.len(),
                0,
                &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            ) as i64
        }
    })
    .map(drop)
    .map_err(|errno| SysError::new("sendto(NETLINK_ROUTE)", errno))
}

/// Receives one datagram into `buf` (retried on `EINTR`); its length.
pub fn recv(socket: BorrowedFd<'_>, buf: &mut [u8], op: &'static str) -> Result<usize, SysError> {
    loop {
        let n = super::seam::recv(socket.as_raw_fd(), buf, |buf| {
            // SAFETY: `buf` is writable for its length across the call.
            unsafe {
                libc::recv(
                    socket.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                ) as i64
            }
        });
        match n {
            Ok(n) => return Ok(n),
            Err(libc::EINTR) => continue,
            Err(errno) => return Err(SysError::new(op, errno)),
        }
    }
}

/// A raw packet socket (`AF_PACKET`, `SOCK_RAW`, non-blocking, close-on-exec) for
/// `protocol` (`ETH_P_*`, host order), bound to the interface `ifindex`.
pub fn packet_socket(ifindex: u32, protocol: u16) -> Result<OwnedFd, SysError> {
    let op = "socket(AF_PACKET)";
    let call = super::seam::Call::Socket {
        op,
        domain: libc::AF_PACKET,
        protocol: libc::c_int::from(protocol.to_be()),
    };
    let fd = super::seam::call(call, || {
        // SAFETY: socket(2) with constant arguments.
        i64::from(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(protocol.to_be()),
            )
        })
    });
    let socket = owned_socket(fd, op)?;
    // SAFETY: sockaddr_ll is plain data; all zeros is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol.to_be();
    address.sll_ifindex = ifindex as i32;
    let call = super::seam::Call::BindPacket {
        fd: socket.as_raw_fd(),
        ifindex: address.sll_ifindex,
    };
    super::seam::call(call, || {
        // SAFETY: `address` lives across the call and its size is passed.
        i64::from(unsafe {
            libc::bind(
                socket.as_raw_fd(),
                &address as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
    })
    .map_err(|errno| SysError::new("bind(AF_PACKET)", errno))?;
    Ok(socket)
}

/// The index of the interface named `name`; `None` when there is none.
pub fn interface_index(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is NUL-terminated and lives across the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Whether an interface has the index `index`.
pub fn interface_exists(index: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname writes at most.
    !unsafe { libc::if_indextoname(index, name.as_mut_ptr()) }.is_null()
}
