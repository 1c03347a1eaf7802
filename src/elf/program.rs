//! Programs: the per-function data the relocator works on ([`ProgramSpec`]: its
//! instructions, relocation records and `.BTF.ext` records), typed by the section table
//! (`section.rs`: [`section_def`](super::section_def)).
//!
//! ABI: the relocation records of `.rel<section>` (ELF gABI, `Elf64_Rel`), `.BTF.ext`
//! (`Documentation/bpf/btf.rst`, "BTF.ext section").

use super::AttachTarget;
use crate::btf::ext::{CoreRelo, FuncInfo, LineInfo};
use crate::insn::Insn;
use crate::uapi::{AttachType, ProgramType, BPF_F_SLEEPABLE};

/// A function of the object: an entry point (a program) or a subprogram of `.text`, with
/// everything the relocator needs. Every offset is relative to the function's first slot.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramSpec {
    /// The function's symbol name (`tcp_connect`).
    pub name: String,
    /// The ELF section holding it (`kprobe/tcp_connect`, `.text`).
    pub section: String,
    /// The section's index in the ELF section table.
    pub section_index: usize,
    /// The function's first slot in its section (llvm-objdump numbers slots per section).
    pub start: usize,
    /// From the section name; [`ProgramType::Unspec`] for subprograms.
    pub prog_type: ProgramType,
    /// From the section name; [`AttachTarget::None`] for subprograms.
    pub attach: AttachTarget,
    /// `expected_attach_type` for `BPF_PROG_LOAD`, from the section name (libbpf's
    /// table); [`AttachType::NONE`] where there is none.
    pub expected_attach_type: AttachType,
    /// `prog_flags` for `BPF_PROG_LOAD` from the section name: [`BPF_F_SLEEPABLE`] for the
    /// `.s` variants, [`BPF_F_XDP_HAS_FRAGS`](crate::uapi::BPF_F_XDP_HAS_FRAGS) for `xdp.frags`.
    pub prog_flags: u32,
    /// The instructions as compiled (map references still 0, calls still -1).
    pub insns: Vec<Insn>,
    /// Every place that needs a value only the loader knows, in slot order.
    pub relocations: Vec<Relocation>,
    /// `.BTF.ext` records of this function; `insn_off` in bytes from its first slot.
    pub func_info: Vec<FuncInfo>,
    /// `.BTF.ext` line records; `insn_off` in bytes from the function's first slot.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations; `insn_off` in bytes from the function's first slot.
    pub core_relos: Vec<CoreRelo>,
}

impl ProgramSpec {
    /// Whether the program may sleep ([`BPF_F_SLEEPABLE`]).
    pub fn sleepable(&self) -> bool {
        self.prog_flags & BPF_F_SLEEPABLE != 0
    }

    /// For BTF-attached programs, the name and kind of the kernel BTF type whose id is
    /// `attach_btf_id` (libbpf's `find_attach_btf_id`): `btf_trace_NAME` (a TYPEDEF) for
    /// `tp_btf/NAME`, `bpf_lsm_NAME` for `lsm/NAME`, `bpf_iter_NAME` for `iter/NAME`, the
    /// FUNC `NAME` itself for `fentry/`, `fexit/`, `fmod_ret/`. `None` otherwise (and for
    /// `freplace/`, whose target is a function of another BPF program).
    pub fn attach_btf_name(&self) -> Option<(String, crate::btf::Kind)> {
        let AttachTarget::BtfFunction { name } = &self.attach else {
            return None;
        };
        use crate::btf::Kind;
        Some(match self.expected_attach_type {
            AttachType::TRACE_RAW_TP => (format!("btf_trace_{name}"), Kind::Typedef),
            AttachType::LSM_MAC | AttachType::LSM_CGROUP => (format!("bpf_lsm_{name}"), Kind::Func),
            AttachType::TRACE_ITER => (format!("bpf_iter_{name}"), Kind::Func),
            AttachType::TRACE_FENTRY | AttachType::TRACE_FEXIT | AttachType::MODIFY_RETURN => {
                (name.clone(), Kind::Func)
            }
            _ => return None,
        })
    }

    /// What the program attaches to, in words: [`AttachTarget`]'s own text, but for
    /// BTF-attached programs, whose section names only the target (`task`, `sched_switch`,
    /// `file_open`): what kind of target that is, the attach type tells.
    pub fn attach_description(&self) -> String {
        let AttachTarget::BtfFunction { name } = &self.attach else {
            return self.attach.to_string();
        };
        match self.expected_attach_type {
            AttachType::TRACE_FENTRY => format!("entry of kernel function {name} (by BTF)"),
            AttachType::TRACE_FEXIT => format!("return of kernel function {name} (by BTF)"),
            AttachType::MODIFY_RETURN => {
                format!("return value of kernel function {name} (by BTF)")
            }
            AttachType::TRACE_RAW_TP => format!("tracepoint {name} (by BTF)"),
            AttachType::LSM_MAC => format!("LSM hook {name}"),
            AttachType::LSM_CGROUP => format!("LSM hook {name}, per cgroup"),
            AttachType::TRACE_ITER => format!("iterator {name}"),
            // freplace/: a global function of another, loaded BPF program.
            _ => format!("function {name} of another BPF program"),
        }
    }
}

/// One relocation of a function, read from its section's `.rel<section>` (or, for a call
/// inside one section without a record, from the instruction itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// The slot to patch, relative to the function's first slot.
    pub insn: usize,
    /// The ELF symbol the record names (`events`, `filter_pid`; a section symbol by its
    /// section's name, `.text`).
    pub symbol: String,
    /// What the slot refers to.
    pub kind: RelocationKind,
}

/// What a relocation refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocationKind {
    /// `R_BPF_64_64` against a map of `.maps`: the `ld_imm64` gets the map
    /// (`BPF_PSEUDO_MAP_FD`). `map` indexes [`ObjectSpec::maps`](super::ObjectSpec::maps).
    Map {
        /// The map's index in `ObjectSpec::maps`.
        map: usize,
    },
    /// `R_BPF_64_64` against global data: the `ld_imm64` gets the address of byte `offset`
    /// of the section's single value (`BPF_PSEUDO_MAP_VALUE`).
    MapValue {
        /// The global data map's index in `ObjectSpec::maps`.
        map: usize,
        /// Byte offset in the map's value.
        offset: u32,
    },
    /// `R_BPF_64_32`: a bpf-to-bpf call of subprogram `callee`
    /// (an index into [`ObjectSpec::subprograms`](super::ObjectSpec::subprograms)).
    Call {
        /// The callee's index in `ObjectSpec::subprograms`.
        callee: usize,
    },
    /// `R_BPF_64_64` or `R_BPF_64_32` against an extern (an index into
    /// [`ObjectSpec::externs`](super::ObjectSpec::externs)): an `ld_imm64` of a
    /// `__kconfig` value (`BPF_PSEUDO_MAP_VALUE` into the `.kconfig` map) or of a `__ksym`
    /// (`BPF_PSEUDO_BTF_ID`, or an address), or a kfunc call (`BPF_PSEUDO_KFUNC_CALL`).
    Extern {
        /// The extern's index in `ObjectSpec::externs`.
        index: usize,
    },
    /// `R_BPF_64_64` on an `ld_imm64` against `.text`: the address of subprogram `callee`
    /// (a callback), which is linked into the program like a callee; the instruction
    /// gets `src_reg = BPF_PSEUDO_FUNC` and `imm` its offset, as a call's.
    FuncAddr {
        /// The callback's index in `ObjectSpec::subprograms`.
        callee: usize,
    },
}

impl RelocationKind {
    /// A short name: `map`, `map value`, `call`.
    pub fn name(self) -> &'static str {
        match self {
            RelocationKind::Map { .. } => "map",
            RelocationKind::MapValue { .. } => "map value",
            RelocationKind::Call { .. } => "call",
            RelocationKind::Extern { .. } => "extern",
            RelocationKind::FuncAddr { .. } => "function address",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(section: &str) -> super::super::SectionDef {
        super::super::section_def(section).unwrap()
    }

    #[test]
    fn btf_names_of_btf_attached_programs() {
        let program = |section: &str| {
            let d = def(section);
            ProgramSpec {
                name: "p".into(),
                section: section.into(),
                section_index: 1,
                start: 0,
                prog_type: d.prog_type,
                attach: d.attach,
                expected_attach_type: d.expected_attach_type,
                prog_flags: d.prog_flags,
                insns: Vec::new(),
                relocations: Vec::new(),
                func_info: Vec::new(),
                line_info: Vec::new(),
                core_relos: Vec::new(),
            }
        };
        use crate::btf::Kind;
        let name = |section: &str| program(section).attach_btf_name();
        assert_eq!(
            name("fentry/do_unlinkat"),
            Some(("do_unlinkat".into(), Kind::Func))
        );
        assert_eq!(
            name("fexit/do_unlinkat"),
            Some(("do_unlinkat".into(), Kind::Func))
        );
        assert_eq!(
            name("tp_btf/sched_switch"),
            Some(("btf_trace_sched_switch".into(), Kind::Typedef))
        );
        assert_eq!(name("lsm/bpf"), Some(("bpf_lsm_bpf".into(), Kind::Func)));
        assert_eq!(
            name("iter/task"),
            Some(("bpf_iter_task".into(), Kind::Func))
        );
        assert_eq!(name("freplace/handler"), None);
        assert_eq!(name("kprobe/f"), None);
        assert!(program("lsm.s/bpf").sleepable());
        assert!(!program("lsm/bpf").sleepable());
        // The words of the load table and of inspect: the section's target and its kind.
        let words = |section: &str| program(section).attach_description();
        assert_eq!(
            words("fentry/do_unlinkat"),
            "entry of kernel function do_unlinkat (by BTF)"
        );
        assert_eq!(
            words("fexit/do_unlinkat"),
            "return of kernel function do_unlinkat (by BTF)"
        );
        assert_eq!(
            words("fmod_ret/security_inode_mkdir"),
            "return value of kernel function security_inode_mkdir (by BTF)"
        );
        assert_eq!(
            words("tp_btf/sched_switch"),
            "tracepoint sched_switch (by BTF)"
        );
        assert_eq!(words("lsm/inode_mkdir"), "LSM hook inode_mkdir");
        assert_eq!(
            words("lsm_cgroup/socket_bind"),
            "LSM hook socket_bind, per cgroup"
        );
        assert_eq!(words("iter/task"), "iterator task");
        assert_eq!(
            words("freplace/handler"),
            "function handler of another BPF program"
        );
        assert_eq!(
            words("kprobe/tcp_connect"),
            "entry of kernel function tcp_connect"
        );
    }
}
