//! The Kubernetes DaemonSet (`deploy/daemonset.json`) and the seccomp profile
//! (`deploy/seccomp.json`) checked as a cluster would read them, since no cluster runs
//! here: the container gets CAP_BPF and CAP_PERFMON and nothing else, mounts what the tool
//! reads (kernel BTF, tracefs, the cgroup hierarchy), read-only, and no more; the profile
//! refuses by default and allows `bpf` and `perf_event_open`.
//!
//! Formats: the DaemonSet is `apps/v1` (Kubernetes accepts JSON manifests as YAML's
//! subset); the profile is the OCI runtime spec's `linux.seccomp` as runc, crun and the
//! kubelet's `Localhost` profiles read it (`defaultAction`, `syscalls[].names`, `action`).

use serde_json::Value;

fn read(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn the_daemonset_grants_bpf_and_perfmon_only() {
    let manifest = read("deploy/daemonset.json");
    assert_eq!(manifest["apiVersion"], "apps/v1");
    assert_eq!(manifest["kind"], "DaemonSet");
    let pod = &manifest["spec"]["template"]["spec"];
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let security = &containers[0]["securityContext"];
    assert_eq!(security["privileged"], false);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(
        strings(&security["capabilities"]["add"]),
        ["BPF", "PERFMON"]
    );
    assert_eq!(security["seccompProfile"]["type"], "Localhost");
    assert_eq!(
        security["seccompProfile"]["localhostProfile"],
        "profiles/tcpconnect.json"
    );
}

#[test]
fn the_daemonset_mounts_btf_tracefs_and_cgroups_read_only_and_nothing_else() {
    let manifest = read("deploy/daemonset.json");
    let pod = &manifest["spec"]["template"]["spec"];
    let mounts: Vec<(&str, &str, bool)> = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
                m["readOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("btf", "/sys/kernel/btf", true),
            ("tracefs", "/sys/kernel/tracing", true),
            ("cgroup", "/sys/fs/cgroup", true),
        ]
    );
    let volumes: Vec<(&str, &str)> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap(),
                v["hostPath"]["path"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        volumes,
        [
            ("btf", "/sys/kernel/btf"),
            ("tracefs", "/sys/kernel/tracing"),
            ("cgroup", "/sys/fs/cgroup"),
        ]
    );
}

/// The syscalls the profile allows, unconditionally.
fn allowed(profile: &Value) -> Vec<&str> {
    profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["action"] == "SCMP_ACT_ALLOW" && rule.get("args").is_none())
        .flat_map(|rule| strings(&rule["names"]))
        .collect()
}

#[test]
fn the_seccomp_profile_refuses_by_default_and_allows_bpf_and_perf_event_open() {
    let profile = read("deploy/seccomp.json");
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(strings(&profile["architectures"]), ["SCMP_ARCH_X86_64"]);
    let allowed = allowed(&profile);
    for name in ["bpf", "perf_event_open", "execve"] {
        assert!(allowed.contains(&name), "{name} is not allowed");
    }
    // What a tracer has no business doing: each refused by the default action.
    for name in [
        "mount",
        "umount2",
        "ptrace",
        "init_module",
        "finit_module",
        "kexec_load",
        "setns",
        "unshare",
        "reboot",
        "process_vm_writev",
    ] {
        assert!(!allowed.contains(&name), "{name} is allowed");
    }
    let mut sorted = allowed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), allowed.len(), "a syscall is listed twice");
}

/// The tool's one thread (the cgroup watch of `--json` and `--containers`) is made with
/// clone(2), allowed only without a namespace flag; clone3(2), whose flags seccomp cannot
/// see, answers ENOSYS so that the C library falls back to clone (as Docker's default
/// profile does).
#[test]
fn threads_may_be_made_but_no_namespace() {
    let profile = read("deploy/seccomp.json");
    let rules = profile["syscalls"].as_array().unwrap();
    let rule = |name: &str| {
        let matching: Vec<&Value> = rules
            .iter()
            .filter(|r| strings(&r["names"]).contains(&name))
            .collect();
        assert_eq!(matching.len(), 1, "{name}: one rule");
        matching[0]
    };
    let clone = rule("clone");
    assert_eq!(clone["action"], "SCMP_ACT_ALLOW");
    let namespaces: u64 = [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
    ]
    .iter()
    .map(|&flag| flag as u64)
    .sum();
    assert_eq!(
        clone["args"],
        serde_json::json!([{
            "index": 0,
            "value": namespaces,
            "valueTwo": 0,
            "op": "SCMP_CMP_MASKED_EQ"
        }])
    );
    let clone3 = rule("clone3");
    assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
    assert_eq!(clone3["errnoRet"], libc::ENOSYS);
    let allowed = allowed(&profile);
    for name in ["inotify_init1", "inotify_add_watch"] {
        assert!(allowed.contains(&name), "{name} is not allowed");
    }
}
