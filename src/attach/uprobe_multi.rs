//! Multi-uprobes: one program at many functions of one user-space binary through one BPF
//! link, each place with its own BPF cookie (`bpf_get_attach_cookie`), as libbpf's
//! `bpf_program__attach_uprobe_multi` (`SEC("uprobe.multi/BINARY:PATTERN")`).
//!
//! ABI: `BPF_LINK_CREATE` with `BPF_TRACE_UPROBE_MULTI` (6.6) and its `uprobe_multi`
//! member (path, file offsets, reference counter offsets, cookies, pid, flags:
//! `BPF_F_UPROBE_MULTI_RETURN`), `include/uapi/linux/bpf.h`; the program must have been
//! loaded with that expected attach type (the `uprobe.multi` sections have it). The
//! offsets are file offsets, as for a single uprobe ([`super::uprobe`]), found by
//! [`Executable::function_offset`] and, for a glob, [`Executable::functions_matching`]
//! (libbpf's `elf_resolve_pattern_offsets`).
//!
//! Kernels before 6.6 have no multi-uprobes: [`available`] asks the kernel (libbpf's
//! `probe_uprobe_multi_link`) and every attach refuses with
//! [`AttachError::MultiProbeUnsupported`] where it answers no. There is no fallback to
//! one uprobe per function here: a program loaded for `BPF_TRACE_UPROBE_MULTI` cannot be
//! attached any other way.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::elf::target::{Executable, ExecutableError};
use crate::load::Program;
use crate::syscall::{self, UprobeMultiPlaces, BPF_F_UPROBE_MULTI_RETURN};
use crate::uapi::{AttachType, ProgramType};

/// How to attach: at the functions' entries or returns, in one process or in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UprobeMultiOptions {
    /// Fire on the returns (`uretprobe.multi`), not the entries.
    pub retprobe: bool,
    /// Only in this process (`None`: every process that runs the binary).
    pub pid: Option<u32>,
}

/// One place of a multi-uprobe: a file offset in the binary, the file offset of its
/// reference counter (a USDT semaphore; 0: none), and its BPF cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UprobeMultiPlace {
    /// The probed instruction's offset in the file.
    pub offset: u64,
    /// Its reference counter's offset in the file, or 0.
    pub ref_ctr_offset: u64,
    /// What `bpf_get_attach_cookie` returns when this place fires.
    pub cookie: u64,
}

/// Can `BPF_LINK_CREATE` make a multi-uprobe (6.6)? As libbpf's `probe_uprobe_multi_link`:
/// a program of that attach type linked at offset 0 of `/` (a directory) gets `EBADF`
/// where the kernel knows the attach type (it looked the path up), `EINVAL` where it does
/// not. Asked once per process.
pub fn available() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    syscall::probe_once(&ANSWER, || {
        crate::features::memlock::ensure();
        let Ok(prog) = crate::features::probe_load(
            "uprobe_multi",
            ProgramType::Kprobe.as_u32(),
            AttachType::TRACE_UPROBE_MULTI.0,
            0,
            &crate::features::RETURN_ZERO,
        ) else {
            return false;
        };
        match syscall::link_create_uprobe_multi_probe(prog.as_fd(), c"/", 0) {
            Ok(_) => true,
            Err(e) => e.errno == libc::EBADF,
        }
    })
}

/// Attaches `prog` to the functions of `binary` named in `functions`, each with its
/// cookie (`(name, cookie)`), through one link.
pub fn attach_symbols(
    prog: &Program,
    binary: &Path,
    functions: &[(&str, u64)],
    opts: &UprobeMultiOptions,
) -> Result<Link, AttachError> {
    let bytes = read_binary(binary)?;
    let exe = parse_binary(binary, &bytes)?;
    let places = functions
        .iter()
        .map(|&(symbol, cookie)| {
            let offset = exe.function_offset(symbol).map_err(|error| match error {
                ExecutableError::NoFunction { .. } => AttachError::SymbolNotFound {
                    path: binary.to_path_buf(),
                    symbol: symbol.to_string(),
                },
                other => binary_error(binary, other),
            })?;
            Ok(UprobeMultiPlace {
                offset,
                cookie,
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>, AttachError>>()?;
    let names: Vec<&str> = functions.iter().map(|(name, _)| *name).collect();
    attach_places(prog, binary, &places, &names.join(","), opts)
}

/// Attaches `prog` to every function of `binary` whose name matches the glob `pattern`
/// (`*`, `?`), as `SEC("uprobe.multi/BINARY:PATTERN")` does; every cookie 0. A pattern
/// that matches nothing is refused with [`AttachError::NoMatch`].
pub fn attach_glob(
    prog: &Program,
    binary: &Path,
    pattern: &str,
    opts: &UprobeMultiOptions,
) -> Result<Link, AttachError> {
    let bytes = read_binary(binary)?;
    let found = parse_binary(binary, &bytes)?
        .functions_matching(pattern)
        .map_err(|error| binary_error(binary, error))?;
    if found.is_empty() {
        return Err(AttachError::NoMatch {
            pattern: pattern.to_string(),
            searched: format!("the functions of {}", binary.display()),
        });
    }
    let places: Vec<UprobeMultiPlace> = found
        .iter()
        .map(|(_, offset)| UprobeMultiPlace {
            offset: *offset,
            ..Default::default()
        })
        .collect();
    attach_places(prog, binary, &places, pattern, opts)
}

/// Attaches `prog` at raw file offsets of `binary` (`what` names them in messages: the
/// functions or the pattern).
pub fn attach_places(
    prog: &Program,
    binary: &Path,
    places: &[UprobeMultiPlace],
    what: &str,
    opts: &UprobeMultiOptions,
) -> Result<Link, AttachError> {
    let kind = if opts.retprobe {
        "uretprobe.multi"
    } else {
        "uprobe.multi"
    };
    if !available() {
        return Err(AttachError::MultiProbeUnsupported {
            kind,
            needs: "BPF_TRACE_UPROBE_MULTI links (Linux 6.6)",
        });
    }
    let target = format!(
        "{kind} {}:{what} ({} places)",
        binary.display(),
        places.len()
    );
    let path = CString::new(binary.as_os_str().as_bytes())
        .map_err(|_| binary_error_text(binary, "a NUL byte in the path"))?;
    let offsets: Vec<u64> = places.iter().map(|p| p.offset).collect();
    let ref_ctr_offsets: Vec<u64> = if places.iter().any(|p| p.ref_ctr_offset != 0) {
        places.iter().map(|p| p.ref_ctr_offset).collect()
    } else {
        Vec::new()
    };
    let cookies: Vec<u64> = places.iter().map(|p| p.cookie).collect();
    let flags = if opts.retprobe {
        BPF_F_UPROBE_MULTI_RETURN
    } else {
        0
    };
    let fd = syscall::link_create_uprobe_multi(
        prog.as_fd(),
        &UprobeMultiPlaces {
            path: &path,
            offsets: &offsets,
            ref_ctr_offsets: &ref_ctr_offsets,
            cookies: &cookies,
        },
        opts.pid.unwrap_or(0),
        flags,
    )
    .map_err(|error| AttachError::Sys {
        target: target.clone(),
        error,
    })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::UprobeMulti,
            via: Via::BpfLink,
        },
        target,
        fd,
    ))
}

fn read_binary(binary: &Path) -> Result<Vec<u8>, AttachError> {
    std::fs::read(binary).map_err(|e| binary_error_text(binary, &e.to_string()))
}

fn parse_binary<'a>(binary: &Path, bytes: &'a [u8]) -> Result<Executable<'a>, AttachError> {
    Executable::parse(bytes).map_err(|error| binary_error(binary, error))
}

fn binary_error(binary: &Path, error: ExecutableError) -> AttachError {
    binary_error_text(binary, &error.to_string())
}

fn binary_error_text(binary: &Path, reason: &str) -> AttachError {
    AttachError::Binary {
        path: binary.to_path_buf(),
        reason: reason.to_string(),
    }
}
