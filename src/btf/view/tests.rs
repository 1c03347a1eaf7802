//! Views of hand-made BTF, kind by kind: the exact fields read in place; and the reader
//! ([`BtfReader`]) against [`Btf`]'s own lookups at every id and every string offset.

use std::sync::Arc;

use super::super::build::BtfBuilder;
use super::super::{BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED};
use super::*;

/// (name, type id, bit offset, bitfield size) of each member of `t`.
fn members(t: TypeView<'_>) -> Vec<(&str, u32, u32, u8)> {
    let (BodyView::Struct { members, .. } | BodyView::Union { members, .. }) = t.body() else {
        panic!("{t:?} is not a record");
    };
    members
        .map(|m| (m.name().unwrap(), m.type_id, m.bit_offset, m.bitfield_size))
        .collect()
}

#[test]
fn a_view_reads_each_kind_in_place() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED); // 1
    let ptr = b.add_ptr(int); // 2
    let arr = b.add_array(ptr, int, 3); // 3
    let s = b.add_struct(
        "s",
        16,
        &[("a", int, 0, 0), ("flags", int, 32, 3), ("", arr, 64, 0)],
    ); // 4
    let e = b.add_enum("e", 4, true, &[("NEG", -1), ("ONE", 1)]); // 5
    let e64 = b.add_enum64("e64", 8, false, &[("BIG", 1 << 40 | 5)]); // 6
    let proto = b.add_func_proto(int, &[("x", ptr), ("", 0)]); // 7
    let var = b.add_var("v", s, BTF_VAR_GLOBAL_ALLOCATED); // 8
    let sec = b.add_datasec(".data", 16, &[(var, 0, 16)]); // 9
    let tag = b.add_decl_tag("tagged", s, 1); // 10
    let fwd = b.add_fwd("u", true); // 11
    let btf = Btf::parse(b.build()).unwrap();

    let void = btf.view(0).unwrap();
    assert_eq!(
        (void.kind(), void.name(), void.vlen()),
        (Kind::Void, Ok(""), 0)
    );
    assert!(matches!(
        btf.view(int).unwrap().body(),
        BodyView::Int {
            size: 4,
            encoding: BTF_INT_SIGNED,
            offset: 0,
            bits: 32
        }
    ));
    assert!(matches!(btf.view(ptr).unwrap().body(), BodyView::Ptr { target } if target == int));
    assert!(matches!(
        btf.view(arr).unwrap().body(),
        BodyView::Array { elem, index, nelems: 3 } if elem == ptr && index == int
    ));

    let record = btf.view(s).unwrap();
    assert_eq!(
        (record.name(), record.vlen(), record.kind_flag()),
        (Ok("s"), 3, true)
    );
    assert_eq!(
        members(record),
        [("a", int, 0, 0), ("flags", int, 32, 3), ("", arr, 64, 0)]
    );

    let BodyView::Enum {
        size: 4,
        signed: true,
        values,
    } = btf.view(e).unwrap().body()
    else {
        panic!("enum");
    };
    assert_eq!(values.len(), 2);
    let values: Vec<_> = values.map(|v| (v.name().unwrap(), v.value)).collect();
    assert_eq!(values, [("NEG", u64::MAX), ("ONE", 1)]);
    let BodyView::Enum64 {
        size: 8,
        signed: false,
        values,
    } = btf.view(e64).unwrap().body()
    else {
        panic!("enum64");
    };
    let values: Vec<_> = values.map(|v| (v.name().unwrap(), v.value)).collect();
    assert_eq!(values, [("BIG", 1 << 40 | 5)]);

    let BodyView::FuncProto { ret, params } = btf.view(proto).unwrap().body() else {
        panic!("func proto");
    };
    let params: Vec<_> = params.map(|p| (p.name().unwrap(), p.type_id)).collect();
    assert_eq!((ret, params), (int, vec![("x", ptr), ("", 0)]));

    assert!(matches!(
        btf.view(var).unwrap().body(),
        BodyView::Var { type_id, linkage: BTF_VAR_GLOBAL_ALLOCATED } if type_id == s
    ));
    let BodyView::Datasec { size: 16, vars } = btf.view(sec).unwrap().body() else {
        panic!("datasec");
    };
    assert_eq!(
        vars.collect::<Vec<_>>(),
        [VarSecinfo {
            type_id: var,
            offset: 0,
            size: 16
        }]
    );
    assert!(matches!(
        btf.view(tag).unwrap().body(),
        BodyView::DeclTag { target, component_idx: 1 } if target == s
    ));
    assert!(matches!(
        btf.view(fwd).unwrap().body(),
        BodyView::Fwd { is_union: true }
    ));
    assert_eq!(
        btf.view(12).unwrap_err(),
        BtfError::TypeIdOutOfRange { id: 12, count: 12 }
    );
}

/// `reader` gives what `btf` gives, type by type and name by name: every id (and two
/// past the end) and every string offset (and two past the end).
fn assert_reader_agrees(btf: &Btf) {
    let reader = btf.reader();
    let str_end = btf.first_str + btf.strings().len() as u32;
    for id in 0..btf.len() + 2 {
        let ours = reader.view(id).and_then(|t| t.to_type());
        assert_eq!(ours, btf.view(id).and_then(|t| t.to_type()), "type {id}");
    }
    for offset in 0..str_end + 2 {
        assert_eq!(reader.name(offset), btf.name(offset), "string at {offset}");
    }
}

#[test]
fn the_reader_reads_what_btf_reads() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    // Two-byte characters: offsets inside them are no name.
    b.add_struct("größe", 8, &[("maß", int, 0, 0), ("", int, 32, 0)]);
    b.add_typedef("t", 7); // a reference to no type: reading it is not an error
    let btf = Btf::parse(b.build()).unwrap();
    let inside = btf.type_by_id(2).unwrap().name_off + 3;
    assert_eq!(
        btf.reader().name(inside),
        Err(BtfError::StringNotUtf8 { offset: inside })
    );
    assert_reader_agrees(&btf);
}

#[test]
fn the_reader_checks_names_one_by_one_where_the_section_is_not_all_utf8() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    b.add_struct("s", 4, &[("ZZ", int, 0, 0)]);
    let bad = b.add_string("ZZ");
    let mut bytes = b.build();
    let at = bytes.windows(3).position(|w| w == b"ZZ\0").unwrap();
    bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
    let btf = Btf::parse(bytes).unwrap();
    assert_eq!(
        btf.reader().name(bad),
        Err(BtfError::StringNotUtf8 { offset: bad })
    );
    assert_eq!(btf.reader().name(1), Ok("int"));
    assert_reader_agrees(&btf);
}

#[test]
fn the_reader_of_split_btf_reads_the_bases_types_and_names() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let base = Arc::new(Btf::parse(b.build()).unwrap());
    let mut split = BtfBuilder::new_split(&base);
    let s = split.add_struct("module_s", 4, &[("x", int, 0, 0)]);
    let btf = Btf::parse_split(split.build(), base).unwrap();
    let reader = btf.reader();
    assert_eq!(reader.view(int).unwrap().name(), Ok("int"));
    assert_eq!(members(reader.view(s).unwrap()), [("x", int, 0, 0)]);
    assert_reader_agrees(&btf);
}

#[test]
fn an_owned_type_names_its_own_bad_name_before_a_members() {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let s = b.add_struct("ZZ", 4, &[("YY", int, 0, 0)]);
    let (type_name, member_name) = (b.add_string("ZZ"), b.add_string("YY"));
    let mut bytes = b.build();
    for bad in [b"ZZ\0", b"YY\0"] {
        let at = bytes.windows(3).position(|w| w == bad).unwrap();
        bytes[at] = 0xff;
    }
    let btf = Btf::parse(bytes).unwrap();
    let not_utf8 = |offset| BtfError::StringNotUtf8 { offset };
    assert_eq!(btf.type_by_id(s), Err(not_utf8(type_name)));
    assert_eq!(members_names(&btf, s), [Err(not_utf8(member_name))]);
}

fn members_names(btf: &Btf, id: u32) -> Vec<Result<&str, BtfError>> {
    let BodyView::Struct { members, .. } = btf.view(id).unwrap().body() else {
        panic!("a struct");
    };
    members.map(|m| m.name()).collect()
}
