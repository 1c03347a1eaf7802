//! A guided tour of any eBPF object, rendered as text: what the loader reads from it and
//! what it will do with it, for a reader learning how loading works.
//!
//! A pure function of an [`ObjectSpec`]: nothing here touches the kernel. It shows what
//! the loader reads from the object and what it will do with it: the ELF sections, the
//! license, the maps with every attribute, each program with its relocations, its
//! disassembly before and after relocation (with placeholder fds, since no map exists
//! yet, printed `map[#1 events]`, map #1 of the object, so that they cannot be taken for
//! real fds), its CO-RE records spelled out, and a summary of the BTF. With
//! [`Options::bytes`], each map reference's bytes before and after relocation too.
//!
//! One numbering of instructions everywhere: `insn N` is the instruction's index in the
//! program as the kernel receives it (the linked program: the function, then the
//! subprograms it calls), which is the numbering of the verifier's log. Where an ELF
//! record says where a site came from, that is a byte offset (`r_offset`) in its section.
//!
//! ABI: none of its own; it names what the other modules speak (`include/uapi/linux/bpf.h`,
//! `include/uapi/linux/btf.h`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::btf::core::CoreFixup;
use crate::btf::ext::{CoreRelo, LineInfo};
use crate::btf::{Btf, Kind, TypeBody};
use crate::elf::{AttachTarget, MapKind, MapSpec, ObjectSpec, ProgramSpec};
use crate::insn::disasm::{disassemble, disassemble_with};
use crate::insn::Insn;
use crate::uapi::{MapType, BPF_F_RDONLY_PROG};

/// What to show beyond the tour itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Each map reference's 8-byte slots before and after relocation, in hex
    /// (`18 02 00 00 00 00 00 00` -> `18 12 00 00 01 00 00 00`), with what each byte is.
    pub bytes: bool,
}

/// Renders the whole tour. `title` names the object (its path, usually).
pub fn render(spec: &ObjectSpec, title: &str) -> String {
    render_with(spec, title, &Options::default())
}

/// [`render`], with what `options` asks for.
pub fn render_with(spec: &ObjectSpec, title: &str, options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "eBPF object {title}");
    let _ = writeln!(out, "{}", "=".repeat(11 + title.len()));
    sections(&mut out, spec);
    license(&mut out, spec);
    maps(&mut out, spec);
    externs(&mut out, spec);
    for program in &spec.programs {
        self::program(&mut out, spec, program, options);
    }
    btf_summary(&mut out, spec);
    out
}

/// The `__kconfig` and `__ksym` externs, if the object has any.
fn externs(out: &mut String, spec: &ObjectSpec) {
    if spec.externs.is_empty() {
        return;
    }
    heading(out, "Externs");
    explain(
        out,
        "",
        "Values the object does not define: __kconfig ones are read from the kernel's \
         config (or are libbpf's LINUX_* values) into the .kconfig map; __ksym ones are \
         kernel functions and variables, found by name in the kernel's BTF or kallsyms \
         when the programs are loaded. A __weak one that is missing is 0.",
    );
    for (index, ext) in spec.externs.iter().enumerate() {
        let _ = writeln!(out, "  #{index} {ext}");
    }
}

/// Renders what CO-RE does to each program against `target` (the running kernel's BTF,
/// or a BTF file of another kernel): for every record, the local access, the value clang
/// computed, the value on the target, and the instruction before and after. Programs
/// are relocated with placeholder map fds (map #i, printed `map[#i NAME]`), as in
/// [`render`].
pub fn render_core(spec: &ObjectSpec, target: &Btf, target_name: &str) -> String {
    let mut out = String::new();
    heading(&mut out, &format!("CO-RE against {target_name}"));
    explain(
        &mut out,
        "  ",
        "Each record of .BTF.ext, resolved in the target BTF: the field's offset (or size, \
         existence, ...) as clang computed it from the object's own BTF, then as it is on the \
         target, and the instruction the loader rewrites. `insn N` is the instruction's \
         index in the program as the kernel receives it (the verifier log's numbering). A \
         field the target lacks poisons its instruction: `call unknown#195896080`, as the \
         verifier and bpftool print it (= 0xbad2310, libbpf's name for it): the verifier \
         then refuses the program, unless the code guards the read with \
         bpf_core_field_exists.",
    );
    let fds: Vec<i32> = (0..spec.maps.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    for program in &spec.programs {
        let _ = writeln!(out, "\n  program {}:", program.name);
        let relocated = match spec.relocate(&program.name, &fds, Some(target)) {
            Ok(relocated) => relocated,
            Err(error) => {
                let _ = writeln!(out, "    cannot be relocated: {}", chain(&error));
                continue;
            }
        };
        for fixup in &relocated.core {
            let _ = writeln!(out, "    insn {:<4} {fixup}", fixup.insn_index);
        }
        let poisoned = relocated.core.iter().filter(|f| f.poisoned).count();
        let _ = writeln!(
            out,
            "    {} records, {} resolved, {} poisoned",
            relocated.core.len(),
            relocated.core.len() - poisoned,
            poisoned
        );
    }
    out
}

/// An error and its causes on one line: `program p: function f: opcode 0xb7 is not ...`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let _ = write!(line, ": {inner}");
        cause = inner.source();
    }
    line
}

fn heading(out: &mut String, text: &str) {
    let _ = writeln!(out, "\n{text}\n{}", "-".repeat(text.len()));
}

/// Wraps `text` at 88 columns, each line indented by `indent`.
fn explain(out: &mut String, indent: &str, text: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > 88 {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
}

fn sections(out: &mut String, spec: &ObjectSpec) {
    heading(out, "ELF sections");
    explain(
        out,
        "",
        "An eBPF object is a relocatable ELF file (ET_REL, machine EM_BPF) as clang writes \
         it. Each program sits in a section named after where it attaches; `.text` holds \
         functions the programs call; `.rel*` sections list the places where the code \
         needs something only the loader knows (a map, a variable's address, a callee).",
    );
    let width = spec
        .sections
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "  {:>3}  {:<width$}  {:>7}  role",
        "#", "name", "bytes"
    );
    for section in spec.sections.iter().filter(|s| s.index != 0) {
        let _ = writeln!(
            out,
            "  {:>3}  {:<width$}  {:>7}  {}",
            section.index,
            section.name,
            section.size,
            section.kind.describe()
        );
    }
}

fn license(out: &mut String, spec: &ObjectSpec) {
    heading(out, "License");
    if spec.license.is_empty() {
        let _ = writeln!(out, "  (none)");
    } else {
        let _ = writeln!(out, "  {:?}", spec.license);
    }
    explain(
        out,
        "  ",
        "Passed to BPF_PROG_LOAD. The kernel lets only programs with a GPL-compatible \
         license call GPL-only helpers (bpf_probe_read_kernel, bpf_perf_event_output...).",
    );
    if let Some(version) = spec.kernel_version {
        let _ = writeln!(
            out,
            "  kernel version {}.{}.{} (from the `version` section; only very old kernels check it)",
            version >> 16,
            (version >> 8) & 0xff,
            version & 0xff
        );
    }
}

/// `u64 (BTF type 8)`, `struct pending_connect (BTF type 12)`.
fn type_label(btf: Option<&Btf>, id: u32) -> String {
    if id == 0 {
        return "no BTF type".to_string();
    }
    match btf.and_then(|btf| btf.type_by_id(id).ok()) {
        Some(t) => format!("{}, BTF type {id}", type_name(&t.name, t.kind())),
        None => format!("BTF type {id}"),
    }
}

/// `struct sock`, `u64`, `DATASEC .rodata`.
fn type_name(name: &str, kind: Kind) -> String {
    let name = if name.is_empty() { "(anon)" } else { name };
    match kind {
        Kind::Struct => format!("struct {name}"),
        Kind::Union => format!("union {name}"),
        Kind::Enum | Kind::Enum64 => format!("enum {name}"),
        Kind::Fwd => format!("forward {name}"),
        Kind::Int | Kind::Typedef | Kind::Float => name.to_string(),
        other => format!("{other} {name}"),
    }
}

fn maps(out: &mut String, spec: &ObjectSpec) {
    heading(out, "Maps");
    explain(
        out,
        "",
        "Maps are memory the programs share with each other and with user space, created \
         with BPF_MAP_CREATE before the programs are loaded. Those in `.maps` are declared \
         in C and described by BTF; each global data section (.rodata, .data, .bss) becomes \
         an array of one element whose value is the whole section.",
    );
    if spec.maps.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    let btf = spec.btf.as_ref();
    for (index, map) in spec.maps.iter().enumerate() {
        map_entry(out, btf, index, map);
    }
}

fn map_entry(out: &mut String, btf: Option<&Btf>, index: usize, map: &MapSpec) {
    let _ = writeln!(out, "\n  map #{index} {} (from {})", map.name, map.section);
    let field = |out: &mut String, name: &str, value: String| {
        let _ = writeln!(out, "      {name:<12} {value}");
    };
    field(
        out,
        "type",
        format!("{} (BPF_MAP_TYPE_*, {})", map.map_type, map.map_type.0),
    );
    field(
        out,
        "key",
        format!(
            "{} bytes ({})",
            map.key_size,
            type_label(btf, map.btf_key_type_id)
        ),
    );
    field(
        out,
        "value",
        format!(
            "{} bytes ({})",
            map.value_size,
            type_label(btf, map.btf_value_type_id)
        ),
    );
    let entries = if map.map_type == MapType::PERF_EVENT_ARRAY && map.max_entries == 0 {
        "0: one per possible CPU, filled in by the loader".to_string()
    } else {
        map.max_entries.to_string()
    };
    field(out, "max_entries", entries);
    let flags = if map.map_flags == 0 {
        "0".to_string()
    } else if map.map_flags == BPF_F_RDONLY_PROG {
        format!(
            "{:#x} BPF_F_RDONLY_PROG: programs may only read it",
            map.map_flags
        )
    } else {
        format!("{:#x}", map.map_flags)
    };
    field(out, "map_flags", flags);
    if map.numa_node != 0 || map.map_extra != 0 || map.pinning != 0 {
        field(
            out,
            "other",
            format!(
                "numa_node {}, map_extra {}, pinning {}",
                map.numa_node, map.map_extra, map.pinning
            ),
        );
    }
    if let Some(inner) = &map.inner {
        field(out, "inner maps", inner.to_string());
    }
    if !map.init_slots.is_empty() {
        let slots: Vec<String> = map
            .init_slots
            .iter()
            .map(|(slot, name)| format!("[{slot}] = {name}"))
            .collect();
        field(
            out,
            "initial",
            format!(
                "{} ({})",
                slots.join(", "),
                if map.map_type == MapType::PROG_ARRAY {
                    "set once the programs are loaded"
                } else {
                    "set once every map is created"
                }
            ),
        );
    }
    let note = match map.kind {
        MapKind::Btf | MapKind::Legacy => return,
        MapKind::Rodata => {
            "constants: the loader writes the configuration here, then freezes the map"
        }
        MapKind::Data => "initialised globals",
        MapKind::Bss => "zero-initialised globals",
        MapKind::Kconfig => "__kconfig extern values, filled before load, then frozen",
    };
    let nonzero = map.initial.iter().filter(|&&b| b != 0).count();
    field(
        out,
        "initial",
        format!("{} bytes, {nonzero} not zero ({note})", map.initial.len()),
    );
}

/// `#1 events` for placeholder fd 1: map #1 of the object (inspect relocates with each
/// map's index as its fd, since no map exists yet).
fn placeholder(spec: &ObjectSpec, imm: i32) -> Option<String> {
    let map = spec.maps.get(usize::try_from(imm).ok()?)?;
    Some(format!("#{imm} {}", map.name))
}

fn program(out: &mut String, spec: &ObjectSpec, program: &ProgramSpec, options: &Options) {
    let names = |imm: i32| placeholder(spec, imm);
    heading(out, &format!("Program {}", program.name));
    let field = |out: &mut String, name: &str, value: String| {
        let _ = writeln!(out, "  {name:<13} {value}");
    };
    field(out, "section", program.section.clone());
    field(
        out,
        "type",
        format!(
            "{} (BPF_PROG_TYPE_*, {})",
            program.prog_type,
            program.prog_type.as_u32()
        ),
    );
    let attach = match &program.attach {
        AttachTarget::None if program.prog_type.as_u32() == 0 => {
            "unknown section name: this loader cannot load it".to_string()
        }
        _ => program.attach_description(),
    };
    field(out, "attaches to", attach);
    if program.expected_attach_type != crate::uapi::AttachType::NONE || program.prog_flags != 0 {
        let mut load = format!("expected_attach_type {}", program.expected_attach_type.0);
        if let Some((name, kind)) = program.attach_btf_name() {
            load.push_str(&format!(", attach_btf_id of {} {name}", kind.name()));
        }
        if program.sleepable() {
            load.push_str(", sleepable (BPF_F_SLEEPABLE)");
        }
        if program.prog_flags & crate::uapi::BPF_F_XDP_HAS_FRAGS != 0 {
            load.push_str(", multi-buffer (BPF_F_XDP_HAS_FRAGS)");
        }
        field(out, "loaded with", load);
    }
    field(
        out,
        "instructions",
        format!("{} (8-byte slots)", program.insns.len()),
    );

    // Placeholder fds: map #i gets fd i, printed `map[#i NAME]`.
    let fds: Vec<i32> = (0..spec.maps.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    // CO-RE against the object's own BTF: the instructions stay as compiled, and
    // `btf::core` spells out each record (`local_access`) with the value clang computed.
    let relocated = spec
        .relocate(&program.name, &fds, spec.btf.as_ref())
        .or_else(|_| spec.relocate(&program.name, &fds, None));
    let relocated = match relocated {
        Ok(relocated) => relocated,
        Err(error) => {
            let _ = writeln!(out, "  cannot be relocated: {}", chain(&error));
            return;
        }
    };
    let parts: Vec<&ProgramSpec> = relocated
        .layout
        .iter()
        .filter_map(|(name, _)| {
            std::iter::once(program)
                .chain(&spec.subprograms)
                .find(|p| &p.name == name)
        })
        .collect();
    if relocated.layout.len() > 1 {
        let callees: Vec<String> = relocated
            .layout
            .iter()
            .skip(1)
            .map(|(name, start)| format!("{name} at insn {start}"))
            .collect();
        field(
            out,
            "linked",
            format!(
                "{} instructions (insn 0-{}), {}",
                relocated.insns.len(),
                relocated.insns.len().saturating_sub(1),
                callees.join(", ")
            ),
        );
    }

    let _ = writeln!(out, "\n  Relocations ({}):", relocated.applied.len());
    explain(
        out,
        "    ",
        "Each site: `insn N` (the kernel's numbering), the function it came from, what it \
         now refers to and the instruction before -> after; then the ELF record it came \
         from (its byte offset in its section). No map exists yet: `map[#1 events]` is map \
         #1 of the object, whose fd the loader writes into the instruction at load.",
    );
    if options.bytes {
        explain(
            out,
            "    ",
            "Bytes: the 8 of each slot as the kernel reads them. Byte 0 is the opcode (0x18: \
             ld_imm64, two slots); byte 1 is src_reg << 4 | dst_reg, and src_reg 1 \
             (BPF_PSEUDO_MAP_FD) or 2 (BPF_PSEUDO_MAP_VALUE) tells the verifier that imm is \
             a map's fd; bytes 4-7 are imm, little-endian: here the placeholder, at load the \
             real fd. For a map's value, the second slot's imm is the offset in the value.",
        );
    }
    for applied in &relocated.applied {
        let _ = writeln!(
            out,
            "    {}\n               ({} record in {} at offset {}, symbol {})",
            applied.render(&names),
            applied.kind.name(),
            applied.section,
            applied.section_insn * 8,
            applied.symbol,
        );
        if options.bytes && applied.is_map_reference() {
            let _ = writeln!(out, "               bytes {}", applied.bytes());
        }
    }

    core_records(out, spec, &parts, &relocated.layout, &relocated.core);

    let _ = writeln!(
        out,
        "\n  Disassembly, before and after relocation (placeholder fds):"
    );
    explain(
        out,
        "    ",
        "Numbers are insn numbers (the kernel's); lines starting with ';' are the source \
         lines clang recorded (line_info). A '*' marks an instruction the loader changed.",
    );
    let mut before = Vec::with_capacity(relocated.insns.len());
    let mut lines: BTreeMap<usize, &LineInfo> = BTreeMap::new();
    let mut starts: BTreeMap<usize, &ProgramSpec> = BTreeMap::new();
    for (part, (_, start)) in parts.iter().zip(&relocated.layout) {
        before.extend_from_slice(&part.insns);
        starts.insert(*start, part);
        for line in &part.line_info {
            lines.insert(start + line.insn_off as usize / 8, line);
        }
    }
    let before_text: BTreeMap<usize, String> =
        disassemble_with(&before, &names).into_iter().collect();
    let btf = spec.btf.as_ref();
    let mut last_line = None;
    for (slot, text) in disassemble_with(&relocated.insns, &names) {
        if let Some(part) = starts.get(&slot) {
            let _ = writeln!(out, "    <{}> (from {})", part.name, part.section);
            last_line = None;
        }
        if let Some(line) = lines.get(&slot) {
            // Consecutive records of one source line are shown once.
            if last_line != Some((line.line_off, line.line())) {
                let source = btf.and_then(|b| b.name(line.line_off).ok()).unwrap_or("");
                if !source.trim().is_empty() {
                    let _ = writeln!(out, "      ; {}   [line {}]", source.trim(), line.line());
                }
                last_line = Some((line.line_off, line.line()));
            }
        }
        let old = before_text.get(&slot).cloned().unwrap_or_default();
        if old == text {
            let _ = writeln!(out, "     {slot:>4}: {text}");
        } else {
            let _ = writeln!(out, "    *{slot:>4}: {old:<34} => {text}");
        }
    }
}

fn core_records(
    out: &mut String,
    spec: &ObjectSpec,
    parts: &[&ProgramSpec],
    layout: &[(String, usize)],
    core: &[CoreFixup],
) {
    let count: usize = parts.iter().map(|p| p.core_relos.len()).sum();
    let _ = writeln!(out, "\n  CO-RE relocations ({count}):");
    explain(
        out,
        "    ",
        "Compile Once, Run Everywhere: clang compiled field offsets against its own \
         headers and recorded each access here; the loader looks the same fields up in \
         the running kernel's BTF and rewrites the instruction. `insn N` is the \
         instruction's index in the linked program (the kernel's numbering); the value is \
         the one clang computed.",
    );
    // `btf::core` gives one fix-up per record, in the same order, when it could run.
    let mut fixups = (core.len() == count).then(|| core.iter());
    let btf = spec.btf.as_ref();
    for (part, (_, start)) in parts.iter().zip(layout) {
        for relo in &part.core_relos {
            let slot = relo.insn_off as usize / 8;
            let insn = part
                .insns
                .get(slot..)
                .map(text_of_first)
                .unwrap_or_default();
            let raw: Vec<String> = relo.access.iter().map(u32::to_string).collect();
            let spelled = match fixups.as_mut().and_then(Iterator::next) {
                Some(fixup) => format!("{} = {}", fixup.local_access, fixup.local_value),
                None => btf
                    .and_then(|btf| spell_access(btf, relo))
                    .unwrap_or_else(|| format!("type {}", relo.type_id)),
            };
            let _ = writeln!(
                out,
                "    insn {:<4} {:<14} {spelled} ({})   {insn}",
                start + slot,
                relo.kind.name(),
                raw.join(":"),
            );
        }
    }
}

fn text_of_first(insns: &[Insn]) -> String {
    disassemble(insns.get(..2.min(insns.len())).unwrap_or_default())
        .into_iter()
        .next()
        .map(|(_, text)| text)
        .unwrap_or_default()
}

/// `struct sock.__sk_common.skc_family` for a field access `0:0:2` from `struct sock`;
/// `struct task_struct` for a type relocation; `enum e::VALUE` for an enumerator.
pub fn spell_access(btf: &Btf, relo: &CoreRelo) -> Option<String> {
    let root_id = btf.skip_mods_and_typedefs(relo.type_id).ok()?;
    let root = btf.type_by_id(root_id).ok()?;
    let mut text = type_name(&root.name, root.kind());
    if relo.kind.is_type() {
        return Some(text);
    }
    if relo.kind.is_enumval() {
        let index = *relo.access.first()? as usize;
        let (TypeBody::Enum { values, .. } | TypeBody::Enum64 { values, .. }) = &root.body else {
            return None;
        };
        let _ = write!(text, "::{}", values.get(index)?.name);
        return Some(text);
    }
    let (&first, rest) = relo.access.split_first()?;
    if first != 0 {
        let _ = write!(text, "[{first}]");
    }
    let mut id = root_id;
    // Each step goes one level down: bounded by the access string's length.
    for &index in rest {
        id = btf.skip_mods_and_typedefs(id).ok()?;
        match btf.type_by_id(id).ok()?.body {
            TypeBody::Struct { members, .. } | TypeBody::Union { members, .. } => {
                let member = members.get(index as usize)?;
                let name = if member.name.is_empty() {
                    "(anon)"
                } else {
                    &member.name
                };
                let _ = write!(text, ".{name}");
                id = member.type_id;
            }
            TypeBody::Array { elem, .. } => {
                let _ = write!(text, "[{index}]");
                id = elem;
            }
            _ => return None,
        }
    }
    Some(text)
}

fn btf_summary(out: &mut String, spec: &ObjectSpec) {
    heading(out, "BTF");
    explain(
        out,
        "",
        "BTF describes the object's types (map keys and values, function signatures, the \
         kernel structures it reads) for the verifier and for CO-RE. `.BTF.ext` adds, per \
         code section, where each function starts (func_info), which source line each \
         slot comes from (line_info) and the CO-RE records.",
    );
    let Some(btf) = spec.btf.as_ref() else {
        let _ = writeln!(out, "  (no .BTF section)");
        return;
    };
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    for id in 1..btf.len() {
        if let Ok(kind) = btf.kind(id) {
            *kinds.entry(kind.name()).or_default() += 1;
        }
    }
    let bytes = btf.as_bytes();
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    };
    let _ = writeln!(
        out,
        "  {} types (ids 1..{}), type section {} bytes, strings {} bytes",
        btf.len().saturating_sub(1),
        btf.len().saturating_sub(1),
        word(12),
        word(20)
    );
    let per_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    explain(out, "  ", &format!("by kind: {}", per_kind.join(", ")));
    if let Some(ext) = &spec.btf_ext {
        let func: usize = ext.func_info.iter().map(|s| s.records.len()).sum();
        let line: usize = ext.line_info.iter().map(|s| s.records.len()).sum();
        let core: usize = ext.core_relos.iter().map(|s| s.records.len()).sum();
        let _ = writeln!(
            out,
            "  .BTF.ext: {} func_info, {} line_info, {} CO-RE records",
            func, line, core
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

    #[test]
    fn spells_accesses_without_btf_core() {
        let spec = ObjectSpec::parse(OBJECT).unwrap();
        let btf = spec.btf.as_ref().unwrap();
        let spelled: Vec<String> = spec.programs[0]
            .core_relos
            .iter()
            .map(|relo| spell_access(btf, relo).unwrap())
            .collect();
        assert_eq!(spelled[0], "struct pt_regs.di");
        assert_eq!(spelled[3], "struct mnt_namespace.ns.inum");
        assert_eq!(spelled[5], "struct sock.__sk_common.skc_family");
        assert_eq!(spelled[7], "struct task_struct.loginuid.val");
    }

    #[test]
    fn renders_the_tour_of_the_real_object() {
        let spec = ObjectSpec::parse_named(OBJECT, "main").unwrap();
        let text = render(&spec, "bpf/main.bpf.o");
        for needle in [
            "eBPF object bpf/main.bpf.o",
            "    4  kprobe/tcp_connect                          2208  program code",
            "  \"GPL\"",
            "  map #1 events (from .maps)",
            "      type         perf_event_array (BPF_MAP_TYPE_*, 4)",
            "      max_entries  0: one per possible CPU, filled in by the loader",
            "      value        48 bytes (struct pending_connect, BTF type 12)",
            "      key          36 bytes (struct flow_key, BTF type 36)",
            "      map_flags    0x80 BPF_F_RDONLY_PROG: programs may only read it",
            "      initial      148 bytes, 4 not zero",
            "Program tcp_connect",
            "  attaches to   entry of kernel function tcp_connect",
            "  instructions  276 (8-byte slots)",
            "  linked        362 instructions (insn 0-361), emit at insn 276",
            "    insn 272 (tcp_connect)          call emit                      call pc-1  ->  call pc+3",
            "               (call record in kprobe/tcp_connect at offset 2176, symbol .text)",
            "    insn 316 (emit)                 map events                     r2 = 0 ll  ->  r2 = map[#1 events] ll",
            "               (map record in .text at offset 320, symbol events)",
            "    *  19: r1 = 0 ll                          => r1 = map[#6 main.rodata][0]+0 ll",
            "    insn  19 (tcp_connect)          global filter_pid (+0)         r1 = 0 ll  ->  r1 = map[#6 main.rodata][0]+0 ll",
            "    <emit> (from .text)",
            "    insn 106  byte_off       struct sock.__sk_common.skc_family = 12 (0:0:4)   r1 = 12",
            "    insn 139  field_exists   struct task_struct.loginuid = 1 (0:0)   r2 = 1",
            "Program inet_sock_set_state",
            "Program tcp_retransmit_skb",
            "  attaches to   tracepoint tcp:tcp_retransmit_skb",
            "  linked        240 instructions (insn 0-239), emit at insn 154",
            "    insn 8    type_exists    struct trace_event_raw_tcp_retransmit_skb = 1 (0)   r2 = 1",
            "    insn 13   byte_off       struct trace_event_raw_tcp_event_sk_skb.skaddr = 16 (0:2)   r2 = 16",
            "  .BTF.ext: 4 func_info, 331 line_info, 68 CO-RE records",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        // No placeholder reads like a real fd; without the option, no bytes.
        assert!(!text.contains("map[fd:"), "{text}");
        assert!(!text.contains("bytes 18 "), "{text}");
    }

    #[test]
    fn bytes_follow_events_from_its_placeholder_to_the_imm_field() {
        let spec = ObjectSpec::parse_named(OBJECT, "main").unwrap();
        let text = render_with(&spec, "bpf/main.bpf.o", &Options { bytes: true });
        // `events` is map #1: emit's `r2 = events` gets src_reg 1 (BPF_PSEUDO_MAP_FD) in
        // byte 1's high nibble and the placeholder 1 in imm (bytes 4-7).
        let site = "    insn 316 (emit)                 map events                     \
                    r2 = 0 ll  ->  r2 = map[#1 events] ll\n               \
                    (map record in .text at offset 320, symbol events)\n               \
                    bytes 18 02 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00  ->  \
                    18 12 00 00 01 00 00 00 | 00 00 00 00 00 00 00 00\n";
        assert!(text.contains(site), "missing {site:?} in:\n{text}");
        // A global: src_reg 2 (BPF_PSEUDO_MAP_VALUE), map #6, the offset in the second slot.
        assert!(
            text.contains(
                "bytes 18 01 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00  ->  \
                 18 21 00 00 06 00 00 00 | 00 00 00 00 04 00 00 00"
            ),
            "{text}"
        );
        // Calls are not map references: no bytes for them.
        let call = text
            .lines()
            .position(|l| l.contains("insn 272 (tcp_connect)          call emit"))
            .unwrap();
        assert!(!text.lines().nth(call + 2).unwrap().contains("bytes"));
    }
}
