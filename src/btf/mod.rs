//! BTF, the BPF Type Format: the `.BTF` section of an object and the kernel's own
//! `/sys/kernel/btf/vmlinux`.
//!
//! ABI: `include/uapi/linux/btf.h`; described in `Documentation/bpf/btf.rst`.
//!
//! ```text
//!   struct btf_header   magic 0xeB9F, version 1, flags, hdr_len,
//!                       type_off, type_len, str_off, str_len   (offsets after the header)
//!   type section        struct btf_type { name_off, info, size|type } + kind-specific data,
//!                       one after the other; the first is type id 1 (id 0 is `void`)
//!   string section      NUL-terminated strings; offset 0 is the empty string
//! ```
//!
//! [`Btf::parse`] checks the header and walks the type section once, recording where each
//! type starts (the offsets table) and checking that every record fits. Types are decoded
//! on demand into an owned [`Type`]: the kernel's BTF has ~127k types and a loader needs a
//! few dozen of them. Lookups by name go through a hash index of essential names (see
//! [`essential_name`]) built in the same pass; FUNCs (~56k in a kernel, never a CO-RE
//! candidate) get their own index on the first FUNC lookup.
//!
//! Submodules: [`ext`] (`.BTF.ext`: func_info, line_info, CO-RE records), [`build`] (writes
//! BTF bytes: the kernel feature probes' blobs, the tests' hand-made BTF), [`kernel`] (the
//! running kernel's BTF) and [`core`] (CO-RE relocation).
//!
//! Only little-endian BTF is read: the loader runs on the machine the BTF is for.

pub mod build;
pub mod core;
pub mod ext;
mod externs;
pub mod kernel;
pub mod layout;
pub mod sanitize;

use std::fmt;
use std::sync::{Arc, OnceLock};

/// `BTF_MAGIC`, as read in the host's (little-endian) byte order.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// The one BTF version there is.
pub const BTF_VERSION: u8 = 1;
/// `sizeof(struct btf_header)`.
pub const BTF_HEADER_LEN: usize = 24;
/// `sizeof(struct btf_type)`: name_off, info, size|type.
const BTF_TYPE_LEN: usize = 12;
/// `BTF_MAX_VLEN`: vlen is 16 bits in `info`.
const VLEN_MASK: u32 = 0xffff;
/// How many typedefs/modifiers/arrays a chain may hold before it is called a loop
/// (the kernel's `MAX_RESOLVE_DEPTH` is 32).
pub const MAX_RESOLVE_DEPTH: usize = 32;
/// The size of a pointer on the BPF target.
pub const PTR_SIZE: u32 = 8;

/// `BTF_KIND_*`: what a type is. The discriminant is the kernel's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// Type id 0, not stored in the type section.
    Void = 0,
    /// `BTF_KIND_INT`: an integer (or `char`, `bool`) with its size, signedness and bits.
    Int = 1,
    /// `BTF_KIND_PTR`: a pointer to another type.
    Ptr = 2,
    /// `BTF_KIND_ARRAY`: an array: element type, index type, number of elements.
    Array = 3,
    /// `BTF_KIND_STRUCT`: a struct and its members.
    Struct = 4,
    /// `BTF_KIND_UNION`: a union and its members.
    Union = 5,
    /// `BTF_KIND_ENUM`: an enumeration with 32-bit values.
    Enum = 6,
    /// `BTF_KIND_FWD`: a forward declaration of a struct or union (`struct sock;`).
    Fwd = 7,
    /// `BTF_KIND_TYPEDEF`: a name for another type.
    Typedef = 8,
    /// `BTF_KIND_VOLATILE`: the `volatile` qualifier on another type.
    Volatile = 9,
    /// `BTF_KIND_CONST`: the `const` qualifier on another type.
    Const = 10,
    /// `BTF_KIND_RESTRICT`: the `restrict` qualifier on another type.
    Restrict = 11,
    /// `BTF_KIND_FUNC`: a function (a BPF program, a subprogram, a kernel function); its
    /// type is a FUNC_PROTO.
    Func = 12,
    /// `BTF_KIND_FUNC_PROTO`: a function's signature: return type and parameters.
    FuncProto = 13,
    /// `BTF_KIND_VAR`: a global variable, listed in a DATASEC.
    Var = 14,
    /// `BTF_KIND_DATASEC`: an ELF data section (`.data`, `.bss`, `.rodata`, `.maps`) and
    /// the variables in it.
    Datasec = 15,
    /// `BTF_KIND_FLOAT`: a floating-point type.
    Float = 16,
    /// `BTF_KIND_DECL_TAG`: a `btf_decl_tag("...")` attribute on a declaration.
    DeclTag = 17,
    /// `BTF_KIND_TYPE_TAG`: a `btf_type_tag("...")` attribute on a type (`__user`,
    /// `__rcu`, ...).
    TypeTag = 18,
    /// `BTF_KIND_ENUM64`: an enumeration with 64-bit values (kernel 6.0 and later).
    Enum64 = 19,
}

impl Kind {
    /// The kind with the kernel's number `n`, if there is one.
    pub fn from_u8(n: u8) -> Option<Kind> {
        use Kind::*;
        Some(match n {
            0 => Void,
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// The name bpftool prints (`STRUCT`, `FUNC_PROTO`, ...).
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Void => "VOID",
            Int => "INT",
            Ptr => "PTR",
            Array => "ARRAY",
            Struct => "STRUCT",
            Union => "UNION",
            Enum => "ENUM",
            Fwd => "FWD",
            Typedef => "TYPEDEF",
            Volatile => "VOLATILE",
            Const => "CONST",
            Restrict => "RESTRICT",
            Func => "FUNC",
            FuncProto => "FUNC_PROTO",
            Var => "VAR",
            Datasec => "DATASEC",
            Float => "FLOAT",
            DeclTag => "DECL_TAG",
            TypeTag => "TYPE_TAG",
            Enum64 => "ENUM64",
        }
    }

    /// Is this a modifier (`volatile`, `const`, `restrict`, a type tag)?
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Bits of an INT's `encoding` (`BTF_INT_ENCODING`).
/// `BTF_INT_SIGNED`: the INT is signed.
pub const BTF_INT_SIGNED: u8 = 1 << 0;
/// `BTF_INT_CHAR`: the INT is a character type (printing hint only).
pub const BTF_INT_CHAR: u8 = 1 << 1;
/// `BTF_INT_BOOL`: the INT is a boolean.
pub const BTF_INT_BOOL: u8 = 1 << 2;

// A VAR's linkage (`struct btf_var`).
/// `BTF_VAR_STATIC`: a `static` variable, local to the object.
pub const BTF_VAR_STATIC: u32 = 0;
/// `BTF_VAR_GLOBAL_ALLOCATED`: a non-static global with storage in its section.
pub const BTF_VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_VAR_GLOBAL_EXTERN`: an `extern` variable (`.kconfig`, `.ksyms`), resolved
/// by the loader.
pub const BTF_VAR_GLOBAL_EXTERN: u32 = 2;

// A FUNC's linkage (stored in its vlen).
/// `BTF_FUNC_STATIC`: a `static` function; the verifier checks it in the context of
/// its caller.
pub const BTF_FUNC_STATIC: u16 = 0;
/// `BTF_FUNC_GLOBAL`: a non-static function; the verifier checks it on its own,
/// against its BTF signature.
pub const BTF_FUNC_GLOBAL: u16 = 1;
/// `BTF_FUNC_EXTERN`: an `extern` function, defined elsewhere (a kfunc).
pub const BTF_FUNC_EXTERN: u16 = 2;

/// A member of a STRUCT or UNION (`struct btf_member`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Offset of the member's name in the string section (0: anonymous).
    pub name_off: u32,
    /// Empty for an anonymous member.
    pub name: String,
    /// Type id of the member's type.
    pub type_id: u32,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Width of a bitfield in bits; 0 when the member is not a bitfield (or when the
    /// struct does not have `kind_flag` set, in which case the width is the INT's).
    pub bitfield_size: u8,
}

/// An enumerator of an ENUM or ENUM64 (`struct btf_enum`, `struct btf_enum64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enumerator {
    /// Offset of the enumerator's name in the string section.
    pub name_off: u32,
    /// The enumerator's name.
    pub name: String,
    /// The value's 64 bits: sign-extended for a signed 32-bit ENUM.
    pub value: u64,
}

/// A parameter of a FUNC_PROTO (`struct btf_param`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Offset of the parameter's name in the string section (0: unnamed).
    pub name_off: u32,
    /// The parameter's name; empty when the prototype does not name it.
    pub name: String,
    /// 0 for the `...` of a variadic function (the last parameter).
    pub type_id: u32,
}

/// A variable of a DATASEC (`struct btf_var_secinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSecinfo {
    /// The VAR (or FUNC, for `.ksyms`).
    pub type_id: u32,
    /// Offset in the section, in bytes.
    pub offset: u32,
    /// Size of the variable in bytes.
    pub size: u32,
}

/// What a type is, with its kind-specific data decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeBody {
    /// `void`: type id 0.
    Void,
    /// An INT.
    Int {
        /// Size in bytes (`btf_type.size`).
        size: u32,
        /// `BTF_INT_SIGNED` | `BTF_INT_CHAR` | `BTF_INT_BOOL`.
        encoding: u8,
        /// `BTF_INT_OFFSET`: bit offset of the value in the `size` bytes.
        offset: u8,
        /// `BTF_INT_BITS`: number of value bits.
        bits: u8,
    },
    /// A PTR.
    Ptr {
        /// Type id of the pointed-to type.
        target: u32,
    },
    /// An ARRAY (`struct btf_array`).
    Array {
        /// Type id of the elements.
        elem: u32,
        /// Type id of the index type (an INT).
        index: u32,
        /// Number of elements (0 for a flexible array member).
        nelems: u32,
    },
    /// `kind_flag` set: member offsets carry a bitfield size in their top 8 bits.
    Struct {
        /// Size of the struct in bytes.
        size: u32,
        /// The members, in the order of the record.
        members: Vec<Member>,
    },
    /// A UNION.
    Union {
        /// Size of the union in bytes.
        size: u32,
        /// The members, in the order of the record.
        members: Vec<Member>,
    },
    /// `kind_flag` set: the values are signed.
    Enum {
        /// Size in bytes: 1, 2, 4 or 8.
        size: u32,
        /// The values are signed (`kind_flag`).
        signed: bool,
        /// The enumerators.
        values: Vec<Enumerator>,
    },
    /// `kind_flag` set: a forward declaration of a union, else of a struct.
    Fwd {
        /// `union x;` rather than `struct x;`.
        is_union: bool,
    },
    /// A TYPEDEF.
    Typedef {
        /// Type id of the type the name stands for.
        target: u32,
    },
    /// A VOLATILE qualifier.
    Volatile {
        /// Type id of the qualified type.
        target: u32,
    },
    /// A CONST qualifier.
    Const {
        /// Type id of the qualified type.
        target: u32,
    },
    /// A RESTRICT qualifier.
    Restrict {
        /// Type id of the qualified type.
        target: u32,
    },
    /// A FUNC.
    Func {
        /// Type id of its FUNC_PROTO.
        proto: u32,
        /// `BTF_FUNC_STATIC` / `GLOBAL` / `EXTERN` (the vlen field).
        linkage: u16,
    },
    /// A FUNC_PROTO.
    FuncProto {
        /// Type id of the return type (0: `void`).
        ret: u32,
        /// The parameters, in order.
        params: Vec<Param>,
    },
    /// A VAR.
    Var {
        /// Type id of the variable's type.
        type_id: u32,
        /// `BTF_VAR_STATIC` / `GLOBAL_ALLOCATED` / `GLOBAL_EXTERN`.
        linkage: u32,
    },
    /// A DATASEC.
    Datasec {
        /// Size of the ELF section in bytes (clang leaves 0; see [`Btf::fixup_datasecs`]).
        size: u32,
        /// The variables in the section, with their offsets and sizes.
        vars: Vec<VarSecinfo>,
    },
    /// A FLOAT.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// `component_idx` -1: the tag is on `target` itself, else on its member/parameter.
    DeclTag {
        /// Type id of the tagged type, member's struct or parameter's function.
        target: u32,
        /// -1, or the index of the tagged member or parameter.
        component_idx: i32,
    },
    /// A TYPE_TAG.
    TypeTag {
        /// Type id of the tagged type.
        target: u32,
    },
    /// An ENUM64.
    Enum64 {
        /// Size in bytes: 1, 2, 4 or 8.
        size: u32,
        /// The values are signed (`kind_flag`).
        signed: bool,
        /// The enumerators.
        values: Vec<Enumerator>,
    },
}

/// One type, decoded and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    /// Its type id (1 for the first type of the section; 0 is `void`).
    pub id: u32,
    /// Offset of its name in the string section (0: anonymous).
    pub name_off: u32,
    /// Empty for an anonymous type.
    pub name: String,
    /// Its kind and kind-specific data.
    pub body: TypeBody,
}

impl Type {
    /// The kind of this type.
    pub fn kind(&self) -> Kind {
        match self.body {
            TypeBody::Void => Kind::Void,
            TypeBody::Int { .. } => Kind::Int,
            TypeBody::Ptr { .. } => Kind::Ptr,
            TypeBody::Array { .. } => Kind::Array,
            TypeBody::Struct { .. } => Kind::Struct,
            TypeBody::Union { .. } => Kind::Union,
            TypeBody::Enum { .. } => Kind::Enum,
            TypeBody::Fwd { .. } => Kind::Fwd,
            TypeBody::Typedef { .. } => Kind::Typedef,
            TypeBody::Volatile { .. } => Kind::Volatile,
            TypeBody::Const { .. } => Kind::Const,
            TypeBody::Restrict { .. } => Kind::Restrict,
            TypeBody::Func { .. } => Kind::Func,
            TypeBody::FuncProto { .. } => Kind::FuncProto,
            TypeBody::Var { .. } => Kind::Var,
            TypeBody::Datasec { .. } => Kind::Datasec,
            TypeBody::Float { .. } => Kind::Float,
            TypeBody::DeclTag { .. } => Kind::DeclTag,
            TypeBody::TypeTag { .. } => Kind::TypeTag,
            TypeBody::Enum64 { .. } => Kind::Enum64,
        }
    }

    /// Members of a STRUCT or UNION; empty for other kinds.
    pub fn members(&self) -> &[Member] {
        match &self.body {
            TypeBody::Struct { members, .. } | TypeBody::Union { members, .. } => members,
            _ => &[],
        }
    }

    /// The type this one refers to, for kinds that refer to exactly one (PTR, TYPEDEF,
    /// modifiers, VAR, FUNC, ARRAY's element, DECL_TAG).
    pub fn target(&self) -> Option<u32> {
        match self.body {
            TypeBody::Ptr { target }
            | TypeBody::Typedef { target }
            | TypeBody::Volatile { target }
            | TypeBody::Const { target }
            | TypeBody::Restrict { target }
            | TypeBody::TypeTag { target }
            | TypeBody::DeclTag { target, .. } => Some(target),
            TypeBody::Var { type_id, .. } => Some(type_id),
            TypeBody::Func { proto, .. } => Some(proto),
            TypeBody::Array { elem, .. } => Some(elem),
            _ => None,
        }
    }

    /// `STRUCT 'sock'`, `PTR '(anon)'`: how bpftool names a type.
    pub fn describe(&self) -> String {
        let name = if self.name.is_empty() {
            "(anon)"
        } else {
            &self.name
        };
        format!("{} '{}'", self.kind(), name)
    }
}

/// Why BTF (or `.BTF.ext`) bytes could not be read, or a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// Fewer bytes than the fixed header.
    HeaderTruncated {
        /// How many bytes there were.
        len: usize,
    },
    /// The magic is not 0xeB9F in either byte order.
    BadMagic {
        /// The first two bytes, little-endian.
        magic: u16,
    },
    /// The magic is 0xeB9F in the other byte order: BTF for a machine of the other
    /// endianness.
    ForeignByteOrder,
    /// A version other than [`BTF_VERSION`].
    UnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// `hdr_len` smaller than the header, or larger than the data.
    BadHeaderLen {
        /// `hdr_len` as read.
        hdr_len: u32,
        /// How many bytes there are.
        len: usize,
    },
    /// A header field that should be zero (the unknown tail of a longer header).
    UnknownHeaderField {
        /// Byte offset of the non-zero field from the start of the data.
        offset: usize,
    },
    /// A section (`type`, `string`, `func_info`...) does not lie inside the data.
    SectionOutOfBounds {
        /// Which section.
        section: &'static str,
        /// Its offset, from the end of the header.
        off: u32,
        /// Its length in bytes.
        len: u32,
        /// Bytes after the header.
        data_len: usize,
    },
    /// The type section ends inside a type's record.
    TypeTruncated {
        /// Type id the record would have.
        id: u32,
        /// Byte offset of the record in the type section.
        offset: usize,
    },
    /// A type's vlen entries run past the end of the type section.
    VlenOutOfBounds {
        /// Type id of the record.
        id: u32,
        /// Byte offset of the record in the type section.
        offset: usize,
        /// Its kind.
        kind: Kind,
        /// Its number of entries (members, enumerators, parameters, variables).
        vlen: u16,
    },
    /// A type's kind is not one of [`Kind`]'s (BTF from a newer compiler or kernel).
    UnknownKind {
        /// Type id of the record.
        id: u32,
        /// Byte offset of the record in the type section.
        offset: usize,
        /// The kind's number.
        kind: u8,
    },
    /// More types than a type id can number.
    TooManyTypes,
    /// The string section does not start with the empty string.
    StringSectionStart,
    /// The string section's last byte is not NUL.
    StringSectionNotTerminated,
    /// A string offset at or past the end of the string section.
    StringOutOfBounds {
        /// The offset.
        offset: u32,
        /// Length of the string section.
        str_len: usize,
    },
    /// A string that runs to the end of the string section without a NUL.
    StringNotTerminated {
        /// Where it starts in the string section.
        offset: u32,
    },
    /// A string that is not UTF-8 (names are C identifiers).
    StringNotUtf8 {
        /// Where it starts in the string section.
        offset: u32,
    },
    /// A type id that names no type of this BTF.
    TypeIdOutOfRange {
        /// The type id.
        id: u32,
        /// How many type ids there are (including 0, `void`).
        count: u32,
    },
    /// A type's `name_off` points outside the string section.
    TypeNameOutOfBounds {
        /// The type's id.
        id: u32,
        /// Its name offset.
        name_off: u32,
    },
    /// A chain of typedefs, modifiers or arrays longer than [`MAX_RESOLVE_DEPTH`]: a loop.
    TypeLoop {
        /// The type where resolving started.
        id: u32,
    },
    /// The type has no size (void, FWD, FUNC, FUNC_PROTO, DECL_TAG).
    NotSized {
        /// The type's id.
        id: u32,
        /// Its kind.
        kind: Kind,
    },
    /// An array's size (elements times element size) does not fit in 32 bits.
    SizeOverflow {
        /// The array's type id.
        id: u32,
    },
    /// The type is not of the kind an operation needs.
    WrongKind {
        /// The type's id.
        id: u32,
        /// Its kind.
        kind: Kind,
        /// The kind or kinds that were expected.
        want: &'static str,
    },
    /// No type of that name and kind.
    NotFound {
        /// The name looked up.
        name: String,
        /// The kind looked up.
        kind: Kind,
    },
    /// [`Btf::fixup_datasecs`] on BTF that is mapped read-only.
    ReadOnly,
    /// The section a DATASEC describes has no known size.
    DatasecSectionUnknown {
        /// The DATASEC's name.
        datasec: String,
    },
    /// No symbol gives the offset of a DATASEC's variable.
    DatasecSymbolUnknown {
        /// The DATASEC's name.
        datasec: String,
        /// The variable's name.
        var: String,
    },
    /// Two variables of a DATASEC overlap, or one runs past the section's end.
    DatasecOverlap {
        /// The DATASEC's name.
        datasec: String,
        /// The variable's name.
        var: String,
        /// Its offset in the section.
        offset: u32,
        /// Its size in bytes.
        size: u32,
    },

    // .BTF.ext
    /// `.BTF.ext`: fewer bytes than its fixed header.
    ExtHeaderTruncated {
        /// How many bytes there were.
        len: usize,
    },
    /// `.BTF.ext`: the magic is not 0xeB9F.
    ExtBadMagic {
        /// The first two bytes, little-endian.
        magic: u16,
    },
    /// `.BTF.ext`: a version other than 1.
    ExtUnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// `.BTF.ext`: `hdr_len` smaller than the header, or larger than the data.
    ExtBadHeaderLen {
        /// `hdr_len` as read.
        hdr_len: u32,
        /// How many bytes there are.
        len: usize,
    },
    /// A subsection's record size is smaller than the record the ABI defines.
    ExtRecordSizeTooSmall {
        /// `func_info`, `line_info` or `core_relo`.
        subsection: &'static str,
        /// The record size the subsection declares.
        rec_size: u32,
        /// The size of the record the loader reads.
        min: u32,
    },
    /// A subsection is too short for its record size, or for a block header.
    ExtTruncated {
        /// `func_info`, `line_info` or `core_relo`.
        subsection: &'static str,
        /// Byte offset in the subsection where the bytes ran out.
        offset: usize,
    },
    /// A per-section block claims more records than the bytes hold.
    ExtBlockOverrun {
        /// `func_info`, `line_info` or `core_relo`.
        subsection: &'static str,
        /// The ELF section the block is for.
        section: String,
        /// How many records it claims.
        num_info: u32,
        /// Byte offset of the block header in the subsection.
        offset: usize,
    },
    /// `.BTF.ext`: a CO-RE record of a kind this loader does not know.
    ExtUnknownCoreReloKind {
        /// Byte offset of the record in the `core_relo` subsection.
        offset: usize,
        /// `bpf_core_relo.kind` as read.
        kind: u32,
    },
    /// `.BTF.ext`: a CO-RE record's access string is not `N(:N)*`.
    ExtBadAccessString {
        /// Byte offset of the record in the `core_relo` subsection.
        offset: usize,
        /// The access string.
        access: String,
    },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BtfError::*;
        match self {
            HeaderTruncated { len } => {
                write!(f, "BTF: {len} bytes is shorter than the {BTF_HEADER_LEN}-byte header")
            }
            BadMagic { magic } => write!(f, "BTF: bad magic {magic:#06x} (want 0xeb9f)"),
            ForeignByteOrder => f.write_str("BTF: written for the other byte order"),
            UnsupportedVersion { version } => {
                write!(f, "BTF: unsupported version {version} (want 1)")
            }
            BadHeaderLen { hdr_len, len } => {
                write!(f, "BTF: header length {hdr_len} does not fit {len} bytes")
            }
            UnknownHeaderField { offset } => {
                write!(f, "BTF: unknown non-zero header field at byte {offset}")
            }
            SectionOutOfBounds {
                section,
                off,
                len,
                data_len,
            } => write!(
                f,
                "BTF: {section} section (offset {off}, length {len}) lies outside the {data_len} bytes"
            ),
            TypeTruncated { id, offset } => write!(
                f,
                "BTF: type {id} at byte {offset} of the type section is truncated"
            ),
            VlenOutOfBounds {
                id,
                offset,
                kind,
                vlen,
            } => write!(
                f,
                "BTF: type {id} ({kind}) at byte {offset}: {vlen} entries run past the type section"
            ),
            UnknownKind { id, offset, kind } => {
                write!(f, "BTF: type {id} at byte {offset} has unknown kind {kind}")
            }
            TooManyTypes => f.write_str("BTF: more types than a 32-bit id can number"),
            StringSectionStart => f.write_str("BTF: the string section does not start with NUL"),
            StringSectionNotTerminated => {
                f.write_str("BTF: the string section does not end with NUL")
            }
            StringOutOfBounds { offset, str_len } => write!(
                f,
                "BTF: string offset {offset} is past the {str_len}-byte string section"
            ),
            StringNotTerminated { offset } => {
                write!(f, "BTF: string at offset {offset} is not NUL-terminated")
            }
            StringNotUtf8 { offset } => write!(f, "BTF: string at offset {offset} is not UTF-8"),
            TypeIdOutOfRange { id, count } => {
                write!(f, "BTF: type id {id} out of range ({count} types)")
            }
            TypeNameOutOfBounds { id, name_off } => {
                write!(f, "BTF: type {id}: name offset {name_off} is past the string section")
            }
            TypeLoop { id } => write!(
                f,
                "BTF: type {id}: more than {MAX_RESOLVE_DEPTH} typedefs/modifiers/arrays (a loop?)"
            ),
            NotSized { id, kind } => write!(f, "BTF: type {id} ({kind}) has no size"),
            SizeOverflow { id } => write!(f, "BTF: type {id}: size overflows 32 bits"),
            WrongKind { id, kind, want } => {
                write!(f, "BTF: type {id} is a {kind}, expected {want}")
            }
            NotFound { name, kind } => write!(f, "BTF: no {kind} named '{name}'"),
            ReadOnly => f.write_str("BTF: mapped read-only, cannot be fixed up"),
            DatasecSectionUnknown { datasec } => {
                write!(f, "BTF: DATASEC '{datasec}': the ELF has no section of that name")
            }
            DatasecSymbolUnknown { datasec, var } => write!(
                f,
                "BTF: DATASEC '{datasec}': no symbol gives the offset of variable '{var}'"
            ),
            DatasecOverlap {
                datasec,
                var,
                offset,
                size,
            } => write!(
                f,
                "BTF: DATASEC '{datasec}': variable '{var}' ({size} bytes at {offset}) overlaps another or the section's end"
            ),
            ExtHeaderTruncated { len } => {
                write!(f, "BTF.ext: {len} bytes is shorter than the header")
            }
            ExtBadMagic { magic } => write!(f, "BTF.ext: bad magic {magic:#06x} (want 0xeb9f)"),
            ExtUnsupportedVersion { version } => {
                write!(f, "BTF.ext: unsupported version {version} (want 1)")
            }
            ExtBadHeaderLen { hdr_len, len } => {
                write!(f, "BTF.ext: header length {hdr_len} does not fit {len} bytes")
            }
            ExtRecordSizeTooSmall {
                subsection,
                rec_size,
                min,
            } => write!(
                f,
                "BTF.ext: {subsection} record size {rec_size} is smaller than {min}"
            ),
            ExtTruncated { subsection, offset } => {
                write!(f, "BTF.ext: {subsection} truncated at byte {offset}")
            }
            ExtBlockOverrun {
                subsection,
                section,
                num_info,
                offset,
            } => write!(
                f,
                "BTF.ext: {subsection} block of section '{section}' at byte {offset}: {num_info} records run past the end"
            ),
            ExtUnknownCoreReloKind { offset, kind } => {
                write!(f, "BTF.ext: CO-RE record at byte {offset} has unknown kind {kind}")
            }
            ExtBadAccessString { offset, access } => write!(
                f,
                "BTF.ext: CO-RE record at byte {offset}: bad access string '{access}'"
            ),
        }
    }
}

impl std::error::Error for BtfError {}

/// The bytes a [`Btf`] reads: its own, or a read-only mapping of a file.
#[derive(Clone)]
enum Data {
    Owned(Vec<u8>),
    Mapped(Arc<memmap2::Mmap>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::Mapped(m) => m,
        }
    }
}

/// Reads a little-endian `u32` at `off`, if the bytes are there.
pub(crate) fn read_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u16` at `off`, if the bytes are there.
pub(crate) fn read_u16(bytes: &[u8], off: usize) -> Option<u16> {
    let b = bytes.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// `struct btf_type`'s three words.
#[derive(Debug, Clone, Copy)]
struct RawType {
    name_off: u32,
    info: u32,
    size_or_type: u32,
}

impl RawType {
    fn vlen(self) -> u16 {
        (self.info & VLEN_MASK) as u16
    }
    fn kind_u8(self) -> u8 {
        ((self.info >> 24) & 0x1f) as u8
    }
    fn kind_flag(self) -> bool {
        self.info >> 31 == 1
    }
}

/// The essential name of a type: its name without a `___flavor` suffix (CO-RE's
/// convention: `sock___old` is a flavor of `sock`). The suffix starts at the last `___`
/// that has a non-`_` character on both sides.
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    let mut i = b.len().saturating_sub(4);
    while i > 0 {
        // b[i..i+3] == "___", with b[i-1] != '_' and b[i+3] != '_'
        if b.get(i..i + 3) == Some(b"___")
            && b.get(i - 1).is_some_and(|&c| c != b'_')
            && b.get(i + 3).is_some_and(|&c| c != b'_')
        {
            return &name[..i];
        }
        i -= 1;
    }
    name
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a: a small, good-enough hash for type names.
fn name_hash(name: &[u8]) -> u32 {
    name.iter()
        .fold(FNV_OFFSET, |h, &c| (h ^ c as u32).wrapping_mul(FNV_PRIME))
}

/// [`name_hash`] of the essential name of the NUL-terminated string starting `s`, in one
/// pass: the hash state is remembered at each `X___Y` separator and the last one wins.
fn essential_hash(s: &[u8]) -> u32 {
    let mut h = FNV_OFFSET;
    let mut at_separator = None;
    let mut prev = 0u8;
    for (i, &c) in s.iter().enumerate() {
        if c == 0 {
            break;
        }
        if c == b'_'
            && i > 0
            && prev != b'_'
            && s.get(i + 1..i + 3) == Some(b"__")
            && s.get(i + 3).is_some_and(|&d| d != b'_' && d != 0)
        {
            at_separator = Some(h);
        }
        h = (h ^ c as u32).wrapping_mul(FNV_PRIME);
        prev = c;
    }
    at_separator.unwrap_or(h)
}

/// Type ids by essential name: an open-addressing table (linear probing) of
/// `(hash, id)` slots. Lookups compare the names of the ids whose hash matches.
#[derive(Clone, Debug)]
struct NameIndex {
    /// Power-of-two length; `id == 0` marks an empty slot.
    slots: Vec<(u32, u32)>,
}

impl NameIndex {
    fn new(entries: &[(u32, u32)]) -> NameIndex {
        // Load factor at most ~0.7.
        let cap = (entries.len() * 10 / 7 + 1).next_power_of_two().max(16);
        let mut slots = vec![(0u32, 0u32); cap];
        let mask = cap - 1;
        for &(hash, id) in entries {
            let mut i = hash as usize & mask;
            while let Some(slot) = slots.get_mut(i) {
                if slot.1 == 0 {
                    *slot = (hash, id);
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        NameIndex { slots }
    }

    /// Ids whose essential name hashes like `essential`, in id order (the caller compares
    /// names).
    fn candidates(&self, essential: &[u8]) -> Vec<u32> {
        let hash = name_hash(essential);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        let mut out = Vec::new();
        while let Some(&(h, id)) = self.slots.get(i) {
            if id == 0 {
                break;
            }
            if h == hash {
                out.push(id);
            }
            i = (i + 1) & mask;
        }
        out.sort_unstable();
        out
    }
}

/// Parsed BTF: the raw bytes, where each type starts, and lookups that decode on demand.
#[derive(Clone)]
pub struct Btf {
    data: Data,
    /// Split BTF (a kernel module's): the BTF it extends. Its ids and string offsets
    /// come first; this one's continue after them.
    base: Option<Arc<Btf>>,
    /// The id of this BTF's first own type: 1, or the base's `len()` for split BTF.
    first_id: u32,
    /// The string offset of this BTF's first own string: 0, or the base's string
    /// section length for split BTF.
    first_str: u32,
    /// Absolute byte range of the type section.
    type_start: usize,
    type_end: usize,
    /// Absolute byte range of the string section.
    str_start: usize,
    str_end: usize,
    /// `offsets[id - first_id]`: start of type `id`, relative to `type_start`.
    offsets: Vec<u32>,
    /// Named types other than FUNC, by essential name: built with the offsets.
    names: NameIndex,
    /// FUNCs by name (a kernel has ~56k of them and CO-RE never looks for one): built
    /// on the first lookup of a FUNC.
    func_names: OnceLock<NameIndex>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.len())
            .field("type_len", &(self.type_end - self.type_start))
            .field("str_len", &(self.str_end - self.str_start))
            .finish()
    }
}

impl Btf {
    /// Parses BTF it will own (e.g. an object's `.BTF` section, copied).
    pub fn parse(bytes: Vec<u8>) -> Result<Btf, BtfError> {
        Btf::from_data(Data::Owned(bytes), None)
    }

    /// Parses BTF that lives in a read-only mapping (the kernel's, see [`kernel`]).
    pub fn parse_mapped(map: memmap2::Mmap) -> Result<Btf, BtfError> {
        Btf::from_data(Data::Mapped(Arc::new(map)), None)
    }

    /// Parses split BTF on top of `base`: a kernel module's BTF (`/sys/kernel/btf/<module>`,
    /// or what `BPF_OBJ_GET_INFO_BY_FD` gives for a module's BTF object) on vmlinux's.
    /// Its type ids continue after the base's last (its first type is `base.len()`) and
    /// its string offsets after the base's string section; types and names may refer to
    /// the base's. Lookups see both: the base's types first.
    pub fn parse_split(bytes: Vec<u8>, base: Arc<Btf>) -> Result<Btf, BtfError> {
        Btf::from_data(Data::Owned(bytes), Some(base))
    }

    fn from_data(data: Data, base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        let bytes = data.bytes();
        let len = bytes.len();
        if len < BTF_HEADER_LEN {
            return Err(BtfError::HeaderTruncated { len });
        }
        let magic = read_u16(bytes, 0).unwrap_or(0);
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(BtfError::ForeignByteOrder);
        }
        if magic != BTF_MAGIC {
            return Err(BtfError::BadMagic { magic });
        }
        let version = bytes.get(2).copied().unwrap_or(0);
        if version != BTF_VERSION {
            return Err(BtfError::UnsupportedVersion { version });
        }
        let hdr_len = read_u32(bytes, 4).unwrap_or(0);
        if (hdr_len as usize) < BTF_HEADER_LEN || hdr_len as usize > len {
            return Err(BtfError::BadHeaderLen { hdr_len, len });
        }
        // A longer header than we know is fine if its tail is zero (as the kernel checks).
        if let Some(tail) = bytes.get(BTF_HEADER_LEN..hdr_len as usize) {
            if let Some(pos) = tail.iter().position(|&b| b != 0) {
                return Err(BtfError::UnknownHeaderField {
                    offset: BTF_HEADER_LEN + pos,
                });
            }
        }
        let field = |off| read_u32(bytes, off).unwrap_or(0);
        let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
        let section = |name, off: u32, sec_len: u32| {
            let start = (hdr_len as usize).checked_add(off as usize);
            let end = start.and_then(|s| s.checked_add(sec_len as usize));
            match (start, end) {
                (Some(s), Some(e)) if e <= len => Ok((s, e)),
                _ => Err(BtfError::SectionOutOfBounds {
                    section: name,
                    off,
                    len: sec_len,
                    data_len: len - hdr_len as usize,
                }),
            }
        };
        let (type_start, type_end) = section("type", type_off, type_len)?;
        let (str_start, str_end) = section("string", str_off, str_len)?;
        let strings = bytes.get(str_start..str_end).unwrap_or(&[]);
        // The kernel's rules (`btf_parse_str_sec`): a base's strings start with the empty
        // string; split BTF's may be empty, and start anywhere (offset 0 is the base's).
        if base.is_none() && strings.first() != Some(&0) {
            return Err(BtfError::StringSectionStart);
        }
        if !strings.is_empty() && strings.last() != Some(&0) {
            return Err(BtfError::StringSectionNotTerminated);
        }
        if base.is_none() && strings.is_empty() {
            return Err(BtfError::StringSectionStart);
        }
        let (first_id, first_str) = match &base {
            Some(base) => (base.len(), base.first_str + base.strings().len() as u32),
            None => (1, 0),
        };
        let types = bytes.get(type_start..type_end).unwrap_or(&[]);
        let pool = Strings {
            base: base.as_deref(),
            own: strings,
            first: first_str,
        };
        let (offsets, named) = index_types(types, first_id, &pool)?;
        Ok(Btf {
            data,
            base,
            first_id,
            first_str,
            type_start,
            type_end,
            str_start,
            str_end,
            offsets,
            names: NameIndex::new(&named),
            func_names: OnceLock::new(),
        })
    }

    /// The raw BTF bytes (fixed up by [`Btf::fixup_datasecs`]), for `BPF_BTF_LOAD`.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// Number of types, counting `void` (id 0): valid ids are `0..len()`.
    pub fn len(&self) -> u32 {
        self.first_id + self.offsets.len() as u32
    }

    /// True when the BTF holds no type besides `void` (split BTF: none of its own).
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The BTF this one extends (split BTF), if any.
    pub fn base(&self) -> Option<&Btf> {
        self.base.as_deref()
    }

    /// The id of this BTF's first own type: 1, or for split BTF the base's [`Btf::len`].
    /// Own types are `first_id()..len()`.
    pub fn first_id(&self) -> u32 {
        self.first_id
    }

    /// The base that holds type `id`, when `id` is not one of this BTF's own.
    fn base_for(&self, id: u32) -> Option<&Btf> {
        self.base
            .as_deref()
            .filter(|_| id != 0 && id < self.first_id)
    }

    fn types(&self) -> &[u8] {
        self.data
            .bytes()
            .get(self.type_start..self.type_end)
            .unwrap_or(&[])
    }

    fn strings(&self) -> &[u8] {
        self.data
            .bytes()
            .get(self.str_start..self.str_end)
            .unwrap_or(&[])
    }

    /// The string at `offset` in the string section, without its NUL, as bytes.
    pub fn name_bytes(&self, offset: u32) -> Result<&[u8], BtfError> {
        if let Some(base) = self.base.as_deref().filter(|_| offset < self.first_str) {
            return base.name_bytes(offset);
        }
        let strings = self.strings();
        let rest = strings
            .get((offset - self.first_str) as usize..)
            .filter(|r| !r.is_empty())
            .ok_or(BtfError::StringOutOfBounds {
                offset,
                str_len: self.first_str as usize + strings.len(),
            })?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(BtfError::StringNotTerminated { offset })?;
        Ok(rest.get(..end).unwrap_or(&[]))
    }

    /// The string at `offset` in the string section (a type, member, file or line name).
    pub fn name(&self, offset: u32) -> Result<&str, BtfError> {
        std::str::from_utf8(self.name_bytes(offset)?)
            .map_err(|_| BtfError::StringNotUtf8 { offset })
    }

    /// Where own type `id` starts in the type section (a base's type is out of range).
    fn check_id(&self, id: u32) -> Result<usize, BtfError> {
        if id < self.first_id || id >= self.len() {
            return Err(BtfError::TypeIdOutOfRange {
                id,
                count: self.len(),
            });
        }
        let off = self
            .offsets
            .get((id - self.first_id) as usize)
            .copied()
            .unwrap_or(0);
        Ok(off as usize)
    }

    fn raw(&self, id: u32) -> Result<RawType, BtfError> {
        if let Some(base) = self.base_for(id) {
            return base.raw(id);
        }
        let off = self.check_id(id)?;
        let t = self.types();
        let word =
            |i: usize| read_u32(t, off + 4 * i).ok_or(BtfError::TypeTruncated { id, offset: off });
        Ok(RawType {
            name_off: word(0)?,
            info: word(1)?,
            size_or_type: word(2)?,
        })
    }

    /// The kind of type `id`, without decoding it.
    pub fn kind(&self, id: u32) -> Result<Kind, BtfError> {
        if id == 0 {
            return Ok(Kind::Void);
        }
        if let Some(base) = self.base_for(id) {
            return base.kind(id);
        }
        let raw = self.raw(id)?;
        Kind::from_u8(raw.kind_u8()).ok_or(BtfError::UnknownKind {
            id,
            offset: self.check_id(id)?,
            kind: raw.kind_u8(),
        })
    }

    /// The name of type `id` ("" when anonymous), without decoding it.
    pub fn type_name(&self, id: u32) -> Result<&str, BtfError> {
        if id == 0 {
            return Ok("");
        }
        self.name(self.raw(id)?.name_off)
    }

    /// Decodes type `id` (0 is `void`).
    pub fn type_by_id(&self, id: u32) -> Result<Type, BtfError> {
        if id == 0 {
            return Ok(Type {
                id: 0,
                name_off: 0,
                name: String::new(),
                body: TypeBody::Void,
            });
        }
        if let Some(base) = self.base_for(id) {
            return base.type_by_id(id);
        }
        let off = self.check_id(id)?;
        let raw = self.raw(id)?;
        let kind = self.kind(id)?;
        let t = self.types();
        let extra = off + BTF_TYPE_LEN;
        let truncated = BtfError::TypeTruncated { id, offset: off };
        let word = |i: usize| read_u32(t, extra + 4 * i).ok_or(truncated.clone());
        let vlen = raw.vlen() as usize;
        let kflag = raw.kind_flag();
        let st = raw.size_or_type;
        let name = self.name(raw.name_off)?.to_string();
        let body = match kind {
            Kind::Void => TypeBody::Void,
            Kind::Int => {
                let v = word(0)?;
                TypeBody::Int {
                    size: st,
                    encoding: ((v >> 24) & 0x0f) as u8,
                    offset: ((v >> 16) & 0xff) as u8,
                    bits: (v & 0xff) as u8,
                }
            }
            Kind::Ptr => TypeBody::Ptr { target: st },
            Kind::Array => TypeBody::Array {
                elem: word(0)?,
                index: word(1)?,
                nelems: word(2)?,
            },
            Kind::Struct | Kind::Union => {
                let mut members = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let name_off = word(3 * i)?;
                    let offset = word(3 * i + 2)?;
                    let (bit_offset, bitfield_size) = if kflag {
                        (offset & 0x00ff_ffff, (offset >> 24) as u8)
                    } else {
                        (offset, 0)
                    };
                    members.push(Member {
                        name_off,
                        name: self.name(name_off)?.to_string(),
                        type_id: word(3 * i + 1)?,
                        bit_offset,
                        bitfield_size,
                    });
                }
                if kind == Kind::Struct {
                    TypeBody::Struct { size: st, members }
                } else {
                    TypeBody::Union { size: st, members }
                }
            }
            Kind::Enum => {
                let mut values = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let name_off = word(2 * i)?;
                    let v = word(2 * i + 1)?;
                    values.push(Enumerator {
                        name_off,
                        name: self.name(name_off)?.to_string(),
                        value: if kflag {
                            v as i32 as i64 as u64
                        } else {
                            v as u64
                        },
                    });
                }
                TypeBody::Enum {
                    size: st,
                    signed: kflag,
                    values,
                }
            }
            Kind::Enum64 => {
                let mut values = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let name_off = word(3 * i)?;
                    let lo = word(3 * i + 1)? as u64;
                    let hi = word(3 * i + 2)? as u64;
                    values.push(Enumerator {
                        name_off,
                        name: self.name(name_off)?.to_string(),
                        value: hi << 32 | lo,
                    });
                }
                TypeBody::Enum64 {
                    size: st,
                    signed: kflag,
                    values,
                }
            }
            Kind::Fwd => TypeBody::Fwd { is_union: kflag },
            Kind::Typedef => TypeBody::Typedef { target: st },
            Kind::Volatile => TypeBody::Volatile { target: st },
            Kind::Const => TypeBody::Const { target: st },
            Kind::Restrict => TypeBody::Restrict { target: st },
            Kind::TypeTag => TypeBody::TypeTag { target: st },
            Kind::Func => TypeBody::Func {
                proto: st,
                linkage: raw.vlen(),
            },
            Kind::FuncProto => {
                let mut params = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let name_off = word(2 * i)?;
                    params.push(Param {
                        name_off,
                        name: self.name(name_off)?.to_string(),
                        type_id: word(2 * i + 1)?,
                    });
                }
                TypeBody::FuncProto { ret: st, params }
            }
            Kind::Var => TypeBody::Var {
                type_id: st,
                linkage: word(0)?,
            },
            Kind::Datasec => {
                let mut vars = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    vars.push(VarSecinfo {
                        type_id: word(3 * i)?,
                        offset: word(3 * i + 1)?,
                        size: word(3 * i + 2)?,
                    });
                }
                TypeBody::Datasec { size: st, vars }
            }
            Kind::Float => TypeBody::Float { size: st },
            Kind::DeclTag => TypeBody::DeclTag {
                target: st,
                component_idx: word(0)? as i32,
            },
        };
        Ok(Type {
            id,
            name_off: raw.name_off,
            name,
            body,
        })
    }

    /// Follows typedefs and modifiers (const, volatile, restrict, type tags) from `id` to
    /// the first other type. Errors on a loop.
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let kind = self.kind(cur)?;
            if kind == Kind::Typedef || kind.is_modifier() {
                cur = self.raw(cur)?.size_or_type;
            } else {
                return Ok(cur);
            }
        }
        Err(BtfError::TypeLoop { id })
    }

    /// Follows modifiers only (not typedefs).
    pub fn skip_mods(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            if self.kind(cur)?.is_modifier() {
                cur = self.raw(cur)?.size_or_type;
            } else {
                return Ok(cur);
            }
        }
        Err(BtfError::TypeLoop { id })
    }

    /// The size in bytes of type `id`, through typedefs, modifiers, VARs and arrays
    /// (`nelems` times the element's size). Errors on a loop, on an unsized type and on
    /// overflow.
    pub fn resolve_size(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        let mut mult: u64 = 1;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let kind = self.kind(cur)?;
            let size = match kind {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Float
                | Kind::Datasec => self.raw(cur)?.size_or_type,
                Kind::Ptr => PTR_SIZE,
                Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::TypeTag
                | Kind::Var => {
                    cur = self.raw(cur)?.size_or_type;
                    continue;
                }
                Kind::Array => {
                    let (elem, nelems) = self.array_info(cur)?;
                    mult = mult
                        .checked_mul(nelems as u64)
                        .filter(|&m| m <= u32::MAX as u64)
                        .ok_or(BtfError::SizeOverflow { id })?;
                    cur = elem;
                    continue;
                }
                Kind::Void | Kind::Fwd | Kind::Func | Kind::FuncProto | Kind::DeclTag => {
                    return Err(BtfError::NotSized { id: cur, kind })
                }
            };
            return u32::try_from(mult * size as u64).map_err(|_| BtfError::SizeOverflow { id });
        }
        Err(BtfError::TypeLoop { id })
    }

    /// An ARRAY's element type and element count, without decoding.
    fn array_info(&self, id: u32) -> Result<(u32, u32), BtfError> {
        if let Some(base) = self.base_for(id) {
            return base.array_info(id);
        }
        let off = self.check_id(id)?;
        let t = self.types();
        let truncated = BtfError::TypeTruncated { id, offset: off };
        let elem = read_u32(t, off + BTF_TYPE_LEN).ok_or(truncated.clone())?;
        let nelems = read_u32(t, off + BTF_TYPE_LEN + 8).ok_or(truncated)?;
        Ok((elem, nelems))
    }

    fn func_index(&self) -> &NameIndex {
        self.func_names.get_or_init(|| {
            let pool = Strings {
                base: self.base.as_deref(),
                own: self.strings(),
                first: self.first_str,
            };
            let funcs: Vec<(u32, u32)> = (self.first_id..self.len())
                .filter_map(|id| {
                    let raw = self.raw(id).ok()?;
                    (raw.kind_u8() == Kind::Func as u8 && raw.name_off != 0)
                        .then(|| (essential_hash(pool.tail(raw.name_off)), id))
                })
                .collect();
            NameIndex::new(&funcs)
        })
    }

    /// Ids of the types of a kind compatible with `kind` (the kind itself; ENUM and
    /// ENUM64 together) whose essential name (see [`essential_name`]) is `essential`, in
    /// id order: `sock` finds `sock` and `sock___old`. CO-RE's candidates.
    pub fn ids_by_essential_name(&self, essential: &str, kind: Kind) -> Vec<u32> {
        let index = if kind == Kind::Func {
            self.func_index()
        } else {
            &self.names
        };
        let enums = |k| matches!(k, Kind::Enum | Kind::Enum64);
        let mut ids = match &self.base {
            Some(base) => base.ids_by_essential_name(essential, kind),
            None => Vec::new(),
        };
        let base_count = ids.len();
        ids.extend(index.candidates(essential.as_bytes()));
        let mut i = 0;
        // The base's ids are already checked.
        ids.retain(|&id| {
            i += 1;
            i <= base_count
                || (self
                    .kind(id)
                    .is_ok_and(|k| k == kind || (enums(k) && enums(kind)))
                    && self
                        .type_name(id)
                        .is_ok_and(|n| essential_name(n) == essential))
        });
        ids
    }

    /// Ids of the types named exactly `name`, in id order, of any kind (FUNCs included).
    pub fn ids_by_name(&self, name: &str) -> Vec<u32> {
        let essential = essential_name(name).as_bytes();
        let mut own = self.names.candidates(essential);
        own.extend(self.func_index().candidates(essential));
        own.sort_unstable();
        own.retain(|&id| self.type_name(id) == Ok(name));
        match &self.base {
            Some(base) => {
                let mut ids = base.ids_by_name(name);
                ids.extend(own);
                ids
            }
            None => own,
        }
    }

    /// The first type (lowest id) named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Result<u32, BtfError> {
        self.ids_by_essential_name(essential_name(name), kind)
            .into_iter()
            .find(|&id| self.kind(id) == Ok(kind) && self.type_name(id) == Ok(name))
            .ok_or_else(|| BtfError::NotFound {
                name: name.to_string(),
                kind,
            })
    }

    /// Fills in what clang leaves as 0 in the DATASECs, so the kernel accepts the BTF:
    /// each DATASEC's size is `section_size(datasec name)`, each variable's offset is
    /// `symbol_offset(datasec name, variable name)`; then the variables are sorted by
    /// offset and checked not to overlap (the kernel requires ascending, non-overlapping
    /// offsets inside the section).
    ///
    /// A DATASEC whose size is already non-zero keeps it; `section_size` returning `None`
    /// for a DATASEC of size 0, or `symbol_offset` returning `None`, is an error (the
    /// caller decides which sections to describe; `.ksyms`/`.kconfig` externs have no
    /// ELF section and should be handled before BTF is loaded).
    pub fn fixup_datasecs(
        &mut self,
        section_size: impl Fn(&str) -> Option<u32>,
        symbol_offset: impl Fn(&str, &str) -> Option<u32>,
    ) -> Result<(), BtfError> {
        // Compute all patches first (reading), then write them (the bytes are borrowed).
        let mut patches: Vec<(usize, u32)> = Vec::new();
        for id in self.first_id..self.len() {
            if self.kind(id)? != Kind::Datasec {
                continue;
            }
            let ty = self.type_by_id(id)?;
            let TypeBody::Datasec { size, vars } = &ty.body else {
                continue;
            };
            let abs = self.type_start + self.check_id(id)?;
            let sec_size = if *size != 0 {
                *size
            } else {
                section_size(&ty.name).ok_or_else(|| BtfError::DatasecSectionUnknown {
                    datasec: ty.name.clone(),
                })?
            };
            patches.push((abs + 8, sec_size));
            let mut fixed: Vec<(VarSecinfo, String)> = Vec::with_capacity(vars.len());
            for v in vars {
                let var_name = self.type_name(v.type_id)?.to_string();
                let offset = symbol_offset(&ty.name, &var_name).ok_or_else(|| {
                    BtfError::DatasecSymbolUnknown {
                        datasec: ty.name.clone(),
                        var: var_name.clone(),
                    }
                })?;
                fixed.push((VarSecinfo { offset, ..*v }, var_name));
            }
            fixed.sort_by_key(|(v, _)| v.offset);
            let mut end = 0u64;
            for (i, (v, var_name)) in fixed.iter().enumerate() {
                let v_end = v.offset as u64 + v.size as u64;
                if (v.offset as u64) < end || v_end > sec_size as u64 {
                    return Err(BtfError::DatasecOverlap {
                        datasec: ty.name.clone(),
                        var: var_name.clone(),
                        offset: v.offset,
                        size: v.size,
                    });
                }
                end = v_end;
                let at = abs + BTF_TYPE_LEN + 12 * i;
                patches.push((at, v.type_id));
                patches.push((at + 4, v.offset));
                patches.push((at + 8, v.size));
            }
        }
        let Data::Owned(bytes) = &mut self.data else {
            return if patches.is_empty() {
                Ok(())
            } else {
                Err(BtfError::ReadOnly)
            };
        };
        for (at, value) in patches {
            if let Some(slot) = bytes.get_mut(at..at + 4) {
                slot.copy_from_slice(&value.to_le_bytes());
            }
        }
        Ok(())
    }
}

/// The string sections a BTF's names are read from: its own, after its base's for split
/// BTF (offsets below `first` are the base's).
struct Strings<'a> {
    base: Option<&'a Btf>,
    own: &'a [u8],
    first: u32,
}

impl Strings<'_> {
    /// Whether `offset` falls inside the string sections (below `first`: the base's,
    /// which is whole by construction).
    fn contains(&self, offset: u32) -> bool {
        match offset.checked_sub(self.first) {
            Some(own) => (own as usize) < self.own.len(),
            None => self.base.is_some(),
        }
    }

    /// The bytes of the string at `offset`, to its NUL or the end of its section (empty
    /// when out of bounds).
    fn tail(&self, offset: u32) -> &[u8] {
        match (offset.checked_sub(self.first), self.base) {
            (Some(own), _) => self.own.get(own as usize..).unwrap_or(&[]),
            (None, Some(base)) => base.name_bytes(offset).unwrap_or(&[]),
            (None, None) => &[],
        }
    }
}

/// One pass over the type section: the start of each type, every record checked to fit,
/// every kind known, every name offset inside the string section; and the
/// `(essential name hash, id)` of every named type but FUNCs, for the name index.
/// Reads each header once, as a fixed 12-byte array: this runs over all ~127k types of
/// the kernel's BTF.
/// Split BTF's first id is `first_id`, and its names may be the base's (`strings`).
#[allow(clippy::type_complexity)]
fn index_types(
    types: &[u8],
    first_id: u32,
    strings: &Strings<'_>,
) -> Result<(Vec<u32>, Vec<(u32, u32)>), BtfError> {
    // Each type takes at least 12 bytes: that bounds the count.
    let mut offsets = Vec::with_capacity(types.len() / BTF_TYPE_LEN);
    let mut named = Vec::new();
    let mut off = 0usize;
    while off < types.len() {
        let id = u32::try_from(offsets.len())
            .ok()
            .and_then(|n| n.checked_add(first_id))
            .ok_or(BtfError::TooManyTypes)?;
        let header: &[u8; BTF_TYPE_LEN] = types
            .get(off..off + BTF_TYPE_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(BtfError::TypeTruncated { id, offset: off })?;
        let name_off = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let info = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let kind_u8 = ((info >> 24) & 0x1f) as u8;
        let vlen = (info & VLEN_MASK) as usize;
        // Bytes after the header, per kind (FUNC's vlen is its linkage, not a count).
        let extra = match kind_u8 {
            1 | 14 | 17 => 4,                            // INT, VAR, DECL_TAG
            3 => 12,                                     // ARRAY
            4 | 5 | 15 | 19 => 12 * vlen,                // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => 8 * vlen,                          // ENUM, FUNC_PROTO
            2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0, // the rest
            _ => {
                return Err(BtfError::UnknownKind {
                    id,
                    offset: off,
                    kind: kind_u8,
                })
            }
        };
        if !strings.contains(name_off) {
            return Err(BtfError::TypeNameOutOfBounds { id, name_off });
        }
        let end = off + BTF_TYPE_LEN + extra;
        if end > types.len() {
            let kind = Kind::from_u8(kind_u8).unwrap_or(Kind::Void);
            let has_entries = matches!(kind_u8, 4 | 5 | 6 | 13 | 15 | 19);
            return Err(if has_entries && vlen > 0 {
                BtfError::VlenOutOfBounds {
                    id,
                    offset: off,
                    kind,
                    vlen: vlen as u16,
                }
            } else {
                BtfError::TypeTruncated { id, offset: off }
            });
        }
        if name_off != 0 && kind_u8 != Kind::Func as u8 {
            named.push((essential_hash(strings.tail(name_off)), id));
        }
        offsets.push(off as u32);
        off = end;
    }
    Ok((offsets, named))
}

#[cfg(test)]
mod tests;
