//! Tests of the `.BTF` and `.BTF.ext` parsers: on bpf/main.bpf.o (expectations taken from
//! `bpftool btf dump file bpf/main.bpf.o` and `llvm-readelf -r bpf/main.bpf.o`) and on
//! hand-made bad input.

use super::build::BtfBuilder;
use super::ext::{parse_access_string, BtfExt, CoreReloKind, FuncInfo};
use super::*;
use object::{Object, ObjectSection};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");

/// The bytes of ELF section `name` of bpf/main.bpf.o.
pub(crate) fn object_section(name: &str) -> Vec<u8> {
    let file = std::fs::read(OBJECT).expect("bpf/main.bpf.o is committed");
    let obj = object::File::parse(&*file).expect("an ELF");
    let section = obj.section_by_name(name).expect("section present");
    section.data().expect("section data").to_vec()
}

/// bpf/main.bpf.o's `.BTF`, parsed.
pub(crate) fn object_btf() -> Btf {
    Btf::parse(object_section(".BTF")).expect("valid .BTF")
}

#[test]
fn object_btf_has_bpftools_types() {
    let btf = object_btf();
    // bpftool lists [1] .. [118].
    assert_eq!(btf.len(), 119);
    assert_eq!(
        btf.type_by_id(2).unwrap(),
        Type {
            id: 2,
            name_off: btf.type_by_id(2).unwrap().name_off,
            name: "int".into(),
            body: TypeBody::Int {
                size: 4,
                encoding: BTF_INT_SIGNED,
                offset: 0,
                bits: 32
            }
        }
    );
    // [60] STRUCT 'sock' size=64 vlen=2
    //	'__sk_common' type_id=61 bits_offset=0
    //	'sk_protocol' type_id=42 bits_offset=448
    let sock = btf.type_by_id(60).unwrap();
    assert_eq!(sock.describe(), "STRUCT 'sock'");
    let TypeBody::Struct { size, members } = &sock.body else {
        panic!("not a struct: {sock:?}")
    };
    assert_eq!(*size, 64);
    let m: Vec<(&str, u32, u32)> = members
        .iter()
        .map(|m| (m.name.as_str(), m.type_id, m.bit_offset))
        .collect();
    assert_eq!(m, [("__sk_common", 61, 0), ("sk_protocol", 42, 448)]);
    // [66] UNION '(anon)' size=16 vlen=3
    let u = btf.type_by_id(66).unwrap();
    assert_eq!(u.describe(), "UNION '(anon)'");
    assert_eq!(u.members().len(), 3);
    assert_eq!(u.members()[1].name, "u6_addr16");
    assert_eq!(u.members()[1].type_id, 68);
    // [6] ARRAY '(anon)' type_id=2 index_type_id=4 nr_elems=8192
    assert_eq!(
        btf.type_by_id(6).unwrap().body,
        TypeBody::Array {
            elem: 2,
            index: 4,
            nelems: 8192
        }
    );
    // [64] VOLATILE '(anon)' type_id=39; [78] CONST '(anon)' type_id=0
    assert_eq!(
        btf.type_by_id(64).unwrap().body,
        TypeBody::Volatile { target: 39 }
    );
    assert_eq!(
        btf.type_by_id(78).unwrap().body,
        TypeBody::Const { target: 0 }
    );
    // [86] FUNC_PROTO '(anon)' ret_type_id=2 vlen=2 'ctx' type_id=82 'data' type_id=83
    let TypeBody::FuncProto { ret, params } = btf.type_by_id(86).unwrap().body else {
        panic!("not a proto")
    };
    assert_eq!(ret, 2);
    let p: Vec<(&str, u32)> = params
        .iter()
        .map(|p| (p.name.as_str(), p.type_id))
        .collect();
    assert_eq!(p, [("ctx", 82), ("data", 83)]);
    // [87] FUNC 'emit' type_id=86 linkage=static; [50] FUNC 'tcp_connect' ... global
    assert_eq!(
        btf.type_by_id(87).unwrap().body,
        TypeBody::Func {
            proto: 86,
            linkage: BTF_FUNC_STATIC
        }
    );
    assert_eq!(
        btf.type_by_id(50).unwrap().body,
        TypeBody::Func {
            proto: 49,
            linkage: BTF_FUNC_GLOBAL
        }
    );
    // [19] VAR 'pending' type_id=18, linkage=global
    assert_eq!(
        btf.type_by_id(19).unwrap().body,
        TypeBody::Var {
            type_id: 18,
            linkage: BTF_VAR_GLOBAL_ALLOCATED
        }
    );
    // [116] DATASEC '.maps' size=0 vlen=6 (offsets 0: clang leaves them to the loader)
    let maps = btf.type_by_id(116).unwrap();
    assert_eq!(maps.name, ".maps");
    assert_eq!(
        maps.body,
        TypeBody::Datasec {
            size: 0,
            vars: vec![
                VarSecinfo {
                    type_id: 19,
                    offset: 0,
                    size: 32
                },
                VarSecinfo {
                    type_id: 23,
                    offset: 0,
                    size: 24
                },
                VarSecinfo {
                    type_id: 28,
                    offset: 0,
                    size: 32
                },
                VarSecinfo {
                    type_id: 32,
                    offset: 0,
                    size: 32
                },
                VarSecinfo {
                    type_id: 34,
                    offset: 0,
                    size: 32
                },
                VarSecinfo {
                    type_id: 45,
                    offset: 0,
                    size: 32
                },
            ]
        }
    );
    // [107] INT '_Bool' size=1 bits_offset=0 nr_bits=8 encoding=BOOL
    assert_eq!(
        btf.type_by_id(107).unwrap().body,
        TypeBody::Int {
            size: 1,
            encoding: BTF_INT_BOOL,
            offset: 0,
            bits: 8
        }
    );
    // Counts per kind, from bpftool's listing.
    let mut counts = std::collections::BTreeMap::new();
    for id in 1..btf.len() {
        *counts.entry(btf.kind(id).unwrap()).or_insert(0) += 1;
    }
    let expect = [
        (Kind::Int, 9),
        (Kind::Ptr, 17),
        (Kind::Array, 14),
        (Kind::Struct, 24),
        (Kind::Union, 1),
        (Kind::Typedef, 14),
        (Kind::Volatile, 5),
        (Kind::Const, 5),
        (Kind::Func, 4),
        (Kind::FuncProto, 4),
        (Kind::Var, 17),
        (Kind::Datasec, 4),
    ];
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), expect);
}

#[test]
fn object_btf_lookups() {
    let btf = object_btf();
    assert_eq!(btf.find_by_name_kind("sock", Kind::Struct), Ok(60));
    assert_eq!(btf.find_by_name_kind("u32", Kind::Typedef), Ok(15));
    assert_eq!(btf.find_by_name_kind(".maps", Kind::Datasec), Ok(116));
    assert_eq!(
        btf.find_by_name_kind("sock", Kind::Union),
        Err(BtfError::NotFound {
            name: "sock".into(),
            kind: Kind::Union
        })
    );
    assert_eq!(btf.type_name(84), Ok("data_t"));
    // u32 -> __u32 -> unsigned int
    assert_eq!(btf.skip_mods_and_typedefs(15), Ok(17));
    // const volatile u32 (92) -> 17; skip_mods stops at the typedef u32 (15)
    assert_eq!(btf.skip_mods_and_typedefs(92), Ok(17));
    assert_eq!(btf.skip_mods(92), Ok(15));
    assert_eq!(btf.resolve_size(84), Ok(104)); // struct data_t
    assert_eq!(btf.resolve_size(102), Ok(128)); // const volatile u16[64]
    assert_eq!(btf.resolve_size(103), Ok(128)); // VAR filter_ports
    assert_eq!(btf.resolve_size(1), Ok(8)); // PTR
    assert_eq!(
        btf.resolve_size(50),
        Err(BtfError::NotSized {
            id: 50,
            kind: Kind::Func
        })
    );
    assert_eq!(
        btf.type_by_id(119),
        Err(BtfError::TypeIdOutOfRange {
            id: 119,
            count: 119
        })
    );
    assert_eq!(btf.as_bytes().len(), 0x22ad);
}

#[test]
fn fixup_datasecs_fills_sizes_and_sorts_offsets() {
    let mut btf = object_btf();
    let sizes = |sec: &str| match sec {
        ".bss" => Some(8),
        ".maps" => Some(0xb8),
        ".rodata" => Some(0x94),
        "license" => Some(4),
        _ => None,
    };
    // Offsets as the symbol table gives them (llvm-readelf -s): .maps counts=0x38? The
    // values here put `pending` last to check the sort.
    let offsets = |sec: &str, var: &str| match (sec, var) {
        (".maps", "events") => Some(0),
        (".maps", "counts") => Some(24),
        (".maps", "cgroup_filter") => Some(56),
        (".maps", "cgroupset") => Some(88),
        (".maps", "mount_ns_set") => Some(120),
        (".maps", "pending") => Some(152),
        (".rodata", "filter_ports") => Some(0),
        (".rodata", "filter_pid") => Some(128),
        (".rodata", "filter_uid") => Some(132),
        (".rodata", "filter_ports_len") => Some(136),
        (".rodata", "filter_family") => Some(140),
        (".rodata", "count_mode") => Some(141),
        (".rodata", "filter_cgroup") => Some(142),
        (".rodata", "filter_cgroupmap") => Some(143),
        (".rodata", "filter_mntnsmap") => Some(144),
        (".bss", "pending_dropped") => Some(0),
        ("license", "LICENSE") => Some(0),
        _ => None,
    };
    btf.fixup_datasecs(sizes, offsets).unwrap();
    assert_eq!(
        btf.type_by_id(116).unwrap().body,
        TypeBody::Datasec {
            size: 0xb8,
            vars: vec![
                VarSecinfo {
                    type_id: 23,
                    offset: 0,
                    size: 24
                },
                VarSecinfo {
                    type_id: 45,
                    offset: 24,
                    size: 32
                },
                VarSecinfo {
                    type_id: 28,
                    offset: 56,
                    size: 32
                },
                VarSecinfo {
                    type_id: 32,
                    offset: 88,
                    size: 32
                },
                VarSecinfo {
                    type_id: 34,
                    offset: 120,
                    size: 32
                },
                VarSecinfo {
                    type_id: 19,
                    offset: 152,
                    size: 32
                },
            ]
        }
    );
    // The fixed-up bytes parse again to the same thing.
    let again = Btf::parse(btf.as_bytes().to_vec()).unwrap();
    assert_eq!(again.type_by_id(117).unwrap(), btf.type_by_id(117).unwrap());
    assert_eq!(again.resolve_size(117), Ok(0x94));

    // A missing symbol and overlapping variables are errors.
    let mut btf = object_btf();
    assert_eq!(
        btf.fixup_datasecs(sizes, |s, v| {
            if v == "filter_uid" {
                None
            } else {
                offsets(s, v)
            }
        }),
        Err(BtfError::DatasecSymbolUnknown {
            datasec: ".rodata".into(),
            var: "filter_uid".into()
        })
    );
    // Every offset 0: .bss (one variable) is fine, .maps' second variable overlaps.
    let mut btf = object_btf();
    assert_eq!(
        btf.fixup_datasecs(sizes, |_, _| Some(0)),
        Err(BtfError::DatasecOverlap {
            datasec: ".maps".into(),
            var: "events".into(),
            offset: 0,
            size: 24
        })
    );
}

#[test]
fn fixup_rejects_overlap_and_unknown_section() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let a = b.add_var("a", int, BTF_VAR_GLOBAL_ALLOCATED);
    let c = b.add_var("c", int, BTF_VAR_GLOBAL_ALLOCATED);
    b.add_datasec(".data", 0, &[(a, 0, 4), (c, 0, 4)]);
    let mut btf = Btf::parse(b.build()).unwrap();
    assert_eq!(
        btf.fixup_datasecs(|_| Some(8), |_, v| Some(if v == "a" { 0 } else { 2 })),
        Err(BtfError::DatasecOverlap {
            datasec: ".data".into(),
            var: "c".into(),
            offset: 2,
            size: 4
        })
    );
    assert_eq!(
        btf.fixup_datasecs(|_| None, |_, _| Some(0)),
        Err(BtfError::DatasecSectionUnknown {
            datasec: ".data".into()
        })
    );
    // Past the end of the section.
    assert!(matches!(
        btf.fixup_datasecs(|_| Some(6), |_, v| Some(if v == "a" { 0 } else { 4 })),
        Err(BtfError::DatasecOverlap { offset: 4, .. })
    ));
    btf.fixup_datasecs(|_| Some(8), |_, v| Some(if v == "a" { 4 } else { 0 }))
        .unwrap();
    assert_eq!(
        btf.type_by_id(4).unwrap().body,
        TypeBody::Datasec {
            size: 8,
            vars: vec![
                VarSecinfo {
                    type_id: c,
                    offset: 0,
                    size: 4
                },
                VarSecinfo {
                    type_id: a,
                    offset: 4,
                    size: 4
                },
            ]
        }
    );
}

#[test]
fn object_btf_ext_records_match_the_relocations() {
    let btf = object_btf();
    let ext = BtfExt::parse(&object_section(".BTF.ext"), &btf).unwrap();
    // llvm-readelf -r: .rel.BTF.ext has one relocation per func_info, line_info and
    // core_relo record: kprobe/tcp_connect 132, tracepoint/sock/... 159,
    // tracepoint/tcp/... 80, .text 32.
    let count = |sec: &str| {
        (
            ext.func_info(sec).len(),
            ext.line_info(sec).len(),
            ext.core_relos(sec).len(),
        )
    };
    assert_eq!(count("kprobe/tcp_connect"), (1, 106, 25));
    assert_eq!(count("tracepoint/sock/inet_sock_set_state"), (1, 132, 26));
    assert_eq!(count("tracepoint/tcp/tcp_retransmit_skb"), (1, 62, 17));
    assert_eq!(count(".text"), (1, 31, 0));
    assert_eq!(count("nope"), (0, 0, 0));
    let names: Vec<&str> = ext.func_info.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kprobe/tcp_connect",
            "tracepoint/sock/inet_sock_set_state",
            ".text",
            "tracepoint/tcp/tcp_retransmit_skb"
        ]
    );
    assert_eq!(
        ext.func_info(".text"),
        [FuncInfo {
            insn_off: 0,
            type_id: 87
        }]
    );
    assert_eq!(
        (
            ext.func_info_rec_size,
            ext.line_info_rec_size,
            ext.core_relo_rec_size
        ),
        (8, 16, 16)
    );
    // The first CO-RE records of kprobe/tcp_connect: ctx->di (pt_regs, "0:0"), then the
    // mount namespace filter's task->nsproxy->mnt_ns->ns.inum, sk->__sk_common.skc_state
    // ("0:0:5").
    let relos = ext.core_relos("kprobe/tcp_connect");
    let r: Vec<(u32, u32, &[u32], CoreReloKind)> = relos
        .iter()
        .take(5)
        .map(|r| (r.insn_off, r.type_id, r.access.as_slice(), r.kind))
        .collect();
    assert_eq!(
        r,
        [
            (8, 47, &[0, 0][..], CoreReloKind::FieldByteOffset),
            (528, 51, &[0, 1][..], CoreReloKind::FieldByteOffset),
            (592, 56, &[0, 0][..], CoreReloKind::FieldByteOffset),
            (640, 58, &[0, 0, 0][..], CoreReloKind::FieldByteOffset),
            (768, 60, &[0, 0, 5][..], CoreReloKind::FieldByteOffset),
        ]
    );
    // The socket's network namespace: sk->__sk_common.skc_net.net ("0:0:8:0").
    assert_eq!(
        (relos[11].type_id, relos[11].access.as_slice()),
        (60, &[0, 0, 8, 0][..])
    );
    // The sk_protocol bitfield read: byte size, signed, lshift, rshift of "0:1".
    let kinds: Vec<CoreReloKind> = relos[13..18].iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            CoreReloKind::FieldByteOffset,
            CoreReloKind::FieldByteSize,
            CoreReloKind::FieldLshiftU64,
            CoreReloKind::FieldSigned,
            CoreReloKind::FieldRshiftU64
        ]
    );
    // A line: the file and line text come from .BTF strings.
    let li = ext.line_info("kprobe/tcp_connect")[0];
    assert!(btf.name(li.file_name_off).unwrap().ends_with("main.bpf.c"));
    assert!(li.line() > 0);
}

#[test]
fn access_strings() {
    assert_eq!(parse_access_string("0:1:3"), Some(vec![0, 1, 3]));
    assert_eq!(parse_access_string("0"), Some(vec![0]));
    assert_eq!(parse_access_string(""), None);
    assert_eq!(parse_access_string("0::1"), None);
    assert_eq!(parse_access_string("0:x"), None);
    assert_eq!(parse_access_string("4294967296"), None);
}

// ---- every kind through the builder ----

#[test]
fn builder_round_trips_every_kind() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ptr = b.add_ptr(int); // 2
    let arr = b.add_array(int, int, 3); // 3
    let st = b.add_struct("s", 8, &[("a", int, 0, 0), ("b", int, 35, 3)]); // 4 (bitfield)
    let un = b.add_union("u", 4, &[("x", int, 0, 0)]); // 5
    let en = b.add_enum("e", 4, true, &[("NEG", -1), ("ONE", 1)]); // 6
    let fwd = b.add_fwd("f", true); // 7
    let td = b.add_typedef("t", int); // 8
    let vol = b.add_volatile(td); // 9
    let cst = b.add_const(vol); // 10
    let rst = b.add_restrict(ptr); // 11
    let proto = b.add_func_proto(int, &[("p", ptr), ("", 0)]); // 13 comes after func
    let func = b.add_func("fn", proto, BTF_FUNC_GLOBAL);
    let var = b.add_var("v", cst, BTF_VAR_STATIC);
    let ds = b.add_datasec(".data", 4, &[(var, 0, 4)]);
    let fl = b.add_float("double", 8);
    let dt = b.add_decl_tag("tag", st, 1);
    let tt = b.add_type_tag("user", int);
    let e64 = b.add_enum64("big", 8, false, &[("MAX", u64::MAX)]);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(btf.len(), 20);
    let body = |id| btf.type_by_id(id).unwrap().body;
    assert_eq!(body(ptr), TypeBody::Ptr { target: int });
    assert_eq!(
        body(arr),
        TypeBody::Array {
            elem: int,
            index: int,
            nelems: 3
        }
    );
    let s = btf.type_by_id(st).unwrap();
    assert_eq!(s.members()[1].bit_offset, 35);
    assert_eq!(s.members()[1].bitfield_size, 3);
    assert_eq!(s.members()[0].bitfield_size, 0);
    assert_eq!(btf.type_by_id(un).unwrap().kind(), Kind::Union);
    let TypeBody::Enum {
        signed,
        values,
        size,
    } = body(en)
    else {
        panic!()
    };
    assert!(signed);
    assert_eq!(size, 4);
    assert_eq!(values[0].value, u64::MAX); // -1 sign-extended
    assert_eq!(values[1].name, "ONE");
    assert_eq!(body(fwd), TypeBody::Fwd { is_union: true });
    assert_eq!(body(td), TypeBody::Typedef { target: int });
    assert_eq!(body(rst), TypeBody::Restrict { target: ptr });
    assert_eq!(
        body(func),
        TypeBody::Func {
            proto,
            linkage: BTF_FUNC_GLOBAL
        }
    );
    let TypeBody::FuncProto { params, .. } = body(proto) else {
        panic!()
    };
    assert_eq!(params[1].type_id, 0);
    assert_eq!(
        body(var),
        TypeBody::Var {
            type_id: cst,
            linkage: BTF_VAR_STATIC
        }
    );
    assert_eq!(btf.resolve_size(ds), Ok(4));
    assert_eq!(body(fl), TypeBody::Float { size: 8 });
    assert_eq!(
        body(dt),
        TypeBody::DeclTag {
            target: st,
            component_idx: 1
        }
    );
    assert_eq!(body(tt), TypeBody::TypeTag { target: int });
    let TypeBody::Enum64 { values, signed, .. } = body(e64) else {
        panic!()
    };
    assert!(!signed);
    assert_eq!(values[0].value, u64::MAX);
    assert_eq!(btf.resolve_size(cst), Ok(4));
    assert_eq!(btf.resolve_size(arr), Ok(12));
    assert_eq!(btf.skip_mods_and_typedefs(cst), Ok(int));
    assert_eq!(
        btf.resolve_size(fwd),
        Err(BtfError::NotSized {
            id: fwd,
            kind: Kind::Fwd
        })
    );
}

#[test]
fn flavors_share_an_essential_name() {
    assert_eq!(essential_name("sock___old"), "sock");
    assert_eq!(essential_name("sock"), "sock");
    assert_eq!(essential_name("a___b___c"), "a___b");
    assert_eq!(essential_name("____x"), "____x");
    assert_eq!(essential_name("x____"), "x____");
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 0);
    b.add_struct("sock", 4, &[("a", int, 0, 0)]);
    b.add_struct("sock___old", 4, &[("a", int, 0, 0)]);
    b.add_struct("sockx", 4, &[]);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(btf.ids_by_essential_name("sock", Kind::Struct), [2, 3]);
    assert!(btf.ids_by_essential_name("sock", Kind::Union).is_empty());
    assert!(btf
        .ids_by_essential_name("sock___old", Kind::Struct)
        .is_empty());
    assert_eq!(btf.ids_by_name("sock___old"), [3]);
}

// ---- bad input ----

fn simple_btf() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    b.add_struct("s", 4, &[("a", int, 0, 0)]);
    b.build()
}

fn set_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn rejects_bad_headers() {
    let good = simple_btf();
    assert_eq!(
        Btf::parse(good[..10].to_vec()).unwrap_err(),
        BtfError::HeaderTruncated { len: 10 }
    );
    let mut b = good.clone();
    b[0] = 0;
    assert!(matches!(
        Btf::parse(b).unwrap_err(),
        BtfError::BadMagic { .. }
    ));
    let mut b = good.clone();
    b.swap(0, 1);
    assert_eq!(Btf::parse(b).unwrap_err(), BtfError::ForeignByteOrder);
    let mut b = good.clone();
    b[2] = 2;
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::UnsupportedVersion { version: 2 }
    );
    let mut b = good.clone();
    set_u32(&mut b, 4, 8);
    assert!(matches!(
        Btf::parse(b).unwrap_err(),
        BtfError::BadHeaderLen { hdr_len: 8, .. }
    ));
    // type_len past the end
    let mut b = good.clone();
    set_u32(&mut b, 12, 10_000);
    assert!(matches!(
        Btf::parse(b).unwrap_err(),
        BtfError::SectionOutOfBounds {
            section: "type",
            len: 10_000,
            ..
        }
    ));
    // str_off + str_len overflowing
    let mut b = good.clone();
    set_u32(&mut b, 16, u32::MAX);
    assert!(matches!(
        Btf::parse(b).unwrap_err(),
        BtfError::SectionOutOfBounds {
            section: "string",
            ..
        }
    ));
}

#[test]
fn rejects_bad_types() {
    let good = simple_btf();
    // type 1 (INT) starts at 24; type 2 (STRUCT) at 24 + 16 = 40.
    let mut b = good.clone();
    // vlen of the struct = 5, running past the type section
    set_u32(&mut b, 40 + 4, (4 << 24) | 5);
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::VlenOutOfBounds {
            id: 2,
            offset: 16,
            kind: Kind::Struct,
            vlen: 5
        }
    );
    // unknown kind 25
    let mut b = good.clone();
    set_u32(&mut b, 40 + 4, 25 << 24);
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::UnknownKind {
            id: 2,
            offset: 16,
            kind: 25
        }
    );
    // type name offset past the string section
    let mut b = good.clone();
    set_u32(&mut b, 40, 1000);
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::TypeNameOutOfBounds {
            id: 2,
            name_off: 1000
        }
    );
    // a member name offset past the string section: found when decoded
    let mut b = good.clone();
    set_u32(&mut b, 40 + 12, 1000);
    let btf = Btf::parse(b).unwrap();
    assert!(matches!(
        btf.type_by_id(2).unwrap_err(),
        BtfError::StringOutOfBounds { offset: 1000, .. }
    ));
    // the type section ends inside a type header
    let mut b = good.clone();
    let strings_at = 24 + 40;
    let strings = b[strings_at..].to_vec();
    b.truncate(24 + 40 - 4);
    b.extend_from_slice(&strings);
    set_u32(&mut b, 12, 36);
    set_u32(&mut b, 16, 36);
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::VlenOutOfBounds {
            id: 2,
            offset: 16,
            kind: Kind::Struct,
            vlen: 1
        }
    );
    // ... and inside the 12-byte header of type 2.
    let mut b = good[..24 + 20].to_vec();
    b.push(0); // a one-byte string section
    set_u32(&mut b, 12, 20);
    set_u32(&mut b, 16, 20);
    set_u32(&mut b, 20, 1);
    set_u32(&mut b, 24, 0); // type 1 anonymous
    set_u32(&mut b, 40, 0);
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::TypeTruncated { id: 2, offset: 16 }
    );
}

#[test]
fn rejects_bad_strings() {
    let good = simple_btf();
    // Unterminated: drop the final NUL of the string section.
    let mut b = good.clone();
    b.pop();
    let str_len = u32::from_le_bytes(b[20..24].try_into().unwrap()) - 1;
    set_u32(&mut b, 20, str_len);
    assert_eq!(
        Btf::parse(b).unwrap_err(),
        BtfError::StringSectionNotTerminated
    );
    // Not starting with NUL.
    let mut b = good.clone();
    let at = 24 + 40;
    b[at] = b'x';
    assert_eq!(Btf::parse(b).unwrap_err(), BtfError::StringSectionStart);
    // name() checks offset and termination itself.
    let btf = Btf::parse(good).unwrap();
    assert_eq!(btf.name(0), Ok(""));
    assert_eq!(btf.name(1), Ok("int"));
    assert_eq!(btf.name(2), Ok("nt"));
    assert!(matches!(
        btf.name(100),
        Err(BtfError::StringOutOfBounds { offset: 100, .. })
    ));
}

#[test]
fn type_loops_are_errors() {
    let mut b = BtfBuilder::new();
    // 1: typedef t1 -> 2, 2: typedef t2 -> 1
    b.add_typedef("t1", 2);
    b.add_typedef("t2", 1);
    // 3: typedef self -> 3
    b.add_typedef("self", 3);
    // 4: array of 5, 5: const -> 4
    b.add_array(5, 0, 2);
    b.add_const(4);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(btf.resolve_size(1), Err(BtfError::TypeLoop { id: 1 }));
    assert_eq!(btf.resolve_size(3), Err(BtfError::TypeLoop { id: 3 }));
    assert_eq!(
        btf.skip_mods_and_typedefs(3),
        Err(BtfError::TypeLoop { id: 3 })
    );
    // An array whose element is (through const) itself.
    assert_eq!(btf.resolve_size(4), Err(BtfError::TypeLoop { id: 4 }));
    // A dangling reference.
    let mut b = BtfBuilder::new();
    b.add_typedef("t", 9);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(
        btf.resolve_size(1),
        Err(BtfError::TypeIdOutOfRange { id: 9, count: 2 })
    );
}

// ---- .BTF.ext bad input ----

/// A `.BTF.ext` with one func_info block for section "s" holding `n` records of
/// `rec_size` bytes, followed by `extra` zero bytes; and the BTF with the name.
fn ext_bytes(rec_size: u32, num_info: u32, records: usize) -> (Vec<u8>, Btf) {
    let mut b = BtfBuilder::new();
    let sec = b.add_string("s");
    b.add_int("int", 4, 0);
    let btf = Btf::parse(b.build()).unwrap();
    let mut sub = Vec::new();
    sub.extend_from_slice(&rec_size.to_le_bytes());
    sub.extend_from_slice(&sec.to_le_bytes());
    sub.extend_from_slice(&num_info.to_le_bytes());
    for i in 0..records {
        let mut rec = vec![0u8; rec_size as usize];
        rec[..4].copy_from_slice(&(i as u32 * 8).to_le_bytes());
        if let Some(r) = rec.get_mut(4..8) {
            r.copy_from_slice(&1u32.to_le_bytes());
        }
        sub.extend_from_slice(&rec);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    out.push(1);
    out.push(0);
    for w in [
        32u32,
        0,
        sub.len() as u32,
        sub.len() as u32,
        0,
        sub.len() as u32,
        0,
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&sub);
    (out, btf)
}

#[test]
fn ext_accepts_larger_records() {
    let (bytes, btf) = ext_bytes(12, 2, 2);
    let ext = BtfExt::parse(&bytes, &btf).unwrap();
    assert_eq!(
        ext.func_info("s"),
        [
            FuncInfo {
                insn_off: 0,
                type_id: 1
            },
            FuncInfo {
                insn_off: 8,
                type_id: 1
            }
        ]
    );
    assert_eq!(ext.func_info_rec_size, 12);
}

#[test]
fn ext_rejects_bad_input() {
    let (bytes, btf) = ext_bytes(4, 1, 1);
    assert_eq!(
        BtfExt::parse(&bytes, &btf).unwrap_err(),
        BtfError::ExtRecordSizeTooSmall {
            subsection: "func_info",
            rec_size: 4,
            min: 8
        }
    );
    // Three records claimed, two present.
    let (bytes, btf) = ext_bytes(8, 3, 2);
    assert_eq!(
        BtfExt::parse(&bytes, &btf).unwrap_err(),
        BtfError::ExtBlockOverrun {
            subsection: "func_info",
            section: "s".into(),
            num_info: 3,
            offset: 4
        }
    );
    // A huge count does not allocate.
    let (bytes, btf) = ext_bytes(8, u32::MAX, 1);
    assert!(matches!(
        BtfExt::parse(&bytes, &btf).unwrap_err(),
        BtfError::ExtBlockOverrun {
            num_info: u32::MAX,
            ..
        }
    ));
    let (bytes, btf) = ext_bytes(8, 1, 1);
    assert_eq!(
        BtfExt::parse(&bytes[..20], &btf).unwrap_err(),
        BtfError::ExtHeaderTruncated { len: 20 }
    );
    let mut bad = bytes.clone();
    bad[0] = 0;
    assert!(matches!(
        BtfExt::parse(&bad, &btf).unwrap_err(),
        BtfError::ExtBadMagic { .. }
    ));
    // Subsection past the end.
    let mut bad = bytes.clone();
    set_u32(&mut bad, 12, 1000);
    assert!(matches!(
        BtfExt::parse(&bad, &btf).unwrap_err(),
        BtfError::SectionOutOfBounds {
            section: "func_info",
            len: 1000,
            ..
        }
    ));
    // A block header cut in half.
    let (mut bytes, btf) = ext_bytes(8, 1, 1);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    set_u32(&mut bytes, 12, 4 + 8 + 8 + 4);
    assert_eq!(
        BtfExt::parse(&bytes, &btf).unwrap_err(),
        BtfError::ExtTruncated {
            subsection: "func_info",
            offset: 20
        }
    );
}

#[test]
fn errors_display_one_line() {
    let errs = [
        BtfError::TypeLoop { id: 3 },
        BtfError::VlenOutOfBounds {
            id: 2,
            offset: 16,
            kind: Kind::Struct,
            vlen: 5,
        },
        BtfError::ExtBlockOverrun {
            subsection: "line_info",
            section: "s".into(),
            num_info: 3,
            offset: 4,
        },
    ];
    for e in errs {
        let s = e.to_string();
        assert!(!s.contains('\n') && !s.is_empty());
    }
    assert_eq!(
        BtfError::UnknownKind {
            id: 2,
            offset: 16,
            kind: 25
        }
        .to_string(),
        "BTF: type 2 at byte 16 has unknown kind 25"
    );
}

/// A small deterministic generator (xorshift64*), for the mutation test below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Mutated copies of the object's `.BTF` and `.BTF.ext` (bytes flipped, words set to
/// interesting values, truncations) never panic the parsers, the lookups or CO-RE: every
/// outcome is a value or a typed error.
#[test]
fn mutated_input_never_panics() {
    let btf_bytes = object_section(".BTF");
    let ext_bytes = object_section(".BTF.ext");
    let good = object_btf();
    let insns = crate::insn::decode(&object_section("kprobe/tcp_connect")).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let interesting = [
        0u32,
        1,
        0xff,
        0xffff,
        0x7fff_ffff,
        0xffff_ffff,
        0x8000_0000,
        12,
        24,
    ];
    let mutate = |rng: &mut Rng, bytes: &[u8]| {
        let mut b = bytes.to_vec();
        for _ in 0..1 + rng.below(4) {
            match rng.below(3) {
                1 if b.len() > 8 => {
                    let i = rng.below(b.len() - 4) & !3;
                    let v = interesting[rng.below(interesting.len())];
                    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
                0 | 1 => {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                _ => {
                    let n = rng.below(b.len());
                    b.truncate(n.max(1));
                }
            }
        }
        b
    };
    let (mut parsed, mut ext_parsed) = (0, 0);
    for _ in 0..3000 {
        if let Ok(btf) = Btf::parse(mutate(&mut rng, &btf_bytes)) {
            parsed += 1;
            for id in 0..btf.len() + 2 {
                let _ = btf.type_by_id(id);
                let _ = btf.resolve_size(id);
                let _ = btf.skip_mods_and_typedefs(id);
            }
            let _ = btf.find_by_name_kind("sock", Kind::Struct);
            let mut fixed = btf.clone();
            let _ = fixed.fixup_datasecs(|_| Some(64), |_, _| Some(0));
            if let Ok(ext) = BtfExt::parse(&ext_bytes, &btf) {
                let mut i = insns.clone();
                let _ = super::core::relocate(
                    &btf,
                    &good,
                    ext.core_relos("kprobe/tcp_connect"),
                    &mut i,
                );
                let mut i = insns.clone();
                let _ = super::core::relocate(
                    &good,
                    &btf,
                    ext.core_relos("kprobe/tcp_connect"),
                    &mut i,
                );
            }
        }
        if let Ok(ext) = BtfExt::parse(&mutate(&mut rng, &ext_bytes), &good) {
            ext_parsed += 1;
            let mut i = insns.clone();
            let _ =
                super::core::relocate(&good, &good, ext.core_relos("kprobe/tcp_connect"), &mut i);
        }
    }
    // The mutations are not all rejected: the parsers' deeper paths ran.
    assert!(parsed > 100 && ext_parsed > 100, "{parsed} {ext_parsed}");
}

/// Split BTF (a kernel module's on vmlinux's): ids and string offsets continue after the
/// base's; its types refer to the base's types and strings; lookups see both.
#[test]
fn split_btf_continues_the_bases_ids_and_strings() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let dev = b.add_struct("net_device", 8, &[("ifindex", int, 0, 0)]); // 2
    let ptr = b.add_ptr(dev); // 3
    let proto = b.add_func_proto(int, &[("dev", ptr)]); // 4
    b.add_func("register_netdev", proto, 1); // 5
    let base_bytes = b.build();
    let base = Arc::new(Btf::parse(base_bytes.clone()).unwrap());
    let base_strings = base.strings().len() as u32;
    assert_eq!(
        (base.len(), base.first_id(), base.base().is_none()),
        (6, 1, true)
    );

    let mut m = BtfBuilder::new_split(&base);
    assert_eq!(m.next_id(), 6);
    let setup_proto = m.add_func_proto(0, &[("dev", ptr)]); // 6, params in the base
    let setup = m.add_func("dummy_setup", setup_proto, 0); // 7
    let priv_ = m.add_struct("dummy_priv", 4, &[("ifindex", int, 0, 0)]); // 8: a base name
                                                                          // A type whose name is the base's string ("int" at offset 1).
    let same = m.add_raw(1, (Kind::Typedef as u32) << 24, int, &[]); // 9
    let split = Btf::parse_split(m.build(), base.clone()).unwrap();
    assert_eq!((setup_proto, setup, priv_, same), (6, 7, 8, 9));
    assert_eq!((split.first_id(), split.len()), (6, 10));
    assert!(split.base().is_some());

    // Own types decode, with names from both string sections.
    let ty = split.type_by_id(setup).unwrap();
    assert_eq!(ty.name, "dummy_setup");
    assert!(
        ty.name_off >= base_strings,
        "{} < {base_strings}",
        ty.name_off
    );
    assert_eq!(
        split.type_by_id(setup_proto).unwrap().body,
        TypeBody::FuncProto {
            ret: 0,
            params: vec![Param {
                name_off: base_strings, // the split's first string
                name: "dev".into(),
                type_id: ptr
            }]
        }
    );
    let priv_ty = split.type_by_id(priv_).unwrap();
    assert_eq!(priv_ty.members()[0].name, "ifindex");
    assert_eq!(split.type_name(same), Ok("int"));
    // The base's types, through the split BTF, are the base's.
    assert_eq!(
        split.type_by_id(dev).unwrap(),
        base.type_by_id(dev).unwrap()
    );
    assert_eq!(split.kind(ptr), Ok(Kind::Ptr));
    assert_eq!(split.resolve_size(priv_), Ok(4));
    assert_eq!(split.skip_mods_and_typedefs(same), Ok(int));
    // Lookups: the base's first, then the module's own.
    assert_eq!(
        split.find_by_name_kind("dummy_setup", Kind::Func),
        Ok(setup)
    );
    assert_eq!(
        split.find_by_name_kind("register_netdev", Kind::Func),
        Ok(5)
    );
    assert_eq!(split.find_by_name_kind("net_device", Kind::Struct), Ok(dev));
    assert_eq!(split.ids_by_name("int"), vec![int, same]);
    assert_eq!(
        split.ids_by_essential_name("dummy_priv", Kind::Struct),
        vec![priv_]
    );
    assert_eq!(base.find_by_name_kind("dummy_setup", Kind::Func).ok(), None);
    // Ids past the end, and 0, as for any BTF.
    assert!(matches!(
        split.type_by_id(10),
        Err(BtfError::TypeIdOutOfRange { id: 10, count: 10 })
    ));
    assert_eq!(split.kind(0), Ok(Kind::Void));
    // The same bytes as base BTF are refused: their names point past their strings.
    assert!(matches!(
        Btf::parse(m.build()),
        Err(BtfError::StringSectionStart | BtfError::TypeNameOutOfBounds { .. })
    ));
}

/// What the kernel refuses in split BTF, refused here too, without panics: names past
/// both string sections, an unterminated string section; an empty one is fine.
#[test]
fn split_btf_bounds() {
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, 0);
    let base = Arc::new(Btf::parse(b.build()).unwrap());
    let total = base.strings().len() as u32; // "\0int\0": 5

    // No strings of its own: names only from the base.
    let mut m = BtfBuilder::new_split(&base);
    m.add_raw(1, (Kind::Typedef as u32) << 24, 1, &[]);
    let split = Btf::parse_split(m.build(), base.clone()).unwrap();
    assert_eq!(split.type_name(2), Ok("int"));

    // A name offset past the split's strings.
    let mut m = BtfBuilder::new_split(&base);
    m.add_string("x");
    m.add_raw(total + 2, (Kind::Typedef as u32) << 24, 1, &[]);
    assert_eq!(
        Btf::parse_split(m.build(), base.clone()).unwrap_err(),
        BtfError::TypeNameOutOfBounds {
            id: 2,
            name_off: total + 2
        }
    );
    // An unterminated string section.
    let mut bytes = {
        let mut m = BtfBuilder::new_split(&base);
        m.add_int("u8", 1, 0);
        m.build()
    };
    let last = bytes.len() - 1;
    bytes[last] = b'x';
    assert_eq!(
        Btf::parse_split(bytes, base.clone()).unwrap_err(),
        BtfError::StringSectionNotTerminated
    );
    // Split on split (a module's BTF extending another's is not what the kernel makes,
    // but the ids and strings still chain).
    let mut m = BtfBuilder::new_split(&base);
    let u8_ = m.add_int("u8", 1, 0);
    let mid = Arc::new(Btf::parse_split(m.build(), base.clone()).unwrap());
    let mut t = BtfBuilder::new_split(&mid);
    let top = t.add_typedef("u8_t", u8_);
    let top_btf = Btf::parse_split(t.build(), mid).unwrap();
    assert_eq!((u8_, top), (2, 3));
    assert_eq!(top_btf.type_name(1), Ok("int"));
    assert_eq!(top_btf.type_name(2), Ok("u8"));
    assert_eq!(top_btf.find_by_name_kind("u8_t", Kind::Typedef), Ok(3));
    assert_eq!(top_btf.resolve_size(3), Ok(1));
}

#[test]
fn type_refs_lists_what_each_kind_refers_to_without_names() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ptr = b.add_ptr(int); // 2
    let arr = b.add_array(ptr, int, 3); // 3
    let s = b.add_struct("s", 32, &[("a", int, 0, 0), ("b", arr, 64, 0)]); // 4
    let proto = b.add_func_proto(ptr, &[("x", s), ("", 0)]); // 5
    let var = b.add_var("v", s, BTF_VAR_GLOBAL_ALLOCATED); // 6
    b.add_datasec(".data", 32, &[(var, 0, 32)]); // 7
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(btf.type_refs(int).unwrap(), Vec::<u32>::new());
    assert_eq!(btf.type_refs(ptr).unwrap(), [int]);
    assert_eq!(btf.type_refs(arr).unwrap(), [ptr, int]);
    assert_eq!(btf.type_refs(s).unwrap(), [int, arr]);
    assert_eq!(btf.type_refs(proto).unwrap(), [ptr, s, 0]);
    assert_eq!(btf.type_refs(var).unwrap(), [s]);
    assert_eq!(btf.type_refs(7).unwrap(), [var]);
    assert!(btf.type_refs(8).is_err());
}
