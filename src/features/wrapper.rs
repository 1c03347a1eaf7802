//! The kernel's system call wrappers: does the running kernel enter `bpf(2)` through
//! `__x64_sys_bpf` (x86-64, 4.17+), `__arm64_sys_bpf` (arm64, 4.19+), or the plain
//! `SYSCALL_DEFINE` function (`__se_sys_bpf`)?
//!
//! ABI: the wrappers are defined by `arch/*/include/asm/syscall_wrapper.h` with the prefix
//! of [`crate::arch::Arch::syscall_prefix`]; `/proc/kallsyms` lists every kernel function
//! by name (the addresses are zero for a reader without `CAP_SYSLOG`; the names are
//! there). libbpf's `probe_kern_syscall_wrapper` asks the same question (by opening a kprobe
//! on `__<prefix>_sys_bpf`; a name in kallsyms is what such a kprobe resolves), once per
//! object; here once per process. Its answer serves both users: `ksyscall/NAME` programs
//! ([`crate::load::Program::attach`]) and the `.kconfig` extern `LINUX_HAS_SYSCALL_WRAPPER`.

use std::io::{BufRead, BufReader};
use std::sync::OnceLock;

/// The prefix of the running kernel's system call wrappers (`x64` in `__x64_sys_bpf`), or
/// `None` where the kernel has none for this architecture ([`crate::arch::TARGET`]) or
/// `/proc/kallsyms` cannot be read. Probed once, on first use.
pub fn syscall_wrapper() -> Option<&'static str> {
    static ANSWER: OnceLock<Option<&'static str>> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let prefix = crate::arch::TARGET.syscall_prefix;
        let file = std::fs::File::open("/proc/kallsyms").ok()?;
        kallsyms_has(BufReader::new(file), &format!("__{prefix}_sys_bpf")).then_some(prefix)
    })
}

/// The kernel function a system call `name` enters through, as libbpf's `ksyscall`
/// resolves it: `__<prefix>_sys_NAME` where the kernel has wrappers, else
/// `__se_sys_NAME`.
pub fn syscall_function(name: &str) -> String {
    match syscall_wrapper() {
        Some(prefix) => format!("__{prefix}_sys_{name}"),
        None => format!("__se_sys_{name}"),
    }
}

/// Whether a `/proc/kallsyms` text (`ADDRESS TYPE NAME [MODULE]` lines) names `symbol`.
fn kallsyms_has(text: impl BufRead, symbol: &str) -> bool {
    text.lines()
        .map_while(Result::ok)
        .any(|line| line.split_whitespace().nth(2) == Some(symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbol_is_found_by_its_whole_name() {
        let text = "0000000000000000 T __arm64_sys_bpf\n\
                    0000000000000000 t __se_sys_bpf\n\
                    0000000000000000 T __x64_sys_bpf_extra [mod]\n";
        assert!(kallsyms_has(text.as_bytes(), "__arm64_sys_bpf"));
        assert!(kallsyms_has(text.as_bytes(), "__se_sys_bpf"));
        assert!(!kallsyms_has(text.as_bytes(), "__x64_sys_bpf"));
        assert!(!kallsyms_has("".as_bytes(), "__x64_sys_bpf"));
    }

    /// On this machine's kernel (x86-64 4.17+, arm64 4.19+: every kernel the project is
    /// tested on has the wrappers), as kallsyms says.
    #[test]
    fn the_running_kernel_has_wrappers_with_the_targets_prefix() {
        let prefix = crate::arch::TARGET.syscall_prefix;
        assert_eq!(syscall_wrapper(), Some(prefix));
        assert_eq!(syscall_function("unlink"), format!("__{prefix}_sys_unlink"));
    }
}
