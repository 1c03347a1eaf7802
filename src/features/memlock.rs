//! Where the kernel charges BPF memory, and the `RLIMIT_MEMLOCK` raise older kernels need.
//!
//! ABI: before 5.11 every map and program is charged to the creating user's locked memory,
//! bounded by `RLIMIT_MEMLOCK` (`bpf_map_charge_memlock`, `bpf_prog_charge_memlock` in
//! `kernel/bpf/syscall.c`); over the limit, `BPF_MAP_CREATE` and `BPF_PROG_LOAD` answer
//! `EPERM`. 5.11 moved the accounting to the memory cgroup ("bpf: switch to memcg-based
//! memory accounting", lore.kernel.org/bpf/20201201215900.3569844-1-guro@fb.com) and stopped
//! reading the limit. `setrlimit(2)` raises a hard limit only with `CAP_SYS_RESOURCE`.
//!
//! The probe is libbpf's (`probe_memcg_account` in `tools/lib/bpf/bpf.c`): a feature, not a
//! version. The helper `bpf_ktime_get_coarse_ns` (160) came in the same release as the memcg
//! accounting, so a socket filter calling it loads on a kernel that accounts by cgroup and is
//! refused on one that charges `RLIMIT_MEMLOCK`. As libbpf (`bump_rlimit_memlock`), where the
//! kernel charges the limit, the limit is raised to infinity, once per process, before
//! anything is created.

use std::fmt;
use std::sync::OnceLock;

use crate::insn::{Insn, CALL, EXIT};
use crate::syscall::{self, SysError};

/// `BPF_FUNC_ktime_get_coarse_ns` in `enum bpf_func_id` (5.11).
pub const BPF_FUNC_KTIME_GET_COARSE_NS: i32 = 160;

/// Where the kernel charges BPF memory, as the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounting {
    /// The memory cgroup (5.11 and later): `RLIMIT_MEMLOCK` does not matter.
    MemoryCgroup,
    /// `RLIMIT_MEMLOCK` (before 5.11): the probe program was refused with `EINVAL`, its
    /// helper unknown.
    Memlock,
    /// The probe program could not be loaded at all (the errno: `EPERM` without the
    /// privilege to load programs): the kernel's accounting is unknown.
    Unknown(i32),
}

/// Where does the kernel charge BPF memory? libbpf's probe: a socket filter calling
/// `bpf_ktime_get_coarse_ns`, which came in the same release as memcg accounting, loads on
/// a kernel that accounts by cgroup, and is refused (`EINVAL`, unknown helper) on one that
/// charges `RLIMIT_MEMLOCK`.
pub fn probe_memcg_accounting() -> Accounting {
    let insns = [
        Insn::new(CALL, 0, 0, 0, BPF_FUNC_KTIME_GET_COARSE_NS),
        Insn::new(EXIT, 0, 0, 0, 0),
    ];
    match super::probe_load(
        "memcg_probe",
        crate::uapi::ProgramType::SocketFilter.as_u32(),
        0,
        0,
        &insns,
    ) {
        Ok(_) => Accounting::MemoryCgroup,
        Err(e) if e.errno == libc::EINVAL => Accounting::Memlock,
        Err(e) => Accounting::Unknown(e.errno),
    }
}

/// A `RLIMIT_MEMLOCK` value: a byte count, or unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many bytes may be locked.
    Bytes(libc::rlim_t),
    /// `RLIM_INFINITY`: no limit.
    Infinity,
}

impl Limit {
    fn from_raw(value: libc::rlim_t) -> Limit {
        if value == libc::RLIM_INFINITY {
            Limit::Infinity
        } else {
            Limit::Bytes(value)
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Infinity => write!(f, "unlimited"),
            Limit::Bytes(n) if n % 1024 == 0 => write!(f, "{} KiB", n / 1024),
            Limit::Bytes(n) => write!(f, "{n} bytes"),
        }
    }
}

/// What [`ensure`] found and did. The same value for the whole process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memlock {
    /// Where the kernel charges BPF memory.
    pub accounting: Accounting,
    /// The soft limit before anything was done.
    pub before: Limit,
    /// What happened to the limit.
    pub action: MemlockAction,
}

/// What [`ensure`] did to `RLIMIT_MEMLOCK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemlockAction {
    /// Nothing to do: the kernel accounts by cgroup.
    NotNeeded,
    /// It was unlimited already.
    AlreadyUnlimited,
    /// Raised to unlimited.
    Raised,
    /// `setrlimit` refused (the errno; `EPERM`: no `CAP_SYS_RESOURCE`).
    RaiseFailed(i32),
}

impl fmt::Display for Memlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.accounting {
            Accounting::MemoryCgroup => {
                return write!(
                    f,
                    "the kernel charges BPF memory to the memory cgroup (5.11+): RLIMIT_MEMLOCK ({}) left as it is",
                    self.before
                )
            }
            Accounting::Memlock => write!(
                f,
                "the kernel charges BPF memory to RLIMIT_MEMLOCK (before 5.11): "
            )?,
            Accounting::Unknown(errno) => write!(
                f,
                "where the kernel charges BPF memory is unknown (the probe program: {}), so RLIMIT_MEMLOCK is treated as charged: ",
                syscall::errno_name(errno)
            )?,
        }
        match self.action {
            MemlockAction::NotNeeded => Ok(()),
            MemlockAction::AlreadyUnlimited => write!(f, "it is unlimited already"),
            MemlockAction::Raised => write!(f, "raised it from {} to unlimited", self.before),
            MemlockAction::RaiseFailed(errno) => write!(
                f,
                "it is {} and could not be raised ({})",
                self.before,
                SysError::new("setrlimit", errno)
            ),
        }
    }
}

impl Memlock {
    /// Does the kernel account BPF memory by memory cgroup (proven by the probe)?
    pub fn memcg_accounting(&self) -> bool {
        self.accounting == Accounting::MemoryCgroup
    }

    /// Can `BPF_MAP_CREATE` or `BPF_PROG_LOAD` fail for the memlock limit? Only where the
    /// kernel is known to charge it and the raise was refused.
    pub fn limited(&self) -> bool {
        self.accounting == Accounting::Memlock
            && matches!(self.action, MemlockAction::RaiseFailed(_))
    }
}

/// Probes the kernel's accounting and, where it charges `RLIMIT_MEMLOCK`, raises the limit
/// to infinity (soft and hard, as libbpf). Runs once per process; later calls return the
/// first answer. [`crate::load::Object::load`], [`crate::load::Map::create`] and
/// [`crate::load::Program::load_instructions`] call it before creating anything.
pub fn ensure() -> Memlock {
    static ONCE: OnceLock<Memlock> = OnceLock::new();
    syscall::probe_once(&ONCE, || {
        let current = syscall::get_memlock();
        let before = current.map_or(Limit::Bytes(0), |l| Limit::from_raw(l.rlim_cur));
        let accounting = probe_memcg_accounting();
        if accounting == Accounting::MemoryCgroup {
            return Memlock {
                accounting,
                before,
                action: MemlockAction::NotNeeded,
            };
        }
        let action = match current {
            Ok(l) if l.rlim_cur == libc::RLIM_INFINITY && l.rlim_max == libc::RLIM_INFINITY => {
                MemlockAction::AlreadyUnlimited
            }
            _ => {
                let unlimited = libc::rlimit {
                    rlim_cur: libc::RLIM_INFINITY,
                    rlim_max: libc::RLIM_INFINITY,
                };
                match syscall::set_memlock(&unlimited) {
                    Ok(()) => MemlockAction::Raised,
                    Err(errno) => MemlockAction::RaiseFailed(errno),
                }
            }
        };
        Memlock {
            accounting,
            before,
            action,
        }
    })
}

/// An `EPERM` from `BPF_MAP_CREATE` or `BPF_PROG_LOAD` on a kernel that charges the memlock
/// limit, which could not be raised: the limit is the likely cause, not privilege.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemlockError {
    /// The failed command and its errno.
    pub error: SysError,
    /// The limit as it is.
    pub limit: Limit,
    /// `setrlimit`'s errno.
    pub raise_errno: i32,
}

impl fmt::Display for MemlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({}): RLIMIT_MEMLOCK ({}) is too low: this kernel (before 5.11) charges BPF \
             maps and programs to it, and raising it was refused ({}; needs CAP_SYS_RESOURCE): \
             raise it before starting (`ulimit -l unlimited`, or LimitMEMLOCK=infinity in a \
             systemd unit)",
            self.error.op,
            std::io::Error::from_raw_os_error(self.error.errno)
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or_default(),
            self.error.errno_name(),
            self.limit,
            syscall::errno_name(self.raise_errno),
        )
    }
}

impl std::error::Error for MemlockError {}

/// When `error` is an `EPERM` of `BPF_MAP_CREATE`/`BPF_PROG_LOAD` and [`ensure`] found a
/// memlock-charging kernel whose limit it could not raise, the error naming the limit.
pub fn explain_eperm(error: &SysError) -> Option<MemlockError> {
    if error.errno != libc::EPERM || !matches!(error.op, "BPF_MAP_CREATE" | "BPF_PROG_LOAD") {
        return None;
    }
    // Only where the kernel is known to charge the limit: without the privilege to load a
    // program the probe cannot tell, and the EPERM is about privilege.
    let state = ensure();
    match (state.accounting, state.action) {
        (Accounting::Memlock, MemlockAction::RaiseFailed(raise_errno)) => Some(MemlockError {
            error: *error,
            limit: state.before,
            raise_errno,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(Limit::Bytes(65536).to_string(), "64 KiB");
        assert_eq!(Limit::Bytes(1000).to_string(), "1000 bytes");
        assert_eq!(Limit::Infinity.to_string(), "unlimited");
    }

    #[test]
    fn the_memlock_error_names_the_limit_and_how_to_raise_it() {
        let e = MemlockError {
            error: SysError::new("BPF_MAP_CREATE", libc::EPERM),
            limit: Limit::Bytes(65536),
            raise_errno: libc::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "BPF_MAP_CREATE: Operation not permitted (EPERM): RLIMIT_MEMLOCK (64 KiB) is too low: \
             this kernel (before 5.11) charges BPF maps and programs to it, and raising it was \
             refused (EPERM; needs CAP_SYS_RESOURCE): raise it before starting (`ulimit -l \
             unlimited`, or LimitMEMLOCK=infinity in a systemd unit)"
        );
    }

    #[test]
    fn the_raise_says_what_it_did() {
        let m = Memlock {
            accounting: Accounting::Memlock,
            before: Limit::Bytes(65536),
            action: MemlockAction::Raised,
        };
        assert_eq!(
            m.to_string(),
            "the kernel charges BPF memory to RLIMIT_MEMLOCK (before 5.11): raised it from 64 KiB to unlimited"
        );
        assert!(!m.limited());
        let refused = Memlock {
            action: MemlockAction::RaiseFailed(libc::EPERM),
            ..m
        };
        assert!(refused.limited());
        // Without privilege the probe cannot tell: an EPERM is then not blamed on the limit.
        let unknown = Memlock {
            accounting: Accounting::Unknown(libc::EPERM),
            ..refused
        };
        assert!(!unknown.limited());
        assert_eq!(
            unknown.to_string(),
            "where the kernel charges BPF memory is unknown (the probe program: EPERM), so \
             RLIMIT_MEMLOCK is treated as charged: it is 64 KiB and could not be raised \
             (setrlimit: Operation not permitted (EPERM))"
        );
    }
}
