//! The C header of hand-made BTF, construct by construct: the exact text bpftool writes
//! (checked by `tests/btf_dump.rs` on this host's whole vmlinux, and by clang there).

use super::super::build::BtfBuilder;
use super::super::{Btf, BTF_INT_CHAR, BTF_INT_SIGNED};
use super::*;

/// Every type of the blob, as declarations (no guard).
fn dump(b: &BtfBuilder) -> String {
    let btf = Btf::parse(b.build()).expect("hand-made BTF parses");
    let roots: Vec<u32> = (1..btf.len()).collect();
    declarations(&btf, &roots).expect("dumps")
}

fn dump_err(b: &BtfBuilder) -> DumpError {
    let btf = Btf::parse(b.build()).expect("hand-made BTF parses");
    let roots: Vec<u32> = (1..btf.len()).collect();
    declarations(&btf, &roots).expect_err("refused")
}

#[test]
fn struct_with_pointer_to_itself_needs_no_forward_declaration() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let ptr = b.add_ptr(3);
    b.add_struct("node", 16, &[("value", int, 0, 0), ("next", ptr, 64, 0)]);
    assert_eq!(
        dump(&b),
        "struct node {\n\tint value;\n\tstruct node *next;\n};\n\n"
    );
}

#[test]
fn mutual_pointers_get_a_forward_declaration_first() {
    let mut b = BtfBuilder::new();
    let pa = b.add_ptr(3); // 1 -> struct a
    let pb = b.add_ptr(4); // 2 -> struct b
    b.add_struct("a", 8, &[("b", pb, 0, 0)]); // 3
    b.add_struct("b", 8, &[("a", pa, 0, 0)]); // 4
    assert_eq!(
        dump(&b),
        "struct b;\n\n\
         struct a {\n\tstruct b *b;\n};\n\n\
         struct b {\n\tstruct a *a;\n};\n\n"
    );
}

#[test]
fn embedded_struct_is_defined_before_its_container() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    b.add_struct("outer", 8, &[("in", 3, 0, 0), ("x", int, 32, 0)]); // 2
    b.add_struct("inner", 4, &[("y", int, 0, 0)]); // 3
    assert_eq!(
        dump(&b),
        "struct inner {\n\tint y;\n};\n\n\
         struct outer {\n\tstruct inner in;\n\tint x;\n};\n\n"
    );
}

#[test]
fn anonymous_struct_and_union_are_written_inline() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ch = b.add_int("char", 1, BTF_INT_CHAR | BTF_INT_SIGNED); // 2
    let anon_u = b.add_union("", 4, &[("i", int, 0, 0), ("c", ch, 0, 0)]); // 3
    let anon_s = b.add_struct("", 8, &[("a", int, 0, 0), ("b", int, 32, 0)]); // 4
    b.add_struct("s", 12, &[("", anon_u, 0, 0), ("pair", anon_s, 32, 0)]);
    assert_eq!(
        dump(&b),
        "struct s {\n\
         \tunion {\n\t\tint i;\n\t\tchar c;\n\t};\n\
         \tstruct {\n\t\tint a;\n\t\tint b;\n\t} pair;\n\
         };\n\n"
    );
}

#[test]
fn bitfields_and_the_padding_between_them() {
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
                                                // flags: 3 bits at 0, mode: 4 bits at 8 (a 5-bit hole), then a u32 at 32.
    b.add_struct(
        "bits",
        8,
        &[
            ("flags", u32_, 0, 3),
            ("mode", u32_, 8, 4),
            ("n", u32_, 32, 0),
        ],
    );
    assert_eq!(
        dump(&b),
        "struct bits {\n\tunsigned int flags: 3;\n\tchar: 5;\n\tunsigned int mode: 4;\n\
         \tunsigned int n;\n};\n\n"
    );
}

#[test]
fn a_member_past_its_natural_alignment_gets_an_aligning_mark() {
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
    let u8_ = b.add_int("unsigned char", 1, 0); // 2
                                                // `__u32 x __attribute__((aligned(8)))` after a byte: at 8, not at 4.
    b.add_struct("al", 16, &[("c", u8_, 0, 0), ("x", u32_, 64, 0)]);
    assert_eq!(
        dump(&b),
        "struct al {\n\tunsigned char c;\n\tlong: 0;\n\tunsigned int x;\n\tlong: 0;\n};\n\n"
    );
}

#[test]
fn unaligned_member_makes_the_struct_packed() {
    let mut b = BtfBuilder::new();
    let u8_ = b.add_int("unsigned char", 1, 0); // 1
    let u32_ = b.add_int("unsigned int", 4, 0); // 2
    b.add_struct("p", 5, &[("c", u8_, 0, 0), ("x", u32_, 8, 0)]);
    assert_eq!(
        dump(&b),
        "struct p {\n\tunsigned char c;\n\tunsigned int x;\n} __attribute__((packed));\n\n"
    );
}

#[test]
fn tail_padding_of_a_cacheline_aligned_struct() {
    let mut b = BtfBuilder::new();
    let long = b.add_int("long int", 8, BTF_INT_SIGNED); // 1
    b.add_struct("cl", 64, &[("x", long, 0, 0)]);
    assert_eq!(
        dump(&b),
        "struct cl {\n\tlong int x;\n\tlong: 64;\n\tlong: 64;\n\tlong: 64;\n\tlong: 64;\n\
         \tlong: 64;\n\tlong: 64;\n\tlong: 64;\n};\n\n"
    );
}

#[test]
fn empty_struct_stays_on_one_line() {
    let mut b = BtfBuilder::new();
    b.add_struct("empty", 0, &[]);
    assert_eq!(dump(&b), "struct empty {};\n\n");
}

#[test]
fn enums_of_every_size() {
    let mut b = BtfBuilder::new();
    b.add_enum("e32", 4, false, &[("A", 0), ("B", 4294967295)]);
    b.add_enum("s32", 4, true, &[("NEG", -1)]);
    b.add_enum("e8", 1, false, &[("SMALL", 1)]);
    b.add_enum("e64w", 8, false, &[("W", 1)]);
    b.add_enum64("e64", 8, false, &[("BIG", 1 << 40)]);
    b.add_enum64("e64s", 8, true, &[("MIN", i64::MIN as u64)]);
    b.add_enum64("e64small", 8, false, &[("ONE", 1)]);
    assert_eq!(
        dump(&b),
        "enum e32 {\n\tA = 0,\n\tB = 4294967295,\n};\n\n\
         enum s32 {\n\tNEG = -1,\n};\n\n\
         enum e8 {\n\tSMALL = 1,\n} __attribute__((mode(byte)));\n\n\
         enum e64w {\n\tW = 1,\n} __attribute__((mode(word)));\n\n\
         enum e64 {\n\tBIG = 1099511627776ULL,\n};\n\n\
         enum e64s {\n\tMIN = -9223372036854775808LL,\n};\n\n\
         enum e64small {\n\tONE = 1ULL,\n} __attribute__((mode(word)));\n\n"
    );
}

#[test]
fn anonymous_enum_nothing_refers_to_is_a_declaration_of_constants() {
    let mut b = BtfBuilder::new();
    b.add_enum("", 4, false, &[("FLAG_A", 1), ("FLAG_B", 2)]);
    assert_eq!(dump(&b), "enum {\n\tFLAG_A = 1,\n\tFLAG_B = 2,\n};\n\n");
}

#[test]
fn typedefs_function_pointers_and_prototypes() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ch = b.add_int("char", 1, BTF_INT_CHAR | BTF_INT_SIGNED); // 2
    let cch = b.add_const(ch); // 3
    let pcch = b.add_ptr(cch); // 4
    let proto = b.add_func_proto(int, &[("fmt", pcch), ("", 0)]); // 5: int (const char *fmt, ...)
    let pproto = b.add_ptr(proto); // 6
    b.add_typedef("printer_t", pproto); // 7
    let void_proto = b.add_func_proto(0, &[]); // 8
    b.add_typedef("thunk_fn", void_proto); // 9
    b.add_typedef("u32_t", int); // 10
    assert_eq!(
        dump(&b),
        "typedef int (*printer_t)(const char *fmt, ...);\n\n\
         typedef void thunk_fn(void);\n\n\
         typedef int u32_t;\n\n"
    );
}

#[test]
fn arrays_of_arrays_and_pointers_to_arrays() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let row = b.add_array(int, int, 3); // 2: int[3]
    let grid = b.add_array(row, int, 2); // 3: int[2][3]
    let prow = b.add_ptr(row); // 4: int (*)[3]
    let pint = b.add_ptr(int); // 5
    let ptrs = b.add_array(pint, int, 4); // 6: int *[4]
    b.add_struct(
        "arrs",
        64,
        &[
            ("grid", grid, 0, 0),
            ("p", prow, 192, 0),
            ("ptrs", ptrs, 256, 0),
        ],
    );
    assert_eq!(
        dump(&b),
        "struct arrs {\n\tint grid[2][3];\n\tint (*p)[3];\n\tint *ptrs[4];\n};\n\n"
    );
}

#[test]
fn qualifiers_and_type_tags() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let vint = b.add_volatile(int); // 2
    let tagged = b.add_type_tag("user", int); // 3
    let ptag = b.add_ptr(tagged); // 4: int __attribute__((btf_type_tag("user"))) *
    let pint = b.add_ptr(int); // 5
    let rp = b.add_restrict(pint); // 6: int * restrict
    let cp = b.add_const(pint); // 7: int * const
    b.add_struct(
        "q",
        32,
        &[
            ("v", vint, 0, 0),
            ("u", ptag, 64, 0),
            ("r", rp, 128, 0),
            ("c", cp, 192, 0),
        ],
    );
    assert_eq!(
        dump(&b),
        "struct q {\n\tvolatile int v;\n\tint __attribute__((btf_type_tag(\"user\"))) *u;\n\
         \tint * restrict r;\n\tint * const c;\n};\n\n"
    );
}

#[test]
fn decl_tags_on_a_struct_and_a_member() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let s = b.add_struct("t", 4, &[("x", int, 0, 0)]); // 2
    b.add_decl_tag("whole", s, -1);
    b.add_decl_tag("field", s, 0);
    assert_eq!(
        dump(&b),
        "struct t __attribute__((btf_decl_tag(\"whole\"))) {\n\
         \tint x __attribute__((btf_decl_tag(\"field\")));\n};\n\n"
    );
}

#[test]
fn name_clashes_get_numbered_suffixes() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ch = b.add_int("char", 1, BTF_INT_SIGNED); // 2
    b.add_struct("dup", 4, &[("a", int, 0, 0)]); // 3
    b.add_struct("dup", 1, &[("b", ch, 0, 0)]); // 4
    b.add_enum("one", 4, false, &[("SAME", 1)]); // 5
    b.add_enum("two", 4, false, &[("SAME", 2)]); // 6
    assert_eq!(
        dump(&b),
        "struct dup {\n\tint a;\n};\n\n\
         struct dup___2 {\n\tchar b;\n};\n\n\
         enum one {\n\tSAME = 1,\n};\n\n\
         enum two {\n\tSAME___2 = 2,\n};\n\n"
    );
}

#[test]
fn forward_declarations_of_struct_and_union() {
    let mut b = BtfBuilder::new();
    b.add_fwd("sock", false);
    b.add_fwd("bpf_attr", true);
    assert_eq!(dump(&b), "struct sock;\n\nunion bpf_attr;\n\n");
}

#[test]
fn header_has_bpftools_guard_and_pragma() {
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, BTF_INT_SIGNED);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(
        header(&btf).unwrap(),
        "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
         #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
         #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
         #endif\n\n\
         #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
         #endif /* __VMLINUX_H__ */\n"
    );
}

#[test]
fn only_the_named_types_and_what_they_need() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    b.add_struct("unrelated", 4, &[("z", int, 0, 0)]); // 2
    b.add_struct("inner", 4, &[("y", int, 0, 0)]); // 3
    b.add_typedef("inner_t", 3); // 4
    b.add_struct("wanted", 4, &[("i", 4, 0, 0)]); // 5
    let btf = Btf::parse(b.build()).unwrap();
    let text = header_of(&btf, &["wanted"]).unwrap();
    assert!(
        text.contains(
            "struct inner {\n\tint y;\n};\n\ntypedef struct inner inner_t;\n\n\
             struct wanted {\n\tinner_t i;\n};\n\n"
        ),
        "{text}"
    );
    assert!(!text.contains("unrelated"), "{text}");
    assert_eq!(
        header_of(&btf, &["nope"]).unwrap_err(),
        DumpError::NotFound {
            name: "nope".into()
        }
    );
}

#[test]
fn struct_containing_itself_by_value_is_a_cycle() {
    let mut b = BtfBuilder::new();
    b.add_struct("loop", 4, &[("me", 1, 0, 0)]);
    assert_eq!(dump_err(&b), DumpError::Cycle { id: 1 });
}

#[test]
fn pointer_loop_and_array_loop_are_errors_not_hangs() {
    let mut b = BtfBuilder::new();
    b.add_ptr(2); // 1 -> 2
    b.add_const(1); // 2 -> 1
    assert_eq!(dump_err(&b), DumpError::TooDeep { id: 2 });

    let mut b = BtfBuilder::new();
    b.add_array(1, 1, 2); // an array of itself
    assert!(matches!(dump_err(&b), DumpError::TooDeep { .. }));
}

#[test]
fn member_of_a_missing_type_is_an_error() {
    let mut b = BtfBuilder::new();
    b.add_struct("s", 4, &[("x", 99, 0, 0)]);
    let error = dump_err(&b);
    assert!(matches!(error, DumpError::Btf { id: 99, .. }), "{error:?}");
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn function_as_a_member_type_is_refused() {
    let mut b = BtfBuilder::new();
    let proto = b.add_func_proto(0, &[]); // 1
    let func = b.add_func("f", proto, 0); // 2
    b.add_struct("s", 8, &[("x", func, 0, 0)]); // 3
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(
        declarations(&btf, &[3]).unwrap_err(),
        DumpError::UnexpectedKind {
            id: 2,
            kind: Kind::Func
        }
    );
}

#[test]
fn anonymous_records_nested_many_times_over_are_refused_not_written() {
    // Each anonymous struct holds the previous one twice: 2^20 copies inline.
    let mut b = BtfBuilder::new();
    let mut inner = b.add_int("int", 4, BTF_INT_SIGNED);
    let mut size = 4;
    for _ in 0..20 {
        inner = b.add_struct(
            "",
            size * 2,
            &[("a", inner, 0, 0), ("b", inner, size * 8, 0)],
        );
        size *= 2;
    }
    b.add_struct("top", size, &[("x", inner, 0, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    let top = btf.len() - 1;
    // The walk that declares what the members need is cut first; the text would be next.
    assert_eq!(
        declarations(&btf, &[top]).unwrap_err(),
        DumpError::TooManySteps {
            limit: step_limit(btf.len())
        }
    );
}

#[test]
fn prototypes_that_refer_to_each_other_many_times_over_are_refused_in_time() {
    // Each prototype takes eight pointers to the previous one: 8^30 paths to walk.
    let mut b = BtfBuilder::new();
    let mut proto = b.add_func_proto(0, &[]);
    for _ in 0..30 {
        let ptr = b.add_ptr(proto);
        let params: Vec<(&str, u32)> = (0..8).map(|_| ("", ptr)).collect();
        proto = b.add_func_proto(0, &params);
    }
    let ptr = b.add_ptr(proto);
    b.add_typedef("cb", ptr);
    let btf = Btf::parse(b.build()).unwrap();
    let error = declarations(&btf, &[btf.len() - 1]).unwrap_err();
    assert!(
        matches!(
            error,
            DumpError::TooManySteps { .. } | DumpError::TooLarge { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn a_struct_of_four_gigabytes_is_refused_not_padded() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    b.add_struct("huge", u32::MAX - 3, &[("x", int, 0, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(
        declarations(&btf, &[2]).unwrap_err(),
        DumpError::TooLarge {
            limit: output_limit(btf.as_bytes().len())
        }
    );
}
