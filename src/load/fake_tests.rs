//! The load step on the fake kernel (`syscall::fake`): no root, no kernel. Each test
//! scripts what the kernel answers and checks the exact calls the loader made, in order,
//! and the exact error or fallback that came of it.

use std::cell::Cell;
use std::rc::Rc;

use super::*;
use crate::features::memlock::{self, Accounting, MemlockAction};
use crate::syscall::fake::FakeKernel;
use crate::syscall::MapCreateAttr;
use crate::uapi::obj_name;

fn fixture(name: &str) -> ObjectSpec {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    ObjectSpec::parse(&bytes).unwrap()
}

/// The size of the object's BTF as `BPF_BTF_LOAD` gets it (the kernel has every kind: as
/// compiled).
fn btf_size(spec: &ObjectSpec) -> usize {
    spec.btf.as_ref().unwrap().as_bytes().len()
}

/// A fake kernel whose features are probed already (a recent kernel: every BTF kind,
/// memory accounted by cgroup), the probes' calls forgotten.
fn probed() -> FakeKernel {
    let kernel = FakeKernel::install();
    crate::features::btf::probe();
    kernel.take_calls();
    kernel
}

/// The errno at the end of `error`'s `source()` chain.
fn errno_of(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut errno = None;
    while let Some(e) = at {
        if let Some(sys) = e.downcast_ref::<SysError>() {
            errno = Some(sys.errno);
        }
        if let Some(verifier) = e.downcast_ref::<VerifierError>() {
            errno = Some(verifier.error.errno);
        }
        // A refused program's error shows its cause whole, not as a `source()`.
        if let Some(LoadError::Program(verifier)) = e.downcast_ref::<LoadError>() {
            errno = Some(verifier.error.errno);
        }
        at = e.source();
    }
    errno
}

/// `outer` and `jump` as made again without BTF: the kernel takes no BTF for maps whose
/// values are fds (`map_check_no_btf`: `ENOTSUPP`).
const OUTER: &str = "BPF_MAP_CREATE outer type=12 key=4 value=4 max=2 inner=outer.inner";
const JUMP: &str = "BPF_MAP_CREATE jump type=3 key=4 value=4 max=2";

/// `nested.bpf.o`'s maps, in the object's order: the inner map `inner_b` (which `outer`'s
/// slot 1 names), `outer`'s template, `outer`, the prog array, `inner_a`, the data.
const NESTED_MAPS: [&str; 7] = [
    "BPF_MAP_CREATE inner_b type=2 key=4 value=8 max=1 btf=8/12",
    "BPF_MAP_CREATE outer.inner type=2 key=4 value=8 max=1 btf=8/12",
    "BPF_MAP_CREATE outer type=12 key=4 value=4 max=2 inner=outer.inner btf=8/0",
    "BPF_MAP_CREATE jump type=3 key=4 value=4 max=2 btf=8/0",
    "BPF_MAP_CREATE inner_a type=2 key=4 value=8 max=1 btf=8/12",
    "BPF_MAP_CREATE .rodata type=2 key=4 value=4 max=1 flags=0x80 btf=0/46",
    "BPF_MAP_CREATE .bss type=2 key=4 value=16 max=1 btf=0/44",
];

#[test]
fn an_object_loads_in_libbpfs_order_and_holds_exactly_its_fds() {
    let kernel = probed();
    let mut spec = fixture("nested.bpf.o");
    spec.set_global("target_tgid", &42u32.to_ne_bytes())
        .unwrap();
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    let [inner_b, template, outer, jump, inner_a, rodata, bss] = NESTED_MAPS;
    let btf = format!("BPF_BTF_LOAD {} bytes log=0", btf_size(&spec));
    assert_eq!(
        kernel.calls(),
        [
            &btf,
            inner_b,
            // The outer map's template: an inner map's shape, closed once `outer` exists.
            template,
            // A map of maps and a prog array: refused with BTF (ENOTSUPP), made without.
            outer,
            OUTER,
            jump,
            JUMP,
            inner_a,
            // Global data: filled, then (`.rodata`) frozen.
            rodata,
            "BPF_MAP_UPDATE_ELEM .rodata[0] = 4 bytes",
            "BPF_MAP_FREEZE .rodata",
            bss,
            // Slots of maps of maps, before the programs: their verifier checks them.
            "BPF_MAP_UPDATE_ELEM outer[1] = inner_b",
            "BPF_PROG_LOAD tail type=17 btf_info log=0",
            "BPF_PROG_LOAD on_enter type=17 btf_info log=0",
            // Slots of prog arrays, once their programs exist.
            "BPF_MAP_UPDATE_ELEM jump[0] = tail",
        ]
    );
    assert_eq!(
        object
            .map(".rodata")
            .unwrap()
            .lookup(&0u32.to_ne_bytes())
            .unwrap(),
        Some(42u32.to_ne_bytes().to_vec())
    );
    assert!(matches!(object.btf_status(), BtfStatus::Loaded(_)));
    let typed: Vec<&str> = object
        .maps()
        .iter()
        .filter(|m| m.typed_by_btf())
        .map(Map::name)
        .collect();
    assert_eq!(typed, ["inner_b", "inner_a", ".rodata", ".bss"]);
    assert_eq!(
        kernel.open_fds(),
        [
            "btf BTF",
            "map .bss",
            "map .rodata",
            "map inner_a",
            "map inner_b",
            "map jump",
            "map outer",
            "prog on_enter",
            "prog tail",
        ]
    );
    drop(object);
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn a_map_the_kernel_cannot_type_with_btf_is_created_again_without() {
    let kernel = probed();
    kernel.refuse(|call| {
        (call.op == "BPF_MAP_CREATE" && call.detail.contains(" btf=")).then_some(libc::EINVAL)
    });
    let spec = fixture("nested.bpf.o");
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    let calls = kernel.calls();
    let creates: Vec<&str> = calls
        .iter()
        .filter(|c| c.starts_with("BPF_MAP_CREATE"))
        .map(String::as_str)
        .collect();
    let mut expected = Vec::new();
    for typed in NESTED_MAPS {
        expected.push(typed.to_string());
        expected.push(typed.split(" btf=").next().unwrap().to_string());
    }
    assert_eq!(creates, expected);
    assert!(object.maps().iter().all(|m| !m.typed_by_btf()));
    // The programs still carry their BTF: only the maps' typing was refused.
    assert!(calls.contains(&"BPF_PROG_LOAD tail type=17 btf_info log=0".to_string()));
    // Each map made again without its types is a fallback the caller sees, in order.
    let untyped: Vec<Fallback> = ["inner_b", "outer", "jump", "inner_a", ".rodata", ".bss"]
        .into_iter()
        .map(|map| Fallback::MapWithoutBtf { map: map.into() })
        .collect();
    assert_eq!(object.fallbacks(), untyped);
    assert_eq!(
        object.fallbacks()[1].to_string(),
        "map outer: created without its BTF key/value types (the kernel refused them)"
    );
}

#[test]
fn a_load_that_went_the_first_way_everywhere_but_for_fd_maps_says_so() {
    let _kernel = probed();
    let spec = fixture("nested.bpf.o");
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    // A map of maps and a prog array hold fds: the kernel takes no BTF types for them
    // (ENOTSUPP), and they are made again without; nothing else fell back.
    assert_eq!(
        object.fallbacks(),
        [
            Fallback::MapWithoutBtf {
                map: "outer".into()
            },
            Fallback::MapWithoutBtf { map: "jump".into() },
        ]
    );
}

#[test]
fn a_map_create_error_other_than_einval_is_not_retried_and_names_the_map() {
    let kernel = probed();
    kernel.refuse(|call| {
        (call.op == "BPF_MAP_CREATE" && call.detail.starts_with("jump ")).then_some(libc::E2BIG)
    });
    let spec = fixture("nested.bpf.o");
    let error = Object::load(&spec, &LoadOptions::default()).unwrap_err();
    match &error {
        LoadError::Map { map, error } => {
            assert_eq!(map, "jump");
            assert_eq!((error.op, error.errno), ("BPF_MAP_CREATE", libc::E2BIG));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.to_string(), "map jump");
    assert_eq!(
        kernel.calls().last().map(String::as_str),
        Some(NESTED_MAPS[3])
    );
    // The BTF and the three maps made before it are closed.
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn btf_the_kernel_refuses_leaves_maps_and_programs_without_btf() {
    let kernel = probed();
    kernel.refuse(|call| (call.op == "BPF_BTF_LOAD").then_some(libc::EINVAL));
    let spec = fixture("nested.bpf.o");
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    let calls = kernel.calls();
    let size = btf_size(&spec);
    assert_eq!(
        calls[..4],
        [
            // Without a log, then again with one for the error's sake.
            format!("BPF_BTF_LOAD {size} bytes log=0"),
            format!("BPF_BTF_LOAD {size} bytes log=1"),
            "BPF_MAP_CREATE inner_b type=2 key=4 value=8 max=1".to_string(),
            "BPF_MAP_CREATE outer.inner type=2 key=4 value=8 max=1".to_string(),
        ]
    );
    assert!(calls.contains(&"BPF_PROG_LOAD tail type=17 log=0".to_string()));
    assert!(!calls.iter().any(|c| c.contains("btf")));
    match object.btf_status() {
        BtfStatus::Refused(error) => assert_eq!(error.error.errno, libc::EINVAL),
        other => panic!("{other:?}"),
    }
    // One fallback, the BTF's: maps and programs without BTF follow from it.
    let fallbacks = object.fallbacks();
    assert_eq!(fallbacks.len(), 1, "{fallbacks:?}");
    assert!(
        matches!(&fallbacks[0], Fallback::BtfRefused { error } if error.starts_with("loading BTF BTF: BPF_BTF_LOAD: Invalid argument (EINVAL)")),
        "{fallbacks:?}"
    );
}

#[test]
fn btf_is_sanitised_for_the_kinds_the_kernel_was_probed_without() {
    let kernel = FakeKernel::install();
    // `features::btf::probe` loads one blob per kind, in this order: FUNC, global FUNC,
    // DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 (a refused blob is loaded again with a
    // log). This kernel refuses FLOAT, DECL_TAG and TYPE_TAG (a 5.12 kernel).
    let probe = Rc::new(Cell::new(0));
    let at = probe.clone();
    kernel.refuse(move |call| {
        if call.op != "BPF_BTF_LOAD" {
            return None;
        }
        if call.detail.ends_with(" log=0") {
            at.set(at.get() + 1);
        }
        matches!(at.get(), 4..=6).then_some(libc::EINVAL)
    });
    let spec = fixture("tagged.bpf.o");
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    let rewrites: Vec<String> = object
        .btf_rewrites()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(rewrites.len(), 3, "{rewrites:?}");
    assert_eq!(
        object.fallbacks(),
        [Fallback::BtfRewritten {
            rewrites: rewrites.clone()
        }]
    );
    assert!(
        rewrites.iter().any(|r| r.contains("FLOAT -> STRUCT")),
        "{rewrites:?}"
    );
    assert!(
        rewrites.iter().any(|r| r.contains("DECL_TAG -> INT")),
        "{rewrites:?}"
    );
    assert!(
        rewrites.iter().any(|r| r.contains("TYPE_TAG -> CONST")),
        "{rewrites:?}"
    );
    // What reached the kernel: the object's BTF, every type at its id, none of the three.
    let loads = kernel.btf_loads();
    let sent = crate::btf::Btf::parse(loads.last().unwrap().clone()).unwrap();
    let compiled = spec.btf.as_ref().unwrap();
    assert_eq!(sent.len(), compiled.len());
    let kinds = |btf: &crate::btf::Btf| -> Vec<crate::btf::Kind> {
        (1..btf.len()).map(|id| btf.kind(id).unwrap()).collect()
    };
    use crate::btf::Kind;
    let gone = [Kind::Float, Kind::DeclTag, Kind::TypeTag];
    assert!(kinds(compiled).iter().any(|k| gone.contains(k)));
    assert!(!kinds(&sent).iter().any(|k| gone.contains(k)));
    assert!(matches!(object.btf_status(), BtfStatus::Loaded(_)));

    // On a kernel that has them all, the BTF goes as compiled.
    drop(kernel);
    let kernel = FakeKernel::install();
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    assert_eq!(object.btf_rewrites().len(), 0);
    assert_eq!(kernel.btf_loads().last().unwrap(), compiled.as_bytes());
}

/// The attributes `nested.bpf.o` declares for `jump`, pinned by someone else.
fn jump_as_pinned(max_entries: u32) -> MapCreateAttr {
    MapCreateAttr {
        map_type: MapType::PROG_ARRAY.0,
        key_size: 4,
        value_size: 4,
        max_entries,
        map_name: obj_name("jump"),
        ..Default::default()
    }
}

#[test]
fn a_compatible_pinned_map_is_used_instead_of_a_new_one() {
    let kernel = probed();
    kernel.pin_map("/sys/fs/bpf/fake/jump", jump_as_pinned(2));
    let spec = fixture("nested.bpf.o");
    let opts = LoadOptions {
        pinned_maps: vec![("jump".into(), "/sys/fs/bpf/fake/jump".into())],
        ..LoadOptions::default()
    };
    let object = Object::load(&spec, &opts).unwrap();
    let calls = kernel.calls();
    let inner_a = NESTED_MAPS[4];
    let at = calls.iter().position(|c| c == OUTER).unwrap();
    assert_eq!(
        calls[at..at + 4],
        [
            OUTER,
            "BPF_OBJ_GET /sys/fs/bpf/fake/jump",
            "BPF_OBJ_GET_INFO_BY_FD jump",
            inner_a
        ]
    );
    // Its slot is filled in the pinned map.
    assert_eq!(
        calls.last().map(String::as_str),
        Some("BPF_MAP_UPDATE_ELEM jump[0] = tail")
    );
    assert!(!object.map("jump").unwrap().typed_by_btf());
}

#[test]
fn an_incompatible_pinned_map_is_refused_naming_the_field() {
    let kernel = probed();
    kernel.pin_map("/sys/fs/bpf/fake/jump", jump_as_pinned(4));
    let spec = fixture("nested.bpf.o");
    let opts = LoadOptions {
        pinned_maps: vec![("jump".into(), "/sys/fs/bpf/fake/jump".into())],
        ..LoadOptions::default()
    };
    let error = Object::load(&spec, &opts).unwrap_err();
    assert_eq!(
        error.to_string(),
        "map jump: the map pinned at /sys/fs/bpf/fake/jump has max_entries 4, the object's has 2"
    );
    assert!(matches!(
        error,
        LoadError::PinMismatch {
            field: "max_entries",
            expected: 2,
            found: 4,
            ..
        }
    ));
    assert_eq!(
        kernel.calls().last().map(String::as_str),
        Some("BPF_OBJ_GET_INFO_BY_FD jump")
    );
    assert_eq!(kernel.open_fds(), Vec::<String>::new());

    // A pin that is not there.
    let opts = LoadOptions {
        pinned_maps: vec![("jump".into(), "/sys/fs/bpf/fake/none".into())],
        ..LoadOptions::default()
    };
    let error = Object::load(&spec, &opts).unwrap_err();
    match &error {
        LoadError::Pinned { map, error, .. } => {
            assert_eq!(map, "jump");
            assert_eq!((error.op, error.errno), ("BPF_OBJ_GET", libc::ENOENT));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_map_pinned_by_name_is_created_and_pinned_then_reused() {
    let kernel = probed();
    let mut spec = fixture("nested.bpf.o");
    let jump = spec.maps.iter_mut().find(|m| m.name == "jump").unwrap();
    jump.pinning = 1; // LIBBPF_PIN_BY_NAME
                      // The loader looks for the pin's file before asking the kernel: a real directory, with
                      // the fake's bpf filesystem behind the paths in it.
    let root = std::env::temp_dir().join(format!("fake19-pins-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let pin = root.join("jump");
    let _ = std::fs::remove_file(&pin);
    let opts = LoadOptions {
        pin_root: Some(root.clone()),
        ..LoadOptions::default()
    };
    let object = Object::load(&spec, &opts).unwrap();
    let calls = kernel.take_calls();
    let at = calls.iter().position(|c| c == JUMP).unwrap();
    assert_eq!(calls[at + 1], format!("BPF_OBJ_PIN jump {}", pin.display()));
    assert_eq!(kernel.pins(), [pin.display().to_string()]);
    drop(object);

    // Next time the pin is there (as bpffs would show it), and is reused.
    std::fs::write(&pin, b"").unwrap();
    let _object = Object::load(&spec, &opts).unwrap();
    let calls = kernel.take_calls();
    std::fs::remove_dir_all(&root).unwrap();
    let at = calls.iter().position(|c| c == OUTER).unwrap();
    assert_eq!(
        calls[at + 1..at + 3],
        [
            format!("BPF_OBJ_GET {}", pin.display()),
            "BPF_OBJ_GET_INFO_BY_FD jump".to_string()
        ]
    );
    assert!(!calls.iter().any(|c| c.starts_with("BPF_OBJ_PIN")));
}

#[test]
fn a_slot_that_names_nothing_or_that_the_kernel_refuses_is_an_error_naming_it() {
    let kernel = probed();
    let mut spec = fixture("nested.bpf.o");
    let outer = spec.maps.iter_mut().find(|m| m.name == "outer").unwrap();
    outer.init_slots = vec![(1, "nothing".to_string())];
    let error = Object::load(&spec, &LoadOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "map outer: setting slot [1] to nothing: the object has no map or program of that name"
    );
    assert_eq!(kernel.open_fds(), Vec::<String>::new());

    let spec = fixture("nested.bpf.o");
    kernel.refuse(|call| (call.detail == "jump[0] = tail").then_some(libc::E2BIG));
    let error = Object::load(&spec, &LoadOptions::default()).unwrap_err();
    assert_eq!(error.to_string(), "map jump: setting slot [0] to tail");
    assert_eq!(errno_of(&error), Some(libc::E2BIG));
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn the_memlock_limit_is_raised_where_the_kernel_charges_it() {
    let kernel = FakeKernel::install();
    // Before 5.11: the probe's helper is unknown, and the limit is 64 KiB.
    kernel.refuse(|call| (call.detail.starts_with("memcg_probe ")).then_some(libc::EINVAL));
    kernel.set_memlock(libc::rlimit {
        rlim_cur: 64 << 10,
        rlim_max: 64 << 10,
    });
    let state = memlock::ensure();
    assert_eq!(state.accounting, Accounting::Memlock);
    assert_eq!(state.action, MemlockAction::Raised);
    assert_eq!(
        kernel.calls(),
        [
            "getrlimit(RLIMIT_MEMLOCK)",
            "BPF_PROG_LOAD memcg_probe type=1 log=0",
            "setrlimit(RLIMIT_MEMLOCK) unlimited/unlimited",
        ]
    );
    assert_eq!(kernel.memlock().rlim_cur, libc::RLIM_INFINITY);
    // Once per process (here: per fake kernel).
    memlock::ensure();
    assert_eq!(kernel.calls().len(), 3);
}

#[test]
fn an_eperm_where_the_limit_could_not_be_raised_names_the_limit() {
    let kernel = FakeKernel::install();
    kernel.refuse(|call| match call.op {
        "BPF_PROG_LOAD" if call.detail.starts_with("memcg_probe ") => Some(libc::EINVAL),
        "setrlimit(RLIMIT_MEMLOCK)" => Some(libc::EPERM),
        "BPF_MAP_CREATE" => Some(libc::EPERM),
        _ => None,
    });
    kernel.set_memlock(libc::rlimit {
        rlim_cur: 64 << 10,
        rlim_max: 64 << 10,
    });
    let spec = fixture("nested.bpf.o");
    let error = Object::load(&spec, &LoadOptions::default()).unwrap_err();
    match &error {
        LoadError::Memlock { object, error } => {
            assert_eq!(object, "map inner_b");
            assert_eq!(error.raise_errno, libc::EPERM);
            assert_eq!(error.limit, memlock::Limit::Bytes(64 << 10));
        }
        other => panic!("{other:?}"),
    }
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        cause.contains("RLIMIT_MEMLOCK (64 KiB) is too low"),
        "{cause}"
    );
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn eagain_on_prog_load_is_retried_as_libbpf_does() {
    let kernel = probed();
    // The kernel says EAGAIN twice (libbpf retries up to 5 times: `bpf_prog_load`'s
    // `attempts`), then loads.
    let left = Rc::new(Cell::new(2));
    let count = left.clone();
    kernel.refuse(move |call| {
        if call.op == "BPF_PROG_LOAD" && call.detail.starts_with("tail ") && count.get() > 0 {
            count.set(count.get() - 1);
            return Some(libc::EAGAIN);
        }
        None
    });
    let spec = fixture("nested.bpf.o");
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    let loads: Vec<String> = kernel
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("BPF_PROG_LOAD"))
        .collect();
    assert_eq!(
        loads,
        [
            "BPF_PROG_LOAD tail type=17 btf_info log=0",
            "BPF_PROG_LOAD tail type=17 btf_info log=0",
            "BPF_PROG_LOAD tail type=17 btf_info log=0",
            "BPF_PROG_LOAD on_enter type=17 btf_info log=0",
        ]
    );
    assert!(object.program("tail").is_some());
    drop(object);

    // A kernel that keeps saying EAGAIN: the error after the retries, naming the program.
    kernel.take_calls();
    kernel.refuse(|call| {
        (call.op == "BPF_PROG_LOAD" && call.detail.starts_with("tail ")).then_some(libc::EAGAIN)
    });
    let error = Object::load(&spec, &LoadOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("loading program tail: BPF_PROG_LOAD"),
        "{error}"
    );
    assert_eq!(errno_of(&error), Some(libc::EAGAIN));
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

/// Issue 18, rule 1: a program the kernel refuses with its func_info and line_info is never
/// sent again without them. `EINVAL` (what a verifier refusal of a global function's
/// argument gives): the load without a log, the same load with libbpf's 16 MiB log, and the
/// error; every attempt carries the BTF info.
#[test]
fn a_refused_program_is_never_sent_again_without_its_btf_info() {
    let kernel = probed();
    kernel.refuse(|call| {
        (call.op == "BPF_PROG_LOAD" && call.detail.starts_with("tail ")).then_some(libc::EINVAL)
    });
    let spec = fixture("nested.bpf.o");
    let error = Object::load(&spec, &LoadOptions::default()).unwrap_err();
    assert_eq!(errno_of(&error), Some(libc::EINVAL));
    let loads: Vec<String> = kernel
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("BPF_PROG_LOAD"))
        .collect();
    assert_eq!(
        loads,
        [
            "BPF_PROG_LOAD tail type=17 btf_info log=0",
            "BPF_PROG_LOAD tail type=17 btf_info log=1",
        ]
    );
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn programs_loaded_without_func_info_on_a_kernel_without_btf_func_are_fallbacks() {
    let kernel = FakeKernel::install();
    // The first kind `features::btf::probe` loads is FUNC: this kernel refuses it (4.x).
    let probe = Rc::new(Cell::new(0));
    let at = probe.clone();
    kernel.refuse(move |call| {
        if call.op != "BPF_BTF_LOAD" {
            return None;
        }
        if call.detail.ends_with(" log=0") {
            at.set(at.get() + 1);
        }
        (at.get() == 1).then_some(libc::EINVAL)
    });
    let spec = fixture("nested.bpf.o");
    let object = Object::load(&spec, &LoadOptions::default()).unwrap();
    let fallbacks = object.fallbacks();
    let programs: Vec<&Fallback> = fallbacks
        .iter()
        .filter(|f| matches!(f, Fallback::ProgramWithoutBtfInfo { .. }))
        .collect();
    assert_eq!(
        programs,
        [
            &Fallback::ProgramWithoutBtfInfo {
                program: "tail".into()
            },
            &Fallback::ProgramWithoutBtfInfo {
                program: "on_enter".into()
            },
        ],
        "{fallbacks:?}"
    );
    assert!(
        matches!(&fallbacks[0], Fallback::BtfRewritten { rewrites } if rewrites.iter().any(|r| r.contains("FUNC"))),
        "{fallbacks:?}"
    );
    assert!(kernel
        .calls()
        .contains(&"BPF_PROG_LOAD tail type=17 log=0".to_string()));
}
