//! Uprobes on the running kernel (root; this host has them): the hand-assembled program of
//! `harness::kernel` sends this thread's id and a magic number, and the test makes the
//! event happen itself: it calls a function of its own binary (uprobe, uretprobe). Each
//! test makes its own map, program and link and filters on its own thread id.

mod harness;

use std::os::fd::{AsFd, AsRawFd};

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{AttachError, AttachMethod, AttachOptions, Probe, Via};
use ebpf_loader::elf::target::function_offset;
use ebpf_loader::load::program_info_by_id;
use ebpf_loader::perf::{PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

/// The function the uprobe tests probe: a symbol of this test binary.
#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3)
}

fn uprobe_round_trip(retprobe: bool, pid: Option<u32>, magic: u64) {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, magic);
    let prog = load("test_uprobe", ProgramType::Kprobe, &insns);
    let id = prog.info().unwrap().id;
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let link = attach::uprobe::attach(
        &prog,
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
    let link = attach::uprobe::attach(
        &prog,
        &exe,
        None,
        offset,
        false,
        None,
        &AttachOptions::default(),
    )
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
    let error = attach::uprobe::attach(
        &prog,
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
