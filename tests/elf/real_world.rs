//! The real-world corpus (`../shared/corpus`, see its README): 58 libbpf-tools and 15
//! libbpf-bootstrap objects, compiled from their public sources. Every object parses and
//! every program relocates against this host's kernel BTF, as libbpf prepares them.
//! Skipped, with a message, when the corpus folder is absent.

use std::path::{Path, PathBuf};

use ebpf_loader::btf::ext::CoreReloKind;
use ebpf_loader::btf::{Btf, Kind, TypeBody};
use ebpf_loader::elf::{
    object_name_from_path, ExternKind, KconfigInput, KconfigType, KsymKind, KsymValue, MapKind,
    ObjectSpec, RelocationKind,
};
use ebpf_loader::insn::BPF_PSEUDO_MAP_VALUE;
use ebpf_loader::uapi::BPF_F_RDONLY_PROG;

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
    let host = KconfigInput::from_host();
    let (mut parsed, mut relocated, mut programs) = (0, 0, 0);
    let mut failures = Vec::new();
    for path in &objects {
        let bytes = std::fs::read(path).expect("a readable corpus object");
        let display = path.display().to_string();
        let name = object_name_from_path(&display);
        let mut spec = match ObjectSpec::parse_named(&bytes, name) {
            Ok(spec) => spec,
            Err(error) => {
                failures.push(format!("{}: {}", path.display(), chain(&error)));
                continue;
            }
        };
        parsed += 1;
        // What the load step does before relocating: .kconfig values, .ksyms ids.
        let prepared = match kernel {
            Some(kernel) => spec.prepare_externs(kernel, &host),
            None => spec.fill_kconfig(&host),
        };
        if let Err(error) = prepared {
            failures.push(format!("{}: {}", path.display(), chain(&error)));
        }
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

fn corpus_spec(relative: &str) -> Option<ObjectSpec> {
    let objects = corpus_objects()?;
    let path = objects.iter().find(|p| p.ends_with(relative))?;
    let display = path.display().to_string();
    let bytes = std::fs::read(path).expect("a readable corpus object");
    Some(ObjectSpec::parse_named(&bytes, object_name_from_path(&display)).unwrap())
}

/// biosnoop reads `LINUX_KERNEL_VERSION` (a strong `__kconfig` u32): a `.kconfig` map
/// of 4 bytes, read-only for programs, and an `ld_imm64` of its value.
#[test]
fn kconfig_extern_becomes_a_map_value() {
    let Some(spec) = corpus_spec("libbpf-tools/biosnoop.bpf.o") else {
        return;
    };
    assert_eq!(spec.externs.len(), 1);
    let ext = &spec.externs[0];
    assert_eq!(ext.name, "LINUX_KERNEL_VERSION");
    assert!(!ext.weak);
    assert_eq!(
        ext.kind,
        ExternKind::Kconfig {
            ty: KconfigType::Int { signed: false },
            offset: 0,
            size: 4,
            align: 4
        }
    );
    let index = spec.map_index("biosnoo.kconfig").expect("the .kconfig map");
    assert_eq!(index, spec.maps.len() - 1);
    let map = &spec.maps[index];
    assert_eq!(map.kind, MapKind::Kconfig);
    assert_eq!((map.key_size, map.value_size, map.max_entries), (4, 4, 1));
    assert_eq!(map.map_flags, BPF_F_RDONLY_PROG);
    // The BTF now describes the map's value: a DATASEC of 4 bytes, the VAR allocated.
    let btf = spec.btf.as_ref().unwrap();
    let datasec = btf.type_by_id(map.btf_value_type_id).unwrap();
    assert_eq!(datasec.name, ".kconfig");
    let TypeBody::Datasec { size, vars } = datasec.body else {
        panic!("not a DATASEC")
    };
    assert_eq!(
        (size, vars.len(), vars[0].offset, vars[0].size),
        (4, 1, 0, 4)
    );
    assert!(matches!(
        btf.type_by_id(vars[0].type_id).unwrap().body,
        TypeBody::Var { linkage: 1, .. }
    ));
    // Filled as libbpf fills it: KERNEL_VERSION of this host's release.
    let mut spec = spec;
    let host = KconfigInput::from_host();
    spec.fill_kconfig(&host).unwrap();
    let version = ebpf_loader::elf::kernel_version_code(&host.release).unwrap();
    assert_eq!(spec.maps[index].initial, version.to_le_bytes());
    let fds: Vec<i32> = (0..spec.maps.len() as i32).map(|i| 10 + i).collect();
    let program = spec
        .programs
        .iter()
        .find(|p| {
            p.relocations
                .iter()
                .any(|r| r.kind == RelocationKind::Extern { index: 0 })
        })
        .unwrap();
    let linked = spec.relocate(&program.name, &fds, None).unwrap();
    let site = linked
        .applied
        .iter()
        .find(|a| a.kind == RelocationKind::Extern { index: 0 })
        .unwrap();
    assert_eq!(site.target, "LINUX_KERNEL_VERSION");
    let (first, second) = (site.after[0], site.after[1]);
    assert_eq!(
        (first.src_reg, first.imm, second.imm),
        (BPF_PSEUDO_MAP_VALUE, fds[index], 0)
    );
}

/// sigsnoop tests two `__weak` kfuncs with `bpf_ksym_exists()` and calls them. Unresolved,
/// the test reads 0 and each call is a kfunc call of BTF id 0 and `off` 0, as libbpf 1.1
/// (the differential reference) writes it: the same instructions, so the kernel's tag of
/// the program is libbpf's on kernels without the kfuncs (5.10, 6.1); resolved (here by
/// hand, as the load step does from the kernel's BTF), they are `BPF_PSEUDO_BTF_ID` and
/// `BPF_PSEUDO_KFUNC_CALL` of the kernel's ids.
#[test]
fn weak_kfuncs_are_zero_unresolved_and_btf_ids_resolved() {
    let Some(mut spec) = corpus_spec("libbpf-tools/sigsnoop.bpf.o") else {
        return;
    };
    let names: Vec<String> = spec.externs.iter().map(|e| e.name.clone()).collect();
    assert_eq!(names, ["bpf_task_from_pid", "bpf_task_release"]);
    assert!(spec
        .externs
        .iter()
        .all(|e| e.weak && matches!(e.kind, ExternKind::Ksym(KsymKind::Func { .. }))));
    // .ksyms in BTF: two 4-byte slots, each a VAR, so that the kernel accepts it.
    let btf = spec.btf.as_ref().unwrap();
    let id = btf.find_by_name_kind(".ksyms", Kind::Datasec).unwrap();
    let TypeBody::Datasec { size, vars } = btf.type_by_id(id).unwrap().body else {
        panic!("not a DATASEC")
    };
    assert_eq!(size, 8);
    for (i, v) in vars.iter().enumerate() {
        assert_eq!((v.offset, v.size), (4 * i as u32, 4));
        let var = btf.type_by_id(v.type_id).unwrap();
        assert_eq!(var.name, names[i]);
        assert!(matches!(var.body, TypeBody::Var { linkage: 1, .. }));
    }
    let fds: Vec<i32> = (0..spec.maps.len() as i32).collect();
    let program = spec
        .programs
        .iter()
        .find(|p| {
            p.relocations
                .iter()
                .any(|r| matches!(r.kind, RelocationKind::Extern { .. }))
        })
        .unwrap()
        .name
        .clone();
    let sites = |spec: &ObjectSpec| {
        let linked = spec.relocate(&program, &fds, None).unwrap();
        linked
            .applied
            .into_iter()
            .filter(|a| matches!(a.kind, RelocationKind::Extern { .. }))
            .map(|a| (a.target, a.after))
            .collect::<Vec<_>>()
    };
    let unresolved = sites(&spec);
    assert!(!unresolved.is_empty());
    for (name, after) in &unresolved {
        assert!(names.contains(name));
        if after[0].is_ld_imm64() {
            assert_eq!((after[0].src_reg, after[0].imm, after[1].imm), (0, 0, 0));
        } else {
            assert_eq!(
                (after[0].code, after[0].src_reg, after[0].off, after[0].imm),
                (0x85, 2, 0, 0)
            );
        }
    }
    for (i, ext) in spec.externs.iter_mut().enumerate() {
        ext.value = Some(KsymValue::Btf {
            btf_id: 1000 + i as u32,
            btf_obj_fd: 0,
            fd_index: 0,
        });
    }
    for (name, after) in sites(&spec) {
        let id = 1000 + names.iter().position(|n| *n == name).unwrap() as i32;
        if after[0].is_ld_imm64() {
            assert_eq!((after[0].src_reg, after[0].imm, after[1].imm), (3, id, 0));
        } else {
            assert_eq!((after[0].src_reg, after[0].imm, after[0].off), (2, id, 0));
        }
    }
}

/// Against this host's kernel BTF (6.x has both kfuncs), sigsnoop's externs resolve to
/// the kernel's FUNC ids.
#[test]
fn sigsnoop_kfuncs_resolve_against_this_kernel() {
    let Some(mut spec) = corpus_spec("libbpf-tools/sigsnoop.bpf.o") else {
        return;
    };
    let Ok(kernel) = ebpf_loader::btf::kernel::load() else {
        eprintln!("SKIPPED: no kernel BTF");
        return;
    };
    spec.resolve_ksyms(&kernel, None).unwrap();
    for ext in &spec.externs {
        match ext.value {
            Some(KsymValue::Btf { btf_id, .. }) => {
                assert_eq!(kernel.type_name(btf_id).unwrap(), ext.name);
                assert_eq!(kernel.kind(btf_id).unwrap(), Kind::Func);
            }
            // A kernel without the kfunc: weak, so unresolved is allowed.
            None => assert!(ext.weak),
            other => panic!("{}: {other:?}", ext.name),
        }
    }
}

/// libbpf's usdt.bpf.h declares `bpf_usdt_arg` `__weak __hidden`: its BTF FUNC becomes
/// static, as libbpf makes it, so that the verifier checks it in its callers' context (as
/// a global function its `long *res` would be a possibly-NULL pointer, and refused).
#[test]
fn hidden_subprograms_get_static_btf_funcs() {
    let Some(spec) = corpus_spec("libbpf-bootstrap/usdt.bpf.o") else {
        return;
    };
    let btf = spec.btf.as_ref().unwrap();
    let id = btf.find_by_name_kind("bpf_usdt_arg", Kind::Func).unwrap();
    assert!(matches!(
        btf.type_by_id(id).unwrap().body,
        TypeBody::Func { linkage: 0, .. }
    ));
    // A global function that is not hidden keeps its linkage: the programs themselves.
    let id = btf
        .find_by_name_kind("usdt_auto_attach", Kind::Func)
        .unwrap();
    assert!(matches!(
        btf.type_by_id(id).unwrap().body,
        TypeBody::Func { linkage: 1, .. }
    ));
}
