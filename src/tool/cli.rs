//! tcpconnect's command line: no kernel ABI here, only argv.
//!
//! Built with clap's builder API rather than its `derive` feature: the derive is a
//! proc-macro, and a proc-macro is a host dylib that cannot be built when
//! `.cargo/config.toml` links everything with `+crt-static` (BENCHMARKS.md, "Binary size").
//! The result is plain structs; clap checks the ranges, conflicts and requirements and,
//! for a bad command line, prints its message and exits with status 2.

use std::path::PathBuf;

use clap::builder::{EnumValueParser, PossibleValue};
use clap::{value_parser, Arg, ArgAction, ArgMatches, ValueEnum};

/// The examples and exit statuses shown at the end of `--help`.
const EXAMPLES: &str = "\
Examples:
  tcpconnect                      every connection, as it is made
  tcpconnect -t -U -L             with a timestamp, the user id and the local port
  tcpconnect -p 181               only process 181
  tcpconnect -P 80,443 -4         only IPv4 connections to port 80 or 443
  tcpconnect -u 1000 -6           only user 1000's IPv6 connections
  tcpconnect --json               one JSON object per connection
  tcpconnect --containers         with the container of each connection
  tcpconnect --cgroup /sys/fs/cgroup/unified/machine.slice
                                  only processes in that cgroup v2 directory or below
  tcpconnect --cgroupmap /sys/fs/bpf/test01
                                  only the cgroup ids in that pinned map (as BCC's)
  tcpconnect -c                   count connects per source, destination and port; print at Ctrl-C
  tcpconnect -c --interval 10     the same, and the totals so far every 10 seconds
  tcpconnect -v --duration 0      tell what each loading step does, then exit
  tcpconnect --duration 0         check that this kernel accepts the tool, and exit
  tcpconnect inspect              walk through the embedded eBPF object
  tcpconnect features             what this kernel offers, and the attach path taken here

Any other object (load, attach, decoded records, map dump): the ebpf-loader binary.

Exit status: 0 after SIGINT, SIGTERM or --duration; 1 when the tool could not run (the
reason is on stderr, one line); 2 for a bad command line.";

/// The command line, parsed.
#[derive(Debug)]
pub struct Cli {
    /// A subcommand; `None` traces.
    pub command: Option<Command>,
    /// `--attach`.
    pub attach: AttachMode,
    /// `--duration SECS`.
    pub duration: Option<u64>,
    /// `--pages N`: a power of two from 1 to 65536.
    pub pages: usize,
    /// `--object PATH`.
    pub object: Option<PathBuf>,
    /// `--btf PATH`.
    pub btf: Option<PathBuf>,
    /// `-t`.
    pub timestamp: bool,
    /// `-U`.
    pub print_uid: bool,
    /// `-L`.
    pub lport: bool,
    /// `-c`.
    pub count: bool,
    /// `--interval SECS` (with `-c`), at least 1.
    pub interval: Option<u64>,
    /// `-p PID`, at least 1.
    pub pid: Option<u32>,
    /// `-u UID`, below `u32::MAX` (which is `(uid_t)-1`).
    pub uid: Option<u32>,
    /// `-P PORT,...`, each at least 1.
    pub port: Vec<u16>,
    /// `-4`.
    pub ipv4: bool,
    /// `-6`.
    pub ipv6: bool,
    /// `--json`.
    pub json: bool,
    /// `-v`.
    pub verbose: bool,

    // ---- containers (issue 13): in-kernel filters and the CONTAINER column ----
    /// `--cgroup DIR`: a cgroup v2 directory.
    pub cgroup: Option<PathBuf>,
    /// `--cgroupmap PIN`: BCC's pinned map of cgroup ids.
    pub cgroupmap: Option<PathBuf>,
    /// `--mntnsmap PIN`: BCC's pinned map of mount namespaces.
    pub mntnsmap: Option<PathBuf>,
    /// `--containers` (not with `-c`).
    pub containers: bool,
}

/// The subcommands.
#[derive(Debug)]
pub enum Command {
    /// `inspect [OBJECT] [--core [--btf PATH]]`.
    Inspect {
        /// The object file (default: the embedded one).
        object: Option<PathBuf>,
        /// `--core`.
        core: bool,
        /// `--btf PATH` (with `--core`).
        btf: Option<PathBuf>,
        /// `--bytes`.
        bytes: bool,
    },
    /// `features [--json]`.
    Features {
        /// `--json`: one JSON object.
        json: bool,
    },
    /// `load ...`: moved to `ebpf-loader load`; says so and exits 2.
    LoadMoved,
}

/// `--attach`: where to attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// The kprobe when the kernel has kprobes, else the tracepoint.
    Auto,
    /// The kprobe on tcp_connect: through the kprobe PMU, else tracefs kprobe_events.
    Kprobe,
    /// The kprobe on tcp_connect through tracefs kprobe_events only.
    KprobeLegacy,
    /// The tracepoint sock/inet_sock_set_state.
    Tracepoint,
}

impl ValueEnum for AttachMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Self::Auto,
            Self::Kprobe,
            Self::KprobeLegacy,
            Self::Tracepoint,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let (name, help) = match self {
            Self::Auto => (
                "auto",
                "The kprobe when the kernel has kprobes, else the tracepoint",
            ),
            Self::Kprobe => (
                "kprobe",
                "The kprobe on tcp_connect: through the kprobe PMU, else tracefs kprobe_events",
            ),
            Self::KprobeLegacy => (
                "kprobe-legacy",
                "The kprobe on tcp_connect through tracefs kprobe_events only",
            ),
            Self::Tracepoint => ("tracepoint", "The tracepoint sock/inet_sock_set_state"),
        };
        Some(PossibleValue::new(name).help(help))
    }
}

/// `--pages`: a power of two from 1 to 65536.
fn parse_pages(text: &str) -> Result<usize, String> {
    let pages: usize = text.parse().map_err(|e| format!("{e}"))?;
    if pages == 0 || !pages.is_power_of_two() || pages > 1 << 16 {
        return Err(format!("{pages} is not a power of two between 1 and 65536"));
    }
    Ok(pages)
}

/// An option that takes a value: `--long VALUE`.
fn value(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name(value_name)
        .action(ArgAction::Set)
        .help(help)
}

/// A flag: `-s`/`--long`, or `--long` alone when `short` is `None`.
fn flag(id: &'static str, short: Option<char>, long: &'static str, help: &'static str) -> Arg {
    let arg = Arg::new(id)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help);
    match short {
        Some(short) => arg.short(short),
        None => arg,
    }
}

/// The command line's definition: options, help texts, examples, checks.
pub fn command() -> clap::Command {
    let inspect = clap::Command::new("inspect")
        .about("Walk through an eBPF object: sections, maps, programs, relocations, BTF")
        .arg(
            Arg::new("object")
                .value_name("OBJECT")
                .value_parser(value_parser!(PathBuf))
                .help("The object file (default: the embedded one)"),
        )
        .arg(flag(
            "core",
            None,
            "core",
            "Also resolve each CO-RE record against the running kernel's BTF (or --btf)",
        ))
        .arg(flag(
            "bytes",
            None,
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
        );

    // `load` moved to the workbench binary, ebpf-loader; the name stays, hidden, to say so.
    let load = clap::Command::new("load")
        .hide(true)
        .about("Moved: ebpf-loader load")
        .arg(
            Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .action(ArgAction::Append),
        );

    let features = clap::Command::new("features")
        .about(
            "What this kernel offers the tool (probed), and the attach path it takes here, and why",
        )
        .arg(flag("json", None, "json", "One JSON object"));

    clap::Command::new("tcpconnect")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Trace every outgoing TCP connection (IPv4 and IPv6) with eBPF")
        .after_help(EXAMPLES)
        .subcommand(inspect)
        .subcommand(load)
        .subcommand(features)
        .arg(
            value(
                "attach",
                "ATTACH",
                "Where to attach: auto is the kprobe when the kernel has kprobes, else the tracepoint",
            )
            .value_parser(EnumValueParser::<AttachMode>::new())
            .default_value("auto"),
        )
        .arg(
            value(
                "duration",
                "SECS",
                "Stop after SECS seconds; 0 sets everything up and exits",
            )
            .value_parser(value_parser!(u64)),
        )
        .arg(
            value(
                "pages",
                "PAGES",
                "Ring size per CPU, in pages (a power of two)",
            )
            .value_parser(parse_pages)
            .default_value("8"),
        )
        .arg(
            value(
                "object",
                "PATH",
                "Load this object instead of the embedded one (same event layout)",
            )
            .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            value(
                "btf",
                "PATH",
                "The kernel's BTF, for kernels without /sys/kernel/btf/vmlinux (raw BTF or ELF)",
            )
            .value_parser(value_parser!(PathBuf)),
        )
        .arg(flag(
            "timestamp",
            Some('t'),
            "timestamp",
            "Include a timestamp column (seconds since start)",
        ))
        .arg(flag(
            "print_uid",
            Some('U'),
            "print-uid",
            "Include a UID column",
        ))
        .arg(flag(
            "lport",
            Some('L'),
            "lport",
            "Include the local port column",
        ))
        .arg(
            flag(
                "count",
                Some('c'),
                "count",
                "Count connects per source address, destination address and port (in the \
                 kernel); print the table at exit",
            )
            .conflicts_with_all(["timestamp", "print_uid", "lport"]),
        )
        .arg(
            value(
                "interval",
                "SECS",
                "With --count: also print the totals so far every SECS seconds",
            )
            .requires("count")
            .value_parser(value_parser!(u64).range(1..)),
        )
        .arg(
            value(
                "pid",
                "PID",
                "Only this process id (the thread group id: every thread of the process)",
            )
            .short('p')
            .value_parser(value_parser!(u32).range(1..)),
        )
        .arg(
            value("uid", "UID", "Only this user id")
                .short('u')
                .value_parser(value_parser!(u32).range(0..u32::MAX as i64)),
        )
        .arg(
            value(
                "port",
                "PORT",
                "Only these destination ports (comma separated)",
            )
            .short('P')
            .action(ArgAction::Append)
            .value_delimiter(',')
            .value_parser(value_parser!(u16).range(1..)),
        )
        .arg(flag("ipv4", Some('4'), "ipv4", "Only IPv4").conflicts_with("ipv6"))
        .arg(flag("ipv6", Some('6'), "ipv6", "Only IPv6"))
        .arg(flag(
            "json",
            None,
            "json",
            "One JSON object per line: per connection, per lost-events report, per count row",
        ))
        .arg(flag(
            "verbose",
            Some('v'),
            "verbose",
            "Tell what each step of the loading pipeline does (on stderr)",
        ))
        .args(container_args())
}

/// The containers' options (issue 13): the in-kernel filters and the CONTAINER column.
fn container_args() -> [Arg; 4] {
    [
        value(
            "cgroup",
            "DIR",
            "Only processes in this cgroup v2 directory or below (libbpf-tools' -c)",
        )
        .value_parser(value_parser!(PathBuf)),
        value(
            "cgroupmap",
            "PIN",
            "Only cgroup ids in this pinned BPF hash map (BCC's --cgroupmap: key u64 cgroup \
             id, value 8 bytes)",
        )
        .value_parser(value_parser!(PathBuf)),
        value(
            "mntnsmap",
            "PIN",
            "Only mount namespaces in this pinned BPF hash map (BCC's --mntnsmap: key u64 \
             mount namespace inode, value 4 bytes)",
        )
        .value_parser(value_parser!(PathBuf)),
        flag(
            "containers",
            None,
            "containers",
            "Add a CONTAINER column: the container's 12-character short id, empty for none",
        )
        .conflicts_with("count"),
    ]
}

impl Cli {
    /// Parses `std::env::args_os()`. On `--help` or `--version`, prints and exits 0; on a
    /// bad command line, prints clap's message and exits 2.
    pub fn parse() -> Cli {
        Cli::from_matches(&command().get_matches())
    }

    /// The structs from matches of [`command`] (clap has checked every value already).
    fn from_matches(matches: &ArgMatches) -> Cli {
        let command = match matches.subcommand() {
            Some(("inspect", inspect)) => Some(Command::Inspect {
                object: inspect.get_one::<PathBuf>("object").cloned(),
                core: inspect.get_flag("core"),
                btf: inspect.get_one::<PathBuf>("btf").cloned(),
                bytes: inspect.get_flag("bytes"),
            }),
            Some(("features", features)) => Some(Command::Features {
                json: features.get_flag("json"),
            }),
            Some(("load", _)) => Some(Command::LoadMoved),
            _ => None,
        };
        Cli {
            command,
            attach: matches
                .get_one::<AttachMode>("attach")
                .copied()
                .unwrap_or(AttachMode::Auto),
            duration: matches.get_one::<u64>("duration").copied(),
            pages: matches.get_one::<usize>("pages").copied().unwrap_or(8),
            object: matches.get_one::<PathBuf>("object").cloned(),
            btf: matches.get_one::<PathBuf>("btf").cloned(),
            timestamp: matches.get_flag("timestamp"),
            print_uid: matches.get_flag("print_uid"),
            lport: matches.get_flag("lport"),
            count: matches.get_flag("count"),
            interval: matches.get_one::<u64>("interval").copied(),
            pid: matches.get_one::<u32>("pid").copied(),
            uid: matches.get_one::<u32>("uid").copied(),
            port: matches
                .get_many::<u16>("port")
                .map(|ports| ports.copied().collect())
                .unwrap_or_default(),
            ipv4: matches.get_flag("ipv4"),
            ipv6: matches.get_flag("ipv6"),
            json: matches.get_flag("json"),
            verbose: matches.get_flag("verbose"),
            cgroup: matches.get_one::<PathBuf>("cgroup").cloned(),
            cgroupmap: matches.get_one::<PathBuf>("cgroupmap").cloned(),
            mntnsmap: matches.get_one::<PathBuf>("mntnsmap").cloned(),
            containers: matches.get_flag("containers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let argv = std::iter::once("tcpconnect").chain(args.iter().copied());
        command()
            .try_get_matches_from(argv)
            .map(|m| Cli::from_matches(&m))
    }

    #[test]
    fn the_container_options() {
        let cli = parse(&[
            "--cgroup",
            "/sys/fs/cgroup/a",
            "--cgroupmap",
            "/sys/fs/bpf/cg",
            "--mntnsmap",
            "/sys/fs/bpf/mnt",
            "--containers",
        ])
        .unwrap();
        assert_eq!(cli.cgroup, Some(PathBuf::from("/sys/fs/cgroup/a")));
        assert_eq!(cli.cgroupmap, Some(PathBuf::from("/sys/fs/bpf/cg")));
        assert_eq!(cli.mntnsmap, Some(PathBuf::from("/sys/fs/bpf/mnt")));
        assert!(cli.containers);
        let defaults = parse(&[]).unwrap();
        assert_eq!(
            (defaults.cgroup, defaults.cgroupmap, defaults.mntnsmap),
            (None, None, None)
        );
        assert!(!defaults.containers);
        // Count rows have no container column.
        assert_eq!(
            parse(&["-c", "--containers"]).unwrap_err().kind(),
            clap::error::ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.attach, AttachMode::Auto);
        assert_eq!(cli.pages, 8);
        assert!(cli.command.is_none());
        assert!(cli.port.is_empty());
        assert!(!cli.count && !cli.json && !cli.verbose);
    }

    #[test]
    fn every_option_lands_in_its_field() {
        let cli = parse(&[
            "--attach",
            "kprobe-legacy",
            "--duration",
            "0",
            "--pages",
            "64",
            "--object",
            "o.bpf.o",
            "--btf",
            "vmlinux",
            "-p",
            "181",
            "-u",
            "0",
            "-P",
            "80,443",
            "-P",
            "8080",
            "-4",
            "--json",
            "-v",
            "-c",
            "--interval",
            "10",
        ])
        .unwrap();
        assert_eq!(cli.attach, AttachMode::KprobeLegacy);
        assert_eq!(cli.duration, Some(0));
        assert_eq!(cli.pages, 64);
        assert_eq!(cli.object, Some(PathBuf::from("o.bpf.o")));
        assert_eq!(cli.btf, Some(PathBuf::from("vmlinux")));
        assert_eq!((cli.pid, cli.uid), (Some(181), Some(0)));
        assert_eq!(cli.port, [80, 443, 8080]);
        assert!(cli.ipv4 && !cli.ipv6 && cli.json && cli.verbose && cli.count);
        assert_eq!(cli.interval, Some(10));

        let cli = parse(&["-t", "-U", "-L", "-6"]).unwrap();
        assert!(cli.timestamp && cli.print_uid && cli.lport && cli.ipv6);
    }

    #[test]
    fn inspect_takes_an_object_core_and_btf() {
        let cli = parse(&["inspect", "x.o", "--core", "--btf", "b", "--bytes"]).unwrap();
        let Some(Command::Inspect {
            object,
            core,
            btf,
            bytes,
        }) = cli.command
        else {
            panic!("no inspect: {cli:?}");
        };
        assert_eq!(object, Some(PathBuf::from("x.o")));
        assert!(core && bytes);
        assert_eq!(btf, Some(PathBuf::from("b")));
    }

    #[test]
    fn load_is_a_pointer_to_the_workbench() {
        for args in [
            &["load"][..],
            &["load", "x.o", "--attach", "--duration", "1"],
        ] {
            let cli = parse(args).unwrap();
            assert!(matches!(cli.command, Some(Command::LoadMoved)), "{args:?}");
        }
    }

    #[test]
    fn pages_must_be_a_power_of_two_up_to_65536() {
        for bad in ["0", "3", "131072", "x"] {
            let error = parse(&["--pages", bad]).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad}: {error}");
        }
        assert_eq!(parse(&["--pages", "65536"]).unwrap().pages, 65536);
    }
}
