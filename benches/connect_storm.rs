//! A connect storm on loopback, end to end: what a burst of TCP connections costs a running
//! tracer, and whether every one of them is accounted for (BENCHMARKS.md, "End to end").
//!
//! ```text
//! cargo bench --bench connect_storm -- [--tool PATH] [--connects N] [--limit SECS]
//!                                      [--lone K] [-- TOOL ARGS...]
//! ```
//!
//! 1. starts the tracer (default: the `tcpconnect` that `cargo bench` built) with its stdout and
//!    stderr piped, and waits for its header line: printed once it is attached and its
//!    rings are open;
//! 2. storm: `N` connects (default 20,000), one after the other as fast as they go, to a
//!    listener on 127.0.0.1 whose thread accepts and drops them; each client socket is
//!    closed with `SO_LINGER` 0 (a reset, no TIME_WAIT), so the storm can be rerun at once
//!    without running out of ephemeral ports. Bounded by `--limit` seconds (default 30);
//! 3. tail: the kernel writes a `PERF_RECORD_LOST` only once a later sample fits in the
//!    ring, so one marker connect is made on each CPU (the thread pinned there) to a second
//!    listener, and the bench waits (at most 5 s) for every marker line;
//! 4. the tracer's CPU time for the storm is the growth of `/proc/PID/schedstat`'s
//!    on-CPU nanoseconds (user + system) from ready to the last marker;
//! 5. lone connections: `K` single connects (default 10) to a third listener, 300 ms
//!    apart plus 13 ms a step (so they fall at every phase of a 50 ms poll interval), each
//!    timed from `connect()` returning to its line on the tracer's stdout;
//! 6. SIGINT, then the exit status, `getrusage` of the whole run (`wait4`), and the
//!    "lost N events in all" line of its stderr.
//!
//! Events are counted by the destination port (the last column of a line, or `"dport":`
//! in `--json`), so other connections of the machine do not count. The accounting is
//! `received + lost == connects`; lost counts cover every connection the kernel dropped,
//! ours and others, so a busy machine can only make `received + lost` larger.
//!
//! Needs root. It sends nothing anywhere but 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

struct Options {
    tool: String,
    connects: u64,
    limit: Duration,
    lone: u32,
    tool_args: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        // The release build `cargo bench` made of this crate's binary.
        tool: env!("CARGO_BIN_EXE_tcpconnect").to_string(),
        connects: 20_000,
        limit: Duration::from_secs(30),
        lone: 10,
        tool_args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match arg.as_str() {
            "--bench" => {} // what `cargo bench` passes to every harness
            "--tool" => options.tool = value("--tool"),
            "--connects" => options.connects = value("--connects").parse().expect("--connects N"),
            "--limit" => {
                options.limit = Duration::from_secs(value("--limit").parse().expect("--limit SECS"))
            }
            "--lone" => options.lone = value("--lone").parse().expect("--lone K"),
            "--" => {
                options.tool_args = args.by_ref().collect();
            }
            other => panic!("unknown argument {other:?} (see benches/connect_storm.rs)"),
        }
    }
    options
}

/// A listener on 127.0.0.1 whose thread accepts and drops connections until told to stop.
struct Listener {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl Listener {
    fn start() -> Listener {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        // A full accept queue drops SYNs, and a dropped SYN is retried after a second:
        // the largest backlog the kernel allows (net.core.somaxconn), and a thread that
        // blocks in accept() rather than polling.
        // SAFETY: listen(2) again on a listening socket only changes its backlog.
        unsafe {
            libc::listen(listener.as_raw_fd(), libc::c_int::MAX);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            let mut accepted = 0u64;
            loop {
                let result = listener.accept();
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                match result {
                    Ok(_) => accepted += 1,
                    Err(e) => panic!("accept: {e}"),
                }
            }
            accepted
        });
        Listener {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Stops the thread: the flag, then one connect to wake its accept().
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr());
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("listener"))
    }
}

/// One connect, closed with a reset (`SO_LINGER` 0) so that no TIME_WAIT holds the port.
fn connect_once(addr: SocketAddr) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a `linger` of the size given.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    Ok(())
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn online_cpus() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The destination port of a tracer's output line: the last column, or JSON's "dport".
fn dport(line: &str) -> Option<u16> {
    if let Some(at) = line.find("\"dport\":") {
        let rest = &line[at + 8..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        return rest[..end].parse().ok();
    }
    line.split_whitespace().last()?.parse().ok()
}

/// On-CPU time of every thread of `pid` so far, in ns (`/proc/PID/task/*/schedstat`).
fn on_cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    total
}

fn main() {
    let options = options();
    let storm = Listener::start();
    let marker = Listener::start();
    let lone = Listener::start();
    let cpus = online_cpus();

    // Reaped by wait4(2) below, which also gives its rusage (Child::wait does not).
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(&options.tool)
        .args(&options.tool_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", options.tool));
    let pid = child.id();
    let started = Instant::now();

    // stdout: every line with its arrival time, on a channel.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel::<(Instant, String)>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    // stderr: kept whole, and its "attached to" line signalled (ready, for --json).
    let stderr = child.stderr.take().expect("stderr");
    let (attached_tx, attached) = mpsc::channel::<Instant>();
    let stderr_thread = thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("attached to") {
                let _ = attached_tx.send(Instant::now());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    // 1. ready: the header line; with --json, which prints no header, the "attached to"
    // line on stderr (printed just before the rings are opened: a little early).
    let json = options.tool_args.iter().any(|a| a == "--json");
    let ready_at = if json {
        attached
            .recv_timeout(Duration::from_secs(30))
            .expect("the tracer printed no \"attached to\" line within 30 s")
    } else {
        let (at, header) = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the tracer printed no header within 30 s");
        assert!(header.starts_with("PID"), "not a header: {header:?}");
        at
    };
    let ready = ready_at - started;
    if json {
        // The rings open just after "attached to": a sample before that has no ring
        // and is dropped without a lost record.
        thread::sleep(Duration::from_millis(200));
    }
    let cpu_at_ready = on_cpu_ns(pid);

    let mut received = 0u64;
    let mut markers = 0usize;
    let mut others = 0u64;
    let mut count = |line: &str, received: &mut u64, markers: &mut usize| match dport(line) {
        Some(p) if p == storm.port => *received += 1,
        Some(p) if p == marker.port => *markers += 1,
        _ => others += 1,
    };

    // 2. the storm.
    let storm_start = Instant::now();
    let mut made = 0u64;
    let mut failed = 0u64;
    while made + failed < options.connects && storm_start.elapsed() < options.limit {
        match connect_once(storm.addr()) {
            Ok(()) => made += 1,
            Err(_) => failed += 1,
        }
    }
    let storm_time = storm_start.elapsed();

    // 3. the tail: a marker connect on each CPU, then every line until the markers.
    for cpu in 0..cpus {
        let addr = marker.addr();
        thread::spawn(move || {
            pin_to_cpu(cpu);
            connect_once(addr)
        })
        .join()
        .expect("marker thread")
        .expect("marker connect");
    }
    let tail_deadline = Instant::now() + Duration::from_secs(5);
    while markers < cpus {
        let Some(left) = tail_deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match lines.recv_timeout(left) {
            Ok((_, line)) => count(&line, &mut received, &mut markers),
            Err(_) => break,
        }
    }
    let storm_cpu_ns = on_cpu_ns(pid).saturating_sub(cpu_at_ready);
    // Anything still queued (late lines of the storm).
    while let Ok((_, line)) = lines.recv_timeout(Duration::from_millis(200)) {
        count(&line, &mut received, &mut markers);
    }

    // 5. lone connections.
    let mut latencies = Vec::new();
    for i in 0..options.lone {
        // 300 ms plus 13 ms a step: the connects fall at every phase of the tracer's
        // 50 ms poll interval instead of always at the same one.
        thread::sleep(Duration::from_millis(300 + 13 * u64::from(i)));
        connect_once(lone.addr()).expect("lone connect");
        let made_at = Instant::now();
        let deadline = made_at + Duration::from_secs(2);
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                latencies.push(None);
                break;
            };
            match lines.recv_timeout(left) {
                Ok((at, line)) if dport(&line) == Some(lone.port) => {
                    latencies.push(Some(at.saturating_duration_since(made_at)));
                    break;
                }
                Ok((_, line)) => count(&line, &mut received, &mut markers),
                Err(_) => {
                    latencies.push(None);
                    break;
                }
            }
        }
    }

    // 6. stop the tracer, collect its accounting.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to status and usage.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as libc::pid_t, "wait4");
    while let Ok((_, line)) = lines.recv_timeout(Duration::from_millis(200)) {
        count(&line, &mut received, &mut markers);
    }
    let stderr_text = stderr_thread.join().unwrap_or_default();
    let lost: u64 = stderr_text
        .lines()
        .filter_map(|l| {
            let at = l.find("lost ")?;
            let rest = l[at + 5..].strip_suffix(" events in all")?;
            rest.parse::<u64>().ok()
        })
        .sum();
    storm.stop();
    marker.stop();
    lone.stop();

    let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    let user = seconds(usage.ru_utime);
    let sys = seconds(usage.ru_stime);
    let exit = if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else {
        format!("signal {}", libc::WTERMSIG(status))
    };
    let mut lone_ms: Vec<f64> = latencies
        .iter()
        .flatten()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    lone_ms.sort_by(|a, b| a.total_cmp(b));
    let missed = latencies.iter().filter(|l| l.is_none()).count();
    let unaccounted = made as i64 - received as i64 - lost as i64;

    println!(
        "tracer            {} {}",
        options.tool,
        options.tool_args.join(" ")
    );
    println!(
        "ready after       {:.1} ms (exec to {})",
        ready.as_secs_f64() * 1e3,
        if json {
            "\"attached to\" on stderr"
        } else {
            "the header line"
        }
    );
    println!(
        "storm             {made} connects made ({failed} failed) in {:.3} s: {:.0} connects/s",
        storm_time.as_secs_f64(),
        made as f64 / storm_time.as_secs_f64()
    );
    println!(
        "events received   {received} (+ {markers}/{cpus} tail markers, {others} other lines)"
    );
    println!("events lost       {lost} (tracer's stderr: \"lost N events in all\")");
    println!(
        "unaccounted       {unaccounted} (made - received - lost; < 0: losses include other connections)"
    );
    println!(
        "tracer CPU, storm {:.3} s (on-CPU time from ready to the last marker, /proc/PID/task/*/schedstat)",
        storm_cpu_ns as f64 / 1e9
    );
    println!(
        "tracer CPU, run   {:.3} s user + {:.3} s sys = {:.3} s; {} voluntary context switches; max RSS {} KiB",
        user,
        sys,
        user + sys,
        usage.ru_nvcsw,
        usage.ru_maxrss
    );
    if let (Some(first), Some(last)) = (lone_ms.first(), lone_ms.last()) {
        println!(
            "lone connects     {} printed: min {:.1} ms, median {:.1} ms, max {:.1} ms; {} not printed within 2 s",
            lone_ms.len(),
            first,
            lone_ms[lone_ms.len() / 2],
            last,
            missed
        );
    }
    println!("tracer status     {exit}");
    if !stderr_text.trim().is_empty() {
        println!("tracer stderr:");
        for line in stderr_text.lines().take(20) {
            println!("  {line}");
        }
    }
}
