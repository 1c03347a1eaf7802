//! tcpconnect: every outgoing TCP connection, IPv4 and IPv6, through the loader in this
//! crate. Read it top to bottom: it is the pipeline in order.
//!
//! 1. parse the embedded object (`elf::ObjectSpec`) and write the filters into `.rodata`;
//! 2. choose where to attach: the kprobe on `tcp_connect`, or the tracepoint
//!    `sock/inet_sock_set_state` on kernels without kprobes;
//! 3. load the kernel's BTF (for CO-RE), then the object (`load::Object`);
//! 4. attach the program (`attach`), open one perf ring per CPU (`perf::PerfReader`);
//! 5. print each event until SIGINT, SIGTERM or `--duration`.
//!
//! In count mode (`-c`) the program sends nothing through the rings: it adds one to the
//! `counts` hash map per connect, and step 5 reads that map (`BPF_MAP_GET_NEXT_KEY`,
//! `BPF_MAP_LOOKUP_ELEM`) every `--interval` and at exit.
//!
//! `--verbose` narrates each step on stderr (the [`Tour`]); docs/pipeline.md walks through
//! the same steps with that output.

use std::borrow::Cow;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use ebpf_loader::attach::{self, AttachOptions};
use ebpf_loader::btf::core::CoreFixup;
use ebpf_loader::btf::{self, Btf};
use ebpf_loader::elf::{MapKind, MapTypeName, ObjectSpec, RelocationKind, SectionKind};
use ebpf_loader::event::{self, ConnectEvent, FlowCount};
use ebpf_loader::insn::disasm;
use ebpf_loader::load::{self, LoadOptions, Map, Object, Program};
use ebpf_loader::output::{self, Columns};
use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions, Wakeup};
use ebpf_loader::syscall::{self, BtfInfoOutcome};

// Issue 12: `tcpconnect features` lives in src/tool/features.rs (the integrator moves this
// declaration when main.rs is split into src/tool/*).
mod tool {
    pub mod features;
}

/// The object `bpf/Makefile` builds from `bpf/main.bpf.c`, parsed where it lies: the
/// parser reads unaligned input.
static EMBEDDED_OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

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
  tcpconnect -u 1000 -6           only user 1000's IPv6 connections
  tcpconnect --json               one JSON object per connection
  tcpconnect -c                   count connects per source, destination and port; print at Ctrl-C
  tcpconnect -c --interval 10     the same, and the totals so far every 10 seconds
  tcpconnect -v --duration 0      tell what each loading step does, then exit
  tcpconnect --duration 0         check that this kernel accepts the tool, and exit
  tcpconnect inspect              walk through the embedded eBPF object

Exit status: 0 after SIGINT, SIGTERM or --duration; 1 when the tool could not run (the
reason is on stderr, one line); 2 for a bad command line.";

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

    /// Count connects per source address, destination address and port (in the kernel);
    /// print the table at exit
    #[arg(short = 'c', long, conflicts_with_all = ["timestamp", "print_uid", "lport"])]
    count: bool,

    /// With --count: also print the totals so far every SECS seconds
    #[arg(long, value_name = "SECS", requires = "count",
          value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,

    /// Only this process id (the thread group id: every thread of the process)
    #[arg(short = 'p', long, value_parser = clap::value_parser!(u32).range(1..))]
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

    /// One JSON object per line: per connection, per lost-events report, per count row
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

        /// Also resolve each CO-RE record against the running kernel's BTF (or --btf)
        #[arg(long)]
        core: bool,

        /// The target BTF for --core (raw BTF or an ELF with .BTF)
        #[arg(long, value_name = "PATH", requires = "core")]
        btf: Option<PathBuf>,
    },
    /// What this kernel offers the tool (probed), and the attach path it takes here, and why
    Features {
        /// One JSON object
        #[arg(long)]
        json: bool,
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
        Some(Command::Inspect { object, core, btf }) => {
            inspect(object.as_deref(), *core, btf.as_deref())
        }
        Some(Command::Features { json }) => tool::features::run(*json),
        None => trace(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // A program the kernel refused: the end of its log says why, with the source
            // lines the kernel prints from line_info.
            if let Some(log) = rejected_program_log(&error) {
                eprintln!("tcpconnect: the verifier's log ends with:");
                for line in log.lines() {
                    eprintln!("    {line}");
                }
            }
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

/// How many lines of a verifier log to show when a program is refused.
const VERIFIER_LOG_LINES: usize = 20;

/// The end of the verifier's log, when `error` is a program the kernel refused.
fn rejected_program_log(error: &anyhow::Error) -> Option<String> {
    let refused = match error.downcast_ref::<load::LoadError>()? {
        load::LoadError::Program(refused) => refused,
        load::LoadError::CoreUnresolved { error, .. } => error,
        _ => return None,
    };
    let tail = refused.last_lines(VERIFIER_LOG_LINES);
    (!tail.is_empty()).then_some(tail)
}

fn read_object(path: Option<&Path>) -> Result<Cow<'static, [u8]>> {
    match path {
        Some(path) => std::fs::read(path)
            .map(Cow::Owned)
            .with_context(|| format!("reading {}", path.display())),
        None => Ok(Cow::Borrowed(EMBEDDED_OBJECT)),
    }
}

fn inspect(path: Option<&Path>, core: bool, btf: Option<&Path>) -> Result<()> {
    let bytes = read_object(path)?;
    let spec = ObjectSpec::parse(&bytes)?;
    let title = match path {
        Some(path) => path.display().to_string(),
        None => "bpf/main.bpf.o (embedded in tcpconnect)".to_string(),
    };
    let mut text = ebpf_loader::inspect::render(&spec, &title);
    if core {
        let target = kernel_btf(btf)?;
        let target_name = match btf {
            Some(path) => path.display().to_string(),
            None => format!("this kernel ({})", btf::kernel::VMLINUX_BTF),
        };
        text.push_str(&ebpf_loader::inspect::render_core(
            &spec,
            &target,
            &target_name,
        ));
    }
    io::stdout().write_all(text.as_bytes()).or_else(|error| {
        // `tcpconnect inspect | head` closes the pipe early: not an error.
        if error.kind() == io::ErrorKind::BrokenPipe {
            Ok(())
        } else {
            Err(error)
        }
    })?;
    Ok(())
}

/// The guided tour: with `--verbose`, what each step of the pipeline is for and what the
/// kernel answered, on stderr (stdout stays the events). Quiet otherwise.
struct Tour {
    verbose: bool,
    step: usize,
}

/// How many numbered steps the tour has.
const TOUR_STEPS: usize = 10;

impl Tour {
    /// A new step: its title, the module that does it, and what it is for.
    fn step(&mut self, title: &str, module: &str, purpose: &str) {
        self.step += 1;
        if self.verbose {
            eprintln!("[{}/{TOUR_STEPS}] {title} ({module}): {purpose}", self.step);
        }
    }

    /// The last line: everything is in place (tests wait for it).
    fn ready(&self, what: &str) {
        if self.verbose {
            eprintln!("tcpconnect: ready: {what}; stop with Ctrl-C");
        }
    }

    /// A detail under the current step.
    fn detail(&self, text: impl AsRef<str>) {
        if self.verbose {
            eprintln!("      {}", text.as_ref());
        }
    }
}

/// Which program to load and how to attach it, why (for the tour), and a note for the
/// one-line "attached" message when auto chose the fallback.
struct AttachChoice {
    program: &'static str,
    options: AttachOptions,
    why: &'static str,
    note: &'static str,
}

fn choose_program(mode: AttachMode) -> AttachChoice {
    let choice = |program, force_tracefs_kprobe, why| AttachChoice {
        program,
        options: AttachOptions {
            force_tracefs_kprobe,
            ..AttachOptions::default()
        },
        why,
        note: "",
    };
    match mode {
        AttachMode::Kprobe => choice(
            KPROBE_PROGRAM,
            false,
            "--attach kprobe: the kprobe PMU if the kernel has one, else tracefs kprobe_events",
        ),
        AttachMode::KprobeLegacy => choice(
            KPROBE_PROGRAM,
            true,
            "--attach kprobe-legacy: a kprobe written into tracefs kprobe_events",
        ),
        AttachMode::Tracepoint => choice(
            TRACEPOINT_PROGRAM,
            false,
            "--attach tracepoint: the stable tracepoint, no kprobe needed",
        ),
        AttachMode::Auto if attach::kprobes_available() => choice(
            KPROBE_PROGRAM,
            false,
            "auto: this kernel has kprobes, and tcp_connect sees each socket complete",
        ),
        AttachMode::Auto => AttachChoice {
            note: " (this kernel has no kprobes: the tracepoint is the fallback)",
            ..choice(
                TRACEPOINT_PROGRAM,
                false,
                "auto: this kernel has no kprobes (no kprobe PMU, no tracefs kprobe_events); \
                 the tracepoint sock/inet_sock_set_state sees the same connects",
            )
        },
    }
}

/// Writes the filters into the object's `.rodata` before it is loaded: the program then
/// drops what the user did not ask for before it costs any ring space. Returns what was
/// set, for the tour.
fn configure(spec: &mut ObjectSpec, cli: &Cli) -> Result<Vec<String>> {
    let mut set = Vec::new();
    if let Some(pid) = cli.pid {
        load::set_global(spec, "filter_pid", &pid.to_ne_bytes())?;
        set.push(format!("filter_pid = {pid}: only process {pid}"));
    }
    if let Some(uid) = cli.uid {
        load::set_global(spec, "filter_uid", &uid.to_ne_bytes())?;
        set.push(format!("filter_uid = {uid}: only user {uid}"));
    }
    let family: u8 = match (cli.ipv4, cli.ipv6) {
        (true, _) => libc::AF_INET as u8,
        (_, true) => libc::AF_INET6 as u8,
        _ => 0,
    };
    if family != 0 {
        load::set_global(spec, "filter_family", &[family])?;
        let name = if cli.ipv4 { "AF_INET" } else { "AF_INET6" };
        set.push(format!(
            "filter_family = {family} ({name}): only that family"
        ));
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
        set.push(format!(
            "filter_ports = {:?}, filter_ports_len = {}: only these destination ports",
            cli.port,
            cli.port.len()
        ));
    }
    if cli.count {
        load::set_global(spec, "count_mode", &[1])?;
        set.push("count_mode = 1: count in the map `counts`, send no events".to_string());
    }
    Ok(set)
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
    let mut tour = Tour {
        verbose: cli.verbose,
        step: 0,
    };
    // Blocked before anything is created, so a signal never interrupts half a setup.
    let signals = signals()?;

    tour.step(
        "parse the object",
        "src/elf",
        "read the ELF file clang wrote and check it; nothing reaches the kernel yet",
    );
    let bytes = read_object(cli.object.as_deref())?;
    let mut spec = ObjectSpec::parse(&bytes)?;
    tell_object(&tour, &spec, bytes.len());

    tour.step(
        "configure",
        "load::set_global",
        "write the options into .rodata, which the verifier will treat as constants",
    );
    let settings = configure(&mut spec, cli)?;
    if settings.is_empty() {
        tour.detail("no filter: .rodata keeps its defaults (every process, user, family, port)");
    }
    for setting in &settings {
        tour.detail(setting);
    }

    tour.step(
        "choose the program",
        "src/main.rs",
        "one of the object's programs is loaded, for the place it will attach to",
    );
    let choice = choose_program(cli.attach);
    tour.detail(format!("program {}: {}", choice.program, choice.why));
    let pruned = attach::prune_stale_kprobes()?;
    if !pruned.is_empty() {
        tour.detail(format!(
            "removed kprobe_events left by dead processes: {}",
            pruned.join(", ")
        ));
    }

    tour.step(
        "read the kernel's BTF",
        "src/btf/kernel.rs",
        "the kernel's own type information, to fit field offsets to this kernel (CO-RE)",
    );
    let target_btf = kernel_btf(cli.btf.as_deref())?;
    tour.detail(format!(
        "{}: {} types",
        cli.btf
            .as_deref()
            .unwrap_or(Path::new(btf::kernel::VMLINUX_BTF))
            .display(),
        target_btf.len()
    ));

    // Where this kernel charges BPF memory; before 5.11, RLIMIT_MEMLOCK raised (issue 12).
    let memlock = ebpf_loader::features::memlock::ensure();
    tour.detail(format!("memory accounting (probed): {memlock}"));

    // Steps 5 to 8 happen inside Object::load; the tour tells them from what it returns.
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: vec![choice.program.to_string()],
            target_btf: Some(&target_btf),
            verifier_stats: cli.verbose,
        },
    )?;
    let program = object
        .program(choice.program)
        .with_context(|| format!("program {} was not loaded", choice.program))?;
    tell_load(&mut tour, &spec, &object, program);

    tour.step(
        "attach",
        "src/attach",
        "bind the loaded program to its event, so the kernel runs it",
    );
    let link = program.attach(&choice.options)?;
    tell_attach(&tour, &link);
    eprintln!("tcpconnect: attached to {link}{}", choice.note);

    if cli.count {
        tour.step(
            "count",
            "src/event.rs",
            "count mode sends nothing through perf rings: the program adds one to the hash \
             map `counts` per connect",
        );
        let counts = object
            .map("counts")
            .context("the object has no map named counts")?;
        tour.detail(format!(
            "map counts (fd {}) is read with BPF_MAP_GET_NEXT_KEY and BPF_MAP_LOOKUP_ELEM {}",
            counts.fd.as_raw_fd(),
            match cli.interval {
                Some(secs) => format!("every {secs} s and at exit"),
                None => "at exit".to_string(),
            }
        ));
        if cli.duration == Some(0) {
            return Ok(());
        }
        tour.ready("counting; the table is printed on stdout at exit");
        count_loop(cli, counts, &signals)?;
    } else {
        tour.step(
            "open the perf rings",
            "src/perf",
            "one ring per CPU, shared memory the program writes events into",
        );
        let events = object
            .map("events")
            .context("the object has no map named events")?;
        // Woken once this many bytes wait (it must be less than the ring: half of one page
        // with --pages 1, the default's 4096 otherwise); poll() looks anyway every 50 ms.
        let wakeup = Wakeup::Watermark((cli.pages * 4096 / 2).min(4096) as u32);
        let reader = PerfReader::open(
            events.fd.as_fd(),
            &PerfReaderOptions {
                pages: cli.pages,
                wakeup,
                ..PerfReaderOptions::default()
            },
        )?;
        tour.detail(format!(
            "CPUs {:?}: each a perf event (PERF_COUNT_SW_BPF_OUTPUT) stored in map events at \
             its CPU number, mmapped as 1 metadata page + {} data pages",
            reader.cpus(),
            cli.pages
        ));
        if cli.duration == Some(0) {
            return Ok(());
        }
        tour.ready("each connection is printed on stdout as it comes");
        event_loop(cli, reader, &signals)?;
    }
    link.detach()?;
    report_missed(&object, &spec);
    Ok(())
}

/// The tracepoint path remembers each connecting process in the `pending` map until the
/// socket leaves SYN_SENT; when that map was full, the program counted the connection in
/// `pending_dropped` (`.bss`) instead of reporting it. Say so rather than miss it silently.
fn report_missed(object: &Object, spec: &ObjectSpec) {
    let Ok(bytes) = object.global(spec, "pending_dropped") else {
        return;
    };
    let missed = bytes.try_into().map(u64::from_ne_bytes).unwrap_or(0);
    if missed > 0 {
        eprintln!(
            "tcpconnect: {missed} connections were not reported: the pending map (tracepoint path) was full"
        );
    }
}

/// Step 1's details: the sections and what the loader makes of each.
fn tell_object(tour: &Tour, spec: &ObjectSpec, size: usize) {
    if !tour.verbose {
        return;
    }
    tour.detail(format!("{size} bytes, {} sections:", spec.sections.len()));
    for section in &spec.sections {
        if matches!(
            section.kind,
            SectionKind::Other | SectionKind::StringTable | SectionKind::Relocations { .. }
        ) {
            continue;
        }
        tour.detail(format!(
            "  {:<36} {:>6} bytes  {}",
            section.name,
            section.size,
            section.kind.describe()
        ));
    }
    let names = |programs: &[ebpf_loader::elf::ProgramSpec]| {
        programs
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    tour.detail(format!(
        "programs: {}; subprograms: {}; maps: {}; license \"{}\"",
        names(&spec.programs),
        names(&spec.subprograms),
        spec.maps
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        spec.license
    ));
}

/// Steps 5 to 8: what `Object::load` did, in its order.
fn tell_load(tour: &mut Tour, spec: &ObjectSpec, object: &Object, program: &Program) {
    tour.step(
        "load the object's BTF",
        "BPF_BTF_LOAD",
        "the types of the object, so maps and the program can be described to the kernel",
    );
    match (&object.btf_fd, &object.btf_error) {
        (Some(fd), _) => tour.detail(format!("the kernel took it: BTF fd {}", fd.as_raw_fd())),
        (None, Some(error)) => tour.detail(format!(
            "the kernel refused it, so maps and the program go without BTF: {error}"
        )),
        (None, None) => tour.detail("the object has no BTF"),
    }
    // Issue 12: the kinds this kernel lacks (probed) were rewritten, type ids kept.
    if object.btf_fd.is_some() {
        let missing = ebpf_loader::features::btf::probe().missing();
        let rewrites: Vec<String> = object.btf_rewrites.iter().map(|r| r.to_string()).collect();
        tour.detail(match (missing.is_empty(), rewrites.is_empty()) {
            (true, _) => "BTF kinds (probed): the kernel takes every kind the loader knows".into(),
            (false, true) => format!(
                "BTF kinds (probed): the kernel lacks {}; the object uses none of them",
                missing.join(", ")
            ),
            (false, false) => format!(
                "BTF kinds (probed): the kernel lacks {}; rewritten (btf::sanitize): {}",
                missing.join(", "),
                rewrites.join(", ")
            ),
        });
    }

    tour.step(
        "create the maps",
        "BPF_MAP_CREATE",
        "the kernel objects the program and this tool share",
    );
    for map in &object.maps {
        tour.detail(describe_map(map));
    }

    tour.step(
        "relocate",
        "src/elf/reloc.rs",
        "patch the instructions: map fds into map loads, offsets of the callee into calls, \
         this kernel's field offsets into CO-RE reads",
    );
    let relocated = &program.relocated;
    tour.detail(format!(
        "program {}: {} instructions once linked ({})",
        program.name,
        relocated.insns.len(),
        relocated
            .layout
            .iter()
            .map(|(name, start)| format!("{name} at {start}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    tour.detail(
        "each site: slot, function, what it refers to, the instruction before -> after \
         (map[fd:N] is BPF_PSEUDO_MAP_FD, map[fd:N][0]+OFF is BPF_PSEUDO_MAP_VALUE)",
    );
    for site in &relocated.applied {
        let what = match site.kind {
            RelocationKind::Map { .. } => format!("map {}", site.target),
            RelocationKind::MapValue { offset, .. } => {
                format!("global {} (+{offset})", site.symbol)
            }
            RelocationKind::Call { .. } => format!("call {}", site.target),
        };
        tour.detail(format!(
            "insn {:>3} in {:<20} {:<30} {}  ->  {}",
            site.insn,
            site.function,
            what,
            disasm_text(&site.before),
            disasm_text(&site.after)
        ));
    }
    // The records .BTF.ext holds for this program and the subprograms linked into it.
    let records: usize = relocated
        .layout
        .iter()
        .filter_map(|(name, _)| {
            spec.program(name)
                .or_else(|| spec.subprograms.iter().find(|s| &s.name == name))
        })
        .map(|function| function.core_relos.len())
        .sum();
    tour.detail(format!(
        "CO-RE: {records} records in .BTF.ext for these functions, {} fix-ups made",
        relocated.core.len()
    ));
    if !relocated.core.is_empty() {
        tour.detail(
            "each fix-up: the access, what clang computed from the object's BTF -> what it \
             is on this kernel, the instruction before -> after",
        );
    }
    for fixup in &relocated.core {
        tour.detail(describe_core_fixup(fixup));
    }

    tour.step(
        "load the program",
        "BPF_PROG_LOAD",
        "the verifier checks every path of the program, then the kernel keeps it",
    );
    // The id names the program kernel-wide (`bpftool prog show id N`); the fd only here.
    let id = ebpf_loader::syscall::prog_info(program.fd.as_fd())
        .map(|info| format!(", id {}", info.id))
        .unwrap_or_default();
    tour.detail(format!(
        "{} ({}, section {}): program fd {}{id}",
        program.name,
        program.attach,
        program.section,
        program.fd.as_raw_fd()
    ));
    if let Some(stats) = &program.verifier_stats {
        tour.detail(format!("verifier: {stats}"));
    }
    tour.detail(match &program.btf_info {
        BtfInfoOutcome::Accepted => format!(
            "func_info ({}) and line_info ({}) accepted: the kernel can name functions and \
             source lines (bpftool prog dump xlated)",
            relocated.func_info.len(),
            relocated.line_info.len()
        ),
        BtfInfoOutcome::NotGiven => "no func_info/line_info given (no object BTF)".to_string(),
        BtfInfoOutcome::Dropped(error) => {
            format!("func_info/line_info refused, loaded without them: {error}")
        }
    });
}

/// One CO-RE fix-up on one line: `byte_off struct sock.__sk_common.skc_family 12 -> 16
/// r1 = 12 -> r1 = 16`.
fn describe_core_fixup(fixup: &CoreFixup) -> String {
    let target = match fixup.target_value {
        Some(value) => value.to_string(),
        None => "missing".to_string(),
    };
    let mut text = format!(
        "{:<12} {:<54} {:>4} -> {:<6} {}",
        fixup.relo.kind.name(),
        fixup.local_access,
        fixup.local_value,
        target,
        disasm_text(&fixup.before)
    );
    if fixup.before == fixup.after {
        text.push_str("  (unchanged)");
    } else {
        text.push_str(&format!("  ->  {}", disasm_text(&fixup.after)));
    }
    if fixup.poisoned {
        text.push_str("  [poisoned: the verifier will refuse the program if this path can run]");
    }
    if let Some(why) = &fixup.missing {
        text.push_str(&format!(" ({why})"));
    }
    text
}

fn describe_map(map: &Map) -> String {
    let spec = &map.spec;
    let mut text = format!(
        "{:<14} {:<16} key {:>2} B, value {:>4} B, max_entries {:>4}, fd {}",
        spec.name,
        MapTypeName(spec.map_type).to_string(),
        spec.key_size,
        spec.value_size,
        map.max_entries,
        map.fd.as_raw_fd()
    );
    if map.with_btf {
        text.push_str(", typed by BTF");
    }
    if spec.map_type == syscall::BPF_MAP_TYPE_PERF_EVENT_ARRAY && spec.max_entries == 0 {
        text.push_str(" (one slot per possible CPU)");
    }
    match spec.kind {
        MapKind::Rodata => text.push_str(", filled and frozen (BPF_MAP_FREEZE)"),
        MapKind::Data => text.push_str(", filled"),
        MapKind::Bss => text.push_str(", zeroes"),
        MapKind::Btf => {}
    }
    text
}

/// The text of a relocation site's slots (one line: an `ld_imm64` covers both).
fn disasm_text(slots: &[ebpf_loader::insn::Insn]) -> String {
    disasm::disassemble(slots)
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Step 9's details: how the program was bound, and what that means.
fn tell_attach(tour: &Tour, link: &attach::Link) {
    let method = link.method();
    tour.detail(format!("{}: {method}", link.target()));
    tour.detail(match method.probe {
        attach::Probe::KprobePmu => {
            "a perf event of the kprobe PMU (perf_event_open with the function's name)"
        }
        attach::Probe::KprobeTracefs => {
            "a kprobe written into tracefs kprobe_events, opened as a tracepoint perf event"
        }
        attach::Probe::Tracepoint => "a perf event of the tracepoint, by the id tracefs gives it",
    });
    tour.detail(match method.via {
        attach::Via::BpfLink => {
            "bound with BPF_LINK_CREATE (5.15+): the program stays attached while the link fd is open"
        }
        attach::Via::PerfIoctl => {
            "bound with PERF_EVENT_IOC_SET_BPF and enabled with PERF_EVENT_IOC_ENABLE"
        }
    });
}

/// Turns ring records into lines on stdout and keeps the tallies.
struct Printer<W: Write> {
    out: W,
    columns: Columns,
    json: bool,
    start: Instant,
    lost_total: u64,
    bad_events: u64,
    /// The first failed write; the loop stops on it.
    write_error: Option<io::Error>,
}

impl<W: Write> Printer<W> {
    fn handle(&mut self, event: Event<'_>) {
        let seconds = self.start.elapsed().as_secs_f64();
        let written = match event {
            Event::Sample { data, .. } => match ConnectEvent::parse(data) {
                Ok(event) if self.json => {
                    writeln!(self.out, "{}", output::json(&event, seconds))
                }
                Ok(event) => writeln!(self.out, "{}", output::line(&event, self.columns, seconds)),
                Err(_) => {
                    self.bad_events += 1;
                    Ok(())
                }
            },
            Event::Lost { cpu, count } => {
                self.lost_total += count;
                eprintln!("tcpconnect: lost {count} events on CPU {cpu}");
                if self.json {
                    writeln!(self.out, "{}", output::lost_json(count, cpu, seconds))
                } else {
                    Ok(())
                }
            }
        };
        if let Err(error) = written {
            self.write_error.get_or_insert(error);
        }
    }

    /// Flushes; `Ok(false)` when stdout is closed (`tcpconnect | head`): the tool then
    /// ends quietly.
    fn flush(&mut self) -> Result<bool> {
        let result = match self.write_error.take() {
            Some(error) => Err(error),
            None => self.out.flush(),
        };
        match result {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(error) => Err(error).context("writing to stdout"),
        }
    }
}

/// Prints each event until SIGINT, SIGTERM, `--duration` or a closed stdout.
fn event_loop(cli: &Cli, mut reader: PerfReader, signals: &SignalFd) -> Result<()> {
    let columns = Columns {
        timestamp: cli.timestamp,
        uid: cli.print_uid,
        lport: cli.lport,
    };
    let stdout = io::stdout();
    let mut printer = Printer {
        out: io::BufWriter::new(stdout.lock()),
        columns,
        json: cli.json,
        start: Instant::now(),
        lost_total: 0,
        bad_events: 0,
        write_error: None,
    };
    if !cli.json {
        writeln!(printer.out, "{}", output::header(columns))?;
    }
    if !printer.flush()? {
        return Ok(());
    }

    let deadline = cli
        .duration
        .map(|secs| printer.start + Duration::from_secs(secs));
    loop {
        let mut wait = Duration::from_millis(100);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            wait = wait.min(left);
        }
        reader.poll(Some(wait), |event| printer.handle(event))?;
        if !printer.flush()? {
            return Ok(());
        }
        if signals.read_signal().context("reading signalfd")?.is_some() {
            break;
        }
    }
    // What the kernel wrote before the signal or the deadline is still printed.
    reader.drain(|event| printer.handle(event))?;
    if !printer.flush()? {
        return Ok(());
    }

    if printer.lost_total > 0 {
        eprintln!("tcpconnect: lost {} events in all", printer.lost_total);
    }
    if printer.bad_events > 0 {
        eprintln!(
            "tcpconnect: {} events could not be decoded",
            printer.bad_events
        );
    }
    Ok(())
}

/// Count mode: waits for SIGINT, SIGTERM or `--duration`, printing the table of the
/// `counts` map every `--interval` and at exit. The totals are since start (the map is
/// never cleared: clearing would race with the program's additions).
fn count_loop(cli: &Cli, counts: &Map, signals: &SignalFd) -> Result<()> {
    let start = Instant::now();
    let deadline = cli.duration.map(|secs| start + Duration::from_secs(secs));
    let interval = cli.interval.map(Duration::from_secs);
    let mut next_table = interval.map(|every| start + every);
    let mut tables = 0usize;
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break;
        }
        if let (Some(when), Some(every)) = (next_table, interval) {
            if now >= when {
                if !print_counts(cli, counts, start, tables)? {
                    return Ok(());
                }
                tables += 1;
                next_table = Some(when + every);
            }
        }
        if signals.read_signal().context("reading signalfd")?.is_some() {
            break;
        }
        // Nothing arrives in count mode but signals and time: a short nap is enough.
        let mut nap = Duration::from_millis(100);
        for until in [deadline, next_table].into_iter().flatten() {
            nap = nap.min(until.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(nap);
    }
    print_counts(cli, counts, start, tables)?;
    Ok(())
}

/// Reads every entry of `counts`: `BPF_MAP_GET_NEXT_KEY` from no key (the first) to the
/// end, `BPF_MAP_LOOKUP_ELEM` for each. Bounded by `max_entries`, so a map that changes
/// under the walk cannot keep it going.
fn read_counts(counts: &Map) -> Result<Vec<FlowCount>> {
    let fd = counts.fd.as_fd();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; counts.spec.key_size as usize];
    let mut value = vec![0u8; counts.spec.value_size as usize];
    let mut flows = Vec::new();
    for _ in 0..=counts.max_entries {
        if !syscall::map_get_next_key(fd, key.as_deref(), &mut next)
            .context("reading map counts")?
        {
            break;
        }
        // An entry can only vanish if something deletes it; then it is simply not shown.
        if syscall::map_lookup_elem(fd, &next, &mut value).context("reading map counts")? {
            flows.push(FlowCount::parse(&next, &value)?);
        }
        key = Some(next.clone());
    }
    event::sort_flows(&mut flows);
    Ok(flows)
}

/// Prints one table (text: a header and rows, tables after the first preceded by an empty
/// line; JSON: one object per row). `Ok(false)` when stdout is closed.
fn print_counts(cli: &Cli, counts: &Map, start: Instant, tables: usize) -> Result<bool> {
    let flows = read_counts(counts)?;
    let seconds = start.elapsed().as_secs_f64();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut write = || -> io::Result<()> {
        if cli.json {
            for flow in &flows {
                writeln!(out, "{}", output::count_json(flow, seconds))?;
            }
        } else {
            if tables > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}", output::count_header())?;
            for flow in &flows {
                writeln!(out, "{}", output::count_line(flow))?;
            }
        }
        out.flush()
    };
    match write() {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error).context("writing to stdout"),
    }
}
