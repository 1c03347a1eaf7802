//! Tracepoints on the running kernel (needs root): a hand-assembled tracepoint program
//! sends a known payload through `bpf_perf_event_output`, attached through a BPF link and
//! through the perf ioctl, and the test reads it back through `PerfReader`. Each test makes its own map, program, link and
//! rings and filters on its own thread id, so tests run in parallel without seeing each
//! other's events.

mod harness;

use std::os::fd::AsFd;

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{AttachError, AttachMethod, AttachOptions, LinkPreference, Probe, Via};
use ebpf_loader::insn::*;
use ebpf_loader::load::program_info_by_id;
use ebpf_loader::perf::online_cpus;
use ebpf_loader::perf::{PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

fn tracepoint_round_trip(opts: &AttachOptions, expected: AttachMethod, magic: u64) {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let insns = program(
        std::os::fd::AsRawFd::as_raw_fd(&map.as_fd()),
        pid_tgid,
        magic,
    );
    let prog = load("test_tp", ProgramType::Tracepoint, &insns);
    let prog_id = prog.info().unwrap().id;

    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    assert_eq!(reader.cpus(), online_cpus().unwrap());
    let link = attach::tracepoint::attach(&prog, "sock", "inet_sock_set_state", opts).unwrap();
    assert_eq!(link.method(), expected);
    assert_eq!(link.target(), "tracepoint sock/inet_sock_set_state");

    let samples = connect_until_sample(&mut reader);
    assert!(!samples.is_empty(), "no sample arrived");
    let cpus = online_cpus().unwrap();
    for (cpu, data) in &samples {
        assert_payload(data, pid_tgid, magic);
        assert!(cpus.contains(cpu));
    }

    // Detach, and the program is gone once the last fd is closed.
    link.detach().unwrap();
    drop(reader);
    drop(prog);
    assert_eq!(program_info_by_id(prog_id).unwrap(), None);
}

#[test]
fn tracepoint_sample_arrives_through_a_bpf_link() {
    ebpf_loader::features::memlock::ensure();
    tracepoint_round_trip(
        &AttachOptions::default(),
        AttachMethod {
            probe: Probe::Tracepoint,
            via: harness::kernel::auto_link_via(),
        },
        0x1122_3344_5566_7788,
    );
}

#[test]
fn tracepoint_sample_arrives_through_the_perf_ioctl() {
    ebpf_loader::features::memlock::ensure();
    tracepoint_round_trip(
        &AttachOptions {
            link: LinkPreference::PerfIoctl,
            ..Default::default()
        },
        AttachMethod {
            probe: Probe::Tracepoint,
            via: Via::PerfIoctl,
        },
        0x0102_0304_0506_0708,
    );
}

#[test]
fn dropping_the_link_and_the_program_frees_the_program() {
    ebpf_loader::features::memlock::ensure();
    let map = perf_event_array();
    let insns = program(
        std::os::fd::AsRawFd::as_raw_fd(&map.as_fd()),
        this_pid_tgid(),
        1,
    );
    let prog = load("test_drop", ProgramType::Tracepoint, &insns);
    let id = prog.info().unwrap().id;
    let link = attach::tracepoint::attach(
        &prog,
        "sock",
        "inet_sock_set_state",
        &AttachOptions::default(),
    )
    .unwrap();
    // The link keeps the program alive without the program's fd.
    drop(prog);
    assert_eq!(
        program_info_by_id(id).unwrap().map(|info| info.id),
        Some(id)
    );
    drop(link);
    assert_eq!(
        program_info_by_id(id).unwrap(),
        None,
        "the program outlived its link"
    );
}

#[test]
fn a_missing_tracepoint_is_named() {
    ebpf_loader::features::memlock::ensure();
    let insns = [
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let prog = load("test_notp", ProgramType::Tracepoint, &insns);
    let err =
        attach::tracepoint::attach(&prog, "sock", "no_such_tp", &Default::default()).unwrap_err();
    assert!(
        matches!(err, AttachError::TracepointNotFound { .. }),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .starts_with("no tracepoint sock/no_such_tp in this kernel"));
}
