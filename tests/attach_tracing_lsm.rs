//! A BPF LSM program and an fmod_ret program, each denying the test's own mkdir(2) with
//! EPERM while attached (root): tests/fixtures/lsm.bpf.c. Both attach through a BPF
//! trampoline (`BPF_RAW_TRACEPOINT_OPEN`, 5.7); the LSM one runs only where "bpf" is an
//! active LSM (the VM matrix boots its kernels with `lsm=...,bpf`: tests/vm/run). Where the
//! kernel cannot run one of them (this project's host has no BPF trampolines), the test
//! says why and checks that the kernel refused it, not anything else.

mod harness;

use std::io::ErrorKind;
use std::path::PathBuf;

use ebpf_loader::attach::{self, AttachError, AttachOptions, Probe};
use ebpf_loader::features::lsm::bpf_lsm_active;
use ebpf_loader::features::probe_fentry;
use ebpf_loader::load::{LoadError, Object};
use harness::kernel::{global_u64, load_fixture};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/lsm.bpf.o");

/// Loads `program` to deny mkdir to this thread only (the other tests run beside it).
fn load(program: &str) -> Result<Object, LoadError> {
    load_fixture(
        OBJECT,
        ("target_tid", nix::unistd::gettid().as_raw() as u32),
        program,
    )
}

fn counter(object: &Object, name: &str) -> u64 {
    global_u64(object, name)
}

/// A directory path of this test's own, not there yet.
fn fresh_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ebpf_loader_{what}_{}_{}",
        std::process::id(),
        nix::unistd::gettid()
    ));
    let _ = std::fs::remove_dir(&dir);
    dir
}

/// Is this the kernel refusing a program it cannot attach through a trampoline (EPERM,
/// EOPNOTSUPP, ENOTSUPP 524, EINVAL from the trampoline's text poke), at load or attach?
fn refused_by_kernel(errno: i32) -> bool {
    matches!(errno, libc::EPERM | libc::EOPNOTSUPP | 524 | libc::EINVAL)
}

/// Attaches `program`, checks that this thread's mkdir fails with EPERM and is counted in
/// `counted` once, then that it succeeds once the link is dropped.
fn denies_mkdir_until_detached(program: &str, counted: &str) {
    let object = load(program).unwrap_or_else(|e| panic!("{e}"));
    let link = attach::by_section(object.program(program).unwrap(), &AttachOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.method().probe, Probe::BtfTarget);
    let dir = fresh_dir(program);
    let denied = std::fs::create_dir(&dir).unwrap_err();
    assert_eq!(denied.raw_os_error(), Some(libc::EPERM), "{denied}");
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
    assert!(
        !dir.exists(),
        "{} was made despite the denial",
        dir.display()
    );
    assert_eq!(counter(&object, counted), 1);
    link.detach().unwrap();
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir once detached: {e}"));
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(
        counter(&object, counted),
        1,
        "the program ran once detached"
    );
}

/// Where the kernel cannot run `program`: it refused it at load or at attach.
fn refused(program: &str) {
    match load(program) {
        Err(LoadError::Program(error)) => {
            eprintln!("{program}: refused at load: {error}");
            assert!(refused_by_kernel(error.error.errno), "{error}")
        }
        // EPERM to root: explained by the probes, not blamed on privilege.
        Err(error @ LoadError::Refused { .. }) => {
            eprintln!("{program}: refused at load: {error}");
            let text = error.to_string();
            assert!(!text.contains("needs root"), "{text}");
            assert!(text.contains("makes no BPF trampoline"), "{text}");
        }
        Err(error) => panic!("{error}"),
        Ok(object) => {
            let error =
                attach::by_section(object.program(program).unwrap(), &AttachOptions::default())
                    .map(|link| link.to_string())
                    .expect_err("attached where the kernel has no BPF trampoline");
            eprintln!("{program}: refused at attach: {error}");
            assert!(
                matches!(&error, AttachError::Sys { error, .. } if refused_by_kernel(error.errno)),
                "{error}"
            );
        }
    }
}

#[test]
fn an_lsm_program_denies_this_threads_mkdir_until_detached() {
    // A kernel booted with "bpf" in lsm= (the VM matrix's) must have it active.
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let asked = cmdline.split_whitespace().any(|arg| {
        arg.strip_prefix("lsm=")
            .is_some_and(|list| list.split(',').any(|name| name == "bpf"))
    });
    match bpf_lsm_active() {
        Ok(true) => {}
        Ok(false) => {
            assert!(
                !asked,
                "booted with {cmdline:?}, yet \"bpf\" is not an active LSM"
            );
            eprintln!("\"bpf\" is not an active LSM here (boot with lsm=...,bpf): not run");
            return;
        }
        Err(error) => {
            assert!(!asked, "booted with {cmdline:?}: {error}");
            eprintln!("{error}: not run");
            return;
        }
    }
    if !probe_fentry("security_inode_mkdir") {
        eprintln!("this kernel has no BPF trampolines: the LSM program is not attached");
        refused("lsm_deny_mkdir");
        return;
    }
    denies_mkdir_until_detached("lsm_deny_mkdir", "lsm_denials");
}

#[test]
fn an_fmod_ret_program_denies_this_threads_mkdir_until_detached() {
    if !probe_fentry("security_inode_mkdir") {
        eprintln!("this kernel has no BPF trampolines: fmod_ret is not attached");
        refused("fmod_ret_deny_mkdir");
        return;
    }
    denies_mkdir_until_detached("fmod_ret_deny_mkdir", "fmod_ret_denials");
}
