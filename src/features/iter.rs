//! What the running kernel's iterators take: which members its `union bpf_iter_link_info`
//! has (the parameters `BPF_LINK_CREATE` can give an iterator), and which iterator
//! targets it registers. Both are read from the kernel's BTF, never from its version.
//!
//! Why the BTF and not a trial link: a kernel ignores the parameters of a target it
//! registered without an `attach_target` callback. 5.10's `iter/task` takes a `task.tid`
//! in the first four bytes (where 5.9's union has `map.map_fd`, its only member) without
//! a word and walks every task; its `task.pid` (offset 4) is refused with `E2BIG`
//! (`bpf_check_uarg_tail_zero` against its 4-byte union). A trial attach would say
//! "accepted" for the first, so the question is asked of the union itself: the kernel
//! copies `sizeof(union bpf_iter_link_info)` bytes of it, and its BTF has that union,
//! because the targets' `attach_target` callbacks take a pointer to it
//! (`bpf_iter_attach_target_t`, `include/linux/bpf.h`). libbpf, cilium/ebpf and aya pass
//! the union along unchecked; bpftool's `iter pin ... map` as well.
//!
//! ABI: `union bpf_iter_link_info` (`include/uapi/linux/bpf.h`): `map` (5.9), `cgroup`
//! and `task` (6.1); an iterator target NAME is the kernel function `bpf_iter_NAME`
//! (`DEFINE_BPF_ITER_FUNC`, `include/linux/bpf.h`), which the program's `attach_btf_id`
//! names at load.

use std::sync::OnceLock;

use crate::btf::{Btf, Kind, TypeBody};

/// The name of the union in the kernel's BTF.
pub const ITER_LINK_INFO: &str = "bpf_iter_link_info";

/// Which parameters the kernel's iterator links take: the members of its
/// `union bpf_iter_link_info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IterParamSupport {
    /// `map` (5.9): the map of `iter/bpf_map_elem`, `iter/bpf_sk_storage_map`,
    /// `iter/sockmap`.
    pub map: bool,
    /// `task` (6.1): one thread or one process for `iter/task`, `iter/task_file`,
    /// `iter/task_vma`.
    pub task: bool,
    /// `cgroup` (6.1): the start cgroup and walk order of `iter/cgroup`.
    pub cgroup: bool,
}

/// The members of `union bpf_iter_link_info` in `btf` (a kernel's); all `false` where the
/// union is missing (a kernel before 5.9, or BTF without it).
pub fn iter_params_in(btf: &Btf) -> IterParamSupport {
    let members = btf
        .find_by_name_kind(ITER_LINK_INFO, Kind::Union)
        .and_then(|id| btf.type_by_id(id));
    let Ok(union) = members else {
        return IterParamSupport::default();
    };
    let has = |name: &str| match &union.body {
        TypeBody::Union { members, .. } => members.iter().any(|m| m.name == name),
        _ => false,
    };
    IterParamSupport {
        map: has("map"),
        task: has("task"),
        cgroup: has("cgroup"),
    }
}

/// [`iter_params_in`] the running kernel's BTF, read once per process (all `false` where
/// the kernel has no BTF: then no iterator program loads either).
pub fn iter_params() -> IterParamSupport {
    static ONCE: OnceLock<IterParamSupport> = OnceLock::new();
    crate::syscall::probe_once(&ONCE, || {
        crate::btf::kernel::load()
            .map(|btf| iter_params_in(&btf))
            .unwrap_or_default()
    })
}

/// Does the running kernel register iterator target `name` (`task`, `cgroup`, ...)? Its
/// BTF has the function `bpf_iter_NAME` then; without it an `iter/NAME` program is
/// refused at load.
pub fn iter_target(name: &str) -> bool {
    crate::btf::kernel::load().is_ok_and(|btf| {
        btf.find_by_name_kind(&format!("bpf_iter_{name}"), Kind::Func)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::build::{BtfBuilder, MemberSpec};

    /// A BTF with `union bpf_iter_link_info` of these members (each a `__u32`).
    fn kernel_with(members: &[&str]) -> Btf {
        let mut b = BtfBuilder::new();
        let u32_id = b.add_int("__u32", 4, 0);
        let specs: Vec<MemberSpec> = members.iter().map(|&name| (name, u32_id, 0, 0)).collect();
        b.add_union(ITER_LINK_INFO, 4, &specs);
        Btf::parse(b.build()).unwrap()
    }

    #[test]
    fn the_unions_members_are_the_parameters() {
        // 5.9 to 6.0: the map alone.
        assert_eq!(
            iter_params_in(&kernel_with(&["map"])),
            IterParamSupport {
                map: true,
                task: false,
                cgroup: false
            }
        );
        // 6.1 on: map, cgroup, task.
        assert_eq!(
            iter_params_in(&kernel_with(&["map", "cgroup", "task"])),
            IterParamSupport {
                map: true,
                task: true,
                cgroup: true
            }
        );
        // Before 5.9 there is no union.
        let mut b = BtfBuilder::new();
        b.add_int("int", 4, 0);
        assert_eq!(
            iter_params_in(&Btf::parse(b.build()).unwrap()),
            IterParamSupport::default()
        );
    }

    #[test]
    fn this_kernel_says_the_same_as_its_btf() {
        let Ok(btf) = crate::btf::kernel::load() else {
            eprintln!("skipped: no kernel BTF");
            return;
        };
        assert_eq!(iter_params(), iter_params_in(&btf));
        assert!(
            iter_target("bpf_map"),
            "every kernel with iterators has iter/bpf_map"
        );
        assert!(!iter_target("no_such_target"));
    }
}
