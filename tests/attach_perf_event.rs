//! Sampling perf events on the running kernel (root): a `BPF_PROG_TYPE_PERF_EVENT` program,
//! the hand-assembled one of `harness::kernel`, runs on this thread's CPU-clock samples and
//! sends this thread's id and a magic number; the test makes its own map, program and link.

mod harness;

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{AttachOptions, Probe};
use ebpf_loader::perf::{PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

#[test]
fn a_perf_event_program_runs_on_this_threads_cpu_clock_samples() {
    use attach::{PerfEventSpec, SampleRate};
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
    let link =
        attach::perf_event::attach(&prog, &event, Some(tid), None, &AttachOptions::default())
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
