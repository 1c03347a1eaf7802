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
//!
//! For traffic between two namespaces: [`new_namespace`] makes a second one (held by its
//! file, no thread left in it), [`run_in`] runs a closure on a thread inside it (a socket
//! made there stays there), and rtnetlink ([`add_veth`], [`move_to`], [`add_address`],
//! `rtnetlink(7)`, `include/uapi/linux/rtnetlink.h`, `if_link.h`, `veth.h`, `if_addr.h`)
//! makes a veth pair, moves its peer into the other namespace and gives each end an
//! address: no `ip` binary, so it runs in the busybox guests as on the host.
#![allow(dead_code)] // each test crate uses a part

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// A second network namespace, `lo` up, held by its file (no thread stays in it).
pub fn new_namespace() -> io::Result<File> {
    std::thread::spawn(|| {
        // SAFETY: unshare takes flags only; CLONE_NEWNET affects this short-lived thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        set_up("lo")?;
        File::open("/proc/thread-self/ns/net")
    })
    .join()
    .expect("the namespace thread")
}

/// Runs `f` on a thread inside the namespace `ns`, and returns what it returns (sockets
/// made there belong to that namespace wherever they are used afterwards).
pub fn run_in<R: Send>(ns: BorrowedFd<'_>, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                join(ns).expect("setns into the namespace");
                f()
            })
            .join()
            .expect("the thread in the namespace")
    })
}

// rtnetlink, as `ip link` and `ip addr` speak it.
const RTM_NEWLINK: u16 = 16;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 1 << 15;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// A netlink message: header, family header, attributes.
struct Message(Vec<u8>);

impl Message {
    fn new(msg_type: u16, flags: u16, header: &[u8]) -> Message {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
        buf.extend_from_slice(header);
        Message(buf)
    }

    fn attr(&mut self, attr_type: u16, data: &[u8]) -> &mut Message {
        self.0
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&attr_type.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize((self.0.len() + 3) & !3, 0);
        self
    }

    fn nested(&mut self, attr_type: u16, inner: impl FnOnce(&mut Message)) -> &mut Message {
        let start = self.0.len();
        self.attr(attr_type | NLA_F_NESTED, &[]);
        inner(self);
        let len = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// Sends it on a new `NETLINK_ROUTE` socket of the calling thread's namespace and
    /// waits for the kernel's acknowledgement.
    fn send(mut self) -> io::Result<()> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        // SAFETY: a plain socket call; the fd is owned right below.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new fd nobody else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the buffer is live and its length passed; no address: to the kernel.
        let sent =
            unsafe { libc::send(socket.as_raw_fd(), self.0.as_ptr().cast(), self.0.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 8192];
        // SAFETY: the buffer is live and its length passed.
        let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let reply = &buf[..n as usize];
        let msg_type = reply.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        let error = reply
            .get(16..20)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        match (msg_type, error) {
            (Some(NLMSG_ERROR), Some(0)) => Ok(()),
            (Some(NLMSG_ERROR), Some(e)) => Err(io::Error::from_raw_os_error(-e)),
            _ => Err(io::Error::other(format!("unexpected reply {reply:?}"))),
        }
    }
}

/// `struct ifinfomsg` for interface `index` (0: a new one).
fn ifinfomsg(index: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// The index of interface `name` in the calling thread's namespace.
pub fn index_of(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: `c` is a NUL-terminated string that lives across the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

/// `ip link add NAME type veth peer name PEER`, in the calling thread's namespace:
/// `RTM_NEWLINK` with `IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA {
/// VETH_INFO_PEER { ifinfomsg, IFLA_IFNAME } } }`.
pub fn add_veth(name: &str, peer: &str) -> io::Result<()> {
    let mut m = Message::new(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        &ifinfomsg(0),
    );
    m.attr(IFLA_IFNAME, &name_bytes(name))
        .nested(IFLA_LINKINFO, |info| {
            info.attr(IFLA_INFO_KIND, b"veth\0")
                .nested(IFLA_INFO_DATA, |data| {
                    data.nested(VETH_INFO_PEER, |p| {
                        // The peer's own ifinfomsg, then its attributes.
                        p.0.extend_from_slice(&ifinfomsg(0));
                        p.attr(IFLA_IFNAME, &name_bytes(peer));
                    });
                });
        });
    m.send()
}

/// `ip link set NAME netns NS`: `RTM_SETLINK` with `IFLA_NET_NS_FD`.
pub fn move_to(name: &str, ns: BorrowedFd<'_>) -> io::Result<()> {
    let mut m = Message::new(
        RTM_SETLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        &ifinfomsg(index_of(name)?),
    );
    m.attr(IFLA_NET_NS_FD, &(ns.as_raw_fd() as u32).to_ne_bytes());
    m.send()
}

/// `ip addr add ADDRESS/PREFIX dev NAME`: `RTM_NEWADDR` with `IFA_LOCAL` and `IFA_ADDRESS`.
pub fn add_address(name: &str, address: Ipv4Addr, prefix: u8) -> io::Result<()> {
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    let mut header = vec![libc::AF_INET as u8, prefix, 0, 0];
    header.extend_from_slice(&index_of(name)?.to_ne_bytes());
    let mut m = Message::new(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        &header,
    );
    m.attr(IFA_LOCAL, &address.octets())
        .attr(IFA_ADDRESS, &address.octets());
    m.send()
}
