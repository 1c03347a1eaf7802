//! A BPF link beyond the process that made it: pinned in a bpf filesystem, reopened by
//! path, its program swapped in place, detached for everyone at once.
//!
//! ABI: `BPF_OBJ_PIN` and `BPF_OBJ_GET` (4.4; links 5.7), `BPF_LINK_UPDATE` (5.7, with
//! `BPF_F_REPLACE` and `old_prog_fd`), `BPF_LINK_DETACH` (5.9) and `struct bpf_link_info`
//! (5.8) in `include/uapi/linux/bpf.h`; `Documentation/bpf/bpf_design_QA.rst` and the
//! commit that made links (`70ed506c3bbc`, "bpf: Introduce pinnable bpf_link
//! abstraction").
//!
//! Only a BPF link can outlive its process: it is a kernel object that holds the program
//! and what it is attached to (a perf event link holds the perf event's file). A
//! program bound with the perf ioctl, a tc filter added with rtnetlink, a socket filter,
//! a tracefs `kprobe_events` entry are undone by this process on drop, so they are
//! refused ([`AttachError::NotABpfLink`]).
//!
//! Which kinds of link the kernel can update or detach is the kernel's: cgroup, netns,
//! XDP, TCX, sockmap and iterator links take `BPF_LINK_UPDATE` (iterators since 5.9);
//! perf event, raw tracepoint and tracing links do not (`EINVAL`), nor do they take
//! `BPF_LINK_DETACH` (`EOPNOTSUPP`): those detach when their last fd and pin are gone.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::load::Program;
use crate::syscall::{self, SysError};

pub use crate::syscall::LinkInfo;

/// `enum bpf_link_type`'s names, by value (`BPF_LINK_TYPE_RAW_TRACEPOINT` is 1).
const LINK_TYPE_NAMES: &[&str] = &[
    "unspec",
    "raw_tracepoint",
    "tracing",
    "cgroup",
    "iter",
    "netns",
    "xdp",
    "perf_event",
    "kprobe_multi",
    "struct_ops",
    "netfilter",
    "tcx",
    "uprobe_multi",
    "netkit",
    "sockmap",
];

/// The name of `bpf_link_info.type` (`perf_event`), or its number.
pub(crate) fn link_type_name(link_type: u32) -> String {
    LINK_TYPE_NAMES
        .get(link_type as usize)
        .map_or_else(|| format!("type {link_type}"), |name| name.to_string())
}

/// Is an errno the kernel's "this kind of link has no such operation"? `EINVAL` from
/// `BPF_LINK_UPDATE` (no `update_prog`), `EOPNOTSUPP`/`ENOTSUPP` from `BPF_LINK_DETACH`
/// (no `detach`), and `EINVAL` from a kernel that does not know the command at all.
fn lacks_operation(error: &SysError) -> bool {
    error.errno == libc::EINVAL || error.is_not_supported()
}

fn c_path(path: &Path, op: &'static str) -> Result<CString, SysError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError::new(op, libc::EINVAL))
}

impl Link {
    /// The BPF link fd, if this link is one and holds nothing else this process must
    /// undo; else why not.
    fn bpf_link_only(
        &self,
        operation: &'static str,
    ) -> Result<std::os::fd::BorrowedFd<'_>, AttachError> {
        match &self.bpf_link {
            Some(fd) if self.kprobe.is_none() && self.owned.is_none() => Ok(fd.as_fd()),
            _ => Err(AttachError::NotABpfLink {
                link: self.target.clone(),
                method: self.method,
                operation,
            }),
        }
    }

    fn sys(&self, error: SysError) -> AttachError {
        AttachError::Sys {
            target: self.target.clone(),
            error,
        }
    }

    /// Pins the link at `path`, a new file in a bpf filesystem (5.7): the program stays
    /// attached after this `Link` is dropped and this process is gone, until the file is
    /// removed and no one holds the link open. [`Link::from_pin`] reopens it.
    pub fn pin(&self, path: &Path) -> Result<(), AttachError> {
        let fd = self.bpf_link_only("pin")?;
        let c_path = c_path(path, "BPF_OBJ_PIN").map_err(|e| self.sys(e))?;
        syscall::obj_pin(fd, &c_path).map_err(|e| self.sys(e))
    }

    /// Opens the link pinned at `path` (`BPF_OBJ_GET`): a [`Link`] whose method is
    /// [`Probe::Pinned`] and whose target names the kernel's link type and id
    /// (`pinned perf_event link 12 at /sys/fs/bpf/x`). Dropping it closes this fd only;
    /// the pin keeps the program attached. A pin of another kind of object is refused
    /// ([`AttachError::NotALinkPin`]).
    pub fn from_pin(path: &Path) -> Result<Link, AttachError> {
        let sys = |error| AttachError::Sys {
            target: format!("pinned link at {}", path.display()),
            error,
        };
        let fd = syscall::obj_get(&c_path(path, "BPF_OBJ_GET").map_err(sys)?).map_err(sys)?;
        match syscall::bpf_fd_kind(fd.as_fd()) {
            Some("link") => {}
            kind => {
                return Err(AttachError::NotALinkPin {
                    path: path.to_path_buf(),
                    kind: kind.unwrap_or("file that is no BPF object"),
                })
            }
        }
        let info = syscall::link_info(fd.as_fd()).map_err(sys)?;
        let target = format!(
            "pinned {} link {} at {}",
            link_type_name(info.link_type),
            info.id,
            path.display()
        );
        Ok(Link::of_bpf_link(
            AttachMethod {
                probe: Probe::Pinned,
                via: Via::BpfLink,
            },
            target,
            fd,
        ))
    }

    /// What the kernel says of the link (`bpf_link_info`, 5.8): its type, id, and the id
    /// of its program (0 once detached).
    pub fn info(&self) -> Result<LinkInfo, AttachError> {
        let fd = self.bpf_link_only("ask about")?;
        syscall::link_info(fd).map_err(|e| self.sys(e))
    }

    /// Swaps the link's program for `new` in place (`BPF_LINK_UPDATE`, 5.7): no moment
    /// without a program. With `old`, only if the link still runs that one
    /// (`BPF_F_REPLACE`; else the kernel's `EPERM`). Kinds of link the kernel cannot
    /// update (perf events, raw tracepoints, tracing) are
    /// [`AttachError::LinkOperationUnsupported`]; so is a program the link's kind cannot
    /// run (the kernel answers `EINVAL` to both).
    pub fn update(&self, new: &Program, old: Option<&Program>) -> Result<(), AttachError> {
        let fd = self.bpf_link_only("update")?;
        syscall::link_update(fd, new.as_fd(), old.map(|p| p.as_fd())).map_err(|error| {
            if lacks_operation(&error) {
                AttachError::LinkOperationUnsupported {
                    link: self.target.clone(),
                    operation: "BPF_LINK_UPDATE",
                    error,
                }
            } else {
                self.sys(error)
            }
        })
    }

    /// `BPF_LINK_DETACH` (5.9) of the BPF link, as the first step of [`Link::detach`]: the
    /// program is detached even while the link is pinned or open elsewhere. Kinds of link
    /// without it (perf events, raw tracepoints, tracing, iterators) and older kernels
    /// answer that they lack it: then closing the fd is all there is, which detaches the
    /// program once no pin or other fd holds the link.
    pub(super) fn detach_bpf_link(&mut self) -> Result<(), AttachError> {
        let Some(fd) = self.bpf_link.take() else {
            return Ok(());
        };
        let result = match syscall::link_detach(fd.as_fd()) {
            Ok(()) => Ok(()),
            Err(error) if lacks_operation(&error) => Ok(()),
            Err(error) => Err(self.sys(error)),
        };
        drop(fd);
        result
    }
}
