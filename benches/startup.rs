//! Exec to ready, peak RSS and CPU of start-up, for tracers side by side
//! (BENCHMARKS.md, "Start-up").
//!
//! ```text
//! cargo bench --bench startup -- [--runs N] [--tool LABEL "COMMAND ARGS"]...
//! ```
//!
//! Default tools: `tcpconnect` (the release build `cargo bench` made: what
//! `cargo build --release` gives), `tcpconnect-musl` (the static musl release build, when
//! it was built) and `libbpf` (the reference, `scripts/bench/build-reference.sh`, when it
//! was built). Each run spawns the tracer with its
//! stdout piped and times exec to its first stdout line, the header, which both print
//! once the program is attached and the perf rings are open ("ready"). Then it sends
//! SIGINT and reaps the tracer with `wait4(2)`, whose `rusage` gives the peak RSS
//! (`ru_maxrss`) and the CPU time of the whole run: start-up plus a teardown with no
//! events. The tools take turns, run by run, so that the machine's load falls on both
//! alike. Prints the median, minimum and 90th percentile.
//!
//! Why not `hyperfine 'tcpconnect --duration 0'`: that times exec to *exit*, and exit
//! includes the kernel's teardown of the link and programs (RCU grace periods), which
//! the tool does not wait for when it is running. scripts/bench/startup.sh runs both.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Tool {
    label: String,
    command: Vec<String>,
    ready_ms: Vec<f64>,
    rss_kib: Vec<f64>,
    cpu_ms: Vec<f64>,
}

fn main() {
    let mut runs = 30;
    let mut tools: Vec<Tool> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--tool" => {
                let label = args.next().expect("--tool LABEL COMMAND");
                let command = args.next().expect("--tool LABEL COMMAND");
                tools.push(Tool {
                    label,
                    command: command.split_whitespace().map(String::from).collect(),
                    ready_ms: Vec::new(),
                    rss_kib: Vec::new(),
                    cpu_ms: Vec::new(),
                });
            }
            other => panic!("unknown argument {other:?} (see benches/startup.rs)"),
        }
    }
    if tools.is_empty() {
        let root = env!("CARGO_MANIFEST_DIR");
        // The build `cargo bench` made (`cargo build --release`'s: static glibc, see
        // .cargo/config.toml); the static musl build when there is one
        // (scripts/bench/startup.sh makes it); the reference when it was built.
        let ours = env!("CARGO_BIN_EXE_tcpconnect").to_string();
        let musl = format!("{root}/target/x86_64-unknown-linux-musl/release/tcpconnect");
        let reference = format!("{root}/target/bench/libbpf_tcpconnect");
        let mut defaults = vec![("tcpconnect", ours)];
        if std::path::Path::new(&musl).exists() {
            defaults.push(("tcpconnect-musl", musl));
        }
        if std::path::Path::new(&reference).exists() {
            defaults.push(("libbpf", reference));
        } else {
            eprintln!("no {reference}: run scripts/bench/build-reference.sh to compare");
        }
        for (label, command) in defaults {
            tools.push(Tool {
                label: label.into(),
                command: vec![command],
                ready_ms: Vec::new(),
                rss_kib: Vec::new(),
                cpu_ms: Vec::new(),
            });
        }
    }

    // One unmeasured run each: page cache, the kernel's BTF file, tracefs.
    for tool in &mut tools {
        run(tool);
        tool.ready_ms.clear();
        tool.rss_kib.clear();
        tool.cpu_ms.clear();
    }
    for _ in 0..runs {
        for tool in &mut tools {
            run(tool);
        }
    }

    println!(
        "{:<16} {:>5} {:>28} {:>12} {:>16}",
        "tracer", "runs", "exec->ready ms: median (min, p90)", "max RSS KiB", "CPU ms (u+s)"
    );
    for tool in &tools {
        let (median, min, p90) = stats(&tool.ready_ms);
        println!(
            "{:<16} {:>5} {:>12.1} ({:>5.1}, {:>5.1}) {:>12.0} {:>16.1}",
            tool.label,
            tool.ready_ms.len(),
            median,
            min,
            p90,
            stats(&tool.rss_kib).0,
            stats(&tool.cpu_ms).0,
        );
    }
    // Each tracer against the last one (the reference, by default).
    let (reference, ours) = tools.split_last().expect("at least one tool");
    for ours in ours {
        println!(
            "{} / {}: exec->ready {:.2}, max RSS {:.2}, CPU {:.2} (medians)",
            ours.label,
            reference.label,
            stats(&ours.ready_ms).0 / stats(&reference.ready_ms).0,
            stats(&ours.rss_kib).0 / stats(&reference.rss_kib).0,
            stats(&ours.cpu_ms).0 / stats(&reference.cpu_ms).0,
        );
    }
}

/// Median, minimum and 90th percentile.
fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => (sorted[n / 2], sorted[0], sorted[(n * 9 / 10).min(n - 1)]),
    }
}

fn run(tool: &mut Tool) {
    let started = Instant::now();
    // Reaped by wait4(2) below, which also gives its rusage (Child::wait does not).
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(&tool.command[0])
        .args(&tool.command[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", tool.command));
    let mut header = String::new();
    let read = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut header);
    let ready = started.elapsed();
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to status and usage.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    assert!(
        matches!(read, Ok(n) if n > 0) && header.starts_with("PID"),
        "{}: no header (status {status}): {header:?}",
        tool.label
    );
    let ms = |tv: libc::timeval| tv.tv_sec as f64 * 1e3 + tv.tv_usec as f64 / 1e3;
    tool.ready_ms.push(ready.as_secs_f64() * 1e3);
    tool.rss_kib.push(usage.ru_maxrss as f64);
    tool.cpu_ms.push(ms(usage.ru_utime) + ms(usage.ru_stime));
    // Let the kernel finish freeing the last run's programs before the next one starts.
    std::thread::sleep(Duration::from_millis(20));
}
