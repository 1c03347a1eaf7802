//! BTF sanitising: the object's BTF rewritten so that an older kernel's `BPF_BTF_LOAD`
//! accepts it, each kind the kernel does not know replaced by one it does, with the same
//! size, in the same place. Pure: it takes the BTF and the set of features the kernel has
//! (probed by [`crate::features::btf`]) and returns new bytes.
//!
//! ABI: `include/uapi/linux/btf.h` (the kinds and the layout of their extra data) and
//! `Documentation/bpf/btf.rst`; the replacement rules are libbpf's
//! (`bpf_object__sanitize_btf` in `tools/lib/bpf/libbpf.c`), so that an object that loads
//! with libbpf on a kernel loads here too:
//!
//! | kernel lacks | kind (since) | becomes |
//! |---|---|---|
//! | `datasec` | `VAR` (5.2) | `INT`, 1 byte, 8 bits, name kept |
//! | `datasec` | `DATASEC` (5.2) | `STRUCT` of the same size, one member per variable (its name, type, bit offset); `.` and `?` in the name become `_` |
//! | `decl_tag` | `DECL_TAG` (5.16) | `INT`, 1 byte, 8 bits, name kept |
//! | `func` | `FUNC_PROTO` (5.0) | `ENUM` of 4 bytes, one value per parameter |
//! | `func` | `FUNC` (5.0) | `TYPEDEF` of the prototype |
//! | `func_global` | `FUNC` global (5.6) | `FUNC` static |
//! | `float` | `FLOAT` (5.13) | anonymous `STRUCT` of the same size, no members |
//! | `type_tag` | `TYPE_TAG` (5.17) | anonymous `CONST` of the same target |
//! | `enum64` | `ENUM64` (6.0) | `UNION` of the same size, one member per value, each of a 1-byte `INT` `enum64_placeholder` added after the last type |
//! | `enum64` | `ENUM` signed (kind flag, 6.0) | `ENUM` with the kind flag cleared |
//!
//! Each replacement's extra data has the size of the original's (a `VAR`'s linkage word is
//! an `INT`'s encoding word, a `DATASEC` entry is a `struct btf_member`, ...), so every type
//! keeps its id: `func_info`, `line_info`, map key/value type ids and CO-RE records still
//! name the same types. The only type added (the `ENUM64` placeholder) comes after the last.

use std::fmt;

use super::{read_u32, Btf, Kind, BTF_HEADER_LEN, BTF_MAGIC, BTF_TYPE_LEN, BTF_VERSION};

/// The BTF features a kernel's `BPF_BTF_LOAD` has (what [`crate::features::btf::probe`]
/// finds). `true`: the kernel accepts it, nothing to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtfFeatures {
    /// `FUNC` and `FUNC_PROTO` (5.0).
    pub func: bool,
    /// `FUNC` with global linkage (5.6).
    pub func_global: bool,
    /// `VAR` and `DATASEC` (5.2).
    pub datasec: bool,
    /// `FLOAT` (5.13).
    pub float: bool,
    /// `DECL_TAG` (5.16).
    pub decl_tag: bool,
    /// `TYPE_TAG` (5.17).
    pub type_tag: bool,
    /// `ENUM64` and signed `ENUM` (6.0).
    pub enum64: bool,
}

impl BtfFeatures {
    /// A kernel that has everything this module knows.
    pub const ALL: BtfFeatures = BtfFeatures {
        func: true,
        func_global: true,
        datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    };

    /// A kernel with the first BTF only (4.18: no kind added since).
    pub const NONE: BtfFeatures = BtfFeatures {
        func: false,
        func_global: false,
        datasec: false,
        float: false,
        decl_tag: false,
        type_tag: false,
        enum64: false,
    };

    /// The names of the features missing, in this struct's order (empty: all there).
    pub fn missing(&self) -> Vec<&'static str> {
        let all = [
            (self.func, "FUNC"),
            (self.func_global, "global FUNC"),
            (self.datasec, "DATASEC/VAR"),
            (self.float, "FLOAT"),
            (self.decl_tag, "DECL_TAG"),
            (self.type_tag, "TYPE_TAG"),
            (self.enum64, "ENUM64"),
        ];
        all.iter()
            .filter(|(has, _)| !has)
            .map(|&(_, n)| n)
            .collect()
    }
}

/// One rule that was applied, and to how many types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// What was replaced (`DECL_TAG`, `global FUNC`, `signed ENUM`, ...).
    pub from: &'static str,
    /// What it became (`INT`, `static FUNC`, ...).
    pub to: &'static str,
    /// How many types.
    pub count: u32,
}

impl fmt::Display for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.count, self.from, self.to)
    }
}

/// The sanitised BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitized {
    /// The BTF to load: the input's bytes when nothing was rewritten.
    pub bytes: Vec<u8>,
    /// The rules applied, in the order first met; empty when nothing changed.
    pub rewrites: Vec<Rewrite>,
    /// The ids of the types added (the `ENUM64` placeholder), after every original id.
    pub added: Vec<u32>,
}

// `info` = kind_flag << 31 | kind << 24 | vlen.
fn info(kind: Kind, kind_flag: bool, vlen: u32) -> u32 {
    ((kind_flag as u32) << 31) | ((kind as u32) << 24) | (vlen & 0xffff)
}

fn put_u32(buf: &mut [u8], off: usize, value: u32) {
    if let Some(slot) = buf.get_mut(off..off + 4) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

fn get_u32(buf: &[u8], off: usize) -> u32 {
    read_u32(buf, off).unwrap_or(0)
}

/// Records one application of a rule.
fn note(rewrites: &mut Vec<Rewrite>, from: &'static str, to: &'static str) {
    match rewrites.iter_mut().find(|r| r.from == from && r.to == to) {
        Some(r) => r.count += 1,
        None => rewrites.push(Rewrite { from, to, count: 1 }),
    }
}

/// `BTF_INT_ENC(0, 0, 8)`: no encoding, bit offset 0, 8 bits.
const INT_8_BITS: u32 = 8;

/// Rewrites `btf` for a kernel with `features` (see the module's table). The input was
/// checked by [`Btf::parse`], so every record read here is in bounds; the writes are
/// bounds-checked anyway and never panic.
pub fn sanitize(btf: &Btf, features: &BtfFeatures) -> Sanitized {
    let mut types = btf.types().to_vec();
    let mut strings = btf.strings().to_vec();
    let mut rewrites = Vec::new();
    let mut placeholder: Option<u32> = None;
    let mut added = Vec::new();
    let count = btf.offsets.len();

    for index in 0..count {
        let Some(&start) = btf.offsets.get(index) else {
            break;
        };
        let at = start as usize;
        let type_info = get_u32(&types, at + 4);
        let kind = Kind::from_u8(((type_info >> 24) & 0x1f) as u8).unwrap_or(Kind::Void);
        let kind_flag = type_info >> 31 == 1;
        let vlen = type_info & 0xffff;
        let extra = at + BTF_TYPE_LEN;
        match kind {
            Kind::Var if !features.datasec => {
                put_u32(&mut types, at + 4, info(Kind::Int, false, 0));
                put_u32(&mut types, at + 8, 1);
                put_u32(&mut types, extra, INT_8_BITS);
                note(&mut rewrites, "VAR", "INT");
            }
            Kind::DeclTag if !features.decl_tag => {
                put_u32(&mut types, at + 4, info(Kind::Int, false, 0));
                put_u32(&mut types, at + 8, 1);
                put_u32(&mut types, extra, INT_8_BITS);
                note(&mut rewrites, "DECL_TAG", "INT");
            }
            Kind::Datasec if !features.datasec => {
                // The section name, '.' and '?' made '_' (C identifiers for a STRUCT), as a
                // new string: the original may be shared with another type.
                let name = btf
                    .name_bytes(get_u32(&types, at))
                    .unwrap_or_default()
                    .iter()
                    .map(|&b| if b == b'.' || b == b'?' { b'_' } else { b })
                    .collect::<Vec<u8>>();
                let name_off = strings.len() as u32;
                strings.extend_from_slice(&name);
                strings.push(0);
                put_u32(&mut types, at, name_off);
                put_u32(&mut types, at + 4, info(Kind::Struct, false, vlen));
                // btf_var_secinfo { type, offset, size } -> btf_member { name_off, type,
                // offset in bits }, the member named after its variable.
                for i in 0..vlen as usize {
                    let entry = extra + 12 * i;
                    let var_type = get_u32(&types, entry);
                    let offset = get_u32(&types, entry + 4);
                    let var_name = btf
                        .offsets
                        .get((var_type as usize).wrapping_sub(1))
                        .map_or(0, |&o| get_u32(btf.types(), o as usize));
                    put_u32(&mut types, entry, var_name);
                    put_u32(&mut types, entry + 4, var_type);
                    put_u32(&mut types, entry + 8, offset.wrapping_mul(8));
                }
                note(&mut rewrites, "DATASEC", "STRUCT");
            }
            Kind::FuncProto if !features.func => {
                // btf_param { name_off, type } reads as btf_enum { name_off, val }.
                put_u32(&mut types, at + 4, info(Kind::Enum, false, vlen));
                put_u32(&mut types, at + 8, 4);
                note(&mut rewrites, "FUNC_PROTO", "ENUM");
            }
            Kind::Func if !features.func => {
                put_u32(&mut types, at + 4, info(Kind::Typedef, false, 0));
                note(&mut rewrites, "FUNC", "TYPEDEF");
            }
            Kind::Func if !features.func_global && vlen != u32::from(super::BTF_FUNC_STATIC) => {
                put_u32(&mut types, at + 4, info(Kind::Func, false, 0));
                note(&mut rewrites, "global FUNC", "static FUNC");
            }
            Kind::Float if !features.float => {
                put_u32(&mut types, at, 0);
                put_u32(&mut types, at + 4, info(Kind::Struct, false, 0));
                note(&mut rewrites, "FLOAT", "STRUCT");
            }
            Kind::TypeTag if !features.type_tag => {
                put_u32(&mut types, at, 0);
                put_u32(&mut types, at + 4, info(Kind::Const, false, 0));
                note(&mut rewrites, "TYPE_TAG", "CONST");
            }
            Kind::Enum if !features.enum64 && kind_flag => {
                put_u32(&mut types, at + 4, info(Kind::Enum, false, vlen));
                note(&mut rewrites, "signed ENUM", "ENUM");
            }
            Kind::Enum64 if !features.enum64 => {
                let member_type = *placeholder.get_or_insert_with(|| {
                    let new_id = count as u32 + 1 + added.len() as u32;
                    added.push(new_id);
                    new_id
                });
                put_u32(&mut types, at + 4, info(Kind::Union, false, vlen));
                // btf_enum64 { name_off, val_lo32, val_hi32 } -> btf_member { name_off,
                // type, offset 0 }.
                for i in 0..vlen as usize {
                    let entry = extra + 12 * i;
                    put_u32(&mut types, entry + 4, member_type);
                    put_u32(&mut types, entry + 8, 0);
                }
                note(&mut rewrites, "ENUM64", "UNION");
            }
            _ => {}
        }
    }

    if rewrites.is_empty() {
        return Sanitized {
            bytes: btf.as_bytes().to_vec(),
            rewrites,
            added,
        };
    }
    if placeholder.is_some() {
        // INT "enum64_placeholder", 1 byte, 8 bits.
        let name_off = strings.len() as u32;
        strings.extend_from_slice(b"enum64_placeholder\0");
        for word in [name_off, info(Kind::Int, false, 0), 1, INT_8_BITS] {
            types.extend_from_slice(&word.to_le_bytes());
        }
    }

    let mut bytes = Vec::with_capacity(BTF_HEADER_LEN + types.len() + strings.len());
    bytes.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    bytes.push(BTF_VERSION);
    bytes.push(0);
    for word in [
        BTF_HEADER_LEN as u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.extend_from_slice(&types);
    bytes.extend_from_slice(&strings);
    Sanitized {
        bytes,
        rewrites,
        added,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::build::BtfBuilder;
    use crate::btf::{TypeBody, BTF_FUNC_GLOBAL, BTF_FUNC_STATIC, BTF_INT_SIGNED, BTF_VAR_STATIC};

    fn only_without(f: impl FnOnce(&mut BtfFeatures)) -> BtfFeatures {
        let mut features = BtfFeatures::ALL;
        f(&mut features);
        features
    }

    fn run(b: &BtfBuilder, features: BtfFeatures) -> (Btf, Sanitized) {
        let btf = Btf::parse(b.build()).unwrap();
        let out = sanitize(&btf, &features);
        (Btf::parse(out.bytes.clone()).unwrap(), out)
    }

    fn rewrite(from: &'static str, to: &'static str, count: u32) -> Rewrite {
        Rewrite { from, to, count }
    }

    #[test]
    fn a_kernel_with_everything_gets_the_same_bytes() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        b.add_float("double", 8);
        b.add_decl_tag("user", int, -1);
        b.add_type_tag("percpu", int);
        b.add_enum64("big", 8, false, &[("A", 1 << 40)]);
        let original = b.build();
        let btf = Btf::parse(original.clone()).unwrap();
        let out = sanitize(&btf, &BtfFeatures::ALL);
        assert_eq!(out.bytes, original);
        assert!(out.rewrites.is_empty());
        assert!(out.added.is_empty());
    }

    #[test]
    fn decl_tag_becomes_a_one_byte_int_of_the_same_name() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let var = b.add_var("x", int, BTF_VAR_STATIC);
        let tag = b.add_decl_tag("user", var, -1);
        let after = b.add_ptr(int);
        let (btf, out) = run(&b, only_without(|f| f.decl_tag = false));
        assert_eq!(out.rewrites, vec![rewrite("DECL_TAG", "INT", 1)]);
        let t = btf.type_by_id(tag).unwrap();
        assert_eq!(t.kind(), Kind::Int);
        assert_eq!(btf.type_name(tag).unwrap(), "user");
        assert_eq!(btf.resolve_size(tag).unwrap(), 1);
        match t.body {
            TypeBody::Int { bits, offset, .. } => assert_eq!((bits, offset), (8, 0)),
            other => panic!("not an INT: {other:?}"),
        }
        // The types around it are untouched, at their ids.
        assert_eq!(btf.kind(var).unwrap(), Kind::Var);
        assert_eq!(btf.kind(after).unwrap(), Kind::Ptr);
        assert_eq!(btf.type_by_id(after).unwrap().target(), Some(int));
    }

    #[test]
    fn type_tag_becomes_an_anonymous_const_of_the_same_target() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let tag = b.add_type_tag("user", int);
        let ptr = b.add_ptr(tag);
        let (btf, out) = run(&b, only_without(|f| f.type_tag = false));
        assert_eq!(out.rewrites, vec![rewrite("TYPE_TAG", "CONST", 1)]);
        assert_eq!(btf.kind(tag).unwrap(), Kind::Const);
        assert_eq!(btf.type_name(tag).unwrap(), "");
        assert_eq!(btf.type_by_id(tag).unwrap().target(), Some(int));
        assert_eq!(btf.type_by_id(ptr).unwrap().target(), Some(tag));
        assert_eq!(btf.skip_mods(tag).unwrap(), int);
    }

    #[test]
    fn float_becomes_an_empty_anonymous_struct_of_its_size() {
        let mut b = BtfBuilder::new();
        let double = b.add_float("double", 8);
        let s = b.add_struct("s", 8, &[("d", double, 0, 0)]);
        let (btf, out) = run(&b, only_without(|f| f.float = false));
        assert_eq!(out.rewrites, vec![rewrite("FLOAT", "STRUCT", 1)]);
        let t = btf.type_by_id(double).unwrap();
        assert_eq!(t.kind(), Kind::Struct);
        assert!(t.members().is_empty());
        assert_eq!(btf.type_name(double).unwrap(), "");
        assert_eq!(btf.resolve_size(double).unwrap(), 8);
        assert_eq!(btf.type_by_id(s).unwrap().members()[0].type_id, double);
    }

    #[test]
    fn enum64_becomes_a_union_of_placeholders_added_once_after_the_last_type() {
        let mut b = BtfBuilder::new();
        let e1 = b.add_enum64("big", 8, false, &[("A", 1 << 40), ("B", 2)]);
        let e2 = b.add_enum64("other", 8, true, &[("C", u64::MAX)]);
        let signed = b.add_enum("small", 4, true, &[("D", -1)]);
        let last = b.next_id() - 1;
        let (btf, out) = run(&b, only_without(|f| f.enum64 = false));
        assert_eq!(
            out.rewrites,
            vec![
                rewrite("ENUM64", "UNION", 2),
                rewrite("signed ENUM", "ENUM", 1)
            ]
        );
        let placeholder = last + 1;
        assert_eq!(out.added, vec![placeholder]);
        assert_eq!(btf.len(), placeholder + 1);
        assert_eq!(btf.kind(placeholder).unwrap(), Kind::Int);
        assert_eq!(btf.type_name(placeholder).unwrap(), "enum64_placeholder");
        assert_eq!(btf.resolve_size(placeholder).unwrap(), 1);

        let u = btf.type_by_id(e1).unwrap();
        assert_eq!(u.kind(), Kind::Union);
        assert_eq!(btf.type_name(e1).unwrap(), "big");
        assert_eq!(btf.resolve_size(e1).unwrap(), 8);
        let members: Vec<(&str, u32, u32)> = u
            .members()
            .iter()
            .map(|m| (m.name.as_str(), m.type_id, m.bit_offset))
            .collect();
        assert_eq!(members, [("A", placeholder, 0), ("B", placeholder, 0)]);
        assert_eq!(
            btf.type_by_id(e2).unwrap().members()[0].type_id,
            placeholder
        );
        // A signed ENUM keeps its values, without the kind flag 6.0 gave a meaning.
        match btf.type_by_id(signed).unwrap().body {
            TypeBody::Enum { signed, values, .. } => {
                assert!(!signed);
                assert_eq!(values.len(), 1);
            }
            other => panic!("not an ENUM: {other:?}"),
        }
    }

    #[test]
    fn datasec_becomes_a_struct_and_its_vars_one_byte_ints() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let x = b.add_var("x", int, BTF_VAR_STATIC);
        let y = b.add_var("y", int, BTF_VAR_STATIC);
        let sec = b.add_datasec(".rodata", 8, &[(x, 0, 4), (y, 4, 4)]);
        let (btf, out) = run(&b, only_without(|f| f.datasec = false));
        assert_eq!(
            out.rewrites,
            vec![rewrite("VAR", "INT", 2), rewrite("DATASEC", "STRUCT", 1)]
        );
        assert_eq!(btf.kind(x).unwrap(), Kind::Int);
        assert_eq!(btf.type_name(x).unwrap(), "x");
        assert_eq!(btf.resolve_size(x).unwrap(), 1);
        let s = btf.type_by_id(sec).unwrap();
        assert_eq!(s.kind(), Kind::Struct);
        assert_eq!(btf.type_name(sec).unwrap(), "_rodata");
        assert_eq!(btf.resolve_size(sec).unwrap(), 8);
        let members: Vec<(&str, u32, u32)> = s
            .members()
            .iter()
            .map(|m| (m.name.as_str(), m.type_id, m.bit_offset))
            .collect();
        assert_eq!(members, [("x", x, 0), ("y", y, 32)]);
    }

    #[test]
    fn global_funcs_become_static_where_only_static_ones_are_known() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let proto = b.add_func_proto(int, &[("a", int)]);
        let global = b.add_func("g", proto, BTF_FUNC_GLOBAL);
        let stat = b.add_func("s", proto, BTF_FUNC_STATIC);
        let (btf, out) = run(&b, only_without(|f| f.func_global = false));
        assert_eq!(out.rewrites, vec![rewrite("global FUNC", "static FUNC", 1)]);
        for id in [global, stat] {
            assert_eq!(
                btf.type_by_id(id).unwrap().body,
                TypeBody::Func {
                    proto,
                    linkage: BTF_FUNC_STATIC
                }
            );
        }
        assert_eq!(btf.type_name(global).unwrap(), "g");
    }

    #[test]
    fn without_func_support_protos_become_enums_and_funcs_typedefs() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let proto = b.add_func_proto(int, &[("a", int), ("b", int)]);
        let func = b.add_func("f", proto, BTF_FUNC_GLOBAL);
        let (btf, out) = run(&b, BtfFeatures::NONE);
        assert_eq!(
            out.rewrites,
            vec![
                rewrite("FUNC_PROTO", "ENUM", 1),
                rewrite("FUNC", "TYPEDEF", 1)
            ]
        );
        match btf.type_by_id(proto).unwrap().body {
            TypeBody::Enum { values, .. } => {
                let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
                assert_eq!(names, ["a", "b"]);
            }
            other => panic!("not an ENUM: {other:?}"),
        }
        assert_eq!(btf.resolve_size(proto).unwrap(), 4);
        assert_eq!(btf.kind(func).unwrap(), Kind::Typedef);
        assert_eq!(btf.type_name(func).unwrap(), "f");
        assert_eq!(btf.type_by_id(func).unwrap().target(), Some(proto));
    }

    #[test]
    fn the_missing_features_are_named() {
        assert!(BtfFeatures::ALL.missing().is_empty());
        assert_eq!(
            only_without(|f| {
                f.decl_tag = false;
                f.enum64 = false
            })
            .missing(),
            ["DECL_TAG", "ENUM64"]
        );
    }
}
