//! The loader against this host's kernel (root; programs are loaded, not attached): global
//! data written before load and read back from the kernel, and CO-RE through the whole
//! loader: a field the kernel lacks reads as a sentence, and a field guarded by
//! `bpf_core_field_exists` is simply skipped.

mod harness;

use harness::kernel::Bpffs;

use ebpf_loader::btf::Btf;
use ebpf_loader::elf::GlobalError;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, LoadOptions, MapError, Object};
use ebpf_loader::uapi::BPF_ANY;

const OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

fn spec() -> ObjectSpec {
    ObjectSpec::parse(OBJECT).expect("parse main.bpf.o")
}

/// The object's own BTF as a "kernel" BTF, with the field name `from` renamed to `to`
/// (same length), so that no candidate has a field called `from`.
fn target_without(spec: &ObjectSpec, from: &[u8], to: &[u8]) -> Btf {
    assert_eq!(from.len(), to.len());
    let mut bytes = spec.btf.as_ref().expect("object BTF").as_bytes().to_vec();
    let needle: Vec<u8> = [from, b"\0"].concat();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("field name in the string table");
    bytes[at..at + from.len()].copy_from_slice(to);
    Btf::parse(bytes).expect("renamed BTF parses")
}

#[test]
fn a_missing_field_is_named_when_the_verifier_refuses_the_program() {
    let spec = spec();
    let target = target_without(&spec, b"skc_num", b"skc_nuX");
    let error = Object::load(
        &spec,
        &LoadOptions {
            programs: vec!["tcp_connect".into()],
            target_btf: ebpf_loader::load::TargetBtf::Btf(&target),
            ..LoadOptions::default()
        },
    )
    .expect_err("the program reads skc_num");
    match &error {
        LoadError::CoreUnresolved { program, fixup, .. } => {
            assert_eq!(program, "tcp_connect");
            assert_eq!(fixup.local_access, "struct sock.__sk_common.skc_num");
            assert!(fixup.poisoned);
        }
        other => panic!("expected CoreUnresolved, got {other}"),
    }
    let text = error.to_string();
    assert!(
        text.starts_with("program tcp_connect: this kernel has no struct sock.__sk_common.skc_num"),
        "{text}"
    );
}

#[test]
fn a_field_guarded_by_exists_is_skipped_and_the_program_loads() {
    // Without task_struct.loginuid (a kernel without CONFIG_AUDIT), the program reads
    // (u32)-1 instead: bpf_core_field_exists() is 0 and the poisoned read is dead code.
    let spec = spec();
    let target = target_without(&spec, b"loginuid", b"loginuiX");
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: vec!["inet_sock_set_state".into()],
            target_btf: ebpf_loader::load::TargetBtf::Btf(&target),
            ..LoadOptions::default()
        },
    )
    .expect("loads without loginuid");
    let program = object.program("inet_sock_set_state").unwrap();
    let exists: Vec<_> = program
        .relocated()
        .core
        .iter()
        .filter(|f| f.local_access.ends_with("loginuid"))
        .map(|f| (f.relo.kind.to_string(), f.target_value, f.poisoned))
        .collect();
    assert!(
        exists
            .iter()
            .any(|(kind, value, _)| kind.contains("exists") && *value == Some(0)),
        "{exists:?}"
    );
}

#[test]
fn globals_written_before_load_are_in_the_kernels_maps() {
    let mut spec = spec();
    spec.set_global("filter_uid", &4242u32).unwrap();
    assert_eq!(
        spec.set_global("filter_uid", &1u8),
        Err(GlobalError::Size {
            name: "filter_uid".into(),
            expected: 4,
            got: 1
        })
    );
    assert_eq!(
        spec.set_global_bytes("filter_uid", &[1u8]),
        Err(GlobalError::Size {
            name: "filter_uid".into(),
            expected: 4,
            got: 1
        })
    );
    // The variable is a u32: an i32 of the same size is refused, naming both types.
    let signed = spec.set_global("filter_uid", &-1i32).unwrap_err();
    assert_eq!(signed.to_string(), "global variable filter_uid");
    assert_eq!(
        std::error::Error::source(&signed).unwrap().to_string(),
        "i32 does not match TYPEDEF 'u32': unsigned in the object's BTF, signed in Rust"
    );
    assert_eq!(
        spec.set_global("no_such_variable", &1u8),
        Err(GlobalError::NotFound {
            name: "no_such_variable".into()
        })
    );
    let kernel = ebpf_loader::btf::kernel::load().expect("kernel BTF");
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: vec!["inet_sock_set_state".into()],
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            ..LoadOptions::default()
        },
    )
    .expect("load");
    // .rodata: filled, frozen, readable from user space.
    assert_eq!(object.global::<u32>("filter_uid").unwrap(), 4242);
    assert_eq!(
        object.global_bytes("filter_pid").unwrap(),
        0u32.to_ne_bytes()
    );
    // Frozen: not even root can change the configuration once the programs are loaded.
    let rodata = object.map(".rodata").expect(".rodata map");
    let zeroes = vec![0u8; rodata.value_size()];
    let refused = rodata
        .update(&0u32.to_ne_bytes(), &zeroes, BPF_ANY)
        .expect_err("a frozen map refuses writes");
    match refused {
        MapError::Sys { error, .. } => assert_eq!(error.errno, libc::EPERM),
        other => panic!("expected EPERM, got {other:?}"),
    }
    // .bss: zeroes until a program writes.
    assert_eq!(object.global::<u64>("pending_dropped").unwrap(), 0);
}

#[test]
fn maps_pinned_by_name_are_created_once_and_reused() {
    let fs = Bpffs::new("pin_root");
    let dir = fs.0.clone();
    let mut spec = spec();
    let counts = spec.map_index("counts").unwrap();
    // As `__uint(pinning, LIBBPF_PIN_BY_NAME)` would declare it.
    spec.maps[counts].pinning = 1;
    let kernel = ebpf_loader::btf::kernel::load().expect("kernel BTF");
    let options = LoadOptions {
        programs: vec!["inet_sock_set_state".into()],
        target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
        pin_root: Some(dir.clone()),
        ..LoadOptions::default()
    };
    let first = Object::load(&spec, &options).unwrap();
    let id = first.map("counts").unwrap().info().unwrap().id;
    assert!(dir.join("counts").exists(), "pinned at PIN_ROOT/NAME");
    drop(first);
    // Loaded again: the pinned map, not a new one.
    let second = Object::load(&spec, &options).unwrap();
    assert_eq!(second.map("counts").unwrap().info().unwrap().id, id);
    // The unpinned maps are new ones each time.
    drop(second);
}

#[test]
fn a_map_given_by_its_pin_replaces_the_objects_own() {
    let spec = spec();
    let kernel = ebpf_loader::btf::kernel::load().expect("kernel BTF");
    let fs = Bpffs::new("pinned");
    let dir = fs.0.clone();
    // Someone else's map, of the object's `counts` definition, pinned.
    let counts_spec = &spec.maps[spec.map_index("counts").unwrap()];
    let theirs = ebpf_loader::load::Map::create(counts_spec).unwrap();
    theirs.pin(&dir.join("theirs")).unwrap();
    let options = LoadOptions {
        programs: vec!["inet_sock_set_state".into()],
        target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
        pinned_maps: vec![("counts".into(), dir.join("theirs"))],
        ..LoadOptions::default()
    };
    let object = Object::load(&spec, &options).unwrap();
    assert_eq!(
        object.map("counts").unwrap().info().unwrap().id,
        theirs.info().unwrap().id
    );
    drop(object);
}

/// `TargetBtf::Off` is the one decision: an object with externs (features.bpf.o's
/// `__kconfig` and `__ksym`) is refused before any system call, instead of fetching the
/// kernel's BTF behind the option's back.
#[test]
fn target_btf_off_refuses_an_object_that_needs_the_kernels_btf() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/features.bpf.o"
    ))
    .unwrap();
    let spec = ObjectSpec::parse(&bytes).unwrap();
    assert!(!spec.externs.is_empty());
    let error = Object::load(
        &spec,
        &LoadOptions {
            target_btf: ebpf_loader::load::TargetBtf::Off,
            ..LoadOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(error, LoadError::NoKernelBtf), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the object has externs or BTF-typed programs, which need the kernel's BTF, but the \
         load's target BTF is TargetBtf::Off"
    );
}
