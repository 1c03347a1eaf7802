//! BTF told as a C header: the `vmlinux.h` that `bpftool btf dump file
//! /sys/kernel/btf/vmlinux format c` writes, from any parsed [`Btf`], so that a program
//! built for CO-RE needs no bpftool.
//!
//! ABI: the input is BTF (`include/uapi/linux/btf.h`, `Documentation/bpf/btf.rst`); the
//! output is C as clang reads it for `-target bpf`, with the layout rules of the BPF
//! target (8-byte pointers and `long`). The algorithm is libbpf's `btf_dump.c`, told here
//! in its steps:
//!
//! 1. **Mark referenced types** (`Dumper::mark_referenced`): an anonymous enum that no
//!    type refers to is a top-level declaration of its constants and must be written on
//!    its own; one that a member refers to is written inline.
//! 2. **Order** (`Dumper::order`): a depth-first walk from each root that queues every
//!    named definition after the definitions it needs. An edge is *strong* when the C
//!    compiler needs the full definition first (a member embedded by value, an array's
//!    element, a typedef's target) and *weak* through a pointer, where a forward
//!    declaration (`struct sock;`) is enough. A cycle of strong edges cannot be written in
//!    C and is an error; a cycle through a pointer is broken by a forward declaration.
//! 3. **Emit** (`Dumper::emit`): each queued type is written; on the way, a type it
//!    refers to that is still being written gets its forward declaration.
//!
//! Declarations are written as C spells them (`Dumper::emit_decl`): the chain of
//! pointers, arrays, qualifiers and function prototypes from a name to its base type is
//! collected, then written inside out (`int (*handler)(void *)`, `char (*p)[16]`).
//!
//! Structs are written with their exact layout: a member at an offset its type's
//! natural alignment does not give is preceded by anonymous bitfields of padding (`long:
//! 64;`, `int: 0;`), and a struct whose members cannot all be naturally aligned is
//! `__attribute__((packed))` (libbpf's `btf_is_struct_packed`). Two different types of the
//! same name get suffixes as bpftool gives them (`bpf_map_desc___2`); enumerators share
//! the namespace of typedef names, as in C.
//!
//! The dumper never trusts its input: every id is looked up through [`Btf`], every walk
//! is bounded ([`MAX_DEPTH`]), and BTF that C cannot express is a [`DumpError`], never a
//! panic or a hang.

use std::collections::HashMap;
use std::fmt::{self, Write};

use super::{Btf, BtfError, Kind, Member, Type, TypeBody};

/// How deep a walk may go (nested definitions, chains of pointers and arrays) before the
/// BTF is taken for a loop. The kernel's own types nest a few dozen levels at most.
pub const MAX_DEPTH: usize = 256;

/// The most text a header may have for BTF of `btf_len` bytes: 1 MiB plus 16 bytes per
/// byte of BTF (a kernel's header is half its BTF's size). Inline anonymous records can
/// make the text grow exponentially with their nesting; this bounds time and memory.
pub fn output_limit(btf_len: usize) -> usize {
    (1 << 20) + btf_len.saturating_mul(16)
}

/// The most steps (a type visited by the ordering or the writing walk) a dump of
/// `types` types may take: 64 per type, plus 64 Ki (this host's kernel BTF dumps within it).
pub fn step_limit(types: u32) -> usize {
    (types as usize).saturating_mul(64) + (1 << 16)
}

/// Pointer (and `long`) size of the BPF target.
const PTR_SIZE: u32 = 8;

/// Why a C header could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpError {
    /// A type could not be read.
    Btf {
        /// The type being written when the lookup failed.
        id: u32,
        /// The lookup's error.
        source: BtfError,
    },
    /// A cycle of strong edges (a struct that contains itself by value), which no C
    /// declaration order satisfies.
    Cycle {
        /// A type on the cycle.
        id: u32,
    },
    /// A walk went deeper than [`MAX_DEPTH`]: a loop through kinds with no name (arrays,
    /// pointers, anonymous structs, modifiers).
    TooDeep {
        /// The type where the walk stopped.
        id: u32,
    },
    /// A type of a kind that cannot stand where it was found (a FUNC as a member's type).
    UnexpectedKind {
        /// The type.
        id: u32,
        /// Its kind.
        kind: Kind,
    },
    /// The header grew past [`output_limit`] of the BTF's size: anonymous records that
    /// embed each other many times over (each written inline, so the text doubles with
    /// each level), which no compiler writes.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The walks took more than [`step_limit`] steps: pointers and prototypes that
    /// refer to each other many times over (a walk does not remember what it passed
    /// through a pointer or a prototype, as libbpf's does not), which no compiler writes.
    TooManySteps {
        /// The limit.
        limit: usize,
    },
    /// No type of the BTF has a name that was asked for.
    NotFound {
        /// The name.
        name: String,
    },
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Btf { id, .. } => write!(f, "type [{id}] could not be read"),
            DumpError::Cycle { id } => write!(
                f,
                "type [{id}] contains itself by value: no C declaration order exists"
            ),
            DumpError::TooDeep { id } => write!(
                f,
                "type [{id}] nests deeper than {MAX_DEPTH} levels: a loop in the BTF"
            ),
            DumpError::UnexpectedKind { id, kind } => {
                write!(f, "type [{id}] is a {kind}, which C cannot declare there")
            }
            DumpError::TooLarge { limit } => write!(
                f,
                "the header would be larger than {limit} bytes: anonymous records nested \
                 many times over"
            ),
            DumpError::TooManySteps { limit } => write!(
                f,
                "ordering the types took more than {limit} steps: types that refer to each \
                 other many times over"
            ),
            DumpError::NotFound { name } => write!(f, "no type named '{name}' in the BTF"),
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Btf { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Every type of `btf` as a C header, as `bpftool btf dump file FILE format c` writes it:
/// the `__VMLINUX_H__` guard and clang's `preserve_access_index` on every record, so
/// that field accesses in a program built against it are CO-RE relocations.
pub fn header(btf: &Btf) -> Result<String, DumpError> {
    let roots: Vec<u32> = (btf.first_id()..btf.len()).collect();
    header_of_ids(btf, &roots)
}

/// The types named `names` (every type of each name: a struct, a typedef, an enum) and
/// what they need, as a C header like [`header`]'s.
pub fn header_of(btf: &Btf, names: &[&str]) -> Result<String, DumpError> {
    let mut roots = Vec::new();
    for name in names {
        let ids: Vec<u32> = btf
            .ids_by_name(name)
            .into_iter()
            .filter(|&id| !matches!(btf.kind(id), Ok(Kind::Func | Kind::Var | Kind::Datasec)))
            .collect();
        if ids.is_empty() {
            return Err(DumpError::NotFound {
                name: name.to_string(),
            });
        }
        roots.extend(ids);
    }
    roots.sort_unstable();
    roots.dedup();
    header_of_ids(btf, &roots)
}

/// The types `roots` and what they need, as a C header like [`header`]'s.
pub fn header_of_ids(btf: &Btf, roots: &[u32]) -> Result<String, DumpError> {
    let mut dumper = Dumper::new(btf);
    dumper.out.push_str(
        "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
         #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
         #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
         #endif\n\n",
    );
    dumper.dump(roots)?;
    dumper.out.push_str(
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
         #endif /* __VMLINUX_H__ */\n",
    );
    Ok(dumper.out)
}

/// The types `roots` and what they need, as C declarations only: no guard, no pragma
/// (what libbpf's `btf_dump__dump_type` writes).
pub fn declarations(btf: &Btf, roots: &[u32]) -> Result<String, DumpError> {
    let mut dumper = Dumper::new(btf);
    dumper.dump(roots)?;
    Ok(dumper.out)
}

/// Where the ordering walk stands on a type (libbpf's `order_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Order {
    #[default]
    NotOrdered,
    Ordering,
    Ordered,
}

/// Where the writing stands on a type (libbpf's `emit_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Emit {
    #[default]
    NotEmitted,
    Emitting,
    Emitted,
}

/// What the dumper knows of one type id.
#[derive(Debug, Clone, Default)]
struct State {
    order: Order,
    emit: Emit,
    /// A forward declaration (or, for a typedef, its definition) has been written.
    fwd_emitted: bool,
    /// Another type refers to this one.
    referenced: bool,
    /// The name to write, once decided: `None` until then.
    name: Option<String>,
}

/// The two C namespaces names are counted in: struct, union and enum tags; and ordinary
/// identifiers (typedef names and enumerators).
#[derive(Debug, Clone, Copy)]
enum Namespace {
    Tag,
    Ident,
}

/// One dump in progress.
struct Dumper<'b> {
    btf: &'b Btf,
    states: Vec<State>,
    /// How many types (or enumerators) of each name have been written, per namespace.
    tag_names: HashMap<String, usize>,
    ident_names: HashMap<String, usize>,
    /// `btf_decl_tag` names by the tagged type, with the member index (-1: the type).
    decl_tags: HashMap<u32, Vec<(i32, String)>>,
    queue: Vec<u32>,
    /// Natural alignments found so far, by id (0: not yet).
    aligns: Vec<u32>,
    out: String,
    /// [`output_limit`] of this BTF.
    limit: usize,
    /// Steps taken, and [`step_limit`] of this BTF.
    steps: usize,
    step_limit: usize,
}

/// `__builtin_va_list` is clang's own: a typedef of it in the BTF is not written.
fn is_builtin(t: &Type) -> bool {
    t.kind() == Kind::Typedef && t.name == "__builtin_va_list"
}

/// `lvl` tabs.
fn indent(lvl: usize) -> String {
    "\t".repeat(lvl)
}

fn round_up(value: i64, to: i64) -> i64 {
    if to <= 0 {
        return value;
    }
    (value + to - 1) / to * to
}

impl<'b> Dumper<'b> {
    fn new(btf: &'b Btf) -> Dumper<'b> {
        Dumper {
            btf,
            states: vec![State::default(); btf.len() as usize],
            tag_names: HashMap::new(),
            ident_names: HashMap::new(),
            decl_tags: HashMap::new(),
            queue: Vec::new(),
            aligns: vec![0; btf.len() as usize],
            out: String::new(),
            limit: output_limit(btf.as_bytes().len()),
            steps: 0,
            step_limit: step_limit(btf.len()),
        }
    }

    /// The steps: mark references once, then order and write each root.
    fn dump(&mut self, roots: &[u32]) -> Result<(), DumpError> {
        self.mark_referenced()?;
        for &root in roots {
            self.queue.clear();
            self.order(root, false, 0)?;
            let queue = std::mem::take(&mut self.queue);
            for &id in &queue {
                self.emit(id, 0, 0)?;
            }
        }
        Ok(())
    }

    fn ty(&self, id: u32) -> Result<Type, DumpError> {
        self.btf
            .type_by_id(id)
            .map_err(|source| DumpError::Btf { id, source })
    }

    /// One more step of a walk, within [`step_limit`].
    fn step(&mut self) -> Result<(), DumpError> {
        self.steps += 1;
        if self.steps > self.step_limit {
            return Err(DumpError::TooManySteps {
                limit: self.step_limit,
            });
        }
        Ok(())
    }

    /// A type's kind and name, without decoding it (a kernel struct has hundreds of
    /// members; a pointer to it needs only its name).
    fn peek(&self, id: u32) -> Result<(Kind, &'b str), DumpError> {
        let btf = self.btf;
        let kind = btf
            .kind(id)
            .map_err(|source| DumpError::Btf { id, source })?;
        let name = btf
            .type_name(id)
            .map_err(|source| DumpError::Btf { id, source })?;
        Ok((kind, name))
    }

    fn state(&mut self, id: u32) -> Result<&mut State, DumpError> {
        self.states.get_mut(id as usize).ok_or(DumpError::Btf {
            id,
            source: BtfError::TypeIdOutOfRange {
                id,
                count: self.btf.len(),
            },
        })
    }

    /// Step 1: every type another type refers to is marked; decl tags are collected.
    fn mark_referenced(&mut self) -> Result<(), DumpError> {
        let btf = self.btf;
        for id in btf.first_id()..btf.len() {
            let kind = btf
                .kind(id)
                .map_err(|source| DumpError::Btf { id, source })?;
            if kind == Kind::DeclTag {
                if let TypeBody::DeclTag {
                    target,
                    component_idx,
                } = self.ty(id)?.body
                {
                    let name = self.peek(id)?.1.to_string();
                    self.decl_tags
                        .entry(target)
                        .or_default()
                        .push((component_idx, name));
                }
            }
            let refs = btf
                .type_refs(id)
                .map_err(|source| DumpError::Btf { id, source })?;
            for r in refs {
                if let Some(state) = self.states.get_mut(r as usize) {
                    state.referenced = true;
                }
            }
        }
        Ok(())
    }

    /// Step 2: queues the named definitions `id` needs, then `id`'s own (libbpf's
    /// `btf_dump_order_type`). Returns whether `id` is a strong dependency: a full
    /// definition that a typedef of it may rely on.
    fn order(&mut self, id: u32, through_ptr: bool, depth: usize) -> Result<bool, DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        self.step()?;
        let order = self.state(id)?.order;
        if order == Order::Ordered {
            return Ok(true);
        }
        let (kind, name) = self.peek(id)?;
        if matches!(kind, Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag) {
            // Not written in a header of types; nothing to order.
            self.state(id)?.order = Order::Ordered;
            return Ok(false);
        }
        if matches!(kind, Kind::Struct | Kind::Union)
            && through_ptr
            && !name.is_empty()
            && order == Order::NotOrdered
        {
            // Through a pointer, a named record needs only its forward declaration.
            return Ok(false);
        }
        let t = self.ty(id)?;
        let named = !t.name.is_empty();
        if order == Order::Ordering {
            // A loop that a forward declaration breaks: through a pointer to a named
            // struct or union.
            if matches!(t.kind(), Kind::Struct | Kind::Union) && through_ptr && named {
                return Ok(false);
            }
            return Err(DumpError::Cycle { id });
        }
        match &t.body {
            TypeBody::Void => Ok(false),
            TypeBody::Int { .. } | TypeBody::Float { .. } => {
                self.state(id)?.order = Order::Ordered;
                Ok(false)
            }
            TypeBody::Ptr { target } => {
                let strong = self.order(*target, true, depth + 1)?;
                self.state(id)?.order = Order::Ordered;
                Ok(strong)
            }
            TypeBody::Array { elem, .. } => self.order(*elem, false, depth + 1),
            TypeBody::Struct { members, .. } | TypeBody::Union { members, .. } => {
                // Through a pointer, a named record needs only its forward declaration;
                // an anonymous one is written inline, so its members count.
                if through_ptr && named {
                    return Ok(false);
                }
                self.state(id)?.order = Order::Ordering;
                for m in members {
                    self.order(m.type_id, false, depth + 1)?;
                }
                if named {
                    self.queue.push(id);
                }
                self.state(id)?.order = Order::Ordered;
                Ok(true)
            }
            TypeBody::Enum { .. } | TypeBody::Enum64 { .. } | TypeBody::Fwd { .. } => {
                // A named enum, or an anonymous one nothing refers to (a declaration of
                // constants), is written on its own.
                if named || !self.state(id)?.referenced {
                    self.queue.push(id);
                }
                self.state(id)?.order = Order::Ordered;
                Ok(true)
            }
            TypeBody::Typedef { target } => {
                let strong = self.order(*target, through_ptr, depth + 1)?;
                if through_ptr && !strong {
                    return Ok(false);
                }
                self.queue.push(id);
                self.state(id)?.order = Order::Ordered;
                Ok(true)
            }
            TypeBody::Volatile { target }
            | TypeBody::Const { target }
            | TypeBody::Restrict { target }
            | TypeBody::TypeTag { target } => self.order(*target, through_ptr, depth + 1),
            TypeBody::FuncProto { ret, params } => {
                let mut strong = self.order(*ret, through_ptr, depth + 1)?;
                for p in params {
                    strong |= self.order(p.type_id, through_ptr, depth + 1)?;
                }
                Ok(strong)
            }
            TypeBody::Func { .. }
            | TypeBody::Var { .. }
            | TypeBody::Datasec { .. }
            | TypeBody::DeclTag { .. } => {
                self.state(id)?.order = Order::Ordered;
                Ok(false)
            }
        }
    }

    /// Step 3: writes `id` if it is a definition at top level (`cont_id` 0), or the
    /// forward declarations it needs inside the definition of `cont_id` (libbpf's
    /// `btf_dump_emit_type`).
    fn emit(&mut self, id: u32, cont_id: u32, depth: usize) -> Result<(), DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        self.step()?;
        let top_level = cont_id == 0;
        let state = self.state(id)?;
        if state.emit == Emit::Emitted {
            return Ok(());
        }
        let (kind, name) = self.peek(id)?;
        if matches!(kind, Kind::Struct | Kind::Union)
            && !top_level
            && !name.is_empty()
            && self.state(id)?.emit == Emit::NotEmitted
        {
            // Inside another definition, a named record needs only its forward
            // declaration (once), not its members.
            if !self.state(id)?.fwd_emitted && id != cont_id {
                self.emit_record_fwd(id)?;
                self.out.push_str(";\n\n");
                self.state(id)?.fwd_emitted = true;
            }
            return Ok(());
        }
        let t = self.ty(id)?;
        if self.state(id)?.emit == Emit::Emitting {
            return self.emit_fwd_of_emitting(id, &t, cont_id);
        }
        match &t.body {
            TypeBody::Int { .. } | TypeBody::Float { .. } => {
                self.state(id)?.emit = Emit::Emitted;
            }
            TypeBody::Enum { .. } | TypeBody::Enum64 { .. } => {
                if top_level {
                    self.emit_enum_def(id, &t, 0)?;
                    self.out.push_str(";\n\n");
                }
                self.state(id)?.emit = Emit::Emitted;
            }
            TypeBody::Ptr { target }
            | TypeBody::Volatile { target }
            | TypeBody::Const { target }
            | TypeBody::Restrict { target }
            | TypeBody::TypeTag { target } => self.emit(*target, cont_id, depth + 1)?,
            TypeBody::Array { elem, .. } => self.emit(*elem, cont_id, depth + 1)?,
            TypeBody::Fwd { .. } => {
                self.emit_fwd_def(id, &t)?;
                self.out.push_str(";\n\n");
                self.state(id)?.emit = Emit::Emitted;
            }
            TypeBody::Typedef { target } => {
                self.state(id)?.emit = Emit::Emitting;
                self.emit(*target, id, depth + 1)?;
                // Someone may have needed the typedef as a forward declaration already.
                if !self.state(id)?.fwd_emitted && !is_builtin(&t) {
                    self.emit_typedef_def(id, &t, 0)?;
                    self.out.push_str(";\n\n");
                }
                self.state(id)?.emit = Emit::Emitted;
            }
            TypeBody::Struct { members, .. } | TypeBody::Union { members, .. } => {
                self.state(id)?.emit = Emit::Emitting;
                let anonymous = t.name.is_empty();
                if top_level || anonymous {
                    // The members will be written out: their types need declarations.
                    let new_cont = if anonymous { cont_id } else { id };
                    for m in members {
                        self.emit(m.type_id, new_cont, depth + 1)?;
                    }
                } else if !self.state(id)?.fwd_emitted && id != cont_id {
                    self.emit_record_fwd(id)?;
                    self.out.push_str(";\n\n");
                    self.state(id)?.fwd_emitted = true;
                }
                if top_level {
                    self.emit_struct_def(id, &t, 0, 0)?;
                    self.out.push_str(";\n\n");
                    self.state(id)?.emit = Emit::Emitted;
                } else {
                    self.state(id)?.emit = Emit::NotEmitted;
                }
            }
            TypeBody::FuncProto { ret, params } => {
                self.emit(*ret, cont_id, depth + 1)?;
                for p in params {
                    self.emit(p.type_id, cont_id, depth + 1)?;
                }
            }
            TypeBody::Void
            | TypeBody::Func { .. }
            | TypeBody::Var { .. }
            | TypeBody::Datasec { .. }
            | TypeBody::DeclTag { .. } => {}
        }
        Ok(())
    }

    /// A type met again while it is being written: a struct or union gets its forward
    /// declaration (unless it is the one being defined), a typedef its definition, which
    /// serves for pointers to it.
    fn emit_fwd_of_emitting(&mut self, id: u32, t: &Type, cont_id: u32) -> Result<(), DumpError> {
        if self.state(id)?.fwd_emitted {
            return Ok(());
        }
        match t.kind() {
            Kind::Struct | Kind::Union => {
                if id == cont_id {
                    return Ok(());
                }
                if t.name.is_empty() {
                    return Err(DumpError::Cycle { id });
                }
                self.emit_record_fwd(id)?;
                self.out.push_str(";\n\n");
                self.state(id)?.fwd_emitted = true;
            }
            Kind::Typedef => {
                if !is_builtin(t) {
                    self.emit_typedef_def(id, t, 0)?;
                    self.out.push_str(";\n\n");
                }
                self.state(id)?.fwd_emitted = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// The name to write for `id`: its own, or with a `___N` suffix when it is the N-th
    /// different type of that name in its namespace (libbpf's `btf_dump_resolve_name`).
    fn resolved_name(&mut self, id: u32, ns: Namespace) -> Result<String, DumpError> {
        let (kind, own) = self.peek(id)?;
        if own.is_empty() {
            return Ok(String::new());
        }
        if let Some(name) = &self.state(id)?.name {
            return Ok(name.clone());
        }
        // A forward declaration, or an enum without values, declares and never clashes.
        let declares_only = match kind {
            Kind::Fwd => true,
            Kind::Enum | Kind::Enum64 => match self.ty(id)?.body {
                TypeBody::Enum { values, .. } | TypeBody::Enum64 { values, .. } => {
                    values.is_empty()
                }
                _ => false,
            },
            _ => false,
        };
        let name = if declares_only {
            own.to_string()
        } else {
            self.dedup_name(own, ns)
        };
        self.state(id)?.name = Some(name.clone());
        Ok(name)
    }

    /// Counts one more use of `name` in `ns`; the first keeps it, the N-th is `name___N`.
    fn dedup_name(&mut self, name: &str, ns: Namespace) -> String {
        let names = match ns {
            Namespace::Tag => &mut self.tag_names,
            Namespace::Ident => &mut self.ident_names,
        };
        let count = match names.get_mut(name) {
            Some(count) => {
                *count += 1;
                *count
            }
            None => {
                names.insert(name.to_string(), 1);
                1
            }
        };
        if count > 1 {
            format!("{name}___{count}")
        } else {
            name.to_string()
        }
    }

    /// `struct sock` / `union bpf_attr`.
    fn emit_record_fwd(&mut self, id: u32) -> Result<(), DumpError> {
        let keyword = if self.peek(id)?.0 == Kind::Union {
            "union"
        } else {
            "struct"
        };
        let name = self.resolved_name(id, Namespace::Tag)?;
        let _ = write!(self.out, "{keyword} {name}");
        Ok(())
    }

    /// A FWD: `struct x` or `union x`.
    fn emit_fwd_def(&mut self, id: u32, t: &Type) -> Result<(), DumpError> {
        let is_union = matches!(t.body, TypeBody::Fwd { is_union: true });
        let name = self.resolved_name(id, Namespace::Tag)?;
        let keyword = if is_union { "union" } else { "struct" };
        let _ = write!(self.out, "{keyword} {name}");
        Ok(())
    }

    /// `typedef <decl of target named name>`.
    fn emit_typedef_def(&mut self, id: u32, t: &Type, lvl: usize) -> Result<(), DumpError> {
        let name = self.resolved_name(id, Namespace::Ident)?;
        let target = t.target().unwrap_or(0);
        // Old GCC wrote `__gnuc_va_list` as a typedef of void; C needs the builtin.
        if target == 0 && name == "__gnuc_va_list" {
            self.out
                .push_str("typedef __builtin_va_list __gnuc_va_list");
            return Ok(());
        }
        self.out.push_str("typedef ");
        self.emit_decl(target, &name, lvl)?;
        self.emit_decl_tags(id, -1);
        Ok(())
    }

    /// ` __attribute__((btf_decl_tag("x")))` for each decl tag on `id` (or its member
    /// `component`).
    fn emit_decl_tags(&mut self, id: u32, component: i32) {
        if let Some(tags) = self.decl_tags.get(&id) {
            for (idx, name) in tags {
                if *idx == component {
                    let _ = write!(self.out, " __attribute__((btf_decl_tag(\"{name}\")))");
                }
            }
        }
    }

    /// An enum with its values; sizes other than `int`'s are forced with `mode`.
    fn emit_enum_def(&mut self, id: u32, t: &Type, lvl: usize) -> Result<(), DumpError> {
        let name = self.resolved_name(id, Namespace::Tag)?;
        let (size, signed, values, is64) = match &t.body {
            TypeBody::Enum {
                size,
                signed,
                values,
            } => (*size, *signed, values, false),
            TypeBody::Enum64 {
                size,
                signed,
                values,
            } => (*size, *signed, values, true),
            _ => return Err(DumpError::UnexpectedKind { id, kind: t.kind() }),
        };
        let sep = if name.is_empty() { "" } else { " " };
        let _ = write!(self.out, "enum{sep}{name}");
        if values.is_empty() {
            return Ok(());
        }
        self.out.push_str(" {");
        for v in values {
            let value = if is64 {
                if signed {
                    format!("{}LL", v.value as i64)
                } else {
                    format!("{}ULL", v.value)
                }
            } else if signed {
                (v.value as u32 as i32).to_string()
            } else {
                (v.value as u32).to_string()
            };
            let vname = self.dedup_name(&v.name, Namespace::Ident);
            let _ = write!(self.out, "\n{}{vname} = {value},", indent(lvl + 1));
        }
        let _ = write!(self.out, "\n{}}}", indent(lvl));
        if size == 1 {
            self.out.push_str(" __attribute__((mode(byte)))");
        } else if size == 8 {
            // A 32-bit ENUM of 8 bytes, or an ENUM64 whose values all fit in 32 bits,
            // is 8 bytes only if told so.
            let needs_word = !is64 || values.iter().all(|v| v.value >> 32 == 0);
            if needs_word {
                self.out.push_str(" __attribute__((mode(word)))");
            }
        }
        Ok(())
    }

    /// A struct or union with its members, explicit padding and `packed` where the
    /// layout needs them (libbpf's `btf_dump_emit_struct_def`).
    fn emit_struct_def(
        &mut self,
        id: u32,
        t: &Type,
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        let (is_struct, size, members) = match &t.body {
            TypeBody::Struct { size, members } => (true, *size, members),
            TypeBody::Union { size, members } => (false, *size, members),
            _ => return Err(DumpError::UnexpectedKind { id, kind: t.kind() }),
        };
        let align = self.align_of(id, 0)?;
        let packed = is_struct && self.is_packed(size, members)?;
        let name = self.resolved_name(id, Namespace::Tag)?;
        let keyword = if is_struct { "struct" } else { "union" };
        let sep = if name.is_empty() { "" } else { " " };
        let _ = write!(self.out, "{keyword}{sep}{name}");
        self.emit_decl_tags(id, -1);
        self.out.push_str(" {");
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        for (index, m) in members.iter().enumerate() {
            if self.out.len() > self.limit {
                return Err(DumpError::TooLarge { limit: self.limit });
            }
            let m_off = m.bit_offset as i64;
            let m_sz = m.bitfield_size as i64;
            let m_align = if packed {
                1
            } else {
                self.align_of(m.type_id, 0)?
            };
            let in_bitfield = prev_bitfield && m_sz != 0;
            self.emit_bit_padding(off, m_off, m_align as i64, in_bitfield, lvl + 1)?;
            let _ = write!(self.out, "\n{}", indent(lvl + 1));
            self.emit_member_decl(m, lvl + 1, depth)?;
            if m_sz != 0 {
                let _ = write!(self.out, ": {m_sz}");
                off = m_off + m_sz;
                prev_bitfield = true;
            } else {
                let bytes = self.btf.resolve_size(m.type_id).unwrap_or(0) as i64;
                off = m_off + bytes * 8;
                prev_bitfield = false;
            }
            self.emit_decl_tags(id, index as i32);
            self.out.push(';');
        }
        if is_struct {
            self.emit_bit_padding(off, size as i64 * 8, align as i64, false, lvl + 1)?;
        }
        // `struct empty {}` stays on one line.
        if !members.is_empty() || size != 0 {
            let _ = write!(self.out, "\n{}}}", indent(lvl));
        } else {
            self.out.push('}');
        }
        if packed {
            self.out.push_str(" __attribute__((packed))");
        }
        Ok(())
    }

    fn emit_member_decl(&mut self, m: &Member, lvl: usize, depth: usize) -> Result<(), DumpError> {
        self.emit_decl_at(m.type_id, &m.name, lvl, depth + 1)
    }

    /// Anonymous bitfields that take the member at bit `next_off` from bit `cur_off`
    /// where the compiler's own alignment would not (libbpf's
    /// `btf_dump_emit_bit_padding`): first a `<type>: 0;` that aligns to the largest of
    /// `long`, `int`, `short`, `char` that fits, if the compiler would not align there by
    /// itself, then `<type>: N;` fillers up to `next_off`.
    fn emit_bit_padding(
        &mut self,
        cur_off: i64,
        next_off: i64,
        next_align: i64,
        in_bitfield: bool,
        lvl: usize,
    ) -> Result<(), DumpError> {
        if cur_off >= next_off {
            return Ok(());
        }
        const PADS: [(&str, i64); 4] = [
            ("long", PTR_SIZE as i64 * 8),
            ("int", 32),
            ("short", 16),
            ("char", 8),
        ];
        let (mut pad_type, mut pad_bits, mut new_off) = ("char", 8, 0);
        for (name, bits) in PADS {
            pad_type = name;
            pad_bits = bits;
            new_off = round_up(cur_off, bits);
            if new_off <= next_off {
                break;
            }
        }
        let mut cur = cur_off;
        if new_off > cur && new_off <= next_off {
            // An explicit aligning mark when the compiler would not align there itself:
            // inside a run of bitfields (a filler of the hole's exact width), before a
            // member whose own alignment is weaker, or when the fillers after it would
            // fit in the hole and be ignored.
            let compiler_aligns = round_up(cur, next_align * 8) == new_off;
            if in_bitfield
                || (new_off == next_off && !compiler_aligns)
                || (new_off != next_off && next_off - new_off <= new_off - cur)
            {
                let width = if in_bitfield { new_off - cur } else { 0 };
                let _ = write!(self.out, "\n{}{pad_type}: {width};", indent(lvl));
            }
            cur = new_off;
        }
        // Whole fillers of the chosen type, then the smallest type that holds the rest.
        while cur < next_off {
            // A struct of 4 GiB would be 500 million fillers.
            if self.out.len() > self.limit {
                return Err(DumpError::TooLarge { limit: self.limit });
            }
            let bits = (next_off - cur).min(pad_bits);
            if bits < pad_bits {
                if let Some(&(name, width)) = PADS.iter().rev().find(|(_, w)| *w >= bits) {
                    pad_type = name;
                    pad_bits = width;
                }
            }
            let _ = write!(self.out, "\n{}{pad_type}: {bits};", indent(lvl));
            cur += bits;
        }
        Ok(())
    }

    /// A type's natural alignment in bytes as the BTF shows it (libbpf's
    /// `btf__align_of`): a record whose members are not all naturally placed, or whose
    /// size is not a multiple of their alignment, is packed (1).
    fn align_of(&mut self, id: u32, depth: usize) -> Result<u32, DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        if let Some(&align) = self.aligns.get(id as usize).filter(|&&a| a != 0) {
            return Ok(align);
        }
        let align = self.natural_align(id, depth)?;
        if let Some(slot) = self.aligns.get_mut(id as usize) {
            *slot = align;
        }
        Ok(align)
    }

    /// `Dumper::align_of`, uncached.
    fn natural_align(&mut self, id: u32, depth: usize) -> Result<u32, DumpError> {
        let t = self.ty(id)?;
        Ok(match &t.body {
            TypeBody::Int { size, .. }
            | TypeBody::Enum { size, .. }
            | TypeBody::Enum64 { size, .. }
            | TypeBody::Float { size } => (*size).clamp(1, PTR_SIZE),
            TypeBody::Ptr { .. } => PTR_SIZE,
            TypeBody::Typedef { target }
            | TypeBody::Volatile { target }
            | TypeBody::Const { target }
            | TypeBody::Restrict { target }
            | TypeBody::TypeTag { target } => self.align_of(*target, depth + 1)?,
            TypeBody::Array { elem, .. } => self.align_of(*elem, depth + 1)?,
            TypeBody::Struct { size, members } | TypeBody::Union { size, members } => {
                let mut max_align = 1;
                for m in members {
                    let align = self.align_of(m.type_id, depth + 1)?;
                    max_align = max_align.max(align);
                    if m.bitfield_size == 0 && m.bit_offset % (8 * align) != 0 {
                        return Ok(1);
                    }
                }
                if size % max_align != 0 {
                    return Ok(1);
                }
                max_align
            }
            _ => return Err(DumpError::UnexpectedKind { id, kind: t.kind() }),
        })
    }

    /// Whether a struct must be written `packed` (libbpf's `btf_is_struct_packed`): a
    /// member that is not a bitfield sits off its natural alignment, or the size is not a
    /// multiple of the largest member alignment.
    fn is_packed(&mut self, size: u32, members: &[Member]) -> Result<bool, DumpError> {
        let mut max_align = 1;
        for m in members {
            let align = self.align_of(m.type_id, 0)?;
            if m.bitfield_size == 0 && m.bit_offset % (8 * align) != 0 {
                return Ok(true);
            }
            max_align = max_align.max(align);
        }
        Ok(size % max_align != 0)
    }

    /// Writes the declaration of `fname` of type `id` (libbpf's
    /// `btf_dump_emit_type_decl`).
    fn emit_decl(&mut self, id: u32, fname: &str, lvl: usize) -> Result<(), DumpError> {
        self.emit_decl_at(id, fname, lvl, 0)
    }

    fn emit_decl_at(
        &mut self,
        id: u32,
        fname: &str,
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        let mut decls = self.decl_chain(id)?;
        self.emit_chain(&mut decls, fname, lvl, depth)
    }

    /// The chain from a declared type to its base type: pointers, qualifiers, arrays and
    /// function prototypes, ending at a named or record type (or `void`, id 0).
    fn decl_chain(&self, id: u32) -> Result<Vec<u32>, DumpError> {
        let mut decls = Vec::new();
        let mut cur = id;
        loop {
            if decls.len() > MAX_DEPTH {
                return Err(DumpError::TooDeep { id });
            }
            decls.push(cur);
            if cur == 0 {
                break;
            }
            let t = self.ty(cur)?;
            match &t.body {
                TypeBody::Ptr { target }
                | TypeBody::Volatile { target }
                | TypeBody::Const { target }
                | TypeBody::Restrict { target }
                | TypeBody::TypeTag { target } => cur = *target,
                TypeBody::FuncProto { ret, .. } => cur = *ret,
                TypeBody::Array { elem, .. } => cur = *elem,
                TypeBody::Int { .. }
                | TypeBody::Float { .. }
                | TypeBody::Enum { .. }
                | TypeBody::Enum64 { .. }
                | TypeBody::Fwd { .. }
                | TypeBody::Struct { .. }
                | TypeBody::Union { .. }
                | TypeBody::Typedef { .. } => break,
                _ => {
                    return Err(DumpError::UnexpectedKind {
                        id: cur,
                        kind: t.kind(),
                    })
                }
            }
        }
        Ok(decls)
    }

    /// `const volatile ` for the qualifiers right above the base type.
    fn emit_mods(&mut self, decls: &mut Vec<u32>) -> Result<(), DumpError> {
        while let Some(&id) = decls.last() {
            let word = match self.btf.kind(id) {
                Ok(Kind::Volatile) => "volatile ",
                Ok(Kind::Const) => "const ",
                Ok(Kind::Restrict) => "restrict ",
                _ => return Ok(()),
            };
            self.out.push_str(word);
            decls.pop();
        }
        Ok(())
    }

    /// Qualifiers on an array or a function mean nothing in C (GCC writes some): dropped.
    fn drop_mods(&self, decls: &mut Vec<u32>) {
        while let Some(&id) = decls.last() {
            match self.btf.kind(id) {
                Ok(kind) if kind.is_modifier() => {
                    decls.pop();
                }
                _ => return,
            }
        }
    }

    fn emit_name(&mut self, fname: &str, last_was_ptr: bool) {
        if !fname.is_empty() && !last_was_ptr {
            self.out.push(' ');
        }
        self.out.push_str(fname);
    }

    /// Writes a chain inside out: the base type first, then what wraps it, the name where
    /// C puts it (libbpf's `btf_dump_emit_type_chain`).
    fn emit_chain(
        &mut self,
        decls: &mut Vec<u32>,
        fname: &str,
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep {
                id: decls.last().copied().unwrap_or(0),
            });
        }
        // `int ***p`, not `int * * *p`; a lone pointer of a function pointer is `(*f)`.
        let mut last_was_ptr = true;
        while let Some(id) = decls.pop() {
            // Every declaration goes through here: the one place to bound the text.
            if self.out.len() > self.limit {
                return Err(DumpError::TooLarge { limit: self.limit });
            }
            if id == 0 {
                self.emit_mods(decls)?;
                self.out.push_str("void");
                last_was_ptr = false;
                continue;
            }
            let (kind, name) = self.peek(id)?;
            if matches!(kind, Kind::Struct | Kind::Union) && !name.is_empty() {
                self.emit_mods(decls)?;
                self.emit_record_fwd(id)?;
                last_was_ptr = false;
                continue;
            }
            let t = self.ty(id)?;
            match &t.body {
                TypeBody::Int { .. } | TypeBody::Float { .. } => {
                    self.emit_mods(decls)?;
                    self.out.push_str(&t.name);
                }
                TypeBody::Struct { .. } | TypeBody::Union { .. } => {
                    self.emit_mods(decls)?;
                    if t.name.is_empty() {
                        self.emit_struct_def(id, &t, lvl, depth + 1)?;
                    } else {
                        self.emit_record_fwd(id)?;
                    }
                }
                TypeBody::Enum { .. } | TypeBody::Enum64 { .. } => {
                    self.emit_mods(decls)?;
                    if t.name.is_empty() {
                        self.emit_enum_def(id, &t, lvl)?;
                    } else {
                        let name = self.resolved_name(id, Namespace::Tag)?;
                        let _ = write!(self.out, "enum {name}");
                    }
                }
                TypeBody::Fwd { .. } => {
                    self.emit_mods(decls)?;
                    self.emit_fwd_def(id, &t)?;
                }
                TypeBody::Typedef { .. } => {
                    self.emit_mods(decls)?;
                    let name = self.resolved_name(id, Namespace::Ident)?;
                    self.out.push_str(&name);
                }
                TypeBody::Ptr { .. } => {
                    self.out.push_str(if last_was_ptr { "*" } else { " *" });
                }
                TypeBody::Volatile { .. } => self.out.push_str(" volatile"),
                TypeBody::Const { .. } => self.out.push_str(" const"),
                TypeBody::Restrict { .. } => self.out.push_str(" restrict"),
                TypeBody::TypeTag { .. } => {
                    self.emit_mods(decls)?;
                    let _ = write!(self.out, " __attribute__((btf_type_tag(\"{}\")))", t.name);
                }
                TypeBody::Array { nelems, .. } => {
                    self.drop_mods(decls);
                    let Some(&next) = decls.last() else {
                        self.emit_name(fname, last_was_ptr);
                        let _ = write!(self.out, "[{nelems}]");
                        return Ok(());
                    };
                    // `int a[2][3]` needs no parentheses; `int (*p)[3]` does.
                    let multidim = self.btf.kind(next) == Ok(Kind::Array);
                    if !fname.is_empty() && !last_was_ptr {
                        self.out.push(' ');
                    }
                    if !multidim {
                        self.out.push('(');
                    }
                    self.emit_chain(decls, fname, lvl, depth + 1)?;
                    if !multidim {
                        self.out.push(')');
                    }
                    let _ = write!(self.out, "[{nelems}]");
                    return Ok(());
                }
                TypeBody::FuncProto { params, .. } => {
                    self.drop_mods(decls);
                    if decls.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                    } else {
                        self.out.push_str(" (");
                        self.emit_chain(decls, fname, lvl, depth + 1)?;
                        self.out.push(')');
                    }
                    self.emit_params(params, lvl, depth)?;
                    return Ok(());
                }
                _ => return Err(DumpError::UnexpectedKind { id, kind: t.kind() }),
            }
            last_was_ptr = t.kind() == Kind::Ptr;
        }
        self.emit_name(fname, last_was_ptr);
        Ok(())
    }

    /// `(void)`, `(int, char *)`, `(const char *fmt, ...)`: clang writes a prototype
    /// without parameters as one `void` parameter; a last `void` parameter is `...`.
    fn emit_params(
        &mut self,
        params: &[super::Param],
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        self.out.push('(');
        if params.is_empty() || (params.len() == 1 && params.first().map(|p| p.type_id) == Some(0))
        {
            self.out.push_str("void)");
            return Ok(());
        }
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            if i == params.len() - 1 && p.type_id == 0 {
                self.out.push_str("...");
                break;
            }
            self.emit_decl_at(p.type_id, &p.name, lvl, depth + 1)?;
        }
        self.out.push(')');
        Ok(())
    }
}

#[cfg(test)]
mod tests;
