//! ebpf-loader: the loader's workbench for any eBPF object, on the public API of the
//! library (`ebpf_loader`) only, as `tcpconnect` is. tcpconnect traces connections and
//! nothing else; the general commands live here, so that the tracer links only what
//! tracing needs (BENCHMARKS.md, "Two binaries").
//!
//! | module | job |
//! |---|---|
//! | [`cli`] | the command line |
//! | [`load`] | `load OBJECT`: the verifier's verdict per program, and `--log` |
//! | [`run`] | `load --attach`: attach every program, read every record |
//! | [`records`] | which BTF type a map's records are, and their printing |
//! | [`dump`] | `map dump`, and `load --attach --dump-maps`: keys and values through BTF |
//! | [`gen`] | `btf dump` (a C header) and `gen rust` (Rust types), from BTF |
//! | `tour` | `-v`: tcpconnect's tour of the loading steps (`src/tool/tour.rs`, shared) |
//! | `features` | `features`: the probe report (`src/tool/features.rs`, shared) |

mod cli;
mod dump;
mod gen;
mod load;
mod records;
mod run;

// Shared with tcpconnect, file for file: the tour of the loading steps and the feature
// report. tcpconnect's tracing uses the parts of them this binary does not.
#[allow(dead_code)]
#[path = "../../tool/features.rs"]
mod features;
#[allow(dead_code)]
#[path = "../../tool/tour.rs"]
mod tour;

/// What `features.rs` needs of tcpconnect's printing module: the library's JSON string.
mod print {
    pub use ebpf_loader::btf::value::push_json_string;
}

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ebpf_loader::btf::kernel::KernelBtfError;
use ebpf_loader::btf::{self, Btf};
use ebpf_loader::elf::ObjectSpec;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use cli::Command;

fn main() -> ExitCode {
    let command = cli::parse();
    match run(&command) {
        Ok(true) => ExitCode::SUCCESS,
        // What failed was said on stderr already, one line per program.
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand; `Ok(false)` when a program was refused or not attached.
fn run(command: &Command) -> Result<bool> {
    match command {
        Command::Inspect {
            object,
            core,
            btf,
            bytes,
        } => inspect(object, *core, btf.as_deref(), *bytes).map(|()| true),
        Command::Load(request) if request.attach => run::run(request),
        Command::Load(request) => load::run(request),
        Command::MapDump { pin, json } => dump::pinned(pin, *json).map(|()| true),
        Command::BtfDump { file, types } => gen::btf_dump(file.as_deref(), types).map(|()| true),
        Command::GenRust { object } => gen::gen_rust(object).map(|()| true),
        Command::Features { json } => features::run(*json).map(|()| true),
    }
}

/// One line on stderr: the chain of causes, outermost first.
fn report(error: &anyhow::Error) {
    let mut line = format!("ebpf-loader: {error}");
    for cause in error.chain().skip(1) {
        line.push_str(&format!(": {cause}"));
    }
    eprintln!("{line}");
}

/// `inspect OBJECT [--bytes] [--core [--btf PATH]]`: the library's tour of the object on stdout.
fn inspect(path: &Path, core: bool, btf: Option<&Path>, show_bytes: bool) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = ObjectSpec::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let options = ebpf_loader::inspect::Options { bytes: show_bytes };
    let mut text = ebpf_loader::inspect::render_with(&spec, &path.display().to_string(), &options);
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
    write_stdout(&text)
}

/// Writes `text` on stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("writing to stdout")
        }
        _ => Ok(()),
    }
}

/// The kernel's BTF: the file at `path` (raw BTF or an ELF with `.BTF`), or the running
/// kernel's.
fn kernel_btf(path: Option<&Path>) -> Result<Btf> {
    match path {
        Some(path) => Ok(btf::kernel::load_file(path)?.0),
        None => btf::kernel::load().map_err(|error| match error {
            KernelBtfError::NotAvailable { .. } => anyhow::anyhow!(
                "{error}; give a BTF file with --btf PATH (for older kernels: BTFHub's archive, \
                 github.com/aquasecurity/btfhub-archive, or `pahole --btf_encode_detached` on \
                 the kernel's vmlinux with debug info)"
            ),
            other => other.into(),
        }),
    }
}

/// SIGINT and SIGTERM as a file descriptor to poll, blocked before anything is created so
/// that a signal never interrupts half a setup (the links and maps are then dropped).
fn signals() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT and SIGTERM")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).context("signalfd")
}

/// One error and its causes on one line (for a program's refusal, printed among others).
fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}
