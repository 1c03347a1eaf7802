//! The pipeline in order, then the loop that prints events until SIGINT, SIGTERM,
//! `--duration` or a closed stdout:
//!
//! 1. parse the object (`elf::ObjectSpec`) and write the filters into `.rodata`;
//! 2. choose where to attach: the kprobe on `tcp_connect`, or on kernels without kprobes
//!    the tracepoints `sock/inet_sock_set_state` and `tcp/tcp_retransmit_skb`;
//! 3. load the kernel's BTF (for CO-RE), then the object (`load::Object`);
//! 4. attach the program(s) through the two kinds the tool has (`attach::kprobe`,
//!    `attach::tracepoint`; [`attach_program`]), open one perf ring per CPU
//!    (`perf::PerfReader`);
//! 5. print each event; in count mode, the `counts` table instead ([`super::count`]).

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signalfd::SignalFd;

use ebpf_loader::attach::{self, kprobe, tracepoint, AttachOptions, KprobeKind, Link};
use ebpf_loader::btf;
use ebpf_loader::elf::{AttachTarget, ObjectSpec};
use ebpf_loader::load::{LoadOptions, Object, PerfEventArray, Program, TargetBtf};
use ebpf_loader::perf::{PerfReader, PerfReaderOptions, Wakeup};

use super::cli::{AttachMode, Cli};
use super::event::EventLayout;
use super::print::{self, Columns, Printer};
use super::signal;
use super::tour::Tour;

/// The kprobe program and the function it probes.
const KPROBE_PROGRAM: &str = "tcp_connect";
/// The tracepoint programs, for kernels without kprobes, loaded and attached together:
/// the state change sends the event when the socket leaves SYN_SENT, the retransmit when
/// the SYN gets no answer in time (whichever comes first; bpf/main.bpf.c).
const TRACEPOINT_PROGRAMS: &[&str] = &["inet_sock_set_state", "tcp_retransmit_skb"];
/// The tracepoint path's program that an object given with `--object` may lack (built
/// before it existed): the path then runs without it, and says so.
const OPTIONAL_PROGRAM: &str = "tcp_retransmit_skb";
/// When each path sends the event (the tour and the README say it).
const KPROBE_WHEN: &str = "an event is sent at tcp_connect, as the SYN goes out";
const TRACEPOINT_WHEN: &str = "an event is sent when the socket leaves SYN_SENT (answered, \
     refused or given up), or at its first SYN retransmit (about 1 s) if no answer came by then";
/// `MAX_PORTS` of main.bpf.c.
const MAX_PORTS: usize = 64;

/// Which programs to load and how to attach them, why and when an event is sent (for the
/// tour), and a note for the one-line "attached" message when auto chose the fallback.
struct AttachChoice {
    programs: &'static [&'static str],
    options: AttachOptions,
    why: &'static str,
    when: &'static str,
    note: &'static str,
}

fn choose_programs(mode: AttachMode) -> AttachChoice {
    let choice = |programs: &'static [&'static str], force_tracefs_kprobe, why| AttachChoice {
        programs,
        options: AttachOptions {
            force_tracefs_kprobe,
            ..AttachOptions::default()
        },
        why,
        when: if programs == TRACEPOINT_PROGRAMS {
            TRACEPOINT_WHEN
        } else {
            KPROBE_WHEN
        },
        note: "",
    };
    match mode {
        AttachMode::Kprobe => choice(
            &[KPROBE_PROGRAM],
            false,
            "--attach kprobe: the kprobe PMU if the kernel has one, else tracefs kprobe_events",
        ),
        AttachMode::KprobeLegacy => choice(
            &[KPROBE_PROGRAM],
            true,
            "--attach kprobe-legacy: a kprobe written into tracefs kprobe_events",
        ),
        AttachMode::Tracepoint => choice(
            TRACEPOINT_PROGRAMS,
            false,
            "--attach tracepoint: the stable tracepoints, no kprobe needed",
        ),
        AttachMode::Auto if attach::kprobes_available() => choice(
            &[KPROBE_PROGRAM],
            false,
            "auto: this kernel has kprobes, and tcp_connect sees each socket complete",
        ),
        AttachMode::Auto => AttachChoice {
            note: " (this kernel has no kprobes: the tracepoint is the fallback)",
            ..choice(
                TRACEPOINT_PROGRAMS,
                false,
                "auto: this kernel has no kprobes (no kprobe PMU, no tracefs kprobe_events); \
                 the tracepoint sock/inet_sock_set_state sees the same connects, and \
                 tcp/tcp_retransmit_skb those whose SYN gets no answer",
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
        spec.set_global("filter_pid", &pid)?;
        set.push(format!("filter_pid = {pid}: only process {pid}"));
    }
    if let Some(uid) = cli.uid {
        spec.set_global("filter_uid", &uid)?;
        set.push(format!("filter_uid = {uid}: only user {uid}"));
    }
    let family: u8 = match (cli.ipv4, cli.ipv6) {
        (true, _) => libc::AF_INET as u8,
        (_, true) => libc::AF_INET6 as u8,
        _ => 0,
    };
    if family != 0 {
        spec.set_global("filter_family", &family)?;
        let name = if cli.ipv4 { "AF_INET" } else { "AF_INET6" };
        set.push(format!(
            "filter_family = {family} ({name}): only that family"
        ));
    }
    if !cli.port.is_empty() {
        if cli.port.len() > MAX_PORTS {
            bail!("at most {MAX_PORTS} ports can be given to --port");
        }
        let mut ports = [0u16; MAX_PORTS];
        for (slot, port) in ports.iter_mut().zip(&cli.port) {
            *slot = *port;
        }
        spec.set_global("filter_ports", &ports)?;
        spec.set_global("filter_ports_len", &(cli.port.len() as u32))?;
        set.push(format!(
            "filter_ports = {:?}, filter_ports_len = {}: only these destination ports",
            cli.port,
            cli.port.len()
        ));
    }
    if cli.count {
        spec.set_global("count_mode", &1u8)?;
        set.push("count_mode = 1: count in the map `counts`, send no events".to_string());
    }
    Ok(set)
}

/// `tcpconnect` without a subcommand: trace until stopped.
pub fn run(cli: &Cli) -> Result<()> {
    let mut tour = Tour::new(cli.verbose);
    // Blocked before anything is created, so a signal never interrupts half a setup.
    let signals = signal::signals()?;

    tour.step(
        "parse the object",
        "src/elf",
        "read the ELF file clang wrote and check it; nothing reaches the kernel yet",
    );
    let bytes = super::read_object(cli.object.as_deref())?;
    let mut spec = ObjectSpec::parse(&bytes)?;
    tour.object(&spec, bytes.len());

    tour.step(
        "configure",
        "ObjectSpec::set_global",
        "write the options into .rodata, which the verifier will treat as constants",
    );
    let mut settings = configure(&mut spec, cli)?;
    let mut selection = super::select::configure(&mut spec, cli)?;
    settings.append(&mut selection.settings);
    if settings.is_empty() {
        tour.detail("no filter: .rodata keeps its defaults (every process, user, family, port)");
    }
    for setting in &settings {
        tour.detail(setting);
    }

    tour.step(
        "choose the program",
        "src/tool/trace.rs",
        "the object's programs for the place they will attach to are loaded, no other",
    );
    let choice = choose_programs(cli.attach);
    tour.detail(format!(
        "program {}: {}",
        choice.programs.join(", "),
        choice.why
    ));
    tour.detail(choice.when);
    let names: Vec<&str> = choice
        .programs
        .iter()
        .copied()
        .filter(|name| *name != OPTIONAL_PROGRAM || spec.program(name).is_some())
        .collect();
    let without = if names.len() < choice.programs.len() {
        let note = format!(
            " (the object has no program {OPTIONAL_PROGRAM}: a connect that gets no answer is \
             printed only when it gives up)"
        );
        tour.detail(note.trim());
        note
    } else {
        String::new()
    };
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
    let target_btf = super::kernel_btf(cli.btf.as_deref())?;
    tour.detail(format!(
        "{}: {} types",
        cli.btf
            .as_deref()
            .unwrap_or(Path::new(btf::kernel::VMLINUX_BTF))
            .display(),
        target_btf.len()
    ));

    // Where this kernel charges BPF memory; before 5.11, RLIMIT_MEMLOCK is raised.
    let memlock = ebpf_loader::features::memlock::ensure();
    tour.detail(format!("memory accounting (probed): {memlock}"));

    // Steps 5 to 8 happen inside Object::load; the tour tells them from what it returns.
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: names.iter().map(|name| name.to_string()).collect(),
            target_btf: TargetBtf::Btf(&target_btf),
            // --btf is CO-RE's target only; without it, the same running kernel's BTF.
            kernel_btf: cli.btf.is_none().then_some(&target_btf),
            verifier_stats: cli.verbose,
            pinned_maps: selection.pinned_maps.clone(),
            ..LoadOptions::default()
        },
    )?;
    selection.apply(&object)?;
    // The object's struct data_t against the tool's, field by field (its BTF), before
    // anything is attached: a changed bpf/main.bpf.c stops here, naming the field.
    let layout = EventLayout::check(spec.btf.as_ref())?;
    let programs = names
        .iter()
        .map(|name| {
            object
                .program(name)
                .with_context(|| format!("program {name} was not loaded"))
        })
        .collect::<Result<Vec<_>>>()?;
    tour.load(&spec, &object, &programs);
    tour.detail(match layout {
        EventLayout::Containers => {
            "struct data_t checked against the object's BTF: every field where the tool reads \
             it (104 bytes, with the container fields)"
        }
        EventLayout::Seed => {
            "struct data_t checked against the object's BTF: the seed's 84 bytes, without the \
             container fields"
        }
    });

    tour.step(
        "attach",
        "src/attach",
        "bind each loaded program to its event, so the kernel runs it",
    );
    // Attached together, detached together: should one fail, dropping the others' links
    // detaches them.
    let links = programs
        .iter()
        .map(|program| attach_program(program, &choice.options))
        .collect::<Result<Vec<_>>>()?;
    for link in &links {
        tour.attached(link);
    }
    let attached: Vec<String> = links.iter().map(|link| link.to_string()).collect();
    eprintln!(
        "tcpconnect: attached to {}{}{without}",
        attached.join(" and "),
        choice.note
    );

    if cli.count {
        let counts = super::count::start(cli, &object, &mut tour)?;
        if cli.duration == Some(0) {
            return Ok(());
        }
        tour.ready("counting; the table is printed on stdout at exit");
        super::count::run(cli, &counts, &signals)?;
    } else {
        tour.step(
            "open the perf rings",
            "src/perf",
            "one ring per CPU, shared memory the program writes events into",
        );
        let events: PerfEventArray = object.typed_map("events")?;
        // Woken once this many bytes wait (it must be less than the ring: half of one page
        // with --pages 1, the default's 4096 otherwise); poll() looks anyway every 50 ms.
        let wakeup = Wakeup::Watermark((cli.pages * 4096 / 2).min(4096) as u32);
        let reader = events.reader(&PerfReaderOptions {
            pages: cli.pages,
            wakeup,
            ..PerfReaderOptions::default()
        })?;
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
        event_loop(cli, reader, layout, &signals)?;
    }
    // Every link is detached, even after an error; the first error is reported.
    let mut detached = Ok(());
    for link in links {
        let result = link.detach();
        if detached.is_ok() {
            detached = result;
        }
    }
    detached?;
    report_missed(&object);
    Ok(())
}

/// Attaches one of the tool's programs where its section says, through the attach function
/// of its kind: the tool has kprobes and tracepoints only. Not `attach::by_section`, which
/// names every kind the library attaches (uprobes, USDT, tc, XDP, ...): calling it would
/// link them all into the binary (BENCHMARKS.md, "tcpconnect small again").
fn attach_program(program: &Program, opts: &AttachOptions) -> Result<Link> {
    let link = match program.attach_target() {
        AttachTarget::Kprobe {
            function,
            offset,
            retprobe,
        } => {
            let kind = if *retprobe {
                KprobeKind::Return
            } else {
                KprobeKind::Entry
            };
            kprobe::attach_at(program, function, *offset, kind, opts)?
        }
        AttachTarget::Tracepoint { category, name } => {
            tracepoint::attach(program, category, name, opts)?
        }
        other => bail!(
            "program {} (section {}) attaches to {other}: tcpconnect attaches kprobes and \
             tracepoints only (ebpf-loader load --attach attaches every kind)",
            program.name(),
            program.section()
        ),
    };
    Ok(link)
}

/// The tracepoint path remembers each connecting process in the `pending` map until the
/// event is sent; when that map was full, the program counted the connection in
/// `pending_dropped` (`.bss`) instead of reporting it. Say so rather than miss it silently.
fn report_missed(object: &Object) {
    let Ok(missed) = object.global::<u64>("pending_dropped") else {
        return;
    };
    if missed > 0 {
        eprintln!(
            "tcpconnect: {missed} connections were not reported: the pending map (tracepoint path) was full"
        );
    }
}

/// Prints each event until SIGINT, SIGTERM, `--duration` or a closed stdout.
fn event_loop(
    cli: &Cli,
    mut reader: PerfReader,
    layout: EventLayout,
    signals: &SignalFd,
) -> Result<()> {
    let columns = Columns {
        timestamp: cli.timestamp,
        uid: cli.print_uid,
        lport: cli.lport,
        container: cli.containers,
    };
    let stdout = io::stdout();
    // The container fields need the cgroup v2 hierarchy; without one they stay unknown.
    let names = (cli.json || cli.containers)
        .then(super::container::CgroupNames::of_this_system)
        .flatten();
    let mut printer = Printer::new(io::BufWriter::new(stdout.lock()), columns, cli.json, layout)
        .with_cgroup_names(names);
    if !cli.json {
        printer.line(&print::header(columns));
    }
    if !printer.flush()? {
        return Ok(());
    }

    let deadline = cli
        .duration
        .map(|secs| printer.start() + Duration::from_secs(secs));
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
        if signal::signalled(signals)? {
            break;
        }
    }
    // What the kernel wrote before the signal or the deadline is still printed.
    reader.drain(|event| printer.handle(event))?;
    if !printer.flush()? {
        return Ok(());
    }
    printer.summary();
    Ok(())
}
