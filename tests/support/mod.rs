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
