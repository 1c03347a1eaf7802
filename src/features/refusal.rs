//! Why the kernel said no, where its errno alone would send a reader the wrong way.
//!
//! `BPF_PROG_LOAD` answers `EPERM` both to a process without the privilege
//! (`bpf_capable()`, `perfmon_capable()` in `kernel/bpf/syscall.c`) and, to root, when the
//! kernel will not make what the program needs: a BPF trampoline for fentry, fexit,
//! fmod_ret and lsm programs (`kernel/bpf/trampoline.c`, which rides on the function
//! tracer, `kernel/trace/ftrace.c`), or when a security policy (kernel lockdown, an LSM's
//! `security_bpf_prog_load`) refuses. The errno is the same; the cause is found here by
//! probing, never guessed: the process's effective capabilities (`CapEff` of
//! `/proc/self/status`, `include/uapi/linux/capability.h`), a two-instruction program of
//! the same type on the same target (refused too: the kernel, not the program), the
//! function tracer's list (`/sys/kernel/tracing/available_filter_functions`) and the
//! lockdown mode (`/sys/kernel/security/lockdown`).

use std::fmt;

use super::{probe_load, RETURN_ZERO};
use crate::syscall::{errno_name, SysError};
use crate::uapi::ProgramType;

/// `CAP_SYS_ADMIN`, `CAP_PERFMON` (5.8), `CAP_BPF` (5.8): bit numbers of a capability set.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The function tracer's list of traceable functions, which tracefs has only where the
/// kernel was built with `CONFIG_FUNCTION_TRACER`.
const AVAILABLE_FILTER_FUNCTIONS: &str = "/sys/kernel/tracing/available_filter_functions";

/// What the function tracer looks like from here (BPF trampolines are built on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracer {
    /// tracefs is mounted and has no `available_filter_functions`: no function tracer.
    Missing,
    /// It is there, but this process may not read it (the errno): a policy closes ftrace.
    Closed(i32),
    /// It is there and readable.
    Open,
    /// tracefs is not mounted at `/sys/kernel/tracing`: nothing to tell.
    Unknown,
}

impl Tracer {
    /// Looks at `/sys/kernel/tracing`.
    pub fn probe() -> Tracer {
        if !std::path::Path::new("/sys/kernel/tracing/trace").exists() {
            return Tracer::Unknown;
        }
        match std::fs::File::open(AVAILABLE_FILTER_FUNCTIONS) {
            Ok(_) => Tracer::Open,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tracer::Missing,
            Err(e) => Tracer::Closed(e.raw_os_error().unwrap_or(0)),
        }
    }
}

/// The kernel's refusal of a program, explained by probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `EPERM` to a process with the privilege, for a program that needs a BPF trampoline,
    /// and a two-instruction program on the same target is refused the same way: this
    /// kernel gives this process no trampoline.
    NoTrampoline {
        /// `fentry`, `fexit`, `fmod_ret`, `lsm`, `freplace`.
        kind: &'static str,
        /// The function tracer, which trampolines need.
        tracer: Tracer,
        /// The lockdown mode, when it is not `none`.
        lockdown: Option<String>,
    },
    /// `EPERM` to a process with the privilege, for a program that needs no trampoline,
    /// and a two-instruction program of the same type is refused the same way: a security
    /// policy refuses programs of this type to this process.
    Policy {
        /// The lockdown mode, when it is not `none`.
        lockdown: Option<String>,
        /// The active security modules (`/sys/kernel/security/lsm`).
        lsms: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not for lack of privilege (this process has CAP_BPF and CAP_PERFMON): "
        )?;
        match self {
            Refusal::NoTrampoline {
                kind,
                tracer,
                lockdown,
            } => {
                write!(
                    f,
                    "this kernel makes no BPF trampoline here, which {kind} programs need \
                     (a two-instruction {kind} program on the same function is refused too)"
                )?;
                match tracer {
                    Tracer::Missing => write!(
                        f,
                        "; it has no function tracer (no {AVAILABLE_FILTER_FUNCTIONS}: \
                         CONFIG_FUNCTION_TRACER is off)"
                    )?,
                    Tracer::Closed(errno) => write!(
                        f,
                        "; its function tracer is closed to this process ({AVAILABLE_FILTER_FUNCTIONS}: {})",
                        errno_name(*errno)
                    )?,
                    Tracer::Open | Tracer::Unknown => {}
                }
                if let Some(mode) = lockdown {
                    write!(f, "; kernel lockdown: {mode}")?;
                }
                write!(f, "")
            }
            Refusal::Policy { lockdown, lsms } => {
                write!(f, "a security policy refused it")?;
                if let Some(mode) = lockdown {
                    write!(f, " (kernel lockdown: {mode})")?;
                }
                if !lsms.is_empty() {
                    write!(f, "; active security modules: {lsms}")?;
                }
                Ok(())
            }
        }
    }
}

/// Does this process have `CAP_BPF` and `CAP_PERFMON` (or `CAP_SYS_ADMIN`, which stands
/// for both)? `None` when `/proc/self/status` cannot tell.
pub fn privileged() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    let caps = u64::from_str_radix(hex.trim(), 16).ok()?;
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    Some(has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)))
}

/// The lockdown mode, when it is not `none` (the bracketed word of
/// `/sys/kernel/security/lockdown`: `none [integrity] confidentiality`).
pub fn lockdown() -> Option<String> {
    let text = std::fs::read_to_string("/sys/kernel/security/lockdown").ok()?;
    let mode = text
        .split('[')
        .nth(1)?
        .split(']')
        .next()?
        .trim()
        .to_string();
    (mode != "none").then_some(mode)
}

/// The program kinds that run on a BPF trampoline, by type and expected attach type.
fn trampoline_kind(prog_type: ProgramType, expected_attach_type: u32) -> Option<&'static str> {
    match prog_type {
        ProgramType::Tracing => match expected_attach_type {
            24 => Some("fentry"),
            25 => Some("fexit"),
            26 => Some("fmod_ret"),
            _ => None,
        },
        ProgramType::Lsm => Some("lsm"),
        ProgramType::Ext => Some("freplace"),
        _ => None,
    }
}

/// What program `error` (a failed `BPF_PROG_LOAD` of a program of `prog_type`, expected
/// attach type `expected_attach_type`, on vmlinux's BTF id `attach_btf_id`) really means,
/// where the errno alone would mislead: `EPERM` to a privileged process. `None`: the
/// errno's own meaning is the right one (`EPERM` without privilege, any other errno), or
/// nothing probed says otherwise (a two-instruction program of the same type and target
/// loads). Programs on a module's function (`in_module`) are not probed.
pub fn explain_prog_load(
    error: &SysError,
    prog_type: ProgramType,
    expected_attach_type: u32,
    attach_btf_id: u32,
    in_module: bool,
) -> Option<Refusal> {
    if error.op != "BPF_PROG_LOAD"
        || error.errno != libc::EPERM
        || in_module
        || privileged() != Some(true)
    {
        return None;
    }
    // The same type and target with the smallest body: refused the same way, the cause
    // is the kernel's, not the program's.
    let minimal_refused = matches!(
        probe_load(
            "refusal_probe",
            prog_type.as_u32(),
            expected_attach_type,
            attach_btf_id,
            &RETURN_ZERO,
        ),
        Err(e) if e.errno == libc::EPERM
    );
    if !minimal_refused {
        // Nothing probed says otherwise: the errno's own meaning stands.
        return None;
    }
    let lockdown = lockdown();
    Some(match trampoline_kind(prog_type, expected_attach_type) {
        Some(kind) => Refusal::NoTrampoline {
            kind,
            tracer: Tracer::probe(),
            lockdown,
        },
        None => Refusal::Policy {
            lockdown,
            lsms: std::fs::read_to_string("/sys/kernel/security/lsm")
                .unwrap_or_default()
                .trim()
                .to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_no_trampoline_refusal_names_the_tracer_and_does_not_blame_privilege() {
        let refusal = Refusal::NoTrampoline {
            kind: "fentry",
            tracer: Tracer::Closed(libc::EPERM),
            lockdown: Some("integrity".into()),
        };
        assert_eq!(
            refusal.to_string(),
            "not for lack of privilege (this process has CAP_BPF and CAP_PERFMON): this kernel \
             makes no BPF trampoline here, which fentry programs need (a two-instruction \
             fentry program on the same function is refused too); its function tracer is \
             closed to this process (/sys/kernel/tracing/available_filter_functions: EPERM); \
             kernel lockdown: integrity"
        );
        let missing = Refusal::NoTrampoline {
            kind: "lsm",
            tracer: Tracer::Missing,
            lockdown: None,
        };
        assert!(missing
            .to_string()
            .contains("it has no function tracer (no /sys/kernel/tracing/available_filter_functions: CONFIG_FUNCTION_TRACER is off)"));
    }

    #[test]
    fn only_a_privileged_eperm_of_a_program_load_is_explained() {
        let other = SysError::new("BPF_PROG_LOAD", libc::EINVAL);
        assert_eq!(
            explain_prog_load(&other, ProgramType::Tracing, 24, 1, false),
            None
        );
        let map = SysError::new("BPF_MAP_CREATE", libc::EPERM);
        assert_eq!(
            explain_prog_load(&map, ProgramType::Tracing, 24, 1, false),
            None
        );
    }

    #[test]
    fn trampoline_kinds_are_the_types_that_need_one() {
        assert_eq!(trampoline_kind(ProgramType::Tracing, 24), Some("fentry"));
        assert_eq!(trampoline_kind(ProgramType::Tracing, 26), Some("fmod_ret"));
        // tp_btf (BPF_TRACE_RAW_TP, 23) and iterators (28) need no trampoline.
        assert_eq!(trampoline_kind(ProgramType::Tracing, 23), None);
        assert_eq!(trampoline_kind(ProgramType::Kprobe, 0), None);
    }
}
