//! Links and programs beyond the process that made them, on the running kernel (root):
//! a child process (this test binary run again) attaches programs of
//! tests/fixtures/ops.bpf.o, pins the links, the programs and the counters' map in a bpf
//! filesystem of the test's own, and exits; the parent reopens them by path, sees the
//! raw tracepoint program still attached and counting its own thread's renames, swaps the
//! iterator link's program in place (`BPF_LINK_UPDATE`, with the old program checked),
//! then unpins and detaches until nothing is left. Links that are not BPF links, and pins
//! of the wrong kind, are refused by name.

mod harness;

use std::path::Path;
use std::process::Command;

use harness::kernel::Bpffs;

use ebpf_loader::attach::{self, AttachError, Link, Probe, Via};
use ebpf_loader::elf::{MapKind, ObjectSpec};
use ebpf_loader::load::{Map, Object, Program, ProgramError};
use ebpf_loader::uapi::ProgramType;

const OPS: &[u8] = include_bytes!("fixtures/ops.bpf.o");
const CHILD_DIR: &str = "EBPF_LOADER_PIN_CHILD_DIR";
const CHILD_TID: &str = "EBPF_LOADER_PIN_CHILD_TID";

/// The calling thread's id.
fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions (called by number: musl's libc crate may lack
    // the wrapper, and the guests' tests are built for musl).
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// ops.bpf.o, its counters watching the renames of thread `tid` (raw tracepoint
/// `task_rename`; not `sys_enter`, which on Debian's arm64 5.10 in QEMU sometimes never fires
/// after a fresh registration: tests/vm/README.md).
fn spec(tid: u32) -> ObjectSpec {
    let mut spec = ObjectSpec::parse(OPS).unwrap();
    spec.set_global("watched_tid", &tid).unwrap();
    spec
}

fn load(spec: &ObjectSpec, programs: &[&str]) -> Object {
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    Object::load(
        spec,
        &ebpf_loader::load::LoadOptions {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            kernel_btf: Some(&kernel),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// This thread renames itself `n` times: what the counters count.
fn rename(n: usize) {
    for _ in 0..n {
        // SAFETY: the name is a NUL-terminated string that outlives the call.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"attach_pin".as_ptr()) };
    }
}

/// The child's part, run by [`pinned_links_outlive_the_process_that_made_them`] as a
/// process of its own: attach, pin, exit.
#[test]
#[ignore = "the child process of pinned_links_outlive_the_process_that_made_them"]
fn child_attaches_pins_and_exits() {
    let (Ok(dir), Ok(tid)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_TID)) else {
        eprintln!("run only as a child, with {CHILD_DIR} and {CHILD_TID}");
        return;
    };
    let dir = Path::new(&dir);
    let spec = spec(tid.parse().unwrap());
    let object = load(&spec, &["count_a", "say_a"]);
    let count_a = object.program("count_a").unwrap();
    let link = attach::raw_tracepoint::attach(count_a, "task_rename").unwrap();
    link.pin(&dir.join("count_link")).unwrap();
    count_a.pin(&dir.join("count_a")).unwrap();
    let say_a = object.program("say_a").unwrap();
    let iter = attach::by_section(say_a, &Default::default()).unwrap();
    iter.pin(&dir.join("iter_link")).unwrap();
    say_a.pin(&dir.join("say_a")).unwrap();
    let bss = spec.maps.iter().find(|m| m.kind == MapKind::Bss).unwrap();
    object
        .map(&bss.name)
        .unwrap()
        .pin(&dir.join("bss"))
        .unwrap();
    // Exits with its links, programs and maps closed: only the pins hold them.
}

#[test]
fn pinned_links_outlive_the_process_that_made_them() {
    if ebpf_loader::btf::kernel::load().is_err() {
        eprintln!("skipped: no kernel BTF, which iterators need");
        return;
    }
    let fs = Bpffs::new(&format!("link_pin_{}", gettid()));
    let dir = fs.0.clone();
    let tid = gettid();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_attaches_pins_and_exits", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, &dir)
        .env(CHILD_TID, tid.to_string())
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "child: {}",
        String::from_utf8_lossy(&child.stderr)
    );

    // The raw tracepoint link, reopened: still attached to count_a, which still counts
    // this thread's renames into the pinned map.
    let link = Link::from_pin(&dir.join("count_link")).unwrap();
    assert_eq!(
        (link.method().probe, link.method().via),
        (Probe::Pinned, Via::BpfLink)
    );
    let info = link.info().unwrap();
    assert!(
        link.target().starts_with("pinned raw_tracepoint link "),
        "{}",
        link.target()
    );
    let count_a = Program::from_pin(&dir.join("count_a")).unwrap();
    assert_eq!(count_a.name(), "count_a");
    assert_eq!(count_a.program_type(), ProgramType::RawTracepoint);
    let count_a_id = count_a.info().unwrap().id;
    assert_eq!(info.prog_id, count_a_id);
    let spec = spec(tid);
    let bss_spec = spec.maps.iter().find(|m| m.kind == MapKind::Bss).unwrap();
    let bss = Map::open_pinned(&dir.join("bss"), bss_spec).unwrap();
    let a_calls = spec
        .globals()
        .unwrap()
        .into_iter()
        .find(|g| g.name == "a_calls")
        .unwrap()
        .offset;
    let count = || {
        let value = bss.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
        u64::from_ne_bytes(value[a_calls..a_calls + 8].try_into().unwrap())
    };
    let before = count();
    rename(5);
    assert_eq!(
        count(),
        before + 5,
        "the pinned program counts after its maker exited"
    );

    // A raw tracepoint link cannot take another program: the kernel says so, typed.
    let mine = load(&spec, &["count_b", "say_b"]);
    let error = link
        .update(mine.program("count_b").unwrap(), None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            AttachError::LinkOperationUnsupported {
                operation: "BPF_LINK_UPDATE",
                ..
            }
        ),
        "{error:?}"
    );

    // The iterator link, reopened, runs say_a; updated in place to say_b, checked against
    // say_a as the program it replaces, it runs say_b, for whoever opens the pin.
    let iter = Link::from_pin(&dir.join("iter_link")).unwrap();
    assert_eq!(iter.read_iter().unwrap(), b"A");
    let say_a = Program::from_pin(&dir.join("say_a")).unwrap();
    let say_a_id = say_a.info().unwrap().id;
    let say_b = mine.program("say_b").unwrap();
    iter.update(say_b, Some(&say_a)).unwrap();
    assert_eq!(iter.read_iter().unwrap(), b"B");
    let again = Link::from_pin(&dir.join("iter_link")).unwrap();
    assert_eq!(again.read_iter().unwrap(), b"B");
    assert_eq!(again.info().unwrap().prog_id, say_b.info().unwrap().id);
    // say_a is not its program any more: BPF_F_REPLACE refuses (EPERM).
    match iter.update(say_b, Some(&say_a)).unwrap_err() {
        AttachError::Sys { error, .. } => {
            assert_eq!((error.op, error.errno), ("BPF_LINK_UPDATE", libc::EPERM))
        }
        other => panic!("{other:?}"),
    }

    // Unpinned and detached: nothing is left, and nothing counts. (A bpf filesystem lets
    // go of what a removed pin held after an RCU grace period: the program's going is
    // what says the link has gone too, since the link holds its program.)
    for pin in ["count_link", "count_a", "iter_link", "say_a"] {
        std::fs::remove_file(dir.join(pin)).unwrap();
    }
    link.detach().unwrap();
    drop(count_a);
    harness::net::wait_gone(count_a_id);
    let after = count();
    rename(3);
    assert_eq!(count(), after, "detached");
    drop(say_a);
    harness::net::wait_gone(say_a_id);
    iter.detach().unwrap();
    again.detach().unwrap();
    let say_b_id = say_b.info().unwrap().id;
    drop(mine);
    harness::net::wait_gone(say_b_id);
}

#[test]
fn a_program_pinned_is_reopened_with_its_type_and_runs() {
    let fs = Bpffs::new(&format!("prog_pin_{}", gettid()));
    let object = load(&spec(0), &["rewrite"]);
    let program = object.program("rewrite").unwrap();
    let path = fs.0.join("rewrite");
    program.pin(&path).unwrap();
    let reopened = Program::from_pin(&path).unwrap();
    assert_eq!(reopened.info().unwrap().id, program.info().unwrap().id);
    assert_eq!(
        (reopened.name(), reopened.program_type()),
        ("rewrite", ProgramType::Xdp)
    );
    assert_eq!(reopened.test_run(&[0u8; 64]).unwrap(), 2, "XDP_PASS");
    // A second pin at the same path: EEXIST, with the path in the error.
    let error = program.pin(&path).unwrap_err();
    match &error {
        ProgramError::Sys { error: sys, .. } => assert_eq!(sys.errno, libc::EEXIST),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!("program rewrite, pin {}", path.display())
    );
}

#[test]
fn pins_of_another_kind_and_links_that_are_not_bpf_links_are_refused() {
    let fs = Bpffs::new(&format!("kinds_pin_{}", gettid()));
    let object = load(&spec(0), &["rewrite"]);
    let program = object.program("rewrite").unwrap();
    program.pin(&fs.0.join("prog")).unwrap();
    let map = object.maps().first().unwrap();
    map.pin(&fs.0.join("map")).unwrap();
    match Program::from_pin(&fs.0.join("map")).unwrap_err() {
        ProgramError::NotAProgram { kind, .. } => assert_eq!(kind, "map"),
        other => panic!("{other:?}"),
    }
    match Link::from_pin(&fs.0.join("prog")).unwrap_err() {
        AttachError::NotALinkPin { kind, .. } => assert_eq!(kind, "prog"),
        other => panic!("{other:?}"),
    }

    // A socket filter is attached with setsockopt: nothing in the kernel would keep it
    // attached without this process, so it cannot be pinned or updated.
    let net = harness::net::load("count_all", 9);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let link = attach::socket::attach(
        net.program("count_all").unwrap(),
        std::os::fd::AsFd::as_fd(&socket),
    )
    .unwrap();
    let error = link.pin(&fs.0.join("socket_link")).unwrap_err();
    assert!(
        matches!(
            error,
            AttachError::NotABpfLink {
                operation: "pin",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot pin {}: attached by socket + SO_ATTACH_BPF, not a BPF link; only a BPF \
             link can be pinned or updated",
            link.target()
        )
    );
    assert!(!fs.0.join("socket_link").exists());
    assert!(matches!(
        link.update(net.program("count_all").unwrap(), None),
        Err(AttachError::NotABpfLink {
            operation: "update",
            ..
        })
    ));
}
