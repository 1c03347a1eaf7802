//! Uprobes: a program run at a function of a user-space binary (an executable or a
//! shared library), through the uprobe PMU.
//!
//! ABI: the uprobe PMU (4.17): `/sys/bus/event_source/devices/uprobe/type` and
//! `.../format/retprobe`; `perf_event_attr.config1` = pointer to the binary's path,
//! `config2` = the probe's offset in the FILE (`kernel/trace/trace_event_perf.c`,
//! `perf_uprobe_init`). The kernel wants a file offset, not an address: a function's
//! symbol gives its virtual address (`st_value`), and the section holding it says where
//! that address lies in the file, read in the pure half
//! ([`Executable::function_offset`](crate::elf::target::Executable::function_offset)).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::kprobe::probe_pmu;
use super::{AttachError, AttachOptions, Link, Probe};
use crate::elf::target::{Executable, ExecutableError};
use crate::load::Program;
use crate::syscall::{self, PerfEventAttr};

/// The uprobe PMU's directory in sysfs.
pub const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe";

/// Attaches a kprobe-type program to `symbol` (or the raw file `offset` when `symbol` is
/// `None`) in `binary`, at its entry or its return, in process `pid` only or in every
/// process.
pub fn attach(
    prog: &Program,
    binary: &Path,
    symbol: Option<&str>,
    offset: u64,
    retprobe: bool,
    pid: Option<u32>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let bad = |reason: String| AttachError::Binary {
        path: binary.to_path_buf(),
        reason,
    };
    let offset = match symbol {
        Some(symbol) => {
            let bytes = std::fs::read(binary).map_err(|e| bad(e.to_string()))?;
            let start = Executable::parse(&bytes)
                .and_then(|exe| exe.function_offset(symbol))
                .map_err(|error| match error {
                    ExecutableError::NoFunction { .. } => AttachError::SymbolNotFound {
                        path: binary.to_path_buf(),
                        symbol: symbol.to_string(),
                    },
                    other => bad(other.to_string()),
                })?;
            start
                .checked_add(offset)
                .ok_or_else(|| bad(format!("{symbol}+{offset:#x} is past the end of any file")))?
        }
        None => offset,
    };
    let Some((_, retprobe_bit)) = probe_pmu(Path::new(UPROBE_PMU))? else {
        return Err(AttachError::UprobesUnsupported);
    };
    let what = if retprobe { "uretprobe" } else { "uprobe" };
    let target = match symbol {
        Some(symbol) => format!("{what} {}:{symbol}", binary.display()),
        None => format!("{what} {}:{offset:#x}", binary.display()),
    };
    let config = if retprobe { 1 << retprobe_bit } else { 0 };
    let perf = open_uprobe(binary, offset, config, pid, &target)?;
    Link::of_perf_event(prog.as_fd(), perf, Probe::UprobePmu, target, opts, 0)
}

/// A perf event of the uprobe PMU at file `offset` of `binary`, with `config` (the
/// retprobe bit; a USDT semaphore's reference counter offset in the upper half), in
/// process `pid` only or in every process (the event on CPU 0 is enough: the program
/// runs wherever the probe fires), as libbpf opens it.
pub(super) fn open_uprobe(
    binary: &Path,
    offset: u64,
    config: u64,
    pid: Option<u32>,
    target: &str,
) -> Result<std::os::fd::OwnedFd, AttachError> {
    let Some((type_, _)) = probe_pmu(Path::new(UPROBE_PMU))? else {
        return Err(AttachError::UprobesUnsupported);
    };
    let path = CString::new(binary.as_os_str().as_bytes()).map_err(|_| AttachError::Binary {
        path: binary.to_path_buf(),
        reason: "a NUL byte in the path".into(),
    })?;
    let attr = PerfEventAttr {
        type_,
        config,
        // `path` outlives the call below.
        config1: path.as_ptr() as usize as u64,
        config2: offset,
        sample_period: 1,
        wakeup: 1,
        flags: syscall::ATTR_FLAG_DISABLED,
        ..Default::default()
    };
    let (pid, cpu) = match pid {
        Some(pid) => (pid as i32, -1),
        None => (-1, 0),
    };
    syscall::perf_event_open(&attr, pid, cpu).map_err(|error| AttachError::Sys {
        target: target.to_string(),
        error,
    })
}

/// Where a binary named without a directory (`libc.so.6`, `bash`) is, as libbpf's
/// `resolve_full_path` looks: shared objects in the system's library directories,
/// executables in `PATH`. A name with a `/` is taken as it is.
pub fn find_binary(name: &str) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    // Debian's multiarch directories are the target architecture's (x86_64-linux-gnu).
    let multiarch = crate::arch::TARGET.multiarch;
    let library_dirs = [
        format!("/lib/{multiarch}"),
        format!("/usr/lib/{multiarch}"),
        "/lib64".to_string(),
        "/usr/lib64".to_string(),
        "/lib".to_string(),
        "/usr/lib".to_string(),
    ];
    let path_var = std::env::var("PATH").unwrap_or_default();
    let dirs: Vec<&str> = if name.contains(".so") {
        library_dirs.iter().map(String::as_str).collect()
    } else {
        path_var.split(':').filter(|d| !d.is_empty()).collect()
    };
    dirs.iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}
