//! `ebpf-loader load OBJECT --attach`: the object's programs loaded together, each attached
//! where its section says (or where `--target` says), and every record of the object's ring
//! buffers and perf event arrays printed as it comes, decoded through the object's BTF
//! ([`crate::records`]); a count per map at the end, and with `--dump-maps` every hash and
//! array map's elements ([`crate::dump`]). With `--pin DIR`, each map is pinned at
//! `DIR/NAME` first (`.rodata` as `_rodata`), and stays pinned.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ebpf_loader::attach::{self, AttachOptions, KprobeKind, Link, TcDirection};
use ebpf_loader::btf::{self, Btf};
use ebpf_loader::elf::{AttachTarget, ObjectSpec};
use ebpf_loader::load::{LoadOptions, Object, Program, TargetBtf};
use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions};
use ebpf_loader::ringbuf::RingBufReader;
use ebpf_loader::uapi::{MapType, ProgramType};
use nix::sys::signalfd::SignalFd;

use crate::cli::Load;
use crate::records::Records;

/// Loads the programs together, attaches each where its section says (or where
/// `--target` says), prints every record of the object's ring buffers and perf event
/// arrays as it comes, and a count per map at exit. `Ok(false)` when a program could not
/// be attached (the others still run).
pub fn run(request: &Load) -> Result<bool> {
    // Blocked before anything is created, so a signal never interrupts half a setup.
    let signals = crate::signals()?;
    let path = &request.object;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = ObjectSpec::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    // The records' types are checked before anything reaches the kernel.
    let record_btf = record_btf(request)?;
    let mut records = Records::new(
        record_btf.as_ref().or(spec.btf.as_ref()),
        &request.records,
        &output_maps(&spec),
        request.json,
    )?;
    let target_btf = crate::kernel_btf(request.btf.as_deref())?;
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: request.programs.clone(),
            target_btf: TargetBtf::Btf(&target_btf),
            kernel_btf: request.btf.is_none().then_some(&target_btf),
            ..LoadOptions::default()
        },
    )?;
    if let Some(dir) = &request.pin {
        pin_maps(&object, dir)?;
    }
    let mut links = Vec::new();
    let mut all_attached = true;
    for program in object.programs() {
        match attach_one(program, &object, &request.targets) {
            Ok(attached) => {
                for link in attached {
                    eprintln!("ebpf-loader: {}: attached to {link}", program.name());
                    links.push(link);
                }
            }
            Err(line) => {
                all_attached = false;
                eprintln!("ebpf-loader: {}: {line}", program.name());
            }
        }
    }
    let counts = read_until_stopped(&object, &mut records, request.duration, &signals)?;
    for (name, n) in &counts {
        eprintln!("ebpf-loader: {name}: {n} records");
    }
    drop(links);
    if request.dump_maps {
        dump_maps(&object, request.json)?;
    }
    Ok(all_attached)
}

/// The object's ring buffers and perf event arrays, by name.
fn output_maps(spec: &ObjectSpec) -> Vec<String> {
    spec.maps
        .iter()
        .filter(|m| matches!(m.map_type, MapType::RINGBUF | MapType::PERF_EVENT_ARRAY))
        .map(|m| m.name.clone())
        .collect()
}

/// `--record-btf FILE`, read.
fn record_btf(request: &Load) -> Result<Option<Btf>> {
    request
        .record_btf
        .as_ref()
        .map(|path| {
            Ok(btf::kernel::load_file(path)
                .with_context(|| format!("--record-btf {}", path.display()))?
                .0)
        })
        .transpose()
}

/// Attaches `program` where `--target` (in `targets`) or its section says: its links, or
/// the line that says why not.
fn attach_one(program: &Program, object: &Object, targets: &[String]) -> Result<Vec<Link>, String> {
    let given = targets.iter().find_map(|t| {
        let (name, target) = t.split_once('=')?;
        (name == program.name()).then_some(target)
    });
    let section = program.section();
    let kind = section.split('/').next().unwrap_or(section);
    let retprobe = kind.starts_with("kret") || kind.starts_with("uret");
    let options = AttachOptions::default();
    if let AttachTarget::Usdt {
        binary,
        provider,
        name,
    } = program.attach_target()
    {
        let path = attach::find_binary(binary);
        return attach::usdt::attach(program, object, &path, provider, name, None, &options)
            .map_err(|error| crate::one_line(&error));
    }
    let network = match program.program_type() {
        ProgramType::SchedCls => Some(NetworkKind::Tc),
        ProgramType::SocketFilter => Some(NetworkKind::Socket),
        _ => None,
    };
    let attached = match (network, given) {
        (Some(kind), None) => {
            return Err(format!(
                "{what} attaches to {where_}, given at run time: pass --target \
                 {name}={spec} (e.g. --target {name}=lo)",
                name = program.name(),
                what = kind.what(),
                where_ = kind.target(),
                spec = kind.spec(),
            ))
        }
        (Some(NetworkKind::Tc), Some(spec)) => {
            let default = TcDirection::of_attach_type(program.expected_attach_type());
            let (interface, direction) =
                parse_tc_spec(spec, default).map_err(|error| format!("--target: {error}"))?;
            attach::tc::attach(program, interface, direction, &options)
        }
        (Some(NetworkKind::Socket), Some(interface)) => {
            attach::socket::attach_packet(program, interface)
        }
        (None, Some(function)) if kind == "kprobe" || kind == "kretprobe" => {
            let how = if retprobe {
                KprobeKind::Return
            } else {
                KprobeKind::Entry
            };
            attach::kprobe::attach(program, function, how, &options)
        }
        (None, Some(target)) if kind == "uprobe" || kind == "uretprobe" => {
            let (binary, function) = target.rsplit_once(':').unwrap_or((target, ""));
            let function = (!function.is_empty()).then_some(function);
            attach::uprobe::attach(
                program,
                Path::new(binary),
                function,
                0,
                retprobe,
                None,
                &options,
            )
        }
        (None, _) => attach::by_section(program, &options),
    };
    attached
        .map(|link| vec![link])
        .map_err(|error| crate::one_line(&error))
}

/// Every ring buffer behind one reader, a perf reader per perf event array; each record
/// printed as it comes until `duration` has passed or a signal came. The count of records
/// per map.
fn read_until_stopped(
    object: &Object,
    records: &mut Records<'_>,
    duration: Option<u64>,
    signals: &SignalFd,
) -> Result<Vec<(String, u64)>> {
    let mut rings = RingBufReader::new(Duration::from_millis(50))?;
    let mut ring_names = Vec::new();
    let mut perf_readers = Vec::new();
    for map in object.maps() {
        if map.map_type() == MapType::RINGBUF {
            rings.add(map)?;
            ring_names.push(map.name().to_string());
        } else if map.map_type() == MapType::PERF_EVENT_ARRAY {
            let reader = PerfReader::open(map, &PerfReaderOptions::default())?;
            perf_readers.push((map.name().to_string(), reader));
        }
    }
    let names: Vec<String> = ring_names
        .iter()
        .chain(perf_readers.iter().map(|(name, _)| name))
        .cloned()
        .collect();
    eprintln!(
        "ebpf-loader: ready: reading {}; stop with Ctrl-C",
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
    let deadline = duration.map(|secs| Instant::now() + Duration::from_secs(secs));
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
                if let Some(name) = ring_names.get(index) {
                    println!("{}", records.line(name, None, data));
                    count(name);
                }
            })?;
        }
        for (name, reader) in &mut perf_readers {
            reader.drain(|event| match event {
                Event::Sample { cpu, data } => {
                    println!("{}", records.line(name, Some(cpu), data));
                    count(name);
                }
                Event::Lost { cpu, count } => println!("{}", records.lost(name, cpu, count)),
            })?;
        }
        if signals.read_signal()?.is_some() {
            break;
        }
    }
    Ok(counts)
}

/// `--dump-maps`: every hash and array map, through the object's BTF.
fn dump_maps(object: &Object, json: bool) -> Result<()> {
    for map in object.maps() {
        if crate::dump::dumpable(map.map_type()) {
            let text = crate::dump::render(map, map.btf(), json)?;
            if !json {
                println!("== map {} ==", map.name());
            }
            crate::write_stdout(&text)?;
        }
    }
    Ok(())
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

/// `--pin DIR`: each map at `DIR/NAME` (the directory made if missing), its dots made
/// underscores as libbpf's `sanitize_pin_path` does (bpffs refuses `.rodata`: a name that
/// starts with a dot). If one cannot be pinned, those pinned before it are removed: an
/// error leaves nothing behind.
fn pin_maps(object: &Object, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pinned = Vec::new();
    for map in object.maps() {
        let path = dir.join(map.name().replace('.', "_"));
        if let Err(error) = map.pin(&path) {
            for path in &pinned {
                let _ = std::fs::remove_file(path);
            }
            return Err(error).with_context(|| format!("pinning at {}", path.display()));
        }
        eprintln!("ebpf-loader: {}: pinned at {}", map.name(), path.display());
        pinned.push(path);
    }
    Ok(())
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
