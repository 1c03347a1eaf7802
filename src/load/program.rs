//! A program in the kernel: what relocation made of it, what the verifier said, what the
//! kernel knows of it. Attaching it is [`crate::attach`]'s: each way of attaching takes a
//! loaded `&Program`.
//!
//! ABI: `BPF_PROG_LOAD`, `BPF_OBJ_GET_INFO_BY_FD` (`struct bpf_prog_info`),
//! `BPF_OBJ_PIN`/`BPF_OBJ_GET` and `BPF_PROG_TEST_RUN` (its `test` struct) in
//! `include/uapi/linux/bpf.h` (`Documentation/bpf/bpf_prog_run.rst` for the test runs); the verifier's statistics line is printed by
//! `print_verification_stats` in `kernel/bpf/verifier.c` (log level 4, `BPF_LOG_STATS`).

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::LoadError;
use crate::elf::{AttachTarget, RelocatedProgram};
use crate::insn::Insn;
use crate::syscall::{self, ProgLoadOptions, ProgLoadRequest, SysError};
use crate::uapi::ProgramType;

pub use crate::syscall::{BtfInfoOutcome, ProgramInfo, VerifierError, VerifierLog};

/// The verifier's statistics for one load (asked for with `BPF_LOG_STATS`):
/// `processed 29 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2
/// mark_read 1`, and `verification time 37 usec` (5.2+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifierStats {
    /// Instructions the verifier walked, counting each path through them.
    pub insns_processed: u64,
    /// Verifier states kept, in all.
    pub total_states: u64,
    /// The most states kept at once.
    pub peak_states: u64,
    /// The most states at one instruction.
    pub max_states_per_insn: u64,
    /// How long verification took, in microseconds, where the kernel says.
    pub verification_time_usec: Option<u64>,
    /// The `processed ...` line as the kernel wrote it.
    pub line: String,
}

impl VerifierStats {
    /// Reads the statistics out of a verifier log; `None` when it has no `processed` line.
    pub fn parse(log: &str) -> Option<VerifierStats> {
        let line = log
            .lines()
            .rev()
            .find(|line| line.starts_with("processed "))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |name: &str| {
            words
                .iter()
                .position(|w| *w == name)
                .and_then(|i| words.get(i + 1))
                .and_then(|w| w.parse::<u64>().ok())
        };
        let time = log.lines().rev().find_map(|line| {
            line.strip_prefix("verification time ")?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        });
        Some(VerifierStats {
            insns_processed: after("processed")?,
            total_states: after("total_states").unwrap_or(0),
            peak_states: after("peak_states").unwrap_or(0),
            max_states_per_insn: after("max_states_per_insn").unwrap_or(0),
            verification_time_usec: time,
            line: line.to_string(),
        })
    }
}

impl fmt::Display for VerifierStats {
    /// The kernel's own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// A program in the kernel. Dropping it closes its fd; the kernel frees the program when
/// no link or fd holds it any more.
#[derive(Debug)]
pub struct Program {
    name: String,
    section: String,
    program_type: ProgramType,
    expected_attach_type: crate::uapi::AttachType,
    attach_target: AttachTarget,
    fd: OwnedFd,
    relocated: RelocatedProgram,
    btf_info: BtfInfoOutcome,
    verifier_stats: Option<VerifierStats>,
    attach_btf: Option<AttachBtf>,
}

/// Where a BTF-typed program's target (fentry, fexit, fmod_ret, tp_btf, lsm, iter) was
/// found: its name and id, in vmlinux's BTF or in a module's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachBtf {
    /// What was looked up (`tcp_connect`, `btf_trace_sched_switch`, `bpf_lsm_file_open`).
    pub name: String,
    /// Its type id (`attach_btf_id`), in vmlinux's BTF or, for a module's target, in the
    /// module's split BTF.
    pub type_id: u32,
    /// The module whose BTF has it; `None`: vmlinux.
    pub module: Option<BtfModule>,
}

/// A kernel module's BTF object, as the load step found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfModule {
    /// The module's name (`dummy`).
    pub name: String,
    /// The BTF object's kernel-wide id (`bpf_prog_info.attach_btf_obj_id` names it).
    pub btf_obj_id: u32,
}

/// How to load one program.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProgramLoad<'a> {
    pub license: &'a str,
    pub kernel_version: u32,
    pub btf: Option<BorrowedFd<'a>>,
    pub verifier_stats: bool,
    /// `fd_array`: the module BTFs the kfunc calls' `off` index (empty: none).
    pub fd_array: &'a [i32],
}

/// What a program's section says the kernel must be told at load: its expected attach
/// type, flags, and for BTF-typed programs the target's id in the kernel's BTF (and the
/// module BTF's fd, for a module's target).
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadTarget<'a> {
    pub expected_attach_type: crate::uapi::AttachType,
    pub prog_flags: u32,
    pub attach_btf: Option<AttachBtf>,
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
}

impl Program {
    /// Loads relocated instructions: the last step of [`super::Object::load`].
    pub(crate) fn load(
        section: &str,
        program_type: ProgramType,
        attach_target: AttachTarget,
        target: LoadTarget<'_>,
        relocated: RelocatedProgram,
        how: &ProgramLoad<'_>,
    ) -> Result<Program, LoadError> {
        let mut request = ProgLoadRequest::new(
            &relocated.name,
            program_type.as_u32(),
            &relocated.insns,
            how.license,
        );
        request.kern_version = how.kernel_version;
        request.expected_attach_type = target.expected_attach_type.0;
        request.prog_flags = target.prog_flags;
        request.attach_btf_id = target.attach_btf.as_ref().map_or(0, |t| t.type_id);
        request.attach_btf_obj_fd = target.attach_btf_obj_fd;
        request.fd_array = how.fd_array;
        if let Some(btf) = how.btf {
            request.prog_btf_fd = Some(btf);
            request.func_info = &relocated.func_info;
            request.line_info = &relocated.line_info;
        }
        let options = ProgLoadOptions {
            log_level: if how.verifier_stats { 4 } else { 0 },
            ..ProgLoadOptions::default()
        };
        let (attach_btf_id, in_module) =
            (request.attach_btf_id, request.attach_btf_obj_fd.is_some());
        let loaded = syscall::load_program(&request, &options).map_err(|error| {
            if let Some(memlock) = crate::features::memlock::explain_eperm(&error.error) {
                return LoadError::Memlock {
                    object: format!("program {}", relocated.name),
                    error: memlock,
                };
            }
            // An EPERM to root: the probes say what it really is.
            match crate::features::refusal::explain_prog_load(
                &error.error,
                program_type,
                target.expected_attach_type.0,
                attach_btf_id,
                in_module,
            ) {
                Some(refusal) => LoadError::Refused {
                    refusal,
                    error: Box::new(error),
                },
                None => super::explain_rejection(&relocated, error),
            }
        })?;
        let verifier_stats = loaded
            .log
            .as_ref()
            .and_then(|log| VerifierStats::parse(&log.text));
        Ok(Program {
            name: relocated.name.clone(),
            section: section.to_string(),
            program_type,
            expected_attach_type: target.expected_attach_type,
            attach_target,
            fd: loaded.fd,
            relocated,
            btf_info: loaded.btf_info,
            verifier_stats,
            attach_btf: target.attach_btf,
        })
    }

    /// Loads a program written by hand, instruction by instruction, rather than read from
    /// an object: no maps to relocate (map fds are already in `insns`), no BTF.
    pub fn load_instructions(
        name: &str,
        program_type: ProgramType,
        insns: &[Insn],
        license: &str,
    ) -> Result<Program, LoadError> {
        let relocated = RelocatedProgram {
            name: name.to_string(),
            insns: insns.to_vec(),
            layout: vec![(name.to_string(), 0)],
            ..RelocatedProgram::default()
        };
        // Before 5.11 the program is charged to RLIMIT_MEMLOCK: raised first, as
        // Object::load does.
        crate::features::memlock::ensure();
        let how = ProgramLoad {
            license,
            ..ProgramLoad::default()
        };
        Program::load(
            "",
            program_type,
            AttachTarget::None,
            LoadTarget::default(),
            relocated,
            &how,
        )
    }

    /// For a BTF-typed program, where its target was found (vmlinux or a module's BTF).
    pub fn attach_btf(&self) -> Option<&AttachBtf> {
        self.attach_btf.as_ref()
    }

    /// The function's name in the object (`tcp_connect`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The section it came from (`kprobe/tcp_connect`); empty for a hand-written program.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// `enum bpf_prog_type`.
    pub fn program_type(&self) -> ProgramType {
        self.program_type
    }

    /// Where its section name says it attaches.
    pub fn attach_target(&self) -> &AttachTarget {
        &self.attach_target
    }

    /// The instructions as loaded, and what relocation did to them, site by site.
    pub fn relocated(&self) -> &RelocatedProgram {
        &self.relocated
    }

    /// Whether the kernel took the func_info/line_info.
    pub fn btf_info(&self) -> &BtfInfoOutcome {
        &self.btf_info
    }

    /// The verifier's statistics, when [`super::LoadOptions::verifier_stats`] asked for them.
    pub fn verifier_stats(&self) -> Option<&VerifierStats> {
        self.verifier_stats.as_ref()
    }

    /// What the kernel says about the program (`BPF_OBJ_GET_INFO_BY_FD`): its id (for
    /// `bpftool prog show id N`), tag, sizes, `verified_insns`.
    pub fn info(&self) -> Result<ProgramInfo, SysError> {
        syscall::prog_info(self.fd.as_fd())
    }

    /// Runs the program once on `data` in the kernel (`BPF_PROG_TEST_RUN`: XDP, socket
    /// filter and TC programs, on a packet of at least an Ethernet header for XDP) and
    /// returns its return value: a program tried without attaching it anywhere.
    pub fn test_run(&self, data: &[u8]) -> Result<u32, SysError> {
        syscall::prog_test_run(self.fd.as_fd(), data)
    }

    /// `expected_attach_type` as the program was loaded with it (`BPF_TCX_EGRESS` for
    /// `SEC("tc/egress")`); `BPF_ATTACH_TYPE` 0 for a program reopened from a pin (the
    /// kernel's `bpf_prog_info` does not tell it).
    pub fn expected_attach_type(&self) -> crate::uapi::AttachType {
        self.expected_attach_type
    }

    /// Runs the program in the kernel on a test input, with everything
    /// `BPF_PROG_TEST_RUN` takes and gives: the packet and context in, the packet and
    /// context as the program left them, a repeat count and the mean time per run,
    /// a CPU, XDP's live frames. Which inputs a type takes is the kernel's
    /// (`Documentation/bpf/bpf_prog_run.rst`): XDP, tc and socket filters a packet (and
    /// since 5.10 for XDP, an `xdp_md` context), raw tracepoints a context of arguments
    /// and a CPU, `syscall` programs a context only.
    pub fn test_run_with(&self, run: &TestRun<'_>) -> Result<TestRunResult, ProgramError> {
        let mut data_out = vec![0u8; run.data_out_size.unwrap_or(run.data.len())];
        let mut context_out = vec![0u8; run.context_out_size.unwrap_or(run.context.len())];
        let mut flags = 0;
        if run.cpu.is_some() {
            flags |= syscall::BPF_F_TEST_RUN_ON_CPU;
        }
        if run.xdp_live_frames {
            flags |= syscall::BPF_F_TEST_XDP_LIVE_FRAMES;
        }
        let buffers = syscall::TestRunBuffers {
            data_in: run.data,
            data_out: &mut data_out,
            ctx_in: run.context,
            ctx_out: &mut context_out,
            repeat: run.repeat,
            flags,
            cpu: run.cpu.unwrap_or(0),
            batch_size: run.batch_size,
        };
        let outcome = syscall::prog_test_run_opts(self.fd.as_fd(), buffers).map_err(|error| {
            ProgramError::Sys {
                program: self.name.clone(),
                path: None,
                error,
            }
        })?;
        data_out.truncate(outcome.data_size_out as usize);
        context_out.truncate(outcome.ctx_size_out as usize);
        Ok(TestRunResult {
            retval: outcome.retval,
            duration: std::time::Duration::from_nanos(u64::from(outcome.duration_ns)),
            data: data_out,
            context: context_out,
        })
    }

    /// Pins the program at `path`, a new file in a bpf filesystem (4.4): it then outlives
    /// this process until the file is removed, and [`Program::from_pin`] reopens it.
    pub fn pin(&self, path: &Path) -> Result<(), ProgramError> {
        let sys = |error| ProgramError::Sys {
            program: self.name.clone(),
            path: Some(path.to_path_buf()),
            error,
        };
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| sys(SysError::new("BPF_OBJ_PIN", libc::EINVAL)))?;
        syscall::obj_pin(self.fd.as_fd(), &c_path).map_err(sys)
    }

    /// Opens the program pinned at `path` (`BPF_OBJ_GET`), its type and name read from
    /// the kernel (`bpf_prog_info`). What this process never had is not there: no
    /// section, no relocation record, no verifier statistics, no expected attach type.
    /// A pin that is not a program (a map, a link) is refused
    /// ([`ProgramError::NotAProgram`]).
    pub fn from_pin(path: &Path) -> Result<Program, ProgramError> {
        let sys = |error| ProgramError::Sys {
            program: String::new(),
            path: Some(path.to_path_buf()),
            error,
        };
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| sys(SysError::new("BPF_OBJ_GET", libc::EINVAL)))?;
        let fd = syscall::obj_get(&c_path).map_err(sys)?;
        match syscall::bpf_fd_kind(fd.as_fd()) {
            Some("prog") => {}
            kind => {
                return Err(ProgramError::NotAProgram {
                    path: path.to_path_buf(),
                    kind: kind.unwrap_or("not a BPF object"),
                })
            }
        }
        let info = syscall::prog_info(fd.as_fd()).map_err(sys)?;
        let program_type =
            ProgramType::from_u32(info.prog_type).ok_or(ProgramError::UnknownType {
                path: path.to_path_buf(),
                prog_type: info.prog_type,
            })?;
        Ok(Program {
            name: info.name.clone(),
            section: String::new(),
            program_type,
            expected_attach_type: crate::uapi::AttachType::NONE,
            attach_target: AttachTarget::None,
            fd,
            relocated: RelocatedProgram {
                name: info.name,
                ..RelocatedProgram::default()
            },
            btf_info: BtfInfoOutcome::NotGiven,
            verifier_stats: None,
            attach_btf: None,
        })
    }
}

/// The inputs of [`Program::test_run_with`]; `TestRun { data: &packet,
/// ..Default::default() }` is one run on a packet.
#[derive(Debug, Clone, Default)]
pub struct TestRun<'a> {
    /// The packet (XDP, tc, socket filter); empty for types that take none.
    pub data: &'a [u8],
    /// Room for the packet out (`data_size_out`); `None`: as long as `data`. `Some(0)`:
    /// not read back. A packet the program made longer than this is the kernel's
    /// `ENOSPC`.
    pub data_out_size: Option<usize>,
    /// The context (`struct xdp_md`, `struct __sk_buff`, a raw tracepoint's `u64`
    /// arguments); empty: the kernel makes one.
    pub context: &'a [u8],
    /// Room for the context out; `None`: as long as `context`.
    pub context_out_size: Option<usize>,
    /// How many times to run (0 and 1: once); the duration is the mean.
    pub repeat: u32,
    /// The CPU to run on (`BPF_F_TEST_RUN_ON_CPU`, 5.10; raw tracepoints only).
    pub cpu: Option<u32>,
    /// XDP: send the frames the program returns `XDP_TX`/`XDP_REDIRECT` for, for real
    /// (`BPF_F_TEST_XDP_LIVE_FRAMES`, 5.18; nothing is read back).
    pub xdp_live_frames: bool,
    /// With live frames: frames per batch (0: the kernel's default, 64).
    pub batch_size: u32,
}

/// What [`Program::test_run_with`] gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value (`XDP_PASS`, a tc action, a filter's byte count).
    pub retval: u32,
    /// The mean time of one run, as the kernel measured it (nanoseconds).
    pub duration: std::time::Duration,
    /// The packet as the program left it (as much as there was room for).
    pub data: Vec<u8>,
    /// The context as the program left it.
    pub context: Vec<u8>,
}

/// A program operation refused: pinning, reopening a pin, a test run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramError {
    /// The system call failed.
    Sys {
        /// The program's name (empty when reopening a pin).
        program: String,
        /// The pin's path, for pinning and reopening.
        path: Option<PathBuf>,
        /// What the kernel answered.
        error: SysError,
    },
    /// The object pinned at the path is not a program.
    NotAProgram {
        /// The pin.
        path: PathBuf,
        /// What it is (`map`, `link`).
        kind: &'static str,
    },
    /// A program of a type this loader does not know (a newer kernel's).
    UnknownType {
        /// The pin.
        path: PathBuf,
        /// `bpf_prog_info.prog_type`.
        prog_type: u32,
    },
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramError::Sys {
                program,
                path: Some(path),
                ..
            } if program.is_empty() => write!(f, "program pinned at {}", path.display()),
            ProgramError::Sys {
                program,
                path: Some(path),
                ..
            } => write!(f, "program {program}, pin {}", path.display()),
            ProgramError::Sys { program, .. } => write!(f, "program {program}"),
            ProgramError::NotAProgram { path, kind } => {
                write!(f, "{} holds a {kind}, not a program", path.display())
            }
            ProgramError::UnknownType { path, prog_type } => write!(
                f,
                "program pinned at {} is of type {prog_type}, which this loader does not know",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ProgramError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProgramError::Sys { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl AsFd for Program {
    /// The program's fd, for what this API does not cover (it stays owned by the
    /// `Program`).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What the kernel says about the program with kernel-wide id `id`, or `None` when there
/// is no such program (any more). For checks that a program is gone once its last fd and
/// link are closed.
pub fn program_info_by_id(id: u32) -> Result<Option<ProgramInfo>, SysError> {
    match syscall::prog_get_fd_by_id(id) {
        Ok(fd) => syscall::prog_info(fd.as_fd()).map(Some),
        Err(error) if error.errno == libc::ENOENT => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_statistics_are_read_from_the_log() {
        let log = "func#0 @0\nverification time 37 usec\nstack depth 8+0\n\
                   processed 29 insns (limit 1000000) max_states_per_insn 1 total_states 3 \
                   peak_states 2 mark_read 1\n";
        let stats = VerifierStats::parse(log).unwrap();
        assert_eq!(stats.insns_processed, 29);
        assert_eq!(stats.max_states_per_insn, 1);
        assert_eq!(stats.total_states, 3);
        assert_eq!(stats.peak_states, 2);
        assert_eq!(stats.verification_time_usec, Some(37));
        assert!(stats.to_string().starts_with("processed 29 insns"));
        assert_eq!(VerifierStats::parse("0: (b7) r0 = 0\n"), None);
    }
}
