//! The Rust of hand-made BTF: the fields, padding, representation and accessors each C
//! construct gives (tests/gen_rust.rs compiles the output for every corpus object).

use super::super::build::BtfBuilder;
use super::super::{Btf, BTF_INT_CHAR, BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED};
use super::*;

fn gen(b: &BtfBuilder) -> String {
    let btf = Btf::parse(b.build()).expect("hand-made BTF parses");
    generate(&btf, "test.bpf.o").expect("generates")
}

/// The item that starts with `start`, up to its closing line.
fn item<'a>(text: &'a str, start: &str) -> &'a str {
    let at = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in\n{text}"));
    let rest = &text[at..];
    let end = rest.find("\n}\n").map(|e| e + 3).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_hole_becomes_a_padding_field_and_sizes_are_asserted() {
    let mut b = BtfBuilder::new();
    let u16_ = b.add_int("unsigned short", 2, 0); // 1
    let u32_ = b.add_int("unsigned int", 4, 0); // 2
    let ch = b.add_int("char", 1, BTF_INT_CHAR | BTF_INT_SIGNED); // 3
    let comm = b.add_array(ch, u32_, 16); // 4
    b.add_struct(
        "data_t",
        24,
        &[
            ("comm", comm, 0, 0),
            ("port", u16_, 128, 0),
            ("pid", u32_, 160, 0),
        ],
    );
    let text = gen(&b);
    assert_eq!(
        item(&text, "#[repr(C)]\n#[allow(non_snake_case)]\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct DataT"),
        "#[repr(C)]\n#[allow(non_snake_case)]\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct DataT {\n    \
         pub comm: [u8; 16],\n    pub port: u16,\n    pub _pad18: [u8; 2],\n    pub pid: u32,\n}\n"
    );
    for line in [
        "const _: () = assert!(::core::mem::size_of::<DataT>() == 24);",
        "const _: () = assert!(::core::mem::offset_of!(DataT, _pad18) == 18);",
        "const _: () = assert!(::core::mem::offset_of!(DataT, pid) == 20);",
        "unsafe impl ::ebpf_loader::pod::Pod for DataT {",
        "::ebpf_loader::pod::Field::of::<u32>(\"pid\", ::core::mem::offset_of!(DataT, pid)),",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // Padding is not a C member: the layout check is not told of it.
    assert!(!text.contains("Field::of::<[u8; 2]>(\"_pad18\""), "{text}");
}

#[test]
fn bitfields_are_bytes_and_the_struct_checks_only_its_size() {
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
    b.add_struct(
        "flags",
        8,
        &[("a", u32_, 0, 3), ("b", u32_, 3, 5), ("n", u32_, 32, 0)],
    );
    let text = gen(&b);
    assert!(
        text.contains("pub struct Flags {\n    pub _pad0: [u8; 4],\n    pub n: u32,\n}\n"),
        "{text}"
    );
    assert!(
        item(&text, "unsafe impl ::ebpf_loader::pod::Pod for Flags").contains("Shape::Opaque"),
        "{text}"
    );
}

#[test]
fn a_union_is_its_bytes_with_its_alignment() {
    let mut b = BtfBuilder::new();
    let u32_ = b.add_int("unsigned int", 4, 0); // 1
    let u8_ = b.add_int("unsigned char", 1, 0); // 2
    let bytes = b.add_array(u8_, u32_, 16); // 3
    let words = b.add_array(u32_, u32_, 4); // 4
    let u = b.add_union(
        "",
        16,
        &[("u6_addr8", bytes, 0, 0), ("u6_addr32", words, 0, 0)],
    ); // 5
    b.add_struct("in6_addr", 16, &[("in6_u", u, 0, 0)]);
    let text = gen(&b);
    assert!(
        text.contains(
            "#[repr(C, align(4))]\n#[allow(non_snake_case)]\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\n\
             pub struct In6AddrIn6U {\n    pub bytes: [u8; 16],\n}\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("pub struct In6Addr {\n    pub in6_u: In6AddrIn6U,\n}\n"),
        "{text}"
    );
    assert!(
        text.contains("<[u8; 16] as ::ebpf_loader::pod::Pod>::shape()"),
        "{text}"
    );
}

#[test]
fn a_member_off_its_alignment_makes_the_struct_packed() {
    let mut b = BtfBuilder::new();
    let u8_ = b.add_int("unsigned char", 1, 0); // 1
    let u32_ = b.add_int("unsigned int", 4, 0); // 2
    b.add_struct("p", 5, &[("c", u8_, 0, 0), ("x", u32_, 8, 0)]);
    let text = gen(&b);
    assert!(
        text.contains("#[repr(C, packed)]\n#[allow(non_snake_case)]\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct P {"),
        "{text}"
    );
    assert!(text.contains("offset_of!(P, x) == 1);"), "{text}");
}

#[test]
fn pointers_floats_enums_and_keywords() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ptr = b.add_ptr(int); // 2
    let float = b.add_float("double", 8); // 3
    let e = b.add_enum("kind", 4, false, &[("A", 1)]); // 4
    b.add_struct(
        "k",
        24,
        &[
            ("type", e, 0, 0),
            ("ptr", ptr, 64, 0),
            ("ratio", float, 128, 0),
        ],
    );
    let text = gen(&b);
    assert!(
        text.contains(
            "pub struct K {\n    pub r#type: u32,\n    pub _pad4: [u8; 4],\n    pub ptr: u64,\n    \
             pub ratio: [u8; 8],\n}\n"
        ),
        "{text}"
    );
    assert!(text.contains("Field::of::<u32>(\"type\", ::core::mem::offset_of!(K, r#type))"));
}

/// `struct { __uint(type, T); __type(key, K); __type(value, V); } name SEC(".maps");`
fn add_map(b: &mut BtfBuilder, name: &str, map_type: u32, key: u32, value: u32, int: u32) -> u32 {
    let arr = b.add_array(int, int, map_type);
    let type_ptr = b.add_ptr(arr);
    let key_ptr = b.add_ptr(key);
    let value_ptr = b.add_ptr(value);
    let def = b.add_struct(
        "",
        24,
        &[
            ("type", type_ptr, 0, 0),
            ("key", key_ptr, 64, 0),
            ("value", value_ptr, 128, 0),
        ],
    );
    b.add_var(name, def, BTF_VAR_GLOBAL_ALLOCATED)
}

#[test]
fn maps_get_their_typed_views_and_globals_their_setters() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let u64_ = b.add_int("unsigned long long", 8, 0); // 2
    let key = b.add_struct("flow_key", 4, &[("port", int, 0, 0)]); // 3
    let counts = add_map(&mut b, "counts", 1, key, u64_, int);
    let ring = add_map(&mut b, "events", 27, int, int, int);
    let odd = add_map(&mut b, "stack", 7, int, int, int);
    b.add_datasec(
        ".maps",
        72,
        &[(counts, 0, 24), (ring, 24, 24), (odd, 48, 24)],
    );
    let pid = b.add_var("filter_pid", int, BTF_VAR_GLOBAL_ALLOCATED);
    let dropped = b.add_var("dropped", u64_, BTF_VAR_GLOBAL_ALLOCATED);
    b.add_datasec(".rodata", 4, &[(pid, 0, 4)]);
    b.add_datasec(".bss", 8, &[(dropped, 0, 8)]);
    let text = gen(&b);
    for line in [
        "    pub fn counts(\n        object: &::ebpf_loader::load::Object,\n    ) -> \
         ::core::result::Result<::ebpf_loader::load::HashMap<'_, FlowKey, u64>, \
         ::ebpf_loader::load::MapError> {\n        object.typed_map(\"counts\")\n    }",
        "::core::result::Result<::ebpf_loader::load::RingBufMap<'_>,",
        "    ) -> ::core::option::Option<&::ebpf_loader::load::Map> {\n        object.map(\"stack\")",
        "    pub fn set_filter_pid(\n        spec: &mut ::ebpf_loader::elf::ObjectSpec,\n        \
         value: &i32,\n    ) -> ::core::result::Result<(), ::ebpf_loader::elf::GlobalError> {\n        \
         spec.set_global(\"filter_pid\", value)\n    }",
        "    ) -> ::core::result::Result<u64, ::ebpf_loader::load::LoadError> {\n        \
         object.global(\"dropped\")",
        "pub struct Rodata {\n    pub filter_pid: i32,\n}",
        "pub struct Bss {\n    pub dropped: u64,\n}",
    ] {
        assert!(text.contains(line), "{line}\n---\n{text}");
    }
}

#[test]
fn clashing_names_get_numbers() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    b.add_struct("sk_buff", 4, &[("a", int, 0, 0)]);
    b.add_struct("__sk_buff", 4, &[("b", int, 0, 0)]);
    b.add_struct("maps", 4, &[("c", int, 0, 0)]);
    let text = gen(&b);
    assert!(
        text.contains("pub struct SkBuff {\n    pub a: i32,"),
        "{text}"
    );
    assert!(
        text.contains("pub struct SkBuff2 {\n    pub b: i32,"),
        "{text}"
    );
    assert!(
        text.contains("pub struct Maps2 {\n    pub c: i32,"),
        "{text}"
    );
}

#[test]
fn a_loop_and_a_bad_id_are_errors() {
    let mut b = BtfBuilder::new();
    b.add_array(1, 1, 2); // an array of itself
    b.add_struct("s", 8, &[("x", 1, 0, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    assert!(matches!(generate(&btf, "x"), Err(GenError::TooDeep { .. })));

    let mut b = BtfBuilder::new();
    b.add_struct("s", 8, &[("x", 77, 0, 0)]);
    let btf = Btf::parse(b.build()).unwrap();
    let error = generate(&btf, "x").unwrap_err();
    assert!(matches!(error, GenError::Btf { id: 77, .. }), "{error:?}");
}

#[test]
fn a_struct_containing_itself_is_refused_at_once() {
    // Each of its members is itself: walking them all would never end in time.
    let mut b = BtfBuilder::new();
    let members: Vec<(String, u32, u32, u8)> =
        (0..8).map(|i| (format!("m{i}"), 1, i * 32, 0)).collect();
    let specs: Vec<(&str, u32, u32, u8)> = members
        .iter()
        .map(|(n, t, o, s)| (n.as_str(), *t, *o, *s))
        .collect();
    b.add_struct("me", 32, &specs);
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(generate(&btf, "x").unwrap_err(), GenError::Cycle { id: 1 });
}
