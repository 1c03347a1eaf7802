//! The workbench binary, `ebpf-loader` (root for the kernel's part): every subcommand's
//! `--help`, its errors, `load --log`, records of real tools decoded through BTF against the
//! test's own exec, and `map dump` beside bpftool's.

mod harness;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};

use serde_json::Value as Json;

const WORKBENCH: &str = env!("CARGO_BIN_EXE_ebpf-loader");
const TCPCONNECT: &str = env!("CARGO_BIN_EXE_tcpconnect");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(WORKBENCH).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for (args, example) in [
        (&["--help"][..], "ebpf-loader load prog.bpf.o"),
        (
            &["inspect", "--help"],
            "ebpf-loader inspect execsnoop.bpf.o",
        ),
        (
            &["load", "--help"],
            "ebpf-loader load bootstrap.bpf.o --attach",
        ),
        (
            &["map", "dump", "--help"],
            "ebpf-loader map dump /sys/fs/bpf/counts",
        ),
        (&["features", "--help"], "ebpf-loader features --json"),
        (
            &["btf", "dump", "--help"],
            "ebpf-loader btf dump --type task_struct",
        ),
        (
            &["gen", "rust", "--help"],
            "ebpf-loader gen rust prog.bpf.o",
        ),
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(stdout.contains("\nExamples:\n"), "{args:?}: {stdout}");
        assert!(stdout.contains(example), "{args:?}: {stdout}");
    }
    // No subcommand: the help, and a bad command line's status.
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("Usage: ebpf-loader <COMMAND>"), "{stderr}");
}

#[test]
fn tcpconnect_load_points_to_the_workbench() {
    let out = Command::new(TCPCONNECT)
        .args(["load", "x.bpf.o", "--attach"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcpconnect: `load` moved to the workbench binary: ebpf-loader load OBJECT \
         (ebpf-loader load --help)\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_map_dump_of_no_pin_is_one_line() {
    let (code, stdout, stderr) = run(&["map", "dump", "/sys/fs/bpf/ebpf-loader-test-no-such-pin"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "ebpf-loader: map /sys/fs/bpf/ebpf-loader-test-no-such-pin: the map pinned at \
         /sys/fs/bpf/ebpf-loader-test-no-such-pin: BPF_OBJ_GET: No such file or directory \
         (ENOENT): nothing is pinned at this path\n"
    );
}

/// A bad `--record` is refused before anything reaches the kernel: one line, exit 1.
#[test]
fn a_record_type_that_is_not_there_is_one_line() {
    let Some(object) = harness::corpus::object("libbpf-bootstrap/bootstrap.bpf.o") else {
        return;
    };
    let object = object.to_str().unwrap();
    for (record, line) in [
        (
            "nope=event",
            "ebpf-loader: --record nope=event: the object has no ring buffer or perf event \
             array nope (it has: rb)\n",
        ),
        (
            "rb=no_such_struct",
            "ebpf-loader: --record rb=no_such_struct: no struct, union or typedef \
             no_such_struct in the object's BTF\n",
        ),
        ("rb", "ebpf-loader: --record rb: not MAP=TYPE\n"),
    ] {
        let (code, stdout, stderr) = run(&["load", object, "--attach", "--record", record]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stdout, "");
        assert_eq!(stderr, line);
    }
}

/// `load --log`: after the table, the verifier's whole log of the refused program, its
/// line count in the heading, the reason on its last lines.
#[test]
fn load_log_prints_the_verifiers_whole_log() {
    let (code, stdout, stderr) = run(&["load", "tests/fixtures/rejected.bpf.o", "--log"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let (table, log) = stdout
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no log after the table: {stdout}"));
    assert!(table.ends_with("0 of 1 programs loaded"), "{table}");
    let (heading, text) = log.split_once('\n').unwrap();
    let lines = text.lines().count();
    assert_eq!(
        heading,
        format!("== the verifier's log of inet_sock_set_state ({lines} lines) ==")
    );
    // The whole log: more than the one line the refusal quotes, from the first
    // instruction to the reason.
    assert!(lines > 5, "{text}");
    assert!(text.lines().any(|l| l.starts_with("0: (")), "{text}");
    assert!(text.contains("processed 8 insns"), "{text}");
    assert!(
        text.contains("R0 invalid mem access 'map_value_or_null'"),
        "{text}"
    );
    // Without --log: the table alone.
    let (_, stdout, _) = run(&["load", "tests/fixtures/rejected.bpf.o"]);
    assert!(stdout.ends_with("0 of 1 programs loaded\n"), "{stdout}");
}

/// Starts `ebpf-loader load --attach --duration SECS ARGS` and reads its stderr to the
/// line that says it is ready.
fn attach_until_ready(args: &[&str], secs: u32) -> (Child, BufReader<ChildStderr>, String) {
    let mut tool = Command::new(WORKBENCH)
        .args(["load", "--attach", "--duration", &secs.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(tool.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no ready line: {said}"
        );
        said.push_str(&line);
        if line.contains("ready") {
            break;
        }
    }
    (tool, stderr, said)
}

/// Runs `/bin/true ARGS` while the tool reads, and returns its pid, the tool's stdout and
/// the rest of its stderr.
fn exec_true_while_attached(
    (tool, mut stderr, said): (Child, BufReader<ChildStderr>, String),
    args: &[&str],
) -> (u32, String, String) {
    let child = Command::new("/bin/true").args(args).spawn().unwrap();
    let pid = child.id();
    drop(child.wait_with_output());
    let out = tool.wait_with_output().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(out.status.code(), Some(0), "{said}{rest}");
    (
        pid,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        said + &rest,
    )
}

/// libbpf-bootstrap's `struct event` (bootstrap.h), compiled into BTF by clang: the
/// object's own BTF leaves it out (only a local variable has that type).
fn bootstrap_event_btf() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ebpf_loader_workbench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("event.c");
    std::fs::write(
        &source,
        "#include <stdbool.h>\n\
         struct event { int pid; int ppid; unsigned exit_code; unsigned long long duration_ns;\n\
         char comm[16]; char filename[127]; bool exit_event; };\n\
         struct event the_event;\n",
    )
    .unwrap();
    let object = dir.join("event.o");
    let built = Command::new("clang")
        .args(["-g", "-c", "-target", "bpf", "-o"])
        .arg(&object)
        .arg(&source)
        .status();
    match built {
        Ok(status) if status.success() => Some(object),
        other => {
            eprintln!("no clang to build the record's BTF ({other:?}): nothing to test");
            None
        }
    }
}

/// bootstrap's records, the type found by size in the BTF given (168 bytes: the one
/// struct of that size), and named with `--record` for JSON: the test's own exec and exit,
/// field by field.
#[test]
fn bootstrap_records_read_as_struct_event() {
    let Some(object) = harness::corpus::object("libbpf-bootstrap/bootstrap.bpf.o") else {
        return;
    };
    let Some(types) = bootstrap_event_btf() else {
        return;
    };
    let (object, types) = (object.to_str().unwrap(), types.to_str().unwrap());

    // By size, as text.
    let tool = attach_until_ready(&[object, "--record-btf", types], 3);
    let (pid, stdout, stderr) = exec_true_while_attached(tool, &[]);
    assert!(
        stderr.contains(
            "ebpf-loader: rb: records of 168 bytes read as struct event, the one struct of \
             that size in the BTF (name another with --record rb=TYPE)"
        ),
        "{stderr}"
    );
    let parent = std::process::id();
    let exec = format!(
        "rb: {{pid: {pid}, ppid: {parent}, exit_code: 0, duration_ns: 0, comm: \"true\", \
         filename: \"/bin/true\", exit_event: false}}"
    );
    assert!(stdout.lines().any(|l| l == exec), "{exec}\n{stdout}");
    let exit = stdout
        .lines()
        .find(|l| l.starts_with(&format!("rb: {{pid: {pid}, ")) && l.ends_with("exit_event: true}"))
        .unwrap_or_else(|| panic!("no exit record of {pid}: {stdout}"));
    assert!(exit.contains("comm: \"true\""), "{exit}");

    // Named, as JSON.
    let tool = attach_until_ready(
        &[
            object,
            "--record-btf",
            types,
            "--record",
            "rb=event",
            "--json",
        ],
        3,
    );
    let (pid, stdout, _) = exec_true_while_attached(tool, &[]);
    let ours: Vec<Json> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|r| r["value"]["pid"] == pid)
        .collect();
    assert_eq!(ours.len(), 2, "{stdout}");
    for record in &ours {
        assert_eq!(record["map"], "rb");
        assert_eq!(record["type"], "struct event");
        assert_eq!(record["value"]["ppid"], parent);
        assert_eq!(record["value"]["comm"], "true");
    }
    assert_eq!(ours[0]["value"]["exit_event"], false);
    assert_eq!(ours[0]["value"]["filename"], "/bin/true");
    assert_eq!(ours[1]["value"]["exit_event"], true);
    assert_eq!(ours[1]["value"]["exit_code"], 0);
}

/// libbpf-tools' execsnoop: a perf event array of `struct event`, each sent at the length
/// its arguments fill (shorter than the struct): the test's exec with two arguments.
#[test]
fn execsnoop_records_read_as_struct_event() {
    let Some(object) = harness::corpus::object("libbpf-tools/execsnoop.bpf.o") else {
        return;
    };
    let tool = attach_until_ready(
        &[
            object.to_str().unwrap(),
            "--record",
            "events=event",
            "--json",
        ],
        3,
    );
    let (pid, stdout, _) = exec_true_while_attached(tool, &["ebpf-loader-test"]);
    let ours: Vec<Json> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|r| r["value"]["pid"] == pid)
        .collect();
    assert_eq!(ours.len(), 1, "{stdout}");
    let record = &ours[0];
    assert_eq!(record["map"], "events");
    assert!(record["cpu"].is_u64(), "{record}");
    assert_eq!(record["type"], "struct event");
    let event = &record["value"];
    assert_eq!(event["ppid"], std::process::id());
    assert_eq!(event["uid"], real_uid());
    assert_eq!(event["retval"], 0);
    assert_eq!(event["args_count"], 2);
    // "/bin/true\0ebpf-loader-test\0": 27 bytes; the string is read to its first NUL.
    assert_eq!(event["args_size"], 27);
    assert_eq!(event["args"], "/bin/true");
    assert_eq!(event["comm"], "true");
}

/// This process's real user id, from /proc (no libc in the test).
fn real_uid() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// tcpconnect's `counts` map (key `struct flow_key { u8 saddr[16]; u8 daddr[16]; u16 dport;
/// u8 family; u8 pad; }`, value u64), pinned in a bpffs of the test's own and filled by the
/// test: `map dump --json` is bpftool's `formatted` field, element for element.
#[test]
fn map_dump_matches_bpftool() {
    if Command::new("bpftool").arg("version").output().is_err() {
        eprintln!("no bpftool: nothing to compare with");
        return;
    }
    let object = harness::corpus::load(Path::new("bpf/main.bpf.o"), &["inet_sock_set_state"]);
    let counts = object.map("counts").unwrap();
    let bpffs = harness::kernel::Bpffs::new("workbench_map_dump");
    let pin = bpffs.0.join("counts");
    counts.pin(&pin).unwrap();
    let key = |saddr: [u8; 4], daddr: [u8; 4], dport: u16, family: u8| {
        let mut key = vec![0u8; 36];
        key[..4].copy_from_slice(&saddr);
        key[16..20].copy_from_slice(&daddr);
        key[32..34].copy_from_slice(&dport.to_ne_bytes());
        key[34] = family;
        key
    };
    counts
        .update(
            &key([127, 0, 0, 1], [127, 0, 0, 2], 8080, 2),
            &7u64.to_ne_bytes(),
            0,
        )
        .unwrap();
    counts
        .update(
            &key([10, 0, 0, 1], [10, 0, 0, 9], 443, 2),
            &(1u64 << 40).to_ne_bytes(),
            0,
        )
        .unwrap();
    let pin = pin.to_str().unwrap();

    let (code, stdout, stderr) = run(&["map", "dump", pin, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let mut ours: Vec<Json> = serde_json::from_str::<Json>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    let out = Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned", pin])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut theirs: Vec<Json> = serde_json::from_slice::<Json>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|element| element["formatted"].clone())
        .collect();
    let by_key = |a: &Json, b: &Json| a["key"].to_string().cmp(&b["key"].to_string());
    ours.sort_by(by_key);
    theirs.sort_by(by_key);
    assert_eq!(ours.len(), 2, "{stdout}");
    assert_eq!(ours, theirs, "ours: {stdout}");
    // And field by field, one of them.
    let element = ours
        .iter()
        .find(|e| e["key"]["dport"] == 443)
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(element["value"], 1u64 << 40);
    assert_eq!(element["key"]["family"], 2);
    assert_eq!(element["key"]["saddr"][0], 10);

    // The text: one line per element and a count.
    let (code, stdout, _) = run(&["map", "dump", pin]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("counts: 2 elements\n"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l
            == "key: {saddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], daddr: [127, \
                0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dport: 8080, family: 2, pad: 0}  \
                value: 7"),
        "{stdout}"
    );
}

#[test]
fn inspect_bytes_follows_the_events_map_reference_in_both_binaries() {
    // The map reference to `events` in emit: `r2 = 0 ll` as clang left it (the relocation
    // names the symbol), then src_reg 1 (BPF_PSEUDO_MAP_FD) and the map's placeholder, #1,
    // in imm until the kernel's fd replaces it at load.
    let object = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");
    let bytes = "bytes 18 02 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00  ->  \
                 18 12 00 00 01 00 00 00 | 00 00 00 00 00 00 00 00";
    let (code, stdout, stderr) = run(&["inspect", "--bytes", object]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains(bytes), "{stdout}");
    let out = Command::new(TCPCONNECT)
        .args(["inspect", "--bytes"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(bytes));
    // Without the option, no bytes.
    let (_, stdout, _) = run(&["inspect", object]);
    assert!(!stdout.contains("bytes 18"), "{stdout}");
}

/// `ebpf-loader load OBJECT --attach --duration 0 ARGS` from the calling thread (so in its
/// network namespace): exit status, stdout, stderr.
fn attach_for_no_time(object: &str, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["load", object, "--attach", "--duration", "0"];
    argv.extend_from_slice(args);
    run(&argv)
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `--target xdp_drop_port=lo:generic --pin DIR`, in a network namespace of the test's own:
/// the line that says where it attached, the link pinned at `DIR/link_xdp_drop_port`; the
/// pin keeps the program on `lo` after the command is gone, until the test reopens it with
/// `Link::from_pin`, checks it is the program `lo` runs, and removes it.
#[test]
fn xdp_attaches_to_the_interface_and_mode_given_and_its_link_stays_pinned() {
    use ebpf_loader::attach::{xdp, Link};
    let _netns = harness::netns::NetNs::enter().unwrap();
    let bpffs = harness::kernel::Bpffs::new("workbench_xdp");
    let dir = bpffs.0.join("xdp");
    let (code, stdout, stderr) = attach_for_no_time(
        "tests/fixtures/xdp.bpf.o",
        &[
            "--target",
            "xdp_drop_port=lo:generic",
            "--pin",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    let pin = dir.join("link_xdp_drop_port");
    if !xdp::links_supported() {
        // Before 5.9 the program goes through rtnetlink: no link to pin, said so.
        eprintln!("this kernel has no XDP links (5.9): checking the line that says so");
        assert!(
            stderr.contains(
                "ebpf-loader: xdp_drop_port: link not pinned: cannot pin XDP (generic) of lo \
                 (ifindex 1):"
            ),
            "{stderr}"
        );
        assert!(xdp::query("lo").unwrap().is_empty());
        return;
    }
    assert!(
        stderr.contains(
            "\nebpf-loader: xdp_drop_port: attached to XDP (generic) of lo (ifindex 1) \
             (XDP + BPF link)\nebpf-loader: xdp_drop_port: link pinned at "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("link pinned at {}\n", pin.display())),
        "{stderr}"
    );
    assert_eq!(files_in(&dir), ["_bss", "_rodata", "link_xdp_drop_port"]);
    // The command is gone; its link is not.
    let link = Link::from_pin(&pin).unwrap();
    let info = link.info().unwrap();
    assert_ne!(info.prog_id, 0);
    let on_lo = xdp::query("lo").unwrap();
    assert_eq!(on_lo.generic, Some(info.prog_id), "{on_lo:?}");
    std::fs::remove_file(&pin).unwrap();
    drop(link);
    assert!(xdp::query("lo").unwrap().is_empty());
}

/// A cgroup program on a cgroup of the test's own, an `sk_lookup` program on the
/// command's network namespace (the default target), and a struct_ops map registered:
/// each said on stderr, one line, and nothing of them left once the command is gone.
#[test]
fn cgroup_netns_and_struct_ops_attachments_are_said() {
    use ebpf_loader::attach::netns::{self, NetNsKind};
    match harness::cgroup::TestCgroup::new("workbench") {
        Err(why) => eprintln!("no cgroup v2 ({why}): the cgroup part not run"),
        Ok(cgroup) => {
            let target = format!("deny_port={}", cgroup.path().display());
            let (code, _, stderr) = attach_for_no_time(
                "tests/fixtures/cgroup.bpf.o",
                &["--program", "deny_port", "--target", &target],
            );
            assert_eq!(code, 0, "{stderr}");
            let line = stderr.lines().next().unwrap();
            // A BPF link on 5.7+, else BPF_PROG_ATTACH.
            assert!(
                line.starts_with(&format!(
                    "ebpf-loader: deny_port: attached to cgroup {} (cgroup/connect4) (cgroup + ",
                    cgroup.path().display()
                )),
                "{stderr}"
            );
        }
    }
    let netns = harness::netns::NetNs::enter().unwrap();
    let (code, _, stderr) =
        attach_for_no_time("tests/fixtures/netns.bpf.o", &["--program", "steer"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.lines().next(),
        Some(
            "ebpf-loader: steer: attached to sk_lookup of network namespace /proc/self/ns/net \
             (sk_lookup + BPF link)"
        ),
        "{stderr}"
    );
    assert_eq!(
        netns::programs(netns.fd(), NetNsKind::SkLookup).unwrap(),
        Vec::<u32>::new()
    );
    drop(netns);
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    if kernel
        .find_by_name_kind(
            "bpf_struct_ops_tcp_congestion_ops",
            ebpf_loader::btf::Kind::Struct,
        )
        .is_err()
    {
        eprintln!("this kernel cannot take a BPF tcp_congestion_ops: struct_ops not run");
        return;
    }
    // A .struct_ops map registers by its update: no BPF link to pin, said so.
    let bpffs = harness::kernel::Bpffs::new("workbench_struct_ops");
    let (code, _, stderr) = attach_for_no_time(
        "tests/fixtures/struct_ops.bpf.o",
        &["--pin", bpffs.0.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "ebpf-loader: test_ca: registered struct_ops test_ca (struct tcp_congestion_ops) \
             (struct_ops + BPF_MAP_UPDATE_ELEM)\nebpf-loader: test_ca: link not pinned: cannot \
             pin struct_ops test_ca (struct tcp_congestion_ops): attached by struct_ops + \
             BPF_MAP_UPDATE_ELEM, not a BPF link; only a BPF link can be pinned or updated\n"
        ),
        "{stderr}"
    );
    assert!(!files_in(&bpffs.0).iter().any(|f| f.starts_with("link_")));
}

/// Each kind's wrong or missing target: one line, exit 1, nothing on stdout, and nothing
/// left (not even the maps `--pin` pinned before the attach was refused).
#[test]
fn a_bad_target_of_each_kind_is_one_line_and_leaves_nothing() {
    let netns = harness::netns::NetNs::enter().unwrap();
    let bpffs = harness::kernel::Bpffs::new("workbench_bad_targets");
    let pin = bpffs.0.join("bad");
    let pin = pin.to_str().unwrap();
    for (object, program, target, line) in [
        (
            "xdp",
            "xdp_drop_port",
            None,
            "an XDP program attaches to a network interface, given at run time: pass --target \
             xdp_drop_port=IFNAME[:generic|:driver|:offload] (e.g. --target \
             xdp_drop_port=lo:generic)",
        ),
        (
            "xdp",
            "xdp_drop_port",
            Some("lo:warp"),
            "--target: \"warp\" is not an XDP mode (default, generic, driver or offload)",
        ),
        (
            "xdp",
            "xdp_drop_port",
            Some("ebpfldr-nope0"),
            "no network interface ebpfldr-nope0 (see `ip link`)",
        ),
        (
            "cgroup",
            "deny_port",
            None,
            "a cgroup program attaches to a cgroup v2 directory, given at run time: pass \
             --target deny_port=CGROUP_DIR (e.g. --target \
             deny_port=/sys/fs/cgroup/unified/mygroup)",
        ),
        (
            "cgroup",
            "deny_port",
            Some("/nonexistent/ebpfldr"),
            "/nonexistent/ebpfldr is not a cgroup v2 directory: No such file or directory \
             (os error 2)",
        ),
        (
            "sockmap",
            "redirect_msg",
            None,
            "an sk_msg or sk_skb program attaches to a sockmap or sockhash of its object, given \
             at run time: pass --target redirect_msg=MAPNAME (e.g. --target \
             redirect_msg=sock_hash)",
        ),
        (
            "sockmap",
            "redirect_msg",
            Some("nope"),
            "--target: the object has no map nope (its sockmaps and sockhashes: sock_hash)",
        ),
        (
            "sockmap",
            "redirect_msg",
            Some("not_a_sockmap"),
            "program redirect_msg: map not_a_sockmap is of type array: sk_msg and sk_skb \
             programs attach to a sockmap or sockhash",
        ),
        (
            "netns",
            "steer",
            Some("/nonexistent/ebpfldr"),
            "/nonexistent/ebpfldr: opening the network namespace: No such file or directory \
             (os error 2)",
        ),
    ] {
        let object = format!("tests/fixtures/{object}.bpf.o");
        let given = target.map(|t| format!("{program}={t}"));
        let mut args = vec!["--program", program, "--pin", pin];
        if let Some(given) = &given {
            args.extend(["--target", given]);
        }
        let (code, stdout, stderr) = attach_for_no_time(&object, &args);
        assert_eq!(code, 1, "{object} {given:?}: {stderr}");
        assert_eq!(stdout, "", "{object} {given:?}");
        let maps_pinned = stderr
            .lines()
            .filter(|l| l.contains(": pinned at "))
            .count();
        let rest: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains(": pinned at "))
            .collect();
        assert_eq!(
            rest,
            [format!("ebpf-loader: {program}: {line}")],
            "{object} {given:?}: {stderr}"
        );
        assert_eq!(
            files_in(Path::new(pin)),
            Vec::<String>::new(),
            "{object} {given:?}: {maps_pinned} maps were pinned"
        );
    }
    assert!(ebpf_loader::attach::xdp::query("lo").unwrap().is_empty());
    drop(netns);
}

/// An iterator alone is read at once and what it wrote printed under its name: a task
/// iterator given a child `sleep` by `pid:` lists that one thread. A parameter its target
/// does not take, one it needs and a spec of no known form are each one line, status 1.
#[test]
fn an_iterator_prints_what_it_wrote_and_a_bad_parameter_is_one_line() {
    let object = "tests/fixtures/iter.bpf.o";
    if ebpf_loader::features::iter::iter_params().task {
        let mut sleep = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = sleep.id();
        let target = format!("list_tasks=pid:{pid}");
        let (code, stdout, stderr) = run(&[
            "load",
            object,
            "--attach",
            "--program",
            "list_tasks",
            "--target",
            &target,
        ]);
        let _ = sleep.kill();
        let _ = sleep.wait();
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            stdout,
            format!("== iterator list_tasks: iter task (pid {pid}) ==\ntask {pid} {pid} sleep\n")
        );
        assert_eq!(
            stderr,
            format!(
                "ebpf-loader: list_tasks: attached to iter task (pid {pid}) (iterator + BPF \
                 link)\n"
            )
        );
    } else {
        eprintln!("skipped the pid: this kernel's iterators take no task parameter (6.1)");
    }
    for (program, target, line) in [
        (
            "list_tasks",
            Some("map:elems"),
            "program list_tasks (iter/task): it takes no map parameter (it takes a thread or \
             process (IterParams::Task; 6.1))",
        ),
        (
            "list_tasks",
            Some("elems"),
            "--target: \"elems\" is not map:NAME, pid:PID, tid:TID or \
             cgroup:PATH[:self|:pre|:post|:up]",
        ),
        (
            "list_cgroups",
            None,
            "program list_cgroups (iter/cgroup): it needs a cgroup and a walk order \
             (IterParams::Cgroup; 6.1)",
        ),
    ] {
        if program == "list_cgroups" && !ebpf_loader::features::iter::iter_target("cgroup") {
            continue;
        }
        let given = target.map(|t| format!("{program}={t}"));
        let mut args = vec!["load", object, "--attach", "--program", program];
        if let Some(given) = &given {
            args.extend(["--target", given]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 1, "{given:?}: {stderr}");
        assert_eq!(stdout, "", "{given:?}");
        assert_eq!(stderr, format!("ebpf-loader: {program}: {line}\n"));
    }
}

/// `load --help` lists the `--target` syntax of every kind, each with an example.
#[test]
fn load_help_lists_the_target_syntax_of_every_kind() {
    let (code, stdout, _) = run(&["load", "--help"]);
    assert_eq!(code, 0);
    for (kind, spec, example) in [
        ("kprobe", "FUNCTION", "--target p=tcp_v4_connect"),
        (
            "uprobe, uretprobe",
            "BINARY:FUNCTION",
            "--target p=/bin/bash:readline",
        ),
        ("uprobe.multi", "BINARY:GLOB", "--target p=/bin/bash:read*"),
        ("kprobe.multi", "GLOB", "--target p=tcp_v4_*"),
        ("tc", "IFNAME[:ingress|:egress]", "--target p=eth0:egress"),
        ("socket filter", "IFNAME", "--target p=lo"),
        (
            "XDP",
            "IFNAME[:generic|:driver|:offload]",
            "--target p=eth0:driver",
        ),
        (
            "cgroup programs",
            "CGROUP_DIR",
            "--target p=/sys/fs/cgroup/unified/g",
        ),
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("  {kind} "))
                && l.contains(&format!(" {spec} "))
                && l.ends_with(example)),
            "{kind}: {stdout}"
        );
    }
    for text in [
        "  sk_msg, sk_skb        MAPNAME",
        "--target p=sock_hash",
        "NETNS_PATH (default: /proc/self/ns/net",
        "--target p=/var/run/netns/blue",
        "  iter (iterators)      nothing: every object; or map:NAME",
        "--target p=map:elems",
        "  sk_reuseport          not attached",
        "  struct_ops            no target: each struct_ops map of the object is registered",
        "DIR/link_PROGRAM",
    ] {
        assert!(stdout.contains(text), "{text}: {stdout}");
    }
}

#[test]
fn btf_dump_and_gen_rust_write_what_the_library_generates() {
    // gen rust of the tool's object is the committed src/tool/main_bpf.rs, byte for byte.
    let object = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");
    let (code, stdout, stderr) = run(&["gen", "rust", object]);
    assert_eq!(code, 0, "{stderr}");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/tool/main_bpf.rs"))
            .unwrap();
    assert_eq!(stdout, committed);
    // btf dump --type of the object's own BTF: that struct, whole, in bpftool's form.
    let (code, stdout, stderr) = run(&["btf", "dump", object, "--type", "flow_key"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("#ifndef __VMLINUX_H__\n"), "{stdout}");
    assert!(stdout.contains("struct flow_key {\n"), "{stdout}");
    // A type that is not there: one line, exit 1.
    let (code, stdout, stderr) = run(&["btf", "dump", object, "--type", "no_such_type"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        format!("ebpf-loader: btf dump of {object}: no type named 'no_such_type' in the BTF\n")
    );
}
