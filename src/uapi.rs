//! The kernel's numbers that both halves of the loader speak: map types, program types,
//! attach types, flags and name lengths. Defined once here; the parser (`elf`) reads them
//! from objects and the syscall layer hands them to the kernel.
//!
//! ABI: `enum bpf_map_type`, `enum bpf_prog_type`, `enum bpf_attach_type`, the `BPF_F_*`
//! flags and `BPF_OBJ_NAME_LEN` in `include/uapi/linux/bpf.h`. The values are part of the
//! kernel's stable ABI: new ones are only ever appended.
//!
//! A map type is a newtype rather than an enum: an object may name a type this loader
//! has no name for (a newer kernel's), and it is the kernel, not the parser, that decides
//! whether it exists.

use std::fmt;

/// `enum bpf_map_type`: what kind of map `BPF_MAP_CREATE` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MapType(pub u32);

impl MapType {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: MapType = MapType(1);
    /// `BPF_MAP_TYPE_ARRAY`: what global data sections become.
    pub const ARRAY: MapType = MapType(2);
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one perf event fd per CPU; `max_entries` 0 means
    /// "one per possible CPU" (the loader sizes it).
    pub const PERF_EVENT_ARRAY: MapType = MapType(4);
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: MapType = MapType(6);
    /// `BPF_MAP_TYPE_RINGBUF` (5.8).
    pub const RINGBUF: MapType = MapType(27);

    /// The kernel's name without its `BPF_MAP_TYPE_` prefix, lowercase as bpftool prints it
    /// (`perf_event_array`); `None` for a value this table does not know.
    pub fn name(self) -> Option<&'static str> {
        MAP_TYPE_NAMES.get(self.0 as usize).copied()
    }
}

impl fmt::Display for MapType {
    /// `hash`, or `type 99` for a value without a name here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "type {}", self.0),
        }
    }
}

/// Names of `enum bpf_map_type`, by value.
const MAP_TYPE_NAMES: &[&str] = &[
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
    "arena",
];

/// `enum bpf_prog_type`: how the kernel runs a program and which helpers it may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ProgramType {
    /// `BPF_PROG_TYPE_UNSPEC`: the section name did not say (the kernel refuses it).
    Unspec = 0,
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (`SEC("socket")`).
    SocketFilter = 1,
    /// `BPF_PROG_TYPE_KPROBE`: kprobes and uprobes.
    Kprobe = 2,
    /// `BPF_PROG_TYPE_SCHED_CLS`: tc classifiers.
    SchedCls = 3,
    /// `BPF_PROG_TYPE_SCHED_ACT`: tc actions.
    SchedAct = 4,
    /// `BPF_PROG_TYPE_TRACEPOINT`.
    Tracepoint = 5,
    /// `BPF_PROG_TYPE_XDP`.
    Xdp = 6,
    /// `BPF_PROG_TYPE_PERF_EVENT`: runs on a perf event's samples.
    PerfEvent = 7,
    /// `BPF_PROG_TYPE_CGROUP_SKB`.
    CgroupSkb = 8,
    /// `BPF_PROG_TYPE_SOCK_OPS`.
    SockOps = 13,
    /// `BPF_PROG_TYPE_SK_SKB`.
    SkSkb = 14,
    /// `BPF_PROG_TYPE_SK_MSG`.
    SkMsg = 16,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`.
    RawTracepoint = 17,
    /// `BPF_PROG_TYPE_TRACING`: fentry, fexit, tp_btf, iterators.
    Tracing = 26,
    /// `BPF_PROG_TYPE_LSM`.
    Lsm = 29,
    /// `BPF_PROG_TYPE_SYSCALL`.
    Syscall = 31,
}

impl ProgramType {
    /// The kernel's value (`BPF_PROG_TYPE_*`), for `BPF_PROG_LOAD`'s `prog_type`.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The kernel's name without its prefix, lowercase like bpftool (`kprobe`, `tracepoint`).
    pub fn name(self) -> &'static str {
        match self {
            ProgramType::Unspec => "unspec",
            ProgramType::SocketFilter => "socket_filter",
            ProgramType::Kprobe => "kprobe",
            ProgramType::SchedCls => "sched_cls",
            ProgramType::SchedAct => "sched_act",
            ProgramType::Tracepoint => "tracepoint",
            ProgramType::Xdp => "xdp",
            ProgramType::PerfEvent => "perf_event",
            ProgramType::CgroupSkb => "cgroup_skb",
            ProgramType::SockOps => "sock_ops",
            ProgramType::SkSkb => "sk_skb",
            ProgramType::SkMsg => "sk_msg",
            ProgramType::RawTracepoint => "raw_tracepoint",
            ProgramType::Tracing => "tracing",
            ProgramType::Lsm => "lsm",
            ProgramType::Syscall => "syscall",
        }
    }
}

impl fmt::Display for ProgramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `enum bpf_attach_type`: what a program is attached to, given to `BPF_PROG_LOAD`
/// (`expected_attach_type`) and `BPF_LINK_CREATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttachType(pub u32);

impl AttachType {
    /// `BPF_PERF_EVENT`: a program bound to a perf event through `BPF_LINK_CREATE` (5.15).
    pub const PERF_EVENT: AttachType = AttachType(41);
}

/// `BPF_F_RDONLY_PROG` (map flag): programs may read the map but not write it (`.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// `BPF_ANY` (update flag): create the element or replace it.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST` (update flag): only create; fails with `EEXIST` if the key is there.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST` (update flag): only replace; fails with `ENOENT` if the key is not there.
pub const BPF_EXIST: u64 = 2;

/// `BPF_F_CURRENT_CPU`: `bpf_perf_event_output`'s index for "the ring of the CPU the
/// program runs on".
pub const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;

/// `BPF_OBJ_NAME_LEN`: a kernel object's name is at most 15 bytes plus the NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// A name as the kernel takes it for a map or program: at most 15 bytes, NUL-padded.
/// Longer names are cut (the kernel would refuse them); the kernel accepts only
/// `[A-Za-z0-9_.]` (`bpf_obj_name_cpy`), so other bytes become `_`.
pub fn obj_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    for (slot, byte) in out.iter_mut().zip(name.bytes().take(BPF_OBJ_NAME_LEN - 1)) {
        *slot = if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.' {
            byte
        } else {
            b'_'
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_types_are_named_as_bpftool_names_them() {
        assert_eq!(MapType::PERF_EVENT_ARRAY.to_string(), "perf_event_array");
        assert_eq!(MapType::RINGBUF.to_string(), "ringbuf");
        assert_eq!(MapType(33).to_string(), "arena");
        assert_eq!(MapType(99).to_string(), "type 99");
    }

    #[test]
    fn obj_name_cuts_and_cleans() {
        assert_eq!(&obj_name("events"), b"events\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(&obj_name("a_very_long_map_name"), b"a_very_long_map\0");
        assert_eq!(&obj_name("x-y.z"), b"x_y.z\0\0\0\0\0\0\0\0\0\0\0");
    }
}
