//! `Program::test_run_with` on the running kernel (root): an XDP program of
//! tests/fixtures/ops.bpf.o run on the test's own packet, its packet out changed as the
//! program changes it, its context out moved, its repeat count seen in its own counter,
//! its duration measured; the refusals (too little room for the packet out, a CPU asked
//! of a type that cannot take one) typed with the kernel's errno. Each test loads its own
//! object.

mod harness;

use ebpf_loader::load::{Object, ProgramError, TestRun};

const OPS: &[u8] = include_bytes!("fixtures/ops.bpf.o");
const XDP_PASS: u32 = 2;

fn rewrite() -> Object {
    harness::kernel::load_fixture(OPS, ("watched_tid", 0), "rewrite")
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A packet of `len` bytes: 0, 1, 2, ...
fn packet(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

#[test]
fn an_xdp_run_changes_the_packet_out_and_repeats_as_asked() {
    let object = rewrite();
    let program = object.program("rewrite").unwrap();
    let data = packet(64);
    let run = program
        .test_run_with(&TestRun {
            data: &data,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(run.retval, XDP_PASS);
    // The first 4 bytes gone (bpf_xdp_adjust_head), the new first byte's bits flipped.
    let mut expected = data[4..].to_vec();
    expected[0] ^= 0xff;
    assert_eq!(run.data, expected);
    assert!(run.duration.as_nanos() > 0, "{:?}", run.duration);
    assert_eq!(object.global::<u64>("xdp_runs").unwrap(), 1);
    // Five runs in one call: the program's own counter says five more, and the time is
    // their mean. (The kernel runs the repeats on one buffer, so each cuts 4 more bytes:
    // the packet out is what the last run left.)
    let run = program
        .test_run_with(&TestRun {
            data: &data,
            repeat: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(run.retval, XDP_PASS);
    assert!(run.duration.as_nanos() > 0, "{:?}", run.duration);
    assert_eq!(object.global::<u64>("xdp_runs").unwrap(), 6);
    // The old call still runs it once and gives the return value.
    assert_eq!(program.test_run(&data).unwrap(), XDP_PASS);
    assert_eq!(object.global::<u64>("xdp_runs").unwrap(), 7);
}

#[test]
fn an_xdp_context_goes_in_and_comes_out_moved() {
    let object = rewrite();
    let program = object.program("rewrite").unwrap();
    let data = packet(64);
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
    // egress_ifindex; data_end must be the packet's length.
    let context: Vec<u8> = [0u32, 64, 0, 0, 0, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let run = program.test_run_with(&TestRun {
        data: &data,
        context: &context,
        ..Default::default()
    });
    let run = match run {
        Ok(run) => run,
        Err(ProgramError::Sys { error, .. }) if error.errno == libc::EINVAL => {
            // Before 5.12 an XDP test run takes no context: the same run without one works.
            program
                .test_run_with(&TestRun {
                    data: &data,
                    ..Default::default()
                })
                .unwrap();
            eprintln!("skipped: this kernel takes no xdp_md context in a test run (5.12)");
            return;
        }
        Err(other) => panic!("{other}"),
    };
    assert_eq!(run.retval, XDP_PASS);
    let word = |i: usize| u32::from_ne_bytes(run.context[i * 4..i * 4 + 4].try_into().unwrap());
    assert_eq!(run.context.len(), 24);
    // The program moved the start 4 bytes on: 60 bytes between data and data_end.
    assert_eq!(word(1) - word(0), 60);
    assert_eq!(run.data.len(), 60);
}

#[test]
fn refusals_of_a_test_run_carry_the_kernels_errno() {
    let object = rewrite();
    let program = object.program("rewrite").unwrap();
    let data = packet(64);
    // Room for 10 bytes of a 60-byte packet out: ENOSPC.
    let error = program
        .test_run_with(&TestRun {
            data: &data,
            data_out_size: Some(10),
            ..Default::default()
        })
        .unwrap_err();
    match &error {
        ProgramError::Sys { program, error, .. } => {
            assert_eq!(program, "rewrite");
            assert_eq!((error.op, error.errno), ("BPF_PROG_TEST_RUN", libc::ENOSPC));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::error::Error::source(&error).map(|s| s.to_string().starts_with("BPF_PROG_TEST_RUN")),
        Some(true)
    );
}

#[test]
fn a_raw_tracepoint_runs_on_the_cpu_asked_with_the_arguments_given() {
    let object = harness::kernel::load_fixture(OPS, ("watched_tid", 0), "which_cpu")
        .unwrap_or_else(|e| panic!("{e}"));
    let program = object.program("which_cpu").unwrap();
    // sys_enter's two arguments (regs, id); the program reads the first.
    let args: Vec<u8> = [0x1234_5678_9abc_def0u64, 39]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let cpu = *ebpf_loader::perf::online_cpus()
        .unwrap()
        .iter()
        .max()
        .unwrap();
    let run = program.test_run_with(&TestRun {
        context: &args,
        // A raw tracepoint gives no context back: asking for one is EINVAL.
        context_out_size: Some(0),
        cpu: Some(cpu),
        ..Default::default()
    });
    match run {
        Ok(run) => assert_eq!(run.retval, 0),
        Err(ProgramError::Sys { error, .. }) if error.errno == libc::EINVAL => {
            // Before 5.10 a raw tracepoint takes neither a test run nor a CPU.
            eprintln!("skipped: no test run of raw tracepoints on a CPU before 5.10: {error}");
            return;
        }
        Err(other) => panic!("{other}"),
    }
    assert_eq!(object.global::<u32>("ran_on_cpu").unwrap(), cpu);
    assert_eq!(
        object.global::<u64>("first_arg").unwrap(),
        0x1234_5678_9abc_def0
    );
}
