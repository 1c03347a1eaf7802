//! The kprobe paths, which need a kernel with kprobes (`CONFIG_KPROBES`): this project's
//! machines have none, so these tests are `#[ignore]`d here and run in QEMU on stock
//! Debian 6.1 and 6.12 kernels by `tests/vm/run` (see `tests/vm/README.md`), with
//! `--include-ignored`. Each test uses its own map, program and probe, and filters on its own
//! thread id. One test runs everywhere: on a kernel without kprobes the error says why.

mod harness;

use std::os::fd::{AsFd, AsRawFd};

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{
    prune_stale_kprobes, tracefs, AttachError, AttachMethod, AttachOptions, KprobeKind,
    LinkPreference, Probe, Via,
};
use ebpf_loader::insn::*;
use ebpf_loader::load::program_info_by_id;
use ebpf_loader::perf::{PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

fn kprobe_events() -> String {
    let dir = tracefs::tracefs_dir().unwrap();
    std::fs::read_to_string(dir.join("kprobe_events")).unwrap()
}

/// `kprobe_events` read until two reads agree (at most 20): it is a seq_file, and a read
/// that races another test's removal of its own entry skips a line of the listing.
fn settled_kprobe_events() -> String {
    let mut last = kprobe_events();
    for _ in 0..20 {
        let now = kprobe_events();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

fn kprobe_round_trip(kind: KprobeKind, opts: &AttachOptions, expected: AttachMethod, magic: u64) {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, magic);
    let prog = load("test_kprobe", ProgramType::Kprobe, &insns);
    let prog_id = prog.info().unwrap().id;
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();

    let link = attach::kprobe::attach(&prog, "tcp_connect", kind, opts).unwrap();
    assert_eq!(link.method(), expected);
    let ours = link.kprobe_event();
    if expected.probe == Probe::KprobeTracefs {
        let ours = ours.as_deref().unwrap();
        assert!(ours.starts_with(&format!("ebpf_loader/tcp_connect_{}_", std::process::id())));
        // `p:GROUP/EVENT tcp_connect`, or `r10:...` (the kernel shows maxactive) for returns.
        let kind_letter = if kind == KprobeKind::Entry { 'p' } else { 'r' };
        let listed = kprobe_events().lines().any(|l| {
            l.starts_with(kind_letter)
                && l.ends_with(" tcp_connect")
                && tracefs::parse_kprobe_events_line(l)
                    .is_some_and(|(g, e)| format!("{g}/{e}") == ours)
        });
        assert!(listed, "{ours} not in {}", kprobe_events());
    } else {
        assert_eq!(ours, None);
    }

    let samples = connect_until_sample(&mut reader);
    assert!(!samples.is_empty(), "no sample from {}", link);
    for (_, data) in &samples {
        assert_payload(data, pid_tgid, magic);
    }

    link.detach().unwrap();
    if let Some(ours) = ours {
        assert!(
            !kprobe_events().contains(&format!("{ours} ")),
            "{}",
            kprobe_events()
        );
    }
    drop(reader);
    drop(prog);
    assert_eq!(program_info_by_id(prog_id).unwrap(), None);
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kprobe_through_the_pmu_and_a_bpf_link() {
    ebpf_loader::features::memlock::ensure();
    kprobe_round_trip(
        KprobeKind::Entry,
        &AttachOptions::default(),
        AttachMethod {
            probe: Probe::KprobePmu,
            via: harness::kernel::auto_link_via(),
        },
        0xaaaa_0001,
    );
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kretprobe_through_the_pmu_and_the_ioctl() {
    ebpf_loader::features::memlock::ensure();
    kprobe_round_trip(
        KprobeKind::Return,
        &AttachOptions {
            link: LinkPreference::PerfIoctl,
            ..Default::default()
        },
        AttachMethod {
            probe: Probe::KprobePmu,
            via: Via::PerfIoctl,
        },
        0xaaaa_0002,
    );
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kprobe_through_tracefs_kprobe_events() {
    ebpf_loader::features::memlock::ensure();
    kprobe_round_trip(
        KprobeKind::Entry,
        &AttachOptions {
            force_tracefs_kprobe: true,
            ..Default::default()
        },
        AttachMethod {
            probe: Probe::KprobeTracefs,
            via: harness::kernel::auto_link_via(),
        },
        0xaaaa_0003,
    );
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kretprobe_through_tracefs_and_the_ioctl() {
    ebpf_loader::features::memlock::ensure();
    kprobe_round_trip(
        KprobeKind::Return,
        &AttachOptions {
            force_tracefs_kprobe: true,
            link: LinkPreference::PerfIoctl,
            ..Default::default()
        },
        AttachMethod {
            probe: Probe::KprobeTracefs,
            via: Via::PerfIoctl,
        },
        0xaaaa_0004,
    );
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn a_missing_function_is_named_on_both_paths() {
    ebpf_loader::features::memlock::ensure();
    let insns = [
        insn(
            ebpf_loader::insn::BPF_ALU64 | ebpf_loader::insn::BPF_MOV,
            0,
            0,
            0,
            0,
        ),
        insn(ebpf_loader::insn::EXIT, 0, 0, 0, 0),
    ];
    let prog = load("test_nofunc", ProgramType::Kprobe, &insns);
    for force_tracefs_kprobe in [false, true] {
        let opts = AttachOptions {
            force_tracefs_kprobe,
            ..Default::default()
        };
        let err =
            attach::kprobe::attach(&prog, "no_such_fn_xyz", KprobeKind::Entry, &opts).unwrap_err();
        assert!(
            matches!(&err, AttachError::KprobeFunctionNotFound { function, .. } if function == "no_such_fn_xyz"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("cannot kprobe no_such_fn_xyz: "),
            "{err}"
        );
    }
    // The failed tracefs attempt left nothing behind.
    let ours = format!(
        "{}/no_such_fn_xyz_{}_",
        tracefs::KPROBE_GROUP,
        std::process::id()
    );
    assert!(!kprobe_events().contains(&ours));
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn leftovers_of_dead_processes_are_pruned() {
    ebpf_loader::features::memlock::ensure();
    let dir = tracefs::tracefs_dir().unwrap();
    // pid 4000001 does not exist in the VM (its pid_max is 4194304, a handful of processes).
    let stale = tracefs::kprobe_event_name("tcp_close", 4_000_001, 0);
    let live = tracefs::kprobe_event_name("tcp_close", std::process::id(), 999);
    for name in [&stale, &live] {
        tracefs::write_kprobe_events(
            &dir,
            &format!("p:{}/{name} tcp_close\n", tracefs::KPROBE_GROUP),
        )
        .unwrap();
    }
    let removed = prune_stale_kprobes().unwrap();
    assert!(
        removed.contains(&format!("{}/{stale}", tracefs::KPROBE_GROUP)),
        "{removed:?}"
    );
    let events = settled_kprobe_events();
    assert!(!events.contains(&stale), "{events}");
    assert!(events.contains(&live), "{events}");
    tracefs::remove_kprobe_event(&dir, tracefs::KPROBE_GROUP, &live).unwrap();
}

#[test]
fn kprobes_fail_with_a_clear_error() {
    ebpf_loader::features::memlock::ensure();
    let insns = [
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let prog = load("test_kprobe", ProgramType::Kprobe, &insns);
    let has_pmu = std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    let has_legacy = std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/kprobe_events").exists();
    let err = attach::kprobe::attach(
        &prog,
        "no_such_function_xyz",
        KprobeKind::Entry,
        &Default::default(),
    )
    .unwrap_err();
    if has_pmu || has_legacy {
        // A kernel with kprobes: the function is named.
        assert!(
            matches!(&err, AttachError::KprobeFunctionNotFound { function, .. } if function == "no_such_function_xyz"),
            "{err:?}"
        );
    } else {
        // This project's machines: no kprobes at all.
        assert!(matches!(err, AttachError::KprobesUnsupported), "{err:?}");
        assert_eq!(
            err.to_string(),
            "this kernel has no kprobe support (CONFIG_KPROBES is off): no kprobe PMU and no kprobe_events in tracefs"
        );
    }
}
