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
//! Every type is read in place, as libbpf reads its records: a [`TypeView`] through a
//! [`BtfReader`] at each visit, never decoded into an owned [`super::Type`], and a name
//! is read from the string section only to be written (the walks visit the kernel's
//! ~126k types and their members several times each; decoding them cost two thirds of
//! the time). The names the header writes are the string section's, borrowed; a `___N`
//! suffix is a count beside them.
//!
//! The dumper never trusts its input: every id is looked up through the [`BtfReader`],
//! every walk is bounded ([`MAX_DEPTH`]), and BTF that C cannot express is a
//! [`DumpError`], never a panic or a hang.

use std::collections::HashMap;
use std::fmt::{self, Write};

use super::{BodyView, Btf, BtfError, BtfReader, Kind, Members, Params, TypeView};

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

/// What the dumper knows of one type id, in a `Vec` indexed by id.
#[derive(Debug, Clone, Copy, Default)]
struct State<'b> {
    order: Order,
    emit: Emit,
    /// A forward declaration (or, for a typedef, its definition) has been written.
    fwd_emitted: bool,
    /// Another type refers to this one.
    referenced: bool,
    /// A DECL_TAG names this type (or one of its members): see `Dumper::decl_tags`.
    tagged: bool,
    /// The name to write, once decided: `None` until then.
    name: Option<Name<'b>>,
}

/// The two C namespaces names are counted in: struct, union and enum tags; and ordinary
/// identifiers (typedef names and enumerators).
#[derive(Debug, Clone, Copy)]
enum Namespace {
    Tag,
    Ident,
}

/// A name as the header writes it: the BTF's string, and `___N` after it when it names
/// the N-th different type of that name (libbpf's suffixes). Borrowed from the string
/// section: writing a name copies it once, into the header.
#[derive(Debug, Clone, Copy)]
struct Name<'b> {
    text: &'b str,
    nth: u32,
}

impl<'b> Name<'b> {
    /// A name written as it is (a member's, a parameter's, the first of its kind).
    fn plain(text: &'b str) -> Name<'b> {
        Name { text, nth: 1 }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether it is written `text`, without a suffix.
    fn is(&self, text: &str) -> bool {
        self.nth <= 1 && self.text == text
    }

    fn push_to(&self, out: &mut String) {
        out.push_str(self.text);
        if self.nth > 1 {
            let _ = write!(out, "___{}", self.nth);
        }
    }
}

/// One dump in progress.
struct Dumper<'b> {
    btf: &'b Btf,
    /// The BTF's sections, found once: every type and name is read through it.
    reader: BtfReader<'b>,
    /// What is known of each type, by id.
    states: Vec<State<'b>>,
    /// How many types (or enumerators) of each name have been written, per namespace.
    tag_names: HashMap<&'b str, u32>,
    ident_names: HashMap<&'b str, u32>,
    /// `btf_decl_tag` names by the tagged type, with the member index (-1: the type).
    decl_tags: HashMap<u32, Vec<(i32, &'b str)>>,
    queue: Vec<u32>,
    /// Natural alignments found so far, by id (0: not yet).
    aligns: Vec<u32>,
    /// Declaration chains (`Dumper::decl_chain`) done with, kept for the next: a chain
    /// is built for every member and parameter written.
    spare_chains: Vec<Vec<u32>>,
    /// The header, written into one buffer sized for it up front.
    out: String,
    /// [`output_limit`] of this BTF.
    limit: usize,
    /// Steps taken, and [`step_limit`] of this BTF.
    steps: usize,
    step_limit: usize,
}

/// `__builtin_va_list` is clang's own: a typedef of it in the BTF is not written.
fn is_builtin(kind: Kind, name: &str) -> bool {
    kind == Kind::Typedef && name == "__builtin_va_list"
}

/// Writes `lvl` tabs.
fn push_indent(out: &mut String, lvl: usize) {
    for _ in 0..lvl {
        out.push('\t');
    }
}

/// A newline, then `lvl` tabs.
fn push_line(out: &mut String, lvl: usize) {
    out.push('\n');
    push_indent(out, lvl);
}

fn round_up(value: i64, to: i64) -> i64 {
    if to <= 0 {
        return value;
    }
    (value + to - 1) / to * to
}

/// What the header of BTF of `btf_len` bytes is likely to need: a kernel's is 0.51 of its
/// BTF's size. Reserving it up front costs no memory until it is written (the
/// allocator maps large blocks lazily) and saves growing the buffer by copies.
fn expected_len(btf_len: usize) -> usize {
    btf_len / 8 * 5
}

impl<'b> Dumper<'b> {
    fn new(btf: &'b Btf) -> Dumper<'b> {
        Dumper {
            btf,
            reader: btf.reader(),
            states: vec![State::default(); btf.len() as usize],
            tag_names: HashMap::new(),
            ident_names: HashMap::new(),
            decl_tags: HashMap::new(),
            queue: Vec::new(),
            aligns: vec![0; btf.len() as usize],
            spare_chains: Vec::new(),
            out: String::with_capacity(expected_len(btf.as_bytes().len())),
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

    /// Type `id`, read in place.
    fn view(&self, id: u32) -> Result<TypeView<'b>, DumpError> {
        self.reader
            .view(id)
            .map_err(|source| DumpError::Btf { id, source })
    }

    /// The name at `name_off` of type `t`: its own, or one of its members',
    /// enumerators' or parameters'.
    fn name_of(&self, t: &TypeView<'b>, name_off: u32) -> Result<&'b str, DumpError> {
        self.reader
            .name(name_off)
            .map_err(|source| DumpError::Btf { id: t.id(), source })
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

    fn state(&mut self, id: u32) -> Result<&mut State<'b>, DumpError> {
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
            let t = self.view(id)?;
            if let BodyView::DeclTag {
                target,
                component_idx,
            } = t.body()
            {
                let name = self.name_of(&t, t.name_off())?;
                self.decl_tags
                    .entry(target)
                    .or_default()
                    .push((component_idx, name));
                if let Some(state) = self.states.get_mut(target as usize) {
                    state.tagged = true;
                }
            }
            for r in t.type_refs() {
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
        let t = self.view(id)?;
        let kind = t.kind();
        let named = !self.name_of(&t, t.name_off())?.is_empty();
        if matches!(kind, Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag) {
            // Not written in a header of types; nothing to order.
            self.state(id)?.order = Order::Ordered;
            return Ok(false);
        }
        let record = matches!(kind, Kind::Struct | Kind::Union);
        if record && through_ptr && named && order == Order::NotOrdered {
            // Through a pointer, a named record needs only its forward declaration.
            return Ok(false);
        }
        if order == Order::Ordering {
            // A loop that a forward declaration breaks: through a pointer to a named
            // struct or union.
            if record && through_ptr && named {
                return Ok(false);
            }
            return Err(DumpError::Cycle { id });
        }
        match t.body() {
            BodyView::Void => Ok(false),
            BodyView::Int { .. } | BodyView::Float { .. } => {
                self.state(id)?.order = Order::Ordered;
                Ok(false)
            }
            BodyView::Ptr { target } => {
                let strong = self.order(target, true, depth + 1)?;
                self.state(id)?.order = Order::Ordered;
                Ok(strong)
            }
            BodyView::Array { elem, .. } => self.order(elem, false, depth + 1),
            BodyView::Struct { members, .. } | BodyView::Union { members, .. } => {
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
            BodyView::Enum { .. } | BodyView::Enum64 { .. } | BodyView::Fwd { .. } => {
                // A named enum, or an anonymous one nothing refers to (a declaration of
                // constants), is written on its own.
                if named || !self.state(id)?.referenced {
                    self.queue.push(id);
                }
                self.state(id)?.order = Order::Ordered;
                Ok(true)
            }
            BodyView::Typedef { target } => {
                let strong = self.order(target, through_ptr, depth + 1)?;
                if through_ptr && !strong {
                    return Ok(false);
                }
                self.queue.push(id);
                self.state(id)?.order = Order::Ordered;
                Ok(true)
            }
            BodyView::Volatile { target }
            | BodyView::Const { target }
            | BodyView::Restrict { target }
            | BodyView::TypeTag { target } => self.order(target, through_ptr, depth + 1),
            BodyView::FuncProto { ret, params } => {
                let mut strong = self.order(ret, through_ptr, depth + 1)?;
                for p in params {
                    strong |= self.order(p.type_id, through_ptr, depth + 1)?;
                }
                Ok(strong)
            }
            BodyView::Func { .. }
            | BodyView::Var { .. }
            | BodyView::Datasec { .. }
            | BodyView::DeclTag { .. } => {
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
        let emit = self.state(id)?.emit;
        if emit == Emit::Emitted {
            return Ok(());
        }
        let t = self.view(id)?;
        let name = self.name_of(&t, t.name_off())?;
        if matches!(t.kind(), Kind::Struct | Kind::Union)
            && !top_level
            && !name.is_empty()
            && emit == Emit::NotEmitted
        {
            // Inside another definition, a named record needs only its forward
            // declaration (once), not its members.
            if !self.state(id)?.fwd_emitted && id != cont_id {
                self.emit_record_fwd(&t)?;
                self.out.push_str(";\n\n");
                self.state(id)?.fwd_emitted = true;
            }
            return Ok(());
        }
        if emit == Emit::Emitting {
            return self.emit_fwd_of_emitting(&t, name, cont_id);
        }
        match t.body() {
            BodyView::Int { .. } | BodyView::Float { .. } => {
                self.state(id)?.emit = Emit::Emitted;
            }
            BodyView::Enum { .. } | BodyView::Enum64 { .. } => {
                if top_level {
                    self.emit_enum_def(&t, 0)?;
                    self.out.push_str(";\n\n");
                }
                self.state(id)?.emit = Emit::Emitted;
            }
            BodyView::Ptr { target }
            | BodyView::Volatile { target }
            | BodyView::Const { target }
            | BodyView::Restrict { target }
            | BodyView::TypeTag { target } => self.emit(target, cont_id, depth + 1)?,
            BodyView::Array { elem, .. } => self.emit(elem, cont_id, depth + 1)?,
            BodyView::Fwd { is_union } => {
                self.emit_fwd_def(id, is_union)?;
                self.out.push_str(";\n\n");
                self.state(id)?.emit = Emit::Emitted;
            }
            BodyView::Typedef { target } => {
                self.state(id)?.emit = Emit::Emitting;
                self.emit(target, id, depth + 1)?;
                // Someone may have needed the typedef as a forward declaration already.
                if !self.state(id)?.fwd_emitted && !is_builtin(t.kind(), name) {
                    self.emit_typedef_def(id, target, 0)?;
                    self.out.push_str(";\n\n");
                }
                self.state(id)?.emit = Emit::Emitted;
            }
            BodyView::Struct { members, .. } | BodyView::Union { members, .. } => {
                self.state(id)?.emit = Emit::Emitting;
                let anonymous = name.is_empty();
                if top_level || anonymous {
                    // The members will be written out: their types need declarations.
                    let new_cont = if anonymous { cont_id } else { id };
                    for m in members {
                        self.emit(m.type_id, new_cont, depth + 1)?;
                    }
                } else if !self.state(id)?.fwd_emitted && id != cont_id {
                    self.emit_record_fwd(&t)?;
                    self.out.push_str(";\n\n");
                    self.state(id)?.fwd_emitted = true;
                }
                if top_level {
                    self.emit_struct_def(&t, 0, 0)?;
                    self.out.push_str(";\n\n");
                    self.state(id)?.emit = Emit::Emitted;
                } else {
                    self.state(id)?.emit = Emit::NotEmitted;
                }
            }
            BodyView::FuncProto { ret, params } => {
                self.emit(ret, cont_id, depth + 1)?;
                for p in params {
                    self.emit(p.type_id, cont_id, depth + 1)?;
                }
            }
            BodyView::Void
            | BodyView::Func { .. }
            | BodyView::Var { .. }
            | BodyView::Datasec { .. }
            | BodyView::DeclTag { .. } => {}
        }
        Ok(())
    }

    /// A type met again while it is being written: a struct or union gets its forward
    /// declaration (unless it is the one being defined), a typedef its definition, which
    /// serves for pointers to it.
    fn emit_fwd_of_emitting(
        &mut self,
        t: &TypeView<'b>,
        name: &str,
        cont_id: u32,
    ) -> Result<(), DumpError> {
        let id = t.id();
        if self.state(id)?.fwd_emitted {
            return Ok(());
        }
        match t.body() {
            BodyView::Struct { .. } | BodyView::Union { .. } => {
                if id == cont_id {
                    return Ok(());
                }
                if name.is_empty() {
                    return Err(DumpError::Cycle { id });
                }
                self.emit_record_fwd(t)?;
                self.out.push_str(";\n\n");
                self.state(id)?.fwd_emitted = true;
            }
            BodyView::Typedef { target } => {
                if !is_builtin(t.kind(), name) {
                    self.emit_typedef_def(id, target, 0)?;
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
    fn resolved_name(&mut self, id: u32, ns: Namespace) -> Result<Name<'b>, DumpError> {
        if let Some(name) = self.state(id)?.name {
            return Ok(name);
        }
        let t = self.view(id)?;
        let own = self.name_of(&t, t.name_off())?;
        if own.is_empty() {
            return Ok(Name::plain(""));
        }
        // A forward declaration, or an enum without values, declares and never clashes.
        let declares_only = match t.kind() {
            Kind::Fwd => true,
            Kind::Enum | Kind::Enum64 => t.vlen() == 0,
            _ => false,
        };
        let name = if declares_only {
            Name::plain(own)
        } else {
            self.dedup_name(own, ns)
        };
        self.state(id)?.name = Some(name);
        Ok(name)
    }

    /// Counts one more use of `name` in `ns`; the first keeps it, the N-th is `name___N`.
    fn dedup_name(&mut self, name: &'b str, ns: Namespace) -> Name<'b> {
        let names = match ns {
            Namespace::Tag => &mut self.tag_names,
            Namespace::Ident => &mut self.ident_names,
        };
        let count = names.entry(name).or_insert(0);
        *count += 1;
        Name {
            text: name,
            nth: *count,
        }
    }

    /// `struct sock` / `union bpf_attr`.
    fn emit_record_fwd(&mut self, t: &TypeView<'b>) -> Result<(), DumpError> {
        self.emit_fwd_def(t.id(), t.kind() == Kind::Union)
    }

    /// `struct x` or `union x` (a FWD, or a record named before its definition).
    fn emit_fwd_def(&mut self, id: u32, is_union: bool) -> Result<(), DumpError> {
        let name = self.resolved_name(id, Namespace::Tag)?;
        self.out
            .push_str(if is_union { "union " } else { "struct " });
        name.push_to(&mut self.out);
        Ok(())
    }

    /// `typedef <decl of target named name>`.
    fn emit_typedef_def(&mut self, id: u32, target: u32, lvl: usize) -> Result<(), DumpError> {
        let name = self.resolved_name(id, Namespace::Ident)?;
        // Old GCC wrote `__gnuc_va_list` as a typedef of void; C needs the builtin.
        if target == 0 && name.is("__gnuc_va_list") {
            self.out
                .push_str("typedef __builtin_va_list __gnuc_va_list");
            return Ok(());
        }
        self.out.push_str("typedef ");
        self.emit_decl(target, name, lvl)?;
        self.emit_decl_tags(id, -1);
        Ok(())
    }

    /// ` __attribute__((btf_decl_tag("x")))` for each decl tag on `id` (or its member
    /// `component`).
    fn emit_decl_tags(&mut self, id: u32, component: i32) {
        if !self.states.get(id as usize).is_some_and(|s| s.tagged) {
            return;
        }
        if let Some(tags) = self.decl_tags.get(&id) {
            for &(idx, name) in tags {
                if idx == component {
                    let _ = write!(self.out, " __attribute__((btf_decl_tag(\"{name}\")))");
                }
            }
        }
    }

    /// An enum with its values; sizes other than `int`'s are forced with `mode`.
    fn emit_enum_def(&mut self, t: &TypeView<'b>, lvl: usize) -> Result<(), DumpError> {
        let id = t.id();
        let name = self.resolved_name(id, Namespace::Tag)?;
        let (size, signed, values, is64) = match t.body() {
            BodyView::Enum {
                size,
                signed,
                values,
            } => (size, signed, values, false),
            BodyView::Enum64 {
                size,
                signed,
                values,
            } => (size, signed, values, true),
            _ => return Err(DumpError::UnexpectedKind { id, kind: t.kind() }),
        };
        self.out
            .push_str(if name.is_empty() { "enum" } else { "enum " });
        name.push_to(&mut self.out);
        if values.len() == 0 {
            return Ok(());
        }
        self.out.push_str(" {");
        for v in values.clone() {
            let vname = self.dedup_name(self.name_of(t, v.name_off)?, Namespace::Ident);
            push_line(&mut self.out, lvl + 1);
            vname.push_to(&mut self.out);
            self.out.push_str(" = ");
            let _ = match (is64, signed) {
                (true, true) => write!(self.out, "{}LL", v.value as i64),
                (true, false) => write!(self.out, "{}ULL", v.value),
                (false, true) => write!(self.out, "{}", v.value as u32 as i32),
                (false, false) => write!(self.out, "{}", v.value as u32),
            };
            self.out.push(',');
        }
        push_line(&mut self.out, lvl);
        self.out.push('}');
        if size == 1 {
            self.out.push_str(" __attribute__((mode(byte)))");
        } else if size == 8 {
            // A 32-bit ENUM of 8 bytes, or an ENUM64 whose values all fit in 32 bits,
            // is 8 bytes only if told so.
            let needs_word = !is64 || values.clone().all(|v| v.value >> 32 == 0);
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
        t: &TypeView<'b>,
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        let id = t.id();
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        let (is_struct, size, members) = match t.body() {
            BodyView::Struct { size, members } => (true, size, members),
            BodyView::Union { size, members } => (false, size, members),
            _ => return Err(DumpError::UnexpectedKind { id, kind: t.kind() }),
        };
        let align = self.align_of(id, 0)?;
        let packed = is_struct && self.is_packed(size, members.clone())?;
        let name = self.resolved_name(id, Namespace::Tag)?;
        self.out.push_str(match (is_struct, name.is_empty()) {
            (true, true) => "struct",
            (true, false) => "struct ",
            (false, true) => "union",
            (false, false) => "union ",
        });
        name.push_to(&mut self.out);
        self.emit_decl_tags(id, -1);
        self.out.push_str(" {");
        let empty = members.len() == 0;
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        for (index, m) in members.enumerate() {
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
            push_line(&mut self.out, lvl + 1);
            let m_name = Name::plain(self.name_of(t, m.name_off)?);
            self.emit_decl_at(m.type_id, m_name, lvl + 1, depth + 1)?;
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
        if !empty || size != 0 {
            push_line(&mut self.out, lvl);
        }
        self.out.push('}');
        if packed {
            self.out.push_str(" __attribute__((packed))");
        }
        Ok(())
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
                push_line(&mut self.out, lvl);
                let _ = write!(self.out, "{pad_type}: {width};");
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
            push_line(&mut self.out, lvl);
            let _ = write!(self.out, "{pad_type}: {bits};");
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
        let t = self.view(id)?;
        Ok(match t.body() {
            BodyView::Int { size, .. }
            | BodyView::Enum { size, .. }
            | BodyView::Enum64 { size, .. }
            | BodyView::Float { size } => size.clamp(1, PTR_SIZE),
            BodyView::Ptr { .. } => PTR_SIZE,
            BodyView::Typedef { target }
            | BodyView::Volatile { target }
            | BodyView::Const { target }
            | BodyView::Restrict { target }
            | BodyView::TypeTag { target } => self.align_of(target, depth + 1)?,
            BodyView::Array { elem, .. } => self.align_of(elem, depth + 1)?,
            BodyView::Struct { size, members } | BodyView::Union { size, members } => {
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
    fn is_packed(&mut self, size: u32, members: Members<'b>) -> Result<bool, DumpError> {
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
    fn emit_decl(&mut self, id: u32, fname: Name<'b>, lvl: usize) -> Result<(), DumpError> {
        self.emit_decl_at(id, fname, lvl, 0)
    }

    fn emit_decl_at(
        &mut self,
        id: u32,
        fname: Name<'b>,
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        if depth > MAX_DEPTH {
            return Err(DumpError::TooDeep { id });
        }
        let mut decls = self.spare_chains.pop().unwrap_or_default();
        let written = match self.decl_chain(id, &mut decls) {
            Ok(()) => self.emit_chain(&mut decls, fname, lvl, depth),
            Err(e) => Err(e),
        };
        decls.clear();
        self.spare_chains.push(decls);
        written
    }

    /// The chain from a declared type to its base type, into `decls`: pointers,
    /// qualifiers, arrays and function prototypes, ending at a named or record type (or
    /// `void`, id 0).
    fn decl_chain(&self, id: u32, decls: &mut Vec<u32>) -> Result<(), DumpError> {
        let mut cur = id;
        loop {
            if decls.len() > MAX_DEPTH {
                return Err(DumpError::TooDeep { id });
            }
            decls.push(cur);
            if cur == 0 {
                break;
            }
            let t = self.view(cur)?;
            match t.body() {
                BodyView::Ptr { target }
                | BodyView::Volatile { target }
                | BodyView::Const { target }
                | BodyView::Restrict { target }
                | BodyView::TypeTag { target } => cur = target,
                BodyView::FuncProto { ret, .. } => cur = ret,
                BodyView::Array { elem, .. } => cur = elem,
                BodyView::Int { .. }
                | BodyView::Float { .. }
                | BodyView::Enum { .. }
                | BodyView::Enum64 { .. }
                | BodyView::Fwd { .. }
                | BodyView::Struct { .. }
                | BodyView::Union { .. }
                | BodyView::Typedef { .. } => break,
                _ => {
                    return Err(DumpError::UnexpectedKind {
                        id: cur,
                        kind: t.kind(),
                    })
                }
            }
        }
        Ok(())
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

    fn emit_name(&mut self, fname: Name<'b>, last_was_ptr: bool) {
        if !fname.is_empty() && !last_was_ptr {
            self.out.push(' ');
        }
        fname.push_to(&mut self.out);
    }

    /// Writes a chain inside out: the base type first, then what wraps it, the name where
    /// C puts it (libbpf's `btf_dump_emit_type_chain`).
    fn emit_chain(
        &mut self,
        decls: &mut Vec<u32>,
        fname: Name<'b>,
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
            let t = self.view(id)?;
            // Typedefs and records are written by their resolved names (cached); the
            // others' own names are read only where they are written.
            match t.body() {
                BodyView::Int { .. } | BodyView::Float { .. } => {
                    self.emit_mods(decls)?;
                    self.out.push_str(self.name_of(&t, t.name_off())?);
                }
                BodyView::Struct { .. } | BodyView::Union { .. } => {
                    self.emit_mods(decls)?;
                    if self.name_of(&t, t.name_off())?.is_empty() {
                        self.emit_struct_def(&t, lvl, depth + 1)?;
                    } else {
                        self.emit_record_fwd(&t)?;
                    }
                }
                BodyView::Enum { .. } | BodyView::Enum64 { .. } => {
                    self.emit_mods(decls)?;
                    if self.name_of(&t, t.name_off())?.is_empty() {
                        self.emit_enum_def(&t, lvl)?;
                    } else {
                        let name = self.resolved_name(id, Namespace::Tag)?;
                        self.out.push_str("enum ");
                        name.push_to(&mut self.out);
                    }
                }
                BodyView::Fwd { is_union } => {
                    self.emit_mods(decls)?;
                    self.emit_fwd_def(id, is_union)?;
                }
                BodyView::Typedef { .. } => {
                    self.emit_mods(decls)?;
                    let name = self.resolved_name(id, Namespace::Ident)?;
                    name.push_to(&mut self.out);
                }
                BodyView::Ptr { .. } => {
                    self.out.push_str(if last_was_ptr { "*" } else { " *" });
                }
                BodyView::Volatile { .. } => self.out.push_str(" volatile"),
                BodyView::Const { .. } => self.out.push_str(" const"),
                BodyView::Restrict { .. } => self.out.push_str(" restrict"),
                BodyView::TypeTag { .. } => {
                    self.emit_mods(decls)?;
                    let name = self.name_of(&t, t.name_off())?;
                    let _ = write!(self.out, " __attribute__((btf_type_tag(\"{name}\")))");
                }
                BodyView::Array { nelems, .. } => {
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
                BodyView::FuncProto { params, .. } => {
                    self.drop_mods(decls);
                    if decls.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                    } else {
                        self.out.push_str(" (");
                        self.emit_chain(decls, fname, lvl, depth + 1)?;
                        self.out.push(')');
                    }
                    self.emit_params(&t, params, lvl, depth)?;
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
        proto: &TypeView<'b>,
        params: Params<'b>,
        lvl: usize,
        depth: usize,
    ) -> Result<(), DumpError> {
        self.out.push('(');
        let count = params.len();
        if count == 0 || (count == 1 && params.clone().next().map(|p| p.type_id) == Some(0)) {
            self.out.push_str("void)");
            return Ok(());
        }
        for (i, p) in params.enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            if i == count - 1 && p.type_id == 0 {
                self.out.push_str("...");
                break;
            }
            let p_name = Name::plain(self.name_of(proto, p.name_off)?);
            self.emit_decl_at(p.type_id, p_name, lvl, depth + 1)?;
        }
        self.out.push(')');
        Ok(())
    }
}

#[cfg(test)]
mod tests;
