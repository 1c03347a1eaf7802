//! Everything the loader and tcpconnect depend on, probed on the running kernel into one
//! plain struct, [`Features`], and the attach path the tool takes here, [`AttachPlan`].
//! `tcpconnect features` prints it; `bpftool feature probe` is the anchor, restricted to
//! what this loader uses.
//!
//! ABI: each field names its probe. Program types and helpers: `BPF_PROG_LOAD` of a
//! two-instruction program; map types: `BPF_MAP_CREATE`; links: libbpf's
//! `probe_perf_link`; files: the kprobe PMU in sysfs (`/sys/bus/event_source/devices/kprobe`,
//! 4.17), `kprobe_events` and `events/sock/inet_sock_set_state/id` in tracefs, the kernel's
//! BTF at `/sys/kernel/btf/vmlinux` (5.4 with `CONFIG_DEBUG_INFO_BTF`).

use std::path::{Path, PathBuf};

use super::memlock::{self, Memlock};
use super::{probe_load, probe_perf_link, RETURN_ZERO};
use crate::attach::{self, tracefs};
use crate::btf::sanitize::BtfFeatures;
use crate::btf::{self, Kind};
use crate::insn::{Insn, CALL, EXIT};
use crate::syscall::{self, MapCreateAttr};

/// `enum bpf_prog_type` / `enum bpf_attach_type` / `enum bpf_map_type` values probed here
/// only (`include/uapi/linux/bpf.h`).
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_FENTRY: u32 = 24;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_FUNC_get_attach_cookie` (5.15).
const BPF_FUNC_GET_ATTACH_COOKIE: i32 = 174;
/// The function tcpconnect's kprobe and the fentry probe attach to.
pub const KPROBE_FUNCTION: &str = "tcp_connect";
/// The tracepoint tcpconnect falls back to.
pub const TRACEPOINT: (&str, &str) = ("sock", "inet_sock_set_state");

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
    /// The tracepoint `sock/inet_sock_set_state` (4.16).
    pub tracepoint: bool,
    /// `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15): libbpf's probe.
    pub perf_link: bool,
    /// `bpf_get_attach_cookie` in a tracepoint program (5.15); not used by tcpconnect.
    pub bpf_cookie: bool,
    /// `BPF_MAP_TYPE_RINGBUF` (5.8); tcpconnect uses a perf event array (4.3) everywhere.
    pub ringbuf: bool,
    /// A `fentry` program on `tcp_connect` loads (5.5, BTF and a JIT trampoline); not used by
    /// tcpconnect.
    pub fentry: bool,
}

/// One decision the tool takes on this kernel: what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What is decided (`attach`, `kprobe`, `bind`, `memory`, `btf`, `co-re`).
    pub topic: &'static str,
    /// The choice, or `unavailable`.
    pub choice: String,
    /// The probe answers it follows from.
    pub why: String,
}

/// The path tcpconnect takes here with `--attach auto`, and each fallback, with reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachPlan {
    /// Each choice on the way, in order, with the probe answers behind it.
    pub decisions: Vec<Decision>,
    /// The attach method `--attach auto` will report (`kprobe PMU + BPF link`, ...), or
    /// `None` when the tool cannot attach here.
    pub method: Option<String>,
}

fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn prog_loads(prog_type: u32, insns: &[Insn]) -> bool {
    probe_load("probe", prog_type, 0, 0, insns).is_ok()
}

fn ringbuf() -> bool {
    let attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_RINGBUF,
        max_entries: 4096,
        ..Default::default()
    };
    syscall::map_create(&attr).is_ok()
}

/// A `fentry` program on `tcp_connect`, found in the kernel's BTF.
fn fentry() -> bool {
    let Ok(kernel) = btf::kernel::load() else {
        return false;
    };
    let Ok(func) = kernel.find_by_name_kind(KPROBE_FUNCTION, Kind::Func) else {
        return false;
    };
    probe_load(
        "fentry_probe",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_FENTRY,
        func,
        &RETURN_ZERO,
    )
    .is_ok()
}

/// Probes everything [`Features`] holds. Makes a few dozen system calls and loads the
/// kernel's BTF once (for the fentry probe); raises `RLIMIT_MEMLOCK` where the kernel
/// charges it, as loading would.
pub fn probe_all() -> Features {
    let memlock = memlock::ensure();
    let tracefs = tracefs::tracefs_dir().ok();
    let tracepoint = tracefs.as_deref().is_some_and(|dir| {
        matches!(
            tracefs::event_id(dir, TRACEPOINT.0, TRACEPOINT.1),
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
        bpf_cookie: prog_loads(
            crate::uapi::ProgramType::Tracepoint.as_u32(),
            &[
                Insn::new(CALL, 0, 0, 0, BPF_FUNC_GET_ATTACH_COOKIE),
                Insn::new(EXIT, 0, 0, 0, 0),
            ],
        ),
        ringbuf: ringbuf(),
        fentry: fentry(),
    }
}

impl Features {
    /// The attach path and fallbacks tcpconnect takes on this kernel, and why: the same
    /// rules as `attach::attach_kprobe`/`attach_tracepoint` and the tool's `--attach auto`.
    pub fn plan(&self) -> AttachPlan {
        let mut decisions = Vec::new();
        let mut decide = |topic, choice: &str, why: String| {
            decisions.push(Decision {
                topic,
                choice: choice.to_string(),
                why,
            })
        };
        let kprobes = self.kprobe_pmu || self.kprobe_events;
        let probe = if kprobes && self.prog_kprobe {
            decide(
                "attach",
                "kprobe tcp_connect",
                format!(
                    "the kernel has kprobes ({}): the kprobe sees every connect() as it starts",
                    if self.kprobe_pmu {
                        "kprobe PMU"
                    } else {
                        "tracefs kprobe_events"
                    }
                ),
            );
            if self.kprobe_pmu {
                decide(
                    "kprobe",
                    "kprobe PMU",
                    "/sys/bus/event_source/devices/kprobe exists (4.17+): perf_event_open makes the kprobe, nothing is written to tracefs".into(),
                );
                Some("kprobe PMU")
            } else {
                decide(
                    "kprobe",
                    "tracefs kprobe_events",
                    "no kprobe PMU: the kprobe is written to kprobe_events (removed at exit; a killed tool's entry is pruned at the next start)".into(),
                );
                Some("tracefs kprobe_events")
            }
        } else if self.tracepoint && self.prog_tracepoint {
            decide(
                "attach",
                "tracepoint sock/inet_sock_set_state",
                if kprobes {
                    "kprobe programs do not load here".to_string()
                } else {
                    "no kprobes here (no kprobe PMU, no kprobe_events): the tracepoint sees the socket enter SYN_SENT".to_string()
                },
            );
            Some("tracepoint")
        } else {
            decide(
                "attach",
                "unavailable",
                format!(
                    "no kprobes and {}",
                    if self.tracefs.is_none() {
                        "no tracefs (mount -t tracefs tracefs /sys/kernel/tracing)"
                    } else {
                        "no tracepoint sock/inet_sock_set_state"
                    }
                ),
            );
            None
        };
        let via = if self.perf_link {
            decide(
                "bind",
                "BPF link",
                "BPF_LINK_CREATE knows BPF_PERF_EVENT (5.15+; probe: EBADF for fd -1)".into(),
            );
            "BPF link"
        } else {
            decide(
                "bind",
                "PERF_EVENT_IOC_SET_BPF",
                "BPF_LINK_CREATE does not know BPF_PERF_EVENT (before 5.15; probe: EINVAL): the program is set on the perf event with the ioctl".into(),
            );
            "PERF_EVENT_IOC_SET_BPF"
        };
        decide(
            "memory",
            if self.memlock.memcg_accounting() {
                "memory cgroup"
            } else {
                "RLIMIT_MEMLOCK"
            },
            self.memlock.to_string(),
        );
        let missing = self.btf.missing();
        decide(
            "btf",
            if !self.btf_load {
                "without BTF"
            } else if missing.is_empty() {
                "as compiled"
            } else {
                "sanitised"
            },
            if !self.btf_load {
                "BPF_BTF_LOAD fails: maps and the program load without BTF".to_string()
            } else if missing.is_empty() {
                "the kernel takes every BTF kind the loader knows".to_string()
            } else {
                format!(
                    "the kernel lacks {}: those kinds are rewritten before BPF_BTF_LOAD, type ids kept",
                    missing.join(", ")
                )
            },
        );
        decide(
            "co-re",
            if self.vmlinux_btf {
                "kernel BTF"
            } else {
                "needs --btf"
            },
            if self.vmlinux_btf {
                format!("{} exists", btf::kernel::VMLINUX_BTF)
            } else {
                format!(
                    "{} does not exist: give --btf PATH (BTFHub's archive has BTF for older kernels)",
                    btf::kernel::VMLINUX_BTF
                )
            },
        );
        AttachPlan {
            method: probe.map(|p| format!("{p} + {via}")),
            decisions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::memlock::{Limit, MemlockAction};

    fn kernel_5_10() -> Features {
        Features {
            release: "5.10.0-32-cloud-amd64".into(),
            bpf_syscall: true,
            prog_kprobe: true,
            prog_tracepoint: true,
            vmlinux_btf: true,
            btf_load: true,
            btf: BtfFeatures {
                float: false,
                decl_tag: false,
                type_tag: false,
                enum64: false,
                ..BtfFeatures::ALL
            },
            memlock: Memlock {
                accounting: crate::features::memlock::Accounting::Memlock,
                before: Limit::Bytes(65536),
                action: MemlockAction::Raised,
            },
            tracefs: Some("/sys/kernel/tracing".into()),
            kprobe_pmu: true,
            kprobe_events: true,
            tracepoint: true,
            perf_link: false,
            bpf_cookie: false,
            ringbuf: true,
            fentry: true,
        }
    }

    #[test]
    fn on_5_10_the_plan_is_the_kprobe_pmu_bound_with_the_ioctl() {
        let plan = kernel_5_10().plan();
        assert_eq!(
            plan.method.as_deref(),
            Some("kprobe PMU + PERF_EVENT_IOC_SET_BPF")
        );
        let choices: Vec<(&str, &str)> = plan
            .decisions
            .iter()
            .map(|d| (d.topic, d.choice.as_str()))
            .collect();
        assert_eq!(
            choices,
            [
                ("attach", "kprobe tcp_connect"),
                ("kprobe", "kprobe PMU"),
                ("bind", "PERF_EVENT_IOC_SET_BPF"),
                ("memory", "RLIMIT_MEMLOCK"),
                ("btf", "sanitised"),
                ("co-re", "kernel BTF"),
            ]
        );
        assert!(plan.decisions[4]
            .why
            .contains("FLOAT, DECL_TAG, TYPE_TAG, ENUM64"));
    }

    #[test]
    fn without_kprobes_the_plan_is_the_tracepoint() {
        let features = Features {
            kprobe_pmu: false,
            kprobe_events: false,
            perf_link: true,
            ..kernel_5_10()
        };
        let plan = features.plan();
        assert_eq!(plan.method.as_deref(), Some("tracepoint + BPF link"));
        assert!(plan.decisions[0].why.starts_with("no kprobes here"));
    }

    #[test]
    fn without_kprobes_or_tracefs_there_is_no_plan() {
        let features = Features {
            kprobe_pmu: false,
            kprobe_events: false,
            tracefs: None,
            tracepoint: false,
            ..kernel_5_10()
        };
        let plan = features.plan();
        assert_eq!(plan.method, None);
        assert_eq!(plan.decisions[0].choice, "unavailable");
        assert!(plan.decisions[0].why.contains("mount -t tracefs"));
    }
}
