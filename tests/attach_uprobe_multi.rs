//! Multi-uprobes on the running kernel (root; 6.6+, this host has them): the programs of
//! `tests/fixtures/multi.bpf.c` count their runs per BPF cookie in the test's own thread;
//! the test attaches one link over several functions of this test binary, each place with
//! its own cookie, calls each function a different number of times, and checks every
//! count. Where the kernel has no multi-uprobes (the 5.10 and 6.1 guests) the tests say so
//! and check the refusal: a typed error, no link left. Every test name has `multi` in it
//! (`VM_LIB_TEST_ARGS=multi tests/vm/run`).

mod harness;

use ebpf_loader::attach::uprobe_multi::{self, UprobeMultiOptions};
use ebpf_loader::attach::{AttachError, AttachMethod, AttachOptions, Probe, Via};
use ebpf_loader::load::{program_info_by_id, HashMap, Object};
use harness::kernel::load_fixture;

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/multi.bpf.o");

// The functions probed: symbols of this test binary, each called a known number of times.
#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_multi_one(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(1)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_multi_two(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(2)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_multi_three(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(3)
}

// Probed by the glob test only (`ebpf_loader_glob_multi_*`): no other test calls them.
#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_glob_multi_a(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(5)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn ebpf_loader_glob_multi_b(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(7)
}

fn this_tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

fn load(program: &str) -> Object {
    load_fixture(OBJECT, ("target_tid", this_tid()), program).unwrap_or_else(|e| panic!("{e}"))
}

/// The count of cookie `cookie` in the object's `counts` map (0: never ran).
fn count(object: &Object, cookie: u64) -> u64 {
    let counts: HashMap<u64, u64> = HashMap::new(object.map("counts").unwrap()).unwrap();
    counts.lookup(&cookie).unwrap().unwrap_or(0)
}

/// Drops `object` and checks that its program is gone from the kernel: a link left
/// behind would hold it.
fn assert_nothing_left(object: Object, program: &str) {
    let id = object.program(program).unwrap().info().unwrap().id;
    drop(object);
    assert_eq!(
        program_info_by_id(id).unwrap(),
        None,
        "a link still holds {program}"
    );
}

/// Where the kernel has no multi-uprobes: says so, and checks the refusal.
fn skipped_without_multi_uprobes(program: &str) -> bool {
    if uprobe_multi::available() {
        return false;
    }
    eprintln!("this kernel has no BPF_TRACE_UPROBE_MULTI links (6.6): {program} not run");
    true
}

fn per_place_cookies(program: &str, retprobe: bool) {
    if skipped_without_multi_uprobes(program) {
        return;
    }
    let object = load(program);
    let exe = std::env::current_exe().unwrap();
    let link = uprobe_multi::attach_symbols(
        object.program(program).unwrap(),
        &exe,
        &[
            ("ebpf_loader_multi_one", 101),
            ("ebpf_loader_multi_two", 102),
            ("ebpf_loader_multi_three", 103),
        ],
        &UprobeMultiOptions {
            retprobe,
            pid: Some(std::process::id()),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::UprobeMulti,
            via: Via::BpfLink
        }
    );
    let kind = if retprobe {
        "uretprobe.multi"
    } else {
        "uprobe.multi"
    };
    assert_eq!(
        link.target(),
        format!(
            "{kind} {}:ebpf_loader_multi_one,ebpf_loader_multi_two,ebpf_loader_multi_three \
             (3 places)",
            exe.display()
        )
    );
    ebpf_loader_multi_one(0);
    for i in 0..2 {
        ebpf_loader_multi_two(i);
    }
    for i in 0..3 {
        ebpf_loader_multi_three(i);
    }
    // Uprobes run synchronously in the probed thread: the counts are final.
    assert_eq!(
        [
            count(&object, 101),
            count(&object, 102),
            count(&object, 103)
        ],
        [1, 2, 3]
    );
    assert_eq!(count(&object, 0), 0, "a place fired without its cookie");
    drop(link);
    ebpf_loader_multi_one(0);
    assert_eq!(
        count(&object, 101),
        1,
        "the probe fired after the link was dropped"
    );
}

#[test]
fn uprobe_multi_counts_each_function_by_its_cookie() {
    per_place_cookies("on_uprobe", false);
}

#[test]
fn uretprobe_multi_counts_each_return_by_its_cookie() {
    per_place_cookies("on_uretprobe", true);
}

#[test]
fn uprobe_multi_glob_fires_on_every_match() {
    let program = "on_uprobe";
    if skipped_without_multi_uprobes(program) {
        return;
    }
    let object = load(program);
    let exe = std::env::current_exe().unwrap();
    // What `SEC("uprobe.multi/BINARY:ebpf_loader_glob_multi_?")` attaches: every cookie 0.
    let link = uprobe_multi::attach_glob(
        object.program(program).unwrap(),
        &exe,
        "ebpf_loader_glob_multi_?",
        &UprobeMultiOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link.target(),
        format!(
            "uprobe.multi {}:ebpf_loader_glob_multi_? (2 places)",
            exe.display()
        )
    );
    ebpf_loader_glob_multi_a(1);
    ebpf_loader_glob_multi_b(1);
    ebpf_loader_glob_multi_b(2);
    assert_eq!(count(&object, 0), 3);
}

#[test]
fn uprobe_multi_glob_matching_nothing_is_refused_and_leaves_nothing() {
    let program = "on_uprobe";
    if skipped_without_multi_uprobes(program) {
        return;
    }
    let object = load(program);
    let exe = std::env::current_exe().unwrap();
    let error = uprobe_multi::attach_glob(
        object.program(program).unwrap(),
        &exe,
        "ebpf_loader_no_such_multi_*",
        &UprobeMultiOptions::default(),
    )
    .map(|link| link.to_string())
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "no match for \"ebpf_loader_no_such_multi_*\" in the functions of {}",
            exe.display()
        )
    );
    assert!(matches!(error, AttachError::NoMatch { .. }));
    let error = uprobe_multi::attach_symbols(
        object.program(program).unwrap(),
        &exe,
        &[
            ("ebpf_loader_multi_one", 1),
            ("ebpf_loader_no_such_multi", 2),
        ],
        &UprobeMultiOptions::default(),
    )
    .map(|link| link.to_string())
    .unwrap_err();
    assert!(
        matches!(&error, AttachError::SymbolNotFound { symbol, .. } if symbol == "ebpf_loader_no_such_multi"),
        "{error}"
    );
    assert_nothing_left(object, program);
}

#[test]
fn uprobe_multi_where_the_kernel_lacks_it_is_refused_by_the_probe() {
    if uprobe_multi::available() {
        eprintln!("this kernel has multi-uprobes: the refusal is not exercised here");
        return;
    }
    // A program that loads on every kernel of the matrix: the hand-assembled one of the
    // harness (no cookie helper), as a kprobe program.
    let map = harness::kernel::perf_event_array();
    let insns = harness::kernel::program(
        std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&map)),
        0,
        1,
    );
    let prog = harness::kernel::load(
        "multi_refused",
        ebpf_loader::uapi::ProgramType::Kprobe,
        &insns,
    );
    let id = prog.info().unwrap().id;
    let error = uprobe_multi::attach_symbols(
        &prog,
        &std::env::current_exe().unwrap(),
        &[("ebpf_loader_multi_one", 1)],
        &UprobeMultiOptions::default(),
    )
    .map(|link| link.to_string())
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "this kernel cannot attach uprobe.multi programs: it has no BPF_TRACE_UPROBE_MULTI \
         links (Linux 6.6)"
    );
    drop(prog);
    assert_eq!(program_info_by_id(id).unwrap(), None);
}

#[test]
fn uprobe_multi_section_without_target_names_its_functions() {
    // `SEC("uprobe.multi")` names no binary: by_section says how to attach it.
    let program = "on_uprobe";
    if skipped_without_multi_uprobes(program) {
        return;
    }
    let object = load(program);
    let error = ebpf_loader::attach::by_section(
        object.program(program).unwrap(),
        &AttachOptions::default(),
    )
    .map(|link| link.to_string())
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "program on_uprobe: its section \"uprobe.multi\" names no target: attach it with \
         attach::uprobe_multi::attach_symbols(&program, binary, &[(function, cookie)], \
         options) or attach::uprobe_multi::attach_glob(&program, binary, pattern, options)"
    );
}
