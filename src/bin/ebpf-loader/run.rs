//! `ebpf-loader load OBJECT --attach`: the object's programs loaded together, each attached
//! where its section says (or where `--target` says), and every record of the object's ring
//! buffers and perf event arrays printed as it comes, decoded through the object's BTF
//! ([`crate::records`]); a count per map at the end, and with `--dump-maps` every hash and
//! array map's elements ([`crate::dump`]). A program whose target is known only at run
//! time (an interface, a cgroup, a sockmap, a network namespace, a glob) takes it from
//! `--target NAME=SPEC`, in the syntax of its kind ([`TargetKind`]); each struct_ops map is
//! registered after the programs are attached. An iterator (`iter/...`, its parameter from
//! `--target` where it takes one) is read once, and what it wrote printed: at once when
//! nothing else was attached, else at the end. With `--pin DIR`, each map is pinned at
//! `DIR/NAME` first (`.rodata` as `_rodata`), each link that is a BPF link at
//! `DIR/link_PROGRAM` once attached, and the pins stay.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ebpf_loader::attach::iter::{CgroupOrder, CgroupStart, IterParams, TaskScope};
use ebpf_loader::attach::kprobe_multi::KprobeMultiOptions;
use ebpf_loader::attach::uprobe_multi::UprobeMultiOptions;
use ebpf_loader::attach::{
    self, AttachOptions, KprobeKind, Link, TcDirection, XdpMode, XdpOptions,
};
use ebpf_loader::btf::{self, Btf};
use ebpf_loader::elf::{AttachTarget, ObjectSpec};
use ebpf_loader::load::{LoadOptions, Object, Program, TargetBtf};
use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions};
use ebpf_loader::ringbuf::RingBufReader;
use ebpf_loader::uapi::{AttachType, MapType, ProgramType};
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
    let map_pins = match &request.pin {
        Some(dir) => pin_maps(&object, dir)?,
        None => Vec::new(),
    };
    let mut links = Vec::new();
    let mut iterators = Vec::new();
    let mut all_attached = true;
    for program in object.programs() {
        match attach_one(program, &object, &request.targets) {
            Ok(attached) => {
                for (i, link) in attached.into_iter().enumerate() {
                    eprintln!("ebpf-loader: {}: attached to {link}", program.name());
                    if let Some(dir) = &request.pin {
                        let name = match i {
                            0 => program.name().to_string(),
                            i => format!("{}_{i}", program.name()),
                        };
                        pin_link(&link, &name, dir);
                    }
                    if is_iterator(program) {
                        iterators.push((program.name().to_string(), link));
                    } else {
                        links.push(link);
                    }
                }
            }
            Err(line) => {
                all_attached = false;
                eprintln!("ebpf-loader: {}: {line}", program.name());
            }
        }
    }
    for (map, registered) in register_struct_ops(&object) {
        match registered {
            Ok(link) => {
                eprintln!("ebpf-loader: {map}: registered {link}");
                if let Some(dir) = &request.pin {
                    pin_link(&link, &map, dir);
                }
                links.push(link);
            }
            Err(line) => {
                all_attached = false;
                eprintln!("ebpf-loader: {map}: {line}");
            }
        }
    }
    if links.is_empty() && iterators.is_empty() && !all_attached {
        // Nothing runs: nothing to read, and nothing to leave pinned. The lines above
        // said why.
        for path in &map_pins {
            let _ = std::fs::remove_file(path);
        }
        return Ok(false);
    }
    // Iterators alone: read them at once; beside other programs, once those have run.
    if !links.is_empty() || iterators.is_empty() {
        let counts = read_until_stopped(&object, &mut records, request.duration, &signals)?;
        for (name, n) in &counts {
            eprintln!("ebpf-loader: {name}: {n} records");
        }
    }
    all_attached &= print_iterators(&iterators)?;
    drop(iterators);
    drop(links);
    if request.dump_maps {
        dump_maps(&object, request.json)?;
    }
    Ok(all_attached)
}

/// Is `program` an iterator (`iter/...`)?
fn is_iterator(program: &Program) -> bool {
    program.program_type() == ProgramType::Tracing
        && program.expected_attach_type() == AttachType::TRACE_ITER
}

/// Runs each iterator once and prints what it wrote, under a line naming it. `false` when
/// one could not be read (said on stderr).
fn print_iterators(iterators: &[(String, Link)]) -> Result<bool> {
    let mut all_read = true;
    for (name, link) in iterators {
        match link.read_iter() {
            Ok(text) => {
                println!("== iterator {name}: {} ==", link.target());
                crate::write_stdout(&String::from_utf8_lossy(&text))?;
            }
            Err(error) => {
                all_read = false;
                eprintln!(
                    "ebpf-loader: {name}: reading the iterator: {}",
                    crate::one_line(&error)
                );
            }
        }
    }
    Ok(all_read)
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
/// the line that says why not. A struct_ops program attaches nothing by itself: it is
/// registered with its map ([`register_struct_ops`]).
fn attach_one(program: &Program, object: &Object, targets: &[String]) -> Result<Vec<Link>, String> {
    let given = targets.iter().find_map(|t| {
        let (name, target) = t.split_once('=')?;
        (name == program.name()).then_some(target)
    });
    let section = program.section();
    let kind = section.split('/').next().unwrap_or(section);
    let retprobe = kind.starts_with("kret") || kind.starts_with("uret");
    let options = AttachOptions::default();
    let one_line = |error: attach::AttachError| crate::one_line(&error);
    if let AttachTarget::Usdt {
        binary,
        provider,
        name,
    } = program.attach_target()
    {
        let path = attach::find_binary(binary);
        return attach::usdt::attach(program, object, &path, provider, name, None, &options)
            .map_err(one_line);
    }
    if program.program_type() == ProgramType::StructOps {
        return Ok(Vec::new());
    }
    let needed = TargetKind::of(program, kind);
    let attached = match (needed, given) {
        (Some(TargetKind::Reuseport), _) => return Err(TargetKind::Reuseport.syntax(program)),
        (Some(needed), None) if needed.default_spec().is_none() => {
            return Err(needed.syntax(program))
        }
        (Some(needed), given) => {
            let spec = given.or(needed.default_spec()).unwrap_or_default();
            attach_to(program, object, needed, spec, retprobe)?
        }
        (None, Some(function)) if kind == "kprobe" || kind == "kretprobe" => {
            let how = if retprobe {
                KprobeKind::Return
            } else {
                KprobeKind::Entry
            };
            attach::kprobe::attach(program, function, how, &options).map_err(one_line)?
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
            .map_err(one_line)?
        }
        (None, _) => attach::by_section(program, &options).map_err(one_line)?,
    };
    Ok(vec![attached])
}

/// Attaches `program` of kind `needed` at `spec`, its `--target` (or the kind's default):
/// the link, or the line that says why not (`--target: ...` where the spec is wrong).
fn attach_to(
    program: &Program,
    object: &Object,
    needed: TargetKind,
    spec: &str,
    retprobe: bool,
) -> Result<Link, String> {
    let options = AttachOptions::default();
    let one_line = |error: attach::AttachError| crate::one_line(&error);
    let bad = |line: String| format!("--target: {line}");
    match needed {
        TargetKind::Tc => {
            let default = TcDirection::of_attach_type(program.expected_attach_type());
            let (interface, direction) = parse_tc_spec(spec, default).map_err(bad)?;
            attach::tc::attach(program, interface, direction, &options).map_err(one_line)
        }
        TargetKind::Socket => attach::socket::attach_packet(program, spec).map_err(one_line),
        TargetKind::Xdp => {
            let (interface, mode) = parse_xdp_spec(spec).map_err(bad)?;
            let xdp = XdpOptions {
                mode,
                replace: None,
            };
            attach::xdp::attach(program, interface, &xdp, &options).map_err(one_line)
        }
        TargetKind::Cgroup => {
            attach::cgroup::attach(program, Path::new(spec), &options).map_err(one_line)
        }
        TargetKind::Sockmap => {
            let map = object.map(spec).ok_or_else(|| {
                bad(format!(
                    "the object has no map {spec} (its sockmaps and sockhashes: {})",
                    sockmaps(object)
                ))
            })?;
            attach::sockmap::attach(program, map, &options).map_err(one_line)
        }
        TargetKind::Netns => {
            attach::netns::attach_path(program, Path::new(spec), &options).map_err(one_line)
        }
        TargetKind::UprobeMulti => {
            let (binary, pattern) = spec
                .rsplit_once(':')
                .filter(|(binary, pattern)| !binary.is_empty() && !pattern.is_empty())
                .ok_or_else(|| bad(format!("{spec:?} is not BINARY:GLOB")))?;
            let multi = UprobeMultiOptions {
                retprobe,
                pid: None,
            };
            let path = attach::find_binary(binary);
            attach::uprobe_multi::attach_glob(program, &path, pattern, &multi).map_err(one_line)
        }
        TargetKind::KprobeMulti => {
            let multi = KprobeMultiOptions { retprobe };
            attach::kprobe_multi::attach_glob(program, spec, &multi).map_err(one_line)
        }
        TargetKind::Iter => attach_iterator(program, object, spec),
        TargetKind::Reuseport => Err(needed.syntax(program)),
    }
}

/// An iterator with the parameter `spec` names ([`parse_iter_spec`]): the map of the
/// object, the cgroup directory opened for the call.
fn attach_iterator(program: &Program, object: &Object, spec: &str) -> Result<Link, String> {
    let bad = |line: String| format!("--target: {line}");
    let one_line = |error: attach::AttachError| crate::one_line(&error);
    let cgroup_dir;
    let params = match parse_iter_spec(spec).map_err(bad)? {
        IterSpec::None => IterParams::None,
        IterSpec::Map(name) => IterParams::Map(object.map(name).ok_or_else(|| {
            let names: Vec<&str> = object.maps().iter().map(|m| m.name()).collect();
            bad(format!(
                "the object has no map {name} (its maps: {})",
                names.join(", ")
            ))
        })?),
        IterSpec::Pid(pid) => IterParams::Task(TaskScope::Process(pid)),
        IterSpec::Tid(tid) => IterParams::Task(TaskScope::Thread(tid)),
        IterSpec::Cgroup(path, order) => {
            cgroup_dir =
                std::fs::File::open(path).map_err(|e| bad(format!("cgroup {path}: {e}")))?;
            IterParams::Cgroup {
                start: CgroupStart::Fd(std::os::fd::AsFd::as_fd(&cgroup_dir)),
                order,
            }
        }
    };
    attach::iter::attach_with(program, &params).map_err(one_line)
}

/// An iterator's `--target` spec, parsed.
#[derive(Debug, PartialEq, Eq)]
enum IterSpec<'a> {
    /// No parameter (the empty spec).
    None,
    /// `map:NAME`.
    Map(&'a str),
    /// `pid:PID`.
    Pid(u32),
    /// `tid:TID`.
    Tid(u32),
    /// `cgroup:PATH[:self|:pre|:post|:up]` (default `pre`).
    Cgroup(&'a str, CgroupOrder),
}

/// `map:NAME`, `pid:PID`, `tid:TID`, `cgroup:PATH[:self|:pre|:post|:up]`, or nothing.
fn parse_iter_spec(spec: &str) -> Result<IterSpec<'_>, String> {
    const SYNTAX: &str = "map:NAME, pid:PID, tid:TID or cgroup:PATH[:self|:pre|:post|:up]";
    if spec.is_empty() {
        return Ok(IterSpec::None);
    }
    let number = |n: &str| {
        n.parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{spec:?}: {n:?} is not a process or thread id"))
    };
    match spec.split_once(':') {
        Some(("map", name)) if !name.is_empty() => Ok(IterSpec::Map(name)),
        Some(("pid", pid)) => Ok(IterSpec::Pid(number(pid)?)),
        Some(("tid", tid)) => Ok(IterSpec::Tid(number(tid)?)),
        Some(("cgroup", rest)) if !rest.is_empty() => {
            let (path, order) = match rest.rsplit_once(':') {
                Some((path, order)) if !path.is_empty() => (path, order.parse()?),
                _ => (rest, CgroupOrder::DescendantsPre),
            };
            Ok(IterSpec::Cgroup(path, order))
        }
        _ => Err(format!("{spec:?} is not {SYNTAX}")),
    }
}

/// The object's sockmaps and sockhashes by name, for the line that refuses another map.
fn sockmaps(object: &Object) -> String {
    let names: Vec<&str> = object
        .maps()
        .iter()
        .filter(|m| [attach::sockmap::SOCKMAP, attach::sockmap::SOCKHASH].contains(&m.map_type()))
        .map(|m| m.name())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Registers every struct_ops map of the object ([`attach::struct_ops::register`]): each
/// map's link (named by the map), or the line that says why not.
fn register_struct_ops(object: &Object) -> Vec<(String, Result<Link, String>)> {
    object
        .maps()
        .iter()
        .filter(|m| m.map_type() == MapType::STRUCT_OPS)
        .map(|m| {
            let registered = attach::struct_ops::register(object, m.name())
                .map_err(|error| crate::one_line(&error));
            (m.name().to_string(), registered)
        })
        .collect()
}

/// `--pin DIR`: `link` at `DIR/link_NAME` (NAME the program's, or the struct_ops map's), said
/// on stderr; a link that cannot be pinned (only a BPF link can) is said, one line, and
/// stays unpinned: the command goes on.
fn pin_link(link: &Link, name: &str, dir: &Path) {
    let path = dir.join(format!("link_{name}"));
    match link.pin(&path) {
        Ok(()) => eprintln!("ebpf-loader: {name}: link pinned at {}", path.display()),
        Err(error) => eprintln!(
            "ebpf-loader: {name}: link not pinned: {}",
            crate::one_line(&error)
        ),
    }
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

/// The program kinds whose target (an interface, a cgroup, a map, a namespace, a glob) is
/// given at run time, with `--target NAME=SPEC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TargetKind {
    Tc,
    Socket,
    Xdp,
    Cgroup,
    Sockmap,
    Netns,
    UprobeMulti,
    KprobeMulti,
    /// An iterator: its parameter, where it takes one.
    Iter,
    /// Refused: its target is a socket group the command line cannot name.
    Reuseport,
}

impl TargetKind {
    /// The kind of `program` (its section's first part `kind`), if its target is given at
    /// run time. A `uprobe.multi`/`kprobe.multi` section that names its glob needs none.
    fn of(program: &Program, kind: &str) -> Option<TargetKind> {
        let bare = matches!(program.attach_target(), AttachTarget::None);
        Some(match program.program_type() {
            ProgramType::SchedCls => TargetKind::Tc,
            ProgramType::SocketFilter => TargetKind::Socket,
            ProgramType::Xdp => TargetKind::Xdp,
            ProgramType::SkMsg | ProgramType::SkSkb => TargetKind::Sockmap,
            ProgramType::SkLookup | ProgramType::FlowDissector => TargetKind::Netns,
            ProgramType::SkReuseport => TargetKind::Reuseport,
            t if attach::cgroup::is_cgroup_program(t) => TargetKind::Cgroup,
            ProgramType::Kprobe if bare && kind.contains("uprobe.multi") => TargetKind::UprobeMulti,
            ProgramType::Kprobe if bare && kind.contains("kprobe.multi") => TargetKind::KprobeMulti,
            _ if is_iterator(program) => TargetKind::Iter,
            _ => return None,
        })
    }

    fn what(self) -> &'static str {
        match self {
            TargetKind::Tc => "a tc program",
            TargetKind::Socket => "a socket filter",
            TargetKind::Xdp => "an XDP program",
            TargetKind::Cgroup => "a cgroup program",
            TargetKind::Sockmap => "an sk_msg or sk_skb program",
            TargetKind::Netns => "an sk_lookup or flow_dissector program",
            TargetKind::UprobeMulti => "a uprobe.multi program",
            TargetKind::KprobeMulti => "a kprobe.multi program",
            TargetKind::Iter => "an iterator",
            TargetKind::Reuseport => "an sk_reuseport program",
        }
    }

    fn target(self) -> &'static str {
        match self {
            TargetKind::Tc => "a network interface's ingress or egress",
            TargetKind::Socket => "a socket (here: a raw packet socket on a network interface)",
            TargetKind::Xdp => "a network interface",
            TargetKind::Cgroup => "a cgroup v2 directory",
            TargetKind::Sockmap => "a sockmap or sockhash of its object",
            TargetKind::Netns => "a network namespace",
            TargetKind::UprobeMulti => "the functions of a binary that a glob matches",
            TargetKind::KprobeMulti => "the kernel functions that a glob matches",
            TargetKind::Iter => "the objects its parameter names (a map, a process, a cgroup)",
            TargetKind::Reuseport => "a SO_REUSEPORT socket group",
        }
    }

    /// The `--target` syntax, and an example.
    fn spec(self) -> (&'static str, &'static str) {
        match self {
            TargetKind::Tc => ("IFNAME[:ingress|:egress]", "lo"),
            TargetKind::Socket => ("IFNAME", "lo"),
            TargetKind::Xdp => ("IFNAME[:generic|:driver|:offload]", "lo:generic"),
            TargetKind::Cgroup => ("CGROUP_DIR", "/sys/fs/cgroup/unified/mygroup"),
            TargetKind::Sockmap => ("MAPNAME", "sock_hash"),
            TargetKind::Netns => ("NETNS_PATH", "/proc/self/ns/net"),
            TargetKind::UprobeMulti => ("BINARY:GLOB", "/bin/bash:readline*"),
            TargetKind::KprobeMulti => ("GLOB", "tcp_v4_*"),
            TargetKind::Iter => (
                "map:NAME|pid:PID|tid:TID|cgroup:PATH[:self|:pre|:post|:up]",
                "map:elems",
            ),
            TargetKind::Reuseport => ("", ""),
        }
    }

    /// The target without `--target`: the namespace of the command's own for a netns
    /// program, no parameter for an iterator (one that needs it is refused by the
    /// library, which names it); none for the others.
    fn default_spec(self) -> Option<&'static str> {
        match self {
            TargetKind::Netns => Some("/proc/self/ns/net"),
            TargetKind::Iter => Some(""),
            _ => None,
        }
    }

    /// The line that says where `program` attaches and how to say it.
    fn syntax(self, program: &Program) -> String {
        if self == TargetKind::Reuseport {
            return format!(
                "{} attaches to {}, which the command line cannot name: not attached (a \
                 program that holds the sockets attaches it with attach::reuseport::attach)",
                self.what(),
                self.target()
            );
        }
        let (spec, example) = self.spec();
        format!(
            "{what} attaches to {where_}, given at run time: pass --target \
             {name}={spec} (e.g. --target {name}={example})",
            name = program.name(),
            what = self.what(),
            where_ = self.target(),
        )
    }
}

/// `IFNAME[:generic|:driver|:offload]`; without a mode, the kernel's choice.
fn parse_xdp_spec(spec: &str) -> Result<(&str, XdpMode), String> {
    let (interface, mode) = match spec.rsplit_once(':') {
        Some((interface, mode)) => (interface, mode.parse()?),
        None => (spec, XdpMode::Default),
    };
    if interface.is_empty() {
        return Err(format!(
            "{spec:?}: no interface (IFNAME[:generic|:driver|:offload])"
        ));
    }
    Ok((interface, mode))
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
/// error leaves nothing behind. The pins' paths.
fn pin_maps(object: &Object, dir: &Path) -> Result<Vec<PathBuf>> {
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
    Ok(pinned)
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

    #[test]
    fn iterator_targets_name_a_map_a_process_a_thread_or_a_cgroup() {
        assert_eq!(parse_iter_spec(""), Ok(IterSpec::None));
        assert_eq!(parse_iter_spec("map:elems"), Ok(IterSpec::Map("elems")));
        assert_eq!(parse_iter_spec("pid:42"), Ok(IterSpec::Pid(42)));
        assert_eq!(parse_iter_spec("tid:43"), Ok(IterSpec::Tid(43)));
        assert_eq!(
            parse_iter_spec("cgroup:/sys/fs/cgroup/unified/g"),
            Ok(IterSpec::Cgroup(
                "/sys/fs/cgroup/unified/g",
                CgroupOrder::DescendantsPre
            ))
        );
        assert_eq!(
            parse_iter_spec("cgroup:/sys/fs/cgroup/unified/g:up"),
            Ok(IterSpec::Cgroup(
                "/sys/fs/cgroup/unified/g",
                CgroupOrder::AncestorsUp
            ))
        );
        assert_eq!(
            parse_iter_spec("cgroup:/g:sideways"),
            Err("\"sideways\" is not a cgroup walk order (self, pre, post or up)".to_string())
        );
        assert_eq!(
            parse_iter_spec("pid:0"),
            Err("\"pid:0\": \"0\" is not a process or thread id".to_string())
        );
        assert_eq!(
            parse_iter_spec("elems"),
            Err("\"elems\" is not map:NAME, pid:PID, tid:TID or \
                 cgroup:PATH[:self|:pre|:post|:up]"
                .to_string())
        );
    }

    #[test]
    fn xdp_targets_name_an_interface_and_maybe_a_mode() {
        assert_eq!(parse_xdp_spec("lo"), Ok(("lo", XdpMode::Default)));
        assert_eq!(
            parse_xdp_spec("eth0:generic"),
            Ok(("eth0", XdpMode::Generic))
        );
        assert_eq!(parse_xdp_spec("eth0:driver"), Ok(("eth0", XdpMode::Driver)));
        assert_eq!(
            parse_xdp_spec("eth0:offload"),
            Ok(("eth0", XdpMode::Offload))
        );
        assert_eq!(
            parse_xdp_spec("eth0:warp"),
            Err("\"warp\" is not an XDP mode (default, generic, driver or offload)".to_string())
        );
        assert_eq!(
            parse_xdp_spec(":generic"),
            Err("\":generic\": no interface (IFNAME[:generic|:driver|:offload])".to_string())
        );
    }
}
