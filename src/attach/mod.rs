//! Attaching loaded programs to kernel events: kprobes (through the kprobe PMU, or the
//! legacy tracefs `kprobe_events`) and tracepoints.
//!
//! ABI: the kprobe PMU (4.17): `/sys/bus/event_source/devices/kprobe/type` and
//! `.../format/retprobe`, `perf_event_attr.config1` = pointer to the function name,
//! `config2` = offset (`include/uapi/linux/perf_event.h`, `kernel/trace/trace_event_perf.c`);
//! `kprobe_events` (`Documentation/trace/kprobetrace.rst`); tracepoint ids in
//! `events/CATEGORY/NAME/id` (`Documentation/trace/tracepoints.rst`); then
//! `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15) or `PERF_EVENT_IOC_SET_BPF` +
//! `PERF_EVENT_IOC_ENABLE` (`include/uapi/linux/bpf.h`, `perf_event.h`).
//!
//! Network programs: tc classifiers on an interface through TCX links or, before 6.6, the
//! clsact qdisc and a `bpf` filter made with rtnetlink ([`tc`], `attach::netlink`); socket
//! filters with `SO_ATTACH_BPF` (`attach::socket`).
//!
//! Every way of attaching yields a [`Link`], which owns what it created (the perf event,
//! the BPF link, the `kprobe_events` entry) and undoes it when dropped, or when
//! [`Link::detach`] is called, which reports errors.

mod netlink;
mod socket;
pub mod tc;
pub mod tracefs;
mod uprobe;
pub mod usdt;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod fault_tests;

pub(crate) use socket::{attach_packet_socket, attach_socket};
pub(crate) use tc::attach_tc;
pub use tc::{TcDirection, TcFilter, TcFilterInfo};

pub(crate) use uprobe::attach_uprobe;
pub use uprobe::find_binary;
pub use uprobe::UPROBE_PMU;
pub(crate) use usdt::attach_usdt_probe;

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::syscall::{self, PerfEventAttr, SysError};
use crate::uapi::AttachType;

/// The kprobe PMU's directory in sysfs.
pub const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// What the program was attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A kprobe through the kprobe PMU (4.17).
    KprobePmu,
    /// A kprobe created in tracefs `kprobe_events`.
    KprobeTracefs,
    /// A tracepoint.
    Tracepoint,
    /// A uprobe through the uprobe PMU (4.17).
    UprobePmu,
    /// A raw tracepoint (`BPF_RAW_TRACEPOINT_OPEN`, 4.17): no perf event at all.
    RawTracepoint,
    /// A sampling perf event (a hardware or software counter): the program runs on each
    /// sample.
    PerfEvent,
    /// A kernel function, hook or BTF tracepoint named by the program's `attach_btf_id`
    /// (fentry, fexit, fmod_ret, lsm, tp_btf): a BPF trampoline, no perf event.
    BtfTarget,
    /// An iterator (`iter/task`, ...): runs when its link is read.
    Iterator,
    /// A USDT probe: a uprobe at the probe, its semaphore counted, the spec id as cookie.
    Usdt,
    /// A network interface's tc hook (ingress or egress): a TCX link (6.6), or a `bpf`
    /// filter on the clsact qdisc.
    Tc,
    /// A socket: the program filters what it receives.
    Socket,
}

/// How the program was bound to the perf event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `BPF_LINK_CREATE` with attach type `BPF_PERF_EVENT` (5.15).
    BpfLink,
    /// `PERF_EVENT_IOC_SET_BPF` then `PERF_EVENT_IOC_ENABLE`.
    PerfIoctl,
    /// `BPF_RAW_TRACEPOINT_OPEN`: the fd it returns is the attachment.
    RawTracepointOpen,
    /// rtnetlink: a `bpf` classifier filter (direct action) on the interface's clsact
    /// qdisc, as `tc filter add ... bpf da` makes it.
    Netlink,
    /// `setsockopt(SO_ATTACH_BPF)`.
    Setsockopt,
}

/// How a [`Link`] was made: `kprobe PMU + BPF link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachMethod {
    /// The perf event the program hangs off.
    pub probe: Probe,
    /// How the program was bound to it.
    pub via: Via,
}

impl Probe {
    /// What this kind of attachment is, in a sentence.
    pub fn explain(self) -> &'static str {
        match self {
            Probe::KprobePmu => {
                "a perf event of the kprobe PMU (perf_event_open with the function's name)"
            }
            Probe::KprobeTracefs => {
                "a kprobe written into tracefs kprobe_events, opened as a tracepoint perf event"
            }
            Probe::Tracepoint => "a perf event of the tracepoint, by the id tracefs gives it",
            Probe::UprobePmu => {
                "a perf event of the uprobe PMU (perf_event_open with the binary's path and \
                 the function's file offset)"
            }
            Probe::RawTracepoint => "the raw tracepoint itself: no perf event in between",
            Probe::PerfEvent => "a sampling perf event: the program runs at each sample",
            Probe::BtfTarget => {
                "the kernel function, hook or BTF tracepoint the program was loaded for \
                 (attach_btf_id): a BPF trampoline, no perf event"
            }
            Probe::Iterator => "an iterator link: reading it runs the program over the objects",
            Probe::Usdt => {
                "a uprobe at the USDT probe's file offset (its semaphore as the reference \
                 counter); the program finds its argument specs by the link's BPF cookie"
            }
            Probe::Tc => {
                "the tc hook of a network interface (ingress or egress): the program sees \
                 every packet there and says what becomes of it"
            }
            Probe::Socket => {
                "a socket: the program sees each packet the socket would receive and says how \
                 many of its bytes the socket keeps"
            }
        }
    }
}

impl Via {
    /// How the program is bound, in a sentence.
    pub fn explain(self) -> &'static str {
        match self {
            Via::BpfLink => {
                "bound with BPF_LINK_CREATE: the program stays attached while the link fd is open \
                 (for perf events: 5.15+; for tc, a TCX link: 6.6+)"
            }
            Via::PerfIoctl => {
                "bound with PERF_EVENT_IOC_SET_BPF and enabled with PERF_EVENT_IOC_ENABLE"
            }
            Via::RawTracepointOpen => {
                "bound with BPF_RAW_TRACEPOINT_OPEN: attached while its fd is open"
            }
            Via::Netlink => {
                "added with rtnetlink as a bpf filter in direct-action mode on the clsact \
                 qdisc (created if absent), as `tc filter add dev X ingress bpf da` does: \
                 kernels before 6.6 have no TCX links; deleted when the link is dropped"
            }
            Via::Setsockopt => {
                "attached with setsockopt(SO_ATTACH_BPF), detached with SO_DETACH_BPF when \
                 the link is dropped"
            }
        }
    }
}

impl fmt::Display for AttachMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let probe = match self.probe {
            Probe::KprobePmu => "kprobe PMU",
            Probe::KprobeTracefs => "tracefs kprobe_events",
            Probe::Tracepoint => "tracepoint",
            Probe::UprobePmu => "uprobe PMU",
            Probe::RawTracepoint => "raw tracepoint",
            Probe::PerfEvent => "perf event",
            Probe::BtfTarget => "BTF target",
            Probe::Iterator => "iterator",
            Probe::Usdt => "USDT uprobe",
            Probe::Tc => "tc",
            Probe::Socket => "socket",
        };
        let via = match self.via {
            Via::BpfLink => "BPF link",
            Via::PerfIoctl => "PERF_EVENT_IOC_SET_BPF",
            Via::RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            Via::Netlink => "netlink clsact bpf filter",
            Via::Setsockopt => "SO_ATTACH_BPF",
        };
        write!(f, "{probe} + {via}")
    }
}

/// Which binding to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkPreference {
    /// `BPF_LINK_CREATE` where the kernel has it, else the ioctl.
    #[default]
    Auto,
    /// Always `PERF_EVENT_IOC_SET_BPF` (what kernels before 5.15 do).
    PerfIoctl,
}

/// Options for attaching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttachOptions {
    /// Bind with a BPF link where the kernel can, or always with the ioctl.
    pub link: LinkPreference,
    /// For kprobes: don't use the PMU even if there is one (use `kprobe_events`).
    pub force_tracefs_kprobe: bool,
    /// For tc programs: don't use a TCX link even if the kernel has them (6.6); add a
    /// `bpf` filter on the clsact qdisc with rtnetlink, as older kernels need.
    pub force_tc_netlink: bool,
}

/// Entry or return probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KprobeKind {
    /// A kprobe: the program runs when the function is entered.
    Entry,
    /// A kretprobe: the program runs when the function returns.
    Return,
}

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
        source: Box<usdt::ProbeAddressError>,
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
            AttachError::NetlinkReply {
                target,
                request,
                reason,
            } => write!(f, "attaching to {target}: the reply to {request}: {reason}"),
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
            AttachError::Sys { error, .. } => Some(error),
            AttachError::Usdt { source, .. } => Some(source),
            AttachError::UsdtAddress { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// A `kprobe_events` entry this process created; removed on drop.
#[derive(Debug)]
struct TracefsKprobe {
    tracefs: PathBuf,
    group: String,
    event: String,
}

impl TracefsKprobe {
    fn remove(mut self) -> Result<(), AttachError> {
        let result = self.remove_now();
        self.event.clear(); // nothing left for Drop
        result
    }

    fn remove_now(&self) -> Result<(), AttachError> {
        if self.event.is_empty() {
            return Ok(());
        }
        tracefs::remove_kprobe_event(&self.tracefs, &self.group, &self.event).map_err(|e| {
            AttachError::Io {
                path: self.tracefs.join("kprobe_events"),
                error: format!("removing {}/{}: {e}", self.group, self.event),
            }
        })
    }
}

impl Drop for TracefsKprobe {
    fn drop(&mut self) {
        let _ = self.remove_now();
    }
}

/// A program attached to an event. Dropping it detaches the program and removes what was
/// created for it; [`Link::detach`] does the same and reports errors.
#[derive(Debug)]
pub struct Link {
    method: AttachMethod,
    target: String,
    // Drop order matters: the BPF link, then the perf event, then the kprobe_events entry
    // (which the kernel refuses to remove while a perf event uses it).
    bpf_link: Option<OwnedFd>,
    perf_event: Option<OwnedFd>,
    kprobe: Option<TracefsKprobe>,
    // What else the link holds, undone after the perf event and kprobe entry are gone.
    owned: Option<Owned>,
}

/// What a [`Link`] holds besides its BPF link, perf event and `kprobe_events` entry, and
/// undoes on drop, last.
#[derive(Debug)]
enum Owned {
    /// A tc program's `bpf` filter added with rtnetlink (and the clsact qdisc made for it).
    TcFilter(tc::FilterGuard),
    /// The socket a socket filter is attached to.
    Socket(socket::SocketGuard),
    /// A USDT probe's entry in `__bpf_usdt_ip_to_spec_id` (kernels without BPF cookies):
    /// deleted once no uprobe can look it up any more.
    UsdtIp(usdt::UsdtIpEntry),
}

impl Link {
    /// A link to perf event `perf` (a tracepoint, kprobe, uprobe or sampling event): the
    /// program bound to it with a BPF link where the kernel has one, else the ioctl (see
    /// [`bind_with_cookie`]); `cookie` is what `bpf_get_attach_cookie` returns (0: none).
    fn of_perf_event(
        prog: BorrowedFd<'_>,
        perf: OwnedFd,
        probe: Probe,
        target: String,
        opts: &AttachOptions,
        cookie: u64,
    ) -> Result<Link, AttachError> {
        let (bpf_link, via) = bind_with_cookie(prog, perf.as_fd(), opts, &target, cookie)?;
        Ok(Link {
            method: AttachMethod { probe, via },
            target,
            bpf_link,
            perf_event: Some(perf),
            kprobe: None,
            owned: None,
        })
    }

    /// A link that is a BPF link alone (raw tracepoints, BTF targets, iterators, TCX).
    pub(crate) fn of_bpf_link(method: AttachMethod, target: String, fd: OwnedFd) -> Link {
        Link {
            method,
            target,
            bpf_link: Some(fd),
            perf_event: None,
            kprobe: None,
            owned: None,
        }
    }

    /// How the program was attached.
    pub fn method(&self) -> AttachMethod {
        self.method
    }

    /// What it was attached to: `kprobe tcp_connect`, `tracepoint sock/inet_sock_set_state`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `GROUP/EVENT` this link created in tracefs `kprobe_events`, if any.
    pub fn kprobe_event(&self) -> Option<String> {
        self.kprobe
            .as_ref()
            .map(|k| format!("{}/{}", k.group, k.event))
    }

    /// Runs an iterator link once (`BPF_ITER_CREATE`, then read to the end) and returns
    /// what the program wrote (`bpf_seq_printf`, `bpf_seq_write`).
    pub fn read_iter(&self) -> Result<Vec<u8>, AttachError> {
        use std::io::Read;
        let link = self
            .bpf_link
            .as_ref()
            .ok_or_else(|| AttachError::Unsupported {
                program: self.target.clone(),
                target: "reading a link that is not an iterator".into(),
            })?;
        let fd = syscall::iter_create(link.as_fd()).map_err(|error| AttachError::Sys {
            target: self.target.clone(),
            error,
        })?;
        let mut out = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut out)
            .map_err(|e| AttachError::Io {
                path: PathBuf::from(&self.target),
                error: e.to_string(),
            })?;
        Ok(out)
    }

    /// The perf event the program runs on.
    pub fn perf_event(&self) -> Option<BorrowedFd<'_>> {
        self.perf_event.as_ref().map(|fd| fd.as_fd())
    }

    /// For a tc program attached with rtnetlink: the filter (its priority and handle, as
    /// the kernel chose them) and whether the clsact qdisc was made for it.
    pub fn tc_filter(&self) -> Option<TcFilter> {
        match &self.owned {
            Some(Owned::TcFilter(guard)) => Some(guard.filter()),
            _ => None,
        }
    }

    /// For a socket filter: the socket it is attached to (this link's own fd of it), to
    /// read what the filter lets through.
    pub fn socket(&self) -> Option<BorrowedFd<'_>> {
        match &self.owned {
            Some(Owned::Socket(guard)) => guard.fd(),
            _ => None,
        }
    }

    /// Detaches the program and removes what was created, in order; returns the first error.
    pub fn detach(mut self) -> Result<(), AttachError> {
        let mut result = Ok(());
        drop(self.bpf_link.take());
        if let Some(perf) = self.perf_event.take() {
            if self.method.via == Via::PerfIoctl {
                if let Err(error) = syscall::perf_event_disable(perf.as_fd()) {
                    result = Err(AttachError::Sys {
                        target: self.target.clone(),
                        error,
                    });
                }
            }
        }
        if let Some(kprobe) = self.kprobe.take() {
            let removed = kprobe.remove();
            if result.is_ok() {
                result = removed;
            }
        }
        let removed = match self.owned.take() {
            Some(Owned::TcFilter(guard)) => guard.remove(),
            Some(Owned::Socket(guard)) => guard.detach(&self.target),
            Some(Owned::UsdtIp(entry)) => {
                drop(entry);
                Ok(())
            }
            None => Ok(()),
        };
        if result.is_ok() {
            result = removed;
        }
        result
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.target, self.method)
    }
}

/// Binds `prog` to the perf event and enables it, with a BPF cookie for the program
/// (`bpf_get_attach_cookie`; 0: none); a cookie needs the BPF link (5.15): the ioctl
/// cannot carry one.
fn bind_with_cookie(
    prog: BorrowedFd<'_>,
    perf: BorrowedFd<'_>,
    opts: &AttachOptions,
    target: &str,
    cookie: u64,
) -> Result<(Option<OwnedFd>, Via), AttachError> {
    let sys = |error| AttachError::Sys {
        target: target.to_string(),
        error,
    };
    if opts.link == LinkPreference::Auto || cookie != 0 {
        match syscall::link_create(prog, perf, AttachType::PERF_EVENT, cookie) {
            Ok(link) => {
                syscall::perf_event_enable(perf).map_err(sys)?;
                return Ok((Some(link), Via::BpfLink));
            }
            Err(e) if e.is_not_supported() && cookie == 0 => {}
            Err(e) => return Err(sys(e)),
        }
    }
    syscall::perf_event_set_bpf(perf, prog).map_err(sys)?;
    syscall::perf_event_enable(perf).map_err(sys)?;
    Ok((None, Via::PerfIoctl))
}

/// Attaches a `BPF_PROG_TYPE_TRACEPOINT` program to `category/name`
/// (e.g. `sock`/`inet_sock_set_state`).
pub(crate) fn attach_tracepoint(
    prog: BorrowedFd<'_>,
    category: &str,
    name: &str,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let target = format!("tracepoint {category}/{name}");
    let tracefs = tracefs::tracefs_dir()?;
    let id = tracefs::event_id(&tracefs, category, name)?.ok_or_else(|| {
        AttachError::TracepointNotFound {
            category: category.to_string(),
            name: name.to_string(),
            tracefs: tracefs.clone(),
        }
    })?;
    let perf = open_tracepoint_event(id, &target)?;
    Link::of_perf_event(prog, perf, Probe::Tracepoint, target, opts, 0)
}

fn open_tracepoint_event(id: u64, target: &str) -> Result<OwnedFd, AttachError> {
    let attr = PerfEventAttr {
        type_: syscall::PERF_TYPE_TRACEPOINT,
        config: id,
        sample_period: 1,
        wakeup: 1,
        flags: syscall::ATTR_FLAG_DISABLED,
        ..Default::default()
    };
    // pid -1, cpu 0: the program runs for every task on every CPU (it is attached to the
    // event's tracepoint, not to this one CPU's counter).
    syscall::perf_event_open(&attr, -1, 0).map_err(|error| AttachError::Sys {
        target: target.to_string(),
        error,
    })
}

/// The kprobe PMU's `type` and retprobe bit, or `None` when the kernel has no kprobe PMU.
fn kprobe_pmu() -> Result<Option<(u32, u32)>, AttachError> {
    probe_pmu(Path::new(KPROBE_PMU))
}

/// A probe PMU's (`kprobe`, `uprobe`) `type` and retprobe bit, or `None` when the kernel
/// has no such PMU.
fn probe_pmu(dir: &Path) -> Result<Option<(u32, u32)>, AttachError> {
    let type_path = dir.join("type");
    let text = match std::fs::read_to_string(&type_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AttachError::Io {
                path: type_path,
                error: e.to_string(),
            })
        }
    };
    let type_ = text
        .trim()
        .parse::<u32>()
        .map_err(|_| AttachError::BadFile {
            path: type_path,
            content: text.trim().to_string(),
        })?;
    let format_path = dir.join("format/retprobe");
    let format = std::fs::read_to_string(&format_path).map_err(|e| AttachError::Io {
        path: format_path.clone(),
        error: e.to_string(),
    })?;
    let bit = parse_config_bit(&format).ok_or_else(|| AttachError::BadFile {
        path: format_path,
        content: format.trim().to_string(),
    })?;
    Ok(Some((type_, bit)))
}

/// Parses a PMU format file naming one bit of `config` (`config:0`).
fn parse_config_bit(text: &str) -> Option<u32> {
    let bit = text.trim().strip_prefix("config:")?;
    bit.parse::<u32>().ok().filter(|&b| b < 64)
}

/// A counter that makes each tracefs kprobe name of this process unique.
static KPROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Attaches a `BPF_PROG_TYPE_KPROBE` program to the entry or return of `function`: through
/// the kprobe PMU where there is one, else through tracefs `kprobe_events`.
pub(crate) fn attach_kprobe(
    prog: BorrowedFd<'_>,
    function: &str,
    offset: u64,
    kind: KprobeKind,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let mut target = match kind {
        KprobeKind::Entry => format!("kprobe {function}"),
        KprobeKind::Return => format!("kretprobe {function}"),
    };
    if offset != 0 {
        target.push_str(&format!("+{offset:#x}"));
    }
    let not_found = |detail: String| AttachError::KprobeFunctionNotFound {
        function: function.to_string(),
        detail,
    };
    let pmu = if opts.force_tracefs_kprobe {
        None
    } else {
        kprobe_pmu()?
    };
    if let Some((type_, retprobe_bit)) = pmu {
        let name = CString::new(function).map_err(|_| not_found("NUL in the name".into()))?;
        let attr = PerfEventAttr {
            type_,
            config: match kind {
                KprobeKind::Entry => 0,
                KprobeKind::Return => 1 << retprobe_bit,
            },
            // `name` outlives the call below.
            config1: name.as_ptr() as usize as u64,
            config2: offset,
            sample_period: 1,
            wakeup: 1,
            flags: syscall::ATTR_FLAG_DISABLED,
            ..Default::default()
        };
        let perf = syscall::perf_event_open(&attr, -1, 0).map_err(|error| {
            if matches!(
                error.errno,
                libc::ENOENT | libc::EINVAL | libc::EADDRNOTAVAIL
            ) {
                not_found(error.to_string())
            } else {
                AttachError::Sys {
                    target: target.clone(),
                    error,
                }
            }
        })?;
        drop(name);
        return Link::of_perf_event(prog, perf, Probe::KprobePmu, target, opts, 0);
    }

    // Legacy: tracefs kprobe_events.
    let tracefs = match tracefs::tracefs_dir() {
        Ok(dir) => dir,
        Err(AttachError::TracefsUnavailable { reason }) => {
            return Err(AttachError::TracefsUnavailable {
                reason: format!(
                    "there is no kprobe PMU, and kprobes through kprobe_events need tracefs: {reason}"
                ),
            })
        }
        Err(e) => return Err(e),
    };
    if !tracefs.join("kprobe_events").exists() {
        return Err(AttachError::KprobesUnsupported);
    }
    let event = tracefs::kprobe_event_name(
        function,
        std::process::id(),
        KPROBE_SEQ.fetch_add(1, Ordering::Relaxed),
    );
    let group = tracefs::KPROBE_GROUP;
    let letter = match kind {
        KprobeKind::Entry => 'p',
        KprobeKind::Return => 'r',
    };
    if function.is_empty() || function.contains(|c: char| c.is_whitespace() || c == '\0') {
        return Err(not_found("not a function name".into()));
    }
    // From here on the guard removes the entry on every error path (and on the write's
    // own failure, in case the kernel created it half-way).
    let guard = TracefsKprobe {
        tracefs: tracefs.clone(),
        group: group.to_string(),
        event: event.clone(),
    };
    if let Err(e) = tracefs::write_kprobe_events(&tracefs, &{
        let at = if offset == 0 {
            function.to_string()
        } else {
            format!("{function}+{offset}")
        };
        format!("{letter}:{group}/{event} {at}\n")
    }) {
        return Err(not_found(format!("writing kprobe_events: {e}")));
    }
    let id = tracefs::event_id(&tracefs, group, &event)?.ok_or_else(|| AttachError::Io {
        path: tracefs.join("events").join(group).join(&event).join("id"),
        error: "the kprobe was created but has no id".to_string(),
    })?;
    let perf = open_tracepoint_event(id, &target)?;
    let mut link = Link::of_perf_event(prog, perf, Probe::KprobeTracefs, target, opts, 0)?;
    link.kprobe = Some(guard);
    Ok(link)
}

/// Attaches a `BPF_PROG_TYPE_RAW_TRACEPOINT` program to the raw tracepoint `name`
/// (`sched_switch`, `sys_enter`): the tracepoint's arguments as they are in the kernel,
/// without the tracefs format's copying.
pub(crate) fn attach_raw_tracepoint(prog: BorrowedFd<'_>, name: &str) -> Result<Link, AttachError> {
    let target = format!("raw tracepoint {name}");
    let c_name = CString::new(name).map_err(|_| AttachError::TracepointNotFound {
        category: "raw".into(),
        name: name.to_string(),
        tracefs: PathBuf::new(),
    })?;
    let fd =
        syscall::raw_tracepoint_open(prog, Some(&c_name)).map_err(|error| AttachError::Sys {
            target: target.clone(),
            error,
        })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::RawTracepoint,
            via: Via::RawTracepointOpen,
        },
        target,
        fd,
    ))
}

/// Attaches a BTF-typed program (tp_btf, fentry, fexit, fmod_ret, lsm) to the target its
/// `attach_btf_id` named at load (`target` is only for messages): `BPF_RAW_TRACEPOINT_OPEN`
/// without a name (5.5; lsm 5.7).
pub(crate) fn attach_btf(prog: BorrowedFd<'_>, target: String) -> Result<Link, AttachError> {
    let fd = syscall::raw_tracepoint_open(prog, None).map_err(|error| AttachError::Sys {
        target: target.clone(),
        error,
    })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::BtfTarget,
            via: Via::RawTracepointOpen,
        },
        target,
        fd,
    ))
}

/// Attaches an iterator program (`iter/task`, ...) as an iterator link (5.8); each
/// [`Link::read_iter`] runs it.
pub(crate) fn attach_iter(prog: BorrowedFd<'_>, target: String) -> Result<Link, AttachError> {
    let fd =
        syscall::link_create_raw_target(prog, 0, AttachType::TRACE_ITER.0).map_err(|error| {
            AttachError::Sys {
                target: target.clone(),
                error,
            }
        })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::Iterator,
            via: Via::BpfLink,
        },
        target,
        fd,
    ))
}

/// How often a sampling perf event samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRate {
    /// Every this many events (for a clock, nanoseconds).
    Period(u64),
    /// This many times a second (the kernel adjusts the period).
    Frequency(u64),
}

/// A sampling perf event to run a `BPF_PROG_TYPE_PERF_EVENT` program on: `perf_type` and
/// `config` as `perf_event_open(2)` takes them (`PERF_TYPE_SOFTWARE` 1 with
/// `PERF_COUNT_SW_CPU_CLOCK` 0, `PERF_TYPE_HARDWARE` 0 with `PERF_COUNT_HW_CPU_CYCLES` 0,
/// ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfEventSpec {
    /// `perf_event_attr.type`.
    pub perf_type: u32,
    /// `perf_event_attr.config`.
    pub config: u64,
    /// How often it samples.
    pub rate: SampleRate,
}

/// Attaches a perf event program to a new sampling event on `cpu` (every process on that
/// CPU) or of thread `pid` (a thread id, on any CPU); at least one of the two must be given, as
/// `perf_event_open(2)` requires. One link per event: to sample every CPU, attach once
/// per CPU ([`crate::perf::online_cpus`]).
pub(crate) fn attach_perf_event(
    prog: BorrowedFd<'_>,
    event: &PerfEventSpec,
    pid: Option<u32>,
    cpu: Option<u32>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let (period, freq) = match event.rate {
        SampleRate::Period(n) => (n, 0),
        SampleRate::Frequency(n) => (n, syscall::ATTR_FLAG_FREQ),
    };
    let attr = PerfEventAttr {
        type_: event.perf_type,
        config: event.config,
        sample_period: period,
        flags: syscall::ATTR_FLAG_DISABLED | freq,
        ..Default::default()
    };
    let target = format!(
        "perf event type {} config {} on {}",
        event.perf_type,
        event.config,
        match (pid, cpu) {
            (Some(pid), Some(cpu)) => format!("thread {pid}, cpu {cpu}"),
            (Some(pid), None) => format!("thread {pid}"),
            (None, Some(cpu)) => format!("cpu {cpu}"),
            (None, None) => "no thread and no cpu".to_string(),
        }
    );
    let pid = pid.map_or(-1, |p| p as i32);
    let cpu = cpu.map_or(-1, |c| c as i32);
    let perf = syscall::perf_event_open(&attr, pid, cpu).map_err(|error| AttachError::Sys {
        target: target.clone(),
        error,
    })?;
    Link::of_perf_event(prog, perf, Probe::PerfEvent, target, opts, 0)
}

pub use tracefs::prune_stale_kprobes;

/// Does this kernel have kprobes at all: a kprobe PMU, or `kprobe_events` in tracefs?
/// (Looks at tracefs only where it is already mounted.)
pub fn kprobes_available() -> bool {
    Path::new(KPROBE_PMU).exists()
        || [tracefs::TRACEFS, tracefs::DEBUGFS_TRACING]
            .iter()
            .any(|dir| Path::new(dir).join("kprobe_events").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retprobe_bit_is_parsed_from_the_format_file() {
        assert_eq!(parse_config_bit("config:0\n"), Some(0));
        assert_eq!(parse_config_bit("config:63"), Some(63));
        assert_eq!(parse_config_bit("config:64"), None);
        assert_eq!(parse_config_bit("config1:0"), None);
        assert_eq!(parse_config_bit("config:0-3"), None);
        assert_eq!(parse_config_bit(""), None);
    }

    #[test]
    fn methods_read_well() {
        let m = AttachMethod {
            probe: Probe::KprobePmu,
            via: Via::BpfLink,
        };
        assert_eq!(m.to_string(), "kprobe PMU + BPF link");
        let m = AttachMethod {
            probe: Probe::KprobeTracefs,
            via: Via::PerfIoctl,
        };
        assert_eq!(
            m.to_string(),
            "tracefs kprobe_events + PERF_EVENT_IOC_SET_BPF"
        );
    }

    #[test]
    fn the_no_kprobes_error_says_why() {
        assert_eq!(
            AttachError::KprobesUnsupported.to_string(),
            "this kernel has no kprobe support (CONFIG_KPROBES is off): no kprobe PMU and no kprobe_events in tracefs"
        );
    }
}
