//! Why attaching failed: one error for every way of attaching, each variant saying what was
//! missing or refused; a failed system call is the [`source`](std::error::Error::source).

use std::fmt;
use std::path::PathBuf;

use super::uprobe::UPROBE_PMU;
use crate::syscall::SysError;

/// Attaching failed. Every variant says what was missing or refused.
#[derive(Debug)]
pub enum AttachError {
    /// No kprobe PMU and no `kprobe_events` in tracefs.
    KprobesUnsupported,
    /// The kernel refused to probe the function (it does not exist, or cannot be probed).
    KprobeFunctionNotFound {
        /// The function's name.
        function: String,
        /// Why: the error of `perf_event_open` or of the write to `kprobe_events`, or a
        /// name that cannot be a function's.
        detail: String,
    },
    /// No tracefs, and it could not be mounted.
    TracefsUnavailable {
        /// Where tracefs was looked for, and what went wrong.
        reason: String,
    },
    /// No `events/CATEGORY/NAME` in tracefs.
    TracepointNotFound {
        /// The tracepoint's category (`sock`).
        category: String,
        /// Its name (`inet_sock_set_state`).
        name: String,
        /// The tracefs mount that was searched.
        tracefs: PathBuf,
    },
    /// A sysfs or tracefs file held something unexpected.
    BadFile {
        /// The file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// A sysfs or tracefs file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error, with what was being done.
        error: String,
    },
    /// A system call failed while attaching to `target`.
    Sys {
        /// What was being attached to (`kprobe tcp_connect`,
        /// `tracepoint sock/inet_sock_set_state`).
        target: String,
        /// The failed system call.
        error: SysError,
    },
    /// This loader has no way (yet) to attach a program to that kind of target.
    Unsupported {
        /// The program's name.
        program: String,
        /// Its attach target, as its section name gives it.
        target: String,
    },
    /// Pinning or updating a link that is not a BPF link: made with the perf ioctl,
    /// rtnetlink or `setsockopt`, or owning what this process must undo (a tracefs
    /// `kprobe_events` entry, a USDT address entry), so nothing in the kernel would
    /// keep it once this process is gone.
    NotABpfLink {
        /// The link (`tracepoint syscalls/sys_enter_getpid`).
        link: String,
        /// How it was made.
        method: super::AttachMethod,
        /// What was asked (`pin`, `update`).
        operation: &'static str,
    },
    /// A pin reopened as a link holds another kind of object.
    NotALinkPin {
        /// The pin.
        path: PathBuf,
        /// What it holds (`prog`, `map`).
        kind: &'static str,
    },
    /// The kernel has no such operation for this kind of link (`BPF_LINK_UPDATE` of a
    /// perf event or raw tracepoint link, `BPF_LINK_DETACH` before 5.9).
    LinkOperationUnsupported {
        /// The link.
        link: String,
        /// The command (`BPF_LINK_UPDATE`).
        operation: &'static str,
        /// What the kernel answered.
        error: SysError,
    },
    /// No uprobe PMU (`CONFIG_UPROBE_EVENTS` off, or a kernel before 4.17).
    UprobesUnsupported,
    /// The binary to probe could not be read or is not an ELF file.
    Binary {
        /// The binary (an executable or shared library).
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// No function of that name in the binary's symbol tables.
    SymbolNotFound {
        /// The binary searched.
        path: PathBuf,
        /// The function's name.
        symbol: String,
    },
    /// No USDT probe `provider:name` in the binary's `.note.stapsdt`.
    UsdtNotFound {
        /// The binary.
        path: PathBuf,
        /// The probe asked for, `provider:name`.
        probe: String,
    },
    /// The binary's USDT notes or a probe's arguments could not be read.
    Usdt {
        /// The binary.
        path: PathBuf,
        /// What is wrong.
        source: crate::elf::usdt::UsdtError,
    },
    /// Without BPF cookies, a USDT probe's address in the traced process could not be
    /// found (the program looks its spec up by that address).
    UsdtAddress {
        /// The program.
        program: String,
        /// The probe, `provider:name`.
        probe: String,
        /// The binary.
        path: PathBuf,
        /// Why there is no address (boxed: the error stays small).
        source: Box<super::usdt::ProbeAddressError>,
    },
    /// What a USDT program needs that this object or kernel lacks (libbpf's `usdt.bpf.h`
    /// maps, BPF cookies).
    UsdtUnsupported {
        /// The program.
        program: String,
        /// What is missing.
        reason: String,
    },
    /// The program's section names no target, and its kind needs one given at attach time.
    NoTarget {
        /// The program.
        program: String,
        /// Its section (`tc`, `socket`, `kprobe`).
        section: String,
        /// How to attach it: the method of its kind and what it takes.
        method: String,
    },
    /// The kernel has no links of this multi-probe kind (decided by a probe of the
    /// running kernel, as libbpf's).
    MultiProbeUnsupported {
        /// `kprobe.multi`, `uretprobe.multi`, ...
        kind: &'static str,
        /// What the kernel would need.
        needs: &'static str,
    },
    /// A glob (`uprobe.multi/BINARY:PATTERN`, `kprobe.multi/PATTERN`) matched nothing.
    NoMatch {
        /// The glob.
        pattern: String,
        /// What was searched.
        searched: String,
    },
    /// A struct_ops map could not be registered (before any system call).
    StructOps {
        /// The map.
        map: String,
        /// Why.
        reason: String,
    },
    /// No network interface of that name or index.
    InterfaceNotFound {
        /// The name or index asked for.
        interface: String,
    },
    /// The kernel refused an rtnetlink request.
    Netlink {
        /// What was being attached to or removed (`tc ingress of lo (ifindex 1)`).
        target: String,
        /// The request (`RTM_NEWTFILTER`) and the kernel's errno.
        error: SysError,
        /// The kernel's own explanation (its extended ack), where it gave one.
        message: Option<String>,
    },
    /// The target given for a cgroup program is not a cgroup v2 directory.
    NotACgroup {
        /// The path or fd given.
        path: String,
        /// What it is instead, or why it could not be opened.
        reason: String,
    },
    /// The map given for a sockmap program is not a sockmap or sockhash.
    NotASockmap {
        /// The program.
        program: String,
        /// The map's name.
        map: String,
        /// The map's type.
        map_type: crate::uapi::MapType,
    },
    /// The hook holds a program already, and the request was not to replace it: XDP with
    /// `XDP_FLAGS_UPDATE_IF_NOEXIST` or as a BPF link (`EBUSY`), a replace whose expected
    /// program is no longer the one attached (`EEXIST`), a second flow dissector on a
    /// network namespace (`E2BIG` for a link, `EEXIST` beside a link).
    AlreadyAttached {
        /// The hook (`XDP (generic) of veth0 (ifindex 4)`, `flow_dissector of netns ...`).
        target: String,
        /// The request and the kernel's errno.
        error: SysError,
        /// The kernel's own explanation (its extended ack), where it gave one.
        message: Option<String>,
    },
    /// An iterator's parameter was refused before any system call: its target needs
    /// another, or none, or the running kernel does not know it.
    IterParams {
        /// The program.
        program: String,
        /// Its iterator target (`task`, `bpf_map_elem`).
        target: String,
        /// What is wrong.
        problem: super::iter::IterParamProblem,
    },
    /// An rtnetlink reply could not be read.
    NetlinkReply {
        /// What was being attached to.
        target: String,
        /// The request answered (`RTM_NEWTFILTER`).
        request: &'static str,
        /// What is wrong with the reply.
        reason: String,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::KprobesUnsupported => write!(
                f,
                "this kernel has no kprobe support (CONFIG_KPROBES is off): no kprobe PMU and no kprobe_events in tracefs"
            ),
            AttachError::KprobeFunctionNotFound { function, detail } => write!(
                f,
                "cannot kprobe {function}: no such function in this kernel, or it cannot be probed ({detail})"
            ),
            AttachError::TracefsUnavailable { reason } => write!(f, "tracefs: {reason}"),
            AttachError::TracepointNotFound {
                category,
                name,
                tracefs,
            } => write!(
                f,
                "no tracepoint {category}/{name} in this kernel ({}/events/{category}/{name} does not exist)",
                tracefs.display()
            ),
            AttachError::BadFile { path, content } => {
                write!(f, "unexpected content {content:?} in {}", path.display())
            }
            AttachError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            AttachError::Sys { target, .. } => write!(f, "attaching to {target}"),
            AttachError::Unsupported { program, target } => {
                write!(f, "program {program}: attaching to {target} is not supported")
            }
            AttachError::NotABpfLink {
                link,
                method,
                operation,
            } => write!(
                f,
                "cannot {operation} {link}: attached by {method}, not a BPF link; only a BPF \
                 link can be pinned or updated"
            ),
            AttachError::NotALinkPin { path, kind } => {
                write!(f, "{} holds a {kind}, not a link", path.display())
            }
            AttachError::LinkOperationUnsupported {
                link, operation, ..
            } => write!(
                f,
                "{link}: the kernel has no {operation} for this kind of link"
            ),
            AttachError::UprobesUnsupported => write!(
                f,
                "this kernel has no uprobe PMU ({UPROBE_PMU}): CONFIG_UPROBE_EVENTS is off"
            ),
            AttachError::Binary { path, reason } => write!(f, "{}: {reason}", path.display()),
            AttachError::UsdtNotFound { path, probe } => {
                write!(f, "no USDT probe {probe} in {}", path.display())
            }
            AttachError::Usdt { path, .. } => write!(f, "USDT probes of {}", path.display()),
            AttachError::UsdtAddress {
                program,
                probe,
                path,
                ..
            } => write!(f, "program {program}: {probe} in {}", path.display()),
            AttachError::UsdtUnsupported { program, reason } => {
                write!(f, "program {program}: {reason}")
            }
            AttachError::NoTarget {
                program,
                section,
                method,
            } => write!(
                f,
                "program {program}: its section {section:?} names no target: attach it with {method}"
            ),
            AttachError::MultiProbeUnsupported { kind, needs } => write!(
                f,
                "this kernel cannot attach {kind} programs: it has no {needs}"
            ),
            AttachError::NoMatch { pattern, searched } => {
                write!(f, "no match for {pattern:?} in {searched}")
            }
            AttachError::StructOps { map, reason } => {
                write!(f, "registering struct_ops map {map}: {reason}")
            }
            AttachError::InterfaceNotFound { interface } => {
                write!(f, "no network interface {interface} (see `ip link`)")
            }
            AttachError::Netlink {
                target,
                error,
                message,
            } => {
                write!(f, "attaching to {target}: {error}")?;
                if let Some(message) = message {
                    write!(f, " (the kernel says: {message})")?;
                }
                Ok(())
            }
            AttachError::AlreadyAttached {
                target, message, ..
            } => {
                write!(
                    f,
                    "attaching to {target}: a program is attached there already"
                )?;
                if let Some(message) = message {
                    write!(f, " (the kernel says: {message})")?;
                }
                Ok(())
            }
            AttachError::NetlinkReply {
                target,
                request,
                reason,
            } => write!(f, "attaching to {target}: the reply to {request}: {reason}"),
            AttachError::IterParams {
                program,
                target,
                problem,
            } => write!(f, "program {program} (iter/{target}): {problem}"),
            AttachError::NotACgroup { path, reason } => {
                write!(f, "{path} is not a cgroup v2 directory: {reason}")
            }
            AttachError::NotASockmap {
                program,
                map,
                map_type,
            } => write!(
                f,
                "program {program}: map {map} is of type {}: sk_msg and sk_skb programs attach \
                 to a sockmap or sockhash",
                map_type
            ),
            AttachError::SymbolNotFound { path, symbol } => write!(
                f,
                "no function {symbol} in the symbol tables of {}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AttachError::Sys { error, .. }
            | AttachError::LinkOperationUnsupported { error, .. } => Some(error),
            AttachError::AlreadyAttached { error, .. } => Some(error),
            AttachError::Usdt { source, .. } => Some(source),
            AttachError::UsdtAddress { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_no_kprobes_error_says_why() {
        assert_eq!(
            AttachError::KprobesUnsupported.to_string(),
            "this kernel has no kprobe support (CONFIG_KPROBES is off): no kprobe PMU and no kprobe_events in tracefs"
        );
    }
}
