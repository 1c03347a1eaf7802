//! Uprobes and raw tracepoints on the running kernel (root; this host has both): the
//! hand-assembled program of `harness::kernel` sends this thread's id and a magic number, and the
//! test makes the event happen itself: it calls a function of its own binary (uprobe,
//! uretprobe) or makes a system call (raw tracepoint `sys_enter`). Each test makes its own
//! map, program and link and filters on its own thread id.

mod harness;

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use harness::kernel::*;

use ebpf_loader::attach::{AttachError, AttachMethod, AttachOptions, Probe, Via};
use ebpf_loader::elf::target::function_offset;
use ebpf_loader::load::program_info_by_id;
use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

/// The function the uprobe tests probe: a symbol of this test binary.
#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3)
}

/// Calls `fire` until `reader` has a sample, at most 50 rounds; returns the samples.
fn fire_until_sample(reader: &mut PerfReader, mut fire: impl FnMut()) -> Vec<Vec<u8>> {
    let mut samples = Vec::new();
    for _ in 0..50 {
        fire();
        reader
            .poll(Some(Duration::from_millis(100)), |event| match event {
                Event::Sample { data, .. } => samples.push(data.to_vec()),
                Event::Lost { count, .. } => panic!("{count} lost"),
            })
            .unwrap();
        if !samples.is_empty() {
            break;
        }
    }
    samples
}

fn uprobe_round_trip(retprobe: bool, pid: Option<u32>, magic: u64) {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, magic);
    let prog = load("test_uprobe", ProgramType::Kprobe, &insns);
    let id = prog.info().unwrap().id;
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let link = prog
        .attach_uprobe(
            &exe,
            Some("ebpf_loader_uprobe_target"),
            0,
            retprobe,
            pid,
            &AttachOptions::default(),
        )
        .unwrap();
    // A BPF link where the kernel has links for perf events (5.15), else the ioctl.
    let via = if ebpf_loader::features::probe_perf_link() {
        Via::BpfLink
    } else {
        Via::PerfIoctl
    };
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::UprobePmu,
            via
        }
    );
    let what = if retprobe { "uretprobe" } else { "uprobe" };
    assert_eq!(
        link.target(),
        format!("{what} {}:ebpf_loader_uprobe_target", exe.display())
    );
    let samples = fire_until_sample(&mut reader, || {
        ebpf_loader_uprobe_target(7);
    });
    assert!(!samples.is_empty(), "the {what} did not fire");
    for data in &samples {
        assert_payload(data, pid_tgid, magic);
    }
    drop(link);
    drop(prog);
    drop(reader);
    assert_eq!(program_info_by_id(id).unwrap(), None);
}

#[test]
fn a_uprobe_fires_on_a_function_of_this_binary() {
    uprobe_round_trip(false, None, 0x0b0b_0001);
}

#[test]
fn a_uretprobe_fires_for_this_process_only() {
    uprobe_round_trip(true, Some(std::process::id()), 0x0b0b_0002);
}

#[test]
fn the_offset_given_is_the_functions_place_in_the_file() {
    let exe = std::env::current_exe().unwrap();
    let bytes = std::fs::read(&exe).unwrap();
    let offset = function_offset(&bytes, "ebpf_loader_uprobe_target").unwrap();
    // The same function, found by its file offset rather than its name.
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, 3);
    let prog = load("test_uprobe_off", ProgramType::Kprobe, &insns);
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    let link = prog
        .attach_uprobe(&exe, None, offset, false, None, &AttachOptions::default())
        .unwrap();
    assert_eq!(
        link.target(),
        format!("uprobe {}:{offset:#x}", exe.display())
    );
    let samples = fire_until_sample(&mut reader, || {
        ebpf_loader_uprobe_target(1);
    });
    assert!(!samples.is_empty());
}

#[test]
fn a_missing_symbol_is_named() {
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
    let prog = load("test_nosym", ProgramType::Kprobe, &insns);
    let exe = std::env::current_exe().unwrap();
    let error = prog
        .attach_uprobe(
            &exe,
            Some("no_such_symbol_xyz"),
            0,
            false,
            None,
            &AttachOptions::default(),
        )
        .unwrap_err();
    assert!(
        matches!(error, AttachError::SymbolNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "no function no_such_symbol_xyz in the symbol tables of {}",
            exe.display()
        )
    );
}

#[test]
fn a_raw_tracepoint_fires_on_this_threads_system_calls() {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let magic = 0x0c0c_0001;
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, magic);
    let prog = load("test_raw_tp", ProgramType::RawTracepoint, &insns);
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    let link = prog.attach_raw_tracepoint("sys_enter").unwrap();
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::RawTracepoint,
            via: Via::RawTracepointOpen
        }
    );
    assert_eq!(link.target(), "raw tracepoint sys_enter");
    let samples = fire_until_sample(&mut reader, || {
        // SAFETY: getppid has no preconditions; it is here only to make a system call.
        unsafe { libc::getppid() };
    });
    assert!(!samples.is_empty(), "sys_enter did not fire");
    for data in &samples {
        assert_payload(data, pid_tgid, magic);
    }
    let error = prog.attach_raw_tracepoint("no_such_raw_tp").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("attaching to raw tracepoint no_such_raw_tp"),
        "{error}"
    );
}

#[test]
fn a_perf_event_program_runs_on_this_threads_cpu_clock_samples() {
    use ebpf_loader::attach::{PerfEventSpec, SampleRate};
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let magic = 0x0d0d_0001;
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, magic);
    let prog = load("test_perf_ev", ProgramType::PerfEvent, &insns);
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    // PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK, 1000 samples a second of this thread
    // (perf_event_open's pid is a thread id: the test runs in a thread of its own).
    let event = PerfEventSpec {
        perf_type: 1,
        config: 0,
        rate: SampleRate::Frequency(1000),
    };
    let tid = nix::unistd::gettid().as_raw() as u32;
    let link = prog
        .attach_perf_event(&event, Some(tid), None, &AttachOptions::default())
        .unwrap();
    assert_eq!(link.method().probe, Probe::PerfEvent);
    let samples = fire_until_sample(&mut reader, || {
        // Keep this thread on a CPU for 20 ms, so the clock samples it.
        let until = std::time::Instant::now() + Duration::from_millis(20);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    });
    assert!(!samples.is_empty(), "no sample of this thread");
    for data in &samples {
        assert_payload(data, pid_tgid, magic);
    }
}
