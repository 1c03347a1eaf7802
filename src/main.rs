//! tcpconnect: every outgoing TCP connection, IPv4 and IPv6, through the loader in this
//! crate. Read it top to bottom: it is the pipeline in order.
//!
//! 1. parse the embedded object (`elf::ObjectSpec`) and write the filters into `.rodata`;
//! 2. choose where to attach: the kprobe on `tcp_connect`, or the tracepoint
//!    `sock/inet_sock_set_state` on kernels without kprobes;
//! 3. load the kernel's BTF (for CO-RE), then the object (`load::Object`);
//! 4. attach the program (`attach`), open one perf ring per CPU (`perf::PerfReader`);
//! 5. print each event until SIGINT, SIGTERM or `--duration`.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use ebpf_loader::attach::{self, AttachOptions};
use ebpf_loader::btf::{self, Btf};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::event::ConnectEvent;
use ebpf_loader::load::{self, LoadOptions, Object};
use ebpf_loader::output::{self, Columns};
use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions};

/// The object built from `bpf/main.bpf.c`, aligned so it can be parsed in place.
static EMBEDDED_OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!("../bpf/main.bpf.o"));

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The kprobe program and the function it probes.
const KPROBE_PROGRAM: &str = "tcp_connect";
/// The tracepoint program, for kernels without kprobes.
const TRACEPOINT_PROGRAM: &str = "inet_sock_set_state";
/// `MAX_PORTS` of main.bpf.c.
const MAX_PORTS: usize = 64;

const EXAMPLES: &str = "\
Examples:
  tcpconnect                      every connection, as it is made
  tcpconnect -t -U -L             with a timestamp, the user id and the local port
  tcpconnect -p 181               only process 181
  tcpconnect -P 80,443 -4         only IPv4 connections to port 80 or 443
  tcpconnect --json               one JSON object per connection
  tcpconnect --duration 0         check that this kernel accepts the tool, and exit
  tcpconnect inspect              walk through the embedded eBPF object";

#[derive(Parser, Debug)]
#[command(
    name = "tcpconnect",
    version,
    about = "Trace every outgoing TCP connection (IPv4 and IPv6) with eBPF",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Where to attach: auto is the kprobe when the kernel has kprobes, else the tracepoint
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    attach: AttachMode,

    /// Stop after SECS seconds; 0 sets everything up and exits
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,

    /// Ring size per CPU, in pages (a power of two)
    #[arg(long, default_value_t = 8, value_parser = parse_pages)]
    pages: usize,

    /// Load this object instead of the embedded one (same event layout)
    #[arg(long, value_name = "PATH")]
    object: Option<PathBuf>,

    /// The kernel's BTF, for kernels without /sys/kernel/btf/vmlinux (raw BTF or ELF)
    #[arg(long, value_name = "PATH")]
    btf: Option<PathBuf>,

    /// Include a timestamp column (seconds since start)
    #[arg(short = 't', long)]
    timestamp: bool,

    /// Include a UID column
    #[arg(short = 'U', long = "print-uid")]
    print_uid: bool,

    /// Include the local port column
    #[arg(short = 'L', long)]
    lport: bool,

    /// Only this process id
    #[arg(short = 'p', long)]
    pid: Option<u32>,

    /// Only this user id
    #[arg(short = 'u', long, value_parser = clap::value_parser!(u32).range(0..u32::MAX as i64))]
    uid: Option<u32>,

    /// Only these destination ports (comma separated)
    #[arg(short = 'P', long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..))]
    port: Vec<u16>,

    /// Only IPv4
    #[arg(short = '4', long, conflicts_with = "ipv6")]
    ipv4: bool,

    /// Only IPv6
    #[arg(short = '6', long)]
    ipv6: bool,

    /// One JSON object per connection (and per lost-events report)
    #[arg(long)]
    json: bool,

    /// Tell what each step of the loading pipeline does (on stderr)
    #[arg(short = 'v', long)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Walk through an eBPF object: sections, maps, programs, relocations, BTF
    Inspect {
        /// The object file (default: the embedded one)
        object: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum AttachMode {
    /// The kprobe when the kernel has kprobes, else the tracepoint
    Auto,
    /// The kprobe on tcp_connect: through the kprobe PMU, else tracefs kprobe_events
    Kprobe,
    /// The kprobe on tcp_connect through tracefs kprobe_events only
    KprobeLegacy,
    /// The tracepoint sock/inet_sock_set_state
    Tracepoint,
}

fn parse_pages(text: &str) -> Result<usize, String> {
    let pages: usize = text.parse().map_err(|e| format!("{e}"))?;
    if pages == 0 || !pages.is_power_of_two() || pages > 1 << 16 {
        return Err(format!("{pages} is not a power of two between 1 and 65536"));
    }
    Ok(pages)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Inspect { object }) => inspect(object.as_deref()),
        None => trace(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the chain of contexts, outermost first.
            let mut line = format!("tcpconnect: {error}");
            for cause in error.chain().skip(1) {
                line.push_str(&format!(": {cause}"));
            }
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

fn read_object(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display())),
        None => Ok(EMBEDDED_OBJECT.0.to_vec()),
    }
}

fn inspect(path: Option<&Path>) -> Result<()> {
    let bytes = read_object(path)?;
    let _spec = ObjectSpec::parse(&bytes)?;
    bail!("inspect: not built yet")
}

/// Tells the guided tour's step on stderr when `--verbose` is given.
struct Tour {
    verbose: bool,
}

impl Tour {
    fn step(&self, text: impl AsRef<str>) {
        if self.verbose {
            eprintln!("tcpconnect: {}", text.as_ref());
        }
    }
}

/// Which program to load and how to attach it, and why when auto chose the fallback.
fn choose_program(mode: AttachMode, tour: &Tour) -> (&'static str, AttachOptions, &'static str) {
    let kprobe = (KPROBE_PROGRAM, AttachOptions::default(), "");
    let tracepoint = (TRACEPOINT_PROGRAM, AttachOptions::default(), "");
    match mode {
        AttachMode::Kprobe => kprobe,
        AttachMode::KprobeLegacy => (
            KPROBE_PROGRAM,
            AttachOptions {
                force_tracefs_kprobe: true,
                ..AttachOptions::default()
            },
            "",
        ),
        AttachMode::Tracepoint => tracepoint,
        AttachMode::Auto => {
            if attach::kprobes_available() {
                tour.step("the kernel has kprobes: attaching to tcp_connect");
                kprobe
            } else {
                (
                    TRACEPOINT_PROGRAM,
                    AttachOptions::default(),
                    " (this kernel has no kprobes: the tracepoint is the fallback)",
                )
            }
        }
    }
}

/// Writes the filters into the object's `.rodata` before it is loaded: the program then
/// drops what the user did not ask for before it costs any ring space.
fn configure(spec: &mut ObjectSpec, cli: &Cli) -> Result<()> {
    if let Some(pid) = cli.pid {
        load::set_global(spec, "filter_pid", &pid.to_ne_bytes())?;
    }
    if let Some(uid) = cli.uid {
        load::set_global(spec, "filter_uid", &uid.to_ne_bytes())?;
    }
    let family: u8 = match (cli.ipv4, cli.ipv6) {
        (true, _) => libc::AF_INET as u8,
        (_, true) => libc::AF_INET6 as u8,
        _ => 0,
    };
    if family != 0 {
        load::set_global(spec, "filter_family", &[family])?;
    }
    if !cli.port.is_empty() {
        if cli.port.len() > MAX_PORTS {
            bail!("at most {MAX_PORTS} ports can be given to --port");
        }
        let mut ports = [0u8; MAX_PORTS * 2];
        for (slot, port) in ports.chunks_exact_mut(2).zip(&cli.port) {
            slot.copy_from_slice(&port.to_ne_bytes());
        }
        load::set_global(spec, "filter_ports", &ports)?;
        load::set_global(
            spec,
            "filter_ports_len",
            &(cli.port.len() as u32).to_ne_bytes(),
        )?;
    }
    Ok(())
}

fn kernel_btf(path: Option<&Path>) -> Result<Btf> {
    Ok(match path {
        Some(path) => btf::kernel::load_file(path)?.0,
        None => btf::kernel::load()?,
    })
}

fn signals() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT and SIGTERM")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).context("signalfd")
}

fn trace(cli: &Cli) -> Result<()> {
    let tour = Tour {
        verbose: cli.verbose,
    };
    // Blocked before anything is created, so a signal never interrupts half a setup.
    let signals = signals()?;

    let bytes = read_object(cli.object.as_deref())?;
    let mut spec = ObjectSpec::parse(&bytes)?;
    tour.step(format!(
        "object: {} programs, {} maps, license {}",
        spec.programs.len(),
        spec.maps.len(),
        spec.license
    ));
    configure(&mut spec, cli)?;

    let (program_name, attach_opts, why) = choose_program(cli.attach, &tour);
    let pruned = attach::prune_stale_kprobes()?;
    if !pruned.is_empty() {
        tour.step(format!(
            "removed kprobe_events left by dead processes: {}",
            pruned.join(", ")
        ));
    }

    let target_btf = kernel_btf(cli.btf.as_deref())?;
    tour.step(format!("kernel BTF: {} types", target_btf.len()));
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: vec![program_name.to_string()],
            target_btf: Some(&target_btf),
            verifier_stats: cli.verbose,
        },
    )?;
    let program = object
        .program(program_name)
        .with_context(|| format!("program {program_name} was not loaded"))?;
    let link = program.attach(&attach_opts)?;
    eprintln!("tcpconnect: attached to {link}{why}");

    let events = object
        .map("events")
        .context("the object has no map named events")?;
    let mut reader = PerfReader::open(
        events.fd.as_fd(),
        &PerfReaderOptions {
            pages: cli.pages,
            ..PerfReaderOptions::default()
        },
    )?;
    tour.step(format!("perf rings mapped on CPUs {:?}", reader.cpus()));

    if cli.duration == Some(0) {
        return Ok(());
    }

    let columns = Columns {
        timestamp: cli.timestamp,
        uid: cli.print_uid,
        lport: cli.lport,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if !cli.json {
        writeln!(out, "{}", output::header(columns))?;
    }
    out.flush()?;

    let start = Instant::now();
    let deadline = cli.duration.map(|secs| start + Duration::from_secs(secs));
    let mut lost_total = 0u64;
    let mut bad_events = 0u64;
    let mut write_error = None;
    loop {
        let mut wait = Duration::from_millis(100);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            wait = wait.min(left);
        }
        reader.poll(Some(wait), |event| {
            let seconds = start.elapsed().as_secs_f64();
            let written = match event {
                Event::Sample { data, .. } => match ConnectEvent::parse(data) {
                    Ok(event) if cli.json => writeln!(out, "{}", output::json(&event, seconds)),
                    Ok(event) => writeln!(out, "{}", output::line(&event, columns, seconds)),
                    Err(_) => {
                        bad_events += 1;
                        Ok(())
                    }
                },
                Event::Lost { cpu, count } => {
                    lost_total += count;
                    eprintln!("tcpconnect: lost {count} events on CPU {cpu}");
                    if cli.json {
                        writeln!(
                            out,
                            "{{\"lost\":{count},\"cpu\":{cpu},\"time\":{seconds:.6}}}"
                        )
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(error) = written {
                write_error.get_or_insert(error);
            }
        })?;
        if let Err(error) = out.flush() {
            write_error.get_or_insert(error);
        }
        if let Some(error) = write_error.take() {
            // A closed pipe (`tcpconnect | head`) ends the tool quietly.
            if error.kind() == io::ErrorKind::BrokenPipe {
                break;
            }
            return Err(error).context("writing to stdout");
        }
        if signals.read_signal().context("reading signalfd")?.is_some() {
            break;
        }
    }

    if lost_total > 0 {
        eprintln!("tcpconnect: lost {lost_total} events in all");
    }
    if bad_events > 0 {
        eprintln!("tcpconnect: {bad_events} events could not be decoded");
    }
    drop(reader);
    link.detach()?;
    Ok(())
}
