//! Loading programs (`BPF_PROG_LOAD`) and BTF (`BPF_BTF_LOAD`) with the verifier-log
//! protocol the established loaders follow (libbpf's `bpf_object_load_prog`):
//!
//! 1. load without a log (fast, and the log costs the kernel time and memory);
//! 2. on failure, load again with a log buffer (`log_level` 1), so the error carries the
//!    verifier's reasons. That buffer is libbpf's first, 16 MiB
//!    ([`ProgLoadOptions::refusal_log_size`]): every attempt verifies the whole program
//!    again (a million instructions take seconds), so the log of a refusal should fit
//!    the first time. Starting small and growing made a large refused program cost three
//!    verifications where libbpf's cost two (BENCHMARKS.md, "Loading the largest
//!    programs");
//! 3. on `ENOSPC` (the log did not fit) grow the buffer, to the size the kernel asks for
//!    (`log_true_size`, 6.4) or twice the last, up to a cap; at the cap the log is kept
//!    truncated (its end since 6.4) and the error is the verifier's own (`E2BIG`,
//!    `EACCES`, ...), not the log's `ENOSPC`;
//! 4. on `EAGAIN` try again, a few times;
//! 5. a load asked with only the verifier's statistics (`log_level` 4) that fails is made
//!    again with level 1 as well, whose log says why.
//!
//! A rejection returns a [`VerifierError`] with the log; its `Display` is one line ending
//! with the log's last line, [`VerifierError::last_lines`] gives more.
//!
//! **A program is sent as it is, or not at all.** Every `BPF_PROG_LOAD` of a program goes
//! through one function, `prog_attempt`, which only [`load_program`] calls, through
//! `load_with_log`, with the one request it was given: the attempts above differ in their
//! log buffer and level only, never in the instructions, BTF, `func_info` or `line_info`.
//! So a verifier's refusal is never turned into a load of something else (a program whose
//! global functions, checked without their BTF, would pass as static ones). What the
//! kernel takes is decided before, once per process, by probing
//! ([`crate::features::btf::probe`]: BTF, `FUNC` for func_info and line_info, global
//! functions), as libbpf's `kernel_supports(FEAT_BTF_FUNC)` and `FEAT_BTF_GLOBAL_FUNC` do.
//!
//! `func_info` and `line_info` (`struct bpf_func_info`, `struct bpf_line_info` in
//! `include/uapi/linux/bpf.h`) are optional; [`LoadedProgram::btf_info`] says whether the
//! request had them.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::bpf::{btf_load_raw, prog_load_raw, BtfLoadAttr, ProgLoadAttr};
use super::SysError;
use crate::insn::Insn;
use crate::uapi::obj_name;

/// `struct bpf_func_info` and `struct bpf_line_info`: one definition, in `btf::ext`, where
/// `.BTF.ext` gives them; `BPF_PROG_LOAD` takes arrays of them (offsets in instructions).
pub use crate::btf::ext::{FuncInfo, LineInfo};

/// What to load: the fields of `BPF_PROG_LOAD` the loader sets.
#[derive(Debug, Clone, Copy)]
pub struct ProgLoadRequest<'a> {
    /// The program's name (cut to 15 bytes for the kernel; kept whole in errors).
    pub name: &'a str,
    /// `enum bpf_prog_type` (`BPF_PROG_TYPE_KPROBE`, `BPF_PROG_TYPE_TRACEPOINT`, ...).
    pub prog_type: u32,
    /// `enum bpf_attach_type`, for the program types that need it at load; 0 otherwise.
    pub expected_attach_type: u32,
    pub insns: &'a [Insn],
    /// The license (`"GPL"`, `"Dual BSD/GPL"`); GPL-only helpers need a compatible one.
    pub license: &'a str,
    /// `kern_version`: only checked by kernels before 5.0 for kprobe programs.
    pub kern_version: u32,
    /// The program's BTF (from [`load_btf`]); required when func_info or line_info is given.
    pub prog_btf_fd: Option<BorrowedFd<'a>>,
    pub func_info: &'a [FuncInfo],
    pub line_info: &'a [LineInfo],
    /// `prog_flags`: `BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`.
    pub prog_flags: u32,
    /// For BTF-typed programs (fentry, tp_btf, lsm, iter): the BTF id, in the kernel's
    /// BTF, of the function, tracepoint or hook the program is for.
    pub attach_btf_id: u32,
    /// `attach_btf_obj_fd` (5.11): the BTF object `attach_btf_id` is in when it is a
    /// module's (`None`: vmlinux's).
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// `fd_array` (5.13): the module BTF fds a kfunc call's `off` indexes (slot 0 unused:
    /// `off` 0 is vmlinux). Empty: none passed.
    pub fd_array: &'a [i32],
}

impl<'a> ProgLoadRequest<'a> {
    /// A request with no BTF and no expected attach type.
    pub fn new(name: &'a str, prog_type: u32, insns: &'a [Insn], license: &'a str) -> Self {
        ProgLoadRequest {
            name,
            prog_type,
            expected_attach_type: 0,
            insns,
            license,
            kern_version: 0,
            prog_btf_fd: None,
            func_info: &[],
            line_info: &[],
            prog_flags: 0,
            attach_btf_id: 0,
            attach_btf_obj_fd: None,
            fd_array: &[],
        }
    }

    /// Does the request carry func_info or line_info?
    pub fn has_btf_info(&self) -> bool {
        !self.func_info.is_empty() || !self.line_info.is_empty()
    }
}

/// How hard to try for a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgLoadOptions {
    /// 0: a log only when the load fails (then at level 1). 1 or 2: always load with a log
    /// at this level (2 is every instruction's state). 4 (`BPF_LOG_STATS`): only the
    /// verifier's statistics (`processed N insns ...`).
    pub log_level: u32,
    /// The first log buffer's size in bytes (at least [`MIN_LOG_SIZE`]) when a log is
    /// asked from the first attempt (`log_level` 1, 2 or 4).
    pub initial_log_size: usize,
    /// The first log buffer's size in bytes when a refused load is made again for its
    /// log: libbpf's `BPF_LOG_BUF_SIZE` (`UINT32_MAX >> 8`, 16 MiB), so that one more
    /// verification gives the log.
    pub refusal_log_size: usize,
    /// The largest log buffer tried; a longer log is kept truncated (the kernel keeps its
    /// end since 6.4, its start before).
    pub max_log_size: usize,
    /// How many times to try again when the kernel answers `EAGAIN`.
    pub eagain_retries: u32,
}

impl Default for ProgLoadOptions {
    fn default() -> Self {
        ProgLoadOptions {
            log_level: 0,
            initial_log_size: 64 * 1024,
            refusal_log_size: REFUSAL_LOG_SIZE,
            // The refusal's buffer is the largest: a longer log is kept truncated rather
            // than bought with one more verification of the whole program.
            max_log_size: REFUSAL_LOG_SIZE,
            eagain_retries: 5,
        }
    }
}

/// A verifier (or BTF checker) log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifierLog {
    /// The whole log as the kernel wrote it.
    pub text: String,
    /// The log did not fit in the largest buffer tried.
    pub truncated: bool,
}

impl VerifierLog {
    fn from_buf(buf: &[u8], truncated: bool) -> VerifierLog {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let text = String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned();
        VerifierLog { text, truncated }
    }

    /// The last `n` non-empty lines, joined with `\n`.
    pub fn last_lines(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(n);
        lines.get(start..).unwrap_or_default().join("\n")
    }

    /// The source line the verifier was at when it stopped: the last line of the log that
    /// quotes the source (`; return ctx->x; @ prog.bpf.c:42`, printed from line_info),
    /// without its `; `.
    pub fn source_line(&self) -> Option<&str> {
        self.text
            .lines()
            .map(str::trim)
            .rev()
            .find_map(|line| line.strip_prefix("; "))
    }

    /// The verifier's reason: the last line that is not one of the statistics it prints
    /// at the end (`processed N insns ...`, `verification time ...`, `stack depth ...`).
    pub fn reason(&self) -> Option<&str> {
        const STATISTICS: [&str; 3] = ["processed ", "verification time ", "stack depth "];
        self.text
            .lines()
            .map(str::trim)
            .rev()
            .find(|line| !line.is_empty() && !STATISTICS.iter().any(|s| line.starts_with(s)))
    }
}

/// Whether the program was loaded with func_info/line_info. There is no third answer: a
/// load with them that fails is an error, never retried without them (module header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfInfoOutcome {
    /// The request had none (no object BTF, or a kernel without BTF `FUNC`, probed).
    NotGiven,
    /// Loaded with them.
    Accepted,
}

/// A loaded program.
#[derive(Debug)]
pub struct LoadedProgram {
    pub fd: OwnedFd,
    /// The verifier's log, when [`ProgLoadOptions::log_level`] asked for one.
    pub log: Option<VerifierLog>,
    pub btf_info: BtfInfoOutcome,
}

/// A program or BTF the kernel refused, with the log it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierError {
    /// `BPF_PROG_LOAD` or `BPF_BTF_LOAD`.
    pub op: &'static str,
    /// The program's name, or `BTF`.
    pub name: String,
    /// The failed call, on the load with the log (the one that says why).
    pub error: SysError,
    /// The log of that load; empty if the kernel wrote none.
    pub log: VerifierLog,
}

impl VerifierError {
    /// The last `n` non-empty lines of the log.
    pub fn last_lines(&self, n: usize) -> String {
        self.log.last_lines(n)
    }

    /// Did the verifier itself reject the program (`EACCES`, or `EINVAL` with a log)?
    pub fn is_verifier_rejection(&self) -> bool {
        self.error.errno == libc::EACCES
            || (self.error.errno == libc::EINVAL && !self.log.text.is_empty())
    }
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.op == "BPF_BTF_LOAD" {
            "loading BTF"
        } else {
            "loading program"
        };
        write!(f, "{what} {}: {}", self.name, self.error)?;
        if let Some(reason) = self.log.reason() {
            let lines = self.log.text.lines().count();
            write!(f, ": {reason} (log: {lines} lines")?;
            if self.log.truncated {
                write!(f, ", truncated")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifierError {}

/// The smallest log buffer the kernel accepts before 6.4.
pub const MIN_LOG_SIZE: usize = 128;

/// libbpf's `BPF_LOG_BUF_SIZE` (`UINT32_MAX >> 8`): its first buffer for a refusal's log.
pub const REFUSAL_LOG_SIZE: usize = (u32::MAX >> 8) as usize;

/// One attempt: a log level and an optional buffer in, the result and the `log_true_size`
/// the kernel reported (0 before 6.4) out.
type Attempt<'f> = dyn FnMut(u32, Option<&mut [u8]>) -> (Result<OwnedFd, SysError>, u32) + 'f;

/// The protocol in the module header, for any command that takes a log.
fn load_with_log(
    op: &'static str,
    name: &str,
    opts: &ProgLoadOptions,
    attempt: &mut Attempt<'_>,
) -> Result<(OwnedFd, Option<VerifierLog>), VerifierError> {
    let mut retries = opts.eagain_retries;
    // Kernels before 6.4 refuse a log smaller than 128 bytes (EINVAL), and every kernel
    // one of UINT_MAX >> 2 or more (`bpf_verifier_log_attr_valid`).
    let max = opts
        .max_log_size
        .clamp(MIN_LOG_SIZE, (u32::MAX >> 2) as usize - 1);
    let refusal_size = opts.refusal_log_size.clamp(MIN_LOG_SIZE, max);
    // The first refusal's error: the verifier's own, which a log that does not fit
    // (`ENOSPC`) must not replace.
    let mut refusal: Option<SysError> = None;
    // Step 1: no log, unless the caller wants one anyway.
    let mut size = opts.initial_log_size.clamp(MIN_LOG_SIZE, max);
    if opts.log_level == 0 {
        loop {
            match attempt(0, None).0 {
                Ok(fd) => return Ok((fd, None)),
                Err(e) if e.errno == libc::EAGAIN && retries > 0 => retries -= 1,
                Err(e) => {
                    refusal = Some(e);
                    size = refusal_size;
                    break;
                }
            }
        }
    }
    // Steps 2-4: with a log, growing it. A statistics-only log (level 4) of a failed load
    // says nothing of why: that load is made again with the instructions' log (level 1),
    // in a refusal's buffer.
    let mut level = opts.log_level.max(1);
    // A fresh buffer is zeroed by the allocator (pages the kernel does not write are never
    // touched); one used again is cleared first.
    let mut buf = vec![0u8; size];
    let mut used = false;
    loop {
        if used {
            buf.fill(0);
        }
        used = true;
        let (result, true_size) = attempt(level, Some(&mut buf));
        match result {
            Ok(fd) => return Ok((fd, Some(VerifierLog::from_buf(&buf, false)))),
            Err(e) if e.errno == libc::EAGAIN && retries > 0 => retries -= 1,
            Err(e) if e.errno == libc::ENOSPC && buf.len() < max => {
                let wanted = (true_size as usize).max(buf.len().saturating_mul(2));
                buf = vec![0u8; wanted.min(max)];
                used = false;
            }
            Err(e) if level & 3 == 0 && e.errno != libc::ENOSPC => {
                level |= 1;
                refusal.get_or_insert(e);
                if buf.len() < refusal_size {
                    buf = vec![0u8; refusal_size];
                    used = false;
                }
            }
            Err(e) => {
                let truncated = e.errno == libc::ENOSPC;
                let error = match refusal {
                    Some(first) if truncated => first,
                    _ => e,
                };
                return Err(VerifierError {
                    op,
                    name: name.to_string(),
                    error,
                    log: VerifierLog::from_buf(&buf, truncated),
                });
            }
        }
    }
}

/// One `BPF_PROG_LOAD` attempt for `req`.
fn prog_attempt(
    req: &ProgLoadRequest<'_>,
    level: u32,
    log: Option<&mut [u8]>,
) -> (Result<OwnedFd, SysError>, u32) {
    let license = std::ffi::CString::new(req.license.replace('\0', "")).unwrap_or_default();
    let (log_buf, log_size) = match log {
        Some(buf) => (buf.as_mut_ptr() as usize as u64, buf.len() as u32),
        None => (0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type: req.prog_type,
        insn_cnt: req.insns.len() as u32,
        // `Insn` is not the kernel's layout: encode it.
        insns: 0,
        license: license.as_ptr() as usize as u64,
        log_level: if log_size == 0 { 0 } else { level },
        log_size,
        log_buf,
        kern_version: req.kern_version,
        prog_name: obj_name(req.name),
        expected_attach_type: req.expected_attach_type,
        prog_flags: req.prog_flags,
        attach_btf_id: req.attach_btf_id,
        // The kernel reads the union's `attach_prog_fd` as a program first, then as
        // `attach_btf_obj_fd`: a BTF fd is not a program's.
        attach_prog_fd: req.attach_btf_obj_fd.map_or(0, |fd| fd.as_raw_fd() as u32),
        fd_array: if req.fd_array.is_empty() {
            0
        } else {
            req.fd_array.as_ptr() as usize as u64
        },
        ..Default::default()
    };
    let code = crate::insn::encode(req.insns);
    attr.insns = code.as_ptr() as usize as u64;
    if req.has_btf_info() {
        attr.prog_btf_fd = req.prog_btf_fd.map_or(0, |fd| fd.as_raw_fd() as u32);
    }
    if !req.func_info.is_empty() {
        attr.func_info_rec_size = std::mem::size_of::<FuncInfo>() as u32;
        attr.func_info = req.func_info.as_ptr() as usize as u64;
        attr.func_info_cnt = req.func_info.len() as u32;
    }
    if !req.line_info.is_empty() {
        attr.line_info_rec_size = std::mem::size_of::<LineInfo>() as u32;
        attr.line_info = req.line_info.as_ptr() as usize as u64;
        attr.line_info_cnt = req.line_info.len() as u32;
    }
    // `code`, `license` and the caller's slices live until after this call.
    let result = prog_load_raw(&mut attr);
    (result, attr.log_true_size)
}

/// Loads a program with the log protocol of the module header: the request is sent as it
/// is (only the log differs between attempts), and a refusal is returned with its log.
pub fn load_program(
    req: &ProgLoadRequest<'_>,
    opts: &ProgLoadOptions,
) -> Result<LoadedProgram, VerifierError> {
    let mut attempt = |level: u32, log: Option<&mut [u8]>| prog_attempt(req, level, log);
    let (fd, log) = load_with_log("BPF_PROG_LOAD", req.name, opts, &mut attempt)?;
    Ok(LoadedProgram {
        fd,
        log,
        btf_info: if req.has_btf_info() {
            BtfInfoOutcome::Accepted
        } else {
            BtfInfoOutcome::NotGiven
        },
    })
}

/// Loads raw BTF (`BPF_BTF_LOAD`) with the same log protocol. Returns the BTF fd and the
/// log when `opts.log_level` asked for one.
pub fn load_btf(
    btf: &[u8],
    opts: &ProgLoadOptions,
) -> Result<(OwnedFd, Option<VerifierLog>), VerifierError> {
    let mut attempt = |level: u32, log: Option<&mut [u8]>| {
        let (log_buf, log_size) = match log {
            Some(buf) => (buf.as_mut_ptr() as usize as u64, buf.len() as u32),
            None => (0, 0),
        };
        let mut attr = BtfLoadAttr {
            btf: btf.as_ptr() as usize as u64,
            btf_size: btf.len() as u32,
            btf_log_buf: log_buf,
            btf_log_size: log_size,
            btf_log_level: if log_size == 0 { 0 } else { level },
            ..Default::default()
        };
        let result = btf_load_raw(&mut attr);
        (result, attr.btf_log_true_size)
    };
    load_with_log("BPF_BTF_LOAD", "BTF", opts, &mut attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_skips_blank_lines_and_caps_at_the_log() {
        let log = VerifierLog {
            text: "0: (b7) r0 = 0\n1: (95) exit\n\nR0 !read_ok\n\n".to_string(),
            truncated: false,
        };
        assert_eq!(log.last_lines(2), "1: (95) exit\nR0 !read_ok");
        assert_eq!(
            log.last_lines(10),
            "0: (b7) r0 = 0\n1: (95) exit\nR0 !read_ok"
        );
        assert_eq!(log.last_lines(0), "");
    }

    #[test]
    fn log_text_stops_at_the_nul() {
        let log = VerifierLog::from_buf(b"abc\ndef\0garbage", false);
        assert_eq!(log.text, "abc\ndef");
    }

    #[test]
    fn load_error_display_is_one_line_ending_with_the_verifiers_reason() {
        let err = VerifierError {
            op: "BPF_PROG_LOAD",
            name: "tcp_connect".to_string(),
            error: SysError::new("BPF_PROG_LOAD", libc::EACCES),
            log: VerifierLog {
                text: "0: (bf) r0 = r2\nR2 !read_ok\nprocessed 1 insns (limit 1000000)\n"
                    .to_string(),
                truncated: false,
            },
        };
        assert_eq!(
            err.to_string(),
            "loading program tcp_connect: BPF_PROG_LOAD: Permission denied (EACCES): the verifier \
             rejected the program (its log says why): R2 !read_ok (log: 3 lines)"
        );
        assert!(err.is_verifier_rejection());
    }

    /// The protocol on a scripted kernel: no log, then a log that is too small twice, then
    /// the rejection.
    #[test]
    fn grows_the_log_on_enospc_and_retries_on_eagain() {
        let mut calls: Vec<(u32, usize)> = Vec::new();
        let mut attempt = |level: u32, log: Option<&mut [u8]>| {
            let len = log.as_ref().map_or(0, |b| b.len());
            calls.push((level, len));
            let n = calls.len();
            let errno = match n {
                1 => libc::EACCES,
                2 => libc::EAGAIN,
                3 | 4 => libc::ENOSPC,
                _ => {
                    if let Some(buf) = log {
                        buf[..9].copy_from_slice(b"rejected\n");
                    }
                    libc::EACCES
                }
            };
            (
                Err(SysError::new("BPF_PROG_LOAD", errno)),
                if n == 4 { 1000 } else { 0 },
            )
        };
        let opts = ProgLoadOptions {
            refusal_log_size: 150,
            ..Default::default()
        };
        let err = load_with_log("BPF_PROG_LOAD", "p", &opts, &mut attempt).unwrap_err();
        assert_eq!(err.error.errno, libc::EACCES);
        assert_eq!(err.log.text, "rejected\n");
        assert!(!err.log.truncated);
        // no log; log 150 (EAGAIN); 150 (ENOSPC); 300 (ENOSPC, kernel wants 1000); 1000.
        assert_eq!(calls, vec![(0, 0), (1, 150), (1, 150), (1, 300), (1, 1000)]);
    }

    /// As libbpf: a refusal is loaded again once, in a 16 MiB buffer. A log longer than
    /// the cap is kept truncated, and the error is the verifier's own (`E2BIG`: too many
    /// instructions), not the log's `ENOSPC`. A statistics-only load (level 4) that fails
    /// goes to the refusal's buffer as well.
    #[test]
    fn a_refusal_is_logged_in_one_large_buffer_and_keeps_its_errno() {
        for (log_level, first) in [(0, (0, 0)), (4, (4, 64 * 1024))] {
            let mut calls: Vec<(u32, usize)> = Vec::new();
            let mut attempt = |level: u32, log: Option<&mut [u8]>| {
                let len = log.as_ref().map_or(0, |b| b.len());
                calls.push((level, len));
                let errno = if len >= REFUSAL_LOG_SIZE {
                    libc::ENOSPC
                } else {
                    libc::E2BIG
                };
                (Err(SysError::new("BPF_PROG_LOAD", errno)), 40 << 20)
            };
            let opts = ProgLoadOptions {
                log_level,
                ..Default::default()
            };
            let err = load_with_log("BPF_PROG_LOAD", "p", &opts, &mut attempt).unwrap_err();
            assert_eq!(err.error.errno, libc::E2BIG);
            assert!(err.log.truncated);
            assert_eq!(calls, [first, (log_level | 1, REFUSAL_LOG_SIZE)]);
        }
    }

    #[test]
    fn stops_growing_at_the_cap_and_says_truncated() {
        let mut sizes = Vec::new();
        let mut attempt = |_level: u32, log: Option<&mut [u8]>| {
            sizes.push(log.as_ref().map_or(0, |b| b.len()));
            (Err(SysError::new("BPF_BTF_LOAD", libc::ENOSPC)), 0)
        };
        let opts = ProgLoadOptions {
            log_level: 1,
            initial_log_size: 8, // raised to MIN_LOG_SIZE
            max_log_size: 512,
            ..Default::default()
        };
        let err = load_with_log("BPF_BTF_LOAD", "BTF", &opts, &mut attempt).unwrap_err();
        assert_eq!(sizes, vec![128, 256, 512]);
        assert!(err.log.truncated);
        assert_eq!(err.error.errno, libc::ENOSPC);
    }
}
