//! The real-world corpus (`../shared/corpus`, see its README): 58 libbpf-tools and 15
//! libbpf-bootstrap objects, compiled from their public sources. Every object parses and
//! every program relocates against this host's kernel BTF, as libbpf prepares them.
//! Skipped, with a message, when the corpus folder is absent.

use std::path::{Path, PathBuf};

use ebpf_loader::btf::ext::CoreReloKind;
use ebpf_loader::btf::Btf;
use ebpf_loader::elf::{object_name_from_path, ObjectSpec};

use super::chain;

/// Every `.bpf.o` of the corpus, sorted; `None` when the folder is absent.
fn corpus_objects() -> Option<Vec<PathBuf>> {
    // `../shared/corpus` from the project's root; from a worktree one level deeper, the
    // nearest ancestor's `shared/corpus`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(root) = manifest
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.is_dir())
    else {
        eprintln!(
            "SKIPPED: no corpus at {}/../shared/corpus (the corpus lives beside the project)",
            manifest.display()
        );
        return None;
    };
    let mut objects = Vec::new();
    for folder in ["libbpf-tools", "libbpf-bootstrap"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.to_string_lossy().ends_with(".bpf.o") {
                objects.push(path);
            }
        }
    }
    objects.sort();
    Some(objects)
}

/// Parses every object and relocates every program: `(objects parsed, programs
/// relocated, programs in parsed objects, failures)`.
fn run(kernel: Option<&Btf>) -> Option<(usize, usize, usize, Vec<String>)> {
    let objects = corpus_objects()?;
    let (mut parsed, mut relocated, mut programs) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in &objects {
        let bytes = std::fs::read(path).expect("a readable corpus object");
        let display = path.display().to_string();
        let name = object_name_from_path(&display);
        let spec = match ObjectSpec::parse_named(&bytes, &name) {
            Ok(spec) => spec,
            Err(error) => {
                failures.push(format!("{}: {}", path.display(), chain(&error)));
                continue;
            }
        };
        parsed += 1;
        let fds: Vec<i32> = (0..spec.maps.len() as i32).map(|i| 100 + i).collect();
        for program in &spec.programs {
            programs += 1;
            match spec.relocate(&program.name, &fds, kernel) {
                Ok(_) => relocated += 1,
                Err(error) => failures.push(format!(
                    "{} {}: {}",
                    path.display(),
                    program.name,
                    chain(&error)
                )),
            }
        }
    }
    Some((parsed, relocated, programs, failures))
}

#[test]
fn every_object_parses_and_every_program_relocates() {
    let kernel = match ebpf_loader::btf::kernel::load() {
        Ok(btf) => Some(btf),
        Err(error) => {
            eprintln!("no kernel BTF ({error}): relocating without CO-RE");
            None
        }
    };
    let Some((parsed, relocated, programs, failures)) = run(kernel.as_ref()) else {
        return;
    };
    for failure in &failures {
        eprintln!("{failure}");
    }
    eprintln!(
        "corpus: {parsed} of 73 objects parsed, {relocated} of {programs} programs relocated"
    );
    assert!(failures.is_empty(), "{} failures", failures.len());
    assert_eq!(parsed, 73);
    assert_eq!((relocated, programs), (395, 395));
}

/// bindsnoop's exit programs read `sock.__sk_common.skc_reuse` (a 4-bit bitfield) with
/// `BPF_CORE_READ_BITFIELD_PROBED`: clang's left shift (36) is not the one computed from
/// the smallest aligned load (60), and libbpf does not insist on it. Against this host's
/// kernel BTF (the object's own BTF is no target: it holds `inet_sock` and its flavor
/// `inet_sock___x`, an ambiguity by design).
#[test]
fn bindsnoop_bitfield_shift_is_not_validated() {
    let Some(objects) = corpus_objects() else {
        return;
    };
    let path = objects
        .iter()
        .find(|p| p.ends_with("libbpf-tools/bindsnoop.bpf.o"))
        .expect("bindsnoop in the corpus");
    let spec = ObjectSpec::parse_named(&std::fs::read(path).unwrap(), "bindsnoop").unwrap();
    let fds: Vec<i32> = (0..spec.maps.len() as i32).collect();
    let Ok(kernel) = ebpf_loader::btf::kernel::load() else {
        eprintln!("SKIPPED: no kernel BTF");
        return;
    };
    for program in ["ipv4_bind_exit", "ipv6_bind_exit"] {
        {
            let linked = spec.relocate(program, &fds, Some(&kernel)).unwrap();
            let start = linked
                .layout
                .iter()
                .find(|(name, _)| name == "probe_exit")
                .unwrap()
                .1;
            let shift = linked
                .core
                .iter()
                .find(|f| f.insn_index == start + 165)
                .unwrap();
            assert_eq!(shift.relo.kind, CoreReloKind::FieldLshiftU64);
            assert_eq!(shift.local_access, "struct sock.__sk_common.skc_reuse");
            assert_eq!(shift.before[0].imm, 36);
            assert_eq!(shift.local_value, 60);
            assert!(!shift.poisoned);
            let value = shift.target_value.unwrap();
            assert_eq!(shift.after[0].imm as u64, value);
        }
    }
}
