//! A Rust type checked against a C type of the object's BTF: the claim a [`Pod`] type
//! makes about its layout ([`Shape`]) compared, field by field, with what clang wrote.
//!
//! ABI: `struct btf_type` and its kinds (`Documentation/bpf/btf.rst`): INT (size and the
//! `BTF_INT_SIGNED` bit), ARRAY (`nelems`), STRUCT (members by name, their `offset` in
//! bits), typedefs and modifiers followed to the type they name.
//!
//! What is compared, and how leniently:
//! - sizes, always: a Rust type of another size than the C type is refused;
//! - an integer: the C type must be an integer (or an enum, or a pointer read as an
//!   unsigned integer), and of the same signedness, except for `char` and `bool`, whose
//!   signedness is not part of their meaning (`count_mode` is a `bool` set as a `u8`);
//! - an array: the same number of elements, each checked; an array of bytes also views any
//!   C type of its size (a `struct in6_addr` as `[u8; 16]`);
//! - a struct: every field the Rust type lists is a member of the same name at the same
//!   byte offset, checked in turn, and every named member of the C struct is listed. The
//!   fields are checked before the size, so a field changed in C is named in the error;
//! - [`Shape::Opaque`]: the size only.
//!
//! No proc macro: the shape of a struct is written by hand with `offset_of!`
//! ([`crate::pod::Field::of`]), and checked here, once, before the first value is read.

use std::fmt;

use super::{Btf, BtfError, TypeBody, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED};
use crate::pod::{Pod, Shape};

/// How a Rust type differs from the C type it mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError {
    /// The Rust type (`std::any::type_name`).
    pub rust_type: &'static str,
    /// The C type (`STRUCT 'data_t'`), as bpftool names it.
    pub c_type: String,
    /// Where in the type: `dport`, `saddr6`, `filter_ports[]`; empty for the type itself.
    pub field: String,
    /// What differs.
    pub problem: LayoutProblem,
}

/// What differs between a Rust type and its C type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutProblem {
    /// Not the same size.
    Size {
        /// Bytes in the object's BTF.
        btf: usize,
        /// Bytes of the Rust type.
        rust: usize,
    },
    /// Not the same kind of type.
    Kind {
        /// The C type (`STRUCT 'in6_addr'`).
        btf: String,
        /// What the Rust type is: `an integer`, `an array`, `a struct`.
        rust: &'static str,
    },
    /// An integer signed on one side, unsigned on the other.
    Signedness {
        /// Whether the C integer is signed.
        btf_signed: bool,
    },
    /// Arrays of different lengths.
    Len {
        /// Elements in the C array.
        btf: usize,
        /// Elements in the Rust array.
        rust: usize,
    },
    /// A field at another byte offset.
    Offset {
        /// Its byte offset in C.
        btf: usize,
        /// Its byte offset in Rust.
        rust: usize,
    },
    /// A Rust field with no C member of its name.
    NotInBtf,
    /// A C member that the Rust type does not list.
    NotInRust,
    /// A C bitfield, which no Rust field can mirror.
    Bitfield,
    /// The BTF itself could not be read there.
    Btf(Box<BtfError>),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LayoutError {
            rust_type,
            c_type,
            field,
            problem,
        } = self;
        write!(f, "{rust_type} does not match {c_type}")?;
        if !field.is_empty() {
            write!(f, ": field {field}")?;
        }
        match problem {
            LayoutProblem::Size { btf, rust } => {
                write!(f, ": {btf} bytes in the object's BTF, {rust} in Rust")
            }
            LayoutProblem::Kind { btf, rust } => {
                write!(f, ": {btf} in the object's BTF, {rust} in Rust")
            }
            LayoutProblem::Signedness { btf_signed } => {
                let (c, r) = if *btf_signed {
                    ("signed", "unsigned")
                } else {
                    ("unsigned", "signed")
                };
                write!(f, ": {c} in the object's BTF, {r} in Rust")
            }
            LayoutProblem::Len { btf, rust } => {
                write!(f, ": {btf} elements in the object's BTF, {rust} in Rust")
            }
            LayoutProblem::Offset { btf, rust } => write!(
                f,
                ": at byte {btf} in the object's BTF, at byte {rust} in Rust"
            ),
            LayoutProblem::NotInBtf => write!(f, ": no member of that name in the object's BTF"),
            LayoutProblem::NotInRust => {
                write!(
                    f,
                    ": a member in the object's BTF that the Rust type does not list"
                )
            }
            LayoutProblem::Bitfield => write!(f, ": a bitfield, which a Rust field cannot mirror"),
            LayoutProblem::Btf(error) => write!(f, ": {error}"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Checks `T` against BTF type `type_id` of `btf` (typedefs and modifiers followed).
pub fn check<T: Pod>(btf: &Btf, type_id: u32) -> Result<(), LayoutError> {
    let c_type = btf
        .skip_mods(type_id)
        .and_then(|id| btf.type_by_id(id))
        .map(|t| t.describe())
        .unwrap_or_else(|_| format!("type [{type_id}]"));
    let fail = |field: String, problem| LayoutError {
        rust_type: std::any::type_name::<T>(),
        c_type: c_type.clone(),
        field,
        problem,
    };
    compare(btf, type_id, std::mem::size_of::<T>(), &T::shape(), "")
        .map_err(|(field, problem)| fail(field, problem))
}

/// Where and what, before the type names are added.
type Mismatch = (String, LayoutProblem);

fn at(path: &str, problem: LayoutProblem) -> Mismatch {
    (path.to_string(), problem)
}

fn compare(btf: &Btf, id: u32, size: usize, shape: &Shape, path: &str) -> Result<(), Mismatch> {
    let btf_error = |e| at(path, LayoutProblem::Btf(Box::new(e)));
    let id = btf.skip_mods_and_typedefs(id).map_err(btf_error)?;
    let ty = btf.type_by_id(id).map_err(btf_error)?;
    if let Shape::Struct { fields } = shape {
        // Fields first: a member changed in C is named, not only the size it changed.
        let TypeBody::Struct { members, .. } = &ty.body else {
            return Err(at(path, kind(&ty.describe(), "a struct")));
        };
        compare_fields(btf, members, fields, path)?;
    }
    let btf_size = btf.resolve_size(id).map_err(btf_error)? as usize;
    if btf_size != size {
        return Err(at(
            path,
            LayoutProblem::Size {
                btf: btf_size,
                rust: size,
            },
        ));
    }
    match shape {
        Shape::Opaque | Shape::Struct { .. } => Ok(()),
        Shape::Int { signed } => match ty.body {
            TypeBody::Int { encoding, .. } => {
                let loose = ty.name == "char" || encoding & (BTF_INT_CHAR | BTF_INT_BOOL) != 0;
                let btf_signed = encoding & BTF_INT_SIGNED != 0;
                if loose || btf_signed == *signed {
                    Ok(())
                } else {
                    Err(at(path, LayoutProblem::Signedness { btf_signed }))
                }
            }
            TypeBody::Enum { .. } | TypeBody::Enum64 { .. } => Ok(()),
            TypeBody::Ptr { .. } if !signed => Ok(()),
            _ => Err(at(path, kind(&ty.describe(), "an integer"))),
        },
        Shape::Array {
            elem,
            elem_size,
            len,
        } => match ty.body {
            TypeBody::Array {
                elem: btf_elem,
                nelems,
                ..
            } => {
                if nelems as usize != *len {
                    return Err(at(
                        path,
                        LayoutProblem::Len {
                            btf: nelems as usize,
                            rust: *len,
                        },
                    ));
                }
                compare(btf, btf_elem, *elem_size, elem, &format!("{path}[]"))
            }
            // Bytes view any type of their size (`struct in6_addr` as `[u8; 16]`).
            _ if *elem_size == 1 && matches!(**elem, Shape::Int { .. }) => Ok(()),
            _ => Err(at(path, kind(&ty.describe(), "an array"))),
        },
    }
}

fn kind(btf: &str, rust: &'static str) -> LayoutProblem {
    LayoutProblem::Kind {
        btf: btf.to_string(),
        rust,
    }
}

fn compare_fields(
    btf: &Btf,
    members: &[super::Member],
    fields: &[crate::pod::Field],
    path: &str,
) -> Result<(), Mismatch> {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    for field in fields {
        let here = join(field.name);
        let member = members
            .iter()
            .find(|m| m.name == field.name)
            .ok_or_else(|| at(&here, LayoutProblem::NotInBtf))?;
        if member.bitfield_size != 0 || member.bit_offset % 8 != 0 {
            return Err(at(&here, LayoutProblem::Bitfield));
        }
        let offset = (member.bit_offset / 8) as usize;
        if offset != field.offset {
            return Err(at(
                &here,
                LayoutProblem::Offset {
                    btf: offset,
                    rust: field.offset,
                },
            ));
        }
        compare(btf, member.type_id, field.size, &field.shape, &here)?;
    }
    // Anonymous members (an unnamed union) have no name to list them by: their bytes are
    // still covered by the size check.
    if let Some(extra) = members
        .iter()
        .find(|m| !m.name.is_empty() && !fields.iter().any(|f| f.name == m.name))
    {
        return Err(at(&join(&extra.name), LayoutProblem::NotInRust));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;
    use crate::btf::build::BtfBuilder;
    use crate::pod::Field;

    /// `struct flow_key` of `bpf/main.bpf.c`, as the tool mirrors it.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct FlowKey {
        saddr: [u8; 16],
        daddr: [u8; 16],
        dport: u16,
        family: u8,
        pad: u8,
    }
    // SAFETY: repr(C), integers and byte arrays, no hole (36 bytes, alignment 2).
    unsafe impl Pod for FlowKey {
        fn shape() -> Shape {
            Shape::Struct {
                fields: vec![
                    Field::of::<[u8; 16]>("saddr", offset_of!(FlowKey, saddr)),
                    Field::of::<[u8; 16]>("daddr", offset_of!(FlowKey, daddr)),
                    Field::of::<u16>("dport", offset_of!(FlowKey, dport)),
                    Field::of::<u8>("family", offset_of!(FlowKey, family)),
                    Field::of::<u8>("pad", offset_of!(FlowKey, pad)),
                ],
            }
        }
    }

    /// A BTF with `struct flow_key` as clang writes it, the members given as (name, type,
    /// byte offset) with types `u8[16]`, `u16`, `u8`; `u32`, `int`, `char`, `_Bool` too.
    struct Types {
        btf: Btf,
        flow_key: u32,
        u32_: u32,
        int: u32,
        chars: u32,
        bool_: u32,
        ports: u32,
    }

    fn types(members: &[(&str, &str, u32)], size: u32) -> Types {
        let mut b = BtfBuilder::new();
        let u8_ = b.add_int("unsigned char", 1, 0);
        let u16_ = b.add_int("unsigned short", 2, 0);
        let u32_ = b.add_int("unsigned int", 4, 0);
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let char_ = b.add_int("char", 1, BTF_INT_SIGNED);
        let bool_ = b.add_int("_Bool", 1, BTF_INT_BOOL);
        let bytes16 = b.add_array(u8_, u32_, 16);
        let chars = b.add_array(char_, u32_, 16);
        let ports = b.add_array(u16_, u32_, 64);
        let typedef_u16 = b.add_typedef("u16", u16_);
        let by_name = |name: &str| match name {
            "u8[16]" => bytes16,
            "u16" => typedef_u16,
            "u8" => u8_,
            "u32" => u32_,
            other => panic!("{other}"),
        };
        let specs: Vec<(&str, u32, u32, u8)> = members
            .iter()
            .map(|&(name, ty, offset)| (name, by_name(ty), offset * 8, 0))
            .collect();
        let flow_key = b.add_struct("flow_key", size, &specs);
        let btf = Btf::parse(b.build()).unwrap();
        Types {
            btf,
            flow_key,
            u32_,
            int,
            chars,
            bool_,
            ports,
        }
    }

    const CLANG: &[(&str, &str, u32)] = &[
        ("saddr", "u8[16]", 0),
        ("daddr", "u8[16]", 16),
        ("dport", "u16", 32),
        ("family", "u8", 34),
        ("pad", "u8", 35),
    ];

    fn problem(result: Result<(), LayoutError>) -> (String, LayoutProblem) {
        let error = result.unwrap_err();
        (error.field, error.problem)
    }

    #[test]
    fn the_mirror_of_a_struct_passes_and_each_change_is_named() {
        let t = types(CLANG, 36);
        check::<FlowKey>(&t.btf, t.flow_key).unwrap();

        // dport moved two bytes on (a field inserted before it in C).
        let mut moved = CLANG.to_vec();
        moved[2].2 = 34;
        moved[3].2 = 36;
        moved[4].2 = 37;
        let t = types(&moved, 38);
        let error = check::<FlowKey>(&t.btf, t.flow_key).unwrap_err();
        assert_eq!(
            (error.field.as_str(), &error.problem),
            ("dport", &LayoutProblem::Offset { btf: 34, rust: 32 })
        );
        assert!(error.rust_type.ends_with("FlowKey"), "{}", error.rust_type);
        assert_eq!(error.c_type, "STRUCT 'flow_key'");
        assert!(
            error.to_string().ends_with(
                "does not match STRUCT 'flow_key': field dport: at byte 34 in the object's \
                 BTF, at byte 32 in Rust"
            ),
            "{error}"
        );

        // A member renamed in C: the Rust field is not found, by its name.
        let mut renamed = CLANG.to_vec();
        renamed[3].0 = "af";
        let t = types(&renamed, 36);
        assert_eq!(
            problem(check::<FlowKey>(&t.btf, t.flow_key)),
            ("family".to_string(), LayoutProblem::NotInBtf)
        );

        // A member the Rust type does not list.
        let mut more = CLANG.to_vec();
        more.push(("proto", "u8", 36));
        let t = types(&more, 38);
        assert_eq!(
            problem(check::<FlowKey>(&t.btf, t.flow_key)),
            ("proto".to_string(), LayoutProblem::NotInRust)
        );

        // A member whose type changed size (u16 -> u32) at the same offset.
        let mut wider = CLANG.to_vec();
        wider[2].1 = "u32";
        let t = types(&wider, 36);
        assert_eq!(
            problem(check::<FlowKey>(&t.btf, t.flow_key)),
            ("dport".to_string(), LayoutProblem::Size { btf: 4, rust: 2 })
        );

        // Only the size changed (tail padding grew).
        let t = types(CLANG, 40);
        assert_eq!(
            problem(check::<FlowKey>(&t.btf, t.flow_key)),
            (String::new(), LayoutProblem::Size { btf: 40, rust: 36 })
        );
    }

    #[test]
    fn integers_arrays_and_their_leniencies() {
        let t = types(CLANG, 36);
        check::<u32>(&t.btf, t.u32_).unwrap();
        check::<i32>(&t.btf, t.int).unwrap();
        assert_eq!(
            problem(check::<i32>(&t.btf, t.u32_)),
            (
                String::new(),
                LayoutProblem::Signedness { btf_signed: false }
            )
        );
        assert_eq!(
            problem(check::<u64>(&t.btf, t.u32_)),
            (String::new(), LayoutProblem::Size { btf: 4, rust: 8 })
        );
        // char and _Bool take either signedness; char[16] is [u8; 16].
        check::<u8>(&t.btf, t.bool_).unwrap();
        check::<[u8; 16]>(&t.btf, t.chars).unwrap();
        check::<[i8; 16]>(&t.btf, t.chars).unwrap();
        check::<[u16; 64]>(&t.btf, t.ports).unwrap();
        assert_eq!(
            problem(check::<[u32; 32]>(&t.btf, t.ports)),
            (String::new(), LayoutProblem::Len { btf: 64, rust: 32 })
        );
        assert_eq!(
            problem(check::<[i16; 64]>(&t.btf, t.ports)),
            (
                "[]".to_string(),
                LayoutProblem::Signedness { btf_signed: false }
            )
        );
        // Bytes view a struct of their size; an integer does not.
        check::<[u8; 36]>(&t.btf, t.flow_key).unwrap();
        let error = check::<[u32; 9]>(&t.btf, t.flow_key).unwrap_err();
        assert_eq!(
            error.problem,
            LayoutProblem::Kind {
                btf: "STRUCT 'flow_key'".to_string(),
                rust: "an array"
            }
        );
        assert_eq!(
            error.to_string(),
            "[u32; 9] does not match STRUCT 'flow_key': STRUCT 'flow_key' in the object's \
             BTF, an array in Rust"
        );
    }
}
