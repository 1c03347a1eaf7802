//! The section table: what a code section's name says about the program in it (its type,
//! where it attaches, its `expected_attach_type` and flags). This table is the spec of
//! every program kind; attaching each kind is `crate::attach`'s, one file per kind.
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
use crate::uapi::{AttachType, ProgramType, BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS};

/// Where a program attaches, as its section name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachTarget {
    /// `kprobe/FUNC[+OFFSET]` or `kretprobe/FUNC`: a kernel function's entry (plus an
    /// offset) or its return.
    Kprobe {
        /// The kernel function's name.
        function: String,
        /// Bytes from the function's start (0: its entry).
        offset: u64,
        /// `kretprobe/`: fire on the function's return.
        retprobe: bool,
    },
    /// `tracepoint/CATEGORY/NAME` or `tp/CATEGORY/NAME`.
    Tracepoint {
        /// The tracepoint's category (`sock`, `syscalls`): its directory in tracefs.
        category: String,
        /// The tracepoint's name (`inet_sock_set_state`).
        name: String,
    },
    /// `raw_tracepoint/NAME` or `raw_tp/NAME` (and their `.w` writable forms).
    RawTracepoint {
        /// The tracepoint's name (`sched_switch`).
        name: String,
    },
    /// `fentry/`, `fexit/`, `fmod_ret/`, `tp_btf/`, `lsm/`, `lsm_cgroup/`, `iter/`,
    /// `freplace/` (and `.s` forms): a kernel function, hook, tracepoint or iterator found
    /// by its BTF; [`ProgramSpec::attach_btf_name`](super::ProgramSpec::attach_btf_name) says under which name and kind.
    BtfFunction {
        /// The function, hook, tracepoint or iterator's name (`tcp_connect`, `file_open`,
        /// `sched_switch`, `task`), as the section gives it.
        name: String,
    },
    /// `uprobe/BINARY:FUNC[+OFFSET]`, `uprobe/BINARY:OFFSET`, `uretprobe/...` (and `.s`):
    /// a user function's entry or return. `function` is empty for a bare offset.
    Uprobe {
        /// The executable or library (a path, or a name the application resolves).
        binary: String,
        /// The function's symbol (empty: `offset` is from the file's start).
        function: String,
        /// Bytes from the function's start, or the file offset without a function.
        offset: u64,
        /// `uretprobe`: fire on the function's return.
        retprobe: bool,
    },
    /// `usdt/BINARY:PROVIDER:NAME`: a user statically defined tracepoint.
    Usdt {
        /// The executable or library holding the note.
        binary: String,
        /// The USDT provider (`libc`).
        provider: String,
        /// The probe's name (`setjmp`).
        name: String,
    },
    /// `ksyscall/NAME`, `kretsyscall/NAME`: a system call's entry or return, through its
    /// architecture's wrapper (`__x64_sys_NAME`) where the kernel has one.
    Ksyscall {
        /// The system call's name (`tgkill`).
        syscall: String,
        /// `kretsyscall`: fire on its return.
        retprobe: bool,
    },
    /// `kprobe.multi/PATTERN`, `kretprobe.multi/PATTERN`, `kprobe.session/PATTERN`:
    /// every kernel function matching a glob, through one multi-kprobe link.
    KprobeMulti {
        /// A glob over kernel function names (`tcp_*`).
        pattern: String,
        /// `kretprobe.multi`: fire on the returns.
        retprobe: bool,
    },
    /// `uprobe.multi/BINARY:PATTERN`, `uretprobe.multi/...`.
    UprobeMulti {
        /// The executable or library.
        binary: String,
        /// A glob over its function names.
        pattern: String,
        /// `uretprobe.multi`: fire on the returns.
        retprobe: bool,
    },
    /// The section name gives no target: the program is attached by other means (an
    /// interface for xdp, a socket for socket filters, a cgroup...), its target is given
    /// at run time (a bare `SEC("kprobe")`, `SEC("uprobe")`, `SEC("fentry")`), or its type
    /// is unknown.
    None,
}

impl fmt::Display for AttachTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |retprobe: bool| if retprobe { "return of" } else { "entry of" };
        match self {
            AttachTarget::Kprobe {
                function,
                offset,
                retprobe,
            } => {
                write!(f, "{} kernel function {function}", end(*retprobe))?;
                if *offset != 0 {
                    write!(f, " + {offset:#x}")?;
                }
                Ok(())
            }
            AttachTarget::Tracepoint { category, name } => {
                write!(f, "tracepoint {category}:{name}")
            }
            AttachTarget::RawTracepoint { name } => write!(f, "raw tracepoint {name}"),
            // Which kind of target (function, tracepoint, hook, iterator) only the attach type
            // says: `ProgramSpec::attach_description`.
            AttachTarget::BtfFunction { name } => write!(f, "BTF target {name}"),
            AttachTarget::Uprobe {
                binary,
                function,
                offset,
                retprobe,
            } => {
                write!(f, "{} ", end(*retprobe))?;
                match (function.is_empty(), *offset) {
                    (false, 0) => write!(f, "{function}")?,
                    (false, offset) => write!(f, "{function} + {offset:#x}")?,
                    (true, offset) => write!(f, "offset {offset:#x}")?,
                }
                write!(f, " in {binary}")
            }
            AttachTarget::Usdt {
                binary,
                provider,
                name,
            } => write!(f, "USDT {provider}:{name} in {binary}"),
            AttachTarget::Ksyscall { syscall, retprobe } => {
                write!(f, "{} system call {syscall}", end(*retprobe))
            }
            AttachTarget::KprobeMulti { pattern, retprobe } => {
                write!(f, "{} kernel functions matching {pattern}", end(*retprobe))
            }
            AttachTarget::UprobeMulti {
                binary,
                pattern,
                retprobe,
            } => write!(
                f,
                "{} functions matching {pattern} in {binary}",
                end(*retprobe)
            ),
            AttachTarget::None => write!(f, "none in the section name"),
        }
    }
}

/// What a section name says about its programs: libbpf's `struct bpf_sec_def` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionDef {
    /// `prog_type` for `BPF_PROG_LOAD` (`Unspec`: a name libbpf does not know).
    pub prog_type: ProgramType,
    /// `expected_attach_type` for `BPF_PROG_LOAD`.
    pub expected_attach_type: AttachType,
    /// `prog_flags` for `BPF_PROG_LOAD`: [`BPF_F_SLEEPABLE`], [`BPF_F_XDP_HAS_FRAGS`].
    pub prog_flags: u32,
    /// Where it attaches, as far as the name says.
    pub attach: AttachTarget,
}

/// How the part after the name is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Nothing to read (xdp, socket...).
    Nothing,
    Kprobe {
        retprobe: bool,
    },
    Uprobe {
        retprobe: bool,
    },
    KprobeMulti {
        retprobe: bool,
    },
    UprobeMulti {
        retprobe: bool,
    },
    Ksyscall {
        retprobe: bool,
    },
    Usdt,
    Tracepoint,
    RawTracepoint,
    Btf,
}

const SLEEPABLE: u8 = 1;
const XDP_FRAGS: u8 = 2;

/// One row of libbpf's `section_defs[]` (`tools/lib/bpf/libbpf.c`): the name, matched as
/// libbpf matches it (`sec_def_matches`): `name+` is exactly `name` or `name/...`,
/// `name/` is any name starting so, anything else is the exact name.
struct Def {
    name: &'static str,
    prog_type: ProgramType,
    attach: AttachType,
    flags: u8,
    target: Target,
}

const fn def(
    name: &'static str,
    prog_type: ProgramType,
    attach: AttachType,
    flags: u8,
    target: Target,
) -> Def {
    Def {
        name,
        prog_type,
        attach,
        flags,
        target,
    }
}

/// libbpf's table, in its order (the first row that matches wins).
const DEFS: &[Def] = {
    use AttachType as A;
    use ProgramType as P;
    use Target as T;
    &[
        def("socket", P::SocketFilter, A::NONE, 0, T::Nothing),
        def(
            "sk_reuseport/migrate",
            P::SkReuseport,
            A::SK_REUSEPORT_SELECT_OR_MIGRATE,
            0,
            T::Nothing,
        ),
        def(
            "sk_reuseport",
            P::SkReuseport,
            A::SK_REUSEPORT_SELECT,
            0,
            T::Nothing,
        ),
        def(
            "kprobe+",
            P::Kprobe,
            A::NONE,
            0,
            T::Kprobe { retprobe: false },
        ),
        def(
            "uprobe+",
            P::Kprobe,
            A::NONE,
            0,
            T::Uprobe { retprobe: false },
        ),
        def(
            "uprobe.s+",
            P::Kprobe,
            A::NONE,
            SLEEPABLE,
            T::Uprobe { retprobe: false },
        ),
        def(
            "kretprobe+",
            P::Kprobe,
            A::NONE,
            0,
            T::Kprobe { retprobe: true },
        ),
        def(
            "uretprobe+",
            P::Kprobe,
            A::NONE,
            0,
            T::Uprobe { retprobe: true },
        ),
        def(
            "uretprobe.s+",
            P::Kprobe,
            A::NONE,
            SLEEPABLE,
            T::Uprobe { retprobe: true },
        ),
        def(
            "kprobe.multi+",
            P::Kprobe,
            A::TRACE_KPROBE_MULTI,
            0,
            T::KprobeMulti { retprobe: false },
        ),
        def(
            "kretprobe.multi+",
            P::Kprobe,
            A::TRACE_KPROBE_MULTI,
            0,
            T::KprobeMulti { retprobe: true },
        ),
        def(
            "kprobe.session+",
            P::Kprobe,
            A::TRACE_KPROBE_SESSION,
            0,
            T::KprobeMulti { retprobe: false },
        ),
        def(
            "uprobe.multi+",
            P::Kprobe,
            A::TRACE_UPROBE_MULTI,
            0,
            T::UprobeMulti { retprobe: false },
        ),
        def(
            "uretprobe.multi+",
            P::Kprobe,
            A::TRACE_UPROBE_MULTI,
            0,
            T::UprobeMulti { retprobe: true },
        ),
        def(
            "uprobe.multi.s+",
            P::Kprobe,
            A::TRACE_UPROBE_MULTI,
            SLEEPABLE,
            T::UprobeMulti { retprobe: false },
        ),
        def(
            "uretprobe.multi.s+",
            P::Kprobe,
            A::TRACE_UPROBE_MULTI,
            SLEEPABLE,
            T::UprobeMulti { retprobe: true },
        ),
        def(
            "ksyscall+",
            P::Kprobe,
            A::NONE,
            0,
            T::Ksyscall { retprobe: false },
        ),
        def(
            "kretsyscall+",
            P::Kprobe,
            A::NONE,
            0,
            T::Ksyscall { retprobe: true },
        ),
        def("usdt+", P::Kprobe, A::NONE, 0, T::Usdt),
        def("usdt.s+", P::Kprobe, A::NONE, SLEEPABLE, T::Usdt),
        def("tc/ingress", P::SchedCls, A::TCX_INGRESS, 0, T::Nothing),
        def("tc/egress", P::SchedCls, A::TCX_EGRESS, 0, T::Nothing),
        def("tcx/ingress", P::SchedCls, A::TCX_INGRESS, 0, T::Nothing),
        def("tcx/egress", P::SchedCls, A::TCX_EGRESS, 0, T::Nothing),
        def(
            "netkit/primary",
            P::SchedCls,
            A::NETKIT_PRIMARY,
            0,
            T::Nothing,
        ),
        def("netkit/peer", P::SchedCls, A::NETKIT_PEER, 0, T::Nothing),
        def("tc", P::SchedCls, A::NONE, 0, T::Nothing),
        def("classifier", P::SchedCls, A::NONE, 0, T::Nothing),
        def("action", P::SchedAct, A::NONE, 0, T::Nothing),
        def("tracepoint+", P::Tracepoint, A::NONE, 0, T::Tracepoint),
        def("tp+", P::Tracepoint, A::NONE, 0, T::Tracepoint),
        def(
            "raw_tracepoint+",
            P::RawTracepoint,
            A::NONE,
            0,
            T::RawTracepoint,
        ),
        def("raw_tp+", P::RawTracepoint, A::NONE, 0, T::RawTracepoint),
        def(
            "raw_tracepoint.w+",
            P::RawTracepointWritable,
            A::NONE,
            0,
            T::RawTracepoint,
        ),
        def(
            "raw_tp.w+",
            P::RawTracepointWritable,
            A::NONE,
            0,
            T::RawTracepoint,
        ),
        def("tp_btf+", P::Tracing, A::TRACE_RAW_TP, 0, T::Btf),
        def("fentry+", P::Tracing, A::TRACE_FENTRY, 0, T::Btf),
        def("fmod_ret+", P::Tracing, A::MODIFY_RETURN, 0, T::Btf),
        def("fexit+", P::Tracing, A::TRACE_FEXIT, 0, T::Btf),
        def("fentry.s+", P::Tracing, A::TRACE_FENTRY, SLEEPABLE, T::Btf),
        def(
            "fmod_ret.s+",
            P::Tracing,
            A::MODIFY_RETURN,
            SLEEPABLE,
            T::Btf,
        ),
        def("fexit.s+", P::Tracing, A::TRACE_FEXIT, SLEEPABLE, T::Btf),
        def("freplace+", P::Ext, A::NONE, 0, T::Btf),
        def("lsm+", P::Lsm, A::LSM_MAC, 0, T::Btf),
        def("lsm.s+", P::Lsm, A::LSM_MAC, SLEEPABLE, T::Btf),
        def("lsm_cgroup+", P::Lsm, A::LSM_CGROUP, 0, T::Btf),
        def("iter+", P::Tracing, A::TRACE_ITER, 0, T::Btf),
        def("iter.s+", P::Tracing, A::TRACE_ITER, SLEEPABLE, T::Btf),
        def("syscall", P::Syscall, A::NONE, SLEEPABLE, T::Nothing),
        def(
            "xdp.frags/devmap",
            P::Xdp,
            A::XDP_DEVMAP,
            XDP_FRAGS,
            T::Nothing,
        ),
        def("xdp/devmap", P::Xdp, A::XDP_DEVMAP, 0, T::Nothing),
        def(
            "xdp.frags/cpumap",
            P::Xdp,
            A::XDP_CPUMAP,
            XDP_FRAGS,
            T::Nothing,
        ),
        def("xdp/cpumap", P::Xdp, A::XDP_CPUMAP, 0, T::Nothing),
        def("xdp.frags", P::Xdp, A::XDP, XDP_FRAGS, T::Nothing),
        def("xdp", P::Xdp, A::XDP, 0, T::Nothing),
        def("perf_event", P::PerfEvent, A::NONE, 0, T::Nothing),
        def("lwt_in", P::LwtIn, A::NONE, 0, T::Nothing),
        def("lwt_out", P::LwtOut, A::NONE, 0, T::Nothing),
        def("lwt_xmit", P::LwtXmit, A::NONE, 0, T::Nothing),
        def("lwt_seg6local", P::LwtSeg6local, A::NONE, 0, T::Nothing),
        def("sockops", P::SockOps, A::CGROUP_SOCK_OPS, 0, T::Nothing),
        def(
            "sk_skb/stream_parser",
            P::SkSkb,
            A::SK_SKB_STREAM_PARSER,
            0,
            T::Nothing,
        ),
        def(
            "sk_skb/stream_verdict",
            P::SkSkb,
            A::SK_SKB_STREAM_VERDICT,
            0,
            T::Nothing,
        ),
        def("sk_skb/verdict", P::SkSkb, A::SK_SKB_VERDICT, 0, T::Nothing),
        def("sk_skb", P::SkSkb, A::NONE, 0, T::Nothing),
        def("sk_msg", P::SkMsg, A::SK_MSG_VERDICT, 0, T::Nothing),
        def("lirc_mode2", P::LircMode2, A::LIRC_MODE2, 0, T::Nothing),
        def(
            "flow_dissector",
            P::FlowDissector,
            A::FLOW_DISSECTOR,
            0,
            T::Nothing,
        ),
        def(
            "cgroup_skb/ingress",
            P::CgroupSkb,
            A::CGROUP_INET_INGRESS,
            0,
            T::Nothing,
        ),
        def(
            "cgroup_skb/egress",
            P::CgroupSkb,
            A::CGROUP_INET_EGRESS,
            0,
            T::Nothing,
        ),
        def("cgroup/skb", P::CgroupSkb, A::NONE, 0, T::Nothing),
        def(
            "cgroup/sock_create",
            P::CgroupSock,
            A::CGROUP_INET_SOCK_CREATE,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/sock_release",
            P::CgroupSock,
            A::CGROUP_INET_SOCK_RELEASE,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/sock",
            P::CgroupSock,
            A::CGROUP_INET_SOCK_CREATE,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/post_bind4",
            P::CgroupSock,
            A::CGROUP_INET4_POST_BIND,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/post_bind6",
            P::CgroupSock,
            A::CGROUP_INET6_POST_BIND,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/bind4",
            P::CgroupSockAddr,
            A::CGROUP_INET4_BIND,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/bind6",
            P::CgroupSockAddr,
            A::CGROUP_INET6_BIND,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/connect4",
            P::CgroupSockAddr,
            A::CGROUP_INET4_CONNECT,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/connect6",
            P::CgroupSockAddr,
            A::CGROUP_INET6_CONNECT,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/connect_unix",
            P::CgroupSockAddr,
            A::CGROUP_UNIX_CONNECT,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/sendmsg4",
            P::CgroupSockAddr,
            A::CGROUP_UDP4_SENDMSG,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/sendmsg6",
            P::CgroupSockAddr,
            A::CGROUP_UDP6_SENDMSG,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/sendmsg_unix",
            P::CgroupSockAddr,
            A::CGROUP_UNIX_SENDMSG,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/recvmsg4",
            P::CgroupSockAddr,
            A::CGROUP_UDP4_RECVMSG,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/recvmsg6",
            P::CgroupSockAddr,
            A::CGROUP_UDP6_RECVMSG,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/recvmsg_unix",
            P::CgroupSockAddr,
            A::CGROUP_UNIX_RECVMSG,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getpeername4",
            P::CgroupSockAddr,
            A::CGROUP_INET4_GETPEERNAME,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getpeername6",
            P::CgroupSockAddr,
            A::CGROUP_INET6_GETPEERNAME,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getpeername_unix",
            P::CgroupSockAddr,
            A::CGROUP_UNIX_GETPEERNAME,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getsockname4",
            P::CgroupSockAddr,
            A::CGROUP_INET4_GETSOCKNAME,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getsockname6",
            P::CgroupSockAddr,
            A::CGROUP_INET6_GETSOCKNAME,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getsockname_unix",
            P::CgroupSockAddr,
            A::CGROUP_UNIX_GETSOCKNAME,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/sysctl",
            P::CgroupSysctl,
            A::CGROUP_SYSCTL,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/getsockopt",
            P::CgroupSockopt,
            A::CGROUP_GETSOCKOPT,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/setsockopt",
            P::CgroupSockopt,
            A::CGROUP_SETSOCKOPT,
            0,
            T::Nothing,
        ),
        def(
            "cgroup/dev",
            P::CgroupDevice,
            A::CGROUP_DEVICE,
            0,
            T::Nothing,
        ),
        def("struct_ops+", P::StructOps, A::NONE, 0, T::Nothing),
        def(
            "struct_ops.s+",
            P::StructOps,
            A::NONE,
            SLEEPABLE,
            T::Nothing,
        ),
        def("sk_lookup", P::SkLookup, A::SK_LOOKUP, 0, T::Nothing),
        def("netfilter", P::Netfilter, A::NETFILTER, 0, T::Nothing),
    ]
};

/// libbpf's `sec_def_matches`; on a match, the text after `name/` (`None` for the bare
/// name or an exact match).
fn matches<'s>(def: &str, section: &'s str) -> Option<Option<&'s str>> {
    if def.ends_with('/') {
        return section.strip_prefix(def).map(|_| None);
    }
    if let Some(name) = def.strip_suffix('+') {
        let rest = section.strip_prefix(name)?;
        return match rest.strip_prefix('/') {
            Some(target) => Some(Some(target)),
            None if rest.is_empty() => Some(None),
            None => None,
        };
    }
    (section == def).then_some(None)
}

/// Reads a program section's name: its type and attach target. Unknown names give
/// `(Unspec, None)` (see the module header); malformed targets of known types are errors.
pub fn program_type_from_section(section: &str) -> Result<(ProgramType, AttachTarget), ParseError> {
    section_def(section).map(|d| (d.prog_type, d.attach))
}

/// Reads a program section's name with libbpf's table: type, expected attach type,
/// flags and target. Unknown names give `Unspec` with no target; a known name with a
/// malformed target (`kprobe/`, `tracepoint/sched`) is an error.
pub fn section_def(section: &str) -> Result<SectionDef, ParseError> {
    let bad = |reason| ParseError::AttachTarget {
        section: section.to_string(),
        reason,
    };
    let Some((def, rest)) = DEFS
        .iter()
        .find_map(|d| matches(d.name, section).map(|rest| (d, rest)))
    else {
        return Ok(SectionDef {
            prog_type: ProgramType::Unspec,
            expected_attach_type: AttachType::NONE,
            prog_flags: 0,
            attach: AttachTarget::None,
        });
    };
    let attach = match (def.target, rest) {
        (Target::Nothing, _) | (_, None) => AttachTarget::None,
        (Target::Kprobe { retprobe }, Some(spec)) => {
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
            AttachTarget::Kprobe {
                function: function.to_string(),
                offset,
                retprobe,
            }
        }
        (Target::Tracepoint, Some(spec)) => match spec.split_once('/') {
            Some((category, name))
                if !category.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                AttachTarget::Tracepoint {
                    category: category.to_string(),
                    name: name.to_string(),
                }
            }
            _ if spec.is_empty() => return Err(bad("tracepoint without CATEGORY/NAME")),
            _ => return Err(bad("tracepoint target is not CATEGORY/NAME")),
        },
        (Target::RawTracepoint, Some(name)) => {
            if name.is_empty() {
                return Err(bad("raw tracepoint without a name"));
            }
            AttachTarget::RawTracepoint {
                name: name.to_string(),
            }
        }
        (Target::Btf, Some(name)) => {
            if name.is_empty() {
                return Err(bad("no kernel function or hook name after the /"));
            }
            AttachTarget::BtfFunction {
                name: name.to_string(),
            }
        }
        (Target::Uprobe { retprobe }, Some(spec)) => match spec.split_once(':') {
            // `uretprobe/readline` (no binary): libbpf cannot attach it by itself either;
            // the application attaches it, with a target of its choosing.
            None => AttachTarget::None,
            Some((binary, function)) => {
                if binary.is_empty() || function.is_empty() {
                    return Err(bad("uprobe target is not BINARY:FUNCTION[+OFFSET]"));
                }
                let (function, offset) = match function.split_once('+') {
                    Some((f, o)) => (f, parse_offset(o)),
                    None => match parse_offset(function) {
                        Some(o) => ("", Some(o)),
                        None => (function, Some(0)),
                    },
                };
                let offset = offset
                    .ok_or_else(|| bad("uprobe offset is not a number (BINARY:FUNCTION+OFFSET)"))?;
                AttachTarget::Uprobe {
                    binary: binary.to_string(),
                    function: function.to_string(),
                    offset,
                    retprobe,
                }
            }
        },
        (Target::Usdt, Some(spec)) => {
            let mut parts = spec.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(binary), Some(provider), Some(name))
                    if !binary.is_empty() && !provider.is_empty() && !name.is_empty() =>
                {
                    AttachTarget::Usdt {
                        binary: binary.to_string(),
                        provider: provider.to_string(),
                        name: name.to_string(),
                    }
                }
                _ => return Err(bad("usdt target is not BINARY:PROVIDER:NAME")),
            }
        }
        (Target::Ksyscall { retprobe }, Some(syscall)) => {
            if syscall.is_empty() {
                return Err(bad("ksyscall without a system call name"));
            }
            AttachTarget::Ksyscall {
                syscall: syscall.to_string(),
                retprobe,
            }
        }
        (Target::KprobeMulti { retprobe }, Some(pattern)) => {
            if pattern.is_empty() {
                return Err(bad("kprobe.multi without a pattern"));
            }
            AttachTarget::KprobeMulti {
                pattern: pattern.to_string(),
                retprobe,
            }
        }
        (Target::UprobeMulti { retprobe }, Some(spec)) => match spec.split_once(':') {
            Some((binary, pattern)) if !binary.is_empty() && !pattern.is_empty() => {
                AttachTarget::UprobeMulti {
                    binary: binary.to_string(),
                    pattern: pattern.to_string(),
                    retprobe,
                }
            }
            _ => return Err(bad("uprobe.multi target is not BINARY:PATTERN")),
        },
    };
    let mut prog_flags = 0;
    if def.flags & SLEEPABLE != 0 {
        prog_flags |= BPF_F_SLEEPABLE;
    }
    if def.flags & XDP_FRAGS != 0 {
        prog_flags |= BPF_F_XDP_HAS_FRAGS;
    }
    Ok(SectionDef {
        prog_type: def.prog_type,
        expected_attach_type: def.attach,
        prog_flags,
        attach,
    })
}

/// `0x10` or `16`.
fn parse_offset(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
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

    fn def(section: &str) -> SectionDef {
        section_def(section).unwrap()
    }

    /// Every kind the corpus has, and the common ones beside it, against libbpf's table
    /// (`Documentation/bpf/libbpf/program_types.rst`).
    #[test]
    fn libbpf_section_table() {
        use AttachType as A;
        use ProgramType as P;
        let cases: &[(&str, ProgramType, AttachType, u32)] = &[
            ("kprobe/do_unlinkat", P::Kprobe, A::NONE, 0),
            ("kretprobe/do_unlinkat", P::Kprobe, A::NONE, 0),
            ("kprobe", P::Kprobe, A::NONE, 0),
            (
                "tracepoint/syscalls/sys_enter_execve",
                P::Tracepoint,
                A::NONE,
                0,
            ),
            ("tp/sched/sched_process_exec", P::Tracepoint, A::NONE, 0),
            ("fentry/do_unlinkat", P::Tracing, A::TRACE_FENTRY, 0),
            ("fexit/do_unlinkat", P::Tracing, A::TRACE_FEXIT, 0),
            ("fentry", P::Tracing, A::TRACE_FENTRY, 0),
            (
                "fentry.s/do_unlinkat",
                P::Tracing,
                A::TRACE_FENTRY,
                BPF_F_SLEEPABLE,
            ),
            (
                "fmod_ret/security_file_open",
                P::Tracing,
                A::MODIFY_RETURN,
                0,
            ),
            ("tp_btf/sched_switch", P::Tracing, A::TRACE_RAW_TP, 0),
            ("raw_tp/sched_switch", P::RawTracepoint, A::NONE, 0),
            (
                "raw_tp.w/sched_switch",
                P::RawTracepointWritable,
                A::NONE,
                0,
            ),
            ("uprobe", P::Kprobe, A::NONE, 0),
            ("uprobe//proc/self/exe:uprobed_sub", P::Kprobe, A::NONE, 0),
            ("uretprobe/readline", P::Kprobe, A::NONE, 0),
            ("uprobe.s/bin:f", P::Kprobe, A::NONE, BPF_F_SLEEPABLE),
            ("usdt", P::Kprobe, A::NONE, 0),
            ("usdt/libc.so.6:libc:setjmp", P::Kprobe, A::NONE, 0),
            ("perf_event", P::PerfEvent, A::NONE, 0),
            ("ksyscall/tgkill", P::Kprobe, A::NONE, 0),
            ("kretsyscall/tgkill", P::Kprobe, A::NONE, 0),
            ("tc", P::SchedCls, A::NONE, 0),
            ("tc/ingress", P::SchedCls, A::TCX_INGRESS, 0),
            ("tcx/egress", P::SchedCls, A::TCX_EGRESS, 0),
            ("socket", P::SocketFilter, A::NONE, 0),
            ("lsm/bpf", P::Lsm, A::LSM_MAC, 0),
            ("lsm.s/bpf", P::Lsm, A::LSM_MAC, BPF_F_SLEEPABLE),
            ("iter/task", P::Tracing, A::TRACE_ITER, 0),
            ("iter.s/task", P::Tracing, A::TRACE_ITER, BPF_F_SLEEPABLE),
            ("kprobe.multi/tcp_*", P::Kprobe, A::TRACE_KPROBE_MULTI, 0),
            ("kretprobe.multi/tcp_*", P::Kprobe, A::TRACE_KPROBE_MULTI, 0),
            ("uprobe.multi/bin:f*", P::Kprobe, A::TRACE_UPROBE_MULTI, 0),
            ("xdp", P::Xdp, A::XDP, 0),
            ("xdp.frags", P::Xdp, A::XDP, BPF_F_XDP_HAS_FRAGS),
            ("xdp/devmap", P::Xdp, A::XDP_DEVMAP, 0),
            ("syscall", P::Syscall, A::NONE, BPF_F_SLEEPABLE),
            ("sockops", P::SockOps, A::CGROUP_SOCK_OPS, 0),
            ("sk_msg", P::SkMsg, A::SK_MSG_VERDICT, 0),
            (
                "sk_skb/stream_verdict",
                P::SkSkb,
                A::SK_SKB_STREAM_VERDICT,
                0,
            ),
            ("cgroup_skb/egress", P::CgroupSkb, A::CGROUP_INET_EGRESS, 0),
            (
                "cgroup/connect4",
                P::CgroupSockAddr,
                A::CGROUP_INET4_CONNECT,
                0,
            ),
            (
                "cgroup/sock_create",
                P::CgroupSock,
                A::CGROUP_INET_SOCK_CREATE,
                0,
            ),
            ("cgroup/dev", P::CgroupDevice, A::CGROUP_DEVICE, 0),
            (
                "cgroup/getsockopt",
                P::CgroupSockopt,
                A::CGROUP_GETSOCKOPT,
                0,
            ),
            ("sk_lookup", P::SkLookup, A::SK_LOOKUP, 0),
            ("freplace/handler", P::Ext, A::NONE, 0),
            ("struct_ops/cong_avoid", P::StructOps, A::NONE, 0),
            ("netfilter", P::Netfilter, A::NETFILTER, 0),
            // Exact names do not take a suffix; `name+` needs the `/`.
            ("socket/extra", P::Unspec, A::NONE, 0),
            ("kprobex", P::Unspec, A::NONE, 0),
        ];
        for &(section, prog_type, attach, flags) in cases {
            let d = def(section);
            assert_eq!(
                (d.prog_type, d.expected_attach_type, d.prog_flags),
                (prog_type, attach, flags),
                "{section}"
            );
        }
    }

    #[test]
    fn attach_targets_of_the_new_kinds() {
        assert_eq!(
            def("uprobe//proc/self/exe:uprobed_sub").attach,
            AttachTarget::Uprobe {
                binary: "/proc/self/exe".into(),
                function: "uprobed_sub".into(),
                offset: 0,
                retprobe: false
            }
        );
        assert_eq!(
            def("uretprobe/libc.so.6:malloc+0x10").attach,
            AttachTarget::Uprobe {
                binary: "libc.so.6".into(),
                function: "malloc".into(),
                offset: 16,
                retprobe: true
            }
        );
        assert_eq!(
            def("uprobe/bin:0x400").attach,
            AttachTarget::Uprobe {
                binary: "bin".into(),
                function: String::new(),
                offset: 0x400,
                retprobe: false
            }
        );
        // No binary: attached by the application (bashreadline), as with libbpf.
        assert_eq!(def("uretprobe/readline").attach, AttachTarget::None);
        assert_eq!(def("uprobe").attach, AttachTarget::None);
        assert_eq!(
            def("usdt/libc.so.6:libc:setjmp").attach,
            AttachTarget::Usdt {
                binary: "libc.so.6".into(),
                provider: "libc".into(),
                name: "setjmp".into()
            }
        );
        assert_eq!(
            def("kretsyscall/kill").attach,
            AttachTarget::Ksyscall {
                syscall: "kill".into(),
                retprobe: true
            }
        );
        assert_eq!(
            def("kprobe.multi/tcp_*").attach,
            AttachTarget::KprobeMulti {
                pattern: "tcp_*".into(),
                retprobe: false
            }
        );
        assert_eq!(
            def("iter/task").attach,
            AttachTarget::BtfFunction {
                name: "task".into()
            }
        );
        assert_eq!(def("fentry").attach, AttachTarget::None);
        assert_eq!(def("kprobe").attach, AttachTarget::None);
        let err = |section: &str, reason| {
            assert_eq!(
                section_def(section),
                Err(ParseError::AttachTarget {
                    section: section.into(),
                    reason
                })
            )
        };
        err(
            "usdt/bin:provider",
            "usdt target is not BINARY:PROVIDER:NAME",
        );
        err(
            "uprobe/bin:",
            "uprobe target is not BINARY:FUNCTION[+OFFSET]",
        );
        err(
            "uprobe/bin:f+x",
            "uprobe offset is not a number (BINARY:FUNCTION+OFFSET)",
        );
        err("ksyscall/", "ksyscall without a system call name");
        err("fentry/", "no kernel function or hook name after the /");
    }
}
