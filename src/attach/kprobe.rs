//! Kprobes: a `BPF_PROG_TYPE_KPROBE` program on the entry or the return of a kernel function,
//! through the kprobe PMU (4.17) or, where there is none, an entry written into tracefs
//! `kprobe_events`, opened as a tracepoint perf event (and removed with the link).
//!
//! ABI: the kprobe PMU: `/sys/bus/event_source/devices/kprobe/type` and
//! `.../format/retprobe`, `perf_event_attr.config1` = pointer to the function name,
//! `config2` = offset (`include/uapi/linux/perf_event.h`, `kernel/trace/trace_event_perf.c`);
//! `kprobe_events` (`Documentation/trace/kprobetrace.rst`); `ksyscall` names resolved as
//! libbpf does (`__x64_sys_NAME` where `/proc/kallsyms` has syscall wrappers).

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::link::TracefsKprobe;
use super::tracepoint::open_tracepoint_event;
use super::{tracefs, AttachError, AttachOptions, Link, Probe};
use crate::load::Program;
use crate::syscall::{self, PerfEventAttr};

/// The kprobe PMU's directory in sysfs.
pub const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// Entry or return probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KprobeKind {
    /// A kprobe: the program runs when the function is entered.
    Entry,
    /// A kretprobe: the program runs when the function returns.
    Return,
}

/// Attaches a kprobe program to the entry or return of kernel function `function`: through
/// the kprobe PMU where there is one, else tracefs `kprobe_events`.
pub fn attach(
    prog: &Program,
    function: &str,
    kind: KprobeKind,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    attach_at(prog, function, 0, kind, opts)
}

/// The kprobe PMU's `type` and retprobe bit, or `None` when the kernel has no kprobe PMU.
fn kprobe_pmu() -> Result<Option<(u32, u32)>, AttachError> {
    probe_pmu(Path::new(KPROBE_PMU))
}

/// A probe PMU's (`kprobe`, `uprobe`) `type` and retprobe bit, or `None` when the kernel
/// has no such PMU.
pub(super) fn probe_pmu(dir: &Path) -> Result<Option<(u32, u32)>, AttachError> {
    let type_path = dir.join("type");
    let text = match std::fs::read_to_string(&type_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AttachError::Io {
                path: type_path,
                error: e.to_string(),
            })
        }
    };
    let type_ = text
        .trim()
        .parse::<u32>()
        .map_err(|_| AttachError::BadFile {
            path: type_path,
            content: text.trim().to_string(),
        })?;
    let format_path = dir.join("format/retprobe");
    let format = std::fs::read_to_string(&format_path).map_err(|e| AttachError::Io {
        path: format_path.clone(),
        error: e.to_string(),
    })?;
    let bit = parse_config_bit(&format).ok_or_else(|| AttachError::BadFile {
        path: format_path,
        content: format.trim().to_string(),
    })?;
    Ok(Some((type_, bit)))
}

/// Parses a PMU format file naming one bit of `config` (`config:0`).
fn parse_config_bit(text: &str) -> Option<u32> {
    let bit = text.trim().strip_prefix("config:")?;
    bit.parse::<u32>().ok().filter(|&b| b < 64)
}

/// A counter that makes each tracefs kprobe name of this process unique.
static KPROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Attaches a `BPF_PROG_TYPE_KPROBE` program at `offset` bytes into `function` (0: its
/// entry), or at its return: through the kprobe PMU where there is one, else through tracefs
/// `kprobe_events` (`kprobe/FUNC+OFF` sections).
pub fn attach_at(
    prog: &Program,
    function: &str,
    offset: u64,
    kind: KprobeKind,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let mut target = match kind {
        KprobeKind::Entry => format!("kprobe {function}"),
        KprobeKind::Return => format!("kretprobe {function}"),
    };
    if offset != 0 {
        target.push_str(&format!("+{offset:#x}"));
    }
    let probe = KprobeAt {
        function,
        offset,
        kind,
    };
    let pmu = if opts.force_tracefs_kprobe {
        None
    } else {
        kprobe_pmu()?
    };
    match pmu {
        Some(pmu) => attach_pmu(prog, &probe, pmu, target, opts),
        None => attach_tracefs(prog, &probe, target, opts),
    }
}

/// Where a kprobe goes: the function, the offset into it, entry or return.
struct KprobeAt<'a> {
    function: &'a str,
    offset: u64,
    kind: KprobeKind,
}

impl KprobeAt<'_> {
    /// The error for a function the kernel cannot probe, with the kernel's or our reason.
    fn not_found(&self, detail: String) -> AttachError {
        AttachError::KprobeFunctionNotFound {
            function: self.function.to_string(),
            detail,
        }
    }
}

/// The kprobe PMU way (4.17): one `perf_event_open` of the PMU's type, the function's name
/// by pointer in `config1`, the offset in `config2`, the return bit from the PMU's format.
fn attach_pmu(
    prog: &Program,
    probe: &KprobeAt<'_>,
    (type_, retprobe_bit): (u32, u32),
    target: String,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let name =
        CString::new(probe.function).map_err(|_| probe.not_found("NUL in the name".into()))?;
    let attr = PerfEventAttr {
        type_,
        config: match probe.kind {
            KprobeKind::Entry => 0,
            KprobeKind::Return => 1 << retprobe_bit,
        },
        // `name` outlives the call below.
        config1: name.as_ptr() as usize as u64,
        config2: probe.offset,
        sample_period: 1,
        wakeup: 1,
        flags: syscall::ATTR_FLAG_DISABLED,
        ..Default::default()
    };
    let perf = syscall::perf_event_open(&attr, -1, 0).map_err(|error| {
        if matches!(
            error.errno,
            libc::ENOENT | libc::EINVAL | libc::EADDRNOTAVAIL
        ) {
            probe.not_found(error.to_string())
        } else {
            AttachError::Sys {
                target: target.clone(),
                error,
            }
        }
    })?;
    drop(name);
    Link::of_perf_event(prog.as_fd(), perf, Probe::KprobePmu, target, opts, 0)
}

/// The legacy way: a `p:`/`r:` line written to tracefs' `kprobe_events` makes a trace
/// event, opened as a tracepoint; the entry is removed when the link goes (and on every
/// error path after the write, by the guard).
fn attach_tracefs(
    prog: &Program,
    probe: &KprobeAt<'_>,
    target: String,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let KprobeAt {
        function,
        offset,
        kind,
    } = *probe;
    let tracefs = match tracefs::tracefs_dir() {
        Ok(dir) => dir,
        Err(AttachError::TracefsUnavailable { reason }) => {
            return Err(AttachError::TracefsUnavailable {
                reason: format!(
                    "there is no kprobe PMU, and kprobes through kprobe_events need tracefs: {reason}"
                ),
            })
        }
        Err(e) => return Err(e),
    };
    if !tracefs.join("kprobe_events").exists() {
        return Err(AttachError::KprobesUnsupported);
    }
    let event = tracefs::kprobe_event_name(
        function,
        std::process::id(),
        KPROBE_SEQ.fetch_add(1, Ordering::Relaxed),
    );
    let group = tracefs::KPROBE_GROUP;
    let letter = match kind {
        KprobeKind::Entry => 'p',
        KprobeKind::Return => 'r',
    };
    if function.is_empty() || function.contains(|c: char| c.is_whitespace() || c == '\0') {
        return Err(probe.not_found("not a function name".into()));
    }
    // From here on the guard removes the entry on every error path (and on the write's
    // own failure, in case the kernel created it half-way).
    let guard = TracefsKprobe {
        tracefs: tracefs.clone(),
        group: group.to_string(),
        event: event.clone(),
    };
    let at = if offset == 0 {
        function.to_string()
    } else {
        format!("{function}+{offset}")
    };
    if let Err(e) =
        tracefs::write_kprobe_events(&tracefs, &format!("{letter}:{group}/{event} {at}\n"))
    {
        return Err(probe.not_found(format!("writing kprobe_events: {e}")));
    }
    let id = tracefs::event_id(&tracefs, group, &event)?.ok_or_else(|| AttachError::Io {
        path: tracefs.join("events").join(group).join(&event).join("id"),
        error: "the kprobe was created but has no id".to_string(),
    })?;
    let perf = open_tracepoint_event(id, &target)?;
    let mut link = Link::of_perf_event(prog.as_fd(), perf, Probe::KprobeTracefs, target, opts, 0)?;
    link.kprobe = Some(guard);
    Ok(link)
}

/// Does this kernel have kprobes at all: a kprobe PMU, or `kprobe_events` in tracefs?
/// (Looks at tracefs only where it is already mounted.)
pub fn kprobes_available() -> bool {
    Path::new(KPROBE_PMU).exists()
        || [tracefs::TRACEFS, tracefs::DEBUGFS_TRACING]
            .iter()
            .any(|dir| Path::new(dir).join("kprobe_events").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retprobe_bit_is_parsed_from_the_format_file() {
        assert_eq!(parse_config_bit("config:0\n"), Some(0));
        assert_eq!(parse_config_bit("config:63"), Some(63));
        assert_eq!(parse_config_bit("config:64"), None);
        assert_eq!(parse_config_bit("config1:0"), None);
        assert_eq!(parse_config_bit("config:0-3"), None);
        assert_eq!(parse_config_bit(""), None);
    }
}
