//! cgroup programs on a cgroup v2 directory: `cgroup_skb/ingress|egress`,
//! `cgroup/sock_create|sock_release|post_bind4|post_bind6`, `sockops`,
//! `cgroup/connect4|6|_unix`, `bind4|6`, `sendmsg4|6|_unix`, `recvmsg4|6|_unix`,
//! `getpeername4|6|_unix`, `getsockname4|6|_unix`, `getsockopt`, `setsockopt`, `sysctl`,
//! `dev` (libbpf's `section_defs`, parsed by `elf::section`). The program runs for the
//! processes of the cgroup and of its descendants: their packets, sockets, socket
//! addresses and options, device accesses or sysctl reads and writes, as its attach type
//! says; for most kinds, returning 0 refuses the operation (`EPERM`).
//!
//! Two ways, the first the kernel has:
//! - a BPF link (5.7): `BPF_LINK_CREATE` with `target_fd` the cgroup directory's fd and the
//!   program's attach type. The link fd holds the attachment; closing it detaches.
//! - `BPF_PROG_ATTACH` (4.10) with `BPF_F_ALLOW_MULTI` (4.15): the program runs beside the
//!   others attached with that flag; nothing holds it but the cgroup, so the [`Link`]
//!   keeps the cgroup and the program and detaches exactly this program with
//!   `BPF_PROG_DETACH` when dropped.
//!
//! The probe is the attempt itself, as cilium/ebpf's `link.AttachCgroup` makes it: a
//! kernel without cgroup links answers `BPF_LINK_CREATE` with `EINVAL` (its `link_create`
//! knows no such program type), and the attach then takes `BPF_PROG_ATTACH`;
//! [`AttachOptions::force_prog_attach`] takes it at once. libbpf's
//! `bpf_program__attach_cgroup` makes the link only (no fallback).
//!
//! ABI: `BPF_LINK_CREATE`, `BPF_PROG_ATTACH`, `BPF_PROG_DETACH`, `BPF_F_ALLOW_MULTI` and
//! the `BPF_CGROUP_*` attach types in `include/uapi/linux/bpf.h`; the semantics of multiple
//! programs and of the flags in `kernel/bpf/cgroup.c` (`__cgroup_bpf_attach`, the comment
//! above `compute_effective_progs`); each kind's context and return values in
//! `Documentation/bpf/prog_cgroup_sockopt.rst`, `prog_cgroup_sysctl.rst` and the
//! `bpf_sock_addr`, `bpf_sock`, `bpf_sock_ops`, `bpf_cgroup_dev_ctx` structs of
//! `bpf.h`; cgroup v2 itself in `Documentation/admin-guide/cgroup-v2.rst`. A directory is
//! told to be of cgroup v2 by `fstatfs(2)` (`CGROUP2_SUPER_MAGIC`,
//! `include/uapi/linux/magic.h`).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::prog_attach::ProgAttachGuard;
use super::{AttachError, AttachMethod, AttachOptions, Link, Probe, Via};
use crate::load::Program;
use crate::syscall::{self, SysError};
use crate::uapi::{AttachType, ProgramType};

/// Is `prog_type` a kind of program that attaches to a cgroup?
pub fn is_cgroup_program(prog_type: ProgramType) -> bool {
    matches!(
        prog_type,
        ProgramType::CgroupSkb
            | ProgramType::CgroupSock
            | ProgramType::CgroupSockAddr
            | ProgramType::SockOps
            | ProgramType::CgroupDevice
            | ProgramType::CgroupSysctl
            | ProgramType::CgroupSockopt
    )
}

/// Attaches a cgroup program to the cgroup v2 directory `cgroup` (a path in the cgroup2
/// mount, `/sys/fs/cgroup/unified/my-group`), as its section's attach type says: a BPF link
/// where the kernel has them (5.7), else `BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI`
/// ([`Link::method`] says which). Dropping the link detaches the program.
pub fn attach(prog: &Program, cgroup: &Path, opts: &AttachOptions) -> Result<Link, AttachError> {
    let target = format!("cgroup {} ({})", cgroup.display(), prog.section());
    let directory = std::fs::File::open(cgroup).map_err(|e| AttachError::NotACgroup {
        path: cgroup.display().to_string(),
        reason: e.to_string(),
    })?;
    check_cgroup2(directory.as_fd(), &cgroup.display().to_string())?;
    attach_checked(prog, directory.as_fd(), target, opts)
}

/// As [`attach`], for a cgroup directory already open (`fd`): the link keeps its own
/// duplicate where it needs one.
pub fn attach_fd(
    prog: &Program,
    cgroup: BorrowedFd<'_>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    use std::os::fd::AsRawFd;
    let name = format!("fd {}", cgroup.as_raw_fd());
    check_cgroup2(cgroup, &name)?;
    let target = format!("cgroup {name} ({})", prog.section());
    attach_checked(prog, cgroup, target, opts)
}

/// The attach type a cgroup program is attached with: the one its section gave it
/// (`cgroup/connect4`: `BPF_CGROUP_INET4_CONNECT`; a bare `cgroup/skb` has 0, which is
/// `BPF_CGROUP_INET_INGRESS`, as libbpf attaches it). A program of another kind is refused.
pub fn attach_type(prog: &Program) -> Result<AttachType, AttachError> {
    if !is_cgroup_program(prog.program_type()) {
        return Err(AttachError::Unsupported {
            program: prog.name().to_string(),
            target: format!(
                "a cgroup: its section {:?} is not a cgroup program's (cgroup_skb/..., \
                 cgroup/..., sockops)",
                prog.section()
            ),
        });
    }
    Ok(prog.expected_attach_type())
}

/// Refuses a file that is not a cgroup v2 directory (`fstatfs`): a cgroup v1 directory,
/// any other directory or file.
fn check_cgroup2(fd: BorrowedFd<'_>, name: &str) -> Result<(), AttachError> {
    let not = |reason: String| AttachError::NotACgroup {
        path: name.to_string(),
        reason,
    };
    match syscall::filesystem_magic(fd) {
        Ok(syscall::CGROUP2_SUPER_MAGIC) => Ok(()),
        Ok(syscall::CGROUP_SUPER_MAGIC) => Err(not(
            "a cgroup v1 directory: BPF programs attach to cgroup v2 directories only".into(),
        )),
        Ok(magic) => Err(not(format!(
            "not in a cgroup2 filesystem (its filesystem's magic is {magic:#x}; see \
             `mount -t cgroup2`)"
        ))),
        Err(e) => Err(not(e.to_string())),
    }
}

/// Attaches to a directory known to be a cgroup v2 one: the link, else `BPF_PROG_ATTACH`.
fn attach_checked(
    prog: &Program,
    cgroup: BorrowedFd<'_>,
    target: String,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let attach_type = attach_type(prog)?;
    let prog = prog.as_fd();
    if !opts.force_prog_attach {
        match syscall::link_create(prog, cgroup, attach_type, 0) {
            Ok(fd) => {
                return Ok(Link::of_bpf_link(method(Via::BpfLink), target, fd));
            }
            // Before 5.7 `link_create` knows no cgroup program: EINVAL.
            Err(e) if e.is_not_supported() => {}
            Err(error) => return Err(AttachError::Sys { target, error }),
        }
    }
    let guard = ProgAttachGuard::attach(cgroup, prog, attach_type, syscall::BPF_F_ALLOW_MULTI)
        .map_err(|error: SysError| AttachError::Sys {
            target: target.clone(),
            error,
        })?;
    Ok(Link::of_owned(method(Via::ProgAttach), target, guard))
}

fn method(via: Via) -> AttachMethod {
    AttachMethod {
        probe: Probe::Cgroup,
        via,
    }
}

#[cfg(test)]
mod tests {
    //! The way of attaching on the fake kernel (`syscall::fake`): the exact calls of the
    //! link, of the fallback to `BPF_PROG_ATTACH`, and of the detach. The cgroup is a real
    //! cgroup2 directory (only its fd is passed; the fake makes no attachment).
    use super::*;
    use crate::elf::ObjectSpec;
    use crate::load::{LoadOptions, Object};
    use crate::syscall::fake::FakeKernel;

    /// The first cgroup2 mount of `/proc/self/mountinfo`.
    fn cgroup2() -> Option<std::path::PathBuf> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        text.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount = left.split(' ').nth(4)?;
            right.starts_with("cgroup2 ").then(|| mount.into())
        })
    }

    fn loaded() -> (FakeKernel, Object) {
        let path = format!("{}/tests/fixtures/cgroup.bpf.o", env!("CARGO_MANIFEST_DIR"));
        let spec = ObjectSpec::parse(&std::fs::read(path).unwrap()).unwrap();
        let kernel = FakeKernel::install();
        let object = Object::load(&spec, &LoadOptions::default()).unwrap();
        kernel.take_calls();
        (kernel, object)
    }

    #[test]
    fn a_cgroup_program_is_linked_where_the_kernel_can_else_prog_attached_with_allow_multi() {
        let Some(mount) = cgroup2() else {
            eprintln!("skipped: no cgroup2 mount in /proc/self/mountinfo");
            return;
        };
        let (kernel, object) = loaded();
        let program = object.program("deny_port").unwrap();
        let link = attach(program, &mount, &AttachOptions::default()).unwrap();
        let create = format!(
            "BPF_LINK_CREATE deny_port -> {} attach_type=10",
            mount.display()
        );
        assert_eq!(kernel.take_calls(), std::slice::from_ref(&create));
        assert_eq!(link.method().via, Via::BpfLink);
        drop(link);
        assert_eq!(kernel.take_calls(), Vec::<String>::new());

        // Before 5.7: EINVAL, then BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI (2); the link
        // detaches exactly this program from exactly this cgroup (its own duplicates).
        kernel.refuse(|call| (call.op == "BPF_LINK_CREATE").then_some(libc::EINVAL));
        let link = attach(program, &mount, &AttachOptions::default()).unwrap();
        let attach_call = format!(
            "BPF_PROG_ATTACH deny_port -> {} attach_type=10 flags=2",
            mount.display()
        );
        assert_eq!(kernel.take_calls(), [create, attach_call]);
        assert_eq!(link.method().via, Via::ProgAttach);
        drop(object);
        link.detach().unwrap();
        assert_eq!(
            kernel.take_calls(),
            [format!(
                "BPF_PROG_DETACH deny_port -> {} attach_type=10 flags=0",
                mount.display()
            )]
        );
        assert_eq!(kernel.open_fds(), Vec::<String>::new());
    }

    #[test]
    fn forced_prog_attach_makes_no_link_and_a_refusal_leaves_nothing() {
        let Some(mount) = cgroup2() else {
            eprintln!("skipped: no cgroup2 mount in /proc/self/mountinfo");
            return;
        };
        let (kernel, object) = loaded();
        let program = object.program("count_egress").unwrap();
        let opts = AttachOptions {
            force_prog_attach: true,
            ..AttachOptions::default()
        };
        // cgroup_skb/egress: BPF_CGROUP_INET_EGRESS (1). A refusal other than "unknown"
        // is reported with the cgroup, and no fd is left open.
        kernel.refuse(|call| (call.op == "BPF_PROG_ATTACH").then_some(libc::EPERM));
        let error = attach(program, &mount, &opts).unwrap_err();
        assert_eq!(
            kernel.take_calls(),
            [format!(
                "BPF_PROG_ATTACH count_egress -> {} attach_type=1 flags=2",
                mount.display()
            )]
        );
        match &error {
            AttachError::Sys { target, error } => {
                assert_eq!(
                    target,
                    &format!("cgroup {} (cgroup_skb/egress)", mount.display())
                );
                assert_eq!((error.op, error.errno), ("BPF_PROG_ATTACH", libc::EPERM));
            }
            other => panic!("{other:?}"),
        }
        drop(object);
        assert_eq!(kernel.open_fds(), Vec::<String>::new());
    }
}
