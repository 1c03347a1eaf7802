//! The tool on this host's kernel, end to end: start `tcpconnect`, make our own TCP
//! connects to a local listener over 127.0.0.1 and ::1 from a thread whose name we chose,
//! and find the exact event among everything the machine does meanwhile.
//!
//! Needs root and a kernel with BPF; each test starts its own `tcpconnect`, listens on its
//! own port, and only looks at lines for that port, so the tests can run in parallel.

mod harness;

use std::net::SocketAddr;
use std::process::Command;

use harness::tool::*;

fn assert_event(line: &str, comm: &str, version: &str, local: SocketAddr, remote: SocketAddr) {
    // PID COMM IP SADDR DADDR DPORT
    assert_eq!(
        fields(line),
        [
            our_pid().as_str(),
            comm,
            version,
            &local.ip().to_string(),
            &remote.ip().to_string(),
            &remote.port().to_string(),
        ]
    );
}

/// Starts the tool with `args`, connects to a fresh listener on `listen_on` from a thread
/// named `comm`, and checks the event; returns the tool's stderr.
fn check_connect(args: &[&str], listen_on: &str, comm: &'static str) -> String {
    let (_listener, remote) = listen(listen_on);
    let mut tool = Tool::start_raw(args);
    let local = connect_from_thread(remote, comm.as_bytes());
    let line = tool.wait_for(&format!("port {}", remote.port()), |l| {
        for_port(l, remote.port())
    });
    let version = if remote.is_ipv4() { "4" } else { "6" };
    assert_event(&line, comm, version, local, remote);
    tool.stop().1
}

#[test]
fn tracepoint_sees_an_ipv4_connect() {
    check_connect(&["--attach", "tracepoint"], "127.0.0.1", "tc-tp-v4");
}

#[test]
fn tracepoint_sees_an_ipv6_connect() {
    check_connect(&["--attach", "tracepoint"], "::1", "tc-tp-v6");
}

#[test]
fn auto_falls_back_to_the_tracepoint_and_says_so() {
    let stderr = check_connect(&[], "127.0.0.1", "tc-auto");
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert!(
            stderr.contains("tracepoint sock/inet_sock_set_state")
                && stderr.contains("this kernel has no kprobes"),
            "stderr: {stderr}"
        );
    }
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
    assert!(stdout.contains("Program tcp_retransmit_skb"), "{stdout}");
    assert!(
        stdout.contains("25 records, 25 resolved, 0 poisoned"),
        "{stdout}"
    );
    assert!(
        stdout.contains("26 records, 26 resolved, 0 poisoned"),
        "{stdout}"
    );
    // tcp_retransmit_skb reads its record through one of two type names, and a kernel has
    // one of them: the other's read is poisoned, on a branch the verifier never walks.
    assert!(
        stdout.contains("17 records, 16 resolved, 1 poisoned"),
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

#[test]
fn after_exit_the_kernel_holds_nothing_of_the_program() {
    let (code, _stdout, stderr) = run(&["-v", "--duration", "0"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    // "... program fd 11, id 5563"
    let id: u32 = stderr
        .lines()
        .find_map(|line| {
            line.split_once("program fd ")?
                .1
                .split_once(", id ")?
                .1
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no program id in: {stderr}"));
    // The kernel may free a link's program from a work queue a moment after the close:
    // poll, within a bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match ebpf_loader::load::program_info_by_id(id) {
            Ok(None) => break,
            Err(other) => panic!("program {id}: {other}"),
            Ok(Some(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Ok(Some(_)) => panic!("program {id} is still in the kernel after the tool exited"),
        }
    }
}
