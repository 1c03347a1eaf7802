//! The tool with a real container runtime: Debian 12's podman (crun), containers made from a
//! busybox-static root filesystem imported from a tarball (`podman import`: no registry).
//!
//! One test, in order, because the setup is shared and slow (bounded: an import, a
//! `FROM scratch` build, a few containers):
//! 1. the image built from `Containerfile` runs the tool with exactly the capabilities,
//!    seccomp profile and mounts of `deploy/daemonset.json` and `deploy/seccomp.json`, and
//!    sees the connects of other containers: each event carries the container's id,
//!    cgroup, mount and network namespace, checked against `podman inspect` and
//!    `/proc/PID/ns/*`; the host's connects carry no container; a container whose
//!    process exits right after its connect is still named;
//! 2. `--cgroup` keeps the container's connects and drops the host's, and the reverse;
//! 3. BCC-style pinned maps filled by the test select by cgroup id and by mount namespace.
//!
//! Facts of these machines (issue 13): the cgroup setup is hybrid, and crun refuses it
//! while the v2 hierarchy has a controller enabled (here `hugetlb`, which no v1 hierarchy
//! holds): the test mounts that controller in a v1 hierarchy of its own, and unmounts it
//! at the end. The hard open-files limit is 20000: every container gets
//! `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`. The containers use
//! `--network none`: a connect to 127.0.0.1 in the container's own network namespace is
//! refused, which is still an outgoing connect (its event is sent when it leaves
//! SYN_SENT).
//!
//! Skipped, with a message, only when podman is not installed (tests/all installs it) or
//! there is no cgroup v2 hierarchy.

mod harness;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use harness::tool::*;
use serde_json::Value;

/// The test's images, named after its process: another run of this test at the same
/// moment (another checkout's) removes only its own.
static BUSYBOX_IMAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "localhost/tcpconnect-test-busybox-{}:latest",
        std::process::id()
    )
});
static TOOL_IMAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "localhost/tcpconnect-test-tool-{}:latest",
        std::process::id()
    )
});
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a command to its end; panics with its stderr when it fails.
fn sh(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn podman(args: &[&str]) -> String {
    sh("podman", args)
}

fn cgroup2_root() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// What the test set up on the host, undone on drop (also when an assertion fails).
#[derive(Default)]
struct Setup {
    /// v1 hierarchies the test mounted to free the v2 hierarchy of its controllers.
    v1_mounts: Vec<PathBuf>,
    /// Containers and images to remove; files to delete; cgroups to remove.
    containers: Vec<String>,
    images: Vec<&'static str>,
    files: Vec<PathBuf>,
    cgroups: Vec<PathBuf>,
}

impl Setup {
    /// Frees the v2 hierarchy of controllers (a hybrid setup), as crun wants it: each
    /// controller it lists is mounted in a v1 hierarchy of its own.
    fn free_v2_controllers(&mut self, root: &Path) {
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap();
        for controller in controllers.split_whitespace() {
            let dir = PathBuf::from(format!("/sys/fs/cgroup/{controller}"));
            let _ = std::fs::create_dir(&dir);
            sh(
                "mount",
                &[
                    "-t",
                    "cgroup",
                    "-o",
                    controller,
                    "cgroup",
                    dir.to_str().unwrap(),
                ],
            );
            self.v1_mounts.push(dir);
        }
    }
}

/// Removes a v1 hierarchy's child cgroups, deepest first, so that unmounting it gives the
/// controller back to the v2 hierarchy.
fn remove_children(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_children(&entry.path());
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", id])
                .output();
        }
        for image in &self.images {
            let _ = Command::new("podman").args(["rmi", "-f", image]).output();
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in &self.cgroups {
            remove_children(dir);
            let _ = std::fs::remove_dir(dir);
        }
        for dir in self.v1_mounts.iter().rev() {
            remove_children(dir);
            let _ = Command::new("umount").arg(dir).output();
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The busybox-static root filesystem as a tarball, imported as an image.
fn import_busybox(setup: &mut Setup) {
    let dir = std::env::temp_dir().join(format!("tcpconnect-test-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for empty in ["proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join(empty)).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("busybox-static");
    for applet in ["sh", "nc", "sleep", "cat"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    let tarball = dir.with_extension("tar");
    sh(
        "tar",
        &[
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            tarball.to_str().unwrap(),
            ".",
        ],
    );
    podman(&["import", tarball.to_str().unwrap(), BUSYBOX_IMAGE.as_str()]);
    setup.images.push(BUSYBOX_IMAGE.as_str());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&tarball);
}

/// The static binary (built if needed) in the image `Containerfile` describes.
fn build_tool_image(setup: &mut Setup) {
    // Static: .cargo/config.toml links with +crt-static, not as a PIE.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release"])
        .current_dir(repo(""))
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build --release");
    let binary = "target/release/tcpconnect";
    // What the README promises of it, and what a `FROM scratch` image needs.
    let ldd = Command::new("ldd").arg(repo(binary)).output().expect("ldd");
    let said = String::from_utf8_lossy(&ldd.stdout) + String::from_utf8_lossy(&ldd.stderr);
    assert_eq!(said.trim(), "not a dynamic executable", "ldd {binary}");
    podman(&[
        "build",
        "-q",
        // No intermediate images left behind.
        "--layers=false",
        "-t",
        TOOL_IMAGE.as_str(),
        "-f",
        repo("Containerfile").to_str().unwrap(),
        "--build-arg",
        &format!("BINARY={binary}"),
        repo("").to_str().unwrap(),
    ]);
    setup.images.push(TOOL_IMAGE.as_str());
}

/// `podman run` options from the DaemonSet: its capabilities, its seccomp profile, its
/// mounts (read-only), a read-only root.
fn options_of_the_manifest() -> Vec<String> {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("deploy/daemonset.json")).unwrap())
            .unwrap();
    let pod = &manifest["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    let mut options = vec!["--cap-drop=all".to_string()];
    for cap in security["capabilities"]["add"].as_array().unwrap() {
        options.push(format!(
            "--cap-add={}",
            cap.as_str().unwrap().to_lowercase()
        ));
    }
    assert_eq!(security["seccompProfile"]["type"], "Localhost");
    options.push(format!(
        "--security-opt=seccomp={}",
        repo("deploy/seccomp.json").display()
    ));
    if security["readOnlyRootFilesystem"] == true {
        options.push("--read-only".into());
    }
    for mount in container["volumeMounts"].as_array().unwrap() {
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let ro = if mount["readOnly"] == true { ":ro" } else { "" };
        options.push(format!(
            "--volume={}:{}{ro}",
            volume["hostPath"]["path"].as_str().unwrap(),
            mount["mountPath"].as_str().unwrap()
        ));
    }
    options
}

/// The tool running in its container, in the foreground (podman passes SIGINT on).
struct ContainedTool {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl ContainedTool {
    fn start(name: &str, args: &[&str]) -> ContainedTool {
        let mut command = Command::new("podman");
        command
            .args(["run", "--rm", "--name", name])
            .args(ULIMITS)
            .args(options_of_the_manifest())
            .arg(TOOL_IMAGE.as_str())
            .args(["-v", "--attach", "tracepoint"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("podman run");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut said = Vec::new();
        for line in BufReader::new(child.stderr.take().unwrap())
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("tcpconnect: ready") {
                return ContainedTool { child, stdout };
            }
            said.push(line);
        }
        let _ = child.wait();
        panic!(
            "the tool's container did not get ready: {}",
            said.join("\n")
        );
    }

    /// Stops the tool with SIGINT; its JSON lines.
    fn stop(mut self, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut events = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.stdout.recv_timeout(left) else {
                break;
            };
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let done = until(&event);
            events.push(event);
            if done {
                break;
            }
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let status = self.child.wait().unwrap();
        events.extend(
            self.stdout
                .iter()
                .filter_map(|l| serde_json::from_str(&l).ok()),
        );
        assert!(
            status.success(),
            "the tool's container exited with {status}"
        );
        events
    }
}

/// A long-lived container; its id and main process.
fn start_sleeper(setup: &mut Setup) -> (String, u32) {
    let mut args = vec!["run", "-d", "--network", "none"];
    args.extend(ULIMITS);
    args.extend([BUSYBOX_IMAGE.as_str(), "sleep", "600"]);
    let id = podman(&args);
    setup.containers.push(id.clone());
    let pid: u32 = podman(&["inspect", "--format", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    (id, pid)
}

/// A connect from inside the container (refused: nothing listens in its network).
fn connect_in(container: &str, port: u16) {
    let _ = Command::new("podman")
        .args(["exec", container, "nc", "127.0.0.1", &port.to_string()])
        .output()
        .expect("podman exec");
}

/// A container that connects and exits at once; its id.
fn connect_and_exit(setup: &mut Setup, port: u16) -> String {
    let cidfile = std::env::temp_dir().join(format!("tcpconnect-test-cid-{}", std::process::id()));
    let _ = std::fs::remove_file(&cidfile);
    let mut args = vec!["run", "--rm", "--network", "none", "--cidfile"];
    let cidfile_arg = cidfile.to_str().unwrap().to_string();
    args.push(&cidfile_arg);
    args.extend(ULIMITS);
    let port = port.to_string();
    args.extend([BUSYBOX_IMAGE.as_str(), "nc", "127.0.0.1", &port]);
    let _ = Command::new("podman")
        .args(&args)
        .output()
        .expect("podman run");
    let id = std::fs::read_to_string(&cidfile)
        .unwrap()
        .trim()
        .to_string();
    setup.files.push(cidfile);
    id
}

/// The inode of `/proc/PID/ns/NAME`.
fn ns(pid: u32, name: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{name}"))
        .unwrap()
        .ino()
}

/// `/proc/PID/cgroup`'s v2 line: the cgroup's path.
fn cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap()
}

fn for_port(events: &[Value], port: u16) -> Vec<&Value> {
    events.iter().filter(|e| e["dport"] == port).collect()
}

/// A port nothing listens on in the containers (their network is their own).
fn port(n: u16) -> u16 {
    20000 + (std::process::id() % 10000) as u16 * 4 + n
}

/// The host binary, its JSON lines for the connects `make` makes; stopped after the
/// marker connect to `marker` (kept by every filter used here) is seen.
fn host_tool(args: &[&str], make: impl FnOnce(), marker: impl FnOnce() -> u16) -> Vec<Value> {
    let mut tool = Tool::start(&[&["--json"], args].concat());
    make();
    let marker = marker();
    tool.wait_for("the marker", |l| l.contains(&format!("\"dport\":{marker}")));
    let (lines, _) = tool.stop();
    lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn containers_are_named_and_selected_with_podman() {
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("SKIPPED: podman is not installed (tests/all installs podman and crun)");
        return;
    }
    let Some(root) = cgroup2_root() else {
        eprintln!("SKIPPED: no cgroup v2 hierarchy on this machine");
        return;
    };
    let mut setup = Setup::default();
    // podman's parent cgroup (cgroupfs driver), made by the first container: removed after.
    let parent = root.join("libpod_parent");
    if !parent.exists() {
        setup.cgroups.push(parent);
    }
    setup.free_v2_controllers(&root);
    import_busybox(&mut setup);
    build_tool_image(&mut setup);
    let (sleeper, sleeper_pid) = start_sleeper(&mut setup);

    // 1. The tool in its image, with the manifest's privileges only.
    let (_host_listener, host_target) = listen("127.0.0.1");
    let name = format!("tcpconnect-test-tool-{}", std::process::id());
    let tool = ContainedTool::start(&name, &["--json"]);
    connect_in(&sleeper, port(0));
    connect_from_child(host_target, None);
    let quick = connect_and_exit(&mut setup, port(1));
    let events = tool.stop(|e| e["dport"] == port(1));

    let inside = for_port(&events, port(0));
    assert_eq!(inside.len(), 1, "{events:#?}");
    let event = inside[0];
    assert_eq!(event["comm"], "nc");
    assert_eq!(event["container_id"], sleeper.as_str());
    assert_eq!(event["container_runtime"], "podman");
    assert_eq!(event["cgroup"], cgroup_of(sleeper_pid).as_str());
    assert_eq!(
        event["cgroup_id"],
        std::fs::metadata(root.join(cgroup_of(sleeper_pid).trim_start_matches('/')))
            .unwrap()
            .ino()
    );
    assert_eq!(event["mntns"], ns(sleeper_pid, "mnt"));
    assert_eq!(event["netns"], ns(sleeper_pid, "net"));
    assert!(
        event.get("pod_uid").is_none(),
        "podman makes no pod: {event}"
    );

    let host = for_port(&events, host_target.port());
    assert_eq!(host.len(), 1, "{events:#?}");
    assert!(host[0].get("container_id").is_none(), "{}", host[0]);
    assert_eq!(host[0]["mntns"], ns(std::process::id(), "mnt"));
    assert_eq!(host[0]["netns"], ns(std::process::id(), "net"));

    let gone = for_port(&events, port(1));
    assert_eq!(gone.len(), 1, "{events:#?}");
    assert_eq!(gone[0]["container_id"], quick.as_str());

    // 2. --cgroup: the container's directory keeps its connects only; a directory of the
    // host's keeps the host's only.
    let sleeper_dir = root.join(cgroup_of(sleeper_pid).trim_start_matches('/'));
    let host_dir = root.join(format!("tcpconnect-test-podman-{}", std::process::id()));
    std::fs::create_dir(&host_dir).unwrap();
    setup.cgroups.push(host_dir.clone());
    let host_in_cgroup = |target: std::net::SocketAddr| {
        sh(
            "bash",
            &[
                "-c",
                &format!(
                    "echo $$ > {}/cgroup.procs && exec 3<>/dev/tcp/{}/{}",
                    host_dir.display(),
                    target.ip(),
                    target.port()
                ),
            ],
        );
    };
    let events = host_tool(
        &["--cgroup", sleeper_dir.to_str().unwrap()],
        || {
            connect_from_child(host_target, None);
            host_in_cgroup(host_target);
            connect_in(&sleeper, port(2));
        },
        || {
            connect_in(&sleeper, port(3));
            port(3)
        },
    );
    assert_eq!(for_port(&events, port(2)).len(), 1, "{events:#?}");
    assert_eq!(
        for_port(&events, host_target.port()).len(),
        0,
        "{events:#?}"
    );
    let (_marker_listener, marker) = listen("127.0.0.1");
    let events = host_tool(
        &["--cgroup", host_dir.to_str().unwrap()],
        || {
            connect_in(&sleeper, port(2));
            host_in_cgroup(host_target);
        },
        || {
            host_in_cgroup(marker);
            marker.port()
        },
    );
    assert_eq!(for_port(&events, port(2)).len(), 0, "{events:#?}");
    assert_eq!(
        for_port(&events, host_target.port()).len(),
        1,
        "{events:#?}"
    );

    // 3. BCC's pinned maps, made with bpftool as special_filtering.md says, filled with the
    // container's cgroup id, then its mount namespace.
    for (map, value_size, flag, key) in [
        (
            "cgroupset",
            "8",
            "--cgroupmap",
            std::fs::metadata(&sleeper_dir).unwrap().ino(),
        ),
        ("mount_ns_set", "4", "--mntnsmap", ns(sleeper_pid, "mnt")),
    ] {
        sys_fs_bpf();
        let pin = format!("/sys/fs/bpf/tcpconnect-test-{}-{map}", std::process::id());
        let _ = std::fs::remove_file(&pin);
        sh(
            "bpftool",
            &[
                "map", "create", &pin, "type", "hash", "key", "8", "value", value_size, "entries",
                "128", "name", map, "flags", "0",
            ],
        );
        setup.files.push(PathBuf::from(&pin));
        let mut args = vec![
            "map".to_string(),
            "update".into(),
            "pinned".into(),
            pin.clone(),
        ];
        args.push("key".into());
        args.push("hex".into());
        args.extend(key.to_ne_bytes().iter().map(|b| format!("{b:02x}")));
        args.push("value".into());
        args.push("hex".into());
        let size: usize = value_size.parse().unwrap();
        args.extend((0..size).map(|i| if i == 0 { "01".into() } else { "00".into() }));
        sh(
            "bpftool",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let events = host_tool(
            &[flag, &pin],
            || {
                connect_from_child(host_target, None);
                connect_in(&sleeper, port(2));
            },
            || {
                connect_in(&sleeper, port(3));
                port(3)
            },
        );
        assert_eq!(for_port(&events, port(2)).len(), 1, "{flag}: {events:#?}");
        assert_eq!(
            for_port(&events, host_target.port()).len(),
            0,
            "{flag}: {events:#?}"
        );
    }
}
