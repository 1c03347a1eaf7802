//! The command line: BCC's and libbpf-tools' tcpconnect options, the subcommands, and
//! the checks clap makes before anything runs (a bad command line exits 2).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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

Exit status: 0 after SIGINT, SIGTERM or --duration; 1 when the tool could not run (the
reason is on stderr, one line); 2 for a bad command line.";

#[derive(Parser, Debug)]
#[command(
    name = "tcpconnect",
    version,
    about = "Trace every outgoing TCP connection (IPv4 and IPv6) with eBPF",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where to attach: auto is the kprobe when the kernel has kprobes, else the tracepoint
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub attach: AttachMode,

    /// Stop after SECS seconds; 0 sets everything up and exits
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,

    /// Ring size per CPU, in pages (a power of two)
    #[arg(long, default_value_t = 8, value_parser = parse_pages)]
    pub pages: usize,

    /// Load this object instead of the embedded one (same event layout)
    #[arg(long, value_name = "PATH")]
    pub object: Option<PathBuf>,

    /// The kernel's BTF, for kernels without /sys/kernel/btf/vmlinux (raw BTF or ELF)
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,

    /// Include a timestamp column (seconds since start)
    #[arg(short = 't', long)]
    pub timestamp: bool,

    /// Include a UID column
    #[arg(short = 'U', long = "print-uid")]
    pub print_uid: bool,

    /// Include the local port column
    #[arg(short = 'L', long)]
    pub lport: bool,

    /// Count connects per source address, destination address and port (in the kernel);
    /// print the table at exit
    #[arg(short = 'c', long, conflicts_with_all = ["timestamp", "print_uid", "lport"])]
    pub count: bool,

    /// With --count: also print the totals so far every SECS seconds
    #[arg(long, value_name = "SECS", requires = "count",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,

    /// Only this process id (the thread group id: every thread of the process)
    #[arg(short = 'p', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,

    /// Only this user id
    #[arg(short = 'u', long, value_parser = clap::value_parser!(u32).range(0..u32::MAX as i64))]
    pub uid: Option<u32>,

    /// Only these destination ports (comma separated)
    #[arg(short = 'P', long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Vec<u16>,

    /// Only IPv4
    #[arg(short = '4', long, conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Only IPv6
    #[arg(short = '6', long)]
    pub ipv6: bool,

    /// One JSON object per line: per connection, per lost-events report, per count row
    #[arg(long)]
    pub json: bool,

    /// Tell what each step of the loading pipeline does (on stderr)
    #[arg(short = 'v', long)]
    pub verbose: bool,

    // ---- containers (issue 13): in-kernel filters and the CONTAINER column ----
    /// Only processes in this cgroup v2 directory or below (libbpf-tools' -c)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,

    /// Only cgroup ids in this pinned BPF hash map (BCC's --cgroupmap: key u64 cgroup id,
    /// value u64)
    #[arg(long, value_name = "PATH")]
    pub cgroupmap: Option<PathBuf>,

    /// Only mount namespaces in this pinned BPF hash map (BCC's --mntnsmap: key u64 mount
    /// namespace inode, value u32)
    #[arg(long, value_name = "PATH")]
    pub mntnsmap: Option<PathBuf>,

    /// Add a CONTAINER column: the container's 12-character short id, empty for none
    #[arg(long, conflicts_with = "count")]
    pub containers: bool,
}

impl Cli {
    /// The command line of this process; exits 2 with clap's message when it is wrong.
    pub fn parse() -> Cli {
        <Cli as Parser>::parse()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Load every program of an eBPF object (or those named), one at a time, and tell the
    /// verifier's verdict and statistics; nothing stays in the kernel
    Load {
        /// The object file
        object: PathBuf,

        /// Only this program (by function name); may be given more than once
        #[arg(long = "program", value_name = "NAME")]
        programs: Vec<String>,

        /// The kernel's BTF, for kernels without /sys/kernel/btf/vmlinux
        #[arg(long, value_name = "PATH")]
        btf: Option<PathBuf>,

        /// Tell each loading step (on stderr)
        #[arg(short = 'v', long)]
        verbose: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
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
