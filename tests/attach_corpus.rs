//! Real tools' programs attached by this loader and made to fire (root): an iterator
//! (libbpf-bootstrap's `task_iter`) read back, BTF tracepoints and raw tracepoints
//! (libbpf-tools' `runqlat`) that fill their histogram as this machine schedules. The
//! objects come from `../shared/corpus`; without it the tests say so and do nothing.

mod harness;

use std::time::{Duration, Instant};

use harness::corpus::{load, object as corpus};

use ebpf_loader::attach;
use ebpf_loader::attach::{AttachOptions, Probe, Via};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};

#[test]
fn an_iterator_lists_this_process_among_the_tasks() {
    let Some(path) = corpus("libbpf-bootstrap/task_iter.bpf.o") else {
        return;
    };
    let object = load(&path, &["get_tasks"]);
    let link = attach::by_section(
        object.program("get_tasks").unwrap(),
        &AttachOptions::default(),
    )
    .unwrap();
    assert_eq!(link.method().probe, Probe::Iterator);
    assert_eq!(link.method().via, Via::BpfLink);
    // One `struct task_info { pid_t pid; pid_t tid; u32 state; char comm[16]; ... }` per
    // task (task_iter.h), written with bpf_seq_write: this process is among them.
    let out = link.read_iter().unwrap();
    let pid = std::process::id() as i32;
    let mut record = pid.to_ne_bytes().to_vec();
    record.extend_from_slice(&pid.to_ne_bytes()); // its main thread: tid == pid
    assert!(
        out.windows(8).any(|w| w == record.as_slice()),
        "pid {pid} not among the {} bytes of tasks",
        out.len()
    );
    // Each read runs the program again.
    assert!(!link.read_iter().unwrap().is_empty());
}

/// Attaches runqlat's three programs of one kind and waits until its histogram map has
/// an entry (this machine schedules all the time; bounded).
fn runqlat_fills_its_histogram(programs: [&str; 3], probe: Probe) {
    let Some(path) = corpus("libbpf-tools/runqlat.bpf.o") else {
        return;
    };
    let object = load(&path, &programs);
    let links: Vec<_> = programs
        .iter()
        .map(|name| {
            attach::by_section(object.program(name).unwrap(), &AttachOptions::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect();
    for link in &links {
        assert_eq!(link.method().probe, probe, "{link}");
    }
    let hists = object.map("hists").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while hists.keys().next().is_none() {
        assert!(Instant::now() < deadline, "no run queue latency recorded");
        // Sleeping makes this thread wake up, and so go through the run queue.
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn btf_tracepoints_of_a_real_tool_fire() {
    runqlat_fills_its_histogram(
        ["sched_wakeup", "sched_wakeup_new", "sched_switch"],
        Probe::BtfTarget,
    );
}

#[test]
fn raw_tracepoints_of_a_real_tool_fire() {
    runqlat_fills_its_histogram(
        [
            "handle_sched_wakeup",
            "handle_sched_wakeup_new",
            "handle_sched_switch",
        ],
        Probe::RawTracepoint,
    );
}

/// libbpf-tools' opensnoop, configured as its own user space does for `opensnoop -p PID`
/// (`.rodata` `targ_tgid`), reports this process opening a file of the test's own naming.
#[test]
fn opensnoop_reports_this_processs_open_with_its_filter_set() {
    use ebpf_loader::records::{Record, RecordReader};
    let Some(path) = corpus("libbpf-tools/opensnoop.bpf.o") else {
        return;
    };
    let pid = std::process::id();
    let mut spec = ObjectSpec::parse(&std::fs::read(&path).unwrap()).unwrap();
    spec.set_global("targ_tgid", &(pid as i32)).unwrap();
    let kernel = btf::kernel::load().unwrap();
    let programs = [
        "tracepoint__syscalls__sys_enter_openat",
        "tracepoint__syscalls__sys_exit_openat",
    ];
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            kernel_btf: Some(&kernel),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let _links: Vec<_> = programs
        .iter()
        .map(|name| {
            attach::by_section(object.program(name).unwrap(), &AttachOptions::default()).unwrap()
        })
        .collect();
    // A ring buffer where the kernel has them (libbpf-tools' `bpf_buffer`), else a perf
    // event array: read the same way.
    let mut reader = RecordReader::open(object.map("events").unwrap()).unwrap();
    let name = format!("ebpf_loader_opensnoop_{pid}");
    let target = std::env::temp_dir().join(&name);
    let deadline = Instant::now() + Duration::from_secs(10);
    // Every record is this process's (the filter is in the kernel); the other test threads
    // of this process may open files too, so the test's own is looked for by its name.
    let mut ours: Vec<Vec<u8>> = Vec::new();
    let has_name = |event: &[u8]| event.windows(name.len()).any(|w| w == name.as_bytes());
    while !ours.iter().any(|event| has_name(event)) {
        assert!(Instant::now() < deadline, "no event for the open of {name}");
        // Does not exist: the open fails, and opensnoop (without -x) reports it all the same.
        let _ = std::fs::File::open(&target);
        reader
            .poll(Some(Duration::from_millis(100)), |event| {
                if let Record::Sample(data) = event {
                    // struct event (opensnoop.h): u64 ts; pid_t pid at byte 8; ...
                    assert_eq!(
                        data.get(8..12),
                        Some(&(pid as i32).to_ne_bytes()[..]),
                        "a record of another process came through the filter"
                    );
                    ours.push(data.to_vec());
                }
            })
            .unwrap();
    }
    let event = ours.iter().find(|event| has_name(event)).unwrap();
    // ret (byte 16) is -ENOENT: the file does not exist.
    assert_eq!(event.get(16..20), Some(&(-libc::ENOENT).to_ne_bytes()[..]));
}
