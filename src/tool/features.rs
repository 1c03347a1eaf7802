//! `tcpconnect features [--json]`: what the running kernel offers this tool, probed by the
//! library (`ebpf_loader::features::probe_all`), and the attach path and fallbacks the tool
//! takes here, with the probe answers they follow from. `bpftool feature probe` is the
//! anchor, restricted to what this loader uses. Each line names the oldest kernel the
//! feature needs (mainline), as README's table does.

use std::fmt::Write as _;

use super::print::push_json_string;
use anyhow::Result;
use ebpf_loader::features::memlock::{Limit, MemlockAction};
use ebpf_loader::features::{self, Features};

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
    let plan = f.plan();
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
    let plan = f.plan();
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
    let features = features::probe_all();
    if as_json {
        println!("{}", json(&features));
    } else {
        print!("{}", text(&features));
    }
    Ok(())
}
