//! ebpf-loader's command line: no kernel ABI here, only argv. Built with clap's builder
//! API, as tcpconnect's (`src/tool/cli.rs` says why: no proc-macro in the build). Each
//! subcommand's `--help` ends with examples.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches};

/// The examples at the end of the top-level `--help`.
const EXAMPLES: &str = "\
Examples:
  ebpf-loader inspect prog.bpf.o             walk through an object: sections, maps, programs
  ebpf-loader load prog.bpf.o                each program through the verifier: a table
  ebpf-loader load prog.bpf.o --log          and the verifier's whole log of each refusal
  ebpf-loader load prog.bpf.o --attach       attach, print each record decoded through BTF
  ebpf-loader map dump /sys/fs/bpf/counts    a pinned map's keys and values through its BTF
  ebpf-loader features                       what this kernel offers, probed
  ebpf-loader btf dump > vmlinux.h           this kernel's types as a C header
  ebpf-loader gen rust prog.bpf.o > prog.rs  Rust types and accessors for an object

Exit status: 0 on success; 1 when a program was refused or could not be attached, or the
command could not run (the reason is on stderr, one line); 2 for a bad command line.";

const INSPECT_EXAMPLES: &str = "\
Examples:
  ebpf-loader inspect execsnoop.bpf.o
  ebpf-loader inspect execsnoop.bpf.o --core                 CO-RE against this kernel
  ebpf-loader inspect execsnoop.bpf.o --core --btf 5.10.btf  against another kernel's BTF";

const LOAD_EXAMPLES: &str = "\
Examples:
  ebpf-loader load bootstrap.bpf.o                      the verifier's verdict per program
  ebpf-loader load execsnoop.bpf.o --program tracepoint__syscalls__sys_enter_execve
  ebpf-loader load refused.bpf.o --log                  the whole log of each refused program
  ebpf-loader load bootstrap.bpf.o --attach --duration 5
                                                        attach; each ring-buffer record as
                                                        the struct BTF names (found by size)
  ebpf-loader load execsnoop.bpf.o --attach --record events=event --json
                                                        the record type named; JSON lines
  ebpf-loader load bootstrap.bpf.o --attach --record rb=event --record-btf event.o
                                                        the type from another file's BTF
  ebpf-loader load minimal.bpf.o --attach --pin /sys/fs/bpf/minimal --dump-maps
                                                        pin the maps; dump them at the end
  ebpf-loader load tc.bpf.o --attach --target tc_ingress=eth0:ingress
  ebpf-loader load xdp.bpf.o --attach --target xdp_prog=eth0:generic --pin /sys/fs/bpf/x
                                                        pin the maps and the link
  ebpf-loader load iter.bpf.o --attach --program list_tasks --target list_tasks=pid:1234
                                                        print what the iterator writes about
                                                        the threads of process 1234

Targets (--target NAME=SPEC, for a program whose section names none):
  kprobe                FUNCTION                           --target p=tcp_v4_connect
  uprobe, uretprobe     BINARY:FUNCTION                    --target p=/bin/bash:readline
  uprobe.multi          BINARY:GLOB                        --target p=/bin/bash:read*
  kprobe.multi          GLOB                               --target p=tcp_v4_*
  tc                    IFNAME[:ingress|:egress]           --target p=eth0:egress
  socket filter         IFNAME (a raw packet socket on it) --target p=lo
  XDP                   IFNAME[:generic|:driver|:offload]  --target p=eth0:driver
  cgroup programs       CGROUP_DIR (a cgroup v2 directory) --target p=/sys/fs/cgroup/unified/g
  sk_msg, sk_skb        MAPNAME (a sockmap or sockhash of the object)
                                                           --target p=sock_hash
  sk_lookup, flow_dissector
                        NETNS_PATH (default: /proc/self/ns/net, the command's own)
                                                           --target p=/var/run/netns/blue
  iter (iterators)      nothing: every object; or map:NAME (a map of the object, for
                        iter/bpf_map_elem), pid:PID or tid:TID (iter/task, 6.1),
                        cgroup:PATH[:self|:pre|:post|:up] (iter/cgroup, 6.1; default pre)
                                                           --target p=map:elems
                        each iterator is read once and what it wrote printed (at once when
                        nothing else runs)
  sk_reuseport          not attached: its target is a SO_REUSEPORT socket group, which a
                        command line cannot name
  struct_ops            no target: each struct_ops map of the object is registered

Nothing stays in the kernel when the command ends, except what --pin pinned: the maps at
DIR/NAME and the links at DIR/link_PROGRAM (a struct_ops map's at DIR/link_MAP), which
keep their programs attached (remove them with rm). Only a BPF link can be pinned: each
one that cannot is said on stderr.";

const MAP_DUMP_EXAMPLES: &str = "\
Examples:
  ebpf-loader map dump /sys/fs/bpf/counts          one line per element: key and value
  ebpf-loader map dump /sys/fs/bpf/counts --json   a JSON array, as bpftool -j map dump's
                                                   \"formatted\" field";

const BTF_DUMP_EXAMPLES: &str = "\
Examples:
  ebpf-loader btf dump > vmlinux.h                     this kernel's types, as bpftool's
                                                       `btf dump file ... format c` writes them
  ebpf-loader btf dump --type task_struct --type sock  those types and what they need
  ebpf-loader btf dump prog.bpf.o                      an object's own types (its .BTF)
  ebpf-loader btf dump 5.10.btf                        raw BTF of another kernel";

const GEN_RUST_EXAMPLES: &str = "\
Examples:
  ebpf-loader gen rust prog.bpf.o > src/prog_bpf.rs
      #[repr(C)] types for the object's map keys and values, globals and named structs
      (padding explicit, unsafe impl Pod, size and offset assertions at compile time), and
      a typed accessor for each map (Maps::NAME(&object)) and global (Globals::...)";

const FEATURES_EXAMPLES: &str = "\
Examples:
  ebpf-loader features           the probe report, one line per feature
  ebpf-loader features --json    one JSON object";

/// The command line, parsed.
#[derive(Debug)]
pub enum Command {
    /// `inspect OBJECT [--core [--btf PATH]]`.
    Inspect {
        /// The object file.
        object: PathBuf,
        /// `--core`.
        core: bool,
        /// `--btf PATH` (with `--core`).
        btf: Option<PathBuf>,
        /// `--bytes`.
        bytes: bool,
    },
    /// `load OBJECT ...`.
    Load(Load),
    /// `map dump PINNED [--json]`.
    MapDump {
        /// The pin in a bpf filesystem.
        pin: PathBuf,
        /// `--json`.
        json: bool,
    },
    /// `btf dump [FILE] [--type NAME]...`.
    BtfDump {
        /// The BTF: raw, an object's `.BTF`, or (default) the running kernel's.
        file: Option<PathBuf>,
        /// `--type NAME`: only those types and what they need.
        types: Vec<String>,
    },
    /// `gen rust OBJECT`.
    GenRust {
        /// The object file.
        object: PathBuf,
    },
    /// `features [--json]`.
    Features {
        /// `--json`.
        json: bool,
    },
}

/// `load`'s options.
#[derive(Debug, Default)]
pub struct Load {
    /// The object file.
    pub object: PathBuf,
    /// `--program NAME`, in the order given; empty: every program.
    pub programs: Vec<String>,
    /// `--btf PATH`.
    pub btf: Option<PathBuf>,
    /// `-v`.
    pub verbose: bool,
    /// `--log`.
    pub log: bool,
    /// `--attach`.
    pub attach: bool,
    /// `--duration SECS` (with `--attach`).
    pub duration: Option<u64>,
    /// `--target NAME=SPEC` (with `--attach`).
    pub targets: Vec<String>,
    /// `--pin DIR` (with `--attach`).
    pub pin: Option<PathBuf>,
    /// `--record MAP=TYPE` (with `--attach`).
    pub records: Vec<String>,
    /// `--record-btf FILE` (with `--attach`).
    pub record_btf: Option<PathBuf>,
    /// `--json` (with `--attach`).
    pub json: bool,
    /// `--dump-maps` (with `--attach`).
    pub dump_maps: bool,
}

/// An option that takes a value: `--long VALUE`.
fn value(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name(value_name)
        .action(ArgAction::Set)
        .help(help)
}

/// A flag `--long`.
fn flag(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id).long(id).action(ArgAction::SetTrue).help(help)
}

/// The object file, a positional argument.
fn object_arg() -> Arg {
    Arg::new("object")
        .value_name("OBJECT")
        .required(true)
        .value_parser(value_parser!(PathBuf))
        .help("The object file (clang -target bpf)")
}

fn inspect() -> clap::Command {
    clap::Command::new("inspect")
        .about("Walk through an eBPF object: sections, maps, programs, relocations, BTF")
        .after_help(INSPECT_EXAMPLES)
        .arg(object_arg())
        .arg(flag(
            "core",
            "Also resolve each CO-RE record against the running kernel's BTF (or --btf)",
        ))
        .arg(flag(
            "bytes",
            "Show each map reference's 8 bytes before and after relocation",
        ))
        .arg(
            value(
                "btf",
                "PATH",
                "The target BTF for --core (raw BTF or an ELF with .BTF)",
            )
            .value_parser(value_parser!(PathBuf))
            .requires("core"),
        )
}

fn load() -> clap::Command {
    let with_attach = |arg: Arg| arg.requires("attach");
    clap::Command::new("load")
        .about(
            "Load every program of an eBPF object (or those named), one at a time, and tell \
             the verifier's verdict and statistics; nothing stays in the kernel. With \
             --attach: load them together, attach each, and print every record",
        )
        .after_help(LOAD_EXAMPLES)
        .arg(object_arg())
        .arg(
            value(
                "program",
                "NAME",
                "Only this program (by function name); may be given more than once",
            )
            .action(ArgAction::Append),
        )
        .arg(
            value(
                "btf",
                "PATH",
                "The kernel's BTF, for kernels without /sys/kernel/btf/vmlinux",
            )
            .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Tell each loading step (on stderr)"),
        )
        .arg(
            flag(
                "log",
                "For each refused program, print the verifier's whole log (on stdout, after \
                 the table)",
            )
            .conflicts_with("attach"),
        )
        .arg(flag(
            "attach",
            "Load the programs together, attach each where its section says (or --target), \
             and print every record of the object's ring buffers and perf event arrays \
             until Ctrl-C",
        ))
        .arg(with_attach(
            value("duration", "SECS", "With --attach: stop after SECS seconds")
                .value_parser(value_parser!(u64)),
        ))
        .arg(with_attach(
            value(
                "target",
                "NAME=SPEC",
                "With --attach: where program NAME attaches, when its section names no \
                 target; SPEC's syntax for each kind is listed under Targets below",
            )
            .action(ArgAction::Append),
        ))
        .arg(with_attach(
            value(
                "pin",
                "DIR",
                "With --attach: pin each map at DIR/NAME (dots made _; DIR in a bpf filesystem, created \
                 if missing) and each link at DIR/link_PROGRAM; the pins stay after the command \
                 ends",
            )
            .value_parser(value_parser!(PathBuf)),
        ))
        .arg(with_attach(
            value(
                "record",
                "MAP=TYPE",
                "With --attach: the records of MAP are struct TYPE of the object's BTF \
                 (default: the one struct of the record's size, if only one has it)",
            )
            .action(ArgAction::Append),
        ))
        .arg(with_attach(
            value(
                "record-btf",
                "FILE",
                "With --attach: look the record types up in this BTF (raw, or an ELF with \
                 .BTF such as `clang -g -c -target bpf types.c`) instead of the object's, \
                 for objects whose BTF leaves the record's struct out",
            )
            .value_parser(value_parser!(PathBuf)),
        ))
        .arg(with_attach(flag(
            "json",
            "With --attach: one JSON object per record (and per map element with --dump-maps)",
        )))
        .arg(with_attach(flag(
            "dump-maps",
            "With --attach: at the end, dump every hash and array map through its BTF",
        )))
}

fn map() -> clap::Command {
    let dump = clap::Command::new("dump")
        .about("Print a pinned map's keys and values through its BTF (bpftool map dump pinned)")
        .after_help(MAP_DUMP_EXAMPLES)
        .arg(
            Arg::new("pin")
                .value_name("PINNED_PATH")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The map's pin in a bpf filesystem"),
        )
        .arg(flag(
            "json",
            "A JSON array of {\"key\": ..., \"value\": ...}",
        ));
    clap::Command::new("map")
        .about("Maps in the kernel")
        .after_help(MAP_DUMP_EXAMPLES)
        .subcommand_required(true)
        .subcommand(dump)
}

fn btf() -> clap::Command {
    let dump = clap::Command::new("dump")
        .about("Write BTF as a C header (vmlinux.h), as bpftool btf dump ... format c")
        .after_help(BTF_DUMP_EXAMPLES)
        .arg(
            Arg::new("file")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Raw BTF, or an ELF object's .BTF (default: /sys/kernel/btf/vmlinux)"),
        )
        .arg(
            value(
                "type",
                "NAME",
                "Only this type and what it needs (repeatable)",
            )
            .action(ArgAction::Append),
        );
    clap::Command::new("btf")
        .about("BTF as C")
        .after_help(BTF_DUMP_EXAMPLES)
        .subcommand_required(true)
        .subcommand(dump)
}

fn gen() -> clap::Command {
    let rust = clap::Command::new("rust")
        .about("Write Rust types and typed accessors for an object's maps, globals and structs")
        .after_help(GEN_RUST_EXAMPLES)
        .arg(object_arg());
    clap::Command::new("gen")
        .about("Source generated from an object's BTF")
        .after_help(GEN_RUST_EXAMPLES)
        .subcommand_required(true)
        .subcommand(rust)
}

fn features() -> clap::Command {
    clap::Command::new("features")
        .about("What this kernel offers, probed: the whole report")
        .after_help(FEATURES_EXAMPLES)
        .arg(flag("json", "One JSON object"))
}

/// The command line's definition. The subcommands, in the order `--help` lists them.
pub fn command() -> clap::Command {
    clap::Command::new("ebpf-loader")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "The loader's workbench: inspect, load, attach and run any eBPF object; decode \
             its records and maps through BTF",
        )
        .after_help(EXAMPLES)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(inspect())
        .subcommand(load())
        .subcommand(map())
        .subcommand(btf())
        .subcommand(gen())
        .subcommand(features())
}

/// Parses `std::env::args_os()`; on `--help`, prints and exits 0; on a bad command line,
/// prints clap's message and exits 2.
pub fn parse() -> Command {
    from_matches(&command().get_matches())
}

fn from_matches(matches: &ArgMatches) -> Command {
    let strings = |m: &ArgMatches, id: &str| -> Vec<String> {
        m.get_many::<String>(id)
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    };
    match matches.subcommand() {
        Some(("inspect", m)) => Command::Inspect {
            object: m.get_one::<PathBuf>("object").cloned().unwrap_or_default(),
            core: m.get_flag("core"),
            btf: m.get_one::<PathBuf>("btf").cloned(),
            bytes: m.get_flag("bytes"),
        },
        Some(("load", m)) => Command::Load(Load {
            object: m.get_one::<PathBuf>("object").cloned().unwrap_or_default(),
            programs: strings(m, "program"),
            btf: m.get_one::<PathBuf>("btf").cloned(),
            verbose: m.get_flag("verbose"),
            log: m.get_flag("log"),
            attach: m.get_flag("attach"),
            duration: m.get_one::<u64>("duration").copied(),
            targets: strings(m, "target"),
            pin: m.get_one::<PathBuf>("pin").cloned(),
            records: strings(m, "record"),
            record_btf: m.get_one::<PathBuf>("record-btf").cloned(),
            json: m.get_flag("json"),
            dump_maps: m.get_flag("dump-maps"),
        }),
        Some(("map", m)) => {
            let dump = m.subcommand_matches("dump");
            Command::MapDump {
                pin: dump
                    .and_then(|d| d.get_one::<PathBuf>("pin").cloned())
                    .unwrap_or_default(),
                json: dump.is_some_and(|d| d.get_flag("json")),
            }
        }
        Some(("btf", m)) => {
            let dump = m.subcommand_matches("dump");
            Command::BtfDump {
                file: dump.and_then(|d| d.get_one::<PathBuf>("file").cloned()),
                types: dump.map(|d| strings(d, "type")).unwrap_or_default(),
            }
        }
        Some(("gen", m)) => Command::GenRust {
            object: m
                .subcommand_matches("rust")
                .and_then(|r| r.get_one::<PathBuf>("object").cloned())
                .unwrap_or_default(),
        },
        _ => Command::Features {
            json: matches
                .subcommand_matches("features")
                .is_some_and(|f| f.get_flag("json")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let argv = std::iter::once("ebpf-loader").chain(args.iter().copied());
        command()
            .try_get_matches_from(argv)
            .map(|m| from_matches(&m))
    }

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn load_attach_takes_its_options() {
        let Command::Load(load) = parse(&[
            "load",
            "o.bpf.o",
            "--attach",
            "--duration",
            "3",
            "--pin",
            "/sys/fs/bpf/x",
            "--record",
            "rb=event",
            "--record",
            "pb=data_t",
            "--json",
            "--dump-maps",
            "--target",
            "p=lo",
        ])
        .unwrap() else {
            panic!("not load");
        };
        assert_eq!(load.object, PathBuf::from("o.bpf.o"));
        assert!(load.attach && load.json && load.dump_maps && !load.log);
        assert_eq!(load.duration, Some(3));
        assert_eq!(load.pin, Some(PathBuf::from("/sys/fs/bpf/x")));
        assert_eq!(load.records, ["rb=event", "pb=data_t"]);
        assert_eq!(load.targets, ["p=lo"]);
    }

    #[test]
    fn the_attach_options_need_attach_and_log_excludes_it() {
        for option in [
            &["--duration", "1"][..],
            &["--pin", "/sys/fs/bpf/x"],
            &["--record", "rb=event"],
            &["--record-btf", "types.o"],
            &["--json"],
            &["--dump-maps"],
        ] {
            let mut args = vec!["load", "o.bpf.o"];
            args.extend_from_slice(option);
            let error = parse(&args).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::MissingRequiredArgument,
                "{option:?}"
            );
        }
        let error = parse(&["load", "o.bpf.o", "--log", "--attach"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn map_dump_takes_a_pin() {
        let Command::MapDump { pin, json } =
            parse(&["map", "dump", "/sys/fs/bpf/m", "--json"]).unwrap()
        else {
            panic!("not map dump");
        };
        assert_eq!(pin, PathBuf::from("/sys/fs/bpf/m"));
        assert!(json);
        assert!(parse(&["map"]).is_err());
    }
}
