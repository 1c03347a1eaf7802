//! CO-RE tests: hand-made targets (fields moved, resized, renamed, removed; flavors;
//! conflicting candidates) with exact patched instructions or exact errors; and every
//! record of bpf/main.bpf.o against this host's kernel BTF, checked with bpftool's dump.

use super::*;
use crate::btf::build::BtfBuilder;
use crate::btf::ext::BtfExt;
use crate::btf::tests::{object_btf, object_section};
use crate::btf::BTF_INT_SIGNED;
use crate::insn::{self, BPF_ALU64, BPF_K, BPF_MOV, LD_IMM64};

/// A member for the builder: name, type, bit offset, bitfield size.
type Member = (&'static str, u32, u32, u8);

fn relo(insn_off: u32, type_id: u32, access: &[u32], kind: CoreReloKind) -> CoreRelo {
    CoreRelo {
        insn_off,
        type_id,
        access_str_off: 0,
        access: access.to_vec(),
        kind,
    }
}

/// `rD = *(size *)(rS + off)`.
fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn {
        code: BPF_LDX | BPF_MEM | size,
        dst_reg: dst,
        src_reg: src,
        off,
        imm: 0,
    }
}

/// `rD = imm` (64-bit mov).
fn mov(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU64 | BPF_MOV | BPF_K,
        dst_reg: dst,
        src_reg: 0,
        off: 0,
        imm,
    }
}

/// `ld_imm64 rD, v`: two slots.
fn ld_imm64(dst: u8, v: u64) -> [Insn; 2] {
    [
        Insn {
            code: LD_IMM64,
            dst_reg: dst,
            src_reg: 0,
            off: 0,
            imm: v as u32 as i32,
        },
        Insn {
            imm: (v >> 32) as u32 as i32,
            ..Insn::default()
        },
    ]
}

/// The local side: `struct sock { u32 a; u32 b; u64 c; int d; u16 arr[4]; }` (id 3)
/// plus `enum e { X = 1, Y = 0x100000000 }` as ENUM64 (id 4), `struct bits` with a
/// 3-bit bitfield at bit 37 (id 5) and a typedef `u32` (id 6).
fn local() -> Btf {
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
    let u64_ = b.add_int("unsigned long", 8, 0); // 2
    let arr_placeholder = b.next_id() + 6; // array id, added below
    b.add_struct(
        "sock",
        28,
        &[
            ("a", u32_, 0, 0),
            ("b", u32_, 32, 0),
            ("c", u64_, 64, 0),
            ("d", 7, 128, 0),
            ("arr", arr_placeholder, 160, 0),
        ],
    ); // 3
    b.add_enum64("e", 8, false, &[("X", 1), ("Y", 0x1_0000_0000)]); // 4
    b.add_struct("bits", 8, &[("lo", u32_, 0, 0), ("f", u32_, 37, 3)]); // 5
    b.add_typedef("u32", u32_); // 6
    b.add_int("int", 4, BTF_INT_SIGNED); // 7
    let u16_ = b.add_int("unsigned short", 2, 0); // 8
    assert_eq!(b.add_array(u16_, u32_, 4), arr_placeholder); // 9... (asserted)
    Btf::parse(b.build()).unwrap()
}

/// A target `struct sock` with the given members (names, type, bit offset), after the
/// same base types as [`local`] (1: u32, 2: u64, 3: int, 4: u16, 5: u16[4], 6: u16[2]).
fn target_with(structs: &[(&str, Vec<Member>)]) -> Btf {
    let mut b = BtfBuilder::new();
    b.add_int("unsigned int", 4, 0); // 1
    b.add_int("unsigned long", 8, 0); // 2
    b.add_int("int", 4, BTF_INT_SIGNED); // 3
    let u16_ = b.add_int("unsigned short", 2, 0); // 4
    b.add_array(u16_, 1, 4); // 5
    b.add_array(u16_, 1, 2); // 6
    for (name, members) in structs {
        b.add_struct(name, 64, members);
    }
    Btf::parse(b.build()).unwrap()
}

fn sock_moved() -> Vec<Member> {
    vec![
        ("pad", 1, 0, 0),
        ("a", 1, 32, 0),
        ("d", 3, 64, 0),
        ("b", 1, 96, 0),
        ("c", 2, 128, 0),
        ("arr", 5, 192, 0),
    ]
}

#[test]
fn moved_field_patches_the_load_offset() {
    let local = local();
    let target = target_with(&[("sock", sock_moved())]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4), ldx(BPF_DW, 2, 1, 8), mov(3, 4)];
    let relos = [
        relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset),
        relo(8, 3, &[0, 2], CoreReloKind::FieldByteOffset),
        relo(16, 3, &[0, 1], CoreReloKind::FieldByteSize),
    ];
    let fixups = relocate(&local, &target, &relos, &mut insns).unwrap();
    assert_eq!(
        insns,
        [ldx(BPF_W, 0, 1, 12), ldx(BPF_DW, 2, 1, 16), mov(3, 4)]
    );
    assert_eq!(fixups[0].local_access, "struct sock.b");
    assert_eq!(fixups[0].local_value, 4);
    assert_eq!(fixups[0].target_value, Some(12));
    assert_eq!(fixups[0].target_type_id, Some(7));
    assert_eq!(fixups[0].before, [ldx(BPF_W, 0, 1, 4)]);
    assert_eq!(fixups[0].after, [ldx(BPF_W, 0, 1, 12)]);
    assert!(!fixups[0].poisoned);
    assert_eq!(
        fixups[0].to_string(),
        format!(
            "{:<12} {:<54} {:>4} -> {:<6} {}",
            "byte_off", "struct sock.b", 4, 12, "r0 = *(u32 *)(r1 + 4)  ->  r0 = *(u32 *)(r1 + 12)"
        )
    );
}

#[test]
fn array_index_access() {
    let local = local();
    // arr[3]: local 160/8 + 3*2 = 26; target 192/8 + 6 = 30.
    let target = target_with(&[("sock", sock_moved())]);
    let mut insns = vec![ldx(BPF_H, 0, 1, 26)];
    let fixups = relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 4, 3], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_H, 0, 1, 30)]);
    assert_eq!(fixups[0].local_access, "struct sock.arr[3]");
    // A target array of 2 elements: index 3 does not exist there: poisoned.
    let mut members = sock_moved();
    members[5].1 = 6;
    let target = target_with(&[("sock", members)]);
    let mut insns = vec![ldx(BPF_H, 0, 1, 26)];
    let fixups = relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 4, 3], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [poison_insn()]);
    assert_eq!(
        fixups[0].missing.as_deref(),
        Some("index 3 past the 2 elements of the target array")
    );
}

#[test]
fn missing_field_poisons_but_exists_gives_zero() {
    let local = local();
    let mut members = sock_moved();
    members.retain(|m| m.0 != "b");
    let target = target_with(&[("sock", members)]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4), mov(1, 1)];
    let fixups = relocate(
        &local,
        &target,
        &[
            relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset),
            relo(8, 3, &[0, 1], CoreReloKind::FieldExists),
        ],
        &mut insns,
    )
    .unwrap();
    assert_eq!(
        insns[0],
        Insn {
            code: insn::CALL,
            imm: CORE_POISON_IMM,
            ..Insn::default()
        }
    );
    assert_eq!(insns[1], mov(1, 0));
    assert!(fixups[0].poisoned);
    assert_eq!(fixups[0].target_value, None);
    assert_eq!(
        fixups[0].missing.as_deref(),
        Some("struct sock has no field b")
    );
    assert!(!fixups[1].poisoned);
    assert_eq!(fixups[1].target_value, Some(0));
    assert_eq!(
        fixups[0].to_string(),
        format!(
            "{:<12} {:<54} {:>4} -> {:<6} {}",
            "byte_off",
            "struct sock.b",
            4,
            "missing",
            "r0 = *(u32 *)(r1 + 4)  ->  call unknown#195896080 (= 0xbad2310, CO-RE's poison: a relocation that failed)  \
             [poisoned: the verifier will refuse the program if this path can run] \
             (struct sock has no field b)"
        )
    );

    // No struct sock at all.
    let target = target_with(&[("other", vec![])]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    let fixups = relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert!(fixups[0].poisoned);
    assert_eq!(
        fixups[0].missing.as_deref(),
        Some("no struct sock in the target BTF")
    );
}

#[test]
fn renamed_field_is_missing() {
    let local = local();
    let mut members = sock_moved();
    members[3].0 = "b_renamed";
    let target = target_with(&[("sock", members)]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    let fixups = relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert!(fixups[0].poisoned);
}

#[test]
fn flavors_and_ambiguity() {
    // local `sock___old` finds target `sock`.
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0);
    b.add_struct("sock___old", 8, &[("a", u32_, 0, 0), ("b", u32_, 32, 0)]);
    let local = Btf::parse(b.build()).unwrap();
    let target = target_with(&[("sock", sock_moved())]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    let fixups = relocate(
        &local,
        &target,
        &[relo(0, 2, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_W, 0, 1, 12)]);
    assert_eq!(fixups[0].local_access, "struct sock___old.b");

    // Two target flavors with b at different offsets: ambiguous.
    let local = crate::btf::core::tests::local();
    let target = target_with(&[
        ("sock", sock_moved()),
        ("sock___v2", vec![("a", 1, 0, 0), ("b", 1, 32, 0)]),
    ]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
            &mut insns,
        ),
        Err(CoreError::Ambiguous {
            insn_index: 0,
            local_access: "struct sock.b".into(),
            first: (7, 12),
            second: (8, 4),
            bit_offsets: Some((96, 32)),
        })
    );
    // The same size at two offsets: still ambiguous for FIELD_BYTE_SIZE and FIELD_EXISTS,
    // whose values agree (libbpf compares the bit offsets first).
    for (kind, insn) in [
        (CoreReloKind::FieldByteSize, mov(3, 4)),
        (CoreReloKind::FieldExists, mov(3, 1)),
    ] {
        let mut insns = vec![insn];
        assert_eq!(
            relocate(&local, &target, &[relo(0, 3, &[0, 1], kind)], &mut insns),
            Err(CoreError::Ambiguous {
                insn_index: 0,
                local_access: "struct sock.b".into(),
                first: (
                    7,
                    if kind == CoreReloKind::FieldExists {
                        1
                    } else {
                        4
                    }
                ),
                second: (
                    8,
                    if kind == CoreReloKind::FieldExists {
                        1
                    } else {
                        4
                    }
                ),
                bit_offsets: Some((96, 32)),
            })
        );
        assert_eq!(insns, [insn], "nothing patched");
    }
    // Two types whose sizes differ (structs are compatible whatever their members):
    // TYPE_SIZE is ambiguous.
    let target = target_with(&[("sock", sock_moved()), ("sock___v2", vec![])]);
    // target_with gives every struct 64 bytes: make sock___v2 16.
    let mut bytes = target.as_bytes().to_vec();
    let at = type_offset(&bytes, 8);
    bytes[at + 8..at + 12].copy_from_slice(&16u32.to_le_bytes());
    let target = Btf::parse(bytes).unwrap();
    let mut insns = vec![mov(4, 28)];
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(0, 3, &[0], CoreReloKind::TypeSize)],
            &mut insns
        ),
        Err(CoreError::Ambiguous {
            insn_index: 0,
            local_access: "struct sock".into(),
            first: (7, 64),
            second: (8, 16),
            bit_offsets: None,
        })
    );
    // ... agreeing flavors are fine, and one without the field is just not a match.
    let target = target_with(&[
        ("sock", sock_moved()),
        ("sock___v2", vec![("b", 1, 96, 0)]),
        ("sock___v3", vec![("zz", 1, 0, 0)]),
    ]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_W, 0, 1, 12)]);
}

#[test]
fn fields_found_through_anonymous_members() {
    // target: struct sock { u32 pad; union { u64 pair; struct { u32 a; u32 b; }; }; }
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
    let u64_ = b.add_int("unsigned long", 8, 0); // 2
    let inner = b.add_struct("", 8, &[("a", u32_, 0, 0), ("b", u32_, 32, 0)]); // 3
    let un = b.add_union("", 8, &[("pair", u64_, 0, 0), ("", inner, 0, 0)]); // 4
    b.add_struct("sock", 16, &[("pad", u64_, 0, 0), ("", un, 64, 0)]); // 5
    let target = Btf::parse(b.build()).unwrap();
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    relocate(
        &local(),
        &target,
        &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_W, 0, 1, 12)]);
}

#[test]
fn resized_fields() {
    let local = local();
    // b becomes u64 (unsigned): the 4-byte load becomes an 8-byte one.
    let mut members = sock_moved();
    members[3].1 = 2;
    let target = target_with(&[("sock", members.clone())]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 4), mov(2, 4)];
    relocate(
        &local,
        &target,
        &[
            relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset),
            relo(8, 3, &[0, 1], CoreReloKind::FieldByteSize),
        ],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_DW, 0, 1, 12), mov(2, 8)]);
    // b becomes a signed int of another size: the load cannot be adjusted.
    let mut b = BtfBuilder::new();
    b.add_int("unsigned int", 4, 0);
    let s64 = b.add_int("long", 8, BTF_INT_SIGNED);
    b.add_struct("sock", 16, &[("a", 1, 0, 0), ("b", s64, 64, 0)]);
    let target = Btf::parse(b.build()).unwrap();
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
            &mut insns,
        ),
        Err(CoreError::SizeMismatch {
            insn_index: 0,
            local_size: 4,
            target_size: 8
        })
    );
    // A load that is not of the whole field (1 byte of the u32) cannot be adjusted either.
    let target = target_with(&[("sock", members)]);
    let mut insns = vec![ldx(BPF_B, 0, 1, 4)];
    assert!(matches!(
        relocate(
            &local,
            &target,
            &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
            &mut insns,
        ),
        Err(CoreError::SizeMismatch { insn_index: 0, .. })
    ));
    // An int field that became a struct is incompatible: poisoned.
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0);
    let s = b.add_struct("x", 4, &[("v", u32_, 0, 0)]);
    b.add_struct("sock", 8, &[("b", s, 0, 0)]);
    let target = Btf::parse(b.build()).unwrap();
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    let f = relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(
        f[0].missing.as_deref(),
        Some("field b of struct sock has an incompatible type")
    );
}

#[test]
fn bitfields() {
    let local = local();
    // local: f is 3 bits at bit 37 of an u32 member: load u32 at byte 4;
    // lshift = 64 - (37 + 3 - 32) = 56, rshift = 61.
    // target: f at bit 70 (u32): load at byte 8, lshift 64 - (70 + 3 - 64) = 55.
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0);
    b.add_struct(
        "bits",
        12,
        &[("pad", u32_, 0, 0), ("lo", u32_, 32, 0), ("f", u32_, 70, 3)],
    );
    let target = Btf::parse(b.build()).unwrap();
    let mut insns = vec![mov(1, 4), mov(2, 4), mov(3, 56), mov(4, 61), mov(5, 0)];
    let fixups = relocate(
        &local,
        &target,
        &[
            relo(0, 5, &[0, 1], CoreReloKind::FieldByteOffset),
            relo(8, 5, &[0, 1], CoreReloKind::FieldByteSize),
            relo(16, 5, &[0, 1], CoreReloKind::FieldLshiftU64),
            relo(24, 5, &[0, 1], CoreReloKind::FieldRshiftU64),
            relo(32, 5, &[0, 1], CoreReloKind::FieldSigned),
        ],
        &mut insns,
    )
    .unwrap();
    assert_eq!(
        insns,
        [mov(1, 8), mov(2, 4), mov(3, 55), mov(4, 61), mov(5, 0)]
    );
    assert_eq!(fixups[0].local_value, 4);
    // A bitfield straddling a 4-byte boundary needs an 8-byte load.
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0);
    b.add_struct("bits", 12, &[("f", u32_, 30, 3)]);
    let target = Btf::parse(b.build()).unwrap();
    let mut insns = vec![mov(1, 4), mov(2, 4), mov(3, 56)];
    relocate(
        &local,
        &target,
        &[
            relo(0, 5, &[0, 1], CoreReloKind::FieldByteOffset),
            relo(8, 5, &[0, 1], CoreReloKind::FieldByteSize),
            relo(16, 5, &[0, 1], CoreReloKind::FieldLshiftU64),
        ],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [mov(1, 0), mov(2, 8), mov(3, 64 - 33)]);
}

#[test]
fn signedness() {
    let local = local();
    let mut members = sock_moved();
    members[2].1 = 1; // d: int -> unsigned int
    let target = target_with(&[("sock", members)]);
    let mut insns = vec![mov(1, 1)];
    relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 3], CoreReloKind::FieldSigned)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [mov(1, 0)]);
}

#[test]
fn type_relocations() {
    let local = local();
    let target = target_with(&[("sock", sock_moved())]);
    let [l0, l1] = ld_imm64(1, 3);
    let mut insns = vec![
        l0,
        l1,
        mov(2, 3),
        mov(3, 1),
        mov(4, 28),
        mov(5, 1),
        mov(6, 1),
    ];
    let fixups = relocate(
        &local,
        &target,
        &[
            relo(0, 3, &[0], CoreReloKind::TypeIdTarget),
            relo(16, 3, &[0], CoreReloKind::TypeIdLocal),
            relo(24, 3, &[0], CoreReloKind::TypeExists),
            relo(32, 3, &[0], CoreReloKind::TypeSize),
            relo(40, 3, &[0], CoreReloKind::TypeMatches),
            relo(48, 5, &[0], CoreReloKind::TypeExists),
        ],
        &mut insns,
    )
    .unwrap();
    let [t0, t1] = ld_imm64(1, 7);
    // struct sock matches: every local member exists with a matching type? No: `d` is an
    // int in both, `arr` u16[4] in both, `a`,`b`,`c` too -> 1. struct bits: missing -> 0.
    assert_eq!(
        insns,
        [
            t0,
            t1,
            mov(2, 3),
            mov(3, 1),
            mov(4, 64),
            mov(5, 1),
            mov(6, 0)
        ]
    );
    assert_eq!(fixups[0].before.len(), 2);
    assert_eq!(fixups[5].target_value, Some(0));
    assert!(!fixups[5].poisoned);
    // TYPE_MATCHES fails when a member's type differs.
    let mut members = sock_moved();
    members[2].1 = 2; // d: int -> unsigned long
    let target = target_with(&[("sock", members)]);
    let mut insns = vec![mov(5, 1)];
    relocate(
        &local,
        &target,
        &[relo(0, 3, &[0], CoreReloKind::TypeMatches)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [mov(5, 0)]);
    // A missing type: every type-based kind gives 0, none poisons (libbpf's
    // `bpf_core_calc_type_relo`: "type-based relos return zero when target type is not
    // found").
    let target = target_with(&[]);
    let [l0, l1] = ld_imm64(1, 3);
    let mut insns = vec![l0, l1, mov(3, 1), mov(4, 28), mov(5, 1), mov(2, 3)];
    let f = relocate(
        &local,
        &target,
        &[
            relo(0, 3, &[0], CoreReloKind::TypeIdTarget),
            relo(16, 3, &[0], CoreReloKind::TypeExists),
            relo(24, 3, &[0], CoreReloKind::TypeSize),
            relo(32, 3, &[0], CoreReloKind::TypeMatches),
            relo(40, 3, &[0], CoreReloKind::TypeIdLocal),
        ],
        &mut insns,
    )
    .unwrap();
    let [z0, z1] = ld_imm64(1, 0);
    assert_eq!(insns, [z0, z1, mov(3, 0), mov(4, 0), mov(5, 0), mov(2, 3)]);
    assert!(f.iter().all(|f| !f.poisoned));
    assert_eq!(f[2].target_value, Some(0));
    assert_eq!(
        f[2].missing.as_deref(),
        Some("no struct sock in the target BTF")
    );
}

/// Byte offset of type `id`'s `struct btf_type` in raw BTF `bytes` (types of the kinds
/// [`target_with`] writes: INT, ARRAY, STRUCT).
fn type_offset(bytes: &[u8], id: u32) -> usize {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let hdr_len = word(4) as usize;
    let mut at = hdr_len + word(8) as usize;
    for _ in 1..id {
        let info = word(at + 4);
        let vlen = (info & 0xffff) as usize;
        at += 12
            + match (info >> 24) & 0x1f {
                1 => 4,         // INT
                3 => 12,        // ARRAY
                4 => 12 * vlen, // STRUCT
                k => panic!("kind {k}"),
            };
    }
    at
}

/// Candidates that did not match a record are not tried for later records on the same
/// type, as libbpf prunes its list: `x` is only in `sock___v2`, so after it only
/// `sock___v2` is a candidate, and `b`, in `sock` only, is missing.
#[test]
fn later_records_try_only_the_candidates_that_matched() {
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
    b.add_struct("sock", 8, &[("x", u32_, 0, 0), ("b", u32_, 32, 0)]); // 2
    let local = Btf::parse(b.build()).unwrap();
    let target = target_with(&[
        ("sock", vec![("b", 1, 32, 0)]),
        ("sock___v2", vec![("x", 1, 64, 0)]),
    ]);
    let mut insns = vec![ldx(BPF_W, 0, 1, 0), ldx(BPF_W, 0, 1, 4)];
    let f = relocate(
        &local,
        &target,
        &[
            relo(0, 2, &[0, 0], CoreReloKind::FieldByteOffset),
            relo(8, 2, &[0, 1], CoreReloKind::FieldByteOffset),
        ],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_W, 0, 1, 8), poison_insn()]);
    assert!(f[1].poisoned);
    // Alone, `b` is found in `sock`.
    let mut insns = vec![ldx(BPF_W, 0, 1, 4)];
    relocate(
        &local,
        &target,
        &[relo(0, 2, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_W, 0, 1, 4)]);
}

/// A zero-length array is flexible (indexable past its end) only as its struct's last
/// member (libbpf's `is_flex_arr`), in the object and in the target.
#[test]
fn zero_length_arrays_are_flexible_only_as_the_last_member() {
    let local_with = |last: bool| {
        let mut b = BtfBuilder::new();
        let u32_ = b.add_int("unsigned int", 4, 0); // 1
        let empty = b.add_array(u32_, u32_, 0); // 2
        let members: &[(&str, u32, u32, u8)] = if last {
            &[("n", u32_, 0, 0), ("data", empty, 32, 0)]
        } else {
            &[("data", empty, 0, 0), ("n", u32_, 0, 0)]
        };
        b.add_struct("rec", 4, members); // 3
        Btf::parse(b.build()).unwrap()
    };
    let target_with_rec = |last: bool| {
        let mut b = BtfBuilder::new();
        let u32_ = b.add_int("unsigned int", 4, 0); // 1
        let empty = b.add_array(u32_, u32_, 0); // 2
        let members: &[(&str, u32, u32, u8)] = if last {
            &[
                ("pad", u32_, 0, 0),
                ("n", u32_, 32, 0),
                ("data", empty, 64, 0),
            ]
        } else {
            &[
                ("pad", u32_, 0, 0),
                ("data", empty, 32, 0),
                ("n", u32_, 32, 0),
            ]
        };
        b.add_struct("rec", 8, members); // 3
        Btf::parse(b.build()).unwrap()
    };
    // data[2], as the last member on both sides: local 4 + 8 = 12, target 8 + 8 = 16.
    let local = local_with(true);
    let mut insns = vec![ldx(BPF_W, 0, 1, 12)];
    relocate(
        &local,
        &target_with_rec(true),
        &[relo(0, 3, &[0, 1, 2], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [ldx(BPF_W, 0, 1, 16)]);
    // In the target, not last: not flexible, index 2 is past its 0 elements: no match.
    let mut insns = vec![ldx(BPF_W, 0, 1, 12)];
    let f = relocate(
        &local,
        &target_with_rec(false),
        &[relo(0, 3, &[0, 1, 2], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [poison_insn()]);
    assert_eq!(
        f[0].missing.as_deref(),
        Some("index 2 past the 0 elements of the target array")
    );
    // In the object, not last: the record itself is refused, as libbpf's
    // bpf_core_parse_spec refuses it (-EINVAL).
    let local = local_with(false);
    let mut insns = vec![ldx(BPF_W, 0, 1, 8)];
    let err = relocate(
        &local,
        &target_with_rec(true),
        &[relo(0, 3, &[0, 0, 2], CoreReloKind::FieldByteOffset)],
        &mut insns,
    )
    .unwrap_err();
    assert!(
        matches!(&err, CoreError::BadAccess { access, reason, .. }
            if access == "0:0:2" && reason.starts_with("index 2 past the 0 elements")),
        "{err}"
    );
}

#[test]
fn enum_relocations() {
    let local = local();
    let mut b = BtfBuilder::new();
    b.add_enum("e", 4, false, &[("Y", 7), ("Z", 9)]);
    let target = Btf::parse(b.build()).unwrap();
    let [l0, l1] = ld_imm64(1, 0x1_0000_0000);
    let mut insns = vec![l0, l1, mov(2, 1), mov(3, 1), mov(4, 1)];
    let fixups = relocate(
        &local,
        &target,
        &[
            relo(0, 4, &[1], CoreReloKind::EnumvalValue),
            relo(16, 4, &[1], CoreReloKind::EnumvalExists),
            relo(24, 4, &[0], CoreReloKind::EnumvalExists),
            relo(32, 4, &[0], CoreReloKind::EnumvalValue),
        ],
        &mut insns,
    )
    .unwrap();
    let [t0, t1] = ld_imm64(1, 7);
    assert_eq!(&insns[..4], [t0, t1, mov(2, 1), mov(3, 0)]);
    assert_eq!(insns[4], poison_insn());
    assert_eq!(fixups[0].local_access, "enum e::Y");
    assert_eq!(
        fixups[3].missing.as_deref(),
        Some("enum e has no enumerator X")
    );
    // Poisoning an ld_imm64 poisons both slots.
    let target = target_with(&[]);
    let mut insns = ld_imm64(1, 0x1_0000_0000).to_vec();
    relocate(
        &local,
        &target,
        &[relo(0, 4, &[1], CoreReloKind::EnumvalValue)],
        &mut insns,
    )
    .unwrap();
    assert_eq!(insns, [poison_insn(), poison_insn()]);
}

#[test]
fn instruction_checks() {
    let local = local();
    let target = target_with(&[("sock", sock_moved())]);
    let r = |insns: &mut Vec<Insn>, kind| {
        relocate(&local, &target, &[relo(0, 3, &[0, 1], kind)], insns)
    };
    // The load does not hold the local offset 4.
    assert_eq!(
        r(
            &mut vec![ldx(BPF_W, 0, 1, 6)],
            CoreReloKind::FieldByteOffset
        ),
        Err(CoreError::ValueMismatch {
            insn_index: 0,
            expected: 4,
            found: 6
        })
    );
    // The ALU immediate does not hold it.
    assert_eq!(
        r(&mut vec![mov(1, 5)], CoreReloKind::FieldByteOffset),
        Err(CoreError::ValueMismatch {
            insn_index: 0,
            expected: 4,
            found: 5
        })
    );
    // A register-source ALU or a jump cannot be patched.
    let exit = Insn {
        code: insn::EXIT,
        ..Insn::default()
    };
    assert_eq!(
        r(&mut vec![exit], CoreReloKind::FieldByteOffset),
        Err(CoreError::UnexpectedInsn {
            insn_index: 0,
            insn: exit,
            kind: CoreReloKind::FieldByteOffset
        })
    );
    // An ld_imm64 without its second slot.
    let [l0, _] = ld_imm64(1, 4);
    assert!(matches!(
        r(&mut vec![l0], CoreReloKind::FieldByteOffset),
        Err(CoreError::UnexpectedInsn { .. })
    ));
    // Offsets outside the instructions or not on a slot.
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(12, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
            &mut [mov(1, 4), mov(1, 4)]
        ),
        Err(CoreError::BadInsnOffset {
            insn_off: 12,
            insns: 2
        })
    );
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(16, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
            &mut [mov(1, 4), mov(1, 4)]
        ),
        Err(CoreError::BadInsnOffset {
            insn_off: 16,
            insns: 2
        })
    );
    // An access string that does not walk the local type.
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(0, 3, &[0, 9], CoreReloKind::FieldByteOffset)],
            &mut [mov(1, 4)]
        ),
        Err(CoreError::BadAccess {
            insn_off: 0,
            type_id: 3,
            access: "0:9".into(),
            reason: "STRUCT 'sock' has no member 9".into()
        })
    );
    // A relocation on an anonymous type.
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0);
    b.add_struct("", 4, &[("a", u32_, 0, 0)]);
    let anon = Btf::parse(b.build()).unwrap();
    assert_eq!(
        relocate(
            &anon,
            &target,
            &[relo(0, 2, &[0, 0], CoreReloKind::FieldByteOffset)],
            &mut [mov(1, 0)]
        ),
        Err(CoreError::AnonymousType {
            insn_off: 0,
            type_id: 2
        })
    );
    // An access string deeper than any real type.
    assert_eq!(
        relocate(
            &local,
            &target,
            &[relo(0, 3, &[0; 65], CoreReloKind::FieldByteOffset)],
            &mut [mov(1, 0)]
        ),
        Err(CoreError::BadAccess {
            insn_off: 0,
            type_id: 3,
            access: ["0"; 65].join(":"),
            reason: "more than 64 steps".into()
        })
    );
    // An array index whose offset overflows 64 bits.
    let mut b = BtfBuilder::new();
    let huge = b.add_struct("huge", u32::MAX, &[]);
    let u32_ = b.add_int("unsigned int", 4, 0);
    let arr = b.add_array(huge, u32_, u32::MAX);
    b.add_struct("big", 16, &[("h", arr, 0, 0)]);
    let big = Btf::parse(b.build()).unwrap();
    assert_eq!(
        relocate(
            &big,
            &target,
            &[relo(
                0,
                4,
                &[0, 0, u32::MAX - 1],
                CoreReloKind::FieldByteOffset
            )],
            &mut [mov(1, 0)]
        ),
        Err(CoreError::BadAccess {
            insn_off: 0,
            type_id: 4,
            access: "0:0:4294967294".into(),
            reason: "the field's offset overflows 64 bits".into()
        })
    );
    // Display is one line.
    let e = CoreError::Ambiguous {
        insn_index: 3,
        local_access: "struct sock.b".into(),
        first: (7, 12),
        second: (8, 4),
        bit_offsets: None,
    };
    assert_eq!(
        e.to_string(),
        "CO-RE insn #3 struct sock.b: ambiguous: target [7] gives 12, [8] gives 4"
    );
    let e = CoreError::Ambiguous {
        insn_index: 3,
        local_access: "struct sock.b".into(),
        first: (7, 4),
        second: (8, 4),
        bit_offsets: Some((96, 32)),
    };
    assert_eq!(
        e.to_string(),
        "CO-RE insn #3 struct sock.b: ambiguous: target [7] has it at bit 96, [8] at bit 32"
    );
}

#[test]
fn type_loops_in_the_target_are_errors_not_hangs() {
    let local = local();
    let mut b = BtfBuilder::new();
    // struct sock { loop b; } where typedef loop -> loop
    let looped = b.next_id() + 1;
    b.add_struct("sock", 8, &[("b", looped, 0, 0)]);
    b.add_typedef("loop", looped);
    let target = Btf::parse(b.build()).unwrap();
    let r = relocate(
        &local,
        &target,
        &[relo(0, 3, &[0, 1], CoreReloKind::FieldByteOffset)],
        &mut [ldx(BPF_W, 0, 1, 4)],
    );
    assert_eq!(
        r,
        Err(CoreError::TargetBtf {
            insn_off: 0,
            error: BtfError::TypeLoop { id: 2 }
        })
    );
}

#[test]
fn object_against_itself_changes_nothing() {
    let btf = object_btf();
    let ext = BtfExt::parse(&object_section(".BTF.ext"), &btf).unwrap();
    for sec in ["kprobe/tcp_connect", "tracepoint/sock/inet_sock_set_state"] {
        let orig = insn::decode(&object_section(sec)).unwrap();
        let mut insns = orig.clone();
        let fixups = relocate(&btf, &btf, ext.core_relos(sec), &mut insns).unwrap();
        assert_eq!(fixups.len(), ext.core_relos(sec).len());
        assert_eq!(insns, orig, "{sec}");
        for f in &fixups {
            assert_eq!(Some(f.local_value), f.target_value, "{f}");
        }
    }
    // Spelled accesses of the kprobe program.
    let mut insns = insn::decode(&object_section("kprobe/tcp_connect")).unwrap();
    let fixups = relocate(&btf, &btf, ext.core_relos("kprobe/tcp_connect"), &mut insns).unwrap();
    let spelled: Vec<&str> = fixups.iter().map(|f| f.local_access.as_str()).collect();
    assert_eq!(
        spelled,
        [
            "struct pt_regs.di",
            "struct task_struct.nsproxy",
            "struct nsproxy.mnt_ns",
            "struct mnt_namespace.ns.inum",
            "struct sock.__sk_common.skc_state",
            "struct sock.__sk_common.skc_family",
            "struct task_struct.loginuid",
            "struct task_struct.loginuid.val",
            "struct task_struct.nsproxy",
            "struct nsproxy.mnt_ns",
            "struct mnt_namespace.ns.inum",
            "struct sock.__sk_common.skc_net.net",
            "struct net.ns.inum",
            "struct sock.sk_protocol",
            "struct sock.sk_protocol",
            "struct sock.sk_protocol",
            "struct sock.sk_protocol",
            "struct sock.sk_protocol",
            "struct sock.sk_protocol",
            "struct sock.__sk_common.skc_num",
            "struct sock.__sk_common.skc_dport",
            "struct sock.__sk_common.skc_rcv_saddr",
            "struct sock.__sk_common.skc_daddr",
            "struct sock.__sk_common.skc_v6_rcv_saddr",
            "struct sock.__sk_common.skc_v6_daddr",
        ]
    );
}

// ---- this host's kernel, with bpftool as the reference ----

/// A type as `bpftool btf dump file ... ` prints it: kind, name, size, referenced type
/// and members (name, type id, bit offset).
#[derive(Default, Debug)]
struct DumpType {
    kind: String,
    name: String,
    size: Option<u64>,
    type_id: Option<u32>,
    nr_elems: Option<u64>,
    members: Vec<(String, u32, u64)>,
}

fn field<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    let at = line.find(key)? + key.len();
    let rest = &line[at..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn parse_dump(text: &str) -> HashMap<u32, DumpType> {
    let mut types = HashMap::new();
    let mut cur: Option<u32> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            let close = rest.find(']').unwrap();
            let id: u32 = rest[..close].parse().unwrap();
            let mut words = rest[close + 2..].splitn(2, ' ');
            let kind = words.next().unwrap().to_string();
            let after = words.next().unwrap_or("");
            let name = after.split('\'').nth(1).unwrap_or("").to_string();
            types.insert(
                id,
                DumpType {
                    kind,
                    name,
                    size: field(after, " size="),
                    type_id: field(after, "type_id="),
                    nr_elems: field(after, "nr_elems="),
                    members: Vec::new(),
                },
            );
            cur = Some(id);
        } else if let (Some(id), Some(rest)) = (cur, line.strip_prefix('\t')) {
            if rest.starts_with('\'') {
                let name = rest.split('\'').nth(1).unwrap().to_string();
                if let (Some(t), Some(off)) = (field(rest, "type_id="), field(rest, "bits_offset="))
                {
                    types.get_mut(&id).unwrap().members.push((name, t, off));
                }
            }
        }
    }
    types
}

fn dump_size(types: &HashMap<u32, DumpType>, mut id: u32) -> u64 {
    let mut mult = 1;
    for _ in 0..64 {
        let t = &types[&id];
        match t.kind.as_str() {
            "PTR" => return 8 * mult,
            "ARRAY" => {
                mult *= t.nr_elems.unwrap();
                id = t.type_id.unwrap();
            }
            "TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG" => id = t.type_id.unwrap(),
            _ => return t.size.unwrap() * mult,
        }
    }
    panic!("loop in bpftool's dump at {id}")
}

fn dump_peel(types: &HashMap<u32, DumpType>, mut id: u32) -> u32 {
    while matches!(
        types[&id].kind.as_str(),
        "TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG"
    ) {
        id = types[&id].type_id.unwrap();
    }
    id
}

/// The member `name` of `id`, through anonymous members: (bit offset, type id).
fn dump_member(types: &HashMap<u32, DumpType>, id: u32, name: &str) -> Option<(u64, u32)> {
    for (m, t, off) in &types[&id].members {
        if m == name {
            return Some((*off, *t));
        }
        if m == "(anon)" {
            let inner = dump_peel(types, *t);
            if let Some((o, tt)) = dump_member(types, inner, name) {
                return Some((off + o, tt));
            }
        }
    }
    None
}

#[test]
fn object_against_this_kernel_matches_bpftool() {
    let vmlinux = crate::btf::kernel::VMLINUX_BTF;
    if !std::path::Path::new(vmlinux).exists() {
        eprintln!("skipped: {vmlinux} does not exist");
        return;
    }
    let out = match std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", vmlinux])
        .output()
    {
        Ok(o) if o.status.success() => o,
        _ => {
            eprintln!("skipped: bpftool is not available");
            return;
        }
    };
    let dump = parse_dump(&String::from_utf8_lossy(&out.stdout));
    let target = crate::btf::kernel::load().unwrap();
    assert_eq!(target.len() as usize, dump.len() + 1);
    // Every type decodes, with bpftool's kind, name and member count.
    for id in 1..target.len() {
        let t = target.type_by_id(id).unwrap();
        let d = &dump[&id];
        assert_eq!(t.kind().name(), d.kind, "[{id}]");
        let name = if t.name.is_empty() { "(anon)" } else { &t.name };
        assert_eq!(name, d.name, "[{id}]");
        assert_eq!(t.members().len(), d.members.len(), "[{id}]");
        if let Some(m) = t.members().last() {
            assert_eq!(
                Some(&(m.type_id, m.bit_offset as u64)),
                d.members.last().map(|(_, t, o)| (*t, *o)).as_ref(),
                "[{id}]"
            );
        }
    }

    let local = object_btf();
    let ext = BtfExt::parse(&object_section(".BTF.ext"), &local).unwrap();
    let mut checked = 0;
    for sec in ["kprobe/tcp_connect", "tracepoint/sock/inet_sock_set_state"] {
        let mut insns = insn::decode(&object_section(sec)).unwrap();
        let fixups = relocate(&local, &target, ext.core_relos(sec), &mut insns).unwrap();
        for f in &fixups {
            eprintln!("{sec}: {f}");
            assert!(!f.poisoned, "{f}");
            // "struct sock.__sk_common.skc_family" -> root "sock", path of names.
            let (root, path) = f.local_access.split_once('.').unwrap();
            let root = root.strip_prefix("struct ").unwrap();
            let root_id = *dump
                .iter()
                .filter(|(_, t)| t.kind == "STRUCT" && t.name == root)
                .map(|(id, _)| id)
                .min()
                .unwrap();
            let mut id = root_id;
            let mut bits = 0;
            let mut exists = true;
            for name in path.split('.') {
                match dump_member(&dump, dump_peel(&dump, id), name) {
                    Some((off, t)) => {
                        bits += off;
                        id = t;
                    }
                    None => {
                        exists = false;
                        break;
                    }
                }
            }
            let expect = match f.relo.kind {
                CoreReloKind::FieldExists => exists as u64,
                CoreReloKind::FieldByteOffset => bits / 8,
                CoreReloKind::FieldByteSize => dump_size(&dump, id),
                _ => continue,
            };
            assert!(exists || f.relo.kind == CoreReloKind::FieldExists, "{f}");
            assert_eq!(f.target_value, Some(expect), "{f}");
            assert!(!f.poisoned, "{f}");
            checked += 1;
        }
    }
    // 25 + 26 records, minus the lshift, signed and 2 rshift ones of sk_protocol.
    assert_eq!(checked, 47);
}

/// libbpf's validation rules (`bpf_core_calc_field_relo`): for a bitfield, the byte
/// offset, byte size and left shift the instruction holds are not checked against the
/// locally computed ones (clang may have chosen another load); the right shift and the
/// signedness are. For a plain field every kind is checked.
#[test]
fn bitfield_validation_follows_libbpf() {
    let local = local();
    // Target: f (3 bits, u32) at bit 70: byte_off 8, byte_sz 4, lshift 55, rshift 61.
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0);
    b.add_struct(
        "bits",
        12,
        &[("pad", u32_, 0, 0), ("lo", u32_, 32, 0), ("f", u32_, 70, 3)],
    );
    let target = Btf::parse(b.build()).unwrap();
    // Local values: byte_off 4, byte_sz 4, lshift 56, rshift 61, signed 0. Each
    // instruction below holds something else (as clang's own load choice would give).
    let one = |kind, held: i32| {
        let mut insns = vec![mov(1, held)];
        relocate(&local, &target, &[relo(0, 5, &[0, 1], kind)], &mut insns).map(|_| insns)
    };
    assert_eq!(one(CoreReloKind::FieldByteOffset, 0), Ok(vec![mov(1, 8)]));
    assert_eq!(one(CoreReloKind::FieldByteSize, 8), Ok(vec![mov(1, 4)]));
    assert_eq!(one(CoreReloKind::FieldLshiftU64, 36), Ok(vec![mov(1, 55)]));
    assert_eq!(
        one(CoreReloKind::FieldRshiftU64, 60),
        Err(CoreError::ValueMismatch {
            insn_index: 0,
            expected: 61,
            found: 60
        })
    );
    assert_eq!(
        one(CoreReloKind::FieldSigned, 1),
        Err(CoreError::ValueMismatch {
            insn_index: 0,
            expected: 0,
            found: 1
        })
    );
    // The same kinds on a plain field (sock.b: u32 at byte 4) are all checked.
    let target = target_with(&[("sock", sock_moved())]);
    for (kind, local_value) in [
        (CoreReloKind::FieldByteOffset, 4),
        (CoreReloKind::FieldByteSize, 4),
        (CoreReloKind::FieldLshiftU64, 32),
        (CoreReloKind::FieldRshiftU64, 32),
        (CoreReloKind::FieldSigned, 0),
    ] {
        let mut insns = vec![mov(1, 17)];
        assert_eq!(
            relocate(&local, &target, &[relo(0, 3, &[0, 1], kind)], &mut insns),
            Err(CoreError::ValueMismatch {
                insn_index: 0,
                expected: local_value,
                found: 17
            }),
            "{kind:?}"
        );
    }
    // Type ids may be renumbered by linking: never checked.
    assert!(!validates(CoreReloKind::TypeIdTarget, false));
    assert!(!validates(CoreReloKind::TypeIdLocal, false));
    assert!(validates(CoreReloKind::TypeSize, false));
    assert!(validates(CoreReloKind::FieldExists, true));
}
