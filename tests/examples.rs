//! The examples of `examples/` run as a learner runs them, each made to see this test's
//! own action and nothing else (root: they load programs):
//! - `execs_per_process` counts 3 execs of a program named after this process;
//! - `opens` reports this process's own openat of a path made up here, field for field;
//! - `tc_packets` counts 5 UDP datagrams sent on the `lo` of a network namespace of the
//!   test's own, and nothing else.
//!
//! The examples are the binaries `cargo test` builds beside this one
//! (`target/debug/examples/NAME`); `cargo test --test examples` alone does not build them:
//! add `--examples`, or run `cargo build --examples` first.

mod harness;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// `target/<profile>/examples/NAME`, beside this test's `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("this test's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: `cargo test` builds the examples; with `--test examples`, add `--examples`",
        path.display()
    );
    path
}

/// Starts example `name` with `args` and waits for its first line (it says it is ready:
/// the program is attached).
fn start(name: &str, args: &[&str], ready: &str) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the example");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("its first line");
    assert!(first.starts_with(ready), "{name} said {first:?}");
    (child, stdout)
}

/// The rest of the example's output, once it has exited by itself, successfully.
fn finish(mut child: Child, mut stdout: BufReader<ChildStdout>) -> String {
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("its output");
    let status = child.wait().expect("wait for the example");
    assert!(status.success(), "exit {status}; output:\n{rest}");
    rest
}

#[test]
fn execs_per_process_counts_this_tests_execs() {
    // The comm of an exec is the name it was exec'd by: a link to /bin/true named after
    // this process, so that no other process on the machine shares it.
    let dir = std::env::temp_dir().join(format!("ebpf-example-execs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("exq{}", std::process::id());
    let program = dir.join(&name);
    let _ = std::fs::remove_file(&program);
    std::os::unix::fs::symlink("/bin/true", &program).unwrap();

    let (child, stdout) = start("execs_per_process", &["3"], "counting execs for 3 s");
    for _ in 0..3 {
        assert!(Command::new(&program).status().unwrap().success());
    }
    let output = finish(child, stdout);
    std::fs::remove_dir_all(&dir).unwrap();
    let counts: Vec<(u64, &str)> = output
        .lines()
        .map(|line| {
            let (count, comm) = line.trim_start().split_once(' ').expect("COUNT COMM");
            (count.parse().expect("a count"), comm)
        })
        .collect();
    let ours: Vec<_> = counts.iter().filter(|(_, comm)| *comm == name).collect();
    assert_eq!(ours, [&(3, name.as_str())], "output:\n{output}");
}

#[test]
fn opens_prints_this_tests_openat_as_a_record() {
    let pid = std::process::id();
    let (child, stdout) = start("opens", &["2", &pid.to_string()], "watching openat for 2 s");
    // A path that does not exist: the openat fails, but the tracepoint fires on entry.
    let path = format!("/nonexistent/ebpf-example-opens-{pid}");
    assert!(std::fs::File::open(&path).is_err());
    let output = finish(child, stdout);
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let ours: Vec<_> = output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.splitn(4, ' ').collect();
            (fields.get(3) == Some(&path.as_str())).then_some(fields)
        })
        .collect();
    assert_eq!(ours.len(), 1, "output:\n{output}");
    assert_eq!(ours[0][0], pid.to_string(), "the pid");
    assert_eq!(ours[0][1], uid.to_string(), "the uid");
    // Every line is of this process: target_pid was set before load.
    for line in output.lines() {
        assert!(line.starts_with(&format!("{pid} ")), "{line}");
    }
}

#[test]
fn tc_packets_counts_this_tests_datagrams_on_its_own_lo() {
    // A namespace of this thread's own: its lo carries this test's datagrams only; the
    // example, started from this thread, runs in it.
    let _netns = harness::netns::NetNs::enter().expect("a network namespace");
    let (child, stdout) = start("tc_packets", &["lo", "2"], "counting packets into lo");
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..5 {
        sender
            .send_to(b"counted", receiver.local_addr().unwrap())
            .unwrap();
    }
    let output = finish(child, stdout);
    // Each datagram enters lo once (lo's egress is its ingress); the receiver is bound,
    // so no ICMP port-unreachable comes back: UDP, 5, and nothing else.
    let lines: Vec<Vec<&str>> = output
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines, [["17", "udp", "5"]], "output:\n{output}");
}
