//! Attaching and reading events on the running kernel (needs root): a hand-assembled
//! tracepoint program sends a known payload through `bpf_perf_event_output`, and the test
//! reads it back through `PerfReader`. Each test makes its own map, program, link and
//! rings and filters on its own thread id, so tests run in parallel without seeing each
//! other's events.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use ebpf_loader::attach::{
    attach_kprobe, attach_tracepoint, AttachError, AttachMethod, AttachOptions, KprobeKind,
    LinkPreference, Probe, Via,
};
use ebpf_loader::insn::*;
use ebpf_loader::perf::{Event, PerfError, PerfReader, PerfReaderOptions};
use ebpf_loader::syscall::*;

const BPF_JNE: u8 = 0x50;
const HELPER_GET_CURRENT_PID_TGID: i32 = 14;
const HELPER_PERF_EVENT_OUTPUT: i32 = 25;

fn insn(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst_reg,
        src_reg,
        off,
        imm,
    }
}

fn ld_imm64(dst: u8, src_reg: u8, value: u64) -> [Insn; 2] {
    [
        insn(LD_IMM64, dst, src_reg, 0, value as u32 as i32),
        insn(0, 0, 0, 0, (value >> 32) as u32 as i32),
    ]
}

/// ```text
///  r6 = r1                              ; ctx
///  call bpf_get_current_pid_tgid
///  r8 = PID_TGID ; if r0 != r8 goto out ; only this test's thread
///  *(u64 *)(r10 - 16) = r0
///  r1 = MAGIC ; *(u64 *)(r10 - 8) = r1
///  r1 = r6 ; r2 = map ; r3 = BPF_F_CURRENT_CPU ; r4 = r10 - 16 ; r5 = 16
///  call bpf_perf_event_output
/// out: r0 = 0 ; exit
/// ```
fn program(map_fd: i32, pid_tgid: u64, magic: u64) -> Vec<Insn> {
    let mut p = vec![
        insn(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
        insn(CALL, 0, 0, 0, HELPER_GET_CURRENT_PID_TGID),
    ];
    p.extend(ld_imm64(8, 0, pid_tgid));
    let jne_at = p.len();
    p.push(insn(BPF_JMP | BPF_JNE | BPF_X, 0, 8, 0, 0)); // offset patched below
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -16, 0));
    p.extend(ld_imm64(1, 0, magic));
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 1, -8, 0));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0));
    p.extend(ld_imm64(2, BPF_PSEUDO_MAP_FD, map_fd as u32 as u64));
    p.extend(ld_imm64(3, 0, BPF_F_CURRENT_CPU));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 4, 10, 0, 0));
    p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, -16));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 5, 0, 0, 16));
    p.push(insn(CALL, 0, 0, 0, HELPER_PERF_EVENT_OUTPUT));
    let out = p.len();
    p[jne_at].off = (out - jne_at - 1) as i16;
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn this_pid_tgid() -> u64 {
    let tgid = std::process::id() as u64;
    let tid = nix::unistd::gettid().as_raw() as u64;
    (tgid << 32) | tid
}

fn perf_event_array() -> std::os::fd::OwnedFd {
    let attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_PERF_EVENT_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: possible_cpus().unwrap().len() as u32,
        map_name: obj_name("test_events"),
        ..Default::default()
    };
    map_create(&attr).unwrap()
}

/// Makes TCP connections to a local listener until `reader` has delivered a sample (each
/// connection fires sock/inet_sock_set_state several times), at most 50 rounds.
fn connect_until_sample(reader: &mut PerfReader) -> Vec<(u32, Vec<u8>)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut samples = Vec::new();
    let mut lost = 0;
    for _ in 0..50 {
        drop(TcpStream::connect(addr).unwrap());
        reader
            .poll(Some(Duration::from_millis(200)), |event| match event {
                Event::Sample { cpu, data } => samples.push((cpu, data.to_vec())),
                Event::Lost { count, .. } => lost += count,
            })
            .unwrap();
        if !samples.is_empty() {
            break;
        }
    }
    assert_eq!(lost, 0);
    samples
}

fn tracepoint_round_trip(opts: &AttachOptions, expected: AttachMethod, magic: u64) {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let insns = program(std::os::fd::AsRawFd::as_raw_fd(&map), pid_tgid, magic);
    let req = ProgLoadRequest::new("test_tp", BPF_PROG_TYPE_TRACEPOINT, &insns, "GPL");
    let prog = load_program(&req, &ProgLoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", e.log.text));
    let prog_id = prog_info(prog.fd.as_fd()).unwrap().id;

    let mut reader = PerfReader::open(map.as_fd(), &PerfReaderOptions::default()).unwrap();
    assert_eq!(reader.cpus(), online_cpus().unwrap());
    let link = attach_tracepoint(prog.fd.as_fd(), "sock", "inet_sock_set_state", opts).unwrap();
    assert_eq!(link.method(), expected);
    assert_eq!(link.target(), "tracepoint sock/inet_sock_set_state");

    let samples = connect_until_sample(&mut reader);
    assert!(!samples.is_empty(), "no sample arrived");
    let mut payload = Vec::new();
    payload.extend_from_slice(&pid_tgid.to_ne_bytes());
    payload.extend_from_slice(&magic.to_ne_bytes());
    payload.extend_from_slice(&[0; 4]); // the kernel's padding: 16 bytes arrive as 20
    let cpus = online_cpus().unwrap();
    for (cpu, data) in &samples {
        assert_eq!(data, &payload);
        assert!(cpus.contains(cpu));
    }

    // Detach, and the program is gone once the last fd is closed.
    link.detach().unwrap();
    drop(reader);
    drop(prog);
    assert_eq!(
        prog_get_fd_by_id(prog_id).unwrap_err(),
        SysError::new("BPF_PROG_GET_FD_BY_ID", libc::ENOENT)
    );
}

#[test]
fn tracepoint_sample_arrives_through_a_bpf_link() {
    tracepoint_round_trip(
        &AttachOptions::default(),
        AttachMethod {
            probe: Probe::Tracepoint,
            via: Via::BpfLink,
        },
        0x1122_3344_5566_7788,
    );
}

#[test]
fn tracepoint_sample_arrives_through_the_perf_ioctl() {
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
    let map = perf_event_array();
    let insns = program(std::os::fd::AsRawFd::as_raw_fd(&map), this_pid_tgid(), 1);
    let req = ProgLoadRequest::new("test_drop", BPF_PROG_TYPE_TRACEPOINT, &insns, "GPL");
    let prog = load_program(&req, &ProgLoadOptions::default()).unwrap();
    let id = prog_info(prog.fd.as_fd()).unwrap().id;
    let link = attach_tracepoint(
        prog.fd.as_fd(),
        "sock",
        "inet_sock_set_state",
        &AttachOptions::default(),
    )
    .unwrap();
    // The link keeps the program alive without the program's fd.
    drop(prog);
    assert!(prog_get_fd_by_id(id).is_ok());
    drop(link);
    assert_eq!(
        prog_get_fd_by_id(id).unwrap_err().errno,
        libc::ENOENT,
        "the program outlived its link"
    );
}

#[test]
fn a_missing_tracepoint_is_named() {
    let insns = [
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let req = ProgLoadRequest::new("test_notp", BPF_PROG_TYPE_TRACEPOINT, &insns, "GPL");
    let prog = load_program(&req, &ProgLoadOptions::default()).unwrap();
    let err =
        attach_tracepoint(prog.fd.as_fd(), "sock", "no_such_tp", &Default::default()).unwrap_err();
    assert!(
        matches!(err, AttachError::TracepointNotFound { .. }),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .starts_with("no tracepoint sock/no_such_tp in this kernel"));
}

#[test]
fn kprobes_fail_with_a_clear_error() {
    let insns = [
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ];
    let req = ProgLoadRequest::new("test_kprobe", BPF_PROG_TYPE_KPROBE, &insns, "GPL");
    let prog = load_program(&req, &ProgLoadOptions::default()).unwrap();
    let has_pmu = std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    let has_legacy = std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/kprobe_events").exists();
    let err = attach_kprobe(
        prog.fd.as_fd(),
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

#[test]
fn perf_reader_rejects_a_page_count_that_is_not_a_power_of_two() {
    let map = perf_event_array();
    let opts = PerfReaderOptions {
        pages: 3,
        ..Default::default()
    };
    let err = PerfReader::open(map.as_fd(), &opts).err().unwrap();
    assert!(matches!(err, PerfError::PagesNotPowerOfTwo { pages: 3 }));
    assert_eq!(
        err.to_string(),
        "perf ring pages must be a power of two (1, 2, 4, 8, ...), not 3"
    );
}

#[test]
fn perf_reader_stores_each_ring_at_its_cpu_and_removes_it_on_drop() {
    let map = perf_event_array();
    let reader = PerfReader::open(map.as_fd(), &PerfReaderOptions::default()).unwrap();
    let cpus = online_cpus().unwrap();
    // Lookups of a perf event array from user space are not allowed (EOPNOTSUPP), but
    // deleting an entry that exists says so, and one that does not says ENOENT.
    let mut v = [0u8; 4];
    let err = map_lookup_elem(map.as_fd(), &0u32.to_ne_bytes(), &mut v).unwrap_err();
    assert!(err.is_not_supported(), "{err}");
    assert_eq!(
        map_delete_elem(map.as_fd(), &cpus[0].to_ne_bytes()),
        Ok(true)
    );
    drop(reader);
    for cpu in &cpus {
        assert_eq!(map_delete_elem(map.as_fd(), &cpu.to_ne_bytes()), Ok(false));
    }
}
