//! Faults: what `tcpconnect` does when it is stopped in the middle of a storm, when its
//! rings overflow, and when what it is given is wrong. Each case checks the exit status,
//! the exact words on stderr, and that nothing of the tool is left in the kernel.
//!
//! Needs root (the tool loads eBPF programs). Parallel-safe: each test starts its own
//! tool, listens on its own ports, counts only lines for those ports, and checks only the
//! kernel objects (program, map and link ids) that its own tool held.
//!
//! "Nothing left in the kernel": the tool does not print its ids, so they are read from
//! `/proc/PID/fdinfo` while it runs (`prog_id:`, `map_id:`, `link_id:`, written by the
//! kernel's `bpf_prog_show_fdinfo` and friends), and after it exits each id is looked up
//! with `BPF_{PROG,MAP,LINK}_GET_FD_BY_ID`, which says `ENOENT` once the object is freed.
//! The kernel frees them after the last reference goes (RCU, work queues), so the check
//! waits for that, within a bound.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const TOOL: &str = env!("CARGO_BIN_EXE_tcpconnect");
const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");

// --- the tool ----------------------------------------------------------------------

/// A running `tcpconnect` whose stdout lines arrive on a channel.
struct Tool {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<ChildStderr>,
}

impl Tool {
    /// Starts the tool and waits for its header (printed once attached, rings open).
    fn start(args: &[&str]) -> Tool {
        let mut child = Command::new(TOOL)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpconnect");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take();
        let mut tool = Tool {
            child,
            lines,
            stderr,
        };
        match tool.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(header) => assert!(header.starts_with("PID"), "header: {header:?}"),
            Err(_) => {
                let _ = tool.child.kill();
                let _ = tool.child.wait();
                panic!("tcpconnect did not start: {}", tool.stderr_text());
            }
        }
        tool
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("kill");
    }

    /// Waits for the lines of `port` until there are `count` of them (or no line came for
    /// 10 s); returns how many arrived.
    fn count_lines_for(&self, port: u16, count: u64) -> u64 {
        let mut seen = 0;
        while seen < count {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if dport(&line) == Some(port) => seen += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        seen
    }

    /// Waits (at most 30 s) for the tool to exit.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tcpconnect did not exit within 30 s of the signal");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr_text(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The destination port of an output line: its last column.
fn dport(line: &str) -> Option<u16> {
    line.split_whitespace().last()?.parse().ok()
}

/// Runs the tool to completion; returns its exit code, stdout and stderr.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(TOOL)
        .args(args)
        .output()
        .expect("run tcpconnect");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts exit status 1, nothing on stdout and exactly one line on stderr; returns it.
fn one_error_line(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, Some(1), "exit status of {args:?}; stderr: {stderr}");
    assert_eq!(stdout, "", "stdout of {args:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stderr of {args:?} is not one line: {stderr:?}"
    );
    lines[0].to_string()
}

// --- kernel objects ------------------------------------------------------------------

/// The eBPF objects a process holds, from its `/proc/PID/fdinfo`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Held {
    progs: BTreeSet<u32>,
    maps: BTreeSet<u32>,
    links: BTreeSet<u32>,
}

fn held_by(pid: Pid) -> Held {
    let mut held = Held::default();
    let dir = format!("/proc/{pid}/fdinfo");
    for entry in std::fs::read_dir(&dir).expect("fdinfo").flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue; // closed meanwhile
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(id) = value.trim().parse::<u32>() else {
                continue;
            };
            match key {
                "prog_id" => held.progs.insert(id),
                "map_id" => held.maps.insert(id),
                "link_id" => held.links.insert(id),
                _ => false,
            };
        }
    }
    held
}

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;

/// `BPF_*_GET_FD_BY_ID`: true while the object exists (the fd is closed at once).
fn exists(command: libc::c_long, id: u32) -> bool {
    // `union bpf_attr` for the GET_FD_BY_ID commands: id, next_id, open_flags.
    let attr: [u32; 3] = [id, 0, 0];
    // SAFETY: bpf(2) reads `size` bytes of a valid, initialised attribute; the fd it may
    // return is ours and closed right away.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd >= 0 {
        // SAFETY: a fd the kernel just gave us and nobody else knows.
        unsafe { libc::close(fd as i32) };
        return true;
    }
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert_eq!(errno, Some(libc::ENOENT), "GET_FD_BY_ID({command}, {id})");
    false
}

/// Waits (at most 10 s) for every object in `held` to be freed; returns what is left.
fn left_in_kernel(held: &Held) -> Held {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = Held {
            progs: held
                .progs
                .iter()
                .copied()
                .filter(|&id| exists(BPF_PROG_GET_FD_BY_ID, id))
                .collect(),
            maps: held
                .maps
                .iter()
                .copied()
                .filter(|&id| exists(BPF_MAP_GET_FD_BY_ID, id))
                .collect(),
            links: held
                .links
                .iter()
                .copied()
                .filter(|&id| exists(BPF_LINK_GET_FD_BY_ID, id))
                .collect(),
        };
        if left == Held::default() || Instant::now() > deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// --- load ------------------------------------------------------------------------------

/// A listener on 127.0.0.1 whose thread accepts and drops connections.
fn listener() -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            if stopped.load(Ordering::Relaxed) {
                break;
            }
            drop(stream);
        }
    });
    (addr, stop)
}

/// Connects to `addr` from a thread until `stop` or `max` connects; counts the connects.
fn storm(
    addr: SocketAddr,
    max: u64,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicU64>, thread::JoinHandle<()>) {
    let made = Arc::new(AtomicU64::new(0));
    let counter = made.clone();
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed)
            && counter.load(Ordering::Relaxed) < max
            && Instant::now() < deadline
        {
            if TcpStream::connect(addr).is_ok() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (made, handle)
}

/// One connect to `addr` from a thread pinned to `cpu`: its sample goes to that CPU's
/// ring (loopback handles the handshake on the connecting CPU), and the kernel writes any
/// pending `PERF_RECORD_LOST` of that ring before it.
fn connect_from_cpu(cpu: usize, addr: SocketAddr) {
    thread::spawn(move || {
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays inside it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        TcpStream::connect(addr).expect("marker connect");
    })
    .join()
    .expect("marker thread");
}

// --- stopping during a storm -------------------------------------------------------------

/// Starts the tool, starts a storm, sends `signal` once events flow, and checks: exit 0,
/// stderr holds only the attach line and loss reports (with their summary when there
/// were losses), and every program, map and link the tool held is gone from the kernel.
fn stop_during_storm(signal: Signal) {
    let (addr, stop_listener) = listener();
    let mut tool = Tool::start(&[]);
    let held = held_by(tool.pid());
    assert!(
        !held.progs.is_empty(),
        "no program in the tool's fds: {held:?}"
    );
    assert!(!held.maps.is_empty(), "no map in the tool's fds: {held:?}");
    for &id in &held.progs {
        assert!(
            exists(BPF_PROG_GET_FD_BY_ID, id),
            "program {id} while running"
        );
    }

    let stop_storm = Arc::new(AtomicBool::new(false));
    let (made, storm_thread) = storm(addr, 20_000, stop_storm.clone());
    // The storm is on: its events are arriving.
    assert_eq!(
        tool.count_lines_for(addr.port(), 50),
        50,
        "no events from the storm"
    );
    tool.signal(signal);
    let status = tool.wait_exit();
    stop_storm.store(true, Ordering::Relaxed);
    storm_thread.join().expect("storm");
    stop_listener.store(true, Ordering::Relaxed);
    let _ = TcpStream::connect(addr);

    assert_eq!(status.code(), Some(0), "exit status after {signal:?}");
    assert!(made.load(Ordering::Relaxed) >= 50);
    let stderr = tool.stderr_text();
    let mut lost_lines = 0u64;
    let mut summary = None;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("tcpconnect: lost ") {
            if let Some(n) = rest.strip_suffix(" events in all") {
                summary = Some(n.parse::<u64>().expect("lost count"));
            } else {
                let n = rest.split(' ').next().and_then(|n| n.parse::<u64>().ok());
                lost_lines += n.expect("lost N events on CPU C");
            }
        } else {
            assert!(
                line.starts_with("tcpconnect: attached to "),
                "unexpected stderr line after {signal:?}: {line:?}"
            );
        }
    }
    assert_eq!(summary.unwrap_or(0), lost_lines, "lost summary: {stderr}");
    assert_eq!(
        left_in_kernel(&held),
        Held::default(),
        "left in the kernel after {signal:?}"
    );
}

#[test]
fn sigint_during_a_storm_exits_0_and_frees_everything() {
    stop_during_storm(Signal::SIGINT);
}

#[test]
fn sigterm_during_a_storm_exits_0_and_frees_everything() {
    stop_during_storm(Signal::SIGTERM);
}

/// The rings overflow (the tool is stopped with SIGSTOP while connects go on, with 2-page
/// rings); after SIGCONT every connect is accounted for: received + lost >= made (lost
/// counts every connection of the machine, so others may add to it), and the summary
/// "lost N events in all" is printed at exit.
#[test]
fn losses_are_counted_and_summed_up() {
    let (addr, stop_listener) = listener();
    let mut tool = Tool::start(&["--pages", "2"]);
    let held = held_by(tool.pid());

    tool.signal(Signal::SIGSTOP);
    let (made, storm_thread) = storm(addr, 600, Arc::new(AtomicBool::new(false)));
    storm_thread.join().expect("storm");
    let made = made.load(Ordering::Relaxed);
    tool.signal(Signal::SIGCONT);

    // The tail: a marker per CPU, each to its own port, made again (at most 20 rounds)
    // until every CPU's marker is printed: a marker made before the tool has drained its
    // ring is lost too, and counted.
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let markers: Vec<(SocketAddr, Arc<AtomicBool>)> = (0..cpus).map(|_| listener()).collect();
    let mut marked = vec![false; cpus];
    let mut received = 0u64;
    for _round in 0..20 {
        if marked.iter().all(|&m| m) {
            break;
        }
        for (cpu, (addr, _)) in markers.iter().enumerate() {
            if !marked[cpu] {
                connect_from_cpu(cpu, *addr);
            }
        }
        while let Ok(line) = tool.lines.recv_timeout(Duration::from_millis(500)) {
            let port = dport(&line);
            if port == Some(addr.port()) {
                received += 1;
            }
            for (cpu, (marker, _)) in markers.iter().enumerate() {
                if port == Some(marker.port()) {
                    marked[cpu] = true;
                }
            }
        }
    }
    assert!(marked.iter().all(|&m| m), "markers seen: {marked:?}");
    tool.signal(Signal::SIGINT);
    let status = tool.wait_exit();
    for (addr, stop) in markers.iter().chain([&(addr, stop_listener)]) {
        stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(addr);
    }
    assert_eq!(status.code(), Some(0));

    let stderr = tool.stderr_text();
    let lost: u64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("tcpconnect: lost ")?
                .strip_suffix(" events in all")
        })
        .unwrap_or_else(|| {
            panic!("no lost summary with 2-page rings and a stopped reader: {stderr}")
        })
        .parse()
        .expect("lost count");
    assert_eq!(made, 600);
    assert!(
        lost > 0 && received < made,
        "received {received}, lost {lost}"
    );
    assert!(
        received + lost >= made,
        "unaccounted: made {made}, received {received}, lost {lost}"
    );
    assert_eq!(left_in_kernel(&held), Held::default());
}

// --- bad input --------------------------------------------------------------------------

/// A file in the temp dir, unique to this process and test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("faults-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn bad_object(name: &str, bytes: &[u8]) -> String {
    let file = TempFile::new(name, bytes);
    one_error_line(&["--object", file.path(), "--duration", "0"])
}

#[test]
fn truncated_object_is_one_line_and_exit_1() {
    let object = std::fs::read(OBJECT).expect("bpf/main.bpf.o");
    // Cut inside the sections: the section header table (at the end) is gone.
    assert_eq!(
        bad_object("cut-1000.o", &object[..1000]),
        "tcpconnect: malformed ELF: section headers: Invalid ELF section header offset/size/alignment"
    );
    // Cut inside the 64-byte ELF header.
    assert_eq!(
        bad_object("cut-40.o", &object[..40]),
        "tcpconnect: malformed ELF: file header: Invalid ELF header size or alignment"
    );
}

#[test]
fn not_an_elf_is_one_line_and_exit_1() {
    let expected = r"tcpconnect: not an ELF file (no \x7fELF header)";
    assert_eq!(bad_object("text.o", b"int main() {}\n"), expected);
    assert_eq!(bad_object("empty.o", b""), expected);
}

#[test]
fn wrong_machine_is_one_line_and_exit_1() {
    let mut object = std::fs::read(OBJECT).expect("bpf/main.bpf.o");
    // e_machine (offset 18, little-endian u16): EM_X86_64 instead of EM_BPF.
    object[18..20].copy_from_slice(&62u16.to_le_bytes());
    assert_eq!(
        bad_object("x86.o", &object),
        "tcpconnect: e_machine 62 is not EM_BPF (247): not an eBPF object"
    );
}

#[test]
fn missing_object_file_is_one_line_and_exit_1() {
    assert_eq!(
        one_error_line(&["--object", "/nonexistent/main.bpf.o", "--duration", "0"]),
        "tcpconnect: reading /nonexistent/main.bpf.o: No such file or directory (os error 2)"
    );
}

#[test]
fn missing_btf_is_one_line_and_exit_1() {
    assert_eq!(
        one_error_line(&["--btf", "/nonexistent", "--duration", "0"]),
        "tcpconnect: kernel BTF: /nonexistent: No such file or directory (os error 2)"
    );
}

/// `--attach kprobe` where the kernel has no kprobes: one clear line, exit 1, and nothing
/// left behind. Where the kernel has kprobes, the same command must succeed.
#[test]
fn unavailable_attach_method_is_one_line_and_exit_1() {
    let kprobes = [
        "/sys/bus/event_source/devices/kprobe",
        "/sys/kernel/tracing/kprobe_events",
        "/sys/kernel/debug/tracing/kprobe_events",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    for mode in ["kprobe", "kprobe-legacy"] {
        let args = ["--attach", mode, "--duration", "0"];
        if kprobes {
            let (code, _, stderr) = run(&args);
            assert_eq!(
                code,
                Some(0),
                "--attach {mode} on a kernel with kprobes: {stderr}"
            );
        } else {
            assert_eq!(
                one_error_line(&args),
                "tcpconnect: this kernel has no kprobe support (CONFIG_KPROBES is off): \
                 no kprobe PMU and no kprobe_events in tracefs"
            );
        }
    }
}
