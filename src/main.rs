//! tcpconnect: every outgoing TCP connection, IPv4 and IPv6, through the loader in this
//! crate (`ebpf_loader`), using its public API only. The pipeline is in
//! [`tool::trace`]; `--verbose` narrates it ([`tool::tour`]), and the book (docs/README.md,
//! a chapter per step) walks through the same steps with that output.

mod tool;

use std::process::ExitCode;

use tool::cli::{Cli, Command};

/// How many lines of a verifier log to show when a program is refused.
const VERIFIER_LOG_LINES: usize = 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        // What failed was said on stderr already, one line per program.
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand.
fn run(cli: &Cli) -> anyhow::Result<bool> {
    match &cli.command {
        Some(Command::Inspect {
            object,
            core,
            btf,
            bytes,
        }) => tool::inspect::run(object.as_deref(), *core, btf.as_deref(), *bytes).map(|()| true),
        Some(Command::Features { json }) => tool::features::run(*json).map(|()| true),
        Some(Command::LoadMoved) => {
            // A bad command line now: the general commands are the workbench's.
            eprintln!(
                "tcpconnect: `load` moved to the workbench binary: ebpf-loader load OBJECT \
                 (ebpf-loader load --help)"
            );
            std::process::exit(2);
        }
        None => tool::trace::run(cli).map(|()| true),
    }
}

/// The error on stderr: for a program the kernel refused, the end of the verifier's log
/// (with the source lines the kernel prints from line_info); then one line, the chain of
/// causes, outermost first.
fn report(error: &anyhow::Error) {
    let log = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ebpf_loader::load::LoadError>())
        .and_then(|error| error.verifier_log())
        .map(|log| log.last_lines(VERIFIER_LOG_LINES))
        .filter(|tail| !tail.is_empty());
    if let Some(log) = log {
        eprintln!("tcpconnect: the verifier's log ends with:");
        for line in log.lines() {
            eprintln!("    {line}");
        }
    }
    let mut line = format!("tcpconnect: {error}");
    for cause in error.chain().skip(1) {
        line.push_str(&format!(": {cause}"));
    }
    eprintln!("{line}");
}
