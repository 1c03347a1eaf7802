//! Uprobes: a program run at a function of a user-space binary (an executable or a
//! shared library), through the uprobe PMU.
//!
//! ABI: the uprobe PMU (4.17): `/sys/bus/event_source/devices/uprobe/type` and
//! `.../format/retprobe`; `perf_event_attr.config1` = pointer to the binary's path,
//! `config2` = the probe's offset in the FILE (`kernel/trace/trace_event_perf.c`,
//! `perf_uprobe_init`). The kernel wants a file offset, not an address: a function's
//! symbol gives its virtual address (`st_value`), and the section holding it says where
//! that address lies in the file (`sh_offset + st_value - sh_addr`), which holds for
//! executables, position-independent executables and shared libraries alike (the ELF
//! gABI; libbpf's `elf_find_func_offset` does the same).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use super::kprobe::probe_pmu;
use super::{AttachError, AttachOptions, Link, Probe};
use crate::load::Program;
use crate::syscall::{self, PerfEventAttr};

/// The uprobe PMU's directory in sysfs.
pub const UPROBE_PMU: &str = "/sys/bus/event_source/devices/uprobe";

/// The file offset of function `symbol` in the ELF file `elf` (its `.symtab`, else its
/// `.dynsym`): what the uprobe PMU takes. `None` when no defined function has that name,
/// or the file is not an ELF file.
pub fn function_offset(elf: &[u8], symbol: &str) -> Option<u64> {
    let file = object::File::parse(elf).ok()?;
    let found = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.name() == Ok(symbol))?;
    let section = file.section_by_index(found.section_index()?).ok()?;
    let (file_start, size) = section.file_range()?;
    let within = found.address().checked_sub(section.address())?;
    (within < size).then(|| file_start + within)
}

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
            let start =
                function_offset(&bytes, symbol).ok_or_else(|| AttachError::SymbolNotFound {
                    path: binary.to_path_buf(),
                    symbol: symbol.to_string(),
                })?;
            start + offset
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_of_this_test_binary_is_found_at_its_file_offset() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        // `main` of the test harness: a defined function in every test executable.
        let offset = function_offset(&bytes, "main").expect("main in the symbol table");
        assert!(offset > 0 && (offset as usize) < bytes.len());
        assert_eq!(function_offset(&bytes, "no_such_function_here"), None);
        assert_eq!(function_offset(b"not an elf file", "main"), None);
    }
}
