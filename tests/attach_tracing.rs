//! fentry, fexit and ksyscall, attached by section name and made to fire by the test's own
//! `unlink` calls (root). They need a kernel with BPF trampolines (a function tracer) and
//! kprobes: the VM matrix's Debian kernels. Where the kernel lacks them (this project's
//! host), each test says so and checks that loading or attaching is refused with the
//! kernel's answer, not anything else.

mod harness;

use std::time::{Duration, Instant};

use ebpf_loader::attach;
use ebpf_loader::attach::{kprobes_available, AttachOptions, Probe};
use ebpf_loader::features::probe_fentry;
use ebpf_loader::load::{LoadError, Object};
use harness::kernel::{global_u64, load_fixture};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/trampoline.bpf.o");

fn load(program: &str) -> Result<Object, LoadError> {
    load_fixture(OBJECT, ("target_tgid", std::process::id()), program)
}

fn counter(object: &Object, name: &str) -> u64 {
    global_u64(object, name)
}

/// Unlinks a file that does not exist (`unlink(2)`, served by `do_unlinkat`) until `name`
/// counts a call (bounded).
fn unlink_until_counted(object: &Object, name: &str) {
    let path = std::env::temp_dir().join(format!("ebpf_loader_no_such_{}", std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(object, name) == 0 {
        assert!(
            Instant::now() < deadline,
            "{name} never counted an unlinkat"
        );
        let _ = std::fs::remove_file(&path);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn trampoline(program: &str, counted: &str) {
    if !probe_fentry("do_unlinkat") {
        eprintln!(
            "this kernel cannot attach fentry programs (no BPF trampoline): {program} not run"
        );
        let Err(error) = load(program) else {
            panic!("{program} loaded where the fentry probe says it cannot")
        };
        assert!(
            matches!(&error, LoadError::Program(refused) if refused.error.errno == libc::EPERM
                || refused.error.errno == libc::ENOTSUP || refused.error.errno == 524),
            "{error}"
        );
        return;
    }
    let object = load(program).unwrap_or_else(|e| panic!("{e}"));
    let link =
        attach::by_section(object.program(program).unwrap(), &AttachOptions::default()).unwrap();
    assert_eq!(link.method().probe, Probe::BtfTarget);
    unlink_until_counted(&object, counted);
}

#[test]
fn fentry_counts_this_processs_unlinkat() {
    trampoline("on_entry", "entries");
}

#[test]
fn fexit_counts_this_processs_unlinkat() {
    trampoline("on_exit", "exits");
}

#[test]
fn ksyscall_attaches_to_the_syscalls_wrapper() {
    let object = load("on_syscall").unwrap_or_else(|e| panic!("{e}"));
    let program = object.program("on_syscall").unwrap();
    if !kprobes_available() {
        eprintln!("this kernel has no kprobes: ksyscall not run");
        assert!(attach::by_section(program, &AttachOptions::default()).is_err());
        return;
    }
    let link = attach::by_section(program, &AttachOptions::default()).unwrap();
    // __x64_sys_unlink on every kernel of the matrix (syscall wrappers since 4.17).
    assert!(link.target().contains("sys_unlink"), "{link}");
    unlink_until_counted(&object, "syscalls");
}
