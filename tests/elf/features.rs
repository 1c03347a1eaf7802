//! tests/fixtures/features.bpf.o: one of each construct real objects use beyond
//! bpf/main.bpf.c (callbacks, `__array(values)`, `__ulong(map_extra)`, externs, custom
//! data sections, two programs in one section), read and relocated as libbpf would.

use std::collections::HashMap;

use ebpf_loader::elf::{
    ExternKind, KconfigType, KsymKind, KsymValue, MapKind, ObjectSpec, RelocationKind,
};
use ebpf_loader::insn::{BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_VALUE};
use ebpf_loader::uapi::MapType;

const OBJECT: &[u8] = include_bytes!("../fixtures/features.bpf.o");

fn spec() -> ObjectSpec {
    ObjectSpec::parse_named(OBJECT, "features").unwrap()
}

#[test]
fn map_in_map_and_prog_array_initial_values() {
    let spec = spec();
    let outer = &spec.maps[spec.map_index("outer").unwrap()];
    assert_eq!(outer.map_type, MapType(12));
    assert_eq!(
        (outer.key_size, outer.value_size, outer.max_entries),
        (4, 4, 3)
    );
    let inner = outer.inner.as_deref().expect("the inner map definition");
    assert_eq!(inner.name, "outer.inner");
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (MapType::ARRAY, 4, 8, 4)
    );
    assert_eq!(
        outer.init_slots,
        [(0, "inner_a".to_string()), (2, "inner_b".to_string())]
    );
    let jumps = &spec.maps[spec.map_index("jumps").unwrap()];
    assert_eq!(jumps.map_type, MapType(3));
    assert_eq!(jumps.value_size, 4);
    assert!(jumps.inner.is_none());
    assert_eq!(jumps.init_slots, [(1, "tail".to_string())]);
    let bloom = &spec.maps[spec.map_index("bloom").unwrap()];
    assert_eq!(bloom.map_extra, 3);
}

#[test]
fn data_sections_and_programs_sharing_a_section() {
    let spec = spec();
    let names: Vec<(&str, MapKind)> = spec
        .maps
        .iter()
        .filter(|m| m.kind != MapKind::Btf)
        .map(|m| (m.name.as_str(), m.kind))
        .collect();
    assert_eq!(
        names,
        [
            (".data.counters", MapKind::Data),
            (".rodata.str1.1", MapKind::Rodata),
            ("feature.kconfig", MapKind::Kconfig),
        ]
    );
    let in_section: Vec<&str> = spec
        .programs
        .iter()
        .filter(|p| p.section == "tracepoint/syscalls/sys_enter_getpid")
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(in_section, ["looper", "jumper"]);
}

#[test]
fn externs_in_libbpf_order() {
    let spec = spec();
    let externs: Vec<(&str, bool, ExternKind)> = spec
        .externs
        .iter()
        .map(|e| (e.name.as_str(), e.weak, e.kind))
        .collect();
    let kconfig = |ty, offset, size| ExternKind::Kconfig {
        ty,
        offset,
        size,
        align: size,
    };
    assert_eq!(
        externs,
        [
            (
                "CONFIG_HZ",
                true,
                kconfig(KconfigType::Int { signed: true }, 0, 4)
            ),
            (
                "LINUX_KERNEL_VERSION",
                false,
                kconfig(KconfigType::Int { signed: false }, 4, 4)
            ),
            ("CONFIG_BPF_SYSCALL", true, kconfig(KconfigType::Bool, 8, 1)),
            ("bpf_prog_fops", true, ExternKind::Ksym(KsymKind::Typeless)),
        ]
    );
    let map = &spec.maps[spec.map_index("feature.kconfig").unwrap()];
    assert_eq!(map.value_size, 9);
}

#[test]
fn callback_is_linked_like_a_callee() {
    let spec = spec();
    let fds: Vec<i32> = (0..spec.maps.len() as i32).map(|i| 20 + i).collect();
    let linked = spec.relocate("looper", &fds, None).unwrap();
    let step = linked
        .layout
        .iter()
        .find(|(name, _)| name == "step")
        .expect("the callback is linked in")
        .1;
    let site = linked
        .applied
        .iter()
        .find(|a| matches!(a.kind, RelocationKind::FuncAddr { .. }))
        .unwrap();
    assert_eq!(site.target, "step");
    let insn = linked.insns[site.insn];
    assert_eq!(insn.src_reg, BPF_PSEUDO_FUNC);
    assert_eq!(site.insn as i64 + i64::from(insn.imm) + 1, step as i64);
    // The kconfig values are read from the .kconfig map at each extern's offset.
    let kconfig = spec.map_index("feature.kconfig").unwrap();
    let offsets: Vec<(String, i32)> = linked
        .applied
        .iter()
        .filter(|a| matches!(a.kind, RelocationKind::Extern { .. }))
        .map(|a| {
            assert_eq!(
                (a.after[0].src_reg, a.after[0].imm),
                (BPF_PSEUDO_MAP_VALUE, fds[kconfig])
            );
            (a.target.clone(), a.after[1].imm)
        })
        .collect();
    assert_eq!(
        offsets,
        [
            ("CONFIG_BPF_SYSCALL".to_string(), 8),
            ("LINUX_KERNEL_VERSION".to_string(), 4),
            ("CONFIG_HZ".to_string(), 0),
        ]
    );
}

#[test]
fn typeless_ksym_takes_its_kallsyms_address() {
    let mut spec = spec();
    let fds: Vec<i32> = (0..spec.maps.len() as i32).collect();
    let site = |spec: &ObjectSpec| {
        let linked = spec.relocate("jumper", &fds, None).unwrap();
        let a = linked
            .applied
            .into_iter()
            .find(|a| a.target == "bpf_prog_fops")
            .unwrap();
        (
            a.after[0].src_reg,
            a.after[0].imm as u32,
            a.after[1].imm as u32,
        )
    };
    // Weak and unresolved: 0.
    assert_eq!(site(&spec), (0, 0, 0));
    let kallsyms: HashMap<String, u64> =
        [("bpf_prog_fops".to_string(), 0xffff_ffff_8260_1234)].into();
    let btf = spec.btf.clone().unwrap();
    spec.resolve_ksyms(&btf, Some(&kallsyms)).unwrap();
    let ext = spec
        .externs
        .iter()
        .find(|e| e.name == "bpf_prog_fops")
        .unwrap();
    assert_eq!(ext.value, Some(KsymValue::Address(0xffff_ffff_8260_1234)));
    assert_eq!(site(&spec), (0, 0x8260_1234, 0xffff_ffff));
}
