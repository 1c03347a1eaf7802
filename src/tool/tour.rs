//! `--verbose`: the guided tour. Each step of the pipeline says what it is for and what
//! the kernel answered, on stderr (stdout stays the events). Quiet otherwise.
//!
//! What it shows is rendered by the library (`Display` of `MapSpec`, `AppliedRelocation`,
//! `CoreFixup`, `VerifierStats`, `Link`), the same text `tcpconnect inspect` shows.

use std::os::fd::{AsFd, AsRawFd};

use ebpf_loader::attach::Link;
use ebpf_loader::elf::{ObjectSpec, SectionKind};
use ebpf_loader::load::{BtfInfoOutcome, BtfStatus, Object, Program};

/// How many numbered steps the tour has.
const TOUR_STEPS: usize = 10;

/// The tour's state: whether to speak, and the step it is at.
pub struct Tour {
    verbose: bool,
    step: usize,
}

impl Tour {
    /// A tour that prints only when `verbose`.
    pub fn new(verbose: bool) -> Tour {
        Tour { verbose, step: 0 }
    }

    /// A new step: its title, the module that does it, and what it is for.
    pub fn step(&mut self, title: &str, module: &str, purpose: &str) {
        self.step += 1;
        if self.verbose {
            eprintln!("[{}/{TOUR_STEPS}] {title} ({module}): {purpose}", self.step);
        }
    }

    /// The last line: everything is in place (tests wait for it).
    pub fn ready(&self, what: &str) {
        if self.verbose {
            eprintln!("tcpconnect: ready: {what}; stop with Ctrl-C");
        }
    }

    /// A detail under the current step.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.verbose {
            eprintln!("      {}", text.as_ref());
        }
    }

    /// Step 1's details: the sections and what the loader makes of each.
    pub fn object(&self, spec: &ObjectSpec, size: usize) {
        if !self.verbose {
            return;
        }
        self.detail(format!("{size} bytes, {} sections:", spec.sections.len()));
        for section in &spec.sections {
            if matches!(
                section.kind,
                SectionKind::Other | SectionKind::StringTable | SectionKind::Relocations { .. }
            ) {
                continue;
            }
            self.detail(format!(
                "  {:<36} {:>6} bytes  {}",
                section.name,
                section.size,
                section.kind.describe()
            ));
        }
        let names = |names: &mut dyn Iterator<Item = &str>| names.collect::<Vec<_>>().join(", ");
        self.detail(format!(
            "programs: {}; subprograms: {}; maps: {}; license \"{}\"",
            names(&mut spec.programs.iter().map(|p| p.name.as_str())),
            names(&mut spec.subprograms.iter().map(|p| p.name.as_str())),
            names(&mut spec.maps.iter().map(|m| m.name.as_str())),
            spec.license
        ));
    }

    /// Steps 5 to 8: what `Object::load` did, in its order.
    pub fn load(&mut self, spec: &ObjectSpec, object: &Object, programs: &[&Program]) {
        self.step(
            "load the object's BTF",
            "BPF_BTF_LOAD",
            "the types of the object, so maps and the program can be described to the kernel",
        );
        self.detail(match object.btf_status() {
            BtfStatus::Loaded(fd) => format!("the kernel took it: BTF fd {}", fd.as_raw_fd()),
            BtfStatus::Refused(error) => {
                format!("the kernel refused it, so maps and the program go without BTF: {error}")
            }
            BtfStatus::Absent => "the object has no BTF".to_string(),
        });
        // The kinds this kernel lacks (probed) were rewritten, type ids kept.
        if matches!(object.btf_status(), BtfStatus::Loaded(_)) {
            let missing = ebpf_loader::features::btf::probe().missing();
            let rewrites: Vec<String> = object
                .btf_rewrites()
                .iter()
                .map(|r| r.to_string())
                .collect();
            self.detail(match (missing.is_empty(), rewrites.is_empty()) {
                (true, _) => {
                    "BTF kinds (probed): the kernel takes every kind the loader knows".into()
                }
                (false, true) => format!(
                    "BTF kinds (probed): the kernel lacks {}; the object uses none of them",
                    missing.join(", ")
                ),
                (false, false) => format!(
                    "BTF kinds (probed): the kernel lacks {}; rewritten (btf::sanitize): {}",
                    missing.join(", "),
                    rewrites.join(", ")
                ),
            });
        }

        self.step(
            "create the maps",
            "BPF_MAP_CREATE",
            "the kernel objects the program and this tool share",
        );
        for map in object.maps() {
            let mut text = format!(
                "{}; created: max_entries {}, fd {}",
                map.spec(),
                map.max_entries(),
                map.as_fd().as_raw_fd()
            );
            if map.typed_by_btf() {
                text.push_str(", typed by BTF");
            }
            self.detail(text);
        }

        self.step(
            "relocate",
            "src/elf/reloc.rs",
            "patch the instructions: map fds into map loads, offsets of the callee into calls, \
             this kernel's field offsets into CO-RE reads",
        );
        for program in programs {
            self.relocations(spec, program);
        }

        self.step(
            "load the program",
            "BPF_PROG_LOAD",
            "the verifier checks every path of each program, then the kernel keeps it",
        );
        for program in programs {
            self.loaded(program);
        }
        // Every second way the load took because this kernel lacked the first.
        let fallbacks = object.fallbacks();
        if fallbacks.is_empty() {
            self.detail("fallbacks: none, every step went the first way");
        }
        for fallback in fallbacks {
            self.detail(format!("fallback: {fallback}"));
        }
    }

    fn relocations(&self, spec: &ObjectSpec, program: &Program) {
        let relocated = program.relocated();
        self.detail(format!(
            "program {}: {} instructions once linked ({})",
            program.name(),
            relocated.insns.len(),
            relocated
                .layout
                .iter()
                .map(|(name, start)| format!("{name} at {start}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        self.detail(
            "each site: insn N (its index in the program as the kernel receives it, the \
             verifier log's numbering), the function it came from, what it refers to, the \
             instruction before -> after (map[fd:N] is BPF_PSEUDO_MAP_FD, map[fd:N][0]+OFF is \
             BPF_PSEUDO_MAP_VALUE); under a map reference, its bytes before -> after: byte 1 \
             is src_reg << 4 | dst_reg (src_reg 1 or 2 says imm is a map fd), bytes 4-7 are \
             imm, the fd, little-endian",
        );
        for site in &relocated.applied {
            self.detail(site.to_string());
            if site.is_map_reference() {
                self.detail(format!("             bytes {}", site.bytes()));
            }
        }
        // The records .BTF.ext holds for this program and the subprograms linked into it.
        let records: usize = relocated
            .layout
            .iter()
            .filter_map(|(name, _)| {
                spec.program(name)
                    .or_else(|| spec.subprograms.iter().find(|s| &s.name == name))
            })
            .map(|function| function.core_relos.len())
            .sum();
        self.detail(format!(
            "CO-RE: {records} records in .BTF.ext for these functions, {} fix-ups made",
            relocated.core.len()
        ));
        if !relocated.core.is_empty() {
            self.detail(
                "each fix-up: insn N, the access, what clang computed from the object's BTF -> \
                 what it is on this kernel, the instruction before -> after",
            );
        }
        for fixup in &relocated.core {
            self.detail(format!("insn {:>3} {fixup}", fixup.insn_index));
        }
    }

    fn loaded(&self, program: &Program) {
        // The id names the program kernel-wide (`bpftool prog show id N`); the fd only here.
        let id = program
            .info()
            .map(|info| format!(", id {}", info.id))
            .unwrap_or_default();
        self.detail(format!(
            "{} ({}, section {}): program fd {}{id}",
            program.name(),
            program.attach_target(),
            program.section(),
            program.as_fd().as_raw_fd()
        ));
        if let Some(stats) = program.verifier_stats() {
            self.detail(format!("verifier: {stats}"));
        }
        let relocated = program.relocated();
        self.detail(match program.btf_info() {
            BtfInfoOutcome::Accepted => format!(
                "func_info ({}) and line_info ({}) accepted: the kernel can name functions and \
                 source lines (bpftool prog dump xlated)",
                relocated.func_info.len(),
                relocated.line_info.len()
            ),
            BtfInfoOutcome::NotGiven => {
                "no func_info/line_info given (no object BTF, or a kernel without BTF FUNC)"
                    .to_string()
            }
        });
    }

    /// Step 9's details: how the program was bound, and what that means.
    pub fn attached(&self, link: &Link) {
        let method = link.method();
        self.detail(format!("{}: {method}", link.target()));
        self.detail(method.probe.explain());
        self.detail(method.via.explain());
        if let Some(fallback) = method.fallback() {
            self.detail(format!("fallback: {fallback}"));
        }
    }
}
