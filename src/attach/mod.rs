//! Attaching loaded programs: one file per way of attaching, each taking a loaded
//! [`Program`](crate::load::Program) and giving a [`Link`], as cilium/ebpf's `link/`:
//!
//! | kind | file | function |
//! |---|---|---|
//! | kprobes, kretprobes, `ksyscall` | [`kprobe`] | [`kprobe::attach`] |
//! | tracepoints | [`tracepoint`] | [`tracepoint::attach`] |
//! | raw tracepoints | [`raw_tracepoint`] | [`raw_tracepoint::attach`] |
//! | fentry, fexit, fmod_ret, lsm, tp_btf | [`tracing`] | [`tracing::attach`] |
//! | iterators, with a map, task or cgroup parameter | [`iter`] | [`iter::attach`], [`iter::attach_with`] |
//! | uprobes, uretprobes | [`uprobe`] | [`uprobe::attach`] |
//! | USDT probes (libbpf's `usdt.bpf.h`) | [`usdt`] | [`usdt::attach`] |
//! | sampling perf events | [`perf_event`] | [`perf_event::attach`] |
//! | tc classifiers (TCX, or clsact + rtnetlink) | [`tc`] | [`tc::attach`] |
//! | socket filters | [`socket`] | [`socket::attach`], [`socket::attach_packet`] |
//! | `uprobe.multi`, `uretprobe.multi` (6.6) | [`uprobe_multi`] | [`uprobe_multi::attach_symbols`], [`uprobe_multi::attach_glob`] |
//! | `kprobe.multi`, `kretprobe.multi` (5.18) | [`kprobe_multi`] | [`kprobe_multi::attach`], [`kprobe_multi::attach_glob`] |
//! | struct_ops maps (`.struct_ops` 5.6, `.struct_ops.link` 6.4) | [`struct_ops`] | [`struct_ops::register`] |
//! | cgroup programs (BPF link, or `BPF_PROG_ATTACH`) | [`cgroup`] | [`cgroup::attach`], [`cgroup::attach_fd`] |
//! | `sk_msg`, `sk_skb` on a sockmap or sockhash | [`sockmap`] | [`sockmap::attach`], [`sockmap::attach_as`] |
//! | `sk_reuseport` on a `SO_REUSEPORT` group | [`reuseport`] | [`reuseport::attach`] |
//! | XDP (BPF link, or rtnetlink `IFLA_XDP`) | [`xdp`] | [`xdp::attach`] |
//! | `sk_lookup`, `flow_dissector` (network namespaces) | [`netns`] | [`netns::attach`], [`netns::attach_path`] |
//!
//! [`by_section`] attaches a program where its section name says (libbpf's
//! `bpf_program__attach`); the section table itself is the spec's
//! ([`crate::elf::AttachTarget`]). The [`Link`] and how it was made live in `link.rs`, the
//! error in `error.rs`, tracefs (tracepoint ids, `kprobe_events`) in [`tracefs`], the
//! rtnetlink messages of tc in `netlink.rs`.
//!
//! ABI: each file names its own; the perf-event kinds (kprobe, tracepoint, uprobe, USDT,
//! sampling events) share the binding: `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15) or
//! `PERF_EVENT_IOC_SET_BPF` + `PERF_EVENT_IOC_ENABLE` (`include/uapi/linux/bpf.h`,
//! `include/uapi/linux/perf_event.h`).
//!
//! Every way of attaching yields a [`Link`], which owns what it created and undoes it when
//! dropped, or when [`Link::detach`] is called, which reports errors.

pub mod cgroup;
mod error;
pub mod iter;
pub mod kprobe;
pub mod kprobe_multi;
mod link;
mod netlink;
pub mod netns;
pub mod perf_event;
mod pin;
mod prog_attach;
pub mod raw_tracepoint;
pub mod reuseport;
mod section;
pub mod socket;
pub mod sockmap;
pub mod struct_ops;
pub mod tc;
pub mod tracefs;
pub mod tracepoint;
pub mod tracing;
pub mod uprobe;
pub mod uprobe_multi;
pub mod usdt;
pub mod xdp;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod fault_tests;

pub use error::AttachError;
pub use kprobe::{kprobes_available, KprobeKind, KPROBE_PMU};
pub use link::{AttachMethod, AttachOptions, Link, LinkPreference, Probe, Via};
pub use perf_event::{PerfEventSpec, SampleRate};
pub use pin::LinkInfo;
pub use section::by_section;
pub use tc::{TcDirection, TcFilter, TcFilterInfo};
pub use tracefs::prune_stale_kprobes;
pub use uprobe::{find_binary, UPROBE_PMU};
pub use xdp::{XdpMode, XdpOptions};
