//! CO-RE through the whole loader, against this host's kernel: a field the kernel lacks
//! reads as a sentence, and a field guarded by `bpf_core_field_exists` is simply skipped.
//! Needs root (programs are loaded, not attached).

use ebpf_loader::btf::Btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, LoadOptions, Object};

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
            target_btf: Some(&target),
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
            target_btf: Some(&target),
            ..LoadOptions::default()
        },
    )
    .expect("loads without loginuid");
    let program = object.program("inet_sock_set_state").unwrap();
    let exists: Vec<_> = program
        .relocated
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
