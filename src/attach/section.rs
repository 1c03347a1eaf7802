//! Attaching a program where its section name says, as libbpf's `bpf_program__attach`: the
//! section table is the spec's ([`crate::elf::AttachTarget`], read from `SEC("...")` by
//! `elf::program`); here each target goes to the file of its kind.

use super::kprobe::{self, KprobeKind};
use super::{iter, kprobe_multi, raw_tracepoint, tracepoint, tracing, uprobe, uprobe_multi};
use super::{AttachError, AttachOptions, Link};
use crate::elf::AttachTarget;
use crate::load::Program;
use crate::uapi::{AttachType, ProgramType};

/// Attaches `prog` where its section name says: `kprobe/FUNC[+OFF]`, `kretprobe/FUNC`,
/// `ksyscall/NAME`, `tracepoint/CATEGORY/NAME`, `raw_tp/NAME`, `tp_btf/NAME`,
/// `fentry/FUNC`, `fexit/FUNC`, `fmod_ret/FUNC`, `lsm/HOOK`, `iter/NAME`,
/// `uprobe/BINARY:FUNC[+OFF]`, `uretprobe/...`. A section that names no target
/// (`SEC("kprobe")`, and every tc, XDP (`xdp`, `xdp.frags`), `sk_lookup`,
/// `flow_dissector`, cgroup and sockmap program and socket filter: their interface,
/// namespace, cgroup, map or socket is known only at run time) is refused with
/// [`AttachError::NoTarget`], which names the function of its kind ([`super::tc::attach`],
/// [`super::xdp::attach`], [`super::cgroup::attach`], [`super::sockmap::attach`], ...). A USDT
/// program needs its object's maps: [`super::usdt::attach`]. `uprobe.multi/BINARY:GLOB`
/// and `kprobe.multi/GLOB` attach to every function the glob matches, cookies 0
/// ([`super::uprobe_multi`], [`super::kprobe_multi`]; `kprobe.session` is not attached).
pub fn by_section(prog: &Program, opts: &AttachOptions) -> Result<Link, AttachError> {
    let unsupported = |why: &str| AttachError::Unsupported {
        program: prog.name().to_string(),
        target: why.to_string(),
    };
    let kind = |retprobe: bool| {
        if retprobe {
            KprobeKind::Return
        } else {
            KprobeKind::Entry
        }
    };
    match prog.attach_target() {
        AttachTarget::Kprobe {
            function,
            offset,
            retprobe,
        } => kprobe::attach_at(prog, function, *offset, kind(*retprobe), opts),
        AttachTarget::Ksyscall { syscall, retprobe } => {
            let function = crate::features::syscall_function(syscall);
            kprobe::attach(prog, &function, kind(*retprobe), opts)
        }
        AttachTarget::Tracepoint { category, name } => {
            tracepoint::attach(prog, category, name, opts)
        }
        AttachTarget::RawTracepoint { name } => raw_tracepoint::attach(prog, name),
        AttachTarget::BtfFunction { .. } => {
            if prog.expected_attach_type() == AttachType::TRACE_ITER {
                iter::attach(prog)
            } else {
                tracing::attach(prog)
            }
        }
        AttachTarget::Uprobe {
            binary,
            function,
            offset,
            retprobe,
        } => {
            let path = uprobe::find_binary(binary);
            let symbol = (!function.is_empty()).then_some(function.as_str());
            uprobe::attach(prog, &path, symbol, *offset, *retprobe, None, opts)
        }
        AttachTarget::UprobeMulti {
            binary,
            pattern,
            retprobe,
        } => {
            let path = uprobe::find_binary(binary);
            let multi = uprobe_multi::UprobeMultiOptions {
                retprobe: *retprobe,
                pid: None,
            };
            uprobe_multi::attach_glob(prog, &path, pattern, &multi)
        }
        AttachTarget::KprobeMulti { pattern, retprobe }
            if prog.expected_attach_type() == AttachType::TRACE_KPROBE_MULTI =>
        {
            let multi = kprobe_multi::KprobeMultiOptions {
                retprobe: *retprobe,
            };
            kprobe_multi::attach_glob(prog, pattern, &multi)
        }
        AttachTarget::Usdt { .. } => Err(unsupported(
            "a USDT probe: a USDT program is attached with attach::usdt::attach(&program, \
             &object, ...), which writes its specs into the object's __bpf_usdt_specs map",
        )),
        AttachTarget::None => Err(no_target(prog)),
        other => Err(unsupported(&other.to_string())),
    }
}

/// The error for a program whose section names no target: the function of its kind.
fn no_target(prog: &Program) -> AttachError {
    let kind = prog.section().split('/').next().unwrap_or("");
    let method = match (prog.program_type(), kind) {
        (ProgramType::SchedCls, _) => {
            "attach::tc::attach(&program, interface, TcDirection::Ingress or Egress, options): \
             a tc program runs on a network interface"
        }
        (ProgramType::SocketFilter, _) => {
            "attach::socket::attach(&program, socket fd), or \
             attach::socket::attach_packet(&program, interface) for a raw packet socket on \
             an interface: a socket filter runs on a socket"
        }
        (ProgramType::Kprobe, "uprobe" | "uretprobe" | "uprobe.s" | "uretprobe.s") => {
            "attach::uprobe::attach(&program, binary, function, ...)"
        }
        (
            ProgramType::Kprobe,
            "uprobe.multi" | "uretprobe.multi" | "uprobe.multi.s" | "uretprobe.multi.s",
        ) => {
            "attach::uprobe_multi::attach_symbols(&program, binary, &[(function, cookie)], \
             options) or attach::uprobe_multi::attach_glob(&program, binary, pattern, options)"
        }
        (ProgramType::Kprobe, "kprobe.multi" | "kretprobe.multi") => {
            "attach::kprobe_multi::attach(&program, &[(function, cookie)], what, options) or \
             attach::kprobe_multi::attach_glob(&program, pattern, options)"
        }
        (ProgramType::Kprobe, _) => "attach::kprobe::attach(&program, function, kind, options)",
        (ProgramType::Tracepoint, _) => {
            "attach::tracepoint::attach(&program, category, name, options)"
        }
        (ProgramType::RawTracepoint | ProgramType::RawTracepointWritable, _) => {
            "attach::raw_tracepoint::attach(&program, name)"
        }
        (ProgramType::Xdp, _) => {
            "attach::xdp::attach(&program, interface, &XdpOptions { mode, replace }, options): \
             an XDP program runs on a network interface"
        }
        (ProgramType::SkLookup | ProgramType::FlowDissector, _) => {
            "attach::netns::attach(&program, netns fd, options), or \
             attach::netns::attach_path(&program, \"/proc/self/ns/net\", options): \
             it runs on a network namespace"
        }
        (ProgramType::PerfEvent, _) => {
            "attach::perf_event::attach(&program, event, pid, cpu, options)"
        }
        (ProgramType::StructOps, _) => {
            "attach::struct_ops::register(&object, map): a struct_ops program implements a \
             member of its object's struct_ops map, which is registered whole"
        }
        (t, _) if super::cgroup::is_cgroup_program(t) => {
            "attach::cgroup::attach(&program, cgroup v2 directory, options): a cgroup \
             program runs for the processes of a cgroup"
        }
        (ProgramType::SkReuseport, _) => {
            "attach::reuseport::attach(&program, socket fd): an sk_reuseport program picks \
             the socket of a SO_REUSEPORT group"
        }
        (ProgramType::SkMsg | ProgramType::SkSkb, _) => {
            "attach::sockmap::attach(&program, &map, options): an sk_msg or sk_skb program \
             runs for the sockets of a sockmap or sockhash"
        }
        _ => "nothing yet: this loader has no function for this kind of program",
    };
    AttachError::NoTarget {
        program: prog.name().to_string(),
        section: prog.section().to_string(),
        method: method.to_string(),
    }
}
