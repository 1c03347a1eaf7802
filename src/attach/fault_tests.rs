//! Fault injection: a whole load and attach (the tool's object, as `tcpconnect` loads and
//! attaches it, and fixture objects with maps of maps, prog arrays, global data and BTF)
//! made again and again, each time with one more of its system calls failing, with each
//! of `EPERM`, `ENOMEM`, `EINVAL`, `E2BIG` (the kernel keeps refusing that command on that
//! object) and `EAGAIN` (once). Each run either
//! - falls back or retries where the loader is meant to (a feature probe, the object's
//!   BTF, a map typed by BTF, a perf link or TCX link the kernel does not know, `EAGAIN`
//!   on `BPF_PROG_LOAD`), and succeeds; or
//! - fails with the typed error of the step that failed, naming its map, program, slot
//!   or attach target, with the errno at the end of its `source()` chain;
//!
//! and in both cases, once the result is dropped, leaves no fd open: checked by the fake's
//! own fds (named after it) and by counting `/proc/self/fd`, in a child process that runs
//! only that test, so that nothing else opens fds meanwhile.
//!
//! On the fake kernel, and over the real one (root): there the other calls are real, and
//! after each failure every map, program and BTF object the run made (by the ids the
//! kernel gave) must be gone.

use std::process::Command;
use std::sync::OnceLock;

use super::fake_tests::{by_section, packet_socket, tc_attach};
use super::*;
use crate::btf::Btf;
use crate::elf::ObjectSpec;
use crate::load::{LoadError, LoadOptions, MapError, Object, TargetBtf};
use crate::syscall::fake::{FakeKernel, Seen};
use crate::syscall::SysError;

/// The errnos injected; all but `EAGAIN` persist.
const ERRNOS: [i32; 5] = [
    libc::EPERM,
    libc::ENOMEM,
    libc::EINVAL,
    libc::E2BIG,
    libc::EAGAIN,
];

/// Set in the child process that runs one test alone.
const CHILD: &str = "EBPF_LOADER_FAULT_CHILD";

/// Why a run failed, typed.
#[derive(Debug)]
enum Failure {
    Load(LoadError),
    Attach {
        /// The program whose attach failed.
        program: String,
        error: AttachError,
    },
}

/// What a run made, dropped at the end of the run.
#[allow(dead_code)] // held for its fds
struct Made(Object, Vec<Link>);

/// An object, loaded and attached as a test does.
struct Case {
    object: &'static str,
    /// The object's programs to load (empty: all), and how each is attached.
    programs: &'static [&'static str],
    /// For the tool and objects with externs: CO-RE against the kernel's BTF.
    kernel_btf: bool,
    /// `.rodata` settings, as the tool's options.
    globals: &'static [(&'static str, &'static [u8])],
    attach: fn(&Object) -> Result<Vec<Link>, Failure>,
}

fn attach_each(object: &Object, names: &[&str]) -> Result<Vec<Link>, Failure> {
    names
        .iter()
        .map(|name| {
            let program = object.program(name).expect("loaded");
            by_section(program, &AttachOptions::default()).map_err(|error| Failure::Attach {
                program: name.to_string(),
                error,
            })
        })
        .collect()
}

/// `bpf/main.bpf.o` as `tcpconnect -4` loads it on a kernel without kprobes
/// (`src/tool/trace.rs`): the two tracepoint programs, CO-RE against the kernel's BTF,
/// `filter_family` set, each program attached to its tracepoint.
const TOOL: Case = Case {
    object: "bpf/main.bpf.o",
    programs: &["inet_sock_set_state", "tcp_retransmit_skb"],
    kernel_btf: true,
    globals: &[("filter_family", &[libc::AF_INET as u8])],
    attach: |object| attach_each(object, &["inet_sock_set_state", "tcp_retransmit_skb"]),
};

/// A map of maps with a slot set, a prog array with a slot set, `.rodata` and `.bss`,
/// BTF; the raw tracepoint attached.
const NESTED: Case = Case {
    object: "tests/fixtures/nested.bpf.o",
    programs: &[],
    kernel_btf: false,
    globals: &[("target_tgid", &[1, 0, 0, 0])],
    attach: |object| attach_each(object, &["on_enter"]),
};

/// BTF with FLOAT, DECL_TAG, TYPE_TAG, DATASEC and a global function; a tracepoint.
const TAGGED: Case = Case {
    object: "tests/fixtures/tagged.bpf.o",
    programs: &[],
    kernel_btf: false,
    globals: &[],
    attach: |object| attach_each(object, &["tagged"]),
};

/// A tc classifier (TCX, else netlink) on `lo` and a socket filter on a packet socket.
/// On the fake only: over the real kernel it would change the host's `lo`.
const NET: Case = Case {
    object: "tests/fixtures/net.bpf.o",
    programs: &["count_tc", "count_socket"],
    kernel_btf: false,
    globals: &[],
    attach: |object| {
        let classifier = object.program("count_tc").expect("loaded");
        let tc = tc_attach(
            classifier,
            "lo",
            tc::TcDirection::Ingress,
            &AttachOptions::default(),
        )
        .map_err(|error| Failure::Attach {
            program: "count_tc".into(),
            error,
        })?;
        let filter = object.program("count_socket").expect("loaded");
        let socket = packet_socket(filter, "lo").map_err(|error| Failure::Attach {
            program: "count_socket".into(),
            error,
        })?;
        Ok(vec![tc, socket])
    },
};

/// The kernel's BTF, read once per process.
fn kernel_btf() -> &'static Btf {
    static BTF: OnceLock<Btf> = OnceLock::new();
    BTF.get_or_init(|| crate::btf::kernel::load().expect("/sys/kernel/btf/vmlinux"))
}

impl Case {
    fn spec(&self) -> ObjectSpec {
        let path = format!("{}/{}", env!("CARGO_MANIFEST_DIR"), self.object);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut spec = ObjectSpec::parse(&bytes).unwrap();
        for (name, value) in self.globals {
            spec.set_global_bytes(name, value).unwrap();
        }
        spec
    }

    /// One load and attach, on whatever kernel the thread has.
    fn run(&self, spec: &ObjectSpec) -> Result<Made, Failure> {
        let opts = LoadOptions {
            programs: self.programs.iter().map(|p| p.to_string()).collect(),
            target_btf: if self.kernel_btf {
                TargetBtf::Btf(kernel_btf())
            } else {
                TargetBtf::Off
            },
            ..LoadOptions::default()
        };
        let object = Object::load(spec, &opts).map_err(Failure::Load)?;
        let links = (self.attach)(&object)?;
        Ok(Made(object, links))
    }
}

/// The errno a failure carries: at the end of its `source()` chain, or (a refused
/// program, shown whole) in its verifier error.
fn errno_of(failure: &Failure) -> Option<i32> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(match failure {
        Failure::Load(LoadError::Program(verifier))
        | Failure::Load(LoadError::Refused {
            error: verifier, ..
        }) => return Some(verifier.error.errno),
        Failure::Load(error) => error,
        Failure::Attach { error, .. } => error,
    });
    let mut errno = None;
    while let Some(e) = at {
        if let Some(sys) = e.downcast_ref::<SysError>() {
            errno = Some(sys.errno);
        }
        at = e.source();
    }
    errno
}

/// Is a failure of this call one the loader gets past (a fallback or a retry)?
fn absorbed(failed: &Seen, errno: i32) -> bool {
    match failed.op {
        // The memlock probe: the limit is left as it is, or raised.
        "getrlimit(RLIMIT_MEMLOCK)" => true,
        // A feature probe (memory accounting): the feature is then taken as absent.
        "BPF_PROG_LOAD" if failed.object() == "memcg_probe" => true,
        // A BTF probe (the kind is then rewritten) or the object's BTF (then loaded
        // without BTF); EAGAIN is retried.
        "BPF_BTF_LOAD" => true,
        // Retried, as libbpf does.
        "BPF_PROG_LOAD" => errno == libc::EAGAIN,
        // A kernel without perf links (5.15) or TCX (6.6): the ioctl, or netlink.
        "BPF_LINK_CREATE" => errno == libc::EINVAL,
        // Extended acks are asked for, not needed.
        "setsockopt(NETLINK_EXT_ACK)" => true,
        // The tc filter's name gets the program's id when the kernel says it.
        "BPF_OBJ_GET_INFO_BY_FD" => true,
        _ => false,
    }
}

/// Checks that `failure` is the typed error of the step `failed` was a call of.
fn check_names_step(case: &Case, failed: &Seen, errno: i32, failure: &Failure) {
    let context = format!(
        "{}: {failed} failing with {errno}: {failure:?}",
        case.object
    );
    assert_eq!(errno_of(failure), Some(errno), "{context}");
    let object = failed.object();
    match (failed.op, failure) {
        ("BPF_MAP_CREATE", Failure::Load(LoadError::Map { map, error })) => {
            assert_eq!(
                crate::uapi::obj_name(map),
                crate::uapi::obj_name(object),
                "{context}"
            );
            assert_eq!(error.op, "BPF_MAP_CREATE", "{context}");
        }
        ("BPF_MAP_UPDATE_ELEM", Failure::Load(error)) if failed.detail.contains(" = ") => {
            let (slot, target) = failed.detail.split_once(" = ").unwrap();
            match error {
                // Global data.
                LoadError::Map { map, error } if target.ends_with(" bytes") => {
                    assert_eq!(slot, format!("{map}[0]"), "{context}");
                    assert_eq!(error.op, "BPF_MAP_UPDATE_ELEM", "{context}");
                }
                // A slot of a map of maps or a prog array.
                LoadError::InitSlot {
                    map,
                    slot: key,
                    target: name,
                    error: Some(MapError::Sys { .. }),
                } => {
                    assert_eq!(slot, format!("{map}[{key}]"), "{context}");
                    assert_eq!(name, target, "{context}");
                }
                _ => panic!("{context}"),
            }
        }
        ("BPF_MAP_FREEZE", Failure::Load(LoadError::Map { map, error })) => {
            assert_eq!(map, object, "{context}");
            assert_eq!(error.op, "BPF_MAP_FREEZE", "{context}");
        }
        ("BPF_PROG_LOAD", Failure::Load(LoadError::Program(verifier))) => {
            assert_eq!(
                crate::uapi::obj_name(&verifier.name),
                crate::uapi::obj_name(object),
                "{context}"
            );
        }
        (_, Failure::Attach { program, error }) => {
            // The error says where the program was being attached.
            let target = match error {
                AttachError::Sys { target, .. } => target.clone(),
                other => other.to_string(),
            };
            let expected = match program.as_str() {
                "inet_sock_set_state" | "tagged" => "tracepoint sock/inet_sock_set_state",
                "tcp_retransmit_skb" => "tracepoint tcp/tcp_retransmit_skb",
                "on_enter" => "raw tracepoint task_rename",
                "count_tc" => "tc ingress of lo (ifindex 1)",
                "count_socket" => "AF_PACKET socket on lo (ifindex 1)",
                other => panic!("{context}: no target known for {other}"),
            };
            assert!(target.contains(expected), "{context}: {target}");
        }
        _ => panic!("{context}: not the error of this step"),
    }
}

/// The fds open in this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `body` in a child process that runs only the test `name` of this module, so that
/// the fds it counts are its own.
fn alone(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        return body();
    }
    let module = module_path!().split_once("::").unwrap().1;
    let test = format!("{module}::{name}");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([&test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{test}:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{test} did not run:\n{stdout}");
    for line in stdout.lines().filter(|line| line.contains(" runs: ")) {
        println!("{line}");
    }
}

/// A fake kernel of the given kind.
fn kernel(real: bool) -> FakeKernel {
    if real {
        FakeKernel::over_real_kernel()
    } else {
        FakeKernel::install()
    }
}

/// Is there a kernel object of this kind with this id? Asked with `BPF_*_GET_NEXT_ID`,
/// which opens nothing: opening a prog array by id (`BPF_MAP_GET_FD_BY_ID`) while its
/// last fd is being closed left it in the kernel for good on 6.18.
fn exists(kind: &str, id: u32) -> bool {
    let next = match kind {
        "map" => crate::syscall::map_get_next_id(id - 1),
        "prog" => crate::syscall::prog_get_next_id(id - 1),
        _ => crate::syscall::btf_get_next_id(id - 1),
    };
    next.expect("BPF_*_GET_NEXT_ID") == Some(id)
}

/// Waits (up to 2 s: maps are freed after an RCU grace period) until none of these ids
/// names an object any more.
fn check_freed(context: &str, ids: &[(&'static str, u32)]) {
    let mut alive: Vec<_> = ids.to_vec();
    for _ in 0..200 {
        alive.retain(|(kind, id)| exists(kind, *id));
        if alive.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{context}: kernel objects left behind: {alive:?} of {ids:?}");
}

/// The whole injection for one case. Returns (runs, of which fell back or retried, of
/// which failed while tearing down).
fn inject(case: &Case, real: bool) -> (usize, usize, usize) {
    let spec = case.spec();
    if case.kernel_btf {
        kernel_btf();
    }
    let fds = open_fds();
    // The clean run: its calls, those of the load and attach, then those of the teardown.
    let (calls, setup) = {
        let kernel = kernel(real);
        let made = case.run(&spec);
        assert!(made.is_ok(), "{}: {:?}", case.object, made.err());
        let setup = kernel.calls().len();
        drop(made);
        (kernel.calls(), setup)
    };
    assert_eq!(open_fds(), fds, "{}: the clean run", case.object);
    let (mut runs, mut absorbed_runs, mut teardown_runs) = (0, 0, 0);
    for n in 1..=calls.len() {
        for errno in ERRNOS {
            let kernel = kernel(real);
            if errno == libc::EAGAIN {
                kernel.fail_nth(n, errno);
            } else {
                kernel.fail_from(n, errno);
            }
            // Dropped at once: a failure while tearing down is one Drop cannot report.
            let failure = case.run(&spec).err();
            let failed = kernel.failed().unwrap_or_else(|| {
                panic!(
                    "{}: call {n} ({}) not made: {failure:?}\n{:#?}",
                    case.object,
                    calls[n - 1],
                    kernel.calls()
                )
            });
            let context = format!("{}: {failed} failing with {errno}", case.object);
            assert_eq!(failed.to_string(), calls[n - 1], "{context}");
            match &failure {
                None if n > setup => teardown_runs += 1,
                None => {
                    assert!(absorbed(&failed, errno), "{context}: went unnoticed");
                    absorbed_runs += 1;
                }
                Some(failure) => {
                    assert!(
                        n <= setup && !absorbed(&failed, errno),
                        "{context}: should have been got past: {failure:?}"
                    );
                    check_names_step(case, &failed, errno, failure);
                }
            }
            drop(failure);
            assert_eq!(kernel.open_fds(), Vec::<String>::new(), "{context}");
            assert_eq!(open_fds(), fds, "{context}: fds left open");
            if real {
                check_freed(&context, &kernel.real_ids());
            }
            runs += 1;
        }
    }
    println!(
        "{}: {} calls, {runs} runs: {absorbed_runs} fell back or retried, {teardown_runs} \
         failed in the teardown, the others failed with the step's error",
        case.object,
        calls.len()
    );
    (runs, absorbed_runs, teardown_runs)
}

#[test]
fn every_call_of_the_tools_load_and_attach_fails_in_turn_on_the_fake_kernel() {
    alone(
        "every_call_of_the_tools_load_and_attach_fails_in_turn_on_the_fake_kernel",
        || {
            inject(&TOOL, false);
        },
    );
}

#[test]
fn every_call_of_a_nested_object_fails_in_turn_on_the_fake_kernel() {
    alone(
        "every_call_of_a_nested_object_fails_in_turn_on_the_fake_kernel",
        || {
            inject(&NESTED, false);
        },
    );
}

#[test]
fn every_call_of_an_object_with_new_btf_kinds_fails_in_turn_on_the_fake_kernel() {
    alone(
        "every_call_of_an_object_with_new_btf_kinds_fails_in_turn_on_the_fake_kernel",
        || {
            inject(&TAGGED, false);
        },
    );
}

#[test]
fn every_call_of_tc_and_socket_attaches_fails_in_turn_on_the_fake_kernel() {
    alone(
        "every_call_of_tc_and_socket_attaches_fails_in_turn_on_the_fake_kernel",
        || {
            inject(&NET, false);
        },
    );
}

/// Over the real kernel (root): the calls before the failing one are real, and every
/// object they made must be gone once the run's result is dropped. `net.bpf.o` is left
/// out: its fallback would put a clsact qdisc on the host's `lo`.
#[test]
fn every_call_of_the_tools_load_and_attach_fails_in_turn_over_the_real_kernel() {
    alone(
        "every_call_of_the_tools_load_and_attach_fails_in_turn_over_the_real_kernel",
        || {
            inject(&TOOL, true);
        },
    );
}

#[test]
fn every_call_of_a_nested_object_fails_in_turn_over_the_real_kernel() {
    alone(
        "every_call_of_a_nested_object_fails_in_turn_over_the_real_kernel",
        || {
            inject(&NESTED, true);
        },
    );
}

#[test]
fn every_call_of_an_object_with_new_btf_kinds_fails_in_turn_over_the_real_kernel() {
    alone(
        "every_call_of_an_object_with_new_btf_kinds_fails_in_turn_over_the_real_kernel",
        || {
            inject(&TAGGED, true);
        },
    );
}
