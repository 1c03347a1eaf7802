//! Programs: what a code section's name says about the program in it (its type and where
//! it attaches), and the per-function data the relocator works on.
//!
//! ABI: `enum bpf_prog_type` in `include/uapi/linux/bpf.h`; the section names are libbpf's
//! (`Documentation/bpf/libbpf/program_types.rst`).
//!
//! Policy for names this loader does not know: the object still parses, the program gets
//! [`ProgramType::Unspec`] and [`AttachTarget::None`], and it is the load step that refuses
//! it. So one unknown section does not stop the other programs of an object from loading,
//! and `inspect` can still show it.

use std::fmt;

use super::ParseError;
use crate::btf::ext::{CoreRelo, FuncInfo, LineInfo};
use crate::insn::Insn;
use crate::uapi::ProgramType;

/// Where a program attaches, as its section name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachTarget {
    /// `kprobe/FUNC[+OFFSET]` or `kretprobe/FUNC`: a kernel function's entry (plus an
    /// offset) or its return.
    Kprobe {
        function: String,
        offset: u64,
        retprobe: bool,
    },
    /// `tracepoint/CATEGORY/NAME` or `tp/CATEGORY/NAME`.
    Tracepoint { category: String, name: String },
    /// `raw_tracepoint/NAME` or `raw_tp/NAME`.
    RawTracepoint { name: String },
    /// `fentry/`, `fexit/`, `tp_btf/`, `lsm/`: a kernel function or hook found by its BTF.
    BtfFunction { name: String },
    /// The section name gives no target: the program is attached by other means (an
    /// interface for xdp, a socket for socket filters...), or its type is unknown.
    None,
}

impl fmt::Display for AttachTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachTarget::Kprobe {
                function,
                offset,
                retprobe,
            } => {
                let what = if *retprobe { "return of" } else { "entry of" };
                write!(f, "{what} kernel function {function}")?;
                if *offset != 0 {
                    write!(f, " + {offset:#x}")?;
                }
                Ok(())
            }
            AttachTarget::Tracepoint { category, name } => {
                write!(f, "tracepoint {category}:{name}")
            }
            AttachTarget::RawTracepoint { name } => write!(f, "raw tracepoint {name}"),
            AttachTarget::BtfFunction { name } => write!(f, "kernel function {name} (by BTF)"),
            AttachTarget::None => write!(f, "none in the section name"),
        }
    }
}

/// Reads a program section's name: its type and attach target. Unknown names give
/// `(Unspec, None)` (see the module header); malformed targets of known types are errors.
pub fn program_type_from_section(section: &str) -> Result<(ProgramType, AttachTarget), ParseError> {
    let bad = |reason| ParseError::AttachTarget {
        section: section.to_string(),
        reason,
    };
    // Sections whose whole name is the type, optionally followed by `/anything`.
    const BARE: &[(&str, ProgramType)] = &[
        ("socket", ProgramType::SocketFilter),
        ("xdp", ProgramType::Xdp),
        ("perf_event", ProgramType::PerfEvent),
        ("tc", ProgramType::SchedCls),
        ("classifier", ProgramType::SchedCls),
        ("action", ProgramType::SchedAct),
        ("cgroup_skb", ProgramType::CgroupSkb),
        ("sockops", ProgramType::SockOps),
        ("sk_skb", ProgramType::SkSkb),
        ("sk_msg", ProgramType::SkMsg),
        ("syscall", ProgramType::Syscall),
    ];
    let (kind, rest) = match section.split_once('/') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (section, None),
    };
    let target = |what| rest.filter(|r| !r.is_empty()).ok_or_else(|| bad(what));
    match kind {
        "kprobe" | "kretprobe" => {
            let spec = target("kprobe without a function name (kprobe/FUNCTION)")?;
            let (function, offset) = match spec.split_once('+') {
                Some((function, offset)) => (
                    function,
                    parse_offset(offset).ok_or_else(|| {
                        bad("kprobe offset is not a number (kprobe/FUNCTION+OFFSET)")
                    })?,
                ),
                None => (spec, 0),
            };
            if function.is_empty() {
                return Err(bad("kprobe without a function name (kprobe/FUNCTION)"));
            }
            Ok((
                ProgramType::Kprobe,
                AttachTarget::Kprobe {
                    function: function.to_string(),
                    offset,
                    retprobe: kind == "kretprobe",
                },
            ))
        }
        "tracepoint" | "tp" => {
            let spec = target("tracepoint without CATEGORY/NAME")?;
            match spec.split_once('/') {
                Some((category, name))
                    if !category.is_empty() && !name.is_empty() && !name.contains('/') =>
                {
                    Ok((
                        ProgramType::Tracepoint,
                        AttachTarget::Tracepoint {
                            category: category.to_string(),
                            name: name.to_string(),
                        },
                    ))
                }
                _ => Err(bad("tracepoint target is not CATEGORY/NAME")),
            }
        }
        "raw_tracepoint" | "raw_tp" => {
            let name = target("raw tracepoint without a name")?;
            Ok((
                ProgramType::RawTracepoint,
                AttachTarget::RawTracepoint {
                    name: name.to_string(),
                },
            ))
        }
        "fentry" | "fexit" | "tp_btf" | "lsm" => {
            let name = target("no kernel function or hook name after the /")?;
            let prog_type = if kind == "lsm" {
                ProgramType::Lsm
            } else {
                ProgramType::Tracing
            };
            Ok((
                prog_type,
                AttachTarget::BtfFunction {
                    name: name.to_string(),
                },
            ))
        }
        _ => Ok(BARE
            .iter()
            .find(|(bare, _)| *bare == kind)
            .map(|&(_, prog_type)| (prog_type, AttachTarget::None))
            .unwrap_or((ProgramType::Unspec, AttachTarget::None))),
    }
}

/// `0x10` or `16`.
fn parse_offset(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

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

/// One relocation of a function, read from its section's `.rel<section>` (or, for a call
/// inside one section without a record, from the instruction itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// The slot to patch, relative to the function's first slot.
    pub insn: usize,
    /// The ELF symbol the record names (`events`, `filter_pid`; a section symbol by its
    /// section's name, `.text`).
    pub symbol: String,
    pub kind: RelocationKind,
}

/// What a relocation refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocationKind {
    /// `R_BPF_64_64` against a map of `.maps`: the `ld_imm64` gets the map
    /// (`BPF_PSEUDO_MAP_FD`). `map` indexes [`ObjectSpec::maps`](super::ObjectSpec::maps).
    Map { map: usize },
    /// `R_BPF_64_64` against global data: the `ld_imm64` gets the address of byte `offset`
    /// of the section's single value (`BPF_PSEUDO_MAP_VALUE`).
    MapValue { map: usize, offset: u32 },
    /// `R_BPF_64_32`: a bpf-to-bpf call of subprogram `callee`
    /// (an index into [`ObjectSpec::subprograms`](super::ObjectSpec::subprograms)).
    Call { callee: usize },
    /// `R_BPF_64_64` or `R_BPF_64_32` against an extern (an index into
    /// [`ObjectSpec::externs`](super::ObjectSpec::externs)): an `ld_imm64` of a
    /// `__kconfig` value (`BPF_PSEUDO_MAP_VALUE` into the `.kconfig` map) or of a `__ksym`
    /// (`BPF_PSEUDO_BTF_ID`, or an address), or a kfunc call (`BPF_PSEUDO_KFUNC_CALL`).
    Extern { index: usize },
}

impl RelocationKind {
    /// A short name: `map`, `map value`, `call`.
    pub fn name(self) -> &'static str {
        match self {
            RelocationKind::Map { .. } => "map",
            RelocationKind::MapValue { .. } => "map value",
            RelocationKind::Call { .. } => "call",
            RelocationKind::Extern { .. } => "extern",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(section: &str) -> Result<(ProgramType, AttachTarget), ParseError> {
        program_type_from_section(section)
    }

    #[test]
    fn reads_tracing_section_names() {
        assert_eq!(
            parse("kprobe/tcp_connect"),
            Ok((
                ProgramType::Kprobe,
                AttachTarget::Kprobe {
                    function: "tcp_connect".into(),
                    offset: 0,
                    retprobe: false
                }
            ))
        );
        assert_eq!(
            parse("kretprobe/tcp_v4_connect"),
            Ok((
                ProgramType::Kprobe,
                AttachTarget::Kprobe {
                    function: "tcp_v4_connect".into(),
                    offset: 0,
                    retprobe: true
                }
            ))
        );
        assert_eq!(
            parse("kprobe/do_sys_open+0x10").map(|(_, t)| t),
            Ok(AttachTarget::Kprobe {
                function: "do_sys_open".into(),
                offset: 16,
                retprobe: false
            })
        );
        let tp = AttachTarget::Tracepoint {
            category: "sock".into(),
            name: "inet_sock_set_state".into(),
        };
        assert_eq!(
            parse("tracepoint/sock/inet_sock_set_state"),
            Ok((ProgramType::Tracepoint, tp.clone()))
        );
        assert_eq!(
            parse("tp/sock/inet_sock_set_state"),
            Ok((ProgramType::Tracepoint, tp))
        );
        assert_eq!(
            parse("raw_tp/sched_switch"),
            Ok((
                ProgramType::RawTracepoint,
                AttachTarget::RawTracepoint {
                    name: "sched_switch".into()
                }
            ))
        );
        assert_eq!(parse("xdp"), Ok((ProgramType::Xdp, AttachTarget::None)));
        assert_eq!(
            parse("perf_event"),
            Ok((ProgramType::PerfEvent, AttachTarget::None))
        );
        assert_eq!(
            parse("socket"),
            Ok((ProgramType::SocketFilter, AttachTarget::None))
        );
    }

    #[test]
    fn unknown_names_are_unspec_and_malformed_targets_errors() {
        assert_eq!(
            parse("my_custom_section"),
            Ok((ProgramType::Unspec, AttachTarget::None))
        );
        assert_eq!(
            parse("kprobe/"),
            Err(ParseError::AttachTarget {
                section: "kprobe/".into(),
                reason: "kprobe without a function name (kprobe/FUNCTION)"
            })
        );
        assert_eq!(
            parse("kprobe/f+zz"),
            Err(ParseError::AttachTarget {
                section: "kprobe/f+zz".into(),
                reason: "kprobe offset is not a number (kprobe/FUNCTION+OFFSET)"
            })
        );
        assert_eq!(
            parse("tracepoint/sched"),
            Err(ParseError::AttachTarget {
                section: "tracepoint/sched".into(),
                reason: "tracepoint target is not CATEGORY/NAME"
            })
        );
    }
}
