//! `ebpf-loader load OBJECT`: anyone's object through this loader, program by program, as
//! libbpf's `veristat` does: each program is loaded on its own (with every map of the
//! object), and the table says its type, where it attaches, the verifier's verdict and
//! statistics, or why it was refused and at which source line. Everything is unloaded
//! before the next program; nothing stays in the kernel. With `--log`, the verifier's
//! whole log of each refused program follows the table (the refusal's line alone says
//! where the verifier stopped, the log says how it got there).

use anyhow::{Context, Result};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, LoadOptions, Object, TargetBtf, VerifierLog};

use crate::cli::Load;
use crate::tour::Tour;

/// One program's outcome.
struct Outcome {
    name: String,
    program_type: String,
    attach: String,
    verdict: Result<Stats, String>,
    /// The verifier's log of a refusal, kept for `--log`.
    log: Option<VerifierLog>,
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
pub fn run(request: &Load) -> Result<bool> {
    let bytes = std::fs::read(&request.object)
        .with_context(|| format!("reading {}", request.object.display()))?;
    let spec =
        ObjectSpec::parse(&bytes).with_context(|| format!("{}", request.object.display()))?;
    let mut tour = Tour::new(request.verbose);
    tour.object(&spec, bytes.len());
    for name in &request.programs {
        if spec.program(name).is_none() {
            anyhow::bail!("no program named {name} in {}", request.object.display());
        }
    }
    // Read once for all the programs, and only when something needs it (a --btf file, CO-RE,
    // externs, BTF-typed programs), as libbpf reads vmlinux's BTF only then: for a large
    // object without CO-RE, parsing the kernel's BTF was a measurable part of its load.
    let target_btf = if request.btf.is_some() || needs_kernel_btf(&spec) {
        Some(crate::kernel_btf(request.btf.as_deref())?)
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
        let mut log = None;
        let verdict = match Object::load(&spec, &options) {
            Ok(object) => {
                let loaded = object
                    .program(&program.name)
                    .context("the program was not loaded")?;
                if request.verbose {
                    tour.load(&spec, &object, &[loaded]);
                }
                for warning in object.kconfig_warnings() {
                    eprintln!("ebpf-loader: {}: warning: {warning}", program.name);
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
            Err(error) => {
                log = error.verifier_log().cloned();
                Err(refusal(&error))
            }
        };
        outcomes.push(Outcome {
            name: program.name.clone(),
            program_type: program.prog_type.to_string(),
            attach: program.attach_description(),
            verdict,
            log,
        });
    }
    print_table(&outcomes);
    if request.log {
        print_logs(&outcomes);
    }
    Ok(outcomes.iter().all(|o| o.verdict.is_ok()))
}

/// One line: why the program was refused, with the source line where the verifier
/// stopped.
fn refusal(error: &LoadError) -> String {
    let mut text = crate::one_line(error);
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
                eprintln!("ebpf-loader: {}: {reason}", outcome.name);
            }
        }
    }
    let loaded = outcomes.iter().filter(|o| o.verdict.is_ok()).count();
    println!("{loaded} of {} programs loaded", outcomes.len());
}

/// `--log`: the verifier's whole log of each refused program, after the table. A refusal
/// that is not the verifier's (a relocation, a map) has no log, and says so.
fn print_logs(outcomes: &[Outcome]) {
    for outcome in outcomes.iter().filter(|o| o.verdict.is_err()) {
        match &outcome.log {
            Some(log) => {
                let lines = log.text.lines().count();
                println!();
                println!(
                    "== the verifier's log of {} ({lines} lines{}) ==",
                    outcome.name,
                    if log.truncated {
                        "; truncated: it did not fit the largest buffer"
                    } else {
                        ""
                    }
                );
                print!("{}", log.text);
                if !log.text.ends_with('\n') {
                    println!();
                }
            }
            None => {
                println!();
                println!(
                    "== {}: refused before the verifier ran: no log ==",
                    outcome.name
                );
            }
        }
    }
}
