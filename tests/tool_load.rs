//! `ebpf-loader load` (the workbench binary): objects through the verifier, program by program (root).

mod harness;

use std::process::Command;

const TOOL: &str = env!("CARGO_BIN_EXE_ebpf-loader");

fn load(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(TOOL).arg("load").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `load --attach --duration 4 ARGS OBJECT` and reads its stderr up to the line that
/// says it is ready: the child, the rest of its stderr, what it said until then.
fn attach_until_ready(
    args: &[&str],
    object: &std::path::Path,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    let mut tool = Command::new(TOOL)
        .args(["load", "--attach", "--duration", "4"])
        .args(args)
        .arg(object)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(tool.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "no ready line: {said}"
        );
        said.push_str(&line);
        if line.contains("ready") {
            break;
        }
    }
    (tool, stderr, said)
}

#[test]
fn the_tools_own_object_loads_whole() {
    let (code, stdout, stderr) = load(&["bpf/main.bpf.o"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("PROGRAM"), "{stdout}");
    for (line, (name, kind)) in lines[1..3].iter().zip([
        ("tcp_connect", "kprobe"),
        ("inet_sock_set_state", "tracepoint"),
    ]) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[..3], [name, kind, "loaded"], "{line}");
        // Instructions processed and states: numbers the verifier gave.
        assert!(words[3].parse::<u64>().unwrap() > 10, "{line}");
        assert!(words[4].parse::<u64>().unwrap() > 0, "{line}");
    }
    assert_eq!(lines[4], "3 of 3 programs loaded");
    assert_eq!(stderr, "");
}

#[test]
fn a_refused_program_is_one_line_with_the_verifiers_reason_and_source_line() {
    let (code, stdout, stderr) = load(&["tests/fixtures/rejected.bpf.o"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.ends_with("0 of 1 programs loaded\n"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0];
    assert!(
        line.starts_with("ebpf-loader: inet_sock_set_state: loading program inet_sock_set_state: BPF_PROG_LOAD: Permission denied (EACCES)"),
        "{line}"
    );
    assert!(
        line.contains("R0 invalid mem access 'map_value_or_null'"),
        "{line}"
    );
    assert!(line.ends_with("@ rejected.bpf.c:27]"), "{line}");
}

#[test]
fn only_the_programs_named_are_loaded() {
    let (code, stdout, _) = load(&["bpf/main.bpf.o", "--program", "tcp_connect"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("tcp_connect "), "{stdout}");
    assert!(!stdout.contains("inet_sock_set_state"), "{stdout}");
    let (code, _, stderr) = load(&["bpf/main.bpf.o", "--program", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "ebpf-loader: no program named nope in bpf/main.bpf.o\n"
    );
}

#[test]
fn a_file_that_is_not_an_object_is_one_line() {
    let (code, _, stderr) = load(&["Cargo.toml"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "ebpf-loader: Cargo.toml: not an ELF file (no \\x7fELF header)\n"
    );
}

/// `load --attach` on libbpf-bootstrap's `bootstrap` (tracepoints on exec and exit, a
/// ring buffer of `struct event { int pid; int ppid; unsigned exit_code; u64
/// duration_ns; char comm[16]; char filename[127]; bool exit_event; }`): a process the
/// test starts shows up, with its pid and name.
#[test]
fn attach_prints_the_records_of_a_real_tools_ring_buffer() {
    let Some(object) = harness::corpus::object("libbpf-bootstrap/bootstrap.bpf.o") else {
        return;
    };
    // Wait for "ready" on stderr, then run a process of a known name.
    let (tool, mut stderr, said) = attach_until_ready(&[], &object);
    assert!(said.contains("handle_exec: attached to tracepoint sched/sched_process_exec"));
    assert!(said.contains("handle_exit: attached to tracepoint sched/sched_process_exit"));
    let child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    drop(child.wait_with_output());
    let out = tool.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(0), "{said}{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Each record: "rb: 168 bytes: xxxx xxxx ...": back to bytes.
    let records: Vec<Vec<u8>> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("rb: 168 bytes: "))
        .map(|hex| {
            hex.split(' ')
                .flat_map(|group| {
                    (0..group.len())
                        .step_by(2)
                        .map(move |i| u8::from_str_radix(&group[i..i + 2], 16).unwrap())
                })
                .collect()
        })
        .collect();
    let ours: Vec<&Vec<u8>> = records
        .iter()
        .filter(|r| r[..4] == (pid as i32).to_ne_bytes())
        .collect();
    // Its exec and its exit, each with its name at byte 24.
    assert_eq!(ours.len(), 2, "records of pid {pid}: {ours:?}\n{stdout}");
    for record in ours {
        assert_eq!(&record[24..29], b"true\0");
    }
    // Hex, and why: clang left `struct event` out of the object's BTF (only a local
    // variable has it); tests/workbench.rs gives it with --record-btf.
    assert!(
        rest.lines().any(|l| l
            == "ebpf-loader: rb: records of 168 bytes printed in hex: no struct of the BTF is \
                168 bytes"),
        "{rest}"
    );
    assert!(
        rest.lines()
            .any(|l| l.starts_with("ebpf-loader: rb: ") && l.ends_with(" records")),
        "{rest}"
    );
}

/// A tc program or socket filter without `--target`: the line says what to pass.
#[test]
fn a_network_program_without_a_target_is_told_what_to_pass() {
    for (object, line) in [
        (
            "libbpf-bootstrap/tc.bpf.o",
            "ebpf-loader: tc_ingress: a tc program attaches to a network interface's ingress \
             or egress, given at run time: pass --target tc_ingress=IFNAME[:ingress|:egress] \
             (e.g. --target tc_ingress=lo)",
        ),
        (
            "libbpf-bootstrap/sockfilter.bpf.o",
            "ebpf-loader: socket_handler: a socket filter attaches to a socket (here: a raw \
             packet socket on a network interface), given at run time: pass --target \
             socket_handler=IFNAME (e.g. --target socket_handler=lo)",
        ),
    ] {
        let Some(path) = harness::corpus::object(object) else {
            return;
        };
        let path = path.to_str().unwrap();
        let (code, _, stderr) = load(&["--attach", "--duration", "0", path]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr.lines().next(), Some(line), "{stderr}");
    }
}

/// `--target tc_ingress=lo:egress`: attached where asked, the way the kernel offers.
#[test]
fn a_tc_program_attaches_to_the_interface_and_direction_given() {
    let Some(path) = harness::corpus::object("libbpf-bootstrap/tc.bpf.o") else {
        return;
    };
    let (code, _, stderr) = load(&[
        "--attach",
        "--duration",
        "0",
        "--target",
        "tc_ingress=lo:egress",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // TCX on 6.6+ (this host), the clsact filter before.
    let line = stderr.lines().next().unwrap();
    assert!(
        line == "ebpf-loader: tc_ingress: attached to tc egress of lo (ifindex 1) (tc + BPF link)"
            || line
                == "ebpf-loader: tc_ingress: attached to tc egress of lo (ifindex 1) (tc + netlink clsact bpf filter)",
        "{stderr}"
    );
    let (code, _, stderr) = load(&[
        "--attach",
        "--duration",
        "0",
        "--target",
        "tc_ingress=lo:sideways",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(
            "ebpf-loader: tc_ingress: --target: \"sideways\" is not a direction (ingress or egress)\n"
        ),
        "{stderr}"
    );
}

/// `load sockfilter.bpf.o --attach --target socket_handler=lo`: libbpf-bootstrap's socket
/// filter on a packet socket on lo; the test's datagram shows in its ring buffer
/// (`struct so_event`, 24 bytes: addresses, ports, protocol, packet type, ifindex), leaving
/// and arriving.
#[test]
fn a_socket_filter_on_lo_prints_the_records_of_the_tests_datagram() {
    let Some(path) = harness::corpus::object("libbpf-bootstrap/sockfilter.bpf.o") else {
        return;
    };
    let (tool, mut stderr, said) = attach_until_ready(&["--target", "socket_handler=lo"], &path);
    assert!(
        said.contains(
            "socket_handler: attached to AF_PACKET socket on lo (ifindex 1) (socket + SO_ATTACH_BPF)"
        ),
        "{said}"
    );
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sport, dport) = (
        sender.local_addr().unwrap().port(),
        receiver.local_addr().unwrap().port(),
    );
    sender
        .send_to(b"hello", receiver.local_addr().unwrap())
        .unwrap();
    let out = tool.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(0), "{said}{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // "rb: 24 bytes: 7f00 0001 7f00 0001 SPRT DPRT 11.. .... TYPE .... 0100 0000"
    let ports = format!("{sport:04x} {dport:04x}");
    let ours: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("rb: 24 bytes: 7f00 0001 7f00 0001 ") && l.contains(&ports))
        .collect();
    assert_eq!(ours.len(), 2, "{stdout}");
    let mut types: Vec<&str> = ours
        .iter()
        .map(|l| {
            let groups: Vec<&str> = l["rb: 24 bytes: ".len()..].split(' ').collect();
            assert_eq!(&groups[6][..2], "11", "{l}"); // ip_proto UDP
            assert_eq!(&groups[10..12], ["0100", "0000"], "{l}"); // ifindex 1
            groups[8] // pkt_type's low half
        })
        .collect();
    types.sort();
    assert_eq!(types, ["0000", "0400"], "{stdout}");
    assert!(
        rest.lines()
            .any(|l| l.starts_with("ebpf-loader: rb: ") && l.ends_with(" records")),
        "{rest}"
    );
}
