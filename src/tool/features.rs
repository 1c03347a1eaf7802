//! `tcpconnect features [--json]`: what the running kernel offers this tool, probed by the
//! library (`ebpf_loader::features::report::probe_all`), and the attach path and fallbacks the tool
//! takes here, with the probe answers they follow from. `bpftool feature probe` is the
//! anchor, restricted to what this loader uses. Each line names the oldest kernel the
//! feature needs (mainline), as README's table does.

use std::fmt::Write as _;

use super::print::push_json_string;
use anyhow::Result;
use ebpf_loader::btf;
use ebpf_loader::features::memlock::{Limit, MemlockAction};
use ebpf_loader::features::report::{self, Features};

/// The function tcpconnect's kprobe attaches to (and the fentry probe is made on).
pub const KPROBE_FUNCTION: &str = "tcp_connect";
/// The tracepoint tcpconnect falls back to.
pub const TRACEPOINT: (&str, &str) = ("sock", "inet_sock_set_state");

/// One probed fact: its key (JSON), what it is, since which kernel, whether tcpconnect uses
/// it, and the answer.
struct Row {
    key: &'static str,
    what: &'static str,
    since: &'static str,
    used: &'static str,
    value: bool,
}

fn rows(f: &Features) -> Vec<(&'static str, Vec<Row>)> {
    let row = |key, what, since, used, value| Row {
        key,
        what,
        since,
        used,
        value,
    };
    let b = &f.btf;
    vec![
        (
            "programs",
            vec![
                row(
                    "bpf_syscall",
                    "bpf(2), a socket filter loads",
                    "3.19",
                    "always",
                    f.bpf_syscall,
                ),
                row(
                    "prog_kprobe",
                    "kprobe programs",
                    "4.1",
                    "kprobe path",
                    f.prog_kprobe,
                ),
                row(
                    "prog_tracepoint",
                    "tracepoint programs",
                    "4.7",
                    "tracepoint path",
                    f.prog_tracepoint,
                ),
                row(
                    "fentry",
                    "fentry on tcp_connect (BTF trampoline)",
                    "5.5",
                    "no",
                    f.fentry,
                ),
            ],
        ),
        (
            "attach",
            vec![
                row(
                    "kprobe_pmu",
                    "kprobe PMU (perf_event_open)",
                    "4.17",
                    "kprobe path",
                    f.kprobe_pmu,
                ),
                row(
                    "kprobe_events",
                    "tracefs kprobe_events",
                    "4.1",
                    "kprobe fallback",
                    f.kprobe_events,
                ),
                row(
                    "tracepoint",
                    "tracepoint sock/inet_sock_set_state",
                    "4.16",
                    "tracepoint path",
                    f.tracepoint,
                ),
                row(
                    "perf_link",
                    "BPF link for perf events (BPF_LINK_CREATE)",
                    "5.15",
                    "bind",
                    f.perf_link,
                ),
                row(
                    "bpf_cookie",
                    "BPF cookie (bpf_get_attach_cookie)",
                    "5.15",
                    "no",
                    f.bpf_cookie,
                ),
            ],
        ),
        (
            "maps",
            vec![
                row(
                    "ringbuf",
                    "ring buffer map (BPF_MAP_TYPE_RINGBUF)",
                    "5.8",
                    "no: perf event array (4.3)",
                    f.ringbuf,
                ),
                row(
                    "memcg_accounting",
                    "BPF memory charged to the memory cgroup",
                    "5.11",
                    "else RLIMIT_MEMLOCK is raised",
                    f.memlock.memcg_accounting(),
                ),
            ],
        ),
        (
            "btf",
            vec![
                row(
                    "vmlinux_btf",
                    "kernel BTF /sys/kernel/btf/vmlinux",
                    "5.4",
                    "CO-RE (else --btf)",
                    f.vmlinux_btf,
                ),
                row(
                    "btf_load",
                    "BPF_BTF_LOAD",
                    "4.18",
                    "map and func info",
                    f.btf_load,
                ),
                row(
                    "btf_func",
                    "BTF kind FUNC, FUNC_PROTO",
                    "5.0",
                    "func_info",
                    b.func,
                ),
                row(
                    "btf_datasec",
                    "BTF kinds DATASEC, VAR",
                    "5.2",
                    "global data",
                    b.datasec,
                ),
                row(
                    "btf_func_global",
                    "BTF global FUNC linkage",
                    "5.6",
                    "rewritten when absent",
                    b.func_global,
                ),
                row(
                    "btf_float",
                    "BTF kind FLOAT",
                    "5.13",
                    "rewritten when absent",
                    b.float,
                ),
                row(
                    "btf_decl_tag",
                    "BTF kind DECL_TAG",
                    "5.16",
                    "rewritten when absent",
                    b.decl_tag,
                ),
                row(
                    "btf_type_tag",
                    "BTF kind TYPE_TAG",
                    "5.17",
                    "rewritten when absent",
                    b.type_tag,
                ),
                row(
                    "btf_enum64",
                    "BTF kind ENUM64",
                    "6.0",
                    "rewritten when absent",
                    b.enum64,
                ),
            ],
        ),
    ]
}

fn yes(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn text(f: &Features) -> String {
    let plan = plan(f);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Kernel {}: what it offers tcpconnect, probed (not read off the version)",
        if f.release.is_empty() {
            "?"
        } else {
            &f.release
        }
    );
    for (group, rows) in rows(f) {
        let _ = writeln!(out, "\n{group}:");
        for r in rows {
            let _ = writeln!(
                out,
                "  {:<46} {:<4} since {:<5} used: {}",
                r.what,
                yes(r.value),
                r.since,
                r.used
            );
        }
    }
    if let Some(dir) = &f.tracefs {
        let _ = writeln!(out, "  (tracefs at {})", dir.display());
    }
    let _ = writeln!(out, "\nwhat tcpconnect does here, and why:");
    for d in &plan.decisions {
        let _ = writeln!(out, "  {:<7} {}: {}", d.topic, d.choice, d.why);
    }
    match &plan.method {
        Some(method) => {
            let _ = writeln!(out, "  => tcpconnect attaches through {method}");
        }
        None => {
            let _ = writeln!(out, "  => tcpconnect cannot attach on this kernel");
        }
    }
    out
}

fn json(f: &Features) -> String {
    let plan = plan(f);
    let mut out = String::from("{\"release\":");
    push_json_string(&mut out, &f.release);
    for (_, rows) in rows(f) {
        for r in rows {
            let _ = write!(out, ",\"{}\":{}", r.key, r.value);
        }
    }
    out.push_str(",\"tracefs\":");
    match &f.tracefs {
        Some(dir) => push_json_string(&mut out, &dir.display().to_string()),
        None => out.push_str("null"),
    }
    out.push_str(",\"memlock\":{\"before\":");
    match f.memlock.before {
        Limit::Bytes(n) => {
            let _ = write!(out, "{n}");
        }
        Limit::Infinity => out.push_str("null"),
    }
    let action = match f.memlock.action {
        MemlockAction::NotNeeded => "not needed".to_string(),
        MemlockAction::AlreadyUnlimited => "already unlimited".to_string(),
        MemlockAction::Raised => "raised".to_string(),
        MemlockAction::RaiseFailed(errno) => {
            format!(
                "raise failed: {}",
                ebpf_loader::SysError::new("setrlimit", errno).errno_name()
            )
        }
    };
    out.push_str(",\"action\":");
    push_json_string(&mut out, &action);
    out.push_str("},\"plan\":{\"method\":");
    match &plan.method {
        Some(method) => push_json_string(&mut out, method),
        None => out.push_str("null"),
    }
    out.push_str(",\"decisions\":[");
    for (i, d) in plan.decisions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"topic\":");
        push_json_string(&mut out, d.topic);
        out.push_str(",\"choice\":");
        push_json_string(&mut out, &d.choice);
        out.push_str(",\"why\":");
        push_json_string(&mut out, &d.why);
        out.push('}');
    }
    out.push_str("]}}");
    out
}

/// Probes the kernel and prints the report on stdout (one JSON object with `--json`).
pub fn run(as_json: bool) -> Result<()> {
    let features = report::probe_all(KPROBE_FUNCTION, TRACEPOINT);
    if as_json {
        println!("{}", json(&features));
    } else {
        print!("{}", text(&features));
    }
    Ok(())
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

/// The attach path and fallbacks tcpconnect takes on this kernel, and why: the same rules
/// as the library's `attach::kprobe::attach`/`attach::tracepoint::attach` and `--attach auto`.
pub fn plan(features: &Features) -> AttachPlan {
    let this = features;
    let mut decisions = Vec::new();
    let mut decide = |topic, choice: &str, why: String| {
        decisions.push(Decision {
            topic,
            choice: choice.to_string(),
            why,
        })
    };
    let kprobes = this.kprobe_pmu || this.kprobe_events;
    let probe = if kprobes && this.prog_kprobe {
        decide(
            "attach",
            "kprobe tcp_connect",
            format!(
                "the kernel has kprobes ({}): the kprobe sees every connect() as it starts",
                if this.kprobe_pmu {
                    "kprobe PMU"
                } else {
                    "tracefs kprobe_events"
                }
            ),
        );
        if this.kprobe_pmu {
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
    } else if this.tracepoint && this.prog_tracepoint {
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
                if this.tracefs.is_none() {
                    "no tracefs (mount -t tracefs tracefs /sys/kernel/tracing)"
                } else {
                    "no tracepoint sock/inet_sock_set_state"
                }
            ),
        );
        None
    };
    let via = if this.perf_link {
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
        if this.memlock.memcg_accounting() {
            "memory cgroup"
        } else {
            "RLIMIT_MEMLOCK"
        },
        this.memlock.to_string(),
    );
    let missing = this.btf.missing();
    decide(
        "btf",
        if !this.btf_load {
            "without BTF"
        } else if missing.is_empty() {
            "as compiled"
        } else {
            "sanitised"
        },
        if !this.btf_load {
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
        if this.vmlinux_btf {
            "kernel BTF"
        } else {
            "needs --btf"
        },
        if this.vmlinux_btf {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_loader::btf::sanitize::BtfFeatures;
    use ebpf_loader::features::memlock::{Accounting, Limit, Memlock, MemlockAction};

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
                accounting: Accounting::Memlock,
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
        let plan = plan(&kernel_5_10());
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
        let plan = plan(&features);
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
        let plan = plan(&features);
        assert_eq!(plan.method, None);
        assert_eq!(plan.decisions[0].choice, "unavailable");
        assert!(plan.decisions[0].why.contains("mount -t tracefs"));
    }
}
