//! vmhelper: the small static helper the VM test script runs inside the guest.
//!
//! Built by `tests/vm/run` with plain `rustc` (std only, no crates) for
//! `x86_64-unknown-linux-musl` (or `aarch64-unknown-linux-musl`), so the guest needs no libc. Two jobs:
//!
//! - `vmhelper connect ADDR PORT [COUNT]`: make COUNT (default 1) TCP connects
//!   from this one process, so the test knows the pid and comm (`vmhelper`)
//!   that `tcpconnect` must report. Connects to a closed port are refused with
//!   an RST, which is enough: the kernel has already run `tcp_connect()` and
//!   moved the socket to `TCP_SYN_SENT` when the refusal comes back. Prints
//!   `connects=N accepted=A refused=R other=O`.
//! - `vmhelper connect-listening ADDR PORT`: listen on ADDR:PORT, connect to it from this same
//!   process, accept, and print `sport=N`, the connecting socket's local port, so that the
//!   test knows every field of the event, source port included.
//! - `vmhelper connect-unanswered ADDR PORT SECS`: a connect whose SYN gets no answer. Listens
//!   on ADDR:PORT with a backlog of 0 and fills the accept queue with one connection it never
//!   accepts (printing `filler_sport=N` once the listener holds it); the kernel then drops
//!   the next SYN. Makes a non-blocking connect (`EINPROGRESS`), prints `sport=N`, keeps the
//!   socket open SECS seconds (its SYN is sent again meanwhile, the first time after about
//!   1 s), prints `closing: state=S retransmits=R` from `TCP_INFO` (2 is SYN_SENT) and
//!   closes it.
//! - `vmhelper spawn PROGRAM ARGS...`: give SIGINT and SIGQUIT back their default action, then
//!   exec PROGRAM (same pid). A shell starts its background commands with both ignored
//!   (POSIX, "Asynchronous Lists"); a program run from a terminal has them at their default,
//!   and that is how the test wants to run `tcpconnect` before it sends SIGINT.
//! - `vmhelper no-sys-resource PROGRAM ARGS...`: drop `CAP_SYS_RESOURCE` (from the bounding
//!   set with `prctl(PR_CAPBSET_DROP)`, and from the effective, permitted and inheritable sets
//!   with `capset(2)`), then exec PROGRAM: a root that cannot raise its `RLIMIT_MEMLOCK`, as a
//!   container or a systemd unit without the capability is.
//! - `vmhelper bpf-count`: count the BPF programs, maps and links the kernel
//!   holds, by walking `BPF_PROG_GET_NEXT_ID` (11), `BPF_MAP_GET_NEXT_ID` (12)
//!   and `BPF_LINK_GET_NEXT_ID` (31) (`include/uapi/linux/bpf.h`; the walk ends
//!   with `ENOENT`). Prints `progs=P maps=M links=L`. bpftool is not in the
//!   guest; this is the part of it the test needs.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

// The system call numbers are the architecture's (arch/x86/entry/syscalls/syscall_64.tbl;
// arm64 uses the generic table, include/uapi/asm-generic/unistd.h).
#[cfg(target_arch = "x86_64")]
const SYS_BPF: i64 = 321;
#[cfg(target_arch = "aarch64")]
const SYS_BPF: i64 = 280;
const BPF_PROG_GET_NEXT_ID: i64 = 11;
const BPF_MAP_GET_NEXT_ID: i64 = 12;
const BPF_LINK_GET_NEXT_ID: i64 = 31;
const SIGINT: i32 = 2;
const SIGQUIT: i32 = 3;
const SIG_DFL: usize = 0;
const ENOENT: i32 = 2;
const EINVAL: i32 = 22;

extern "C" {
    fn syscall(number: i64, ...) -> i64;
    fn signal(signum: i32, handler: usize) -> usize;
    fn prctl(option: i32, ...) -> i32;
}

const PR_CAPBSET_DROP: i32 = 24;
const CAP_SYS_RESOURCE: u32 = 24;
#[cfg(target_arch = "x86_64")]
const SYS_CAPGET: i64 = 125;
#[cfg(target_arch = "x86_64")]
const SYS_CAPSET: i64 = 126;
#[cfg(target_arch = "aarch64")]
const SYS_CAPGET: i64 = 90;
#[cfg(target_arch = "aarch64")]
const SYS_CAPSET: i64 = 91;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct` and `struct __user_cap_data_struct`
/// (`include/uapi/linux/capability.h`); version 3 takes two data structs (64 capabilities).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn no_sys_resource(program: &str, args: &[&str]) -> Result<(), String> {
    // SAFETY: PR_CAPBSET_DROP takes the capability number and no pointer.
    if unsafe { prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE as u64, 0u64, 0u64, 0u64) } != 0 {
        return Err(format!("prctl(PR_CAPBSET_DROP): {}", std::io::Error::last_os_error()));
    }
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are live, writable and sized as version 3 wants.
    if unsafe { syscall(SYS_CAPGET, &mut header as *mut CapHeader, data.as_mut_ptr()) } != 0 {
        return Err(format!("capget: {}", std::io::Error::last_os_error()));
    }
    let bit = !(1u32 << CAP_SYS_RESOURCE);
    data[0].effective &= bit;
    data[0].permitted &= bit;
    data[0].inheritable &= bit;
    // SAFETY: as for capget; the kernel only reads them.
    if unsafe { syscall(SYS_CAPSET, &mut header as *mut CapHeader, data.as_ptr()) } != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    let err = std::process::Command::new(program).args(args).exec();
    Err(format!("exec {program}: {err}"))
}

/// The socket calls of connect-unanswered, which std does not offer.
mod sys {
    extern "C" {
        pub fn listen(fd: i32, backlog: i32) -> i32;
        pub fn poll(fds: *mut super::PollFd, nfds: u64, timeout: i32) -> i32;
        pub fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
        pub fn connect(fd: i32, addr: *const u8, len: u32) -> i32;
        pub fn getsockopt(fd: i32, level: i32, name: i32, value: *mut u8, len: *mut u32) -> i32;
    }
}

// For connect-unanswered: include/uapi/linux/{socket,in,tcp}.h, asm-generic/{fcntl,poll}.h.
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const SOCK_STREAM: i32 = 1;
const SOCK_NONBLOCK: i32 = 0o4000;
const EINPROGRESS: i32 = 115;
const IPPROTO_TCP: i32 = 6;
const TCP_INFO: i32 = 11;
const POLLIN: i16 = 1;

/// `struct pollfd`.
#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

fn spawn(program: &str, args: &[&str]) -> Result<(), String> {
    for signum in [SIGINT, SIGQUIT] {
        // SAFETY: setting a signal's action to SIG_DFL installs no handler and touches no memory.
        unsafe { signal(signum, SIG_DFL) };
    }
    // `exec` returns only on failure.
    let err = std::process::Command::new(program).args(args).exec();
    Err(format!("exec {program}: {err}"))
}

/// The `GET_NEXT_ID` part of `union bpf_attr`: `start_id`, `next_id`, `open_flags`.
#[repr(C)]
#[derive(Default)]
struct GetNextIdAttr {
    start_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// How many objects of one kind exist: follow the id chain until `ENOENT`.
/// `None` when the kernel does not know the command (`EINVAL`, e.g. links before 5.8).
fn count_ids(cmd: i64) -> Result<Option<u32>, String> {
    let mut attr = GetNextIdAttr::default();
    let mut count = 0u32;
    loop {
        // SAFETY: `attr` is a live, writable, correctly sized bpf_attr prefix;
        // the kernel reads and writes only `size_of::<GetNextIdAttr>()` bytes.
        let ret = unsafe {
            syscall(
                SYS_BPF,
                cmd,
                &mut attr as *mut GetNextIdAttr,
                std::mem::size_of::<GetNextIdAttr>() as u32,
            )
        };
        if ret < 0 {
            let err = std::io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(ENOENT) => Ok(Some(count)),
                Some(EINVAL) if count == 0 => Ok(None),
                _ => Err(format!("bpf cmd {cmd}: {err}")),
            };
        }
        count += 1;
        attr.start_id = attr.next_id;
    }
}

fn bpf_count() -> Result<(), String> {
    let show = |n: Option<u32>| n.map_or("unsupported".to_string(), |n| n.to_string());
    let progs = count_ids(BPF_PROG_GET_NEXT_ID)?;
    let maps = count_ids(BPF_MAP_GET_NEXT_ID)?;
    let links = count_ids(BPF_LINK_GET_NEXT_ID)?;
    println!(
        "progs={} maps={} links={}",
        show(progs),
        show(maps),
        show(links)
    );
    Ok(())
}

fn connect(addr: &str, port: &str, count: &str) -> Result<(), String> {
    let ip: IpAddr = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let port: u16 = port.parse().map_err(|e| format!("port {port}: {e}"))?;
    let count: u32 = count.parse().map_err(|e| format!("count {count}: {e}"))?;
    let target = SocketAddr::new(ip, port);
    let (mut accepted, mut refused, mut other) = (0u32, 0u32, 0u32);
    for _ in 0..count {
        match TcpStream::connect(target) {
            Ok(_) => accepted += 1,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused += 1,
            Err(e) => {
                eprintln!("vmhelper: connect {target}: {e}");
                other += 1;
            }
        }
    }
    println!("connects={count} accepted={accepted} refused={refused} other={other}");
    Ok(())
}

fn connect_listening(addr: &str, port: &str) -> Result<(), String> {
    let ip: IpAddr = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let port: u16 = port.parse().map_err(|e| format!("port {port}: {e}"))?;
    let target = SocketAddr::new(ip, port);
    let listener = TcpListener::bind(target).map_err(|e| format!("listen on {target}: {e}"))?;
    let stream = TcpStream::connect(target).map_err(|e| format!("connect {target}: {e}"))?;
    let local = stream
        .local_addr()
        .map_err(|e| format!("getsockname: {e}"))?;
    listener
        .accept()
        .map_err(|e| format!("accept on {target}: {e}"))?;
    println!("sport={}", local.port());
    Ok(())
}

/// `target` as a `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6` (28 bytes): the
/// family in host order, the port and the address in network order, the rest zero.
fn sockaddr(target: SocketAddr) -> Vec<u8> {
    let mut bytes = Vec::new();
    match target {
        SocketAddr::V4(v4) => {
            bytes.extend((AF_INET as u16).to_ne_bytes());
            bytes.extend(v4.port().to_be_bytes());
            bytes.extend(v4.ip().octets());
            bytes.extend([0u8; 8]);
        }
        SocketAddr::V6(v6) => {
            bytes.extend((AF_INET6 as u16).to_ne_bytes());
            bytes.extend(v6.port().to_be_bytes());
            bytes.extend([0u8; 4]); // sin6_flowinfo
            bytes.extend(v6.ip().octets());
            bytes.extend([0u8; 4]); // sin6_scope_id
        }
    }
    bytes
}

fn connect_unanswered(addr: &str, port: &str, secs: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    let ip: IpAddr = addr.parse().map_err(|e| format!("address {addr}: {e}"))?;
    let port: u16 = port.parse().map_err(|e| format!("port {port}: {e}"))?;
    let secs: u64 = secs.parse().map_err(|e| format!("seconds {secs}: {e}"))?;
    let target = SocketAddr::new(ip, port);
    let listener = TcpListener::bind(target).map_err(|e| format!("listen on {target}: {e}"))?;
    // listen(2) again on a listening socket only changes its backlog.
    // SAFETY: a plain system call on a socket this function owns.
    if unsafe { sys::listen(listener.as_raw_fd(), 0) } != 0 {
        return Err(format!("listen(0): {}", std::io::Error::last_os_error()));
    }
    let filler = TcpStream::connect(target).map_err(|e| format!("connect {target}: {e}"))?;
    // The queue is full once the listener holds the filler (readable: one to accept).
    let mut ready = PollFd {
        fd: listener.as_raw_fd(),
        events: POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd that lives across the call.
    if unsafe { sys::poll(&mut ready, 1, 10_000) } != 1 {
        return Err("the listener never held the first connection".to_string());
    }
    let filler_port = filler.local_addr().map_err(|e| format!("getsockname: {e}"))?.port();
    println!("filler_sport={filler_port}");

    let family = if target.is_ipv4() { AF_INET } else { AF_INET6 };
    // SAFETY: socket(2) with constant arguments; the fd is owned by a TcpStream at once.
    let fd = unsafe { sys::socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let address = sockaddr(target);
    // SAFETY: the address bytes outlive the call; their length is passed with them.
    let rc = unsafe { sys::connect(fd, address.as_ptr(), address.len() as u32) };
    let error = std::io::Error::last_os_error();
    if rc != -1 || error.raw_os_error() != Some(EINPROGRESS) {
        return Err(format!("connect {target}: {rc} ({error}), not EINPROGRESS"));
    }
    let local = stream.local_addr().map_err(|e| format!("getsockname: {e}"))?;
    println!("sport={}", local.port());
    std::io::stdout().flush().map_err(|e| format!("stdout: {e}"))?;
    std::thread::sleep(std::time::Duration::from_secs(secs));

    // struct tcp_info: tcpi_state is byte 0, tcpi_total_retrans the u32 at byte 100.
    let mut info = [0u8; 104];
    let mut len = info.len() as u32;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let rc = unsafe { sys::getsockopt(fd, IPPROTO_TCP, TCP_INFO, info.as_mut_ptr(), &mut len) };
    if rc != 0 || len < 104 {
        return Err(format!("TCP_INFO: {rc} ({})", std::io::Error::last_os_error()));
    }
    let retransmits = u32::from_ne_bytes([info[100], info[101], info[102], info[103]]);
    println!("closing: state={} retransmits={retransmits}", info[0]);
    drop(stream);
    drop(filler);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["bpf-count"] => bpf_count(),
        ["spawn", program, args @ ..] => spawn(program, args),
        ["no-sys-resource", program, args @ ..] => no_sys_resource(program, args),
        ["connect", addr, port] => connect(addr, port, "1"),
        ["connect", addr, port, count] => connect(addr, port, count),
        ["connect-listening", addr, port] => connect_listening(addr, port),
        ["connect-unanswered", addr, port, secs] => connect_unanswered(addr, port, secs),
        _ => Err(
            "usage: vmhelper bpf-count | connect ADDR PORT [COUNT] | connect-listening ADDR PORT \
             | connect-unanswered ADDR PORT SECS | spawn PROGRAM ARGS... | no-sys-resource PROGRAM ARGS..."
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmhelper: {e}");
            ExitCode::FAILURE
        }
    }
}
