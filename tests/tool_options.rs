//! tcpconnect's options on this host's kernel: each filter, each column, count mode and
//! JSON, checked on real connects with exact fields.
//!
//! Needs root and a kernel with BPF (the tracepoint path: no kprobe is needed). Each test
//! starts its own `tcpconnect` with `-v`, waits for its `ready` line on stderr, listens on
//! its own ports and only looks at lines for those ports, so the tests run in parallel.
//!
//! A filter is checked both ways: the connection it must drop is made first, then the one
//! it must keep; once the kept one is printed the tool is stopped. The tool drains every
//! ring when it stops, and the dropped connection happened before the kept one, so had it
//! passed the filter it would be among the lines read.

mod harness;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::thread;
use std::time::{Duration, Instant};

use harness::tool::*;
use serde_json::Value;

/// Who makes a connection: a thread of this test (named, so that its COMM is known), or a
/// `bash` child process, as `uid` if given.
#[derive(Clone, Copy)]
enum By {
    Thread(&'static [u8]),
    Child(Option<u32>),
}

/// One filter checked both ways: the tool started with `options`, a connection it must drop
/// (to a listener on `dropped.0`, made by `dropped.1`) made first, then the ones it must keep;
/// the first kept one's line starts with `fields`, and the dropped one never shows.
/// In `options` and `fields`, `{pid}` is this process's id, `{ports}` the kept ports
/// (comma-separated), `{port}` the first kept port, `{local}` its connect's local address,
/// and `{any}` in `fields` matches any one field.
struct Filter {
    options: &'static [&'static str],
    dropped: (&'static str, By),
    kept: &'static [(&'static str, By)],
    fields: &'static [&'static str],
    /// `fields` is the whole line, not just its start.
    whole: bool,
}

fn connect(target: SocketAddr, by: By) -> Option<SocketAddr> {
    match by {
        By::Thread(name) => Some(connect_from_thread(target, name)),
        By::Child(uid) => {
            connect_from_child(target, uid);
            None
        }
    }
}

fn check_filter(filter: &Filter) {
    let (_dropped_listener, dropped) = listen(filter.dropped.0);
    let kept: Vec<(TcpListener, SocketAddr)> =
        filter.kept.iter().map(|(ip, _)| listen(ip)).collect();
    let ports: Vec<String> = kept.iter().map(|(_, a)| a.port().to_string()).collect();
    let pid = our_pid();
    let fill = |text: &str, local: Option<SocketAddr>| {
        text.replace("{pid}", &pid)
            .replace("{ports}", &ports.join(","))
            .replace("{port}", &ports[0])
            .replace(
                "{local}",
                &local.map(|l| l.ip().to_string()).unwrap_or_default(),
            )
    };
    let options: Vec<String> = filter.options.iter().map(|o| fill(o, None)).collect();
    let mut tool = Tool::start(&options.iter().map(String::as_str).collect::<Vec<_>>());
    connect(dropped, filter.dropped.1);
    let locals: Vec<Option<SocketAddr>> = kept
        .iter()
        .zip(filter.kept)
        .map(|((_, target), (_, by))| connect(*target, *by))
        .collect();
    let lines: Vec<String> = kept
        .iter()
        .map(|(_, target)| tool.wait_for("a kept port", |l| for_port(l, target.port())))
        .collect();
    let fields_of_first = fields(&lines[0]);
    let expected: Vec<String> = filter.fields.iter().map(|f| fill(f, locals[0])).collect();
    assert!(
        fields_of_first.len() >= expected.len()
            && (!filter.whole || fields_of_first.len() == expected.len())
            && expected
                .iter()
                .zip(&fields_of_first)
                .all(|(want, got)| want == "{any}" || want == got),
        "{options:?}: expected {expected:?}, got the line {:?}",
        lines[0]
    );
    let (lines, _) = tool.stop();
    assert!(
        !lines.iter().any(|l| for_port(l, dropped.port())),
        "the connect to {dropped} passed {options:?}: {lines:#?}"
    );
}

#[test]
fn pid_filter_keeps_this_process_and_drops_a_child_process() {
    // PID COMM IP SADDR DADDR DPORT
    check_filter(&Filter {
        options: &["-p", "{pid}"],
        dropped: ("127.0.0.1", By::Child(None)),
        kept: &[("127.0.0.1", By::Thread(b"tc-pid"))],
        fields: &["{pid}", "tc-pid", "4", "{local}", "127.0.0.1", "{port}"],
        whole: true,
    });
}

#[test]
fn without_a_pid_filter_the_child_process_is_seen() {
    let (_a, target) = listen("127.0.0.1");
    let port = target.port().to_string();
    let mut tool = Tool::start(&["-P", &port]);
    connect_from_child(target, None);
    let line = tool.wait_for("the child's port", |l| for_port(l, target.port()));
    let fields = fields(&line);
    assert_ne!(fields[0], our_pid(), "line: {line}");
    assert_eq!(fields[1], "bash", "line: {line}");
    tool.stop();
}

#[test]
fn uid_filter_keeps_root_and_drops_nobody() {
    // UID PID COMM ...
    check_filter(&Filter {
        options: &["-u", "0", "-U"],
        dropped: ("127.0.0.1", By::Child(Some(65534))),
        kept: &[("127.0.0.1", By::Thread(b"tc-uid0"))],
        fields: &["0", "{pid}", "tc-uid0"],
        whole: false,
    });
}

#[test]
fn uid_filter_keeps_nobody_and_drops_root() {
    check_filter(&Filter {
        options: &["-u", "65534", "-U"],
        dropped: ("127.0.0.1", By::Thread(b"tc-uid-root")),
        kept: &[("127.0.0.1", By::Child(Some(65534)))],
        fields: &["65534", "{any}", "bash"],
        whole: false,
    });
}

#[test]
fn port_filter_keeps_only_the_ports_listed() {
    check_filter(&Filter {
        options: &["-P", "{ports}"],
        dropped: ("127.0.0.1", By::Thread(b"tc-port")),
        kept: &[
            ("127.0.0.1", By::Thread(b"tc-port")),
            ("::1", By::Thread(b"tc-port")),
        ],
        fields: &["{pid}", "tc-port"],
        whole: false,
    });
}

#[test]
fn ipv4_only_drops_ipv6() {
    check_filter(&Filter {
        options: &["-4"],
        dropped: ("::1", By::Thread(b"tc-family")),
        kept: &[("127.0.0.1", By::Thread(b"tc-family"))],
        fields: &["{pid}", "tc-family", "4", "{local}", "127.0.0.1", "{port}"],
        whole: true,
    });
}

#[test]
fn ipv6_only_drops_ipv4() {
    check_filter(&Filter {
        options: &["-6"],
        dropped: ("127.0.0.1", By::Thread(b"tc-family")),
        kept: &[("::1", By::Thread(b"tc-family"))],
        fields: &["{pid}", "tc-family", "6", "{local}", "::1", "{port}"],
        whole: true,
    });
}

#[test]
fn timestamp_uid_and_lport_columns() {
    let (_a, target) = listen("::1");
    let port = target.port().to_string();
    let mut tool = Tool::start(&["-t", "-U", "-L", "-P", &port]);
    let local = connect_from_thread(target, b"tc-columns");
    let line = tool.wait_for("the port", |l| for_port(l, target.port()));
    // TIME(s) UID PID COMM IP SADDR LPORT DADDR DPORT
    let fields = fields(&line);
    assert_eq!(fields.len(), 9, "line: {line}");
    let seconds: f64 = fields[0].parse().expect("TIME(s) is a number");
    assert!(seconds >= 0.0, "line: {line}");
    assert_eq!(
        fields[0].split('.').nth(1).map(str::len),
        Some(3),
        "line: {line}"
    );
    assert_eq!(
        &fields[1..],
        [
            "0",
            our_pid().as_str(),
            "tc-columns",
            "6",
            "::1",
            &local.port().to_string(),
            "::1",
            &port
        ]
    );
    let (lines, _) = tool.stop();
    assert!(
        lines[0].starts_with("TIME(s)   UID    PID     COMM"),
        "header: {}",
        lines[0]
    );
}

/// This process's login uid, as the kernel reports it (`u32::MAX` when unset).
fn loginuid() -> u64 {
    std::fs::read_to_string("/proc/self/loginuid")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(u64::from(u32::MAX))
}

/// The cgroup v2 hierarchy's mount point and this process's cgroup path in it.
fn own_cgroup2() -> Option<(String, String)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let root = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next()? == "cgroup2").then(|| mount_point.to_string())
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
    Some((root.trim_end_matches('/').to_string(), own))
}

#[test]
fn json_lines_carry_every_field_and_escape_the_process_name() {
    let (_a, target) = listen("127.0.0.1");
    let port = target.port().to_string();
    let mut tool = Tool::start(&["--json", "-P", &port]);
    // Quote, backslash, and a byte that is not UTF-8.
    let local = connect_from_thread(target, b"a\"b\\c\xff");
    let line = tool.wait_for("the port", |l| {
        serde_json::from_str::<Value>(l).is_ok_and(|v| v["dport"] == target.port())
    });
    let object: Value = serde_json::from_str(&line).unwrap();
    let time = object["time"].as_f64().expect("time is a number");
    assert!(time >= 0.0, "line: {line}");
    let mut expected = serde_json::json!({
        "time": time,
        "pid": std::process::id(),
        "comm": "a\"b\\c\u{fffd}",
        "comm_hex": "6122625c63ff",
        "uid": 0,
        "gid": 0,
        // Read from `struct task_struct` at the offset CO-RE found on this kernel.
        "loginuid": loginuid(),
        "family": 4,
        "proto": 6,
        "saddr": local.ip().to_string(),
        "sport": local.port(),
        "daddr": "127.0.0.1",
        "dport": target.port(),
    });
    // Where this process runs: its cgroup (the directory's inode and path in the v2
    // hierarchy) and namespaces, as /proc says.
    let ino = |path: &str| std::fs::metadata(path).unwrap().ino();
    let fields = expected.as_object_mut().unwrap();
    if let Some((root, own)) = own_cgroup2() {
        fields.insert("cgroup_id".into(), ino(&format!("{root}{own}")).into());
        fields.insert("cgroup".into(), own.into());
    }
    fields.insert("mntns".into(), ino("/proc/self/ns/mnt").into());
    fields.insert("netns".into(), ino("/proc/self/ns/net").into());
    // Every field, and no other.
    assert_eq!(object, expected, "line: {line}");
    let (lines, _) = tool.stop();
    for line in &lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}

/// Connects `n` times to `target` from this process.
fn connect_times(target: SocketAddr, n: usize) {
    for _ in 0..n {
        TcpStream::connect(target).expect("connect");
    }
}

#[test]
fn count_mode_totals_equal_the_connects_made() {
    let (_a, five) = listen("127.0.0.1");
    let (_b, three) = listen("::1");
    let (_c, other) = listen("127.0.0.1");
    let ports = format!("{},{}", five.port(), three.port());
    let mut tool = Tool::start(&["-c", "-P", &ports]);
    connect_times(five, 5);
    connect_times(three, 3);
    connect_times(other, 2);
    let (lines, _) = tool.stop();
    // Only the table: a header and one row per flow, most connects first.
    assert_eq!(
        lines,
        [
            format!(
                "{:<25} {:<25} {:<20} {}",
                "LADDR", "RADDR", "RPORT", "CONNECTS"
            ),
            format!(
                "{:<25} {:<25} {:<20} 5",
                "127.0.0.1",
                "127.0.0.1",
                five.port()
            ),
            format!("{:<25} {:<25} {:<20} 3", "::1", "::1", three.port()),
        ]
    );
}

#[test]
fn count_mode_in_json_is_one_object_per_row() {
    let (_a, four) = listen("127.0.0.1");
    let (_b, one) = listen("127.0.0.1");
    let ports = format!("{},{}", four.port(), one.port());
    let mut tool = Tool::start(&["-c", "--json", "-P", &ports]);
    connect_times(one, 1);
    connect_times(four, 4);
    let (lines, _) = tool.stop();
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let row = |dport: u16, connects: u64, time: &Value| {
        serde_json::json!({
            "time": time,
            "family": 4,
            "saddr": "127.0.0.1",
            "daddr": "127.0.0.1",
            "dport": dport,
            "connects": connects,
        })
    };
    assert_eq!(rows.len(), 2, "lines: {lines:#?}");
    assert_eq!(
        rows,
        [
            row(four.port(), 4, &rows[0]["time"]),
            row(one.port(), 1, &rows[1]["time"])
        ]
    );
    assert!(rows[0]["time"].as_f64().is_some_and(|t| t >= 0.0));
}

#[test]
fn count_mode_interval_prints_running_totals() {
    let (_a, target) = listen("127.0.0.1");
    let port = target.port().to_string();
    let mut tool = Tool::start(&["-c", "--interval", "1", "-P", &port]);
    connect_times(target, 2);
    // A table printed after the connects lists them; then one more connect.
    let row = |n: u64| format!("{:<25} {:<25} {:<20} {n}", "127.0.0.1", "127.0.0.1", port);
    tool.wait_for("a row with 2 connects", |l| l == row(2));
    connect_times(target, 1);
    tool.wait_for("a row with 3 connects", |l| l == row(3));
    let (lines, _) = tool.stop();
    // The table at exit is the last one: header, then the 3.
    let tail = &lines[lines.len() - 2..];
    assert_eq!(tail[1], row(3), "lines: {lines:#?}");
    assert!(tail[0].starts_with("LADDR"), "lines: {lines:#?}");
}

#[test]
fn bad_command_lines_exit_2_with_the_reason() {
    for (args, reason) in [
        (&["-4", "-6"][..], "cannot be used with"),
        (&["-c", "-t"], "cannot be used with"),
        (&["-c", "-L"], "cannot be used with"),
        (&["--interval", "5"], "--count"),
        (&["-c", "--interval", "0"], "0 is not in 1.."),
        (&["-P", "0"], "0 is not in 1.."),
        (&["-P", "65536"], "invalid value"),
        (&["-p", "0"], "0 is not in 1.."),
        (&["-u", "4294967295"], "invalid value"),
        (&["--pages", "3"], "not a power of two"),
        (&["--attach", "uprobe"], "invalid value"),
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
}

#[test]
fn help_shows_examples() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for example in [
        "Examples:",
        "tcpconnect -t -U -L",
        "tcpconnect -p 181",
        "tcpconnect -c --interval 10",
        "tcpconnect --json",
        "tcpconnect -v --duration 0",
    ] {
        assert!(
            stdout.contains(example),
            "--help lacks {example:?}: {stdout}"
        );
    }
}

#[test]
fn verbose_tells_each_step_on_stderr_and_nothing_on_stdout() {
    let (code, stdout, stderr) = run(&["-v", "--attach", "tracepoint", "--duration", "0"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(stdout, "");
    let steps: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    let titles = [
        "[1/10] parse the object (src/elf)",
        "[2/10] configure (ObjectSpec::set_global)",
        "[3/10] choose the program (src/tool/trace.rs)",
        "[4/10] read the kernel's BTF (src/btf/kernel.rs)",
        "[5/10] load the object's BTF (BPF_BTF_LOAD)",
        "[6/10] create the maps (BPF_MAP_CREATE)",
        "[7/10] relocate (src/elf/reloc.rs)",
        "[8/10] load the program (BPF_PROG_LOAD)",
        "[9/10] attach (src/attach)",
        "[10/10] open the perf rings (src/perf)",
    ];
    assert_eq!(steps.len(), titles.len(), "stderr: {stderr}");
    // Every CO-RE record of the program was resolved on this kernel.
    let core = stderr
        .lines()
        .find(|l| l.contains("records in .BTF.ext"))
        .unwrap_or_else(|| panic!("no CO-RE summary: {stderr}"));
    let numbers: Vec<&str> = core
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(numbers.len(), 2, "{core}");
    assert_eq!(numbers[0], numbers[1], "{core}");
    assert_ne!(numbers[0], "0", "{core}");
    for (step, title) in steps.iter().zip(titles) {
        assert!(step.starts_with(title), "{step:?} is not {title:?}");
    }
    // Each detail: a line holding all these pieces.
    for detail in [
        &["program inet_sock_set_state, tcp_retransmit_skb: --attach tracepoint"][..],
        &[
            "an event is sent when the socket leaves SYN_SENT",
            "or at its first SYN retransmit",
        ],
        &["the kernel took it: BTF fd"],
        // Issue 12: the probes' answers where they decide something.
        &["memory accounting (probed): the kernel charges BPF memory to "],
        &["BTF kinds (probed): the kernel "],
        &[
            "events ",
            "perf_event_array",
            "key  4 B, value    4 B",
            "fd ",
        ],
        &[".rodata ", "array", "filled and frozen (BPF_MAP_FREEZE)"],
        &["(emit)", "map events", "r2 = 0 ll  ->  r2 = map[fd:"],
        // The same site's bytes: src_reg 1 (BPF_PSEUDO_MAP_FD) with dst_reg 2, the fd in imm.
        &["bytes 18 02 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00  ->  18 12 00 00 "],
        &[
            "(inet_sock_set_state)",
            "call emit",
            "call pc-1  ->  call pc+",
        ],
        &["CO-RE: ", " records in .BTF.ext for these functions"],
        &[
            "insn ",
            "byte_off",
            "struct task_struct.loginuid.val",
            "r1 = 0  ->  r1 = ",
        ],
        &["verifier: processed ", " insns"],
        // Issue 23: every fallback the load took. A cgroup array holds fds, and the kernel
        // takes no BTF types for it: it is made again without them.
        &["fallback: map cgroup_filter: created without its BTF key/value types"],
        &["func_info (2) and line_info (", ") accepted"],
        &["tracepoint sock/inet_sock_set_state: tracepoint + "],
        &["tracepoint tcp/tcp_retransmit_skb: tracepoint + "],
        &["type_exists", "struct trace_event_raw_tcp_"],
    ] {
        assert!(
            stderr
                .lines()
                .any(|line| detail.iter().all(|piece| line.contains(piece))),
            "no line with {detail:?} in: {stderr}"
        );
    }
}

/// Accepts (and drops) every connection to `listener` on a thread, so that a burst of
/// connects never fills its backlog.
fn accept_forever(listener: TcpListener) {
    thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
}

fn signal(tool: &Tool, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(tool.child.id() as i32), signal)
        .expect("signal tcpconnect");
}

/// Restricts the calling thread to the first CPU it may run on.
fn pin_this_thread_to_one_cpu() {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    let this_thread = nix::unistd::Pid::from_raw(0);
    let allowed = sched_getaffinity(this_thread).expect("sched_getaffinity");
    let first = (0..CpuSet::count())
        .find(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .expect("a CPU to run on");
    let mut one = CpuSet::new();
    one.set(first).unwrap();
    sched_setaffinity(this_thread, &one).expect("sched_setaffinity");
}

#[test]
fn lost_events_are_reported_as_json_objects_and_add_up() {
    let (listener, target) = listen("127.0.0.1");
    accept_forever(listener);
    let port = target.port().to_string();
    // Every connect of this test from one CPU, so into one ring: the burst below overflows
    // it, and each flush connect after it lands in that same ring, where the kernel owes its
    // lost record. (Threads spawned from here inherit the mask.)
    pin_this_thread_to_one_cpu();
    // One data page per ring: 4096 bytes, room for 42 samples of 96 bytes.
    let mut tool = Tool::start(&["--json", "--pages", "1", "-P", &port]);
    // The tool stopped, the kernel keeps writing: the ring of this thread's CPU overflows
    // (at most 42 fit in it).
    signal(&tool, nix::sys::signal::Signal::SIGSTOP);
    // The stop takes effect when the tool is next scheduled: on a busy machine it could
    // still drain its rings during the burst. Wait until the kernel says it is stopped.
    let stat = format!("/proc/{}/stat", tool.child.id());
    let stopped_by = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&stat).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    }) {
        assert!(Instant::now() < stopped_by, "the tool did not stop");
        thread::sleep(Duration::from_millis(5));
    }
    let mut made = 200;
    connect_times(target, made);
    signal(&tool, nix::sys::signal::Signal::SIGCONT);
    // The kernel writes its PERF_RECORD_LOST just before the next sample that fits, so
    // connect again until the report arrives. A connect made while the tool has not yet
    // drained its rings is lost too, and counted in the reports like the others.
    let is_lost = |line: &str| line.contains("\"lost\"");
    for _ in 0..20 {
        let local = connect_from_thread(target, b"tc-flush");
        made += 1;
        let sport = local.port();
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match tool.stdout.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(&format!("\"sport\":{sport},"));
                    tool.seen.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        if tool.seen.iter().any(|l| is_lost(l)) {
            break;
        }
    }
    let (lines, stderr) = tool.stop();
    let mut seen = 0u64;
    let mut lost = 0u64;
    for line in &lines {
        let object: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if is_lost(line) {
            let keys: Vec<&str> = object
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys.len(), 3, "line: {line}");
            assert!(object["time"].as_f64().is_some_and(|t| t >= 0.0), "{line}");
            assert!(object["cpu"].as_u64().is_some(), "{line}");
            lost += object["lost"].as_u64().expect("lost is a number");
        } else {
            assert_eq!(object["dport"], target.port(), "line: {line}");
            seen += 1;
        }
    }
    assert!(lost > 0, "no lost report; stderr: {stderr}");
    // -P keeps every other connection of the machine out of the rings: each of ours was
    // either printed or counted as lost.
    assert_eq!(seen + lost, made as u64, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("tcpconnect: lost {lost} events in all")),
        "stderr: {stderr}"
    );
}
