//! Everything the loader depends on, probed on the running kernel into one plain struct,
//! [`Features`]; `bpftool feature probe` is the anchor, restricted to what this loader uses.
//! The caller names the kernel function and the tracepoint it cares about (its fentry and
//! tracepoint probes).
//!
//! ABI: each field names its probe. Program types and helpers: `BPF_PROG_LOAD` of a
//! two-instruction program; map types: `BPF_MAP_CREATE`; links: libbpf's
//! `probe_perf_link`; files: the kprobe PMU in sysfs (`/sys/bus/event_source/devices/kprobe`,
//! 4.17), `kprobe_events` and `events/CATEGORY/NAME/id` in tracefs, the kernel's
//! BTF at `/sys/kernel/btf/vmlinux` (5.4 with `CONFIG_DEBUG_INFO_BTF`).

use std::path::{Path, PathBuf};

use super::memlock::{self, Memlock};
use super::{probe_bpf_cookie, probe_fentry, probe_perf_link, prog_loads, RETURN_ZERO};
use crate::attach::{self, tracefs};
use crate::btf;
use crate::btf::sanitize::BtfFeatures;
use crate::syscall::{self, MapCreateAttr};

/// `enum bpf_map_type`'s ring buffer, probed here only (`include/uapi/linux/bpf.h`).
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// What the running kernel offers, each field probed (never read off the version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    /// `uname -r`, for the reader only: nothing is decided by it.
    pub release: String,
    /// `bpf(2)` works and a socket filter loads (needs root or `CAP_BPF`).
    pub bpf_syscall: bool,
    /// `BPF_PROG_TYPE_KPROBE` loads (4.1).
    pub prog_kprobe: bool,
    /// `BPF_PROG_TYPE_TRACEPOINT` loads (4.7).
    pub prog_tracepoint: bool,
    /// The kernel's own BTF, `/sys/kernel/btf/vmlinux` (5.4, `CONFIG_DEBUG_INFO_BTF`): CO-RE
    /// without `--btf`.
    pub vmlinux_btf: bool,
    /// `BPF_BTF_LOAD` (4.18).
    pub btf_load: bool,
    /// Which BTF kinds `BPF_BTF_LOAD` takes; the others are rewritten (`btf::sanitize`).
    pub btf: BtfFeatures,
    /// Where BPF memory is charged, and what was done about `RLIMIT_MEMLOCK`.
    pub memlock: Memlock,
    /// tracefs, where it is mounted (`None`: not mounted, no kprobe_events, no tracepoints).
    pub tracefs: Option<PathBuf>,
    /// The kprobe PMU, `/sys/bus/event_source/devices/kprobe` (4.17).
    pub kprobe_pmu: bool,
    /// tracefs `kprobe_events` (`CONFIG_KPROBE_EVENTS`).
    pub kprobe_events: bool,
    /// The tracepoint asked about exists in tracefs.
    pub tracepoint: bool,
    /// `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15): libbpf's probe.
    pub perf_link: bool,
    /// `bpf_get_attach_cookie` in a tracepoint program (5.15).
    pub bpf_cookie: bool,
    /// `BPF_MAP_TYPE_RINGBUF` (5.8).
    pub ringbuf: bool,
    /// A `fentry` program on the function asked about loads (5.5, BTF and a JIT
    /// trampoline).
    pub fentry: bool,
}

fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn ringbuf() -> bool {
    let attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_RINGBUF,
        max_entries: 4096,
        ..Default::default()
    };
    syscall::map_create(&attr).is_ok()
}

/// Probes everything [`Features`] holds, with the fentry probe on kernel function
/// `function` and the tracepoint probe on `tracepoint` (category, name). Makes a few dozen
/// system calls and loads the kernel's BTF once (for the fentry probe); raises
/// `RLIMIT_MEMLOCK` where the kernel charges it, as loading would.
pub fn probe_all(function: &str, tracepoint: (&str, &str)) -> Features {
    let memlock = memlock::ensure();
    let tracefs = tracefs::tracefs_dir().ok();
    let tracepoint = tracefs.as_deref().is_some_and(|dir| {
        matches!(
            tracefs::event_id(dir, tracepoint.0, tracepoint.1),
            Ok(Some(_))
        )
    });
    let kprobe_events = tracefs
        .as_deref()
        .is_some_and(|dir| dir.join("kprobe_events").exists());
    let btf_load = super::btf::probe_btf();
    Features {
        release: release(),
        bpf_syscall: prog_loads(
            crate::uapi::ProgramType::SocketFilter.as_u32(),
            &RETURN_ZERO,
        ),
        prog_kprobe: prog_loads(crate::uapi::ProgramType::Kprobe.as_u32(), &RETURN_ZERO),
        prog_tracepoint: prog_loads(crate::uapi::ProgramType::Tracepoint.as_u32(), &RETURN_ZERO),
        vmlinux_btf: Path::new(btf::kernel::VMLINUX_BTF).exists(),
        btf_load,
        btf: if btf_load {
            super::btf::probe()
        } else {
            BtfFeatures::NONE
        },
        memlock,
        tracefs,
        kprobe_pmu: Path::new(attach::KPROBE_PMU).join("type").exists(),
        kprobe_events,
        tracepoint,
        perf_link: probe_perf_link(),
        bpf_cookie: probe_bpf_cookie(),
        ringbuf: ringbuf(),
        fentry: probe_fentry(function),
    }
}
