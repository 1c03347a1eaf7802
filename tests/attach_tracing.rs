//! fentry, fexit and ksyscall, attached by section name and made to fire by the test's own
//! `unlinkat` calls (root). They need a kernel with BPF trampolines (a function tracer) and
//! kprobes: the VM matrix's Debian kernels. Where the kernel lacks them (this project's
//! host), each test says so and checks that loading or attaching is refused with the
//! kernel's answer, not anything else.

mod harness;

use std::time::{Duration, Instant};

use ebpf_loader::attach;
use ebpf_loader::attach::{kprobes_available, AttachError, AttachOptions, Probe};
use ebpf_loader::features::probe_fentry;
use ebpf_loader::features::refusal::Refusal;
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

/// Unlinks a file that does not exist (`unlinkat(2)`, served by `do_unlinkat`) until `name`
/// counts a call (bounded). `unlinkat`, not `unlink`: arm64 has only the former (the
/// generic system call table), and Rust's `remove_file` takes whichever the C library does.
fn unlink_until_counted(object: &Object, name: &str) {
    let path = std::env::temp_dir().join(format!("ebpf_loader_no_such_{}", std::process::id()));
    let path = std::ffi::CString::new(path.into_os_string().into_encoded_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(object, name) == 0 {
        assert!(
            Instant::now() < deadline,
            "{name} never counted an unlinkat"
        );
        // SAFETY: a NUL-terminated path that outlives the call; the file does not exist.
        unsafe { libc::unlinkat(libc::AT_FDCWD, path.as_ptr(), 0) };
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A refusal at load explained by the probes: no trampoline, not privilege.
fn assert_no_trampoline(error: &LoadError) {
    let LoadError::Refused { refusal, .. } = error else {
        panic!("{error}");
    };
    assert!(
        matches!(
            refusal,
            Refusal::NoTrampoline {
                kind: "fentry" | "fexit",
                ..
            }
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(!text.contains("needs root"), "{text}");
    assert!(
        text.contains("not for lack of privilege") && text.contains("makes no BPF trampoline"),
        "{text}"
    );
}

fn trampoline(program: &str, counted: &str) {
    if !probe_fentry("do_unlinkat") {
        eprintln!(
            "this kernel cannot attach fentry programs (no BPF trampoline): {program} not run"
        );
        // Refused at load (no function tracer: EPERM), or loaded and refused at attach
        // (arm64 before 6.4: a trampoline, but no ftrace direct calls to reach it, 524).
        let refused = |errno: i32| matches!(errno, libc::EPERM | libc::ENOTSUP | 524);
        match load(program) {
            Err(LoadError::Program(error)) => assert!(refused(error.error.errno), "{error}"),
            // EPERM to root: the message says why, and does not blame privilege.
            Err(error @ LoadError::Refused { .. }) => assert_no_trampoline(&error),
            Err(error) => panic!("{error}"),
            Ok(object) => {
                let error =
                    attach::by_section(object.program(program).unwrap(), &AttachOptions::default())
                        .map(|link| link.to_string())
                        .expect_err("attached where the fentry probe says it cannot");
                assert!(
                    matches!(&error, AttachError::Sys { error, .. } if refused(error.errno)),
                    "{error}"
                );
            }
        }
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
    // The wrapper with the probed prefix: __x64_sys_unlinkat, __arm64_sys_unlinkat on every
    // kernel of the matrix (syscall wrappers since 4.17 and 4.19).
    let prefix = ebpf_loader::features::syscall_wrapper().expect("a kernel with wrappers");
    assert_eq!(prefix, ebpf_loader::arch::TARGET.syscall_prefix);
    assert!(
        link.target().contains(&format!("__{prefix}_sys_unlinkat")),
        "{link}"
    );
    unlink_until_counted(&object, "syscalls");
}
