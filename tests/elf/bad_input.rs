//! Hand-made objects, each broken in one way, and the exact error each gives.

use ebpf_loader::btf::build::BtfBuilder;
use ebpf_loader::btf::BtfError;
use ebpf_loader::elf::{
    ExternError, ExternProblem, MapKind, MapProblem, ObjectSpec, ParseError, RelocProblem,
    RelocationKind, R_BPF_64_32, R_BPF_64_64,
};
use ebpf_loader::insn::{encode, Insn, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};
use ebpf_testkit::elf::*;

use super::real_object::OBJECT;

/// A valid object: `kprobe/f` holding `f` (r0 = 0; exit), license "GPL". Returns the
/// writer and the code section's index.
fn minimal(code: &[Insn]) -> (ElfWriter, usize) {
    let mut elf = ElfWriter::new();
    let section = elf.code("kprobe/f", &encode(code));
    elf.function("f", section, 0, code.len() as u64);
    elf.data("license", b"GPL\0");
    (elf, section)
}

fn parse(elf: &ElfWriter) -> Result<ObjectSpec, ParseError> {
    ObjectSpec::parse(&elf.write())
}

fn reloc_error(section: &str, insn: u64, symbol: &str, problem: RelocProblem) -> ParseError {
    ParseError::Relocation {
        section: section.to_string(),
        insn,
        symbol: symbol.to_string(),
        problem,
    }
}

fn patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut object = OBJECT.to_vec();
    object[at..at + bytes.len()].copy_from_slice(bytes);
    object
}

#[test]
fn the_writer_makes_a_valid_object() {
    let (elf, _) = minimal(&[mov64_imm(0, 0), exit()]);
    let spec = parse(&elf).unwrap();
    assert_eq!(spec.license, "GPL");
    assert_eq!(spec.programs.len(), 1);
    assert_eq!(spec.programs[0].insns, vec![mov64_imm(0, 0), exit()]);
    let program = spec.relocate("f", &[], None).unwrap();
    assert_eq!(program.insns.len(), 2);
}

#[test]
fn not_elf_wrong_class_byte_order_machine_type() {
    assert_eq!(ObjectSpec::parse(&[]).unwrap_err(), ParseError::NotElf);
    assert_eq!(
        ObjectSpec::parse(b"\x7fELX0123456789abcdef").unwrap_err(),
        ParseError::NotElf
    );
    assert_eq!(
        ObjectSpec::parse(&patched(4, &[1])).unwrap_err(),
        ParseError::Not64Bit { class: 1 }
    );
    let big_endian = ObjectSpec::parse(&patched(5, &[2])).unwrap_err();
    assert_eq!(big_endian, ParseError::ByteOrder { data: 2 });
    assert_eq!(
        big_endian.to_string(),
        "the object is big-endian (EI_DATA 2) but this host is little-endian: build it for \
         this host (clang -target bpf picks the host's order)"
    );
    assert_eq!(
        ObjectSpec::parse(&patched(18, &62u16.to_le_bytes())).unwrap_err(),
        ParseError::WrongMachine { machine: 62 }
    );
    // Very old LLVM wrote EM_NONE: accepted, as libbpf does.
    let em_none = ObjectSpec::parse(&patched(18, &0u16.to_le_bytes())).unwrap();
    assert_eq!(em_none.programs.len(), 3);
    assert_eq!(
        ObjectSpec::parse(&patched(16, &2u16.to_le_bytes())).unwrap_err(),
        ParseError::NotRelocatable { e_type: 2 }
    );
}

#[test]
fn truncated_files() {
    assert_eq!(
        ObjectSpec::parse(&OBJECT[..0x100]).unwrap_err(),
        ParseError::Elf {
            what: "section headers".into(),
            reason: "Invalid ELF section header offset/size/alignment".into()
        }
    );
    // Every prefix is an error, never a panic (the section headers are at the end).
    for len in 0..OBJECT.len() {
        assert!(
            ObjectSpec::parse(&OBJECT[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn section_past_the_end_of_the_file() {
    let (mut elf, code) = minimal(&[mov64_imm(0, 0), exit()]);
    elf.get(code).offset = Some(1 << 20);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::Elf {
            what: "section kprobe/f".into(),
            reason: "Invalid ELF section size or offset".into()
        }
    );
}

#[test]
fn functions_that_do_not_fit() {
    let code = [mov64_imm(0, 0), exit()];
    let mut elf = ElfWriter::new();
    let section = elf.code("kprobe/f", &encode(&code));
    elf.function("f", section, 0, 3);
    let error = parse(&elf).unwrap_err();
    assert_eq!(
        error,
        ParseError::FunctionBounds {
            section: "kprobe/f".into(),
            symbol: "f".into(),
            offset: 0,
            size: 24,
            section_size: 16
        }
    );
    assert_eq!(
        error.to_string(),
        "section kprobe/f: function f at byte 0 of size 24 does not fit the section's 16 \
         bytes in whole instructions"
    );

    let mut elf = ElfWriter::new();
    let section = elf.code("kprobe/f", &encode(&code));
    elf.symbol("f", section, 4, 8, STB_GLOBAL, STT_FUNC);
    assert!(matches!(
        parse(&elf).unwrap_err(),
        ParseError::FunctionBounds { offset: 4, .. }
    ));

    let mut elf = ElfWriter::new();
    let section = elf.code("kprobe/f", &encode(&code));
    elf.function("f", section, 0, 2);
    elf.function("g", section, 1, 1);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::FunctionOverlap {
            section: "kprobe/f".into(),
            first: "f".into(),
            second: "g".into()
        }
    );

    let mut elf = ElfWriter::new();
    let section = elf.code("kprobe/f", &encode(&code));
    elf.symbol("f", section, 0, 16, STB_LOCAL, STT_FUNC);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::StaticProgram {
            section: "kprobe/f".into(),
            symbol: "f".into()
        }
    );

    let mut elf = ElfWriter::new();
    let section = elf.section(
        "kprobe/f",
        SHT_PROGBITS,
        SHF_ALLOC | SHF_EXECINSTR,
        vec![0; 12],
    );
    elf.function("f", section, 0, 1);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::CodeSize {
            section: "kprobe/f".into(),
            size: 12
        }
    );
}

#[test]
fn symbols_in_sections_that_do_not_exist() {
    let (mut elf, _) = minimal(&[mov64_imm(0, 0), exit()]);
    elf.symbol("ghost", 50, 0, 0, STB_GLOBAL, STT_OBJECT);
    let error = parse(&elf).unwrap_err();
    assert_eq!(
        error,
        ParseError::SymbolSection {
            symbol: 2,
            name: "ghost".into(),
            section: 50
        }
    );
    assert_eq!(
        error.to_string(),
        "symbol 2 (ghost) is in section 50, which does not exist"
    );
}

/// A program referring to global `g` at slot 1, with `code` as its instructions.
fn with_global(code: &[Insn], data_size: usize) -> (ElfWriter, usize, u32) {
    let (mut elf, section) = minimal(code);
    let data = elf.data(".data", &vec![7; data_size]);
    let g = elf.symbol("g", data, 0, 4, STB_GLOBAL, STT_OBJECT);
    (elf, section, g)
}

#[test]
fn ld_imm64_as_the_last_instruction() {
    let [first, _] = ld_imm64(1, 0);
    let (mut elf, section, g) = with_global(&[mov64_imm(0, 0), first], 8);
    elf.rel(section, &[(8, g, R_BPF_64_64)]);
    let error = parse(&elf).unwrap_err();
    assert_eq!(
        error,
        reloc_error("kprobe/f", 1, "g", RelocProblem::MissingSecondSlot)
    );
    assert_eq!(
        crate::chain(&error),
        "section kprobe/f: relocation at instruction 1 against g: ld_imm64 has no second \
         slot before the function ends"
    );
    // Without a relocation it is only code: it parses, and disassembles as cut off.
    let (elf, _, _) = with_global(&[mov64_imm(0, 0), first], 8);
    let spec = parse(&elf).unwrap();
    let text = ebpf_loader::insn::disasm::disassemble(&spec.programs[0].insns);
    assert_eq!(
        text[1],
        (1, "r1 = <ld_imm64 without its second slot>".to_string())
    );
}

#[test]
fn relocation_records_that_point_nowhere() {
    let [a, b] = ld_imm64(1, 0);
    let code = [a, b, exit()];
    let cases: Vec<(u64, u32, u32, ParseError)> = vec![
        (
            0,
            99,
            R_BPF_64_64,
            reloc_error("kprobe/f", 0, "", RelocProblem::NoSuchSymbol { index: 99 }),
        ),
        (
            0x100,
            2,
            R_BPF_64_64,
            reloc_error(
                "kprobe/f",
                32,
                "g",
                RelocProblem::PastEnd {
                    offset: 0x100,
                    size: 24,
                },
            ),
        ),
        (
            4,
            2,
            R_BPF_64_64,
            reloc_error("kprobe/f", 0, "g", RelocProblem::Misaligned { offset: 4 }),
        ),
        (
            0,
            2,
            2,
            reloc_error("kprobe/f", 0, "g", RelocProblem::UnknownType(2)),
        ),
        (
            16,
            2,
            R_BPF_64_64,
            reloc_error("kprobe/f", 2, "g", RelocProblem::NotLdImm64 { code: 0x95 }),
        ),
        (
            0,
            2,
            R_BPF_64_32,
            reloc_error(
                "kprobe/f",
                0,
                "g",
                RelocProblem::NotCall {
                    code: 0x18,
                    src_reg: 0,
                },
            ),
        ),
    ];
    for (offset, symbol, r_type, want) in cases {
        let (mut elf, section, g) = with_global(&code, 8);
        assert_eq!(g, 2);
        elf.rel(section, &[(offset, symbol, r_type)]);
        assert_eq!(parse(&elf).unwrap_err(), want, "record at {offset}");
    }
}

#[test]
fn relocations_against_what_code_cannot_use() {
    let [a, b] = ld_imm64(1, 100);
    let code = [a, b, exit()];
    // Offset 100 in an 8-byte .data.
    let (mut elf, section, g) = with_global(&code, 8);
    elf.rel(section, &[(0, g, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error(
            "kprobe/f",
            0,
            "g",
            RelocProblem::DataOffset {
                offset: 100,
                size: 8
            }
        )
    );
    // An extern (undefined, global, no type) needs BTF to say what it is.
    let (mut elf, section) = minimal(&code);
    let ext = elf.symbol("ext", 0, 0, 0, STB_GLOBAL, STT_NOTYPE);
    elf.rel(section, &[(0, ext, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::Extern(ExternError {
            name: "ext".into(),
            problem: ExternProblem::NoBtf
        })
    );
    // An undefined symbol that is no extern (it has a type).
    let (mut elf, section) = minimal(&code);
    let ext = elf.symbol("ext", 0, 0, 0, STB_GLOBAL, STT_OBJECT);
    elf.rel(section, &[(0, ext, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error("kprobe/f", 0, "ext", RelocProblem::Undefined)
    );
    // The license string.
    let (mut elf, section) = minimal(&code);
    let license = elf.symbol("LICENSE", 2, 0, 4, STB_GLOBAL, STT_OBJECT);
    elf.rel(section, &[(0, license, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error(
            "kprobe/f",
            0,
            "LICENSE",
            RelocProblem::UnsupportedTarget {
                section: "license".into()
            }
        )
    );
    // A function's address (a callback).
    let (mut elf, section) = minimal(&code);
    let f = 1; // the symbol `minimal` added
    elf.rel(section, &[(0, f, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error("kprobe/f", 0, "f", RelocProblem::FunctionPointer)
    );
    // SHT_RELA on code.
    let (mut elf, section) = minimal(&code);
    let rel = elf.rel(section, &[]);
    elf.get(rel).sh_type = 4;
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::Elf {
            what: "relocation section .relkprobe/f".into(),
            reason: "SHT_RELA relocations are not used for eBPF code".into()
        }
    );
}

#[test]
fn global_data_relocations() {
    let [a, b] = ld_imm64(1, 4);
    let (mut elf, section, g) = with_global(&[a, b, exit()], 8);
    let bss = elf.section(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, vec![]);
    elf.get(bss).size = Some(16);
    elf.rel(section, &[(0, g, R_BPF_64_64)]);
    let spec = parse(&elf).unwrap();
    let names: Vec<_> = spec
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.value_size, m.initial.clone()))
        .collect();
    assert_eq!(
        names,
        vec![(".data", 8, vec![7; 8]), (".bss", 16, vec![0; 16])]
    );
    assert_eq!(
        spec.programs[0].relocations[0].kind,
        RelocationKind::MapValue { map: 0, offset: 4 }
    );
    let program = spec.relocate("f", &[5, 6], None).unwrap();
    assert_eq!(program.insns[0].src_reg, BPF_PSEUDO_MAP_VALUE);
    assert_eq!((program.insns[0].imm, program.insns[1].imm), (5, 4));

    // A .bss too large to allocate.
    let (mut elf, _) = minimal(&[mov64_imm(0, 0), exit()]);
    let bss = elf.section(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, vec![]);
    elf.get(bss).size = Some(1 << 40);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::GlobalDataSize {
            section: ".bss".into(),
            size: 1 << 40
        }
    );
}

/// `.text` with `a` (calls `b` by a relative call, no record) and `b`; the program calls
/// `a` through a record against the `.text` section symbol, as clang writes it.
fn with_subprograms() -> ElfWriter {
    let (mut elf, section) = minimal(&[pseudo_call(-1), exit()]);
    let text = elf.code(
        ".text",
        &encode(&[pseudo_call(1), exit(), mov64_imm(0, 1), exit()]),
    );
    let text_symbol = elf.symbol(".text", text, 0, 0, STB_LOCAL, STT_SECTION);
    elf.symbol("a", text, 0, 16, STB_LOCAL, STT_FUNC);
    elf.symbol("b", text, 16, 16, STB_LOCAL, STT_FUNC);
    elf.rel(section, &[(0, text_symbol, R_BPF_64_32)]);
    elf
}

#[test]
fn calls_are_linked_transitively_once_each() {
    let spec = parse(&with_subprograms()).unwrap();
    let names: Vec<&str> = spec.subprograms.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        spec.subprograms[0].relocations[0].kind,
        RelocationKind::Call { callee: 1 }
    );
    assert_eq!(spec.subprograms[0].relocations[0].symbol, "b");
    let program = spec.relocate("f", &[], None).unwrap();
    assert_eq!(
        program.layout,
        vec![("f".into(), 0), ("a".into(), 2), ("b".into(), 4)]
    );
    // f's call: 2 - 0 - 1; a's call: 4 - 2 - 1.
    assert_eq!(program.insns[0].imm, 1);
    assert_eq!(program.insns[2].imm, 1);
    assert_eq!(program.insns[2].src_reg, BPF_PSEUDO_CALL);
}

#[test]
fn calls_to_where_no_function_starts() {
    // A record whose target, st_value / 8 + imm + 1 = 1, is inside `a`.
    let (mut elf, section) = minimal(&[pseudo_call(0), exit()]);
    let text = elf.code(".text", &encode(&[mov64_imm(0, 0), exit()]));
    let text_symbol = elf.symbol(".text", text, 0, 0, STB_LOCAL, STT_SECTION);
    elf.symbol("a", text, 0, 16, STB_LOCAL, STT_FUNC);
    elf.rel(section, &[(0, text_symbol, R_BPF_64_32)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error(
            "kprobe/f",
            0,
            ".text",
            RelocProblem::CallTarget { target: 1 }
        )
    );
    // A call with no record in a program section.
    let (elf, _) = minimal(&[pseudo_call(5), exit()]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::CallTarget {
            section: "kprobe/f".into(),
            insn: 0,
            target: 6
        }
    );
}

#[test]
fn license_and_version_sections() {
    let mut elf = ElfWriter::new();
    elf.data("license", b"GPL");
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::License {
            reason: "not NUL-terminated"
        }
    );
    let mut elf = ElfWriter::new();
    elf.data("license", b"\xffGPL\0");
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::License {
            reason: "not UTF-8"
        }
    );
    let mut elf = ElfWriter::new();
    elf.data("version", &[1, 2, 3]);
    assert_eq!(parse(&elf).unwrap_err(), ParseError::Version { size: 3 });
    let mut elf = ElfWriter::new();
    elf.data("version", &0x050a00u32.to_le_bytes());
    assert_eq!(parse(&elf).unwrap().kernel_version, Some(0x050a00));
    // A legacy `maps` section without a map symbol defines no map (libbpf 0.x's rule).
    let mut elf = ElfWriter::new();
    elf.data("maps", &[0; 20]);
    assert_eq!(parse(&elf).unwrap().maps, Vec::new());
}

/// BTF for one `.maps` map named `m` whose definition has `members`, built by `make`
/// from the ids of `int` (1), `__uint(_, 1)`'s pointer (3), `__uint(_, 8)`'s (5) and
/// a pointer to `int` (6).
fn map_object(members: &[(&str, u32)]) -> ElfWriter {
    let mut btf = BtfBuilder::new();
    let int = btf.add_int("int", 4, 1);
    let one = btf.add_array(int, int, 1);
    let ptr_one = btf.add_ptr(one);
    let eight = btf.add_array(int, int, 8);
    let ptr_eight = btf.add_ptr(eight);
    let ptr_int = btf.add_ptr(int);
    assert_eq!((int, ptr_one, ptr_eight, ptr_int), (1, 3, 5, 6));
    let specs: Vec<(&str, u32, u32, u8)> = members
        .iter()
        .enumerate()
        .map(|(i, &(name, ty))| (name, ty, i as u32 * 64, 0))
        .collect();
    let def = btf.add_struct("", 8 * members.len() as u32, &specs);
    let var = btf.add_var("m", def, 1);
    btf.add_datasec(".maps", 0, &[(var, 0, 8 * members.len() as u32)]);
    let (mut elf, _) = minimal(&[mov64_imm(0, 0), exit()]);
    let maps = elf.data(".maps", &vec![0; 8 * members.len()]);
    elf.symbol(
        "m",
        maps,
        0,
        8 * members.len() as u64,
        STB_GLOBAL,
        STT_OBJECT,
    );
    elf.section(".BTF", SHT_PROGBITS, 0, btf.build());
    elf
}

#[test]
fn btf_maps() {
    // type HASH (1), max_entries 8, key int, value_size 8 given directly.
    let elf = map_object(&[
        ("type", 3),
        ("max_entries", 5),
        ("key", 6),
        ("value_size", 5),
    ]);
    let spec = parse(&elf).unwrap();
    let m = &spec.maps[0];
    assert_eq!(
        (
            m.name.as_str(),
            m.map_type.0,
            m.key_size,
            m.value_size,
            m.max_entries
        ),
        ("m", 1, 4, 8, 8)
    );
    assert_eq!((m.btf_key_type_id, m.btf_value_type_id), (1, 0));

    let unknown = parse(&map_object(&[("type", 3), ("foo", 3)])).unwrap_err();
    assert_eq!(
        unknown,
        ParseError::Map {
            map: "m".into(),
            problem: MapProblem::UnknownMember {
                member: "foo".into()
            }
        }
    );
    assert_eq!(
        crate::chain(&unknown),
        "map m: unknown attribute foo (known: type, key_size, value_size, max_entries, \
         map_flags, key, value, pinning, numa_node, map_extra)"
    );
    assert_eq!(
        parse(&map_object(&[("type", 1)])).unwrap_err(),
        ParseError::Map {
            map: "m".into(),
            problem: MapProblem::BadMember {
                member: "type".into(),
                reason: "not a pointer to an array (declare it with __uint)".into()
            }
        }
    );
    assert_eq!(
        parse(&map_object(&[("max_entries", 3)])).unwrap_err(),
        ParseError::Map {
            map: "m".into(),
            problem: MapProblem::NoType
        }
    );
    assert_eq!(
        parse(&map_object(&[("type", 3), ("key_size", 5), ("key", 6)])).unwrap_err(),
        ParseError::Map {
            map: "m".into(),
            problem: MapProblem::Conflict {
                member: "key".into()
            }
        }
    );
    // A map type id that is not a type.
    assert!(matches!(
        parse(&map_object(&[("type", 3), ("key", 77)])).unwrap_err(),
        ParseError::Map {
            problem: MapProblem::Btf(BtfError::TypeIdOutOfRange { id: 77, .. }),
            ..
        }
    ));
}

#[test]
fn map_references_need_btf_and_a_map_symbol() {
    let mut elf = map_object(&[("type", 3)]);
    // Drop .BTF: `.maps` cannot be read.
    elf.sections.retain(|s| s.name != ".BTF");
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::Map {
            map: ".maps".into(),
            problem: MapProblem::NoBtf
        }
    );
    // A reference to the map is patched with BPF_PSEUDO_MAP_FD.
    let [a, b] = ld_imm64(1, 0);
    let mut elf = map_object(&[("type", 3)]);
    elf.get(1).data = ebpf_loader::insn::encode(&[a, b, exit()]);
    elf.symbols[0].size = 24;
    elf.rel(1, &[(0, 2, R_BPF_64_64)]);
    let spec = parse(&elf).unwrap();
    let program = spec.relocate("f", &[42], None).unwrap();
    assert_eq!(
        (program.insns[0].src_reg, program.insns[0].imm),
        (BPF_PSEUDO_MAP_FD, 42)
    );
    // The `.maps` section symbol is not a map.
    let mut elf = map_object(&[("type", 3)]);
    elf.get(1).data = ebpf_loader::insn::encode(&[a, b, exit()]);
    elf.symbols[0].size = 24;
    let section_symbol = elf.symbol(".maps", 3, 0, 0, STB_LOCAL, STT_SECTION);
    elf.rel(1, &[(0, section_symbol, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error("kprobe/f", 0, ".maps", RelocProblem::NotAMap)
    );
}

#[test]
fn btf_problems_are_passed_through() {
    let (mut elf, _) = minimal(&[mov64_imm(0, 0), exit()]);
    elf.section(".BTF", SHT_PROGBITS, 0, vec![0x9f, 0xeb, 1, 0]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::Btf(BtfError::HeaderTruncated { len: 4 })
    );
    let (mut elf, _) = minimal(&[mov64_imm(0, 0), exit()]);
    elf.section(".BTF.ext", SHT_PROGBITS, 0, vec![0; 32]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        ParseError::BtfExt {
            section: ".BTF.ext".into(),
            reason: "present without .BTF, whose strings it needs".into()
        }
    );
}

/// Byte offset of field `at` of section header `index` in the real object.
fn section_header_field(index: usize, at: usize) -> usize {
    let shoff = u64::from_le_bytes(OBJECT[40..48].try_into().unwrap()) as usize;
    shoff + index * 64 + at
}

#[test]
fn symbol_table_past_the_end_and_names_past_the_strings() {
    // Section 17 is .symtab; sh_size is at byte 32 of its header.
    let at = section_header_field(17, 32);
    let huge = patched(at, &(1u64 << 40).to_le_bytes());
    assert_eq!(
        ObjectSpec::parse(&huge).unwrap_err(),
        ParseError::Elf {
            what: "symbol table".into(),
            reason: "Invalid ELF symbol table data".into()
        }
    );
    // Symbol 41 (tcp_connect): its st_name points far past .strtab.
    let symtab = u64::from_le_bytes(
        OBJECT[section_header_field(17, 24)..section_header_field(17, 32)]
            .try_into()
            .unwrap(),
    ) as usize;
    let bad_name = patched(symtab + 41 * 24, &0x00ff_ffffu32.to_le_bytes());
    assert_eq!(
        ObjectSpec::parse(&bad_name).unwrap_err(),
        ParseError::Elf {
            what: "name of symbol 41".into(),
            reason: "Invalid ELF symbol name offset".into()
        }
    );
}

/// Instruction constructors for hand-made code.
pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: 0xb7,
        dst_reg: dst,
        src_reg: 0,
        off: 0,
        imm,
    }
}

pub fn exit() -> Insn {
    Insn {
        code: 0x95,
        ..Insn::default()
    }
}

pub fn pseudo_call(imm: i32) -> Insn {
    Insn {
        code: 0x85,
        src_reg: 1,
        imm,
        ..Insn::default()
    }
}

/// `ld_imm64 dst, imm`: the two slots.
pub fn ld_imm64(dst: u8, imm: i32) -> [Insn; 2] {
    [
        Insn {
            code: 0x18,
            dst_reg: dst,
            imm,
            ..Insn::default()
        },
        Insn::default(),
    ]
}

/// Two legacy `struct bpf_map_def`s in `maps`, one `ld_imm64` against each: against the
/// global's own symbol, and against the section symbol with the definition's offset in
/// `imm` (a `static` map, as libbpf matched it by `sec_offset`).
#[test]
fn legacy_map_relocations_by_symbol_and_by_section_offset() {
    let [a1, a2] = ld_imm64(1, 0);
    let [b1, b2] = ld_imm64(2, 20);
    let (mut elf, section) = minimal(&[a1, a2, b1, b2, exit()]);
    let def = |fields: [u32; 5]| {
        fields
            .iter()
            .flat_map(|f| f.to_ne_bytes())
            .collect::<Vec<u8>>()
    };
    let mut data = def([1, 4, 8, 16, 0]);
    data.extend(def([22, 0, 8, 4, 0]));
    let maps = elf.data("maps", &data);
    let first = elf.symbol("first", maps, 0, 20, STB_GLOBAL, STT_OBJECT);
    elf.symbol("second", maps, 20, 20, STB_LOCAL, STT_OBJECT);
    let whole = elf.symbol("maps", maps, 0, 0, STB_LOCAL, STT_SECTION);
    elf.rel(
        section,
        &[(0, first, R_BPF_64_64), (16, whole, R_BPF_64_64)],
    );
    let spec = parse(&elf).unwrap();
    let maps: Vec<_> = spec
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.kind, m.map_type.0, m.max_entries))
        .collect();
    assert_eq!(
        maps,
        [
            ("first", MapKind::Legacy, 1, 16),
            ("second", MapKind::Legacy, 22, 4)
        ]
    );
    let kinds: Vec<_> = spec.programs[0]
        .relocations
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            RelocationKind::Map { map: 0 },
            RelocationKind::Map { map: 1 }
        ]
    );
    // A section offset where no definition starts names no map.
    let [c1, c2] = ld_imm64(1, 8);
    let (mut elf, section) = minimal(&[c1, c2, exit()]);
    let maps = elf.data("maps", &def([1, 4, 8, 16, 0]));
    elf.symbol("only", maps, 0, 20, STB_GLOBAL, STT_OBJECT);
    let whole = elf.symbol("maps", maps, 0, 0, STB_LOCAL, STT_SECTION);
    elf.rel(section, &[(0, whole, R_BPF_64_64)]);
    assert_eq!(
        parse(&elf).unwrap_err(),
        reloc_error("kprobe/f", 0, "maps", RelocProblem::NotAMap)
    );
}
