//! Multi-kprobes: one program at many kernel functions through one BPF link (fprobe, no
//! perf event), each function with its own BPF cookie (`bpf_get_attach_cookie`), as
//! libbpf's `bpf_program__attach_kprobe_multi_opts` (`SEC("kprobe.multi/PATTERN")`,
//! `SEC("kretprobe.multi/PATTERN")`, `SEC("kprobe.session/PATTERN")`).
//!
//! A session program (`kprobe.session`, loaded with `BPF_TRACE_KPROBE_SESSION`, 6.10) runs
//! at each function's entry and, where that run returned 0, at its return too; the kfunc
//! `bpf_session_is_return()` tells it which. It is linked with its own attach type (the
//! kernel refuses a program linked under another than it was loaded with), which the
//! attach functions here take from the program: nothing else differs.
//!
//! ABI: `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_MULTI` (5.18) and its `kprobe_multi`
//! member (function names or addresses, cookies, flags: `BPF_F_KPROBE_MULTI_RETURN`),
//! `include/uapi/linux/bpf.h`; the program must have been loaded with that expected attach
//! type (the `kprobe.multi` sections have it). It needs `CONFIG_FPROBE` (and so kprobes'
//! and ftrace's machinery): this project's host has none, the Debian kernels 6.1 and 6.12
//! have it.
//!
//! A glob is resolved as libbpf resolves it (`libbpf_available_kprobes_parse`): the
//! functions ftrace can attach to, one per line of tracefs
//! `available_filter_functions` (`NAME` or `NAME [MODULE]`; `__ftrace_invalid_address__*`
//! lines skipped), matched with [`glob_match`]; where tracefs cannot be read, the text
//! symbols of `/proc/kallsyms` (kallsyms' `t`/`T` lines). Names are sorted and given once
//! each (the kernel looks every name up and refuses a duplicate set), and handed to the
//! kernel by name (`syms`). [`attach_addresses`] hands it addresses instead (`addrs`, as
//! libbpf's `opts.addrs`): functions a caller found itself, in `/proc/kallsyms` or by a
//! name the kernel's lookup cannot tell apart (two static functions of one name).
//!
//! Kernels before 5.18, or without `CONFIG_FPROBE`, have no multi-kprobes: [`available`]
//! asks the kernel and every attach refuses with
//! [`AttachError::MultiProbeUnsupported`] where it answers no.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::OnceLock;

use super::{tracefs, AttachError, AttachMethod, Link, Probe, Via};
use crate::elf::target::glob_match;
use crate::load::Program;
use crate::syscall::{self, BPF_F_KPROBE_MULTI_RETURN};
use crate::uapi::{AttachType, ProgramType};

/// How to attach: at the functions' entries or their returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KprobeMultiOptions {
    /// Fire on the returns (`kretprobe.multi`), not the entries. A session program
    /// (`kprobe.session`) runs at both, whatever this says.
    pub retprobe: bool,
}

/// Can `BPF_LINK_CREATE` make a multi-kprobe (5.18, `CONFIG_FPROBE`)? A program of that
/// attach type linked to a function that cannot exist is refused because the name was not
/// found where the kernel can (it got as far as looking it up: `ESRCH` from 6.1's
/// `ftrace_lookup_symbols`, `ENOENT` from later kernels'); with `EINVAL` (unknown attach
/// type) or `EOPNOTSUPP` (no fprobe) where it cannot. Asked once per process.
pub fn available() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    syscall::probe_once(&ANSWER, || probe(AttachType::TRACE_KPROBE_MULTI))
}

/// Can it make a session multi-kprobe (`BPF_TRACE_KPROBE_SESSION`, 6.10)? Asked as
/// [`available`] asks, with that attach type: a kernel that does not know it answers
/// `EINVAL`. Asked once per process.
pub fn session_available() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    syscall::probe_once(&ANSWER, || probe(AttachType::TRACE_KPROBE_SESSION))
}

fn probe(attach_type: AttachType) -> bool {
    crate::features::memlock::ensure();
    let Ok(prog) = crate::features::probe_load(
        "kprobe_multi",
        ProgramType::Kprobe.as_u32(),
        attach_type.0,
        0,
        &crate::features::RETURN_ZERO,
    ) else {
        return false;
    };
    let names = [c"ebpf_loader_we_hope_this_does_not_exist"];
    let targets = syscall::KprobeMultiTargets::Names(&names);
    match syscall::link_create_kprobe_multi(prog.as_fd(), targets, &[], 0, attach_type) {
        Ok(_) => true,
        Err(e) => matches!(e.errno, libc::ENOENT | libc::ESRCH),
    }
}

/// The kernel functions a multi-kprobe on the glob `pattern` attaches to, sorted, each
/// once: from tracefs `available_filter_functions`, else `/proc/kallsyms` (see the
/// module's header). Empty when nothing matches.
pub fn resolve_glob(pattern: &str) -> Result<Vec<String>, AttachError> {
    let available = tracefs::tracefs_dir()
        .ok()
        .and_then(|dir| std::fs::read_to_string(dir.join("available_filter_functions")).ok());
    let mut names = match available {
        Some(text) => available_functions_matching(&text, pattern),
        None => {
            let kallsyms = Path::new("/proc/kallsyms");
            let text = std::fs::read_to_string(kallsyms).map_err(|e| AttachError::Io {
                path: kallsyms.to_path_buf(),
                error: format!("{e} (and tracefs' available_filter_functions could not be read)"),
            })?;
            kallsyms_functions_matching(&text, pattern)
        }
    };
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// The names of `available_filter_functions` (one function per line: `NAME` or
/// `NAME [MODULE]`) that match `pattern`, in file order; the entries ftrace marks
/// invalid (`__ftrace_invalid_address__...`) skipped, as libbpf skips them.
pub fn available_functions_matching(text: &str, pattern: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| !name.starts_with("__ftrace_invalid_address__"))
        .filter(|name| glob_match(name, pattern))
        .map(str::to_string)
        .collect()
}

/// The text symbols (`t`, `T`) of `/proc/kallsyms` (`ADDRESS TYPE NAME [MODULE]`) that
/// match `pattern`, in file order.
pub fn kallsyms_functions_matching(text: &str, pattern: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_address, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
            matches!(kind, "t" | "T").then_some(name)
        })
        .filter(|name| glob_match(name, pattern))
        .map(str::to_string)
        .collect()
}

/// Attaches `prog` to every kernel function matching the glob `pattern`, every cookie 0,
/// as `SEC("kprobe.multi/PATTERN")` does. A pattern that matches nothing is refused with
/// [`AttachError::NoMatch`].
pub fn attach_glob(
    prog: &Program,
    pattern: &str,
    opts: &KprobeMultiOptions,
) -> Result<Link, AttachError> {
    refuse_where_unavailable(prog, opts)?;
    let names = resolve_glob(pattern)?;
    if names.is_empty() {
        return Err(AttachError::NoMatch {
            pattern: pattern.to_string(),
            searched: "the kernel functions ftrace can attach to (available_filter_functions)"
                .to_string(),
        });
    }
    let functions: Vec<(&str, u64)> = names.iter().map(|name| (name.as_str(), 0)).collect();
    attach_functions(prog, &functions, pattern, opts)
}

/// Attaches `prog` to the kernel functions named in `functions`, each with its cookie
/// (`(name, cookie)`), through one link; `what` names them in messages (the glob they
/// came from, or empty: the names, joined).
pub fn attach(
    prog: &Program,
    functions: &[(&str, u64)],
    what: &str,
    opts: &KprobeMultiOptions,
) -> Result<Link, AttachError> {
    refuse_where_unavailable(prog, opts)?;
    attach_functions(prog, functions, what, opts)
}

/// A session program (loaded with `BPF_TRACE_KPROBE_SESSION`: `kprobe.session`)?
fn session(prog: &Program) -> bool {
    prog.expected_attach_type() == AttachType::TRACE_KPROBE_SESSION
}

fn kind(prog: &Program, opts: &KprobeMultiOptions) -> &'static str {
    if session(prog) {
        "kprobe.session"
    } else if opts.retprobe {
        "kretprobe.multi"
    } else {
        "kprobe.multi"
    }
}

fn refuse_where_unavailable(prog: &Program, opts: &KprobeMultiOptions) -> Result<(), AttachError> {
    let (answer, needs) = if session(prog) {
        (
            session_available(),
            "BPF_TRACE_KPROBE_SESSION links (Linux 6.10, CONFIG_FPROBE)",
        )
    } else {
        (
            available(),
            "BPF_TRACE_KPROBE_MULTI links (Linux 5.18, CONFIG_FPROBE)",
        )
    };
    if answer {
        return Ok(());
    }
    Err(AttachError::MultiProbeUnsupported {
        kind: kind(prog, opts),
        needs,
    })
}

fn attach_functions(
    prog: &Program,
    functions: &[(&str, u64)],
    what: &str,
    opts: &KprobeMultiOptions,
) -> Result<Link, AttachError> {
    let what = if what.is_empty() {
        functions
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(",")
    } else {
        what.to_string()
    };
    let target = format!(
        "{} {what} ({} functions)",
        kind(prog, opts),
        functions.len()
    );
    let names = functions
        .iter()
        .map(|(name, _)| {
            CString::new(*name).map_err(|_| AttachError::KprobeFunctionNotFound {
                function: name.to_string(),
                detail: "a NUL byte in the name".to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<&std::ffi::CStr> = names.iter().map(CString::as_c_str).collect();
    let cookies: Vec<u64> = functions.iter().map(|(_, cookie)| *cookie).collect();
    let targets = syscall::KprobeMultiTargets::Names(&names);
    link(prog, targets, &cookies, target, opts)
}

/// Attaches `prog` to the kernel functions at the addresses of `places` (`(address,
/// cookie)`: each a function's start as `/proc/kallsyms` gives it), through one link; `what`
/// names them in messages (empty: the addresses, joined). The kernel finds each address's
/// ftrace site and refuses one that has none (`EINVAL`).
pub fn attach_addresses(
    prog: &Program,
    places: &[(u64, u64)],
    what: &str,
    opts: &KprobeMultiOptions,
) -> Result<Link, AttachError> {
    refuse_where_unavailable(prog, opts)?;
    let what = if what.is_empty() {
        places
            .iter()
            .map(|(address, _)| format!("{address:#x}"))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        what.to_string()
    };
    let target = format!("{} {what} ({} addresses)", kind(prog, opts), places.len());
    let addresses: Vec<u64> = places.iter().map(|(address, _)| *address).collect();
    let cookies: Vec<u64> = places.iter().map(|(_, cookie)| *cookie).collect();
    let targets = syscall::KprobeMultiTargets::Addresses(&addresses);
    link(prog, targets, &cookies, target, opts)
}

/// The one `BPF_LINK_CREATE` of either: cookies left out where all are 0.
fn link(
    prog: &Program,
    targets: syscall::KprobeMultiTargets<'_>,
    cookies: &[u64],
    target: String,
    opts: &KprobeMultiOptions,
) -> Result<Link, AttachError> {
    let cookies = if cookies.iter().all(|&c| c == 0) {
        &[]
    } else {
        cookies
    };
    let flags = if opts.retprobe {
        BPF_F_KPROBE_MULTI_RETURN
    } else {
        0
    };
    let attach_type = if session(prog) {
        AttachType::TRACE_KPROBE_SESSION
    } else {
        AttachType::TRACE_KPROBE_MULTI
    };
    let fd = syscall::link_create_kprobe_multi(prog.as_fd(), targets, cookies, flags, attach_type)
        .map_err(|error| AttachError::Sys {
            target: target.clone(),
            error,
        })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::KprobeMulti,
            via: Via::BpfLink,
        },
        target,
        fd,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_filter_functions_lines_are_read_as_libbpf_reads_them() {
        let text = "tcp_connect\n\
                    tcp_v4_connect\n\
                    __ftrace_invalid_address___64\n\
                    tcp_close [some_module]\n\
                    udp_sendmsg\n";
        assert_eq!(
            available_functions_matching(text, "tcp_*"),
            ["tcp_connect", "tcp_v4_connect", "tcp_close"]
        );
        assert_eq!(available_functions_matching(text, "*invalid*"), [""; 0]);
        assert_eq!(available_functions_matching(text, "nothing*"), [""; 0]);
    }

    #[test]
    fn kallsyms_gives_its_text_symbols() {
        let text = "ffffffff81000000 T tcp_connect\n\
                    ffffffff81000100 t tcp_helper\n\
                    ffffffff82000000 D tcp_data\n\
                    ffffffffc0000000 t tcp_mod_fn\t[mod]\n";
        assert_eq!(
            kallsyms_functions_matching(text, "tcp_*"),
            ["tcp_connect", "tcp_helper", "tcp_mod_fn"]
        );
    }
}
