//! Types read in place: [`TypeView`], one type's record where it lies in the BTF's bytes,
//! and [`BodyView`], its kind-specific data in the shape of [`TypeBody`] but borrowed:
//! members, enumerators, parameters and DATASEC entries are iterators over the records,
//! and a name is read from the string section only when it is asked for.
//!
//! ABI: the records [`Type`] decodes, `struct btf_type` and what follows it per kind
//! (`include/uapi/linux/btf.h`; `Documentation/bpf/btf.rst`, "BTF Type Encoding").
//!
//! [`Btf::type_by_id`] decodes a type into an owned [`Type`]: a `String` per name (each
//! checked as UTF-8), a `Vec` per list. That is the value to keep or to hand on. A walk
//! that visits every type of the kernel's BTF, and each of a struct's hundred members
//! once, reads views instead, as libbpf reads its `struct btf_type` records in the
//! loaded BTF (`btf__type_by_id`, `btf_members`): nothing is copied, a view is a few
//! words and a slice, and a member's name costs only when it is written.
//! [`super::dump_c`] (every type as C) and [`Btf::type_refs`] walk views;
//! [`Btf::type_by_id`] is a view made owned ([`TypeView::to_type`]).
//!
//! A view is only made of a record [`Btf::parse`] checked to fit, so its iterators never
//! run out of bytes. A name can still be bad (out of the string section, not UTF-8):
//! `name()` returns a `Result`.

use std::fmt;
use std::slice::ChunksExact;

use super::{
    read_u32, record_len, Btf, BtfError, Enumerator, Kind, Member, Param, Type, TypeBody,
    VarSecinfo, BTF_TYPE_LEN, VLEN_MASK,
};

/// One type read in place: its kind, its name's offset, and the bytes of its
/// kind-specific records. `Copy`: pass it by value.
#[derive(Clone, Copy)]
pub struct TypeView<'a> {
    /// The BTF that holds the type (the base's, for a base type of split BTF): its
    /// strings resolve the names.
    btf: &'a Btf,
    id: u32,
    kind: Kind,
    name_off: u32,
    /// `btf_type.info`: vlen (bits 0-15), kind (24-28), kind_flag (31).
    info: u32,
    /// `btf_type.size` or `btf_type.type`, by kind.
    size_or_type: u32,
    /// The records after `struct btf_type`, exactly as long as the kind's.
    data: &'a [u8],
}

impl fmt::Debug for TypeView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeView")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name_off", &self.name_off)
            .finish()
    }
}

impl Btf {
    /// Type `id` read in place (0 is `void`): its kind and name without decoding, its
    /// members and other lists as iterators ([`TypeView::body`]).
    pub fn view(&self, id: u32) -> Result<TypeView<'_>, BtfError> {
        if id == 0 {
            return Ok(TypeView {
                btf: self,
                id: 0,
                kind: Kind::Void,
                name_off: 0,
                info: 0,
                size_or_type: 0,
                data: &[],
            });
        }
        if let Some(base) = self.base_for(id) {
            return base.view(id);
        }
        let off = self.check_id(id)?;
        view_at(self, self.types(), id, off)
    }

    /// The BTF read for a walk over all its types and names ([`BtfReader`]).
    pub fn reader(&self) -> BtfReader<'_> {
        BtfReader {
            btf: self,
            types: self.types(),
            offsets: &self.offsets,
            strings: std::str::from_utf8(self.strings()).ok(),
        }
    }
}

/// Type `id`, whose record starts `off` bytes into `types`, the type section of `btf`:
/// the header and the records after it, sliced once.
fn view_at<'a>(
    btf: &'a Btf,
    types: &'a [u8],
    id: u32,
    off: usize,
) -> Result<TypeView<'a>, BtfError> {
    let truncated = || BtfError::TypeTruncated { id, offset: off };
    let header = types.get(off..off + BTF_TYPE_LEN).ok_or_else(truncated)?;
    let [name_off, info, size_or_type] = words::<3>(header);
    let kind_u8 = ((info >> 24) & 0x1f) as u8;
    let unknown = || BtfError::UnknownKind {
        id,
        offset: off,
        kind: kind_u8,
    };
    let kind = Kind::from_u8(kind_u8).ok_or_else(unknown)?;
    let len = record_len(kind_u8, (info & VLEN_MASK) as usize).ok_or_else(unknown)?;
    let start = off + BTF_TYPE_LEN;
    let data = types.get(start..start + len).ok_or_else(truncated)?;
    Ok(TypeView {
        btf,
        id,
        kind,
        name_off,
        info,
        size_or_type,
        data,
    })
}

/// A [`Btf`] read by a walk over all its types and names ([`Btf::reader`]), as
/// [`super::dump_c`] does: the type section and the offsets table are found once rather
/// than at every lookup, and the string section is checked as UTF-8 once, so a name is
/// only the search for its NUL. What [`Btf::view`] and [`Btf::name`] give, the same
/// values and the same errors.
#[derive(Debug, Clone, Copy)]
pub struct BtfReader<'a> {
    btf: &'a Btf,
    types: &'a [u8],
    offsets: &'a [u32],
    /// This BTF's own string section as text; `None` when some of it is not UTF-8, and
    /// each name is then checked alone (as [`Btf::name`] does).
    strings: Option<&'a str>,
}

impl<'a> BtfReader<'a> {
    /// The BTF being read.
    pub fn btf(&self) -> &'a Btf {
        self.btf
    }

    /// [`Btf::view`].
    pub fn view(&self, id: u32) -> Result<TypeView<'a>, BtfError> {
        let own = id
            .checked_sub(self.btf.first_id)
            .and_then(|i| self.offsets.get(i as usize));
        match own {
            Some(&off) if id != 0 => view_at(self.btf, self.types, id, off as usize),
            // `void`, a base's type, or an id out of range (the error).
            _ => self.btf.view(id),
        }
    }

    /// [`Btf::name`].
    pub fn name(&self, offset: u32) -> Result<&'a str, BtfError> {
        if offset == 0 {
            return Ok("");
        }
        let own = offset.checked_sub(self.btf.first_str);
        let rest = match (self.strings, own) {
            (Some(text), Some(own)) => text.get(own as usize..),
            _ => None,
        };
        // The NUL is ASCII: the text up to it is whole characters.
        let name = rest.and_then(|rest| {
            let len = rest.bytes().position(|b| b == 0)?;
            rest.get(..len)
        });
        match name {
            Some(name) => Ok(name),
            // A base's name, a section that is not all UTF-8, or an offset out of
            // bounds or inside a character (the error).
            None => self.btf.name(offset),
        }
    }
}

/// The little-endian words of one record of `4 * N` bytes (a chunk of that size: the
/// zeros are never read).
fn words<const N: usize>(record: &[u8]) -> [u32; N] {
    std::array::from_fn(|i| read_u32(record, 4 * i).unwrap_or(0))
}

impl<'a> TypeView<'a> {
    /// Its type id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Offset of its name in the string section (0: anonymous).
    pub fn name_off(&self) -> u32 {
        self.name_off
    }

    /// Its name ("" when anonymous), read from the string section now.
    pub fn name(&self) -> Result<&'a str, BtfError> {
        if self.name_off == 0 {
            return Ok("");
        }
        self.btf.name(self.name_off)
    }

    /// `btf_type.info`'s vlen: the number of members, enumerators, parameters or
    /// DATASEC entries (a FUNC's linkage).
    pub fn vlen(&self) -> u16 {
        (self.info & VLEN_MASK) as u16
    }

    /// `btf_type.info`'s kind_flag: bitfield sizes in member offsets, a union FWD, a
    /// signed enum.
    pub fn kind_flag(&self) -> bool {
        self.info >> 31 == 1
    }

    /// The records after the header, `count` entries of `stride` bytes (all of
    /// `self.data`, which parse checked).
    fn entries(&self, stride: usize) -> ChunksExact<'a, u8> {
        self.data.chunks_exact(stride)
    }

    /// Its kind-specific data, borrowed: the shape of [`TypeBody`], with iterators in
    /// place of the `Vec`s.
    pub fn body(&self) -> BodyView<'a> {
        let st = self.size_or_type;
        let btf = self.btf;
        let kind_flag = self.kind_flag();
        match self.kind {
            Kind::Void => BodyView::Void,
            Kind::Int => {
                let [v] = words::<1>(self.data);
                BodyView::Int {
                    size: st,
                    encoding: ((v >> 24) & 0x0f) as u8,
                    offset: ((v >> 16) & 0xff) as u8,
                    bits: (v & 0xff) as u8,
                }
            }
            Kind::Ptr => BodyView::Ptr { target: st },
            Kind::Array => {
                let [elem, index, nelems] = words::<3>(self.data);
                BodyView::Array {
                    elem,
                    index,
                    nelems,
                }
            }
            Kind::Struct | Kind::Union => {
                let members = Members {
                    btf,
                    records: self.entries(12),
                    kind_flag,
                };
                if self.kind == Kind::Struct {
                    BodyView::Struct { size: st, members }
                } else {
                    BodyView::Union { size: st, members }
                }
            }
            Kind::Enum | Kind::Enum64 => {
                let wide = self.kind == Kind::Enum64;
                let values = Enumerators {
                    btf,
                    records: self.entries(if wide { 12 } else { 8 }),
                    wide,
                    signed: kind_flag,
                };
                if wide {
                    BodyView::Enum64 {
                        size: st,
                        signed: kind_flag,
                        values,
                    }
                } else {
                    BodyView::Enum {
                        size: st,
                        signed: kind_flag,
                        values,
                    }
                }
            }
            Kind::Fwd => BodyView::Fwd {
                is_union: kind_flag,
            },
            Kind::Typedef => BodyView::Typedef { target: st },
            Kind::Volatile => BodyView::Volatile { target: st },
            Kind::Const => BodyView::Const { target: st },
            Kind::Restrict => BodyView::Restrict { target: st },
            Kind::TypeTag => BodyView::TypeTag { target: st },
            Kind::Func => BodyView::Func {
                proto: st,
                linkage: self.vlen(),
            },
            Kind::FuncProto => BodyView::FuncProto {
                ret: st,
                params: Params {
                    btf,
                    records: self.entries(8),
                },
            },
            Kind::Var => BodyView::Var {
                type_id: st,
                linkage: words::<1>(self.data)[0],
            },
            Kind::Datasec => BodyView::Datasec {
                size: st,
                vars: Vars {
                    records: self.entries(12),
                },
            },
            Kind::Float => BodyView::Float { size: st },
            Kind::DeclTag => BodyView::DeclTag {
                target: st,
                component_idx: words::<1>(self.data)[0] as i32,
            },
        }
    }

    /// The type ids it refers to (members', parameters', an array's element and index, a
    /// pointer's or typedef's target, a DECL_TAG's target...), in record order; no name
    /// is read (libbpf's `btf_type_visit_type_ids`).
    pub fn type_refs(&self) -> TypeRefs<'a> {
        let st = self.size_or_type;
        let mut refs = TypeRefs {
            first: None,
            second: None,
            records: self.data.get(..0).unwrap_or(&[]).chunks_exact(4),
            at: 0,
        };
        match self.kind {
            Kind::Void | Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Fwd | Kind::Float => {}
            Kind::Ptr
            | Kind::Typedef
            | Kind::Volatile
            | Kind::Const
            | Kind::Restrict
            | Kind::TypeTag
            | Kind::Func
            | Kind::Var
            | Kind::DeclTag => refs.first = Some(st),
            Kind::Array => {
                let [elem, index, _] = words::<3>(self.data);
                (refs.first, refs.second) = (Some(elem), Some(index));
            }
            Kind::Struct | Kind::Union => (refs.records, refs.at) = (self.entries(12), 1),
            Kind::FuncProto => {
                refs.first = Some(st);
                (refs.records, refs.at) = (self.entries(8), 1);
            }
            Kind::Datasec => (refs.records, refs.at) = (self.entries(12), 0),
        }
        refs
    }

    /// The type decoded and owned: every name read and checked, every list collected.
    pub fn to_type(&self) -> Result<Type, BtfError> {
        // The type's own name first, then its members' (an error names the first bad one).
        let name = self.name()?.to_string();
        let body = match self.body() {
            BodyView::Void => TypeBody::Void,
            BodyView::Int {
                size,
                encoding,
                offset,
                bits,
            } => TypeBody::Int {
                size,
                encoding,
                offset,
                bits,
            },
            BodyView::Ptr { target } => TypeBody::Ptr { target },
            BodyView::Array {
                elem,
                index,
                nelems,
            } => TypeBody::Array {
                elem,
                index,
                nelems,
            },
            BodyView::Struct { size, members } => TypeBody::Struct {
                size,
                members: members.map(|m| m.to_member()).collect::<Result<_, _>>()?,
            },
            BodyView::Union { size, members } => TypeBody::Union {
                size,
                members: members.map(|m| m.to_member()).collect::<Result<_, _>>()?,
            },
            BodyView::Enum {
                size,
                signed,
                values,
            } => TypeBody::Enum {
                size,
                signed,
                values: values
                    .map(|v| v.to_enumerator())
                    .collect::<Result<_, _>>()?,
            },
            BodyView::Enum64 {
                size,
                signed,
                values,
            } => TypeBody::Enum64 {
                size,
                signed,
                values: values
                    .map(|v| v.to_enumerator())
                    .collect::<Result<_, _>>()?,
            },
            BodyView::Fwd { is_union } => TypeBody::Fwd { is_union },
            BodyView::Typedef { target } => TypeBody::Typedef { target },
            BodyView::Volatile { target } => TypeBody::Volatile { target },
            BodyView::Const { target } => TypeBody::Const { target },
            BodyView::Restrict { target } => TypeBody::Restrict { target },
            BodyView::Func { proto, linkage } => TypeBody::Func { proto, linkage },
            BodyView::FuncProto { ret, params } => TypeBody::FuncProto {
                ret,
                params: params.map(|p| p.to_param()).collect::<Result<_, _>>()?,
            },
            BodyView::Var { type_id, linkage } => TypeBody::Var { type_id, linkage },
            BodyView::Datasec { size, vars } => TypeBody::Datasec {
                size,
                vars: vars.collect(),
            },
            BodyView::Float { size } => TypeBody::Float { size },
            BodyView::DeclTag {
                target,
                component_idx,
            } => TypeBody::DeclTag {
                target,
                component_idx,
            },
            BodyView::TypeTag { target } => TypeBody::TypeTag { target },
        };
        Ok(Type {
            id: self.id,
            name_off: self.name_off,
            name,
            body,
        })
    }
}

/// A type's kind-specific data read in place ([`TypeView::body`]): [`TypeBody`]'s
/// variants and fields, with iterators over the records where it has `Vec`s.
#[derive(Debug, Clone)]
pub enum BodyView<'a> {
    /// `void`: type id 0.
    Void,
    /// An INT.
    Int {
        /// Size in bytes.
        size: u32,
        /// `BTF_INT_SIGNED` | `BTF_INT_CHAR` | `BTF_INT_BOOL`.
        encoding: u8,
        /// `BTF_INT_OFFSET`.
        offset: u8,
        /// `BTF_INT_BITS`.
        bits: u8,
    },
    /// A PTR.
    Ptr {
        /// The pointed-to type.
        target: u32,
    },
    /// An ARRAY.
    Array {
        /// The elements' type.
        elem: u32,
        /// The index type.
        index: u32,
        /// Number of elements.
        nelems: u32,
    },
    /// A STRUCT.
    Struct {
        /// Size in bytes.
        size: u32,
        /// The members, in the record's order.
        members: Members<'a>,
    },
    /// A UNION.
    Union {
        /// Size in bytes.
        size: u32,
        /// The members, in the record's order.
        members: Members<'a>,
    },
    /// An ENUM.
    Enum {
        /// Size in bytes.
        size: u32,
        /// The values are signed.
        signed: bool,
        /// The enumerators.
        values: Enumerators<'a>,
    },
    /// A FWD.
    Fwd {
        /// `union x;` rather than `struct x;`.
        is_union: bool,
    },
    /// A TYPEDEF.
    Typedef {
        /// The type the name stands for.
        target: u32,
    },
    /// A VOLATILE qualifier.
    Volatile {
        /// The qualified type.
        target: u32,
    },
    /// A CONST qualifier.
    Const {
        /// The qualified type.
        target: u32,
    },
    /// A RESTRICT qualifier.
    Restrict {
        /// The qualified type.
        target: u32,
    },
    /// A FUNC.
    Func {
        /// Its FUNC_PROTO.
        proto: u32,
        /// `BTF_FUNC_STATIC` / `GLOBAL` / `EXTERN`.
        linkage: u16,
    },
    /// A FUNC_PROTO.
    FuncProto {
        /// The return type (0: `void`).
        ret: u32,
        /// The parameters, in order.
        params: Params<'a>,
    },
    /// A VAR.
    Var {
        /// The variable's type.
        type_id: u32,
        /// `BTF_VAR_STATIC` / `GLOBAL_ALLOCATED` / `GLOBAL_EXTERN`.
        linkage: u32,
    },
    /// A DATASEC.
    Datasec {
        /// Size of the ELF section in bytes.
        size: u32,
        /// The variables in the section.
        vars: Vars<'a>,
    },
    /// A FLOAT.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// A DECL_TAG.
    DeclTag {
        /// The tagged type, member's struct or parameter's function.
        target: u32,
        /// -1, or the index of the tagged member or parameter.
        component_idx: i32,
    },
    /// A TYPE_TAG.
    TypeTag {
        /// The tagged type.
        target: u32,
    },
    /// An ENUM64.
    Enum64 {
        /// Size in bytes.
        size: u32,
        /// The values are signed.
        signed: bool,
        /// The enumerators.
        values: Enumerators<'a>,
    },
}

/// One member of a STRUCT or UNION read in place ([`Member`] without the owned name).
#[derive(Debug, Clone, Copy)]
pub struct MemberView<'a> {
    btf: &'a Btf,
    /// Offset of the member's name in the string section (0: anonymous).
    pub name_off: u32,
    /// The member's type.
    pub type_id: u32,
    /// Offset from the start of the record, in bits.
    pub bit_offset: u32,
    /// Width of a bitfield in bits; 0 when the member is not one.
    pub bitfield_size: u8,
}

impl<'a> MemberView<'a> {
    /// The member's name ("" when anonymous).
    pub fn name(&self) -> Result<&'a str, BtfError> {
        read_name(self.btf, self.name_off)
    }

    /// The member decoded and owned.
    pub fn to_member(&self) -> Result<Member, BtfError> {
        Ok(Member {
            name_off: self.name_off,
            name: self.name()?.to_string(),
            type_id: self.type_id,
            bit_offset: self.bit_offset,
            bitfield_size: self.bitfield_size,
        })
    }
}

/// One enumerator of an ENUM or ENUM64 read in place.
#[derive(Debug, Clone, Copy)]
pub struct EnumeratorView<'a> {
    btf: &'a Btf,
    /// Offset of the enumerator's name in the string section.
    pub name_off: u32,
    /// The value's 64 bits: sign-extended for a signed 32-bit ENUM.
    pub value: u64,
}

impl<'a> EnumeratorView<'a> {
    /// The enumerator's name.
    pub fn name(&self) -> Result<&'a str, BtfError> {
        read_name(self.btf, self.name_off)
    }

    /// The enumerator decoded and owned.
    pub fn to_enumerator(&self) -> Result<Enumerator, BtfError> {
        Ok(Enumerator {
            name_off: self.name_off,
            name: self.name()?.to_string(),
            value: self.value,
        })
    }
}

/// One parameter of a FUNC_PROTO read in place.
#[derive(Debug, Clone, Copy)]
pub struct ParamView<'a> {
    btf: &'a Btf,
    /// Offset of the parameter's name in the string section (0: unnamed).
    pub name_off: u32,
    /// The parameter's type; 0 for the `...` of a variadic function.
    pub type_id: u32,
}

impl<'a> ParamView<'a> {
    /// The parameter's name ("" when the prototype does not name it).
    pub fn name(&self) -> Result<&'a str, BtfError> {
        read_name(self.btf, self.name_off)
    }

    /// The parameter decoded and owned.
    pub fn to_param(&self) -> Result<Param, BtfError> {
        Ok(Param {
            name_off: self.name_off,
            name: self.name()?.to_string(),
            type_id: self.type_id,
        })
    }
}

/// A name of the string section; offset 0 is the empty name without a look.
fn read_name(btf: &Btf, name_off: u32) -> Result<&str, BtfError> {
    if name_off == 0 {
        return Ok("");
    }
    btf.name(name_off)
}

/// The members of a STRUCT or UNION, in place: `struct btf_member { name_off, type,
/// offset }`, the offset's top 8 bits a bitfield size when the record has kind_flag.
#[derive(Clone)]
pub struct Members<'a> {
    btf: &'a Btf,
    records: ChunksExact<'a, u8>,
    kind_flag: bool,
}

impl<'a> Iterator for Members<'a> {
    type Item = MemberView<'a>;

    fn next(&mut self) -> Option<MemberView<'a>> {
        let [name_off, type_id, offset] = words::<3>(self.records.next()?);
        let (bit_offset, bitfield_size) = if self.kind_flag {
            (offset & 0x00ff_ffff, (offset >> 24) as u8)
        } else {
            (offset, 0)
        };
        Some(MemberView {
            btf: self.btf,
            name_off,
            type_id,
            bit_offset,
            bitfield_size,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

/// The enumerators of an ENUM (`struct btf_enum { name_off, val }`, `val` sign-extended
/// when the record has kind_flag) or an ENUM64 (`struct btf_enum64 { name_off, val_lo32,
/// val_hi32 }`), in place.
#[derive(Clone)]
pub struct Enumerators<'a> {
    btf: &'a Btf,
    records: ChunksExact<'a, u8>,
    wide: bool,
    signed: bool,
}

impl<'a> Iterator for Enumerators<'a> {
    type Item = EnumeratorView<'a>;

    fn next(&mut self) -> Option<EnumeratorView<'a>> {
        let record = self.records.next()?;
        let (name_off, value) = if self.wide {
            let [name_off, lo, hi] = words::<3>(record);
            (name_off, (hi as u64) << 32 | lo as u64)
        } else {
            let [name_off, v] = words::<2>(record);
            let value = if self.signed {
                v as i32 as i64 as u64
            } else {
                v as u64
            };
            (name_off, value)
        };
        Some(EnumeratorView {
            btf: self.btf,
            name_off,
            value,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

/// The parameters of a FUNC_PROTO, in place: `struct btf_param { name_off, type }`.
#[derive(Clone)]
pub struct Params<'a> {
    btf: &'a Btf,
    records: ChunksExact<'a, u8>,
}

impl<'a> Iterator for Params<'a> {
    type Item = ParamView<'a>;

    fn next(&mut self) -> Option<ParamView<'a>> {
        let [name_off, type_id] = words::<2>(self.records.next()?);
        Some(ParamView {
            btf: self.btf,
            name_off,
            type_id,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

/// The variables of a DATASEC, in place: `struct btf_var_secinfo { type, offset, size }`.
#[derive(Clone)]
pub struct Vars<'a> {
    records: ChunksExact<'a, u8>,
}

impl Iterator for Vars<'_> {
    type Item = VarSecinfo;

    fn next(&mut self) -> Option<VarSecinfo> {
        let [type_id, offset, size] = words::<3>(self.records.next()?);
        Some(VarSecinfo {
            type_id,
            offset,
            size,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

/// The type ids a type refers to, in place ([`TypeView::type_refs`]): the one or two in
/// its header or record, then one per entry.
#[derive(Clone)]
pub struct TypeRefs<'a> {
    first: Option<u32>,
    second: Option<u32>,
    /// Entries that each hold a type id (members, parameters, DATASEC entries)...
    records: ChunksExact<'a, u8>,
    /// ...as their word number `at`.
    at: usize,
}

impl Iterator for TypeRefs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if let Some(id) = self.first.take() {
            return Some(id);
        }
        if let Some(id) = self.second.take() {
            return Some(id);
        }
        read_u32(self.records.next()?, 4 * self.at)
    }
}

macro_rules! list_impls {
    ($($list:ident),*) => {$(
        impl ExactSizeIterator for $list<'_> {}

        impl fmt::Debug for $list<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({} left)", stringify!($list), self.records.len())
            }
        }
    )*};
}

list_impls!(Members, Enumerators, Params, Vars);

impl fmt::Debug for TypeRefs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

#[cfg(test)]
mod tests;
