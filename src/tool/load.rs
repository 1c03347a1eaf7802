//! `tcpconnect load OBJECT`: anyone's object through this loader, program by program, as
//! libbpf's `veristat` does: each program is loaded on its own (with every map of the
//! object), and the table says its type, where it attaches, the verifier's verdict and
//! statistics, or why it was refused and at which source line. Everything is unloaded
//! before the next program; nothing stays in the kernel.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, LoadOptions, Object};

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
    let target_btf = super::kernel_btf(request.btf.map(PathBuf::as_path))?;

    let mut outcomes = Vec::new();
    for program in &spec.programs {
        if !request.programs.is_empty() && !request.programs.contains(&program.name) {
            continue;
        }
        let options = LoadOptions {
            programs: vec![program.name.clone()],
            target_btf: Some(&target_btf),
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
