//! `tcpconnect load`: objects through the verifier, program by program (root).

use std::process::Command;

const TOOL: &str = env!("CARGO_BIN_EXE_tcpconnect");

fn load(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(TOOL).arg("load").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        line.starts_with("tcpconnect: inet_sock_set_state: loading program inet_sock_set_state: BPF_PROG_LOAD: Permission denied (EACCES)"),
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
        "tcpconnect: no program named nope in bpf/main.bpf.o\n"
    );
}

#[test]
fn a_file_that_is_not_an_object_is_one_line() {
    let (code, _, stderr) = load(&["Cargo.toml"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "tcpconnect: Cargo.toml: not an ELF file (no \\x7fELF header)\n"
    );
}
