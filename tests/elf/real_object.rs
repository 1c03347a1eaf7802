//! The project's own object, bpf/main.bpf.o: every map, program, relocation site and
//! relocated instruction checked against what clang wrote (see llvm-objdump -dr).

use ebpf_loader::btf::Kind;
use ebpf_loader::elf::{
    AttachTarget, MapKind, ObjectSpec, RelocError, RelocationKind, SectionKind,
};
use ebpf_loader::insn::disasm::disassemble;
use ebpf_loader::insn::{Insn, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};
use ebpf_loader::uapi::{ProgramType, BPF_F_RDONLY_PROG};

pub const OBJECT: &[u8] = include_bytes!("../../bpf/main.bpf.o");

fn spec() -> ObjectSpec {
    ObjectSpec::parse_named(OBJECT, "main").expect("bpf/main.bpf.o parses")
}

/// Placeholder fds, as `inspect` uses: 10 + map index.
const FDS: [i32; 8] = [10, 11, 12, 13, 14, 15, 16, 17];

#[test]
fn license_and_sections() {
    let spec = spec();
    assert_eq!(spec.license, "GPL");
    assert_eq!(spec.kernel_version, None);
    let kinds: Vec<(&str, &SectionKind, u64)> = spec
        .sections
        .iter()
        .map(|s| (s.name.as_str(), &s.kind, s.size))
        .collect();
    assert_eq!(kinds.len(), 18);
    assert_eq!(kinds[2], (".text", &SectionKind::Subprograms, 0x2b0));
    assert_eq!(
        kinds[4],
        ("kprobe/tcp_connect", &SectionKind::Program, 0x8a0)
    );
    assert_eq!(
        kinds[6],
        (
            "tracepoint/sock/inet_sock_set_state",
            &SectionKind::Program,
            0x8d8
        )
    );
    assert_eq!(
        kinds[8],
        (
            "tracepoint/tcp/tcp_retransmit_skb",
            &SectionKind::Program,
            0x4d0
        )
    );
    assert_eq!(
        kinds[10],
        (".rodata", &SectionKind::GlobalData(MapKind::Rodata), 0x94)
    );
    assert_eq!(
        kinds[11],
        (".bss", &SectionKind::GlobalData(MapKind::Bss), 8)
    );
    assert_eq!(kinds[12], (".maps", &SectionKind::Maps, 0xb8));
    assert_eq!(kinds[13], ("license", &SectionKind::License, 4));
    assert_eq!(
        kinds[5].1,
        &SectionKind::Relocations {
            target: "kprobe/tcp_connect".into()
        }
    );
}

#[test]
fn maps_have_every_attribute() {
    let spec = spec();
    let btf = spec.btf.as_ref().expect("the object has BTF");
    let type_name = |id| btf.type_name(id).unwrap().to_string();
    let summary: Vec<_> = spec
        .maps
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.map_type.0,
                m.key_size,
                m.value_size,
                m.max_entries,
                m.map_flags,
                m.kind,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("pending", 1, 8, 48, 8192, 0, MapKind::Btf),
            ("events", 4, 4, 4, 0, 0, MapKind::Btf),
            ("cgroup_filter", 8, 4, 4, 1, 0, MapKind::Btf),
            ("cgroupset", 1, 8, 8, 1024, 0, MapKind::Btf),
            ("mount_ns_set", 1, 8, 4, 1024, 0, MapKind::Btf),
            ("counts", 1, 36, 8, 8192, 0, MapKind::Btf),
            (
                "main.rodata",
                2,
                4,
                0x94,
                1,
                BPF_F_RDONLY_PROG,
                MapKind::Rodata
            ),
            ("main.bss", 2, 4, 8, 1, 0, MapKind::Bss),
        ]
    );
    // BTF types of keys and values, by name.
    assert_eq!(type_name(spec.maps[0].btf_key_type_id), "u64");
    assert_eq!(type_name(spec.maps[0].btf_value_type_id), "pending_connect");
    assert_eq!(
        (spec.maps[1].btf_key_type_id, spec.maps[1].btf_value_type_id),
        (0, 0)
    );
    assert_eq!(type_name(spec.maps[2].btf_key_type_id), "u32");
    assert_eq!(type_name(spec.maps[3].btf_key_type_id), "u64");
    assert_eq!(type_name(spec.maps[4].btf_value_type_id), "u32");
    assert_eq!(type_name(spec.maps[5].btf_key_type_id), "flow_key");
    assert_eq!(type_name(spec.maps[5].btf_value_type_id), "u64");
    let rodata = &spec.maps[6];
    assert_eq!(rodata.btf_key_type_id, 0);
    assert_eq!(
        btf.kind(rodata.btf_value_type_id).unwrap(),
        Kind::Datasec,
        "global data maps carry their DATASEC"
    );
    assert_eq!(type_name(rodata.btf_value_type_id), ".rodata");
    assert_eq!(type_name(spec.maps[7].btf_value_type_id), ".bss");
    // .rodata's initial bytes: filter_uid = (u32)-1 at offset 4, everything else 0.
    let mut want = vec![0u8; 0x94];
    want[4..8].copy_from_slice(&[0xff; 4]);
    assert_eq!(rodata.initial, want);
    assert_eq!(spec.maps[7].initial, vec![0; 8]);
    assert!(spec.maps[..6].iter().all(|m| m.initial.is_empty()));
}

#[test]
fn datasecs_are_fixed_up() {
    let spec = spec();
    let btf = spec.btf.as_ref().unwrap();
    let id = btf.find_by_name_kind(".rodata", Kind::Datasec).unwrap();
    let ebpf_loader::btf::TypeBody::Datasec { size, vars } = btf.type_by_id(id).unwrap().body
    else {
        panic!("not a DATASEC")
    };
    assert_eq!(size, 0x94);
    let offsets: Vec<(String, u32, u32)> = vars
        .iter()
        .map(|v| {
            (
                btf.type_name(v.type_id).unwrap().to_string(),
                v.offset,
                v.size,
            )
        })
        .collect();
    assert_eq!(
        offsets,
        vec![
            ("filter_pid".to_string(), 0, 4),
            ("filter_uid".to_string(), 4, 4),
            ("filter_family".to_string(), 8, 1),
            ("filter_ports_len".to_string(), 12, 4),
            ("filter_ports".to_string(), 16, 128),
            ("count_mode".to_string(), 0x90, 1),
            ("filter_cgroup".to_string(), 0x91, 1),
            ("filter_cgroupmap".to_string(), 0x92, 1),
            ("filter_mntnsmap".to_string(), 0x93, 1),
        ]
    );
}

#[test]
fn programs_and_subprograms() {
    let spec = spec();
    let programs: Vec<_> = spec
        .programs
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.section.as_str(),
                p.prog_type,
                p.attach.clone(),
                p.insns.len(),
            )
        })
        .collect();
    assert_eq!(
        programs,
        vec![
            (
                "tcp_connect",
                "kprobe/tcp_connect",
                ProgramType::Kprobe,
                AttachTarget::Kprobe {
                    function: "tcp_connect".into(),
                    offset: 0,
                    retprobe: false
                },
                276
            ),
            (
                "inet_sock_set_state",
                "tracepoint/sock/inet_sock_set_state",
                ProgramType::Tracepoint,
                AttachTarget::Tracepoint {
                    category: "sock".into(),
                    name: "inet_sock_set_state".into()
                },
                283
            ),
            (
                "tcp_retransmit_skb",
                "tracepoint/tcp/tcp_retransmit_skb",
                ProgramType::Tracepoint,
                AttachTarget::Tracepoint {
                    category: "tcp".into(),
                    name: "tcp_retransmit_skb".into()
                },
                154
            ),
        ]
    );
    assert_eq!(spec.subprograms.len(), 1);
    assert_eq!(spec.subprograms[0].name, "emit");
    assert_eq!(spec.subprograms[0].section, ".text");
    assert_eq!(spec.subprograms[0].insns.len(), 86);
    // .BTF.ext records, split per function.
    let counts: Vec<_> = spec
        .programs
        .iter()
        .chain(&spec.subprograms)
        .map(|p| (p.func_info.len(), p.line_info.len(), p.core_relos.len()))
        .collect();
    assert_eq!(
        counts,
        vec![(1, 106, 25), (1, 132, 26), (1, 62, 17), (1, 31, 0)]
    );
    assert!(spec
        .programs
        .iter()
        .chain(&spec.subprograms)
        .all(|p| p.func_info[0].insn_off == 0 && p.line_info[0].insn_off == 0));
}

/// Slot counts and text per section, against llvm-objdump -d (tests/data).
#[test]
fn disassembly_agrees_with_llvm_objdump() {
    let spec = spec();
    let dump = include_str!("../data/main.bpf.objdump.txt");
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in dump.lines() {
        if let Some(name) = line
            .strip_prefix("Disassembly of section ")
            .and_then(|l| l.strip_suffix(':'))
        {
            sections.push((name.to_string(), Vec::new()));
        } else if let Some((index, text)) = line.trim_start().split_once(":\t") {
            if index.chars().all(|c| c.is_ascii_digit()) {
                // Drop llvm's jump labels (` <LBB0_2>`).
                let text = match text.rfind(" <") {
                    Some(at) if text.ends_with('>') => &text[..at],
                    _ => text,
                };
                sections
                    .last_mut()
                    .unwrap()
                    .1
                    .push(format!("{index}: {text}"));
            }
        }
    }
    assert_eq!(sections.len(), 4);
    for (name, want) in &sections {
        let function = spec
            .programs
            .iter()
            .chain(&spec.subprograms)
            .find(|p| &p.section == name)
            .unwrap();
        let got: Vec<String> = disassemble(&function.insns)
            .into_iter()
            .map(|(i, text)| {
                // llvm-objdump prints helper calls by number and pseudo calls as `call -1`.
                let text = match text.strip_prefix("call ") {
                    Some(rest) if rest.starts_with("pc") => format!("call {}", &rest[2..]),
                    Some(rest) => format!("call {}", rest.rsplit('#').next().unwrap()),
                    None => text,
                };
                format!("{i}: {text}")
            })
            .collect();
        assert_eq!(&got, want, "section {name}");
    }
    // The last slot of each section, as llvm-objdump numbers it: counts agree.
    let last: Vec<usize> = sections
        .iter()
        .map(|(_, lines)| {
            lines
                .last()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(last, vec![85, 275, 282, 153]);
}

#[test]
fn relocation_sites() {
    let spec = spec();
    let sites = |p: &ebpf_loader::elf::ProgramSpec| -> Vec<(usize, String, RelocationKind)> {
        p.relocations
            .iter()
            .map(|r| (r.insn, r.symbol.clone(), r.kind))
            .collect()
    };
    use RelocationKind::{Call, Map, MapValue};
    let s = |x: &str| x.to_string();
    assert_eq!(
        sites(&spec.programs[0]),
        vec![
            (19, s("filter_pid"), MapValue { map: 6, offset: 0 }),
            (27, s("filter_uid"), MapValue { map: 6, offset: 4 }),
            (
                38,
                s("filter_cgroup"),
                MapValue {
                    map: 6,
                    offset: 145
                }
            ),
            (43, s("cgroup_filter"), Map { map: 2 }),
            (
                48,
                s("filter_cgroupmap"),
                MapValue {
                    map: 6,
                    offset: 146
                }
            ),
            (56, s("cgroupset"), Map { map: 3 }),
            (
                61,
                s("filter_mntnsmap"),
                MapValue {
                    map: 6,
                    offset: 147
                }
            ),
            (91, s("mount_ns_set"), Map { map: 4 }),
            (119, s("filter_family"), MapValue { map: 6, offset: 8 }),
            (272, s(".text"), Call { callee: 0 }),
        ]
    );
    assert_eq!(
        sites(&spec.programs[1]),
        vec![
            (23, s("filter_family"), MapValue { map: 6, offset: 8 }),
            (44, s("filter_pid"), MapValue { map: 6, offset: 0 }),
            (51, s("filter_uid"), MapValue { map: 6, offset: 4 }),
            (
                61,
                s("filter_cgroup"),
                MapValue {
                    map: 6,
                    offset: 145
                }
            ),
            (65, s("cgroup_filter"), Map { map: 2 }),
            (
                70,
                s("filter_cgroupmap"),
                MapValue {
                    map: 6,
                    offset: 146
                }
            ),
            (78, s("cgroupset"), Map { map: 3 }),
            (
                82,
                s("filter_mntnsmap"),
                MapValue {
                    map: 6,
                    offset: 147
                }
            ),
            (112, s("mount_ns_set"), Map { map: 4 }),
            (188, s("pending"), Map { map: 0 }),
            (195, s("pending_dropped"), MapValue { map: 7, offset: 0 }),
            (205, s("pending"), Map { map: 0 }),
            (231, s("pending"), Map { map: 0 }),
            (280, s(".text"), Call { callee: 0 }),
        ]
    );
    assert_eq!(
        sites(&spec.programs[2]),
        vec![
            (21, s("pending"), Map { map: 0 }),
            (72, s("pending"), Map { map: 0 }),
            (150, s(".text"), Call { callee: 0 }),
        ]
    );
    assert_eq!(
        sites(&spec.subprograms[0]),
        vec![
            (1, s("filter_ports_len"), MapValue { map: 6, offset: 12 }),
            (6, s("filter_ports"), MapValue { map: 6, offset: 16 }),
            (
                18,
                s("count_mode"),
                MapValue {
                    map: 6,
                    offset: 0x90
                }
            ),
            (40, s("events"), Map { map: 1 }),
            (69, s("counts"), Map { map: 5 }),
            (80, s("counts"), Map { map: 5 }),
        ]
    );
}

fn ld(dst: u8, src: u8, imm: i32, second_imm: i32) -> [Insn; 2] {
    [
        Insn {
            code: 0x18,
            dst_reg: dst,
            src_reg: src,
            off: 0,
            imm,
        },
        Insn {
            imm: second_imm,
            ..Insn::default()
        },
    ]
}

#[test]
fn tcp_connect_after_relocation() {
    let spec = spec();
    let program = spec.relocate("tcp_connect", &FDS, None).unwrap();
    assert_eq!(program.insns.len(), 276 + 86);
    assert_eq!(
        program.layout,
        vec![("tcp_connect".to_string(), 0), ("emit".to_string(), 276)]
    );
    // filter_pid: .rodata (fd 16) at offset 0; filter_uid at 4; filter_family at 8; the
    // container filters' maps by fd: cgroup_filter 12, cgroupset 13, mount_ns_set 14.
    assert_eq!(program.insns[19..21], ld(1, BPF_PSEUDO_MAP_VALUE, 16, 0));
    assert_eq!(program.insns[27..29], ld(1, BPF_PSEUDO_MAP_VALUE, 16, 4));
    assert_eq!(program.insns[43..45], ld(1, BPF_PSEUDO_MAP_FD, 12, 0));
    assert_eq!(program.insns[56..58], ld(1, BPF_PSEUDO_MAP_FD, 13, 0));
    assert_eq!(program.insns[91..93], ld(1, BPF_PSEUDO_MAP_FD, 14, 0));
    assert_eq!(program.insns[119..121], ld(2, BPF_PSEUDO_MAP_VALUE, 16, 8));
    // The call of emit: 276 - 272 - 1.
    assert_eq!(
        program.insns[272],
        Insn {
            code: 0x85,
            dst_reg: 0,
            src_reg: BPF_PSEUDO_CALL,
            off: 0,
            imm: 3
        }
    );
    // emit's own references, now at 276 + their slot in .text.
    assert_eq!(program.insns[277..279], ld(2, BPF_PSEUDO_MAP_VALUE, 16, 12));
    assert_eq!(program.insns[282..284], ld(3, BPF_PSEUDO_MAP_VALUE, 16, 16));
    assert_eq!(
        program.insns[294..296],
        ld(2, BPF_PSEUDO_MAP_VALUE, 16, 0x90)
    );
    assert_eq!(program.insns[316..318], ld(2, BPF_PSEUDO_MAP_FD, 11, 0));
    assert_eq!(program.insns[345..347], ld(1, BPF_PSEUDO_MAP_FD, 15, 0));
    assert_eq!(program.insns[356..358], ld(1, BPF_PSEUDO_MAP_FD, 15, 0));
    // Nothing else changed: the program's slots outside the sites are as compiled.
    let sites = [
        19, 20, 27, 28, 38, 39, 43, 44, 48, 49, 56, 57, 61, 62, 91, 92, 119, 120, 272,
    ];
    for (i, (before, after)) in spec.programs[0]
        .insns
        .iter()
        .zip(&program.insns)
        .enumerate()
    {
        if !sites.contains(&i) {
            assert_eq!(before, after, "slot {i}");
        }
    }

    let applied: Vec<_> = program
        .applied
        .iter()
        .map(|a| {
            (
                a.insn,
                a.section_insn,
                a.function.as_str(),
                a.target.as_str(),
            )
        })
        .collect();
    assert_eq!(
        applied,
        vec![
            (19, 19, "tcp_connect", "main.rodata"),
            (27, 27, "tcp_connect", "main.rodata"),
            (38, 38, "tcp_connect", "main.rodata"),
            (43, 43, "tcp_connect", "cgroup_filter"),
            (48, 48, "tcp_connect", "main.rodata"),
            (56, 56, "tcp_connect", "cgroupset"),
            (61, 61, "tcp_connect", "main.rodata"),
            (91, 91, "tcp_connect", "mount_ns_set"),
            (119, 119, "tcp_connect", "main.rodata"),
            (272, 272, "tcp_connect", "emit"),
            (277, 1, "emit", "main.rodata"),
            (282, 6, "emit", "main.rodata"),
            (294, 18, "emit", "main.rodata"),
            (316, 40, "emit", "events"),
            (345, 69, "emit", "counts"),
            (356, 80, "emit", "counts"),
        ]
    );
    let call = &program.applied[9];
    assert_eq!(call.before[0].imm, -1);
    assert_eq!(call.after, vec![program.insns[272]]);
    assert_eq!(program.applied[0].before, ld(1, 0, 0, 0).to_vec());

    // func_info and line_info in instructions, shifted for emit.
    let btf = spec.btf.as_ref().unwrap();
    let funcs: Vec<(u32, &str)> = program
        .func_info
        .iter()
        .map(|f| (f.insn_off, btf.type_name(f.type_id).unwrap()))
        .collect();
    assert_eq!(funcs, vec![(0, "tcp_connect"), (276, "emit")]);
    assert_eq!(program.line_info.len(), 106 + 31);
    assert_eq!(program.line_info[0].insn_off, 0);
    assert_eq!(program.line_info[106].insn_off, 276);
    assert!(program
        .line_info
        .windows(2)
        .all(|w| w[0].insn_off < w[1].insn_off));
    assert!(program.line_info.iter().all(|l| l.insn_off < 362));
    assert!(program.core.is_empty(), "no CO-RE without a target BTF");
}

#[test]
fn inet_sock_set_state_after_relocation() {
    let spec = spec();
    let program = spec.relocate("inet_sock_set_state", &FDS, None).unwrap();
    assert_eq!(program.insns.len(), 283 + 86);
    assert_eq!(program.insns[188..190], ld(1, BPF_PSEUDO_MAP_FD, 10, 0));
    assert_eq!(program.insns[195..197], ld(2, BPF_PSEUDO_MAP_VALUE, 17, 0));
    assert_eq!(program.insns[280].imm, 283 - 280 - 1);
    assert_eq!(
        program.insns[283 + 40..283 + 42],
        ld(2, BPF_PSEUDO_MAP_FD, 11, 0)
    );
    let funcs: Vec<u32> = program.func_info.iter().map(|f| f.insn_off).collect();
    assert_eq!(funcs, vec![0, 283]);
}

#[test]
fn relocate_refuses_wrong_arguments() {
    let spec = spec();
    assert_eq!(
        spec.relocate("nope", &FDS, None).unwrap_err(),
        RelocError::NoSuchProgram {
            name: "nope".into()
        }
    );
    assert_eq!(
        spec.relocate("tcp_connect", &FDS[..2], None).unwrap_err(),
        RelocError::MapFdCount {
            expected: 8,
            got: 2
        }
    );
    assert_eq!(
        spec.relocate("tcp_connect", &FDS[..2], None)
            .unwrap_err()
            .to_string(),
        "2 map fds given for the object's 8 maps"
    );
}

#[test]
fn relocate_checks_each_site_of_a_changed_spec() {
    let mut spec = spec();
    // Someone replaced the ld_imm64 of filter_pid by a plain move.
    spec.programs[0].insns[19] = Insn {
        code: 0xb7,
        dst_reg: 1,
        ..Insn::default()
    };
    let error = spec.relocate("tcp_connect", &FDS, None).unwrap_err();
    assert_eq!(
        crate::chain(&error),
        "program tcp_connect: function tcp_connect (section kprobe/tcp_connect) instruction \
         19, symbol filter_pid: opcode 0xb7 is not ld_imm64 (0x18)"
    );
    let mut spec = self::spec();
    spec.subprograms[0].insns[40].code = 0x18;
    spec.subprograms[0].insns.truncate(41);
    let error = spec.relocate("tcp_connect", &FDS, None).unwrap_err();
    assert_eq!(
        crate::chain(&error),
        "program tcp_connect: function emit (section .text) instruction 40, symbol events: \
         ld_imm64 has no second slot before the function ends"
    );
    let mut spec = self::spec();
    spec.programs[0].insns[272].src_reg = 0;
    let error = spec.relocate("tcp_connect", &FDS, None).unwrap_err();
    assert_eq!(
        crate::chain(&error),
        "program tcp_connect: function tcp_connect (section kprobe/tcp_connect) instruction \
         272, symbol .text: opcode 0x85 src_reg 0 is not a bpf-to-bpf call (0x85, src_reg 1)"
    );
}

#[test]
fn object_without_a_name_names_global_data_by_section() {
    let spec = ObjectSpec::parse(OBJECT).unwrap();
    let names: Vec<&str> = spec.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pending",
            "events",
            "cgroup_filter",
            "cgroupset",
            "mount_ns_set",
            "counts",
            ".rodata",
            ".bss"
        ]
    );
}

#[test]
fn co_re_against_the_objects_own_btf_changes_nothing() {
    // The object's own types as the "kernel": every record resolves to the value clang
    // already wrote, so the program is the same as without CO-RE.
    let spec = spec();
    let own = spec.btf.clone().unwrap();
    let with = spec.relocate("tcp_connect", &FDS, Some(&own)).unwrap();
    let without = spec.relocate("tcp_connect", &FDS, None).unwrap();
    assert_eq!(with.insns, without.insns);
    assert_eq!(with.core.len(), 25);
    assert!(with
        .core
        .iter()
        .all(|f| !f.poisoned && f.target_value == Some(f.local_value) && f.before == f.after));
    let family = with
        .core
        .iter()
        .find(|f| f.local_access == "struct sock.__sk_common.skc_family")
        .expect("the skc_family read is a CO-RE record");
    assert_eq!((family.insn_index, family.local_value), (106, 12));
}

#[test]
fn co_re_against_the_running_kernel() {
    // Needs /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF); the kernel's offsets are
    // whatever this kernel has, so the test checks what must hold on any kernel.
    let Ok(kernel) = ebpf_loader::btf::kernel::load() else {
        eprintln!("no kernel BTF here: skipped");
        return;
    };
    let spec = spec();
    for name in ["tcp_connect", "inet_sock_set_state"] {
        let program = spec.relocate(name, &FDS, Some(&kernel)).unwrap();
        let records: usize = std::iter::once(spec.program(name).unwrap())
            .chain(&spec.subprograms)
            .map(|p| p.core_relos.len())
            .sum();
        assert_eq!(program.core.len(), records, "{name}");
        for fixup in &program.core {
            // A field of struct sock or of the tracepoint exists in every kernel with BTF.
            if fixup.local_access.starts_with("struct sock.")
                || fixup
                    .local_access
                    .starts_with("struct trace_event_raw_inet_sock_set_state")
            {
                assert!(!fixup.poisoned, "{name}: {}", fixup.local_access);
            }
            let slot = fixup.insn_index;
            assert_eq!(program.insns[slot], fixup.after[0], "{name} slot {slot}");
        }
    }
}
