//! The container fields and filters on this host, without a container runtime: a cgroup v2
//! directory made by the test and a mount namespace made by `unshare` stand for a
//! container. Each event's fields are checked against what the kernel says of the
//! connecting process (`/proc/PID/ns/*`, the cgroup directory's inode), and each filter
//! keeps one connect and drops another made at the same time.
//!
//! Needs root, a cgroup v2 hierarchy (skipped, with a message, without one) and bpftool
//! for BCC's pinned maps (created as BCC's `docs/special_filtering.md` says). Each test
//! makes its own cgroup, pins and listeners (named after its pid and name), and removes
//! them, so the tests can run in parallel.

mod harness;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::tool::*;
use serde_json::Value;

/// The cgroup v2 hierarchy's mount point, from mountinfo.
fn cgroup2_root() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// A cgroup v2 directory of this test, removed on drop.
struct Cgroup {
    dir: PathBuf,
    /// The path below the hierarchy's root, as the tool prints it.
    path: String,
}

impl Cgroup {
    fn new(name: &str) -> Option<Cgroup> {
        let Some(root) = cgroup2_root() else {
            eprintln!("SKIPPED: no cgroup v2 hierarchy on this machine");
            return None;
        };
        let leaf = format!("tcpconnect-test-{}-{name}", std::process::id());
        let dir = root.join(&leaf);
        std::fs::create_dir(&dir).expect("create a cgroup v2 directory");
        Some(Cgroup {
            dir,
            path: format!("/{leaf}"),
        })
    }

    /// The cgroup id: the directory's inode (what bpf_get_current_cgroup_id returns).
    fn id(&self) -> u64 {
        std::fs::metadata(&self.dir).unwrap().ino()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A pinned map of the test, removed on drop.
struct Pin(PathBuf);

impl Pin {
    /// `bpftool map create` as BCC's special_filtering.md has it.
    fn bcc_map(name: &str, value_size: u32) -> Pin {
        sys_fs_bpf();
        let path = PathBuf::from(format!(
            "/sys/fs/bpf/tcpconnect-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let entries = "128";
        bpftool(&[
            "map",
            "create",
            path.to_str().unwrap(),
            "type",
            "hash",
            "key",
            "8",
            "value",
            &value_size.to_string(),
            "entries",
            entries,
            "name",
            name,
            "flags",
            "0",
        ]);
        Pin(path)
    }

    /// Adds `key` (a u64) with a value of 1.
    fn add(&self, key: u64, value_size: usize) {
        let mut args = vec![
            "map",
            "update",
            "pinned",
            self.0.to_str().unwrap(),
            "key",
            "hex",
        ];
        let key: Vec<String> = key
            .to_ne_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut value = vec!["00".to_string(); value_size];
        value[0] = "01".into();
        args.extend(key.iter().map(String::as_str));
        args.extend(["value", "hex"]);
        args.extend(value.iter().map(String::as_str));
        bpftool(&args);
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn bpftool(args: &[&str]) {
    let output = Command::new("bpftool")
        .args(args)
        .output()
        .expect("run bpftool");
    assert!(
        output.status.success(),
        "bpftool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A child that joins `cgroup` (when given) and, in a new mount namespace when `unshare`,
/// connects to `target`; returns its `/proc/PID/ns/mnt` and `ns/net` inodes as it saw them.
fn connect_from(cgroup: Option<&Path>, unshare: bool, target: std::net::SocketAddr) -> (u64, u64) {
    let join = cgroup
        .map(|dir| format!("echo $$ > {}/cgroup.procs && ", dir.display()))
        .unwrap_or_default();
    let script = format!(
        "{join}stat -L -c %i /proc/self/ns/mnt /proc/self/ns/net && exec 3<>/dev/tcp/{}/{}",
        target.ip(),
        target.port()
    );
    let mut command = if unshare {
        let mut c = Command::new("unshare");
        c.args(["-m", "bash", "-c", &script]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", &script]);
        c
    };
    let output = command.output().expect("run bash");
    assert!(
        output.status.success(),
        "the child's connect failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let inodes: Vec<u64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    (inodes[0], inodes[1])
}

fn json_for_port(lines: &[String], port: u16) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["dport"] == port)
        .collect()
}

#[test]
fn json_carries_the_cgroup_and_namespaces_of_the_connecting_process() {
    let Some(cgroup) = Cgroup::new("json") else {
        return;
    };
    let (_l1, inside) = listen("127.0.0.1");
    let (_l2, outside) = listen("127.0.0.1");
    let mut tool = Tool::start(&["--json"]);
    let (mntns, netns) = connect_from(Some(&cgroup.dir), true, inside);
    let (host_mntns, host_netns) = connect_from(None, false, outside);
    tool.wait_for("the connect in the cgroup", |l| {
        l.contains(&format!("\"dport\":{}", inside.port()))
    });
    tool.wait_for("the host's connect", |l| {
        l.contains(&format!("\"dport\":{}", outside.port()))
    });
    let (lines, _) = tool.stop();

    let event = &json_for_port(&lines, inside.port())[0];
    assert_eq!(event["cgroup_id"], cgroup.id());
    assert_eq!(event["cgroup"], cgroup.path.as_str());
    assert_eq!(event["mntns"], mntns);
    assert_eq!(event["netns"], netns);
    assert_ne!(mntns, host_mntns, "unshare -m made a mount namespace");
    // A cgroup that names no container: no container field, not a guess.
    assert!(event.get("container_id").is_none(), "{event}");
    assert!(event.get("pod_uid").is_none(), "{event}");

    let host = &json_for_port(&lines, outside.port())[0];
    assert_eq!(host["mntns"], host_mntns);
    assert_eq!(host["netns"], host_netns);
    assert!(host.get("container_id").is_none(), "{host}");
}

/// Connects from inside `cgroup` (in a new mount namespace) and from outside with the tool
/// started with `args`; returns how many events each got.
fn inside_and_outside(cgroup: &Cgroup, args: &[&str]) -> (usize, usize) {
    let (_l1, inside) = listen("127.0.0.1");
    let (_l2, outside) = listen("127.0.0.1");
    let mut tool = Tool::start(&[&["--json"], args].concat());
    // The dropped one first: once the kept one is printed, the other would have been too.
    connect_from(None, false, outside);
    connect_from(Some(&cgroup.dir), true, inside);
    connect_from(None, false, outside);
    // A third connect, kept by every filter here, marks the end.
    let (_l3, marker) = listen("127.0.0.1");
    connect_from(Some(&cgroup.dir), true, marker);
    tool.wait_for("the marker", |l| {
        l.contains(&format!("\"dport\":{}", marker.port()))
    });
    let (lines, _) = tool.stop();
    (
        json_for_port(&lines, inside.port()).len(),
        json_for_port(&lines, outside.port()).len(),
    )
}

#[test]
fn cgroup_keeps_only_the_tasks_under_the_directory() {
    let Some(cgroup) = Cgroup::new("filter") else {
        return;
    };
    let dir = cgroup.dir.to_str().unwrap();
    assert_eq!(inside_and_outside(&cgroup, &["--cgroup", dir]), (1, 0));
}

#[test]
fn a_bcc_cgroupmap_selects_by_cgroup_id() {
    let Some(cgroup) = Cgroup::new("cgmap") else {
        return;
    };
    let pin = Pin::bcc_map("cgroupset", 8);
    pin.add(cgroup.id(), 8);
    let path = pin.0.to_str().unwrap();
    assert_eq!(inside_and_outside(&cgroup, &["--cgroupmap", path]), (1, 0));
}

#[test]
fn a_bcc_mntnsmap_selects_by_mount_namespace() {
    let Some(cgroup) = Cgroup::new("mntmap") else {
        return;
    };
    // The host's mount namespace in the map: the connects from `unshare -m` are dropped,
    // the host's kept (the marker is the one connect not counted).
    let pin = Pin::bcc_map("mount_ns_set", 4);
    let host_mntns = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
    pin.add(host_mntns, 4);
    let path = pin.0.to_str().unwrap();
    let (_l1, inside) = listen("127.0.0.1");
    let (_l2, outside) = listen("127.0.0.1");
    let mut tool = Tool::start(&["--json", "--mntnsmap", path]);
    connect_from(Some(&cgroup.dir), true, inside);
    connect_from(None, false, outside);
    tool.wait_for("the host's connect", |l| {
        l.contains(&format!("\"dport\":{}", outside.port()))
    });
    let (lines, _) = tool.stop();
    assert_eq!(json_for_port(&lines, inside.port()).len(), 0);
    assert_eq!(json_for_port(&lines, outside.port()).len(), 1);
}

#[test]
fn a_pinned_map_of_another_layout_is_refused_in_one_line() {
    // A value of 4 bytes where BCC's cgroupset has 8.
    let pin = Pin::bcc_map("cgroupset", 4);
    let (code, _, stderr) = run(&[
        "--attach",
        "tracepoint",
        "--duration",
        "0",
        "--cgroupmap",
        pin.0.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "map cgroupset: the map pinned at {} has value_size 4, the object's has 8",
            pin.0.display()
        )),
        "{stderr}"
    );
}

/// `bpf/main.bpf.o` as it was before the container fields (84-byte events, no filter maps):
/// kept to check that an object of the seed's layout still works with `--object`.
const SEED_LAYOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/seed_layout.bpf.o");

#[test]
fn an_object_of_the_seeds_layout_still_decodes_without_container_fields() {
    let (_listener, target) = listen("127.0.0.1");
    let port = target.port().to_string();
    let mut tool = Tool::start(&["--object", SEED_LAYOUT, "--json", "-P", &port]);
    connect_from_child(target, None);
    let line = tool.wait_for("the connect", |l| l.contains(&format!("\"dport\":{port}")));
    tool.stop();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["daddr"], "127.0.0.1");
    for field in ["cgroup_id", "cgroup", "container_id", "mntns", "netns"] {
        assert!(event.get(field).is_none(), "{field} in {line}");
    }
}

#[test]
fn the_container_filters_need_an_object_that_has_them() {
    let (code, _, stderr) = run(&[
        "--object",
        SEED_LAYOUT,
        "--attach",
        "tracepoint",
        "--duration",
        "0",
        "--cgroup",
        "/",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("tcpconnect: --cgroup needs an object with the container filters"),
        "{stderr}"
    );
}
