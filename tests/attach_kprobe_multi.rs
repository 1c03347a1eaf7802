//! Multi-kprobes (5.18, `CONFIG_FPROBE`): the programs of `tests/fixtures/multi.bpf.c`
//! count their runs per BPF cookie in the test's own thread. The test resolves a glob of
//! kernel functions (`vfs_*`) as libbpf does, gives every function its own cookie, attaches
//! one link over all of them, then makes `write(2)` and `read(2)` calls of its own and
//! checks the counts of `vfs_write` and `vfs_read` exactly (a `kprobe.session` program's
//! entries and returns apart, 6.10; and once attached by the two functions' addresses). This project's host has no kprobes, so the firing
//! tests are `#[ignore]`d here and run in the 6.1 and 6.12 guests (`tests/vm/run` passes
//! `--include-ignored`); where the kernel lacks multi-kprobes (or sessions) they say so and
//! return. The refusal tests run everywhere. Every test name has `multi` in it.

mod harness;

use std::io::{Read, Write};

use ebpf_loader::attach::kprobe_multi::{self, KprobeMultiOptions};
use ebpf_loader::attach::{AttachError, AttachMethod, Probe, Via};
use ebpf_loader::load::{program_info_by_id, HashMap, Object};
use harness::kernel::load_fixture;

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/multi.bpf.o");

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

/// Three `write(2)`s to /dev/null and five `read(2)`s of /dev/zero by this thread (each
/// one `vfs_write` or `vfs_read`); /dev/null stays open for one more write.
fn write_3_read_5() -> std::fs::File {
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut zero = std::fs::File::open("/dev/zero").unwrap();
    let mut buf = [0u8; 8];
    for _ in 0..3 {
        null.write_all(b"x").unwrap();
    }
    for _ in 0..5 {
        zero.read_exact(&mut buf).unwrap();
    }
    null
}

/// Where a program of the fixture runs, which says how it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// `kprobe.multi`: at the entries, under each function's cookie.
    Entries,
    /// `kretprobe.multi`: at the returns, under each function's cookie.
    Returns,
    /// `kprobe.session`: at both, under 2 * cookie (entry) and 2 * cookie + 1 (return).
    Both,
}

fn per_function_cookies(program: &str, runs: Runs) {
    let (available, needs) = if runs == Runs::Both {
        (
            kprobe_multi::session_available(),
            "BPF_TRACE_KPROBE_SESSION links (6.10, CONFIG_FPROBE)",
        )
    } else {
        (
            kprobe_multi::available(),
            "BPF_TRACE_KPROBE_MULTI links (5.18, CONFIG_FPROBE)",
        )
    };
    if !available {
        eprintln!("this kernel has no {needs}: {program} not run");
        return;
    }
    let names = kprobe_multi::resolve_glob("vfs_*").unwrap();
    let cookie_of = |function: &str| {
        let index = names
            .iter()
            .position(|name| name == function)
            .unwrap_or_else(|| panic!("{function} is not among the vfs_* functions: {names:?}"));
        index as u64 + 1
    };
    let (write_cookie, read_cookie) = (cookie_of("vfs_write"), cookie_of("vfs_read"));
    // Cookie i + 1 for the i-th function of the sorted list.
    let functions: Vec<(&str, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i as u64 + 1))
        .collect();
    let object = load(program);
    let options = KprobeMultiOptions {
        retprobe: runs == Runs::Returns,
    };
    let link = kprobe_multi::attach(
        object.program(program).unwrap(),
        &functions,
        "vfs_*",
        &options,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::KprobeMulti,
            via: Via::BpfLink
        }
    );
    let kind = match runs {
        Runs::Entries => "kprobe.multi",
        Runs::Returns => "kretprobe.multi",
        Runs::Both => "kprobe.session",
    };
    assert_eq!(
        link.target(),
        format!("{kind} vfs_* ({} functions)", names.len())
    );
    let mut null = write_3_read_5();
    // The probes run synchronously in this thread: the counts are final.
    let write_key = if runs == Runs::Both {
        let counts = [
            count(&object, 2 * write_cookie),
            count(&object, 2 * write_cookie + 1),
            count(&object, 2 * read_cookie),
            count(&object, 2 * read_cookie + 1),
        ];
        assert_eq!(
            counts,
            [3, 3, 5, 5],
            "entries and returns of vfs_write, vfs_read"
        );
        2 * write_cookie
    } else {
        assert_eq!(
            [count(&object, write_cookie), count(&object, read_cookie)],
            [3, 5]
        );
        write_cookie
    };
    drop(link);
    null.write_all(b"x").unwrap();
    assert_eq!(
        count(&object, write_key),
        3,
        "fired after the link was dropped"
    );
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kprobe_multi_counts_each_function_of_a_glob_by_its_cookie() {
    per_function_cookies("on_kprobe", Runs::Entries);
}

#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kprobe_multi_return_counts_each_return_by_its_cookie() {
    per_function_cookies("on_kretprobe", Runs::Returns);
}

/// `kprobe.session` (6.10): one program, one link, run at each entry and at each return
/// (its entry run returns 0), told apart by `bpf_session_is_return()`.
#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kprobe_multi_session_counts_each_entry_and_return_by_its_cookie() {
    per_function_cookies("on_session", Runs::Both);
}

/// By address (`kprobe_multi.addrs`, libbpf's `opts.addrs`): `vfs_write` and `vfs_read` as
/// `/proc/kallsyms` gives them, cookies 1 and 2.
#[test]
#[ignore = "needs a kernel with kprobes: tests/vm/run"]
fn kprobe_multi_by_address_counts_each_function_by_its_cookie() {
    if !kprobe_multi::available() {
        eprintln!("this kernel has no BPF_TRACE_KPROBE_MULTI links (5.18, CONFIG_FPROBE): not run");
        return;
    }
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let address_of = |function: &str| {
        kallsyms
            .lines()
            .find_map(|line| {
                let mut fields = line.split_whitespace();
                let (address, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
                let global_text = kind == "T" && name == function && fields.next().is_none();
                global_text.then(|| u64::from_str_radix(address, 16).unwrap())
            })
            .unwrap_or_else(|| panic!("no {function} in /proc/kallsyms"))
    };
    let places = [(address_of("vfs_write"), 1), (address_of("vfs_read"), 2)];
    assert!(
        places.iter().all(|&(address, _)| address != 0),
        "kallsyms hides addresses"
    );
    let object = load("on_kprobe");
    let link = kprobe_multi::attach_addresses(
        object.program("on_kprobe").unwrap(),
        &places,
        "vfs_write,vfs_read",
        &KprobeMultiOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link.target(),
        "kprobe.multi vfs_write,vfs_read (2 addresses)"
    );
    let _null = write_3_read_5();
    assert_eq!([count(&object, 1), count(&object, 2)], [3, 5]);
}

#[test]
fn kprobe_multi_refusals_are_typed_and_leave_nothing() {
    let program = "on_kprobe";
    if !ebpf_loader::features::probe_bpf_cookie() {
        // 5.10: the fixture reads its cookie (bpf_get_attach_cookie, 5.15) and cannot
        // load; the kind's refusal is checked on the host and in the 6.1 guest.
        eprintln!(
            "skipped: this kernel has no bpf_get_attach_cookie (5.15), which the fixture calls"
        );
        return;
    }
    let object = load(program);
    let id = object.program(program).unwrap().info().unwrap().id;
    let error = kprobe_multi::attach_glob(
        object.program(program).unwrap(),
        "ebpf_loader_no_such_kernel_function_*",
        &KprobeMultiOptions::default(),
    )
    .map(|link| link.to_string())
    .unwrap_err();
    if kprobe_multi::available() {
        // A glob that matches nothing.
        assert!(matches!(error, AttachError::NoMatch { .. }), "{error}");
        assert_eq!(
            error.to_string(),
            "no match for \"ebpf_loader_no_such_kernel_function_*\" in the kernel functions \
             ftrace can attach to (available_filter_functions)"
        );
    } else {
        // A kernel without multi-kprobes (this host: no kprobes; 5.10).
        eprintln!("this kernel has no multi-kprobes: checking the refusal of the kind");
        assert_eq!(
            error.to_string(),
            "this kernel cannot attach kprobe.multi programs: it has no BPF_TRACE_KPROBE_MULTI \
             links (Linux 5.18, CONFIG_FPROBE)"
        );
    }
    drop(object);
    assert_eq!(
        program_info_by_id(id).unwrap(),
        None,
        "a link still holds {program}"
    );
}
