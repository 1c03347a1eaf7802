//! Raw tracepoints on the running kernel (root): the hand-assembled program of
//! `harness::kernel` sends this thread's id and a magic number from `task_rename`, and the
//! test renames its own thread (`prctl(PR_SET_NAME)`; not `sys_enter`, which on Debian's
//! arm64 5.10 in QEMU sometimes never fires after a fresh registration: tests/vm/README.md);
//! it makes its own map, program and link and filters on its own thread id. A missing raw tracepoint is named.

mod harness;

use std::os::fd::{AsFd, AsRawFd};

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{AttachMethod, Probe, Via};
use ebpf_loader::perf::{PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

#[test]
fn a_raw_tracepoint_fires_on_this_threads_system_calls() {
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let magic = 0x0c0c_0001;
    let insns = program(map.as_fd().as_raw_fd(), pid_tgid, magic);
    let prog = load("test_raw_tp", ProgramType::RawTracepoint, &insns);
    let mut reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    let link = attach::raw_tracepoint::attach(&prog, "task_rename").unwrap();
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::RawTracepoint,
            via: Via::RawTracepointOpen
        }
    );
    assert_eq!(link.target(), "raw tracepoint task_rename");
    let samples = fire_until_sample(&mut reader, || {
        // SAFETY: the name is a NUL-terminated string that outlives the call.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"raw_tp_test".as_ptr()) };
    });
    assert!(!samples.is_empty(), "task_rename did not fire");
    for data in &samples {
        assert_payload(data, pid_tgid, magic);
    }
    let error = attach::raw_tracepoint::attach(&prog, "no_such_raw_tp").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("attaching to raw tracepoint no_such_raw_tp"),
        "{error}"
    );
}
