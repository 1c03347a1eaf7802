//! A cgroup v2 directory of the test's own, and a child process that runs in it: for the
//! cgroup attach tests. The cgroup2 mount is found in `/proc/self/mountinfo` (this host:
//! `/sys/fs/cgroup/unified`); where none is mounted (a guest whose init mounts none),
//! cgroup2 is mounted once per test process on a directory of its own under /tmp, and left
//! there (a guest is thrown away after its run).
//!
//! The test never moves itself (every test thread of the process would follow): it forks
//! a child, which moves itself into the cgroup (writing "0" to `cgroup.procs`), does what
//! the test asks with plain system calls (the child of a multi-threaded process may not
//! allocate: another thread may hold the allocator's lock), writes its results into a
//! pipe and exits. A forked child inherits the calling thread's network namespace.
//!
//! And a copy of every fd of the process, the links of the tests running beside included:
//! a BPF link stays attached while any copy of its fd is open, so a test that drops its
//! link and then checks that the program no longer runs would fail whenever another test's
//! child happened to be alive. So the child closes every inherited fd but its pipe first
//! thing and says so, forks are taken under [`FORKS`], and a test drops its link under
//! [`quiet`]: no child holds a copy then.
#![allow(dead_code)] // each test crate uses a part

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The cgroup2 mount point, or why there is none.
pub fn cgroup2_mount() -> Result<PathBuf, String> {
    static MOUNT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    MOUNT.get_or_init(find_or_mount).clone()
}

/// The mount point of the first `cgroup2` filesystem in `/proc/self/mountinfo`.
fn find_in_mountinfo() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split(' ').next()?;
        let mount_point = left.split(' ').nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

fn find_or_mount() -> Result<PathBuf, String> {
    if let Some(path) = find_in_mountinfo() {
        return Ok(path);
    }
    let dir = std::env::temp_dir().join(format!("ebpf-loader-cgroup2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: NUL-terminated strings that live across the call; no data.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            target.as_ptr(),
            c"cgroup2".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "no cgroup2 mount, and mount -t cgroup2 failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(dir)
}

/// A cgroup of the test's own, removed when dropped (once its processes are gone).
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    /// `ebpf-loader-NAME-PID` under the cgroup2 mount; `Err` (the reason to skip) where
    /// there is no cgroup v2.
    pub fn new(name: &str) -> Result<TestCgroup, String> {
        let mount = cgroup2_mount()?;
        let path = mount.join(format!("ebpf-loader-{name}-{}", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        Ok(TestCgroup { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forks a child that moves itself into this cgroup, runs `body` there and sends back
    /// the `N` numbers it returns (0 for success, an errno, a count...). `body` must make
    /// only async-signal-safe calls (no allocation, no lock, no print).
    pub fn run<const N: usize>(&self, body: impl FnOnce() -> [i32; N]) -> [i32; N] {
        let forking = quiet();
        let procs = CString::new(self.path.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
        let mut fds = [0; 2];
        // SAFETY: `fds` is an array of two ints the kernel fills.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the kernel just gave these fds; nothing else owns them.
        let (reader, writer) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the child makes only async-signal-safe calls (open, write, the body's
        // socket calls, _exit) and never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            child(&procs, writer.as_raw_fd(), body);
        }
        drop(writer);
        let mut reader = std::fs::File::from(reader);
        let mut ready = [0u8; 1];
        reader.read_exact(&mut ready).unwrap();
        assert_eq!(ready, *b"r", "the child did not close the fds it inherited");
        drop(forking);
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child in {} failed: status {status:#x}",
            self.path.display()
        );
        assert_eq!(bytes.len(), N * 4, "the child sent {} bytes", bytes.len());
        let mut out = [0i32; N];
        for (slot, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *slot = i32::from_ne_bytes(chunk.try_into().unwrap());
        }
        out
    }
}

/// Held while a child of [`TestCgroup::run`] may hold copies of the process's fds.
static FORKS: Mutex<()> = Mutex::new(());

/// No child of this process holds a copy of its fds while this is held: drop a link under
/// it before checking that its program no longer runs.
pub fn quiet() -> MutexGuard<'static, ()> {
    FORKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The forked child: closes what it inherited, into the cgroup, the body, the results into
/// the pipe, exit.
fn child<const N: usize>(procs: &CString, pipe: i32, body: impl FnOnce() -> [i32; N]) -> ! {
    // SAFETY: close_range(2) (5.9) on fd numbers only; then the ready byte to our pipe.
    unsafe {
        let all = libc::c_uint::MAX;
        let low = if pipe > 3 {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                (pipe - 1) as libc::c_uint,
                0,
            )
        } else {
            0
        };
        let high = libc::syscall(libc::SYS_close_range, (pipe + 1) as libc::c_uint, all, 0);
        if low != 0 || high != 0 || libc::write(pipe, b"r".as_ptr().cast(), 1) != 1 {
            libc::_exit(102);
        }
    }
    // SAFETY: async-signal-safe calls on a NUL-terminated path and a local buffer.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
            libc::_exit(100);
        }
        libc::close(fd);
    }
    let results = body();
    // SAFETY: writes the results array, then exits without running any destructor.
    unsafe {
        let len = std::mem::size_of_val(&results);
        if libc::write(pipe, results.as_ptr().cast(), len) != len as isize {
            libc::_exit(101);
        }
        libc::_exit(0);
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // The reaped child leaves the cgroup a moment later (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.path).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The calling thread's errno after a failed call (0 after a successful one): for the
/// child's bodies.
pub fn errno_of(rc: i64) -> i32 {
    if rc < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

/// `socket(AF_INET, type)` then `connect` to 127.0.0.1:`port`: 0, or the errno of the
/// call that failed. Async-signal-safe.
pub fn connect4(kind: i32, port: u16) -> i32 {
    // SAFETY: plain socket calls on a local sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return errno_of(-1);
        }
        let addr = sockaddr_in(port);
        let rc = libc::connect(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        let errno = errno_of(rc as i64);
        libc::close(fd);
        errno
    }
}

/// `sendto` of `n` datagrams of 8 bytes to 127.0.0.1:`port` from one UDP socket: 0, or
/// the errno of the call that failed. Async-signal-safe.
pub fn send_datagrams(port: u16, n: usize) -> i32 {
    // SAFETY: plain socket calls on a local sockaddr_in and buffer.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return errno_of(-1);
        }
        let addr = sockaddr_in(port);
        let data = [7u8; 8];
        for _ in 0..n {
            let rc = libc::sendto(
                fd,
                data.as_ptr().cast(),
                data.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            if rc < 0 {
                let errno = errno_of(-1);
                libc::close(fd);
                return errno;
            }
        }
        libc::close(fd);
        0
    }
}

/// 127.0.0.1:`port`.
pub fn sockaddr_in(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    }
}
