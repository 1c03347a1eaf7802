//! The tool on this host's kernel, end to end: start `tcpconnect`, make our own TCP
//! connects to a local listener over 127.0.0.1 and ::1 from a thread whose name we chose,
//! and find the exact event among everything the machine does meanwhile.
//!
//! Needs root and a kernel with BPF; each test starts its own `tcpconnect`, listens on its
//! own port, and only looks at lines for that port, so the tests can run in parallel.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TOOL: &str = env!("CARGO_BIN_EXE_tcpconnect");

/// A running `tcpconnect` whose stdout lines arrive on a channel.
struct Tool {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<ChildStderr>,
}

impl Tool {
    /// Starts the tool and waits for its header: the header is printed once the program
    /// is attached and the rings are open, so a connect made after it is seen.
    fn start(args: &[&str]) -> Tool {
        let mut child = Command::new(TOOL)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpconnect");
        let stdout: ChildStdout = child.stdout.take().unwrap();
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
        match tool.lines.recv_timeout(Duration::from_secs(30)) {
            Ok(header) => assert!(header.starts_with("PID"), "header: {header:?}"),
            Err(_) => panic!("tcpconnect did not start: {}", tool.stop_and_stderr()),
        }
        tool
    }

    /// The first line whose DPORT column is `port`, within a bound.
    fn line_for_port(&mut self, port: u16) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let fields: Vec<String> = line.split_whitespace().map(String::from).collect();
                    if fields.last().map(String::as_str) == Some(&port.to_string()) {
                        return fields;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no event for port {port}; tcpconnect said: {}",
            self.stop_and_stderr()
        );
    }

    fn stop_and_stderr(&mut self) -> String {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
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

/// Connects to `listener` from a thread named `thread_name` and returns the local address
/// the kernel gave the connection.
fn connect_from_thread(listener: &TcpListener, thread_name: &str) -> SocketAddr {
    let target = listener.local_addr().unwrap();
    let local = thread::Builder::new()
        .name(thread_name.to_string())
        .spawn(move || {
            let stream = TcpStream::connect(target).expect("connect");
            stream.local_addr().unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = listener.accept();
    local
}

fn assert_event(
    fields: &[String],
    comm: &str,
    version: &str,
    local: SocketAddr,
    remote: SocketAddr,
) {
    // PID COMM IP SADDR DADDR DPORT
    assert_eq!(
        fields,
        [
            std::process::id().to_string(),
            comm.to_string(),
            version.to_string(),
            local.ip().to_string(),
            remote.ip().to_string(),
            remote.port().to_string(),
        ]
    );
}

fn check_connect(attach: &str, listen: IpAddr, comm: &str) {
    let listener = TcpListener::bind(SocketAddr::new(listen, 0)).unwrap();
    let remote = listener.local_addr().unwrap();
    let mut tool = Tool::start(&["--attach", attach]);
    let local = connect_from_thread(&listener, comm);
    let fields = tool.line_for_port(remote.port());
    let version = if listen.is_ipv4() { "4" } else { "6" };
    assert_event(&fields, comm, version, local, remote);
    let stderr = tool.stop_and_stderr();
    assert!(
        tool.child.try_wait().unwrap().unwrap().success(),
        "exit status; stderr: {stderr}"
    );
}

#[test]
fn tracepoint_sees_an_ipv4_connect() {
    check_connect("tracepoint", "127.0.0.1".parse().unwrap(), "tc-tp-v4");
}

#[test]
fn tracepoint_sees_an_ipv6_connect() {
    check_connect("tracepoint", "::1".parse().unwrap(), "tc-tp-v6");
}

#[test]
fn auto_falls_back_to_the_tracepoint_and_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = listener.local_addr().unwrap();
    let mut tool = Tool::start(&[]);
    let local = connect_from_thread(&listener, "tc-auto");
    let fields = tool.line_for_port(remote.port());
    assert_event(&fields, "tc-auto", "4", local, remote);
    let stderr = tool.stop_and_stderr();
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert!(
            stderr.contains("tracepoint sock/inet_sock_set_state"),
            "stderr: {stderr}"
        );
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
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

#[test]
fn duration_zero_sets_everything_up_and_exits_0() {
    let (code, _stdout, stderr) = run(&["--duration", "0"]);
    assert_eq!(code, 0, "stderr: {stderr}");
}

#[test]
fn a_forced_kprobe_on_a_kernel_without_kprobes_fails_in_one_line() {
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        eprintln!("skipped: this kernel has a kprobe PMU");
        return;
    }
    let (code, stdout, stderr) = run(&["--attach", "kprobe", "--duration", "0"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains("no kprobe support"), "stderr: {stderr}");
}

#[test]
fn without_privileges_it_names_what_is_missing() {
    use std::os::unix::process::CommandExt;
    let output = Command::new(TOOL)
        .args(["--duration", "0"])
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run tcpconnect as nobody");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains("CAP_BPF"), "stderr: {stderr}");
}

#[test]
fn a_rejected_program_shows_the_end_of_the_verifier_log_with_source_lines() {
    let object = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rejected.bpf.o");
    let (code, stdout, stderr) = run(&[
        "--object",
        object,
        "--attach",
        "tracepoint",
        "--duration",
        "0",
    ]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"tcpconnect: the verifier's log ends with:")
    );
    // The source line the kernel found through line_info, then the verifier's reason.
    assert!(
        stderr.contains("*count += 1; /* the verifier: R0 invalid mem access 'map_value_or_null' */ @ rejected.bpf.c:27"),
        "stderr: {stderr}"
    );
    assert!(
        lines.last().unwrap().ends_with(
            "the verifier rejected the program (its log says why): R0 invalid mem access 'map_value_or_null' (log: 17 lines)"
        ),
        "stderr: {stderr}"
    );
}

#[test]
fn inspect_walks_the_embedded_object_and_resolves_its_core_records_on_this_kernel() {
    let (code, stdout, stderr) = run(&["inspect", "--core"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.starts_with("eBPF object bpf/main.bpf.o (embedded in tcpconnect)\n"));
    assert!(stdout.contains("Program tcp_connect"), "{stdout}");
    assert!(stdout.contains("Program inet_sock_set_state"), "{stdout}");
    assert!(
        stdout.contains("17 records, 17 resolved, 0 poisoned"),
        "{stdout}"
    );
    assert!(
        stdout.contains("18 records, 18 resolved, 0 poisoned"),
        "{stdout}"
    );
}

#[test]
fn inspect_of_a_file_that_is_not_an_object_fails_in_one_line() {
    let not_elf = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let (code, stdout, stderr) = run(&["inspect", not_elf]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
}
