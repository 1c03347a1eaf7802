//! Programs of a network namespace: `sk_lookup` (`BPF_PROG_TYPE_SK_LOOKUP`, 5.9), which may
//! pick the socket an incoming connection or datagram of the namespace goes to
//! (`bpf_sk_assign`), and `flow_dissector` (`BPF_PROG_TYPE_FLOW_DISSECTOR`, 4.20), which
//! reads each packet's flow keys in place of the kernel's own dissector.
//!
//! ABI: the target is the namespace itself, as an fd of its `nsfs` file
//! (`/proc/self/ns/net`, `/proc/PID/ns/net`, a bind mount such as `/var/run/netns/NAME`
//! that `ip netns add` makes). Two ways (`include/uapi/linux/bpf.h`; the kernel's side is
//! `kernel/bpf/net_namespace.c`):
//! - A BPF link: `BPF_LINK_CREATE` with `link_create.target_fd` = the namespace's fd and
//!   attach type `BPF_SK_LOOKUP` (5.9, the only way for it) or `BPF_FLOW_DISSECTOR` (5.8).
//!   The program stays while the link fd is open. A namespace runs up to 64 `sk_lookup`
//!   programs, in the order attached, but one flow dissector: a second link is refused
//!   (`E2BIG`), as is a flow dissector where the root namespace has one or, on the root
//!   namespace, where another namespace has one (`EEXIST`).
//! - `BPF_PROG_ATTACH` with `BPF_FLOW_DISSECTOR` (4.20), which knows no target: it acts
//!   on the calling thread's own namespace (`target_fd` must be 0). The attach moves the
//!   calling thread into the target namespace for the call (`setns(2)`) and back. It
//!   replaces a flow dissector attached that way, is refused beside a link (`EEXIST`), and
//!   stays until `BPF_PROG_DETACH`, which since 5.8 detaches only the program it names:
//!   the [`Link`] sends it on drop with its own program, from inside the namespace again.
//!
//! Which way: a link where the kernel makes one for this kind (for the flow dissector,
//! `BPF_LINK_CREATE` answering `EINVAL` says it cannot: 5.7), unless
//! [`AttachOptions::force_prog_attach`]; `sk_lookup` has no other way.
//!
//! What the others do: libbpf's `bpf_program__attach_netns` (both kinds, a link, no
//! fallback), `bpf_prog_attach(prog, netns_fd, BPF_FLOW_DISSECTOR, 0)` for the old way;
//! cilium/ebpf's `link.AttachNetNs` (a link, falling back to `RawAttachProgram` for the
//! flow dissector), aya's `SkLookup::attach` and `FlowDissector::attach`.

use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{AttachError, AttachMethod, AttachOptions, Link, Probe, Via};
use crate::load::Program;
use crate::syscall::{self, SysError};
use crate::uapi::{AttachType, ProgramType};

/// Which program of the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetNsKind {
    /// `BPF_SK_LOOKUP`: socket lookup.
    SkLookup,
    /// `BPF_FLOW_DISSECTOR`: the flow dissector.
    FlowDissector,
}

impl NetNsKind {
    /// The kind a program is loaded as (its type), if it is one of these.
    pub fn of(prog: &Program) -> Option<NetNsKind> {
        match prog.program_type() {
            ProgramType::SkLookup => Some(NetNsKind::SkLookup),
            ProgramType::FlowDissector => Some(NetNsKind::FlowDissector),
            _ => None,
        }
    }

    /// Its `enum bpf_attach_type`.
    pub fn attach_type(self) -> AttachType {
        match self {
            NetNsKind::SkLookup => AttachType::SK_LOOKUP,
            NetNsKind::FlowDissector => AttachType::FLOW_DISSECTOR,
        }
    }

    fn probe(self) -> Probe {
        match self {
            NetNsKind::SkLookup => Probe::SkLookup,
            NetNsKind::FlowDissector => Probe::FlowDissector,
        }
    }
}

impl fmt::Display for NetNsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetNsKind::SkLookup => "sk_lookup",
            NetNsKind::FlowDissector => "flow_dissector",
        })
    }
}

/// Attaches a `sk_lookup` or `flow_dissector` program to the network namespace whose
/// `nsfs` file is at `path` (`/proc/self/ns/net`, `/var/run/netns/NAME`). Network
/// namespaces are per thread: `/proc/self/ns/net` is the main thread's; a thread that
/// moved (`unshare`, `setns`) names its own with `/proc/thread-self/ns/net`.
pub fn attach_path(prog: &Program, path: &Path, opts: &AttachOptions) -> Result<Link, AttachError> {
    let netns = File::open(path).map_err(|e| AttachError::Io {
        path: path.to_path_buf(),
        error: format!("opening the network namespace: {e}"),
    })?;
    attach_with_name(prog, netns.as_fd(), &path.display().to_string(), opts)
}

/// Attaches a `sk_lookup` or `flow_dissector` program to the network namespace `netns`
/// (an open fd of its `nsfs` file): a BPF link, or for a flow dissector on kernels without
/// one (or with [`AttachOptions::force_prog_attach`]) `BPF_PROG_ATTACH`. A second flow
/// dissector is refused with [`AttachError::AlreadyAttached`]. Dropping the link detaches
/// the program.
pub fn attach(
    prog: &Program,
    netns: BorrowedFd<'_>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    attach_with_name(prog, netns, &namespace_name(netns), opts)
}

/// The namespace as `/proc/self/fd/N` reads it: `net:[4026531840]`.
fn namespace_name(netns: BorrowedFd<'_>) -> String {
    use std::os::fd::AsRawFd;
    std::fs::read_link(PathBuf::from(format!(
        "/proc/self/fd/{}",
        netns.as_raw_fd()
    )))
    .map(|p| p.display().to_string())
    .unwrap_or_else(|_| format!("fd {}", netns.as_raw_fd()))
}

fn attach_with_name(
    prog: &Program,
    netns: BorrowedFd<'_>,
    name: &str,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let Some(kind) = NetNsKind::of(prog) else {
        return Err(AttachError::Unsupported {
            program: prog.name().to_string(),
            target: format!(
                "a network namespace: a {} program (only sk_lookup and flow_dissector \
                 programs run on one)",
                prog.program_type()
            ),
        });
    };
    let target = format!("{kind} of network namespace {name}");
    let method = |via| AttachMethod {
        probe: kind.probe(),
        via,
    };
    let use_link = !(opts.force_prog_attach && kind == NetNsKind::FlowDissector);
    if use_link {
        match syscall::link_create_fd(prog.as_fd(), netns, kind.attach_type()) {
            Ok(fd) => return Ok(Link::of_bpf_link(method(Via::BpfLink), target, fd)),
            // 5.7: no link for a flow dissector: PROG_ATTACH below.
            Err(e) if e.errno == libc::EINVAL && kind == NetNsKind::FlowDissector => {}
            Err(error) => return Err(refusal(target, error)),
        }
    }
    let sys = |error| AttachError::Sys {
        target: target.clone(),
        error,
    };
    // The guard's own copies: the program to name in BPF_PROG_DETACH, the namespace to
    // detach it from.
    let dup = |fd: BorrowedFd<'_>, what: &'static str| {
        fd.try_clone_to_owned()
            .map_err(|e| sys(SysError::new(what, e.raw_os_error().unwrap_or(libc::EBADF))))
    };
    let own_prog = dup(prog.as_fd(), "dup(program fd)")?;
    let own_netns = dup(netns, "dup(netns fd)")?;
    // PROG_ATTACH would silently take the place of a flow dissector attached that way:
    // refuse as a link would.
    let attached = programs(netns, kind)?;
    if !attached.is_empty() {
        return Err(AttachError::AlreadyAttached {
            target,
            error: SysError::new("BPF_PROG_QUERY", libc::EEXIST),
            message: Some(format!("program {} is attached there", attached[0])),
        });
    }
    in_namespace(netns, || {
        syscall::prog_attach_own_netns(prog.as_fd(), kind.attach_type())
    })
    .map_err(&sys)?
    .map_err(|error| refusal(target.clone(), error))?;
    Ok(Link {
        method: method(Via::ProgAttach),
        target,
        bpf_link: None,
        perf_event: None,
        kprobe: None,
        owned: Some(Box::new(ProgAttachGuard {
            kind,
            prog: own_prog,
            netns: own_netns,
            removed: false,
        })),
    })
}

/// Runs `f` with the calling thread inside network namespace `netns`, then moves the
/// thread back to the namespace it was in (`/proc/thread-self/ns/net`, opened first).
fn in_namespace<R>(netns: BorrowedFd<'_>, f: impl FnOnce() -> R) -> Result<R, SysError> {
    let home = File::open("/proc/thread-self/ns/net").map_err(|e| {
        SysError::new(
            "open(/proc/thread-self/ns/net)",
            e.raw_os_error().unwrap_or(libc::ENOENT),
        )
    })?;
    syscall::setns_net(netns)?;
    let result = f();
    syscall::setns_net(home.as_fd())?;
    Ok(result)
}

/// A refusal: the hook is taken (`EEXIST`, `E2BIG`), or another failure.
fn refusal(target: String, error: SysError) -> AttachError {
    if error.errno == libc::EEXIST || error.errno == libc::E2BIG {
        AttachError::AlreadyAttached {
            target,
            error,
            message: None,
        }
    } else {
        AttachError::Sys { target, error }
    }
}

/// The ids of the programs attached to the network namespace `netns` for `kind`
/// (`BPF_PROG_QUERY` with the namespace's fd), links and `BPF_PROG_ATTACH` alike.
pub fn programs(netns: BorrowedFd<'_>, kind: NetNsKind) -> Result<Vec<u32>, AttachError> {
    use std::os::fd::AsRawFd;
    syscall::prog_query(netns.as_raw_fd() as u32, kind.attach_type().0).map_err(|error| {
        AttachError::Sys {
            target: format!(
                "the {kind} programs of network namespace {}",
                namespace_name(netns)
            ),
            error,
        }
    })
}

/// A program attached to a namespace with `BPF_PROG_ATTACH`: detached on drop.
#[derive(Debug)]
pub(crate) struct ProgAttachGuard {
    kind: NetNsKind,
    prog: OwnedFd,
    netns: OwnedFd,
    removed: bool,
}

impl ProgAttachGuard {
    pub(crate) fn remove(mut self) -> Result<(), AttachError> {
        self.remove_now()
    }

    fn remove_now(&mut self) -> Result<(), AttachError> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let detached = in_namespace(self.netns.as_fd(), || {
            syscall::prog_detach_own_netns(self.prog.as_fd(), self.kind.attach_type())
        })
        .and_then(|detached| detached);
        match detached {
            Ok(()) => Ok(()),
            // Not ours any more (replaced by someone's BPF_PROG_ATTACH): nothing to undo.
            Err(error) if error.errno == libc::ENOENT => Ok(()),
            Err(error) => Err(AttachError::Sys {
                target: format!(
                    "{} of network namespace {}",
                    self.kind,
                    namespace_name(self.netns.as_fd())
                ),
                error,
            }),
        }
    }
}

impl Drop for ProgAttachGuard {
    fn drop(&mut self) {
        let _ = self.remove_now();
    }
}
