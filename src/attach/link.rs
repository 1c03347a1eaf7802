//! The [`Link`]: a program attached, owning what was made for it (the BPF link, the perf
//! event, the `kprobe_events` entry, the tc filter, the socket, the USDT address entry) and
//! undoing it when dropped; how it was made ([`AttachMethod`]: a [`Probe`] and a [`Via`]);
//! and the binding of a program to a perf event, which the perf-event kinds share.
//!
//! ABI: `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15; its `bpf_cookie`), or
//! `PERF_EVENT_IOC_SET_BPF` + `PERF_EVENT_IOC_ENABLE` (`include/uapi/linux/bpf.h`,
//! `include/uapi/linux/perf_event.h`); `BPF_ITER_CREATE` for iterator links.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::{
    netns, prog_attach, reuseport, socket, struct_ops, tc, tracefs, usdt, xdp, AttachError,
    TcFilter,
};
use crate::syscall;
use crate::uapi::AttachType;

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
    /// Many functions of one user-space binary, through one multi-uprobe link (6.6).
    UprobeMulti,
    /// Many kernel functions, through one multi-kprobe (fprobe) link (5.18).
    KprobeMulti,
    /// A kernel ops struct (`tcp_congestion_ops`, ...) implemented by programs: a
    /// struct_ops map registered with the kernel (5.6).
    StructOps,
    /// A BPF link reopened from its pin ([`Link::from_pin`]): what it is attached to is
    /// the kernel's to say (its `bpf_link_info` type, in the link's target).
    Pinned,
    /// A cgroup v2 directory: the program runs for the sockets, devices or sysctls of the
    /// processes in it and in its descendants.
    Cgroup,
    /// A sockmap or sockhash: the program runs on the messages or packets of the sockets
    /// in the map.
    Sockmap,
    /// A socket of a `SO_REUSEPORT` group: the program picks the group's socket for each
    /// new connection or datagram.
    Reuseport,
    /// A network interface's XDP hook (generic, driver or offloaded).
    Xdp,
    /// A network namespace's socket lookup (`sk_lookup`, 5.9).
    SkLookup,
    /// A network namespace's flow dissector.
    FlowDissector,
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
    /// `BPF_MAP_UPDATE_ELEM` of a struct_ops map's value: registered until its key is
    /// deleted.
    MapUpdate,
    /// `BPF_PROG_ATTACH` (with `BPF_F_ALLOW_MULTI` on a cgroup; inside the namespace for a
    /// flow dissector): no fd holds it, the link detaches it with `BPF_PROG_DETACH`.
    ProgAttach,
    /// `setsockopt(SO_ATTACH_REUSEPORT_EBPF)`.
    ReuseportSetsockopt,
    /// rtnetlink `RTM_SETLINK` with `IFLA_XDP`, as `ip link set dev X xdp` does.
    NetlinkXdp,
}

/// How a [`Link`] was made: `kprobe PMU + BPF link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachMethod {
    /// What the program was attached to: a perf event (kprobe, tracepoint, uprobe, USDT,
    /// sampling event), a raw tracepoint, a BTF target, an iterator, a tc hook or a socket.
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
            Probe::UprobeMulti => {
                "a multi-uprobe: uprobes at many file offsets of one binary, one link, each \
                 place with its own BPF cookie"
            }
            Probe::KprobeMulti => {
                "a multi-kprobe: an fprobe on many kernel functions, one link, each function \
                 with its own BPF cookie"
            }
            Probe::StructOps => {
                "a kernel ops struct implemented by the programs (a struct_ops map): the \
                 kernel calls them where it would call its own implementations"
            }
            Probe::Pinned => {
                "a BPF link reopened from its pin in a bpf filesystem: attached by another \
                 process (or an earlier run), it lives while pinned or open"
            }
            Probe::Cgroup => {
                "a cgroup v2 directory: the program runs for the processes in it and in its \
                 descendants (their sockets, devices or sysctls, as its attach type says)"
            }
            Probe::Sockmap => {
                "a sockmap or sockhash: the program runs on the messages or packets of the \
                 sockets in the map, and may redirect them to another socket of a map"
            }
            Probe::Reuseport => {
                "a socket of a SO_REUSEPORT group: the program picks which of the group's \
                 sockets gets each new connection or datagram"
            }
            Probe::Xdp => {
                "the XDP hook of a network interface: the program sees each received frame \
                 before the stack does (in the driver, or in generic mode on the skb) and \
                 says whether it passes, is dropped, sent back or redirected"
            }
            Probe::SkLookup => {
                "a network namespace's socket lookup: the program may pick the socket an \
                 incoming connection or datagram goes to"
            }
            Probe::FlowDissector => {
                "a network namespace's flow dissector: the program, not the kernel's C \
                 code, reads each packet's flow keys (addresses, ports, protocol)"
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
            Via::MapUpdate => {
                "registered with BPF_MAP_UPDATE_ELEM of the struct_ops map's value, \
                 unregistered with BPF_MAP_DELETE_ELEM when the link is dropped (kernels \
                 before 6.4 have no struct_ops links; an object's .struct_ops section asks \
                 for this way)"
            }
            Via::ProgAttach => {
                "attached with BPF_PROG_ATTACH (BPF_F_ALLOW_MULTI on a cgroup): kernels before \
                 5.7 have no cgroup links, before 5.8 no flow dissector links, before 6.10 no \
                 sockmap links; detached with BPF_PROG_DETACH of exactly this program when \
                 the link is dropped"
            }
            Via::ReuseportSetsockopt => {
                "attached with setsockopt(SO_ATTACH_REUSEPORT_EBPF), detached with \
                 SO_DETACH_REUSEPORT_BPF when the link is dropped"
            }
            Via::NetlinkXdp => {
                "set with rtnetlink (RTM_SETLINK, IFLA_XDP), as `ip link set dev X xdp` does: \
                 kernels before 5.9 have no XDP links; removed when the link is dropped, \
                 only if it is still this program (IFLA_XDP_EXPECTED_FD)"
            }
        }
    }
}

impl AttachMethod {
    /// When this method is the second choice, what the first was and why it was not
    /// taken: the ioctl instead of a BPF link, `kprobe_events` instead of the kprobe PMU,
    /// a clsact filter instead of a TCX link, `BPF_PROG_ATTACH` instead of a cgroup or
    /// sockmap link. `None` for a first choice. (With [`LinkPreference::PerfIoctl`],
    /// [`AttachOptions::force_tc_netlink`] or [`AttachOptions::force_prog_attach`] the
    /// second choice was asked for; the text says so too.)
    pub fn fallback(self) -> Option<&'static str> {
        match (self.probe, self.via) {
            (Probe::Tc, Via::Netlink) => Some(
                "a bpf filter on the clsact qdisc instead of a TCX link: this kernel has no \
                 TCX (before 6.6), or force_tc_netlink asked for it",
            ),
            (_, Via::PerfIoctl) => Some(
                "PERF_EVENT_IOC_SET_BPF instead of a BPF link: this kernel has no perf event \
                 links (before 5.15), or LinkPreference::PerfIoctl asked for it",
            ),
            (Probe::Cgroup, Via::ProgAttach) => Some(
                "BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI instead of a BPF link: this kernel has \
                 no cgroup links (before 5.7), or force_prog_attach asked for it",
            ),
            (Probe::Sockmap, Via::ProgAttach) => Some(
                "BPF_PROG_ATTACH instead of a BPF link: this kernel has no sockmap links \
                 (before 6.10), or force_prog_attach asked for it",
            ),
            (Probe::Xdp, Via::NetlinkXdp) => Some(
                "rtnetlink IFLA_XDP instead of an XDP BPF link: this kernel has no XDP links \
                 (before 5.9), force_xdp_netlink asked for it, or XdpOptions::replace named \
                 a program to take the place of (a link cannot)",
            ),
            (Probe::FlowDissector, Via::ProgAttach) => Some(
                "BPF_PROG_ATTACH instead of a BPF link: this kernel has no flow dissector \
                 links (before 5.8), or force_prog_attach asked for it",
            ),
            (Probe::KprobeTracefs, _) => Some(
                "a kprobe_events entry instead of the kprobe PMU: this kernel has no kprobe \
                 PMU (before 4.17), or force_tracefs_kprobe asked for it",
            ),
            _ => None,
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
            Probe::UprobeMulti => "multi-uprobe",
            Probe::KprobeMulti => "multi-kprobe",
            Probe::StructOps => "struct_ops",
            Probe::Pinned => "pinned link",
            Probe::Cgroup => "cgroup",
            Probe::Sockmap => "sockmap",
            Probe::Reuseport => "reuseport group",
            Probe::Xdp => "XDP",
            Probe::SkLookup => "sk_lookup",
            Probe::FlowDissector => "flow dissector",
        };
        let via = match self.via {
            Via::BpfLink => "BPF link",
            Via::PerfIoctl => "PERF_EVENT_IOC_SET_BPF",
            Via::RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            Via::Netlink => "netlink clsact bpf filter",
            Via::Setsockopt => "SO_ATTACH_BPF",
            Via::MapUpdate => "BPF_MAP_UPDATE_ELEM",
            Via::ProgAttach => "BPF_PROG_ATTACH",
            Via::ReuseportSetsockopt => "SO_ATTACH_REUSEPORT_EBPF",
            Via::NetlinkXdp => "netlink IFLA_XDP",
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
    /// For XDP programs: don't use a BPF link even if the kernel has them (5.9); set the
    /// program with rtnetlink (`IFLA_XDP`), as older kernels need.
    pub force_xdp_netlink: bool,
    /// For cgroup, sockmap and flow dissector programs: attach with `BPF_PROG_ATTACH` even
    /// where the kernel has BPF links for them (cgroups 5.7, the flow dissector 5.8,
    /// sockmaps 6.10), as older kernels need.
    pub force_prog_attach: bool,
}

/// A `kprobe_events` entry this process created; removed on drop.
#[derive(Debug)]
pub(super) struct TracefsKprobe {
    pub(super) tracefs: PathBuf,
    pub(super) group: String,
    pub(super) event: String,
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
    pub(super) method: AttachMethod,
    pub(super) target: String,
    // Drop order matters: the BPF link, then the perf event, then the kprobe_events entry
    // (which the kernel refuses to remove while a perf event uses it).
    pub(super) bpf_link: Option<OwnedFd>,
    pub(super) perf_event: Option<OwnedFd>,
    pub(super) kprobe: Option<TracefsKprobe>,
    // What else the link holds, undone after the perf event and kprobe entry are gone.
    pub(super) owned: Option<Box<dyn Owned>>,
}

/// What a [`Link`] holds besides its BPF link, perf event and `kprobe_events` entry, and
/// undoes on drop, last (each kind's own `Drop`), or when [`Link::detach`] asks, reporting
/// errors ([`Owned::undo`]).
///
/// A trait object, not an enum of every kind: an enum's drop glue names every variant's
/// undo code (rtnetlink for tc and XDP, `BPF_PROG_DETACH`, ...), so a binary that attaches
/// only kprobes and tracepoints would link them all. Through a `Box<dyn Owned>`, a kind's
/// code is linked only where something makes a link of that kind.
pub(super) trait Owned: fmt::Debug + Send + Sync {
    /// Undoes the attachment now and says whether that worked (`target`: the link's, for
    /// errors).
    fn undo(self: Box<Self>, target: &str) -> Result<(), AttachError>;
    /// For a tc filter added with rtnetlink: which one ([`Link::tc_filter`]).
    fn tc_filter(&self) -> Option<TcFilter> {
        None
    }
    /// For a socket filter: its socket ([`Link::socket`]).
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A tc program's `bpf` filter added with rtnetlink (and the clsact qdisc made for it).
impl Owned for tc::FilterGuard {
    fn undo(self: Box<Self>, _target: &str) -> Result<(), AttachError> {
        self.remove()
    }
    fn tc_filter(&self) -> Option<TcFilter> {
        Some(self.filter())
    }
}

/// The socket a socket filter is attached to.
impl Owned for socket::SocketGuard {
    fn undo(self: Box<Self>, target: &str) -> Result<(), AttachError> {
        self.detach(target)
    }
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        self.fd()
    }
}

/// A USDT probe's entry in `__bpf_usdt_ip_to_spec_id` (kernels without BPF cookies):
/// deleted once no uprobe can look it up any more.
impl Owned for usdt::UsdtIpEntry {
    fn undo(self: Box<Self>, _target: &str) -> Result<(), AttachError> {
        drop(self);
        Ok(())
    }
}

/// A struct_ops map registered with `BPF_MAP_UPDATE_ELEM`: its key deleted.
impl Owned for struct_ops::StructOpsGuard {
    fn undo(self: Box<Self>, target: &str) -> Result<(), AttachError> {
        self.unregister(target)
    }
}

/// A program attached with `BPF_PROG_ATTACH` (a cgroup's, a sockmap's): detached with
/// `BPF_PROG_DETACH`.
impl Owned for prog_attach::ProgAttachGuard {
    fn undo(self: Box<Self>, target: &str) -> Result<(), AttachError> {
        self.detach(target)
    }
}

/// The socket of a `SO_REUSEPORT` group an `sk_reuseport` program was set on.
impl Owned for reuseport::ReuseportGuard {
    fn undo(self: Box<Self>, target: &str) -> Result<(), AttachError> {
        self.detach(target)
    }
}

/// An XDP program set with rtnetlink: removed if it is still the one attached.
impl Owned for xdp::XdpGuard {
    fn undo(self: Box<Self>, _target: &str) -> Result<(), AttachError> {
        self.remove()
    }
}

/// A program attached to a network namespace with `BPF_PROG_ATTACH`.
impl Owned for netns::ProgAttachGuard {
    fn undo(self: Box<Self>, _target: &str) -> Result<(), AttachError> {
        self.remove()
    }
}

impl Link {
    /// A link to perf event `perf` (a tracepoint, kprobe, uprobe or sampling event): the
    /// program bound to it with a BPF link where the kernel has one, else the ioctl (see
    /// [`bind_with_cookie`]); `cookie` is what `bpf_get_attach_cookie` returns (0: none).
    pub(crate) fn of_perf_event(
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

    /// A link that holds an attachment of its own kind, undone on drop.
    pub(super) fn of_owned(
        method: AttachMethod,
        target: String,
        owned: impl Owned + 'static,
    ) -> Link {
        Link {
            method,
            target,
            bpf_link: None,
            perf_event: None,
            kprobe: None,
            owned: Some(Box::new(owned)),
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
    ///
    /// Each `read` asks for the kernel's whole buffer (8 pages, `bpf_iter_seq_info`'s
    /// `PAGE_SIZE << 3` in `kernel/bpf/bpf_iter.c`): the kernel stops a session once it
    /// holds as much as was asked, and some iterators cannot start a second session
    /// (`iter/cgroup` answers `EOPNOTSUPP`), so a small first read (`read_to_end`'s
    /// 32-byte probe) would cut their walk short.
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
        let mut file = std::fs::File::from(fd);
        let mut buffer = vec![0u8; syscall::page_size() << 3];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(buffer.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(AttachError::Io {
                        path: PathBuf::from(&self.target),
                        error: e.to_string(),
                    })
                }
            }
        }
    }

    /// The perf event the program runs on.
    pub fn perf_event(&self) -> Option<BorrowedFd<'_>> {
        self.perf_event.as_ref().map(|fd| fd.as_fd())
    }

    /// For a tc program attached with rtnetlink: the filter (its priority and handle, as
    /// the kernel chose them) and whether the clsact qdisc was made for it.
    pub fn tc_filter(&self) -> Option<TcFilter> {
        self.owned.as_ref().and_then(|owned| owned.tc_filter())
    }

    /// For a socket filter: the socket it is attached to (this link's own fd of it), to
    /// read what the filter lets through.
    pub fn socket(&self) -> Option<BorrowedFd<'_>> {
        self.owned.as_ref().and_then(|owned| owned.socket())
    }

    /// Detaches the program and removes what was created, in order; returns the first error.
    /// A BPF link is detached with `BPF_LINK_DETACH` where its kind has it (5.9), so that
    /// a pinned link is detached too; see [`Link::pin`].
    pub fn detach(mut self) -> Result<(), AttachError> {
        let mut result = self.detach_bpf_link();
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
            Some(owned) => owned.undo(&self.target),
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn second_choices_say_what_the_first_was() {
        let method = |probe, via| AttachMethod { probe, via }.fallback();
        assert_eq!(method(Probe::KprobePmu, Via::BpfLink), None);
        assert_eq!(method(Probe::Tc, Via::BpfLink), None);
        assert_eq!(method(Probe::BtfTarget, Via::RawTracepointOpen), None);
        assert!(method(Probe::Tracepoint, Via::PerfIoctl)
            .unwrap()
            .starts_with("PERF_EVENT_IOC_SET_BPF instead of a BPF link"));
        assert!(method(Probe::Tc, Via::Netlink)
            .unwrap()
            .starts_with("a bpf filter on the clsact qdisc instead of a TCX link"));
        assert!(method(Probe::KprobeTracefs, Via::BpfLink)
            .unwrap()
            .starts_with("a kprobe_events entry instead of the kprobe PMU"));
    }
}
