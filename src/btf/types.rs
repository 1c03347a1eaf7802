//! The types BTF describes, decoded: [`Kind`] (`BTF_KIND_*`), the kind-specific data
//! ([`TypeBody`]: members, enumerators, parameters, DATASEC entries) and [`Type`], what a
//! lookup of [`super::Btf`] returns.
//!
//! ABI: `struct btf_type` and the structs after it, per kind, in `include/uapi/linux/btf.h`;
//! `Documentation/bpf/btf.rst`, "BTF Type Encoding".

use std::fmt;

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
        /// Size of the ELF section in bytes (clang leaves 0; see [`super::Btf::fixup_datasecs`]).
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
