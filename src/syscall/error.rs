//! [`SysError`]: a failed system call, with what its errno means for that command.
//!
//! The meanings come from the `bpf(2)` and `perf_event_open(2)` man pages and from where the
//! kernel returns each errno (`kernel/bpf/syscall.c`, `kernel/events/core.c`).

use std::fmt;

/// The kernel's internal "not supported" errno (`ENOTSUPP` in `include/linux/errno.h`), which
/// leaks to user space from some BPF paths; distinct from `EOPNOTSUPP` (95).
pub const ENOTSUPP: i32 = 524;

/// A system call that failed: which command (`op`, the kernel's name: `BPF_PROG_LOAD`,
/// `perf_event_open`, `PERF_EVENT_IOC_SET_BPF`, ...) and the errno it returned.
///
/// `Display` reads like `BPF_MAP_CREATE: Operation not permitted (EPERM): needs root, or
/// CAP_BPF and CAP_PERFMON`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError {
    /// The command: a `bpf_cmd` name, `perf_event_open`, or a `PERF_EVENT_IOC_*` name.
    pub op: &'static str,
    /// The positive errno value.
    pub errno: i32,
}

impl SysError {
    /// A failure of `op` with `errno`.
    pub fn new(op: &'static str, errno: i32) -> SysError {
        SysError { op, errno }
    }

    /// A failure of `op` with the calling thread's current `errno`.
    pub fn last(op: &'static str) -> SysError {
        SysError::new(
            op,
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        )
    }

    /// Is this "the kernel does not have this feature", so that the caller should fall back
    /// to an older way? `EOPNOTSUPP`, `ENOTSUPP` and `ENOSYS` for every command, and `EINVAL`
    /// for `BPF_LINK_CREATE`: before 5.15 the kernel does not know the attach type
    /// `BPF_PERF_EVENT` (before 5.7 not even the command) and says `EINVAL`.
    pub fn is_not_supported(&self) -> bool {
        match self.errno {
            libc::EOPNOTSUPP | ENOTSUPP | libc::ENOSYS => true,
            libc::EINVAL => self.op == "BPF_LINK_CREATE",
            _ => false,
        }
    }

    /// The errno's symbolic name (`EPERM`), or `errno N` for one not known here.
    pub fn errno_name(&self) -> String {
        errno_name(self.errno)
    }

    /// What this errno means for this command, in a few words; empty when there is nothing
    /// more to say than the errno's own description.
    pub fn meaning(&self) -> &'static str {
        meaning(self.op, self.errno)
    }
}

/// The symbolic name of an errno (`EPERM`), or `errno N` for one not known here.
pub fn errno_name(errno: i32) -> String {
    if errno == ENOTSUPP {
        return "ENOTSUPP".to_string();
    }
    let e = nix::errno::Errno::from_raw(errno);
    if e == nix::errno::Errno::UnknownErrno {
        format!("errno {errno}")
    } else {
        format!("{e:?}")
    }
}

fn description(errno: i32) -> &'static str {
    if errno == ENOTSUPP {
        return "Operation not supported by the kernel";
    }
    nix::errno::Errno::from_raw(errno).desc()
}

fn meaning(op: &str, errno: i32) -> &'static str {
    let is_bpf = op.starts_with("BPF_");
    let is_perf = op == "perf_event_open";
    let is_ioctl = op.starts_with("PERF_EVENT_IOC_");
    match errno {
        libc::EPERM if op == "BPF_OBJ_PIN" || op == "BPF_OBJ_GET" => {
            "the path is not in a bpf filesystem (mount -t bpf bpf /sys/fs/bpf), or not allowed"
        }
        libc::EPERM if is_bpf => "needs root, or CAP_BPF and CAP_PERFMON",
        libc::EPERM if is_perf => {
            "needs root or CAP_PERFMON, or a lower /proc/sys/kernel/perf_event_paranoid"
        }
        libc::EPERM if op.starts_with("mount") => "needs root (CAP_SYS_ADMIN)",
        libc::E2BIG if op == "BPF_PROG_LOAD" => {
            "the program is too large, or the attribute has non-zero bytes this kernel does not know"
        }
        libc::E2BIG if is_bpf => {
            "the attribute has non-zero bytes this kernel does not know (a field newer than the kernel)"
        }
        libc::E2BIG if is_perf => "this kernel does not know this perf_event_attr size",
        libc::EINVAL => match op {
            "BPF_MAP_CREATE" => {
                "this kernel rejects the map's type, key/value size, max_entries, flags or name"
            }
            "BPF_PROG_LOAD" => {
                "the program's type, attach type, name, instructions or func_info/line_info are invalid for this kernel"
            }
            "BPF_BTF_LOAD" => "the BTF is malformed or uses a kind this kernel does not know",
            "BPF_LINK_CREATE" => {
                "this kernel cannot link the program to this target (perf event links need 5.15)"
            }
            "BPF_MAP_UPDATE_ELEM" | "BPF_MAP_LOOKUP_ELEM" | "BPF_MAP_DELETE_ELEM" => {
                "wrong key or value for this map, or unknown flags"
            }
            "BPF_OBJ_GET_INFO_BY_FD" => "the fd is not a BPF object",
            "BPF_OBJ_PIN" | "BPF_OBJ_GET" => {
                "the path is not in a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)"
            }
            "perf_event_open" => {
                "invalid event attributes: unknown type or config, or a probe target that does not exist"
            }
            "PERF_EVENT_IOC_SET_BPF" => {
                "the program's type does not fit the event (kprobe program for a kprobe, tracepoint program for a tracepoint)"
            }
            _ => "",
        },
        libc::ENOSPC if op == "BPF_PROG_LOAD" || op == "BPF_BTF_LOAD" => {
            "the log buffer is too small for the verifier's log"
        }
        libc::ENOSPC if op == "BPF_MAP_UPDATE_ELEM" => "the map is full (max_entries reached)",
        libc::EACCES if op == "BPF_PROG_LOAD" => {
            "the verifier rejected the program (its log says why)"
        }
        libc::EACCES if op == "BPF_MAP_UPDATE_ELEM" || op == "BPF_MAP_DELETE_ELEM" => {
            "the map is read-only for user space (frozen, or created BPF_F_RDONLY)"
        }
        libc::EACCES if is_perf => "not allowed by /proc/sys/kernel/perf_event_paranoid",
        libc::ENOENT => match op {
            "BPF_MAP_LOOKUP_ELEM" | "BPF_MAP_DELETE_ELEM" => "no element with this key",
            "BPF_MAP_GET_NEXT_KEY" => "no key after this one (the end of the map)",
            "BPF_PROG_GET_FD_BY_ID" | "BPF_MAP_GET_FD_BY_ID" | "BPF_LINK_GET_FD_BY_ID" => {
                "no object with this id (it has been freed)"
            }
            "perf_event_open" => "the probed function or tracepoint does not exist",
            "BPF_OBJ_GET" => "nothing is pinned at this path",
            "BPF_OBJ_PIN" => "the directory does not exist in a bpf filesystem",
            _ => "",
        },
        libc::EEXIST if op == "BPF_OBJ_PIN" => "a file exists at this path already",
        libc::EOPNOTSUPP | ENOTSUPP => {
            "this kernel does not support this operation for this kind of object"
        }
        libc::EBADF => "an fd in the attribute is not open, or not the kind of object expected",
        libc::EAGAIN if op == "BPF_PROG_LOAD" => "the verifier was interrupted; try again",
        libc::ENOMEM if is_bpf => {
            "the kernel is out of memory (before 5.11: RLIMIT_MEMLOCK is too low)"
        }
        libc::EFAULT => "a pointer in the attribute is not readable or writable memory",
        libc::EEXIST if op == "BPF_MAP_UPDATE_ELEM" => "the key exists (BPF_NOEXIST)",
        libc::EEXIST if op == "BPF_LINK_CREATE" || is_ioctl => {
            "a program is already attached to this event"
        }
        libc::ENOSYS if is_bpf => "this kernel has no bpf(2) (CONFIG_BPF_SYSCALL is off)",
        libc::ENOSYS if is_perf => "this kernel has no perf events (CONFIG_PERF_EVENTS is off)",
        libc::ENODEV if is_perf => "no such PMU, or this PMU cannot be used this way",
        libc::EBUSY => "the object is in use",
        _ => "",
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.op,
            description(self.errno),
            errno_name(self.errno)
        )?;
        let meaning = self.meaning();
        if !meaning.is_empty() {
            write!(f, ": {meaning}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SysError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_on_map_create_says_what_is_needed() {
        assert_eq!(
            SysError::new("BPF_MAP_CREATE", libc::EPERM).to_string(),
            "BPF_MAP_CREATE: Operation not permitted (EPERM): needs root, or CAP_BPF and CAP_PERFMON"
        );
    }

    #[test]
    fn each_command_gets_its_own_meaning() {
        assert_eq!(
            SysError::new("BPF_PROG_LOAD", libc::ENOSPC).to_string(),
            "BPF_PROG_LOAD: No space left on device (ENOSPC): the log buffer is too small for the verifier's log"
        );
        assert_eq!(
            SysError::new("BPF_MAP_UPDATE_ELEM", libc::ENOSPC).meaning(),
            "the map is full (max_entries reached)"
        );
        assert_eq!(
            SysError::new("BPF_PROG_LOAD", libc::EACCES).meaning(),
            "the verifier rejected the program (its log says why)"
        );
        assert_eq!(
            SysError::new("BPF_MAP_LOOKUP_ELEM", libc::ENOENT).meaning(),
            "no element with this key"
        );
        assert_eq!(
            SysError::new("perf_event_open", libc::ENOENT).meaning(),
            "the probed function or tracepoint does not exist"
        );
        assert!(SysError::new("BPF_MAP_CREATE", libc::E2BIG)
            .meaning()
            .contains("non-zero bytes this kernel does not know"));
        assert!(SysError::new("BPF_LINK_CREATE", libc::EINVAL)
            .meaning()
            .contains("5.15"));
    }

    #[test]
    fn unknown_errno_and_kernel_internal_enotsupp_are_named() {
        assert_eq!(
            SysError::new("BPF_PROG_LOAD", ENOTSUPP).to_string(),
            "BPF_PROG_LOAD: Operation not supported by the kernel (ENOTSUPP): this kernel does not support this operation for this kind of object"
        );
        assert_eq!(
            SysError::new("BPF_PROG_LOAD", 4000).to_string(),
            "BPF_PROG_LOAD: Unknown errno (errno 4000)"
        );
    }

    #[test]
    fn not_supported_is_a_predicate_not_a_string() {
        assert!(SysError::new("BPF_PROG_LOAD", libc::EOPNOTSUPP).is_not_supported());
        assert!(SysError::new("BPF_PROG_LOAD", ENOTSUPP).is_not_supported());
        assert!(SysError::new("BPF_LINK_CREATE", libc::EINVAL).is_not_supported());
        assert!(!SysError::new("BPF_PROG_LOAD", libc::EINVAL).is_not_supported());
        assert!(!SysError::new("BPF_LINK_CREATE", libc::EPERM).is_not_supported());
    }
}
