//! Iterators: an `iter/...` program (`iter/task`, `iter/bpf_map_elem`, `iter/cgroup`) as an
//! iterator link, which runs the program over the kernel's objects each time it is read
//! ([`Link::read_iter`]). Some targets take a parameter that says which objects: the map
//! whose elements to walk, one thread or one process, a cgroup and the order of the walk.
//!
//! | target | parameter ([`IterParams`]) | since |
//! |---|---|---|
//! | `bpf_map_elem`, `bpf_sk_storage_map`, `sockmap` | a map, required ([`IterParams::Map`]) | 5.9 (`sockmap` 5.10) |
//! | `task`, `task_file`, `task_vma` | one thread or one process, optional ([`IterParams::Task`]) | 6.1 |
//! | `cgroup` | a cgroup and a walk order, required ([`IterParams::Cgroup`]) | 6.1 |
//! | every other (`bpf_map`, `bpf_prog`, `tcp`, `ksym`, ...) | none ([`IterParams::None`]) | 5.8 |
//!
//! A parameter the kernel does not know is refused before any system call
//! ([`IterParamProblem::KernelLacks`]), decided by the members of the kernel's
//! `union bpf_iter_link_info` ([`crate::features::iter`]), never by its version: a kernel
//! would otherwise walk every task of the system for a task iterator given one thread
//! (5.10 does, silently). A parameter the target does not take, or a required one left
//! out, is refused the same way: the kernel would read a map's fd as a thread id.
//!
//! ABI: `BPF_LINK_CREATE` with `BPF_TRACE_ITER` (5.8) and `link_create.iter_info` (5.9),
//! then `BPF_ITER_CREATE` (`include/uapi/linux/bpf.h`, `Documentation/bpf/bpf_iterators.rst`;
//! the attribute's layout is in `src/syscall/iter.rs`).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::{AttachError, AttachMethod, Link, Probe, Via};
use crate::elf::AttachTarget;
use crate::features::iter::IterParamSupport;
use crate::load::{Map, Program};
use crate::syscall::{self, IterLinkInfo};

/// What an iterator walks, given at attach time. The kernel version each needs is the
/// one of its member of `union bpf_iter_link_info`.
#[derive(Debug, Clone, Copy)]
pub enum IterParams<'a> {
    /// No parameter: every object of the target's kind (every task, every map, ...).
    None,
    /// The map whose elements `iter/bpf_map_elem` walks (5.9; `iter/bpf_sk_storage_map`
    /// 5.9, `iter/sockmap` 5.10): `map.map_fd`. The map's key and value must be as large
    /// as what the program reads of them (the kernel checks, `EACCES`).
    Map(&'a Map),
    /// The tasks `iter/task`, `iter/task_file` and `iter/task_vma` walk (6.1): `task`.
    Task(TaskScope<'a>),
    /// Where `iter/cgroup` starts and how it walks (6.1): `cgroup`.
    Cgroup {
        /// The cgroup the walk starts at.
        start: CgroupStart<'a>,
        /// The walk.
        order: CgroupOrder,
    },
}

/// One thread or one process, for the task iterators (6.1).
#[derive(Debug, Clone, Copy)]
pub enum TaskScope<'a> {
    /// Only the thread of this tid (`task.tid`).
    Thread(u32),
    /// Every thread of the process of this pid (`task.pid`); for `task_file` and
    /// `task_vma`, each thread that does not share its files or memory with its leader.
    Process(u32),
    /// As [`TaskScope::Process`], for the process a pidfd refers to (`task.pid_fd`;
    /// `pidfd_open(2)`, 5.3): no pid that could be reused.
    ProcessFd(BorrowedFd<'a>),
}

/// The cgroup an `iter/cgroup` walk starts at (6.1).
#[derive(Debug, Clone, Copy)]
pub enum CgroupStart<'a> {
    /// The root of the cgroup v2 hierarchy (`cgroup_fd` and `cgroup_id` both 0).
    Root,
    /// An open cgroup directory (`cgroup.cgroup_fd`). Not fd 0, which the kernel takes
    /// for "none", and would start at the root.
    Fd(BorrowedFd<'a>),
    /// The cgroup of this id (`cgroup.cgroup_id`): its directory's inode number in the
    /// cgroup2 filesystem.
    Id(u64),
}

/// How `iter/cgroup` walks from its start (`enum bpf_cgroup_iter_order`, 6.1; the kernel
/// refuses `BPF_CGROUP_ITER_ORDER_UNSPEC`, so there is no default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupOrder {
    /// The start cgroup only (`BPF_CGROUP_ITER_SELF_ONLY`).
    SelfOnly,
    /// The start and its descendants, each before its children
    /// (`BPF_CGROUP_ITER_DESCENDANTS_PRE`).
    DescendantsPre,
    /// The start and its descendants, each after its children
    /// (`BPF_CGROUP_ITER_DESCENDANTS_POST`).
    DescendantsPost,
    /// The start and its ancestors up to the root (`BPF_CGROUP_ITER_ANCESTORS_UP`).
    AncestorsUp,
}

impl CgroupOrder {
    /// The `enum bpf_cgroup_iter_order` value.
    pub fn as_u32(self) -> u32 {
        match self {
            CgroupOrder::SelfOnly => 1,
            CgroupOrder::DescendantsPre => 2,
            CgroupOrder::DescendantsPost => 3,
            CgroupOrder::AncestorsUp => 4,
        }
    }

    /// Every order, by its name.
    pub const ALL: [(&'static str, CgroupOrder); 4] = [
        ("self", CgroupOrder::SelfOnly),
        ("pre", CgroupOrder::DescendantsPre),
        ("post", CgroupOrder::DescendantsPost),
        ("up", CgroupOrder::AncestorsUp),
    ];
}

impl fmt::Display for CgroupOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupOrder::SelfOnly => "self only",
            CgroupOrder::DescendantsPre => "descendants, pre-order",
            CgroupOrder::DescendantsPost => "descendants, post-order",
            CgroupOrder::AncestorsUp => "ancestors, upward",
        })
    }
}

impl std::str::FromStr for CgroupOrder {
    type Err = String;

    /// `self`, `pre`, `post` or `up`.
    fn from_str(s: &str) -> Result<CgroupOrder, String> {
        CgroupOrder::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|&(_, order)| order)
            .ok_or_else(|| format!("{s:?} is not a cgroup walk order (self, pre, post or up)"))
    }
}

/// The kinds of parameter, as `union bpf_iter_link_info` names its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `map` (5.9).
    Map,
    /// `task` (6.1).
    Task,
    /// `cgroup` (6.1).
    Cgroup,
}

impl ParamKind {
    /// The member's name.
    pub fn member(self) -> &'static str {
        match self {
            ParamKind::Map => "map",
            ParamKind::Task => "task",
            ParamKind::Cgroup => "cgroup",
        }
    }

    /// What it gives, and the kernel that added it.
    fn what(self) -> &'static str {
        match self {
            ParamKind::Map => "a map (IterParams::Map; 5.9)",
            ParamKind::Task => "a thread or process (IterParams::Task; 6.1)",
            ParamKind::Cgroup => "a cgroup and a walk order (IterParams::Cgroup; 6.1)",
        }
    }
}

impl IterParams<'_> {
    /// The member of `union bpf_iter_link_info` this fills, if any.
    pub fn kind(&self) -> Option<ParamKind> {
        match self {
            IterParams::None => None,
            IterParams::Map(_) => Some(ParamKind::Map),
            IterParams::Task(_) => Some(ParamKind::Task),
            IterParams::Cgroup { .. } => Some(ParamKind::Cgroup),
        }
    }
}

/// The parameter iterator target `target` takes (`bpf_map_elem`), and whether it must
/// be given; `None` for a target that takes none (or one this loader does not know).
pub fn target_param(target: &str) -> Option<(ParamKind, bool)> {
    match target {
        "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap" => Some((ParamKind::Map, true)),
        "task" | "task_file" | "task_vma" => Some((ParamKind::Task, false)),
        "cgroup" => Some((ParamKind::Cgroup, true)),
        _ => None,
    }
}

/// Why an iterator's parameter was refused, before any system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IterParamProblem {
    /// The target needs a parameter and none was given.
    Needed {
        /// What it needs.
        needs: ParamKind,
    },
    /// The target takes no parameter of this kind (the kernel would read it as another,
    /// or ignore it).
    NotTaken {
        /// What was given.
        given: ParamKind,
        /// What the target takes, if anything.
        takes: Option<ParamKind>,
    },
    /// The running kernel's `union bpf_iter_link_info` has no such member: it would
    /// refuse the parameter, or ignore it and walk every object.
    KernelLacks {
        /// The parameter.
        param: ParamKind,
    },
}

impl fmt::Display for IterParamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IterParamProblem::Needed { needs } => write!(f, "it needs {}", needs.what()),
            IterParamProblem::NotTaken { given, takes } => {
                write!(f, "it takes no {} parameter", given.member())?;
                match takes {
                    Some(takes) => write!(f, " (it takes {})", takes.what()),
                    None => write!(f, " (it takes none)"),
                }
            }
            IterParamProblem::KernelLacks { param } => write!(
                f,
                "this kernel's iterators take no {} parameter (its union bpf_iter_link_info \
                 has no member {:?}; {} needs a newer kernel)",
                param.member(),
                param.member(),
                param.what()
            ),
        }
    }
}

/// Attaches an iterator program (`iter/task`, ...) as an iterator link (5.8), over every
/// object of its kind; each [`Link::read_iter`] runs it. A target that needs a parameter
/// (`iter/bpf_map_elem`, `iter/cgroup`) is refused: see [`attach_with`].
pub fn attach(prog: &Program) -> Result<Link, AttachError> {
    attach_with(prog, &IterParams::None)
}

/// Attaches an iterator program with a parameter ([`IterParams`]): checked against what
/// its target takes, then against what the running kernel's iterators take
/// ([`crate::features::iter::iter_params`]), then linked (`BPF_LINK_CREATE` with
/// `iter_info`). Each [`Link::read_iter`] runs the program over what the parameter names.
pub fn attach_with(prog: &Program, params: &IterParams<'_>) -> Result<Link, AttachError> {
    let target = target_name(prog);
    let refused = |problem| AttachError::IterParams {
        program: prog.name().to_string(),
        target: target.clone(),
        problem,
    };
    check_fits(&target, params).map_err(refused)?;
    if let Some(kind) = params.kind() {
        check_kernel(kind, crate::features::iter::iter_params()).map_err(refused)?;
    }
    let info = link_info(params);
    let described = format!("iter {target}{}", describe(params));
    let fd = syscall::link_create_iter(prog.as_fd(), info.as_ref()).map_err(|error| {
        AttachError::Sys {
            target: described.clone(),
            error,
        }
    })?;
    Ok(Link::of_bpf_link(
        AttachMethod {
            probe: Probe::Iterator,
            via: Via::BpfLink,
        },
        described,
        fd,
    ))
}

/// The program's iterator target: `task` for `iter/task`.
fn target_name(prog: &Program) -> String {
    match prog.attach_target() {
        AttachTarget::BtfFunction { name } => name.clone(),
        other => other.to_string(),
    }
}

/// Does `target` take `params`? A required parameter must be given, and a given one must
/// be of the target's kind.
pub fn check_fits(target: &str, params: &IterParams<'_>) -> Result<(), IterParamProblem> {
    let takes = target_param(target);
    match (params.kind(), takes) {
        (None, Some((needs, true))) => Err(IterParamProblem::Needed { needs }),
        (None, _) => Ok(()),
        (Some(given), Some((kind, _))) if given == kind => Ok(()),
        (Some(given), takes) => Err(IterParamProblem::NotTaken {
            given,
            takes: takes.map(|(kind, _)| kind),
        }),
    }
}

/// Does a kernel whose iterators take `support` know parameter `kind`?
pub fn check_kernel(kind: ParamKind, support: IterParamSupport) -> Result<(), IterParamProblem> {
    let known = match kind {
        ParamKind::Map => support.map,
        ParamKind::Task => support.task,
        ParamKind::Cgroup => support.cgroup,
    };
    if known {
        Ok(())
    } else {
        Err(IterParamProblem::KernelLacks { param: kind })
    }
}

/// The `union bpf_iter_link_info` of `params`, `None` for no parameter.
fn link_info(params: &IterParams<'_>) -> Option<IterLinkInfo> {
    let fd = |fd: BorrowedFd<'_>| fd.as_raw_fd() as u32;
    Some(match params {
        IterParams::None => return None,
        IterParams::Map(map) => IterLinkInfo::map(map.as_fd()),
        IterParams::Task(TaskScope::Thread(tid)) => IterLinkInfo::task(*tid, 0, 0),
        IterParams::Task(TaskScope::Process(pid)) => IterLinkInfo::task(0, *pid, 0),
        IterParams::Task(TaskScope::ProcessFd(pidfd)) => IterLinkInfo::task(0, 0, fd(*pidfd)),
        IterParams::Cgroup { start, order } => {
            let (cgroup_fd, cgroup_id) = match start {
                CgroupStart::Root => (0, 0),
                CgroupStart::Fd(cgroup) => (fd(*cgroup), 0),
                CgroupStart::Id(id) => (0, *id),
            };
            IterLinkInfo::cgroup(order.as_u32(), cgroup_fd, cgroup_id)
        }
    })
}

/// The parameter as the link's target says it: ` (map elems)`, ` (pid 1234)`.
fn describe(params: &IterParams<'_>) -> String {
    match params {
        IterParams::None => String::new(),
        IterParams::Map(map) => format!(" (map {})", map.name()),
        IterParams::Task(TaskScope::Thread(tid)) => format!(" (tid {tid})"),
        IterParams::Task(TaskScope::Process(pid)) => format!(" (pid {pid})"),
        IterParams::Task(TaskScope::ProcessFd(pidfd)) => {
            format!(" (pidfd {})", pidfd.as_raw_fd())
        }
        IterParams::Cgroup { start, order } => match start {
            CgroupStart::Root => format!(" (the root cgroup, {order})"),
            CgroupStart::Fd(fd) => format!(" (cgroup fd {}, {order})", fd.as_raw_fd()),
            CgroupStart::Id(id) => format!(" (cgroup id {id}, {order})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::ObjectSpec;
    use crate::load::{LoadOptions, Object};
    use crate::syscall::fake::FakeKernel;

    const NEW: IterParamSupport = IterParamSupport {
        map: true,
        task: true,
        cgroup: true,
    };
    /// 5.9 to 6.0: `union bpf_iter_link_info` has `map` alone.
    const MAP_ONLY: IterParamSupport = IterParamSupport {
        map: true,
        task: false,
        cgroup: false,
    };

    #[test]
    fn each_target_takes_its_own_parameter_and_no_other() {
        let task = IterParams::Task(TaskScope::Process(1));
        let cgroup = IterParams::Cgroup {
            start: CgroupStart::Root,
            order: CgroupOrder::SelfOnly,
        };
        assert_eq!(check_fits("task", &IterParams::None), Ok(()));
        assert_eq!(check_fits("task_vma", &task), Ok(()));
        assert_eq!(check_fits("cgroup", &cgroup), Ok(()));
        assert_eq!(
            check_fits("bpf_map_elem", &IterParams::None),
            Err(IterParamProblem::Needed {
                needs: ParamKind::Map
            })
        );
        assert_eq!(
            check_fits("cgroup", &IterParams::None),
            Err(IterParamProblem::Needed {
                needs: ParamKind::Cgroup
            })
        );
        assert_eq!(
            check_fits("bpf_sk_storage_map", &task),
            Err(IterParamProblem::NotTaken {
                given: ParamKind::Task,
                takes: Some(ParamKind::Map)
            })
        );
        assert_eq!(
            check_fits("bpf_map", &cgroup),
            Err(IterParamProblem::NotTaken {
                given: ParamKind::Cgroup,
                takes: None
            })
        );
    }

    #[test]
    fn a_parameter_the_kernels_union_lacks_is_refused() {
        assert_eq!(check_kernel(ParamKind::Map, MAP_ONLY), Ok(()));
        assert_eq!(check_kernel(ParamKind::Task, NEW), Ok(()));
        assert_eq!(
            check_kernel(ParamKind::Task, MAP_ONLY),
            Err(IterParamProblem::KernelLacks {
                param: ParamKind::Task
            })
        );
        assert_eq!(
            IterParamProblem::KernelLacks {
                param: ParamKind::Task
            }
            .to_string(),
            "this kernel's iterators take no task parameter (its union bpf_iter_link_info has \
             no member \"task\"; a thread or process (IterParams::Task; 6.1) needs a newer \
             kernel)"
        );
        assert_eq!(
            check_kernel(ParamKind::Map, IterParamSupport::default()),
            Err(IterParamProblem::KernelLacks {
                param: ParamKind::Map
            })
        );
    }

    #[test]
    fn orders_are_named_and_numbered_as_the_kernels_enum() {
        let numbers: Vec<(&str, u32)> = CgroupOrder::ALL
            .iter()
            .map(|(name, order)| (*name, order.as_u32()))
            .collect();
        assert_eq!(numbers, [("self", 1), ("pre", 2), ("post", 3), ("up", 4)]);
        assert_eq!("post".parse(), Ok(CgroupOrder::DescendantsPost));
        assert_eq!(
            "down".parse::<CgroupOrder>(),
            Err("\"down\" is not a cgroup walk order (self, pre, post or up)".to_string())
        );
    }

    fn fixture() -> ObjectSpec {
        let path = format!("{}/tests/fixtures/iter.bpf.o", env!("CARGO_MANIFEST_DIR"));
        ObjectSpec::parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_parameter_goes_to_the_kernel_as_the_unions_words() {
        let kernel = FakeKernel::install();
        let object = Object::load(&fixture(), &LoadOptions::default()).unwrap();
        kernel.take_calls();
        let elems = object.map("elems").unwrap();
        let link = attach_with(
            object.program("sum_elems").unwrap(),
            &IterParams::Map(elems),
        )
        .unwrap();
        let fd = elems.as_fd().as_raw_fd();
        assert_eq!(
            kernel.take_calls(),
            [format!("BPF_LINK_CREATE sum_elems iter info=[{fd} 0 0 0]")]
        );
        assert_eq!(link.target(), "iter bpf_map_elem (map elems)");
        let tasks = attach(object.program("list_tasks").unwrap()).unwrap();
        assert_eq!(kernel.take_calls(), ["BPF_LINK_CREATE list_tasks iter"]);
        assert_eq!(tasks.target(), "iter task");
        if crate::features::iter::iter_params().cgroup {
            let link = attach_with(
                object.program("list_cgroups").unwrap(),
                &IterParams::Cgroup {
                    start: CgroupStart::Id(0x1_0000_0002),
                    order: CgroupOrder::DescendantsPost,
                },
            )
            .unwrap();
            let id = 0x1_0000_0002u64.to_ne_bytes();
            let half = |at: usize| u32::from_ne_bytes(id[at..at + 4].try_into().unwrap());
            assert_eq!(
                kernel.take_calls(),
                [format!(
                    "BPF_LINK_CREATE list_cgroups iter info=[3 0 {} {}]",
                    half(0),
                    half(4)
                )]
            );
            assert_eq!(
                link.target(),
                "iter cgroup (cgroup id 4294967298, descendants, post-order)"
            );
        }
    }

    #[test]
    fn a_refused_parameter_makes_no_call_and_leaves_nothing() {
        let kernel = FakeKernel::install();
        let object = Object::load(&fixture(), &LoadOptions::default()).unwrap();
        kernel.take_calls();
        let before = kernel.open_fds();
        let error = attach(object.program("sum_elems").unwrap()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "program sum_elems (iter/bpf_map_elem): it needs a map (IterParams::Map; 5.9)"
        );
        let elems = object.map("elems").unwrap();
        let error = attach_with(
            object.program("list_tasks").unwrap(),
            &IterParams::Map(elems),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "program list_tasks (iter/task): it takes no map parameter (it takes a thread or \
             process (IterParams::Task; 6.1))"
        );
        assert_eq!(kernel.take_calls(), Vec::<String>::new());
        assert_eq!(kernel.open_fds(), before);
    }
}
