//! Relocation and linking: one program of an [`ObjectSpec`] turned into the exact
//! instructions `BPF_PROG_LOAD` takes, once its maps exist.
//!
//! ABI: the pseudo source registers of `ld_imm64` and `call` (`BPF_PSEUDO_MAP_FD`,
//! `BPF_PSEUDO_MAP_VALUE`, `BPF_PSEUDO_CALL` in `include/uapi/linux/bpf.h`,
//! `Documentation/bpf/standardization/instruction-set.rst` "64-bit immediate
//! instructions"), and `struct bpf_func_info` / `struct bpf_line_info` as `BPF_PROG_LOAD`
//! reads them (`Documentation/bpf/btf.rst`, "BPF_PROG_LOAD"): there `insn_off` counts
//! instructions, where `.BTF.ext` counts bytes.
//!
//! The steps, in this order (the order libbpf's `bpf_object__relocate` follows):
//! 1. **Layout**: the program first, then every subprogram it calls, directly or not,
//!    once each, in the order the calls are first met.
//! 2. **CO-RE**: each function's field offsets and sizes rewritten for the running
//!    kernel's types, function by function, before the functions are joined.
//! 3. **Calls**: every bpf-to-bpf call gets `imm = callee_start - call_index - 1`.
//! 4. **Maps and global data**: every `ld_imm64` of a map gets
//!    `src_reg = BPF_PSEUDO_MAP_FD, imm = fd`; of global data,
//!    `src_reg = BPF_PSEUDO_MAP_VALUE, imm = fd` and the second slot's `imm = offset`.
//! 5. **func_info / line_info**: each function's records, shifted by where it now starts
//!    and converted from bytes to instructions.
//!
//! Each site is checked before it is patched (the opcode, the second slot), so a spec
//! that was changed after parsing still cannot produce a wrong program silently.

use std::fmt;

use super::{
    ExternKind, ExternSpec, KsymKind, KsymValue, ObjectSpec, ProgramSpec, RelocProblem,
    RelocationKind,
};
use crate::btf::ext::{FuncInfo, LineInfo};
use crate::btf::Btf;
use crate::insn::{Insn, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, INSN_SIZE};

pub use crate::btf::core::{CoreError, CoreFixup};

/// A program ready for `BPF_PROG_LOAD`.
#[derive(Debug, Clone, Default)]
pub struct RelocatedProgram {
    /// The program's name (its function symbol).
    pub name: String,
    /// The linked instructions: the program, then its subprograms.
    pub insns: Vec<Insn>,
    /// Where each function starts in `insns`: `("tcp_connect", 0)`, `("emit", 169)`.
    pub layout: Vec<(String, usize)>,
    /// `struct bpf_func_info` for `BPF_PROG_LOAD`: `insn_off` in instructions.
    pub func_info: Vec<FuncInfo>,
    /// `struct bpf_line_info` for `BPF_PROG_LOAD`: `insn_off` in instructions.
    pub line_info: Vec<LineInfo>,
    /// Every map, global data and call relocation, in slot order.
    pub applied: Vec<AppliedRelocation>,
    /// The CO-RE fix-ups, in function order (empty without a target BTF); each
    /// `insn_index` is a slot of `insns`.
    pub core: Vec<CoreFixup>,
}

/// One relocation as it was applied: the instruction before and after, for a reader to see
/// what the loader changed (`inspect` and the tool's `--verbose` show it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRelocation {
    /// The function the site belongs to.
    pub function: String,
    /// That function's ELF section.
    pub section: String,
    /// The site's slot in its ELF section (what llvm-objdump -d numbers; the ELF record's
    /// `r_offset` is 8 times it).
    pub section_insn: usize,
    /// The site's index in the linked program, as the kernel receives it: the numbering
    /// of the verifier's log, and the one every output of this crate calls `insn N`.
    pub insn: usize,
    /// The ELF symbol of the record (`events`, `.text`).
    pub symbol: String,
    /// What the record asks for.
    pub kind: RelocationKind,
    /// What the site now refers to: a map's name, a callee's name.
    pub target: String,
    /// The slot(s) before: two for `ld_imm64`, one for a call.
    pub before: Vec<Insn>,
    /// The slot(s) after.
    pub after: Vec<Insn>,
}

impl AppliedRelocation {
    /// [`Display`](std::fmt::Display)'s line, with map references named by `maps`
    /// (before load: `r2 = map[#1 events] ll`, a placeholder that reads as no fd).
    pub fn render(&self, maps: crate::insn::disasm::MapNames<'_>) -> String {
        let what = match self.kind {
            RelocationKind::Map { .. } => format!("map {}", self.target),
            RelocationKind::MapValue { offset, .. } => {
                format!("global {} (+{offset})", self.symbol)
            }
            RelocationKind::Call { .. } => format!("call {}", self.target),
            RelocationKind::Extern { .. } => format!("extern {}", self.target),
            RelocationKind::FuncAddr { .. } => format!("callback {}", self.target),
        };
        format!(
            "insn {:>3} {:<22} {:<30} {}  ->  {}",
            self.insn,
            format!("({})", self.function),
            what,
            crate::insn::disasm::text_with(&self.before, maps),
            crate::insn::disasm::text_with(&self.after, maps)
        )
    }

    /// Is the site a map reference (`ld_imm64` of a map, or of a map's value)?
    pub fn is_map_reference(&self) -> bool {
        matches!(
            self.kind,
            RelocationKind::Map { .. } | RelocationKind::MapValue { .. }
        )
    }

    /// The site's bytes before and after, as the kernel reads them
    /// ([`crate::insn::hex`]): `18 02 00 00 00 00 00 00 | ...  ->  18 12 00 00 06 00 00 00 | ...`.
    pub fn bytes(&self) -> String {
        format!(
            "{}  ->  {}",
            crate::insn::hex(&self.before),
            crate::insn::hex(&self.after)
        )
    }
}

impl std::fmt::Display for AppliedRelocation {
    /// One line: the instruction's index in the linked program (the kernel's numbering),
    /// the function it came from, what the site now refers to, the instruction before ->
    /// after: `insn  22 (tcp_connect)  map events  r2 = 0 ll  ->  r2 = map[fd:4] ll`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(&|_| None))
    }
}

/// Why a program could not be relocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocError {
    /// No program of that name in the object.
    NoSuchProgram {
        /// The name asked for.
        name: String,
    },
    /// `map_fds` must hold one fd per map of the spec.
    MapFdCount {
        /// How many maps the spec has.
        expected: usize,
        /// How many fds were given.
        got: usize,
    },
    /// A site that does not hold what its relocation expects.
    Site(Box<SiteError>),
    /// A relocation naming a map index the spec does not have.
    NoSuchMap {
        /// The program being linked.
        program: String,
        /// The function holding the relocation.
        function: String,
        /// The map index it names.
        map: usize,
    },
    /// A call naming a subprogram index the spec does not have.
    NoSuchSubprogram {
        /// The program being linked.
        program: String,
        /// The function holding the call.
        function: String,
        /// The subprogram index it names.
        callee: usize,
    },
    /// The linked program has more slots than a call's `imm` can span.
    TooLarge {
        /// The program being linked.
        program: String,
        /// Its size in instruction slots once linked.
        insns: usize,
    },
    /// A CO-RE relocation could not be applied (ambiguous, or the instruction does not
    /// hold what the record says). An unresolvable field is not an error: its
    /// instruction is poisoned and reported in [`RelocatedProgram::core`].
    Core {
        /// The program being linked.
        program: String,
        /// The function holding the CO-RE record.
        function: String,
        /// What went wrong.
        error: Box<CoreError>,
    },
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelocError::NoSuchProgram { name } => write!(f, "no program named {name}"),
            RelocError::MapFdCount { expected, got } => {
                write!(f, "{got} map fds given for the object's {expected} maps")
            }
            RelocError::Site(site) => write!(
                f,
                "program {}: function {} (section {}) instruction {}, symbol {}",
                site.program, site.function, site.section, site.insn, site.symbol
            ),
            RelocError::NoSuchMap {
                program,
                function,
                map,
            } => write!(
                f,
                "program {program}: function {function} refers to map #{map}, which does not exist"
            ),
            RelocError::NoSuchSubprogram {
                program,
                function,
                callee,
            } => write!(
                f,
                "program {program}: function {function} calls subprogram #{callee}, \
                 which does not exist"
            ),
            RelocError::TooLarge { program, insns } => {
                write!(
                    f,
                    "program {program}: {insns} instructions once linked is too many"
                )
            }
            RelocError::Core {
                program, function, ..
            } => write!(f, "program {program}: function {function}"),
        }
    }
}

impl std::error::Error for RelocError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RelocError::Site(site) => Some(&site.problem),
            RelocError::Core { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// Where a relocation site is and what is wrong with it (see [`RelocError::Site`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteError {
    /// The program being linked.
    pub program: String,
    /// The function the site belongs to.
    pub function: String,
    /// That function's ELF section.
    pub section: String,
    /// The site's slot in its ELF section (llvm-objdump's numbering).
    pub insn: usize,
    /// The ELF symbol of the record (`events`, `.text`).
    pub symbol: String,
    /// What is wrong with the site.
    pub problem: RelocProblem,
}

/// A function of the layout: the program itself or a subprogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Program,
    Subprogram(usize),
}

impl ObjectSpec {
    /// Relocates and links program `program`. `map_fds[i]` is the fd of `self.maps[i]`;
    /// `target_btf` is the running kernel's BTF (`None`: no CO-RE, the offsets stay as
    /// compiled).
    ///
    /// The steps of the module header, one call each: the layout (libbpf's
    /// `bpf_object__reloc_code`), CO-RE (`bpf_object__relocate_core`), the calls, maps,
    /// global data and externs site by site (`bpf_object__relocate_data`,
    /// `bpf_object__relocate_calls`), then func_info and line_info
    /// (`adjust_prog_btf_ext_info`).
    pub fn relocate(
        &self,
        program: &str,
        map_fds: &[i32],
        target_btf: Option<&Btf>,
    ) -> Result<RelocatedProgram, RelocError> {
        let main = self
            .program(program)
            .ok_or_else(|| RelocError::NoSuchProgram {
                name: program.to_string(),
            })?;
        if map_fds.len() != self.maps.len() {
            return Err(RelocError::MapFdCount {
                expected: self.maps.len(),
                got: map_fds.len(),
            });
        }
        let layout = self.link_subprograms(program, main)?;
        let (mut insns, core) = self.apply_core_to_functions(program, &layout, target_btf)?;
        let applied = self.relocate_sites(program, map_fds, &layout, &mut insns)?;
        let (func_info, line_info) = layout.func_and_line_info();
        Ok(RelocatedProgram {
            name: program.to_string(),
            insns,
            layout: layout
                .parts
                .iter()
                .zip(&layout.starts)
                .map(|(part, &start)| (part.name.clone(), start))
                .collect(),
            func_info,
            line_info,
            applied,
            core,
        })
    }

    /// Step 1, the layout: the program, then each subprogram it reaches, depth-first: the
    /// calls of a function in their instructions' order, a callee met for the first time
    /// appended at once and its own calls followed before the caller's next ones, as
    /// libbpf's `bpf_object__reloc_code` (-> `bpf_object__append_subprog_code`) lays them
    /// out. The layout decides the `call` offsets and so the program's tag.
    fn link_subprograms<'s>(
        &'s self,
        program: &str,
        main: &'s ProgramSpec,
    ) -> Result<Layout<'s>, RelocError> {
        let function = |part: Part| match part {
            Part::Program => Some(main),
            Part::Subprogram(i) => self.subprograms.get(i),
        };
        let mut order = vec![Part::Program];
        let mut seen = vec![false; self.subprograms.len()];
        // The functions being walked, each with its callees still to look at (reversed:
        // the next one is popped from the end).
        let mut walking: Vec<Vec<usize>> = vec![rev(self.calls_of(program, main)?)];
        while let Some(pending) = walking.last_mut() {
            let Some(callee) = pending.pop() else {
                walking.pop();
                continue;
            };
            let Some(slot) = seen.get_mut(callee).filter(|slot| !**slot) else {
                continue;
            };
            *slot = true;
            order.push(Part::Subprogram(callee));
            if let Some(subprogram) = self.subprograms.get(callee) {
                walking.push(rev(self.calls_of(program, subprogram)?));
            }
        }
        let parts: Vec<&ProgramSpec> = order.iter().filter_map(|&p| function(p)).collect();
        let mut starts = Vec::with_capacity(parts.len());
        let mut total = 0usize;
        for part in &parts {
            starts.push(total);
            total += part.insns.len();
        }
        if i32::try_from(total).is_err() {
            return Err(RelocError::TooLarge {
                program: program.to_string(),
                insns: total,
            });
        }
        Ok(Layout {
            order,
            parts,
            starts,
            total,
        })
    }

    /// The subprograms `caller` calls (or takes the address of), in its instructions'
    /// order, each checked to exist (for [`ObjectSpec::link_subprograms`]).
    fn calls_of(&self, program: &str, caller: &ProgramSpec) -> Result<Vec<usize>, RelocError> {
        let mut calls: Vec<(usize, usize)> = caller
            .relocations
            .iter()
            .filter_map(|relocation| match relocation.kind {
                RelocationKind::Call { callee } | RelocationKind::FuncAddr { callee } => {
                    Some((relocation.insn, callee))
                }
                _ => None,
            })
            .collect();
        calls.sort_unstable();
        calls
            .into_iter()
            .map(|(_, callee)| {
                self.subprograms.get(callee).map(|_| callee).ok_or_else(|| {
                    RelocError::NoSuchSubprogram {
                        program: program.to_string(),
                        function: caller.name.clone(),
                        callee,
                    }
                })
            })
            .collect()
    }

    /// Step 2, CO-RE, function by function (as libbpf's `bpf_object__relocate_core`
    /// relocates each function's own copy), then the functions joined in the layout's
    /// order. Gives the program's instructions and the CO-RE fixups, numbered from the
    /// program's first slot.
    fn apply_core_to_functions(
        &self,
        program: &str,
        layout: &Layout<'_>,
        target_btf: Option<&Btf>,
    ) -> Result<(Vec<Insn>, Vec<CoreFixup>), RelocError> {
        let mut insns = Vec::with_capacity(layout.total);
        let mut core = Vec::new();
        for (part, &base) in layout.parts.iter().zip(&layout.starts) {
            let mut code = part.insns.clone();
            let fixups = apply_core(self, program, part, &mut code, target_btf)?;
            // `btf::core` numbers slots from the function's start: make them the program's.
            core.extend(fixups.into_iter().map(|mut fixup| {
                fixup.insn_index += base;
                fixup
            }));
            insns.extend(code);
        }
        Ok((insns, core))
    }

    /// Steps 3 and 4: calls, function pointers, externs, maps and global data, site by
    /// site in the layout's order (libbpf's `bpf_object__relocate_data` and
    /// `bpf_object__relocate_calls`). Gives what was done at each site, by slot.
    fn relocate_sites(
        &self,
        program: &str,
        map_fds: &[i32],
        layout: &Layout<'_>,
        insns: &mut [Insn],
    ) -> Result<Vec<AppliedRelocation>, RelocError> {
        let mut applied = Vec::new();
        for (part, &base) in layout.parts.iter().zip(&layout.starts) {
            for relocation in &part.relocations {
                let site = Site {
                    program,
                    part,
                    relocation,
                    at: base + relocation.insn,
                };
                let (before, target) = match relocation.kind {
                    RelocationKind::Call { callee } => {
                        self.relocate_call(&site, layout, insns, callee)?
                    }
                    RelocationKind::FuncAddr { callee } => {
                        self.relocate_func_addr(&site, layout, insns, callee)?
                    }
                    RelocationKind::Extern { index } => {
                        self.relocate_extern(&site, map_fds, insns, index)?
                    }
                    RelocationKind::Map { map } | RelocationKind::MapValue { map, .. } => {
                        self.relocate_map(&site, map_fds, insns, map)?
                    }
                };
                let at = site.at;
                let after = insns
                    .get(at..at + before.len())
                    .unwrap_or_default()
                    .to_vec();
                applied.push(AppliedRelocation {
                    function: part.name.clone(),
                    section: part.section.clone(),
                    section_insn: part.start + relocation.insn,
                    insn: at,
                    symbol: relocation.symbol.clone(),
                    kind: relocation.kind,
                    target,
                    before,
                    after,
                });
            }
        }
        crate::sort::by_key(&mut applied, |a| a.insn as u64);
        Ok(applied)
    }

    /// A bpf-to-bpf call: `imm = callee_start - call_index - 1` (libbpf's
    /// `bpf_object__relocate_calls`). Gives the slot as it was and the callee's name.
    fn relocate_call(
        &self,
        site: &Site<'_>,
        layout: &Layout<'_>,
        insns: &mut [Insn],
        callee: usize,
    ) -> Result<(Vec<Insn>, String), RelocError> {
        let at = site.at;
        let insn = insns
            .get_mut(at)
            .filter(|_| site.relocation.insn < site.part.insns.len())
            .ok_or_else(|| site.error(RelocProblem::OutsideFunctions))?;
        if !insn.is_pseudo_call() {
            return Err(site.error(RelocProblem::NotCall {
                code: insn.code,
                src_reg: insn.src_reg,
            }));
        }
        let callee_start = site.callee_start(layout, callee)?;
        let before = vec![*insn];
        // Both fit i32: the whole program does (checked by the layout).
        insn.imm = (callee_start as i64 - at as i64 - 1) as i32;
        Ok((before, self.callee_name(callee)))
    }

    /// A function pointer (`ld_imm64` of a subprogram): `src_reg = BPF_PSEUDO_FUNC` and
    /// the callee's offset as a call's (libbpf's `bpf_object__relocate_calls`, for
    /// `RELO_SUBPROG_ADDR`).
    fn relocate_func_addr(
        &self,
        site: &Site<'_>,
        layout: &Layout<'_>,
        insns: &mut [Insn],
        callee: usize,
    ) -> Result<(Vec<Insn>, String), RelocError> {
        let at = site.at;
        let insn = insns
            .get_mut(at)
            .filter(|_| site.relocation.insn + 1 < site.part.insns.len())
            .ok_or_else(|| site.error(RelocProblem::MissingSecondSlot))?;
        let marked = insn.src_reg == 0 || insn.src_reg == BPF_PSEUDO_FUNC;
        if !insn.is_ld_imm64() || !marked {
            return Err(site.error(RelocProblem::FunctionPointer));
        }
        let callee_start = site.callee_start(layout, callee)?;
        let before = insns.get(at..at + 2).unwrap_or_default().to_vec();
        if let Some(insn) = insns.get_mut(at) {
            // As a call's: the whole program fits i32 (checked by the layout).
            insn.src_reg = BPF_PSEUDO_FUNC;
            insn.imm = (callee_start as i64 - at as i64 - 1) as i32;
        }
        Ok((before, self.callee_name(callee)))
    }

    /// An extern: an `ld_imm64` of a `.kconfig` value or a `__ksym` variable, or a call
    /// of a kfunc (libbpf's `bpf_object__relocate_data`, `RELO_EXTERN_LD64` and
    /// `RELO_EXTERN_CALL`).
    fn relocate_extern(
        &self,
        site: &Site<'_>,
        map_fds: &[i32],
        insns: &mut [Insn],
        index: usize,
    ) -> Result<(Vec<Insn>, String), RelocError> {
        let (at, part, relocation) = (site.at, site.part, site.relocation);
        let ext = self
            .externs
            .get(index)
            .ok_or_else(|| site.error(RelocProblem::ExternUnresolved))?;
        let first = *insns
            .get(at)
            .filter(|_| relocation.insn < part.insns.len())
            .ok_or_else(|| site.error(RelocProblem::OutsideFunctions))?;
        let before;
        if first.is_ld_imm64() {
            if relocation.insn + 1 >= part.insns.len() {
                return Err(site.error(RelocProblem::MissingSecondSlot));
            }
            let kconfig = self
                .maps
                .iter()
                .position(|m| m.kind == super::MapKind::Kconfig)
                .and_then(|i| map_fds.get(i).copied());
            let (src_reg, imm, imm2) = extern_ld_imm64(ext, kconfig)
                .ok_or_else(|| site.error(RelocProblem::ExternUnresolved))?;
            let pair = insns
                .get_mut(at..at + 2)
                .ok_or_else(|| site.error(RelocProblem::MissingSecondSlot))?;
            let [first, second] = pair else {
                return Err(site.error(RelocProblem::MissingSecondSlot));
            };
            before = vec![*first, *second];
            first.src_reg = src_reg;
            first.imm = imm;
            second.imm = imm2;
        } else if first.code == crate::insn::CALL && matches!(ext.kind, ExternKind::Ksym(_)) {
            let insn = insns
                .get_mut(at)
                .ok_or_else(|| site.error(RelocProblem::OutsideFunctions))?;
            before = vec![*insn];
            *insn = match ext.value {
                Some(KsymValue::Btf {
                    btf_id, fd_index, ..
                }) => Insn::new(
                    crate::insn::CALL,
                    0,
                    BPF_PSEUDO_KFUNC_CALL,
                    fd_index,
                    btf_id as i32,
                ),
                // An unresolved weak kfunc: a kfunc call of BTF id 0, as libbpf 1.1's
                // bpf_object__relocate_data writes it (the differential reference,
                // Debian's libbpf 1.1.2; 1.2 and later write a poisoned helper call
                // instead). The verifier accepts it where `bpf_ksym_exists()` made it
                // dead code, and refuses it where it can run.
                None if ext.weak => Insn::new(crate::insn::CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, 0),
                _ => return Err(site.error(RelocProblem::ExternUnresolved)),
            };
        } else {
            return Err(site.error(RelocProblem::ExternUse { code: first.code }));
        }
        Ok((before, ext.name.clone()))
    }

    /// A map (`src_reg = BPF_PSEUDO_MAP_FD, imm = fd`) or global data
    /// (`src_reg = BPF_PSEUDO_MAP_VALUE, imm = fd`, second slot's `imm = offset`), as
    /// libbpf's `bpf_object__relocate_data` (`RELO_LD64`, `RELO_DATA`).
    fn relocate_map(
        &self,
        site: &Site<'_>,
        map_fds: &[i32],
        insns: &mut [Insn],
        map: usize,
    ) -> Result<(Vec<Insn>, String), RelocError> {
        let (at, part, relocation) = (site.at, site.part, site.relocation);
        let (spec, &fd) =
            self.maps
                .get(map)
                .zip(map_fds.get(map))
                .ok_or(RelocError::NoSuchMap {
                    program: site.program.to_string(),
                    function: part.name.clone(),
                    map,
                })?;
        if relocation.insn + 1 >= part.insns.len() {
            let first = part.insns.get(relocation.insn);
            return Err(site.error(match first {
                Some(insn) if insn.is_ld_imm64() => RelocProblem::MissingSecondSlot,
                Some(insn) => RelocProblem::NotLdImm64 { code: insn.code },
                None => RelocProblem::OutsideFunctions,
            }));
        }
        let pair = insns
            .get_mut(at..at + 2)
            .ok_or_else(|| site.error(RelocProblem::MissingSecondSlot))?;
        let [first, second] = pair else {
            return Err(site.error(RelocProblem::MissingSecondSlot));
        };
        if !first.is_ld_imm64() {
            return Err(site.error(RelocProblem::NotLdImm64 { code: first.code }));
        }
        let before = vec![*first, *second];
        first.imm = fd;
        match relocation.kind {
            RelocationKind::MapValue { offset, .. } => {
                first.src_reg = BPF_PSEUDO_MAP_VALUE;
                // Offsets are checked against the section size at parse.
                second.imm = offset as i32;
            }
            _ => first.src_reg = BPF_PSEUDO_MAP_FD,
        }
        Ok((before, spec.name.clone()))
    }

    /// The name of subprogram `callee` (empty if there is none).
    fn callee_name(&self, callee: usize) -> String {
        self.subprograms
            .get(callee)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }
}

/// Where the functions of one program land: the layout step's result.
struct Layout<'s> {
    /// The functions, in the program's order.
    order: Vec<Part>,
    /// Their specs, in the same order.
    parts: Vec<&'s ProgramSpec>,
    /// Where each begins in the program, in instructions.
    starts: Vec<usize>,
    /// The program's length, in instructions.
    total: usize,
}

impl Layout<'_> {
    /// Where `part` begins in the program.
    fn start_of(&self, part: Part) -> Option<usize> {
        self.order
            .iter()
            .position(|&p| p == part)
            .and_then(|i| self.starts.get(i).copied())
    }

    /// Step 5, func_info and line_info: each function's records shifted by where it now
    /// starts, and counted in instructions (libbpf's `adjust_prog_btf_ext_info`).
    fn func_and_line_info(&self) -> (Vec<FuncInfo>, Vec<LineInfo>) {
        let to_insns = |base: usize, bytes: u32| (base + bytes as usize / INSN_SIZE) as u32;
        let mut func_info = Vec::new();
        let mut line_info = Vec::new();
        for (part, &base) in self.parts.iter().zip(&self.starts) {
            func_info.extend(part.func_info.iter().map(|record| FuncInfo {
                insn_off: to_insns(base, record.insn_off),
                ..*record
            }));
            line_info.extend(part.line_info.iter().map(|record| LineInfo {
                insn_off: to_insns(base, record.insn_off),
                ..*record
            }));
        }
        (func_info, line_info)
    }
}

/// One relocation site being patched: its program, function, record and slot.
struct Site<'a> {
    /// The program being linked.
    program: &'a str,
    /// The function the site belongs to.
    part: &'a ProgramSpec,
    /// The relocation record.
    relocation: &'a super::Relocation,
    /// The site's slot in the program.
    at: usize,
}

impl Site<'_> {
    /// The error for this site.
    fn error(&self, problem: RelocProblem) -> RelocError {
        RelocError::Site(Box::new(SiteError {
            program: self.program.to_string(),
            function: self.part.name.clone(),
            section: self.part.section.clone(),
            insn: self.part.start + self.relocation.insn,
            symbol: self.relocation.symbol.clone(),
            problem,
        }))
    }

    /// Where a call's (or a function pointer's) callee begins in the program.
    fn callee_start(&self, layout: &Layout<'_>, callee: usize) -> Result<usize, RelocError> {
        layout
            .start_of(Part::Subprogram(callee))
            .ok_or(RelocError::NoSuchSubprogram {
                program: self.program.to_string(),
                function: self.part.name.clone(),
                callee,
            })
    }
}

/// `list` in reverse order.
fn rev(mut list: Vec<usize>) -> Vec<usize> {
    list.reverse();
    list
}

/// `src_reg = BPF_PSEUDO_KFUNC_CALL`: a call of a kernel function by BTF id.
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
/// `src_reg = BPF_PSEUDO_BTF_ID` on an `ld_imm64`: the address of a kernel variable by
/// BTF id (`imm`), in the BTF object whose fd is the second slot's `imm` (0: vmlinux).
pub const BPF_PSEUDO_BTF_ID: u8 = 3;

/// What an `ld_imm64` of extern `ext` becomes: `(src_reg, imm, second slot's imm)`, or
/// `None` for a strong `__ksym` nothing resolved. `kconfig_fd` is the `.kconfig` map's.
fn extern_ld_imm64(ext: &ExternSpec, kconfig_fd: Option<i32>) -> Option<(u8, i32, i32)> {
    match ext.kind {
        ExternKind::Kconfig { offset, .. } => {
            Some((BPF_PSEUDO_MAP_VALUE, kconfig_fd?, offset as i32))
        }
        ExternKind::Ksym(kind) => match ext.value {
            Some(KsymValue::Btf {
                btf_id, btf_obj_fd, ..
            }) if kind != KsymKind::Typeless => {
                Some((BPF_PSEUDO_BTF_ID, btf_id as i32, btf_obj_fd))
            }
            Some(KsymValue::Address(address)) => {
                Some((0, address as u32 as i32, (address >> 32) as u32 as i32))
            }
            Some(KsymValue::Btf { .. }) => None,
            // Unresolved weak: 0, so that `bpf_ksym_exists()` is false.
            None if ext.weak => Some((0, 0, 0)),
            None => None,
        },
    }
}

/// CO-RE for one function's copy of its instructions (`core_relos` offsets are bytes
/// from its first slot, as `btf::core::relocate` expects). Without a target BTF, or
/// without local BTF, nothing is changed: the instructions keep the offsets clang
/// computed from the object's own headers.
fn apply_core(
    spec: &ObjectSpec,
    program: &str,
    function: &ProgramSpec,
    insns: &mut [Insn],
    target_btf: Option<&Btf>,
) -> Result<Vec<CoreFixup>, RelocError> {
    match (target_btf, spec.btf.as_ref()) {
        (Some(target), Some(local)) if !function.core_relos.is_empty() => {
            crate::btf::core::relocate(local, target, &function.core_relos, insns).map_err(
                |error| RelocError::Core {
                    program: program.to_string(),
                    function: function.name.clone(),
                    error: Box::new(error),
                },
            )
        }
        _ => Ok(Vec::new()),
    }
}
