//! Rust source from an object's BTF: `#[repr(C)]` types for its map keys and values, its
//! global variables and its named structs, each a [`crate::pod::Pod`] with its layout
//! asserted at compile time, and a typed accessor for each map and global through the
//! typed API ([`crate::load::HashMap`] and its kin, [`crate::elf::ObjectSpec::set_global`],
//! [`crate::load::Object::global`]). What libbpf-cargo's skeleton and bpf2go generate, so
//! that a user never counts bytes by hand.
//!
//! ABI: the object's BTF (`Documentation/bpf/btf.rst`): STRUCT and UNION members with
//! their bit offsets, the `.maps` DATASEC of BTF-defined maps (libbpf's convention: each
//! map a VAR of an anonymous struct whose `type` member is `int (*)[BPF_MAP_TYPE_*]` and
//! whose `key` and `value` members point to the key and value types), and the `.data`,
//! `.bss` and `.rodata` DATASECs of global variables, with the offsets
//! [`super::Btf::fixup_datasecs`] wrote (an [`crate::elf::ObjectSpec`]'s BTF has them). The
//! Rust side is the System V layout of `#[repr(C)]`, which is the BPF target's.
//!
//! The steps ([`generate`]): collect the types to write (maps, globals, named structs),
//! name them in Rust's style (`Generator::name_of`), lay each out as Rust fields
//! (`Generator::layout`: explicit padding where C has a hole, bytes for bitfields and
//! unions, `packed` where C members are not naturally aligned), then write types,
//! assertions, `Pod` impls and accessors. Every path in the output is absolute
//! (`::ebpf_loader::pod::Pod`, `::core::result::Result`), so a C struct named `result`
//! shadows nothing.
//!
//! What is not mirrored field by field, and why: a bitfield (Rust has none; its bytes are
//! a `_bitfield_N` byte array), a union (its bytes, with the union's alignment: a Rust
//! union would make reading a field `unsafe`), a float (bytes: `Pod` excludes floats), a
//! pointer (`u64`: the address as the program sees it). A struct with bitfields checks
//! only its size against the BTF (the layout check lists named members, and a bitfield has
//! no byte offset).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write};

use super::{Btf, BtfError, Kind, Type, TypeBody, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED};

/// How deep type references may nest before the BTF is taken for a loop.
const MAX_DEPTH: usize = 64;

/// Why Rust source could not be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenError {
    /// A type could not be read.
    Btf {
        /// The type being generated.
        id: u32,
        /// The lookup's error.
        source: BtfError,
    },
    /// Types refer to each other deeper than a C program can: a loop in the BTF.
    TooDeep {
        /// Where the walk stopped.
        id: u32,
    },
    /// A struct or union that contains itself by value, which no C compiler writes.
    Cycle {
        /// The record.
        id: u32,
    },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Btf { id, .. } => write!(f, "type [{id}] could not be read"),
            GenError::TooDeep { id } => write!(
                f,
                "type [{id}] nests deeper than {MAX_DEPTH} levels: a loop in the BTF"
            ),
            GenError::Cycle { id } => write!(f, "type [{id}] contains itself by value"),
        }
    }
}

impl std::error::Error for GenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenError::Btf { source, .. } => Some(source),
            GenError::TooDeep { .. } | GenError::Cycle { .. } => None,
        }
    }
}

/// Rust source for the object `object_name` (named in the doc comments, e.g.
/// `main.bpf.o`) whose BTF is `btf`, with DATASEC offsets fixed up (an
/// [`crate::elf::ObjectSpec`]'s `btf`).
pub fn generate(btf: &Btf, object_name: &str) -> Result<String, GenError> {
    let mut g = Generator::new(btf);
    let maps = g.collect_maps()?;
    let sections = g.collect_sections()?;
    g.collect_named_records()?;
    g.write(object_name, &maps, &sections)
}

/// A map of the `.maps` DATASEC.
#[derive(Debug)]
struct MapDef {
    name: String,
    map_type: Option<u32>,
    key: Option<u32>,
    value: Option<u32>,
}

/// A variable of a global data section.
#[derive(Debug)]
struct VarDef {
    name: String,
    type_id: u32,
    offset: u32,
    size: u32,
}

/// A global data section (`.rodata`, `.bss`, `.data`, `.data.foo`) and its variables.
#[derive(Debug)]
struct SectionDef {
    section: String,
    rust_name: String,
    size: u32,
    vars: Vec<VarDef>,
}

/// A Rust field of a generated struct.
#[derive(Debug, Clone)]
struct RustField {
    /// The Rust identifier.
    ident: String,
    /// The C name, for the layout check; `None` for padding and bytes the check skips.
    c_name: Option<String>,
    ty: String,
    offset: u32,
}

/// A struct or union laid out in Rust.
#[derive(Debug, Clone)]
struct Layout {
    fields: Vec<RustField>,
    packed: bool,
    /// `#[repr(align(N))]` for a union's bytes.
    align_attr: Option<u32>,
    /// Every named C member is a field at its offset: the layout check can list them.
    checkable: bool,
    size: u32,
    /// The Rust type's alignment.
    align: u32,
    /// It is, or holds, a `#[repr(align)]` type.
    has_align_attr: bool,
}

/// What the generator knows of the Rust side of a type.
#[derive(Debug, Clone)]
struct RustType {
    ty: String,
    align: u32,
    /// Contains a `#[repr(align)]` type, which a packed struct may not hold.
    has_align_attr: bool,
}

struct Generator<'b> {
    btf: &'b Btf,
    /// The Rust name of each struct or union to write, by id.
    names: BTreeMap<u32, String>,
    used: HashSet<String>,
    /// Structs and unions whose layout is computed, by id.
    layouts: HashMap<u32, Layout>,
    /// Ids waiting for their layout.
    pending: Vec<u32>,
    /// Records whose layout is being computed: met again, they contain themselves (and
    /// without this, each member on the way would be walked again: exponential).
    in_progress: HashSet<u32>,
}

/// Rust's keywords, which a C name may be: written as raw identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// A C name as a Rust field or function name.
fn ident(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clean.as_str() {
        "" | "_" => "_unnamed".to_string(),
        "self" | "Self" | "super" | "crate" => format!("{clean}_"),
        s if KEYWORDS.contains(&s) => format!("r#{s}"),
        s if s.starts_with(|c: char| c.is_ascii_digit()) => format!("_{s}"),
        s => s.to_string(),
    }
}

/// `data_t` → `DataT`, `__sk_buff` → `SkBuff`, `.rodata` → `Rodata`.
fn camel(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

impl<'b> Generator<'b> {
    fn new(btf: &'b Btf) -> Generator<'b> {
        // Names the output uses for its own items.
        let used = ["Maps", "Globals"].iter().map(|s| s.to_string()).collect();
        Generator {
            btf,
            names: BTreeMap::new(),
            used,
            layouts: HashMap::new(),
            pending: Vec::new(),
            in_progress: HashSet::new(),
        }
    }

    fn ty(&self, id: u32) -> Result<Type, GenError> {
        self.btf
            .type_by_id(id)
            .map_err(|source| GenError::Btf { id, source })
    }

    fn size_of(&self, id: u32) -> Result<u32, GenError> {
        self.btf
            .resolve_size(id)
            .map_err(|source| GenError::Btf { id, source })
    }

    /// A fresh Rust type name from `wanted`: `Name`, else `Name2`, `Name3`...
    fn fresh(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{wanted}{n}");
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// The Rust name of struct or union `id`, given on first sight: its own C name, the
    /// typedef's it was reached through, or its container's and field's.
    fn name_of(&mut self, id: u32, hint: &str) -> Result<String, GenError> {
        if let Some(name) = self.names.get(&id) {
            return Ok(name.clone());
        }
        let t = self.ty(id)?;
        let wanted = if t.name.is_empty() {
            camel(hint)
        } else {
            camel(&t.name)
        };
        let name = self.fresh(&wanted);
        self.names.insert(id, name.clone());
        self.pending.push(id);
        Ok(name)
    }

    /// Step 1: the maps of `.maps`, with their type, key and value.
    fn collect_maps(&mut self) -> Result<Vec<MapDef>, GenError> {
        let mut maps = Vec::new();
        for id in self.btf.ids_by_name(".maps") {
            let TypeBody::Datasec { vars, .. } = self.ty(id)?.body else {
                continue;
            };
            for v in vars {
                let var = self.ty(v.type_id)?;
                let TypeBody::Var { type_id, .. } = var.body else {
                    continue;
                };
                let def_id = self.skip(type_id)?;
                let def = self.ty(def_id)?;
                let mut map = MapDef {
                    name: var.name.clone(),
                    map_type: None,
                    key: None,
                    value: None,
                };
                for m in def.members() {
                    let target = match self.ty(m.type_id)?.body {
                        TypeBody::Ptr { target } => target,
                        _ => continue,
                    };
                    match m.name.as_str() {
                        "type" => {
                            if let TypeBody::Array { nelems, .. } = self.ty(target)?.body {
                                map.map_type = Some(nelems);
                            }
                        }
                        "key" => map.key = Some(target),
                        "value" => map.value = Some(target),
                        _ => {}
                    }
                }
                maps.push(map);
            }
        }
        Ok(maps)
    }

    /// Step 2: the global data sections and their variables, in offset order.
    fn collect_sections(&mut self) -> Result<Vec<SectionDef>, GenError> {
        let mut sections = Vec::new();
        for id in 1..self.btf.len() {
            if self.btf.kind(id) != Ok(Kind::Datasec) {
                continue;
            }
            let t = self.ty(id)?;
            let TypeBody::Datasec { size, vars } = &t.body else {
                continue;
            };
            let global = [".data", ".bss", ".rodata"]
                .iter()
                .any(|p| t.name == *p || t.name.starts_with(&format!("{p}.")));
            if !global {
                continue;
            }
            let mut defs = Vec::new();
            for v in vars {
                let var = self.ty(v.type_id)?;
                if let TypeBody::Var { type_id, .. } = var.body {
                    defs.push(VarDef {
                        name: var.name.clone(),
                        type_id,
                        offset: v.offset,
                        size: v.size,
                    });
                }
            }
            if defs.is_empty() {
                continue; // string literals (`.rodata.str1.1`)
            }
            defs.sort_by_key(|v| v.offset);
            let rust_name = self.fresh(&camel(&t.name));
            sections.push(SectionDef {
                section: t.name.clone(),
                rust_name,
                size: *size,
                vars: defs,
            });
        }
        Ok(sections)
    }

    /// Step 3: every named struct and union of the BTF (records a program sends, types it
    /// shares with user space).
    fn collect_named_records(&mut self) -> Result<(), GenError> {
        for id in 1..self.btf.len() {
            if matches!(self.btf.kind(id), Ok(Kind::Struct | Kind::Union))
                && !self.btf.type_name(id).unwrap_or("").is_empty()
            {
                self.name_of(id, "")?;
            }
        }
        Ok(())
    }

    fn skip(&self, id: u32) -> Result<u32, GenError> {
        self.btf
            .skip_mods_and_typedefs(id)
            .map_err(|source| GenError::Btf { id, source })
    }

    /// The Rust type of C type `id`; `hint` names an anonymous record reached here.
    fn rust_type(&mut self, id: u32, hint: &str, depth: usize) -> Result<RustType, GenError> {
        if depth > MAX_DEPTH {
            return Err(GenError::TooDeep { id });
        }
        let t = self.ty(id)?;
        let plain = |ty: &str, align: u32| RustType {
            ty: ty.to_string(),
            align,
            has_align_attr: false,
        };
        let bytes = |size: u32| RustType {
            ty: format!("[u8; {size}]"),
            align: 1,
            has_align_attr: false,
        };
        Ok(match &t.body {
            TypeBody::Typedef { target } => {
                // An anonymous record takes the typedef's name.
                let hint = if t.name.is_empty() { hint } else { &t.name };
                self.rust_type(*target, hint, depth + 1)?
            }
            TypeBody::Volatile { target }
            | TypeBody::Const { target }
            | TypeBody::Restrict { target }
            | TypeBody::TypeTag { target } => self.rust_type(*target, hint, depth + 1)?,
            TypeBody::Int { size, encoding, .. } => {
                let signed = encoding & BTF_INT_SIGNED != 0
                    && encoding & (BTF_INT_CHAR | BTF_INT_BOOL) == 0
                    && t.name != "char";
                match (size, signed) {
                    (1, false) => plain("u8", 1),
                    (1, true) => plain("i8", 1),
                    (2, false) => plain("u16", 2),
                    (2, true) => plain("i16", 2),
                    (4, false) => plain("u32", 4),
                    (4, true) => plain("i32", 4),
                    (8, false) => plain("u64", 8),
                    (8, true) => plain("i64", 8),
                    _ => bytes(*size),
                }
            }
            TypeBody::Enum { size, signed, .. } | TypeBody::Enum64 { size, signed, .. } => {
                match (size, signed) {
                    (1, false) => plain("u8", 1),
                    (1, true) => plain("i8", 1),
                    (2, false) => plain("u16", 2),
                    (2, true) => plain("i16", 2),
                    (4, false) => plain("u32", 4),
                    (4, true) => plain("i32", 4),
                    (8, false) => plain("u64", 8),
                    (8, true) => plain("i64", 8),
                    _ => bytes(*size),
                }
            }
            TypeBody::Ptr { .. } => plain("u64", 8),
            TypeBody::Float { size } => bytes(*size),
            TypeBody::Array { elem, nelems, .. } => {
                let inner = self.rust_type(*elem, hint, depth + 1)?;
                RustType {
                    ty: format!("[{}; {nelems}]", inner.ty),
                    ..inner
                }
            }
            TypeBody::Struct { .. } | TypeBody::Union { .. } => {
                let name = self.name_of(id, hint)?;
                let layout = self.layout_of(id, &name, depth + 1)?;
                RustType {
                    ty: name,
                    align: layout.align,
                    has_align_attr: layout.has_align_attr,
                }
            }
            // Not a value type (a forward declaration, a function, void): its bytes.
            _ => bytes(self.size_of(id).unwrap_or(0)),
        })
    }

    fn layout_of(&mut self, id: u32, name: &str, depth: usize) -> Result<Layout, GenError> {
        if let Some(layout) = self.layouts.get(&id) {
            return Ok(layout.clone());
        }
        if !self.in_progress.insert(id) {
            return Err(GenError::Cycle { id });
        }
        let layout = self.layout(id, name, depth);
        self.in_progress.remove(&id);
        let layout = layout?;
        self.layouts.insert(id, layout.clone());
        Ok(layout)
    }

    /// A struct or union as Rust fields: each C member at its byte offset, bytes for
    /// bitfields and holes, `packed` when a member is off its Rust alignment.
    fn layout(&mut self, id: u32, name: &str, depth: usize) -> Result<Layout, GenError> {
        if depth > MAX_DEPTH {
            return Err(GenError::TooDeep { id });
        }
        let t = self.ty(id)?;
        match &t.body {
            TypeBody::Union { size, members } => {
                // Its bytes, aligned as the union: the largest member alignment.
                let mut align = 1;
                for (i, m) in members.iter().enumerate() {
                    let hint = format!("{name}_{}", member_hint(&m.name, i));
                    align = align.max(self.rust_type(m.type_id, &hint, depth + 1)?.align);
                }
                let align = if size % align == 0 { align } else { 1 };
                Ok(Layout {
                    fields: vec![RustField {
                        ident: "bytes".into(),
                        c_name: None,
                        ty: format!("[u8; {size}]"),
                        offset: 0,
                    }],
                    packed: false,
                    align_attr: (align > 1).then_some(align),
                    checkable: false,
                    size: *size,
                    align,
                    has_align_attr: align > 1,
                })
            }
            TypeBody::Struct { size, members } => self.struct_layout(name, *size, members, depth),
            _ => Ok(bytes_layout(0)),
        }
    }

    fn struct_layout(
        &mut self,
        name: &str,
        size: u32,
        members: &[super::Member],
        depth: usize,
    ) -> Result<Layout, GenError> {
        // Each member's Rust type, or bytes for a bitfield.
        let mut placed: Vec<(u32, String, Option<String>, RustType, u32)> = Vec::new();
        let mut checkable = true;
        for (i, m) in members.iter().enumerate() {
            if m.bitfield_size != 0 || m.bit_offset % 8 != 0 {
                checkable = false;
                continue; // its bytes are a hole, filled below
            }
            let hint = format!("{name}_{}", member_hint(&m.name, i));
            let rust = self.rust_type(m.type_id, &hint, depth + 1)?;
            let msize = self.size_of(m.type_id).unwrap_or(0);
            let c_name = (!m.name.is_empty()).then(|| m.name.clone());
            placed.push((
                m.bit_offset / 8,
                ident_or_anon(&m.name, i),
                c_name,
                rust,
                msize,
            ));
        }
        placed.sort_by_key(|p| p.0);
        // Packed when a member is off its alignment, or the size is no multiple of it.
        let mut max_align = 1;
        let mut packed = false;
        for (offset, _, _, rust, _) in &placed {
            max_align = max_align.max(rust.align);
            if offset % rust.align != 0 {
                packed = true;
            }
        }
        if size % max_align != 0 {
            packed = true;
        }
        let placed_attr = placed.iter().any(|p| p.3.has_align_attr);
        let mut fields = Vec::new();
        let mut cursor = 0u32;
        let mut names: HashSet<String> = placed.iter().map(|p| p.1.clone()).collect();
        let hole = |from: u32, to: u32, names: &mut HashSet<String>| {
            let mut ident = format!("_pad{from}");
            while names.contains(&ident) {
                ident.push('_');
            }
            names.insert(ident.clone());
            RustField {
                ident,
                c_name: None,
                ty: format!("[u8; {}]", to - from),
                offset: from,
            }
        };
        for (offset, ident, c_name, rust, msize) in placed {
            if offset < cursor {
                // Overlapping members (BTF no compiler writes): the struct as bytes.
                return Ok(bytes_layout(size));
            }
            if offset > cursor {
                fields.push(hole(cursor, offset, &mut names));
            }
            // A packed struct may not hold an aligned type: that member as bytes.
            let (ty, c_name) = if packed && rust.has_align_attr {
                checkable = false;
                (format!("[u8; {msize}]"), None)
            } else {
                (rust.ty, c_name)
            };
            fields.push(RustField {
                ident,
                c_name,
                ty,
                offset,
            });
            // A member whose end is past u32 (sizes from bad BTF): past the struct too.
            match offset.checked_add(msize) {
                Some(end) => cursor = end,
                None => return Ok(bytes_layout(size)),
            }
        }
        if cursor > size {
            return Ok(bytes_layout(size));
        }
        // The tail: up to the size (C's tail padding, or bitfields at the end).
        if cursor < size {
            fields.push(hole(cursor, size, &mut names));
        }
        let has_align_attr = !packed && placed_attr;
        Ok(Layout {
            fields,
            packed,
            align_attr: None,
            checkable,
            size,
            align: if packed { 1 } else { max_align },
            has_align_attr,
        })
    }

    /// Step 4: the source.
    fn write(
        &mut self,
        object: &str,
        maps: &[MapDef],
        sections: &[SectionDef],
    ) -> Result<String, GenError> {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "// Rust types of `{object}`, from its BTF: its named structs, map keys and values,\n\
             // global data sections, and a typed accessor for each map and global.\n\
             // Generated by `ebpf_loader::btf::gen_rust`: do not edit, generate again.\n"
        );
        // Map and global types first: their anonymous records take the map's names.
        let mut map_types = Vec::new();
        for map in maps {
            let key = match map.key {
                Some(k) => Some(self.rust_type(k, &format!("{}_key", map.name), 0)?.ty),
                None => None,
            };
            let value = match map.value {
                Some(v) => Some(self.rust_type(v, &format!("{}_value", map.name), 0)?.ty),
                None => None,
            };
            map_types.push((key, value));
        }
        let mut var_types = Vec::new();
        for section in sections {
            let mut types = Vec::new();
            for v in &section.vars {
                types.push(self.rust_type(v.type_id, &v.name, 0)?);
            }
            var_types.push(types);
        }
        // Every record named so far, and what they need (names are given on the way).
        while let Some(id) = self.pending.pop() {
            let name = self.names.get(&id).cloned().unwrap_or_default();
            self.layout_of(id, &name, 0)?;
        }
        let records: Vec<(u32, String)> =
            self.names.iter().map(|(id, n)| (*id, n.clone())).collect();
        for (id, name) in &records {
            let Some(layout) = self.layouts.get(id).cloned() else {
                continue;
            };
            let t = self.ty(*id)?;
            let what = format!(
                "`{} {}`",
                if t.kind() == Kind::Union {
                    "union"
                } else {
                    "struct"
                },
                if t.name.is_empty() { "(anon)" } else { &t.name }
            );
            self.write_record(&mut out, name, &what, &layout);
        }
        for (section, types) in sections.iter().zip(&var_types) {
            self.write_section(&mut out, section, types);
        }
        write_maps(&mut out, object, maps, &map_types);
        write_globals(&mut out, object, sections, &var_types);
        Ok(out)
    }

    fn write_record(&self, out: &mut String, name: &str, what: &str, layout: &Layout) {
        let _ = writeln!(out, "/// {what}, {} bytes.", layout.size);
        let repr = match (layout.packed, layout.align_attr) {
            (true, _) => "C, packed".to_string(),
            (false, Some(a)) => format!("C, align({a})"),
            (false, None) => "C".to_string(),
        };
        let _ = writeln!(out, "#[repr({repr})]");
        // C's member names are kept (`AX`, `____fmt`): the lint would rename them.
        let _ = writeln!(out, "#[allow(non_snake_case)]");
        let _ = writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]");
        let _ = writeln!(out, "pub struct {name} {{");
        for f in &layout.fields {
            let _ = writeln!(out, "    pub {}: {},", f.ident, f.ty);
        }
        let _ = writeln!(out, "}}\n");
        write_assertions(out, name, layout);
        let shape = if layout.checkable {
            let mut s = String::from(
                "::ebpf_loader::pod::Shape::Struct {\n            fields: ::std::vec![\n",
            );
            for f in layout.fields.iter().filter(|f| f.c_name.is_some()) {
                let _ = writeln!(
                    s,
                    "                ::ebpf_loader::pod::Field::of::<{}>({:?}, ::core::mem::offset_of!({name}, {})),",
                    f.ty,
                    f.c_name.as_deref().unwrap_or(""),
                    f.ident
                );
            }
            s.push_str("            ],\n        }");
            s
        } else if layout.align_attr.is_some() {
            // A union's bytes view it whole.
            format!(
                "<[u8; {}] as ::ebpf_loader::pod::Pod>::shape()",
                layout.size
            )
        } else {
            "::ebpf_loader::pod::Shape::Opaque".to_string()
        };
        let _ = writeln!(
            out,
            "// SAFETY: repr(C); integers, byte arrays and records of them only, every bit\n\
             // pattern valid; every byte is a field (holes are `_pad` fields), as the\n\
             // assertions above check.\n\
             unsafe impl ::ebpf_loader::pod::Pod for {name} {{\n    \
             fn shape() -> ::ebpf_loader::pod::Shape {{\n        {shape}\n    }}\n}}\n"
        );
    }

    fn write_section(&self, out: &mut String, section: &SectionDef, types: &[RustType]) {
        // The variables in offset order, holes as bytes: the section as a struct.
        let mut fields = Vec::new();
        let mut cursor = 0;
        let mut packed = false;
        for (v, rust) in section.vars.iter().zip(types) {
            // Overlapping, or ending past u32 (bad BTF): left out, as bytes of the holes.
            let Some(end) = v.offset.checked_add(v.size) else {
                continue;
            };
            if v.offset < cursor {
                continue;
            }
            if v.offset > cursor {
                fields.push(RustField {
                    ident: format!("_pad{cursor}"),
                    c_name: None,
                    ty: format!("[u8; {}]", v.offset - cursor),
                    offset: cursor,
                });
            }
            if v.offset % rust.align != 0 || rust.has_align_attr {
                packed = true;
            }
            fields.push(RustField {
                ident: ident(&v.name),
                c_name: None,
                ty: rust.ty.clone(),
                offset: v.offset,
            });
            cursor = end;
        }
        let size = section.size.max(cursor);
        let max_align = types.iter().map(|t| t.align).max().unwrap_or(1);
        if size % max_align != 0 {
            packed = true;
        }
        if cursor < size {
            fields.push(RustField {
                ident: format!("_pad{cursor}"),
                c_name: None,
                ty: format!("[u8; {}]", size - cursor),
                offset: cursor,
            });
        }
        if packed && types.iter().any(|t| t.has_align_attr) {
            // Rare enough to give up the fields: the section as bytes.
            fields = vec![RustField {
                ident: "bytes".into(),
                c_name: None,
                ty: format!("[u8; {size}]"),
                offset: 0,
            }];
            packed = false;
        }
        let layout = Layout {
            fields,
            packed,
            align_attr: None,
            checkable: false,
            size,
            align: if packed { 1 } else { max_align },
            has_align_attr: false,
        };
        let what = format!("The `{}` section's variables", section.section);
        self.write_record(out, &section.rust_name, &what, &layout);
    }
}

/// A record that is only its bytes.
fn bytes_layout(size: u32) -> Layout {
    Layout {
        fields: vec![RustField {
            ident: "bytes".into(),
            c_name: None,
            ty: format!("[u8; {size}]"),
            offset: 0,
        }],
        packed: false,
        align_attr: None,
        checkable: false,
        size,
        align: 1,
        has_align_attr: false,
    }
}

fn member_hint(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("anon{index}")
    } else {
        name.to_string()
    }
}

fn ident_or_anon(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("_anon{index}")
    } else {
        ident(name)
    }
}

fn write_assertions(out: &mut String, name: &str, layout: &Layout) {
    let _ = writeln!(
        out,
        "const _: () = assert!(::core::mem::size_of::<{name}>() == {});",
        layout.size
    );
    for f in &layout.fields {
        let _ = writeln!(
            out,
            "const _: () = assert!(::core::mem::offset_of!({name}, {}) == {});",
            f.ident, f.offset
        );
    }
    out.push('\n');
}

/// The typed view of each map: `HashMap<K, V>` for a hash, `Array<V>` for an array, the
/// readers' views for a perf event array and a ring buffer, the plain map otherwise.
fn write_maps(
    out: &mut String,
    object: &str,
    maps: &[MapDef],
    types: &[(Option<String>, Option<String>)],
) {
    let _ = writeln!(
        out,
        "/// The maps of `{object}`, each through its typed view, from a loaded object.\n\
         pub struct Maps;\n\n#[allow(non_snake_case)]\nimpl Maps {{"
    );
    let mut seen = HashSet::new();
    for (map, (key, value)) in maps.iter().zip(types) {
        let mut fname = ident(&map.name);
        while !seen.insert(fname.clone()) {
            fname.push('_');
        }
        let typed = "::ebpf_loader::load";
        let view = match (map.map_type, key, value) {
            (Some(1 | 9), Some(k), Some(v)) => Some(format!("{typed}::HashMap<'_, {k}, {v}>")),
            (Some(2), _, Some(v)) => Some(format!("{typed}::Array<'_, {v}>")),
            (Some(5 | 10), Some(k), Some(v)) => {
                Some(format!("{typed}::PerCpuHashMap<'_, {k}, {v}>"))
            }
            (Some(6), _, Some(v)) => Some(format!("{typed}::PerCpuArray<'_, {v}>")),
            (Some(4), _, _) => Some(format!("{typed}::PerfEventArray<'_>")),
            (Some(27), _, _) => Some(format!("{typed}::RingBufMap<'_>")),
            _ => None,
        };
        let name = &map.name;
        match view {
            Some(view) => {
                let _ = writeln!(
                    out,
                    "    /// `{name}`, checked against its BTF key and value types.\n    \
                     pub fn {fname}(\n        object: &::ebpf_loader::load::Object,\n    \
                     ) -> ::core::result::Result<{view}, ::ebpf_loader::load::MapError> {{\n        \
                     object.typed_map({name:?})\n    }}\n"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "    /// `{name}` (a map type without a typed view here).\n    \
                     pub fn {fname}(\n        object: &::ebpf_loader::load::Object,\n    \
                     ) -> ::core::option::Option<&::ebpf_loader::load::Map> {{\n        \
                     object.map({name:?})\n    }}\n"
                );
            }
        }
    }
    let _ = writeln!(out, "}}\n");
}

/// A setter (before load, through the spec) and a getter (after, from the kernel) for
/// each global variable.
fn write_globals(out: &mut String, object: &str, sections: &[SectionDef], types: &[Vec<RustType>]) {
    let _ = writeln!(
        out,
        "/// The global variables of `{object}`: set in the spec before load, read from the\n\
         /// loaded object; each checked against the variable's BTF type.\n\
         pub struct Globals;\n\n#[allow(non_snake_case)]\nimpl Globals {{"
    );
    let mut seen = HashSet::new();
    for (section, types) in sections.iter().zip(types) {
        for (v, rust) in section.vars.iter().zip(types) {
            let mut fname = ident(&v.name);
            while !seen.insert(fname.clone()) {
                fname.push('_');
            }
            let setter = format!("set_{}", fname.trim_start_matches("r#"));
            let (name, ty, sec) = (&v.name, &rust.ty, &section.section);
            let _ = writeln!(
                out,
                "    /// Sets `{name}` (`{sec}`) before the object is loaded.\n    \
                 pub fn {setter}(\n        spec: &mut ::ebpf_loader::elf::ObjectSpec,\n        \
                 value: &{ty},\n    ) -> ::core::result::Result<(), ::ebpf_loader::elf::GlobalError> {{\n        \
                 spec.set_global({name:?}, value)\n    }}\n\n    \
                 /// `{name}` (`{sec}`) as the loaded object holds it now.\n    \
                 pub fn {fname}(\n        object: &::ebpf_loader::load::Object,\n    \
                 ) -> ::core::result::Result<{ty}, ::ebpf_loader::load::LoadError> {{\n        \
                 object.global({name:?})\n    }}\n"
            );
        }
    }
    let _ = writeln!(out, "}}");
}

#[cfg(test)]
mod tests;
