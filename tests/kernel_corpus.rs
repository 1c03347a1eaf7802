//! Real tools' programs attached by this loader and made to fire (root): an iterator
//! (libbpf-bootstrap's `task_iter`) read back, BTF tracepoints and raw tracepoints
//! (libbpf-tools' `runqlat`) that fill their histogram as this machine schedules. The
//! objects come from `../shared/corpus`; without it the tests say so and do nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ebpf_loader::attach::{AttachOptions, Probe, Via};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};

fn corpus(path: &str) -> Option<PathBuf> {
    let path = Path::new("../shared/corpus").join(path);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("{} is not there: nothing to test", path.display());
        None
    }
}

fn load(path: &Path, programs: &[&str]) -> Object {
    let spec = ObjectSpec::parse(&std::fs::read(path).unwrap()).unwrap();
    let kernel = btf::kernel::load().unwrap();
    Object::load(
        &spec,
        &LoadOptions {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            target_btf: Some(&kernel),
            ..LoadOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_iterator_lists_this_process_among_the_tasks() {
    let Some(path) = corpus("libbpf-bootstrap/task_iter.bpf.o") else {
        return;
    };
    let object = load(&path, &["get_tasks"]);
    let link = object
        .program("get_tasks")
        .unwrap()
        .attach(&AttachOptions::default())
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
            object
                .program(name)
                .unwrap()
                .attach(&AttachOptions::default())
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
