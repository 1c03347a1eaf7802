//! `tcpconnect load OBJECT`: anyone's object through this loader, program by program, as
//! libbpf's `veristat` does: each program is loaded on its own (with every map of the
//! object), and the table says its type, where it attaches, the verifier's verdict and
//! statistics, or why it was refused and at which source line. Everything is unloaded
//! before the next program; nothing stays in the kernel.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ebpf_loader::attach;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, LoadOptions, Object, TargetBtf};

use super::tour::Tour;

/// What the command was asked.
pub struct LoadRequest<'a> {
    /// The object file.
    pub object: &'a Path,
    /// Only these programs (by function name); empty: all.
    pub programs: &'a [String],
    /// The kernel's BTF from a file, for kernels that publish none.
    pub btf: Option<&'a PathBuf>,
    /// Tell each step as the tour does.
    pub verbose: bool,
}

/// One program's outcome.
struct Outcome {
    name: String,
    program_type: String,
    attach: String,
    verdict: Result<Stats, String>,
}

/// The verifier's figures for a program it accepted.
struct Stats {
    /// The kernel's tag of the program (`bpf_prog_info.tag`): a hash of its
    /// instructions with map fds masked, the same for the same program whoever loads it.
    tag: Option<[u8; 8]>,
    insns: Option<u64>,
    states: Option<u64>,
    time_usec: Option<u64>,
}

/// Does loading `spec` need the kernel's BTF: CO-RE relocations, externs, or programs whose
/// target is named in BTF (libbpf's `obj_needs_vmlinux_btf`)?
fn needs_kernel_btf(spec: &ObjectSpec) -> bool {
    let core = spec
        .btf_ext
        .as_ref()
        .is_some_and(|ext| ext.core_relos.iter().any(|s| !s.records.is_empty()));
    core || !spec.externs.is_empty() || spec.programs.iter().any(|p| p.attach_btf_name().is_some())
}

/// Runs the command; `Ok(false)` when a program was refused (the exit status is then 1).
pub fn run(request: &LoadRequest<'_>) -> Result<bool> {
    let bytes = std::fs::read(request.object)
        .with_context(|| format!("reading {}", request.object.display()))?;
    let spec =
        ObjectSpec::parse(&bytes).with_context(|| format!("{}", request.object.display()))?;
    let mut tour = Tour::new(request.verbose);
    tour.object(&spec, bytes.len());
    for name in request.programs {
        if spec.program(name).is_none() {
            anyhow::bail!("no program named {name} in {}", request.object.display());
        }
    }
    // Read once for all the programs, and only when something needs it (a --btf file, CO-RE,
    // externs, BTF-typed programs), as libbpf reads vmlinux's BTF only then: for a large
    // object without CO-RE, parsing the kernel's BTF was a measurable part of its load.
    let target_btf = if request.btf.is_some() || needs_kernel_btf(&spec) {
        Some(super::kernel_btf(request.btf.map(PathBuf::as_path))?)
    } else {
        None
    };

    let mut outcomes = Vec::new();
    for program in &spec.programs {
        if !request.programs.is_empty() && !request.programs.contains(&program.name) {
            continue;
        }
        let options = LoadOptions {
            programs: vec![program.name.clone()],
            target_btf: target_btf
                .as_ref()
                .map_or(TargetBtf::RunningKernel, TargetBtf::Btf),
            // --btf is CO-RE's target only; without it, the same running kernel's BTF.
            kernel_btf: target_btf.as_ref().filter(|_| request.btf.is_none()),
            verifier_stats: true,
            ..LoadOptions::default()
        };
        let verdict = match Object::load(&spec, &options) {
            Ok(object) => {
                let loaded = object
                    .program(&program.name)
                    .context("the program was not loaded")?;
                if request.verbose {
                    tour.load(&spec, &object, &[loaded]);
                }
                for warning in object.kconfig_warnings() {
                    eprintln!("tcpconnect: {}: warning: {warning}", program.name);
                }
                let stats = loaded.verifier_stats();
                let info = loaded.info().ok();
                // `verified_insns` (5.16) where the log gave no statistics line.
                let insns = stats.map(|s| s.insns_processed).or_else(|| {
                    info.as_ref()
                        .map(|i| u64::from(i.verified_insns))
                        .filter(|&n| n > 0)
                });
                Ok(Stats {
                    tag: info.map(|i| i.tag),
                    insns,
                    states: stats.map(|s| s.total_states),
                    time_usec: stats.and_then(|s| s.verification_time_usec),
                })
            }
            Err(error) => Err(refusal(&error)),
        };
        outcomes.push(Outcome {
            name: program.name.clone(),
            program_type: program.prog_type.to_string(),
            attach: program.attach.to_string(),
            verdict,
        });
    }
    print_table(&outcomes);
    Ok(outcomes.iter().all(|o| o.verdict.is_ok()))
}

/// One line: why the program was refused, with the source line where the verifier
/// stopped.
fn refusal(error: &LoadError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    if let Some(source) = error.verifier_log().and_then(|log| log.source_line()) {
        text.push_str(&format!(" [at: {source}]"));
    }
    text
}

fn print_table(outcomes: &[Outcome]) {
    let name_width = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let type_width = outcomes
        .iter()
        .map(|o| o.program_type.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<name_width$}  {:<type_width$}  {:<8}  {:>8}  {:>7}  {:>9}  {:<16}  ATTACH",
        "PROGRAM", "TYPE", "VERDICT", "INSNS", "STATES", "TIME(us)", "TAG"
    );
    let number = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    for outcome in outcomes {
        match &outcome.verdict {
            Ok(stats) => println!(
                "{:<name_width$}  {:<type_width$}  {:<8}  {:>8}  {:>7}  {:>9}  {:<16}  {}",
                outcome.name,
                outcome.program_type,
                "loaded",
                number(stats.insns),
                number(stats.states),
                number(stats.time_usec),
                stats.tag.map_or("-".to_string(), |tag| {
                    tag.iter().map(|b| format!("{b:02x}")).collect()
                }),
                outcome.attach
            ),
            Err(reason) => {
                println!(
                    "{:<name_width$}  {:<type_width$}  {:<8}  {:>8}  {:>7}  {:>9}  {:<16}  {}",
                    outcome.name,
                    outcome.program_type,
                    "refused",
                    "-",
                    "-",
                    "-",
                    "-",
                    outcome.attach
                );
                eprintln!("tcpconnect: {}: {reason}", outcome.name);
            }
        }
    }
    let loaded = outcomes.iter().filter(|o| o.verdict.is_ok()).count();
    println!("{loaded} of {} programs loaded", outcomes.len());
}

/// `tcpconnect load OBJECT --attach`: what to run and for how long.
pub struct AttachRequest<'a> {
    /// The object, programs and BTF, as for the verifier table.
    pub load: LoadRequest<'a>,
    /// Targets for programs whose section names none (`SEC("kprobe")`): `NAME=FUNCTION`
    /// for kprobes, `NAME=BINARY:FUNCTION` for uprobes, `NAME=IFNAME[:ingress|:egress]`
    /// for tc programs, `NAME=IFNAME` for socket filters (a raw packet socket on it).
    pub targets: &'a [String],
    /// Stop after this many seconds; `None`: at SIGINT or SIGTERM.
    pub duration: Option<u64>,
}

/// Loads the programs together, attaches each where its section says (or where
/// `--target` says), prints every record of the object's ring buffers and perf event
/// arrays as it comes, and a count per map at exit. `Ok(false)` when a program could not
/// be attached (the others still run).
pub fn run_attached(request: &AttachRequest<'_>) -> Result<bool> {
    use attach::{AttachOptions, KprobeKind, TcDirection};
    use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions};
    use ebpf_loader::ringbuf::RingBufReader;
    use ebpf_loader::uapi::{MapType, ProgramType};
    use std::time::{Duration, Instant};

    let signals = super::trace::signals()?;
    let path = request.load.object;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = ObjectSpec::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let target_btf = super::kernel_btf(request.load.btf.map(PathBuf::as_path))?;
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: request.load.programs.to_vec(),
            target_btf: TargetBtf::Btf(&target_btf),
            kernel_btf: request.load.btf.is_none().then_some(&target_btf),
            ..LoadOptions::default()
        },
    )?;

    let mut all_attached = true;
    let mut links = Vec::new();
    for program in object.programs() {
        let given = request.targets.iter().find_map(|t| {
            let (name, target) = t.split_once('=')?;
            (name == program.name()).then_some(target)
        });
        let section = program.section();
        let kind = section.split('/').next().unwrap_or(section);
        let retprobe = kind.starts_with("kret") || kind.starts_with("uret");
        if let ebpf_loader::elf::AttachTarget::Usdt {
            binary,
            provider,
            name,
        } = program.attach_target()
        {
            let path = attach::find_binary(binary);
            match attach::usdt::attach(
                program,
                &object,
                &path,
                provider,
                name,
                None,
                &AttachOptions::default(),
            ) {
                Ok(usdt_links) => {
                    for link in usdt_links {
                        eprintln!("tcpconnect: {}: attached to {link}", program.name());
                        links.push(link);
                    }
                }
                Err(error) => {
                    all_attached = false;
                    eprintln!("tcpconnect: {}: {error}", program.name());
                }
            }
            continue;
        }
        let network = match program.program_type() {
            ProgramType::SchedCls => Some(NetworkKind::Tc),
            ProgramType::SocketFilter => Some(NetworkKind::Socket),
            _ => None,
        };
        let attached = match (network, given) {
            (Some(kind), None) => {
                all_attached = false;
                eprintln!(
                    "tcpconnect: {name}: {what} attaches to {where_}, given at run time: pass \
                     --target {name}={spec} (e.g. --target {name}=lo)",
                    name = program.name(),
                    what = kind.what(),
                    where_ = kind.target(),
                    spec = kind.spec(),
                );
                continue;
            }
            (Some(NetworkKind::Tc), Some(spec)) => {
                let default = TcDirection::of_attach_type(program.expected_attach_type());
                match parse_tc_spec(spec, default) {
                    Ok((interface, direction)) => {
                        attach::tc::attach(program, interface, direction, &AttachOptions::default())
                    }
                    Err(error) => {
                        all_attached = false;
                        eprintln!("tcpconnect: {}: --target: {error}", program.name());
                        continue;
                    }
                }
            }
            (Some(NetworkKind::Socket), Some(interface)) => {
                attach::socket::attach_packet(program, interface)
            }
            (None, given) => match given {
                Some(function) if kind == "kprobe" || kind == "kretprobe" => {
                    attach::kprobe::attach(
                        program,
                        function,
                        if retprobe {
                            KprobeKind::Return
                        } else {
                            KprobeKind::Entry
                        },
                        &AttachOptions::default(),
                    )
                }
                Some(target) if kind == "uprobe" || kind == "uretprobe" => {
                    let (binary, function) = target.rsplit_once(':').unwrap_or((target, ""));
                    attach::uprobe::attach(
                        program,
                        Path::new(binary),
                        (!function.is_empty()).then_some(function),
                        0,
                        retprobe,
                        None,
                        &AttachOptions::default(),
                    )
                }
                _ => attach::by_section(program, &AttachOptions::default()),
            },
        };
        match attached {
            Ok(link) => {
                eprintln!("tcpconnect: {}: attached to {link}", program.name());
                links.push(link);
            }
            Err(error) => {
                all_attached = false;
                let mut line = format!("tcpconnect: {}: {error}", program.name());
                let mut cause = std::error::Error::source(&error);
                while let Some(inner) = cause {
                    line.push_str(&format!(": {inner}"));
                    cause = inner.source();
                }
                eprintln!("{line}");
            }
        }
    }

    // Every ring buffer behind one reader, a perf reader per perf event array.
    let mut rings = RingBufReader::new(Duration::from_millis(50))?;
    let mut ring_names = Vec::new();
    let mut perf_readers = Vec::new();
    for map in object.maps() {
        if map.map_type() == MapType::RINGBUF {
            rings.add(map)?;
            ring_names.push(map.name().to_string());
        } else if map.map_type() == MapType::PERF_EVENT_ARRAY {
            perf_readers.push((
                map.name().to_string(),
                PerfReader::open(map, &PerfReaderOptions::default())?,
            ));
        }
    }
    let names: Vec<String> = ring_names
        .iter()
        .chain(perf_readers.iter().map(|(name, _)| name))
        .cloned()
        .collect();
    eprintln!(
        "tcpconnect: ready: reading {}; stop with Ctrl-C",
        if names.is_empty() {
            "no ring buffer or perf event array (the object has none)".to_string()
        } else {
            names.join(", ")
        }
    );

    let mut counts: Vec<(String, u64)> = names.iter().map(|n| (n.clone(), 0)).collect();
    let mut count = |map: &str| {
        if let Some(entry) = counts.iter_mut().find(|(name, _)| name == map) {
            entry.1 += 1;
        }
    };
    let deadline = request
        .duration
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    loop {
        let wait = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                left.min(Duration::from_millis(50))
            }
            None => Duration::from_millis(50),
        };
        if ring_names.is_empty() {
            std::thread::sleep(wait);
        } else {
            rings.poll(Some(wait), |index, data| {
                let name = &ring_names[index];
                println!("{name}: {} bytes: {}", data.len(), render(data));
                count(name);
            })?;
        }
        for (name, reader) in &mut perf_readers {
            reader.drain(|event| match event {
                Event::Sample { cpu, data } => {
                    println!("{name} cpu {cpu}: {} bytes: {}", data.len(), render(data));
                    count(name);
                }
                Event::Lost { cpu, count } => println!("{name} cpu {cpu}: lost {count}"),
            })?;
        }
        if signals.read_signal()?.is_some() {
            break;
        }
    }
    for (name, n) in &counts {
        eprintln!("tcpconnect: {name}: {n} records");
    }
    drop(links);
    Ok(all_attached)
}

/// The network program kinds, whose target (an interface) is only given at run time.
#[derive(Clone, Copy)]
enum NetworkKind {
    Tc,
    Socket,
}

impl NetworkKind {
    fn what(self) -> &'static str {
        match self {
            NetworkKind::Tc => "a tc program",
            NetworkKind::Socket => "a socket filter",
        }
    }

    fn target(self) -> &'static str {
        match self {
            NetworkKind::Tc => "a network interface's ingress or egress",
            NetworkKind::Socket => "a socket (here: a raw packet socket on a network interface)",
        }
    }

    fn spec(self) -> &'static str {
        match self {
            NetworkKind::Tc => "IFNAME[:ingress|:egress]",
            NetworkKind::Socket => "IFNAME",
        }
    }
}

/// `IFNAME[:ingress|:egress]`; without a direction, `default` (the section's, else ingress).
fn parse_tc_spec(
    spec: &str,
    default: attach::TcDirection,
) -> Result<(&str, attach::TcDirection), String> {
    let (interface, direction) = match spec.rsplit_once(':') {
        Some((interface, direction)) => (interface, direction.parse()?),
        None => (spec, default),
    };
    if interface.is_empty() {
        return Err(format!("{spec:?}: no interface (IFNAME[:ingress|:egress])"));
    }
    Ok((interface, direction))
}

/// A record's bytes in hex, 16-bit groups, as `xxd` shows them. (A ring buffer or a perf
/// event array cannot carry a value type in BTF, the kernel refuses one: the record's
/// struct is known only to the program's source, so there is no type to decode it by.)
fn render(data: &[u8]) -> String {
    data.chunks(2)
        .map(|pair| pair.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use attach::TcDirection;

    #[test]
    fn tc_targets_name_an_interface_and_maybe_a_direction() {
        let ingress = TcDirection::Ingress;
        assert_eq!(parse_tc_spec("lo", ingress), Ok(("lo", ingress)));
        assert_eq!(
            parse_tc_spec("lo", TcDirection::Egress),
            Ok(("lo", TcDirection::Egress))
        );
        assert_eq!(
            parse_tc_spec("eth0:egress", ingress),
            Ok(("eth0", TcDirection::Egress))
        );
        assert_eq!(
            parse_tc_spec("eth0:ingress", TcDirection::Egress),
            Ok(("eth0", ingress))
        );
        assert_eq!(
            parse_tc_spec("eth0:out", ingress),
            Err("\"out\" is not a direction (ingress or egress)".to_string())
        );
        assert!(parse_tc_spec(":egress", ingress).is_err());
    }
}
