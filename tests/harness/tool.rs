//! What the tests of the tool share: starting `tcpconnect`, reading its lines, making
//! connections from a named thread or a child process. Each test starts its own tool and
//! listens on its own ports, so tests can run in parallel.
#![allow(dead_code)] // each test crate uses a part

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub const TOOL: &str = env!("CARGO_BIN_EXE_tcpconnect");
/// How long to wait for the tool to start or for a line; only a bound, never an assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running `tcpconnect`, its stdout and stderr lines arriving on channels.
pub struct Tool {
    pub child: Child,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
    /// Every stdout line received so far.
    pub seen: Vec<String>,
    /// What the tool said on stderr before it was ready (the `-v` tour).
    pub said_before_ready: Vec<String>,
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Tool {
    /// Starts `tcpconnect -v --attach tracepoint ARGS` and waits until it says it is ready.
    pub fn start(args: &[&str]) -> Tool {
        Tool::start_raw(&[&["--attach", "tracepoint"], args].concat())
    }

    /// Starts `tcpconnect -v ARGS` and waits until it says it is ready (the `ready` line of
    /// `-v` comes once the program is attached and the rings are open).
    pub fn start_raw(args: &[&str]) -> Tool {
        let mut child = Command::new(TOOL)
            .arg("-v")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpconnect");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let mut tool = Tool {
            child,
            stdout,
            stderr,
            seen: Vec::new(),
            said_before_ready: Vec::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match tool.stderr.recv_timeout(left) {
                Ok(line) if line.starts_with("tcpconnect: ready") => return tool,
                Ok(line) => tool.said_before_ready.push(line),
                Err(_) => break,
            }
        }
        let (_, stderr) = tool.stop();
        panic!("tcpconnect {args:?} did not get ready: {stderr}");
    }

    /// The first stdout line (already received, or arriving within a bound) that
    /// satisfies `wanted`. Events from different CPUs can come in any order.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        let (lines, stderr) = self.stop();
        panic!("no line for {what}; stdout: {lines:#?}; stderr: {stderr}");
    }

    /// Stops the tool with SIGINT; returns every stdout line it printed and its whole
    /// stderr.
    /// The tool must exit with status 0.
    pub fn stop(&mut self) -> (Vec<String>, String) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let status = self.child.wait().expect("wait for tcpconnect");
        // The pipes close when the tool exits: the channels then end.
        let mut lines = std::mem::take(&mut self.seen);
        lines.extend(self.stdout.iter());
        let mut stderr = std::mem::take(&mut self.said_before_ready);
        stderr.extend(self.stderr.iter());
        let stderr = stderr.join("\n");
        assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr}");
        (lines, stderr)
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The columns of a text line.
pub fn fields(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Is this text line an event for destination port `port` (the last column)?
pub fn for_port(line: &str, port: u16) -> bool {
    fields(line).last() == Some(&port.to_string().as_str())
}

pub fn listen(ip: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(SocketAddr::new(ip.parse().unwrap(), 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Connects from a new thread of this process named `name` (tid != pid: the filters are
/// per process, so the thread counts as this process). Returns the local address.
pub fn connect_from_thread(target: SocketAddr, name: &'static [u8]) -> SocketAddr {
    thread::spawn(move || {
        // The thread's comm, bytes as given (what prctl(PR_SET_NAME) sets).
        std::fs::write("/proc/thread-self/comm", name).expect("set the thread's name");
        let stream = TcpStream::connect(target).expect("connect");
        stream.local_addr().unwrap()
    })
    .join()
    .unwrap()
}

/// Connects from a child process (`bash`, its `/dev/tcp`), as `uid` when given, and waits
/// for it to finish.
pub fn connect_from_child(target: SocketAddr, uid: Option<u32>) {
    let mut command = Command::new("bash");
    command.arg("-c").arg(format!(
        "exec 3<>/dev/tcp/{}/{}",
        target.ip(),
        target.port()
    ));
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    let status = command.status().expect("run bash");
    assert!(status.success(), "the child's connect to {target} failed");
}

pub fn our_pid() -> String {
    std::process::id().to_string()
}

/// Runs the tool to the end: its exit code, stdout and stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(TOOL)
        .args(args)
        .output()
        .expect("run tcpconnect");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A listener on `ip` whose accept queue is full, so that the kernel drops the next SYN sent
/// to it (`tcp_conn_request`; loopback only, nothing leaves the machine). Its backlog is set
/// to 1 (`listen(2)` again on a listening socket only changes the backlog; std's
/// `TcpListener` asks for 128) and it holds two connections it never accepts: the queue is
/// full once it holds more than the backlog. With a backlog of 0 one connection would do,
/// but that one is answered only with a SYN cookie (`net.ipv4.tcp_syncookies`); with 1,
/// both are ordinary handshakes. Returns the listener, the connections that fill it, and
/// the address.
pub fn listen_full(ip: &str) -> (TcpListener, [TcpStream; 2], SocketAddr) {
    use std::os::fd::AsRawFd;
    let (listener, addr) = listen(ip);
    // SAFETY: listen(2) on a socket this function owns, with plain integer arguments.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 1) };
    assert_eq!(rc, 0, "listen(1): {}", std::io::Error::last_os_error());
    let fillers = [(); 2].map(|_| TcpStream::connect(addr).expect("a connection that fills"));
    // The handshake ends on the client first: wait until the listener holds both (for a
    // listening socket TCP_INFO gives the accept queue's length as tcpi_unacked).
    let deadline = Instant::now() + PATIENCE;
    while tcp_info(listener.as_raw_fd()).tcpi_unacked < 2 {
        assert!(Instant::now() < deadline, "the listener never held both");
        thread::sleep(Duration::from_millis(10));
    }
    (listener, fillers, addr)
}

/// A non-blocking `connect(2)` to `target` from a new thread named `name`: it returns
/// `EINPROGRESS` and the socket stays open, in SYN_SENT until the handshake ends. std has
/// no such connect: the socket is made with libc and handed to a `TcpStream` (which closes
/// it on drop), and its local address is there at once (the kernel picks the port before
/// it sends the SYN).
pub fn connect_pending(target: SocketAddr, name: &'static [u8]) -> TcpStream {
    use std::os::fd::{FromRawFd, OwnedFd};
    thread::spawn(move || {
        std::fs::write("/proc/thread-self/comm", name).expect("set the thread's name");
        let family = if target.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: socket(2) with constant arguments; the fd is owned at once below.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let (storage, len) = sockaddr_of(target);
        use std::os::fd::AsRawFd;
        // SAFETY: storage holds a sockaddr_in or sockaddr_in6 of `len` bytes.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
                len,
            )
        };
        let error = std::io::Error::last_os_error();
        assert!(
            rc == -1 && error.raw_os_error() == Some(libc::EINPROGRESS),
            "connect to {target}: expected EINPROGRESS, got {rc} ({error})"
        );
        TcpStream::from(fd)
    })
    .join()
    .unwrap()
}

/// `target` as the kernel reads it: a sockaddr_in or sockaddr_in6, and its length.
fn sockaddr_of(target: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match target {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// `TCP_SYN_SENT` of include/net/tcp_states.h (libc has no name for it on Linux).
pub const TCP_SYN_SENT: u8 = 2;

/// The kernel's view of a TCP socket (`TCP_INFO`): its state ([`TCP_SYN_SENT`], ...) and
/// how many segments it has sent again.
pub fn tcp_state(stream: &TcpStream) -> (u8, u32) {
    use std::os::fd::AsRawFd;
    let info = tcp_info(stream.as_raw_fd());
    (info.tcpi_state, info.tcpi_total_retrans)
}

fn tcp_info(fd: std::os::fd::RawFd) -> libc::tcp_info {
    // SAFETY: tcp_info is plain data; all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, on a socket the caller owns.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut libc::tcp_info as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info
}

/// Makes sure `/sys/fs/bpf` is a bpf filesystem before a test pins there with bpftool, once
/// per test process. bpftool mounts one itself when it finds none, but two tests doing so at
/// the same moment each mount their own, and the pin made in the first is hidden under the
/// second (seen on a fresh machine: "bpf obj get ...: No such file or directory").
pub fn sys_fs_bpf() {
    static MOUNTED: std::sync::Once = std::sync::Once::new();
    MOUNTED.call_once(|| {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mounted = mounts.lines().any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            fields.next() == Some("/sys/fs/bpf") && fields.next() == Some("bpf")
        });
        if !mounted {
            let status = Command::new("mount")
                .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
                .status()
                .expect("run mount");
            assert!(status.success(), "mount -t bpf bpf /sys/fs/bpf");
        }
    });
}
