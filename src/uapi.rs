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
    /// `BPF_MAP_TYPE_PROG_ARRAY`: program fds, for `bpf_tail_call`.
    pub const PROG_ARRAY: MapType = MapType(3);
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one perf event fd per CPU; `max_entries` 0 means
    /// "one per possible CPU" (the loader sizes it).
    pub const PERF_EVENT_ARRAY: MapType = MapType(4);
    /// `BPF_MAP_TYPE_PERCPU_HASH`: one value per possible CPU.
    pub const PERCPU_HASH: MapType = MapType(5);
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: MapType = MapType(6);
    /// `BPF_MAP_TYPE_LRU_HASH`: a hash map that evicts the least recently used element.
    pub const LRU_HASH: MapType = MapType(9);
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: MapType = MapType(10);
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`: map fds, all of one shape (the inner map's).
    pub const ARRAY_OF_MAPS: MapType = MapType(12);
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: MapType = MapType(13);
    /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`.
    pub const PERCPU_CGROUP_STORAGE: MapType = MapType(21);
    /// `BPF_MAP_TYPE_QUEUE` (4.20): first in, first out; no keys (`key_size` 0).
    pub const QUEUE: MapType = MapType(22);
    /// `BPF_MAP_TYPE_STACK` (4.20): last in, first out; no keys.
    pub const STACK: MapType = MapType(23);
    /// `BPF_MAP_TYPE_STRUCT_OPS` (5.6): a kernel ops struct implemented by programs.
    pub const STRUCT_OPS: MapType = MapType(26);
    /// `BPF_MAP_TYPE_RINGBUF` (5.8).
    pub const RINGBUF: MapType = MapType(27);
    /// `BPF_MAP_TYPE_USER_RINGBUF` (6.1): a ring buffer user space writes.
    pub const USER_RINGBUF: MapType = MapType(31);

    /// Does user space see this map's values once per possible CPU (the per-CPU hashes,
    /// array and cgroup storage)?
    pub fn is_per_cpu(self) -> bool {
        matches!(
            self,
            MapType::PERCPU_HASH
                | MapType::PERCPU_ARRAY
                | MapType::LRU_PERCPU_HASH
                | MapType::PERCPU_CGROUP_STORAGE
        )
    }

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
    /// `BPF_PROG_TYPE_CGROUP_SOCK`.
    CgroupSock = 9,
    /// `BPF_PROG_TYPE_LWT_IN`.
    LwtIn = 10,
    /// `BPF_PROG_TYPE_LWT_OUT`.
    LwtOut = 11,
    /// `BPF_PROG_TYPE_LWT_XMIT`.
    LwtXmit = 12,
    /// `BPF_PROG_TYPE_CGROUP_DEVICE`.
    CgroupDevice = 15,
    /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`.
    CgroupSockAddr = 18,
    /// `BPF_PROG_TYPE_LWT_SEG6LOCAL`.
    LwtSeg6local = 19,
    /// `BPF_PROG_TYPE_LIRC_MODE2`.
    LircMode2 = 20,
    /// `BPF_PROG_TYPE_SK_REUSEPORT`.
    SkReuseport = 21,
    /// `BPF_PROG_TYPE_FLOW_DISSECTOR`.
    FlowDissector = 22,
    /// `BPF_PROG_TYPE_CGROUP_SYSCTL`.
    CgroupSysctl = 23,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`.
    RawTracepointWritable = 24,
    /// `BPF_PROG_TYPE_CGROUP_SOCKOPT`.
    CgroupSockopt = 25,
    /// `BPF_PROG_TYPE_STRUCT_OPS`.
    StructOps = 27,
    /// `BPF_PROG_TYPE_EXT`.
    Ext = 28,
    /// `BPF_PROG_TYPE_SK_LOOKUP`.
    SkLookup = 30,
    /// `BPF_PROG_TYPE_NETFILTER`.
    Netfilter = 32,
}

impl ProgramType {
    /// The kernel's value (`BPF_PROG_TYPE_*`), for `BPF_PROG_LOAD`'s `prog_type`.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The type of kernel value `value` (what `bpf_prog_info.prog_type` says); `None`
    /// for a value this table does not know.
    pub fn from_u32(value: u32) -> Option<ProgramType> {
        use ProgramType::*;
        const ALL: [ProgramType; 33] = [
            Unspec,
            SocketFilter,
            Kprobe,
            SchedCls,
            SchedAct,
            Tracepoint,
            Xdp,
            PerfEvent,
            CgroupSkb,
            CgroupSock,
            LwtIn,
            LwtOut,
            LwtXmit,
            SockOps,
            SkSkb,
            CgroupDevice,
            SkMsg,
            RawTracepoint,
            CgroupSockAddr,
            LwtSeg6local,
            LircMode2,
            SkReuseport,
            FlowDissector,
            CgroupSysctl,
            RawTracepointWritable,
            CgroupSockopt,
            Tracing,
            StructOps,
            Ext,
            Lsm,
            SkLookup,
            Syscall,
            Netfilter,
        ];
        ALL.into_iter().find(|t| t.as_u32() == value)
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
            ProgramType::CgroupSock => "cgroup_sock",
            ProgramType::LwtIn => "lwt_in",
            ProgramType::LwtOut => "lwt_out",
            ProgramType::LwtXmit => "lwt_xmit",
            ProgramType::CgroupDevice => "cgroup_device",
            ProgramType::CgroupSockAddr => "cgroup_sock_addr",
            ProgramType::LwtSeg6local => "lwt_seg6local",
            ProgramType::LircMode2 => "lirc_mode2",
            ProgramType::SkReuseport => "sk_reuseport",
            ProgramType::FlowDissector => "flow_dissector",
            ProgramType::CgroupSysctl => "cgroup_sysctl",
            ProgramType::RawTracepointWritable => "raw_tracepoint_writable",
            ProgramType::CgroupSockopt => "cgroup_sockopt",
            ProgramType::StructOps => "struct_ops",
            ProgramType::Ext => "ext",
            ProgramType::SkLookup => "sk_lookup",
            ProgramType::Netfilter => "netfilter",
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
    /// No `expected_attach_type` (0, which is also `BPF_CGROUP_INET_INGRESS`'s value).
    pub const NONE: AttachType = AttachType(0);
    /// `BPF_CGROUP_INET_INGRESS`.
    pub const CGROUP_INET_INGRESS: AttachType = AttachType(0);
    /// `BPF_CGROUP_INET_EGRESS`.
    pub const CGROUP_INET_EGRESS: AttachType = AttachType(1);
    /// `BPF_CGROUP_INET_SOCK_CREATE`.
    pub const CGROUP_INET_SOCK_CREATE: AttachType = AttachType(2);
    /// `BPF_CGROUP_SOCK_OPS`.
    pub const CGROUP_SOCK_OPS: AttachType = AttachType(3);
    /// `BPF_SK_SKB_STREAM_PARSER`.
    pub const SK_SKB_STREAM_PARSER: AttachType = AttachType(4);
    /// `BPF_SK_SKB_STREAM_VERDICT`.
    pub const SK_SKB_STREAM_VERDICT: AttachType = AttachType(5);
    /// `BPF_CGROUP_DEVICE`.
    pub const CGROUP_DEVICE: AttachType = AttachType(6);
    /// `BPF_SK_MSG_VERDICT`.
    pub const SK_MSG_VERDICT: AttachType = AttachType(7);
    /// `BPF_CGROUP_INET4_BIND`.
    pub const CGROUP_INET4_BIND: AttachType = AttachType(8);
    /// `BPF_CGROUP_INET6_BIND`.
    pub const CGROUP_INET6_BIND: AttachType = AttachType(9);
    /// `BPF_CGROUP_INET4_CONNECT`.
    pub const CGROUP_INET4_CONNECT: AttachType = AttachType(10);
    /// `BPF_CGROUP_INET6_CONNECT`.
    pub const CGROUP_INET6_CONNECT: AttachType = AttachType(11);
    /// `BPF_CGROUP_INET4_POST_BIND`.
    pub const CGROUP_INET4_POST_BIND: AttachType = AttachType(12);
    /// `BPF_CGROUP_INET6_POST_BIND`.
    pub const CGROUP_INET6_POST_BIND: AttachType = AttachType(13);
    /// `BPF_CGROUP_UDP4_SENDMSG`.
    pub const CGROUP_UDP4_SENDMSG: AttachType = AttachType(14);
    /// `BPF_CGROUP_UDP6_SENDMSG`.
    pub const CGROUP_UDP6_SENDMSG: AttachType = AttachType(15);
    /// `BPF_LIRC_MODE2`.
    pub const LIRC_MODE2: AttachType = AttachType(16);
    /// `BPF_FLOW_DISSECTOR`.
    pub const FLOW_DISSECTOR: AttachType = AttachType(17);
    /// `BPF_CGROUP_SYSCTL`.
    pub const CGROUP_SYSCTL: AttachType = AttachType(18);
    /// `BPF_CGROUP_UDP4_RECVMSG`.
    pub const CGROUP_UDP4_RECVMSG: AttachType = AttachType(19);
    /// `BPF_CGROUP_UDP6_RECVMSG`.
    pub const CGROUP_UDP6_RECVMSG: AttachType = AttachType(20);
    /// `BPF_CGROUP_GETSOCKOPT`.
    pub const CGROUP_GETSOCKOPT: AttachType = AttachType(21);
    /// `BPF_CGROUP_SETSOCKOPT`.
    pub const CGROUP_SETSOCKOPT: AttachType = AttachType(22);
    /// `BPF_TRACE_RAW_TP`.
    pub const TRACE_RAW_TP: AttachType = AttachType(23);
    /// `BPF_TRACE_FENTRY`.
    pub const TRACE_FENTRY: AttachType = AttachType(24);
    /// `BPF_TRACE_FEXIT`.
    pub const TRACE_FEXIT: AttachType = AttachType(25);
    /// `BPF_MODIFY_RETURN`.
    pub const MODIFY_RETURN: AttachType = AttachType(26);
    /// `BPF_LSM_MAC`.
    pub const LSM_MAC: AttachType = AttachType(27);
    /// `BPF_TRACE_ITER`.
    pub const TRACE_ITER: AttachType = AttachType(28);
    /// `BPF_CGROUP_INET4_GETPEERNAME`.
    pub const CGROUP_INET4_GETPEERNAME: AttachType = AttachType(29);
    /// `BPF_CGROUP_INET6_GETPEERNAME`.
    pub const CGROUP_INET6_GETPEERNAME: AttachType = AttachType(30);
    /// `BPF_CGROUP_INET4_GETSOCKNAME`.
    pub const CGROUP_INET4_GETSOCKNAME: AttachType = AttachType(31);
    /// `BPF_CGROUP_INET6_GETSOCKNAME`.
    pub const CGROUP_INET6_GETSOCKNAME: AttachType = AttachType(32);
    /// `BPF_XDP_DEVMAP`.
    pub const XDP_DEVMAP: AttachType = AttachType(33);
    /// `BPF_CGROUP_INET_SOCK_RELEASE`.
    pub const CGROUP_INET_SOCK_RELEASE: AttachType = AttachType(34);
    /// `BPF_XDP_CPUMAP`.
    pub const XDP_CPUMAP: AttachType = AttachType(35);
    /// `BPF_SK_LOOKUP`.
    pub const SK_LOOKUP: AttachType = AttachType(36);
    /// `BPF_XDP`.
    pub const XDP: AttachType = AttachType(37);
    /// `BPF_SK_SKB_VERDICT`.
    pub const SK_SKB_VERDICT: AttachType = AttachType(38);
    /// `BPF_SK_REUSEPORT_SELECT`.
    pub const SK_REUSEPORT_SELECT: AttachType = AttachType(39);
    /// `BPF_SK_REUSEPORT_SELECT_OR_MIGRATE`.
    pub const SK_REUSEPORT_SELECT_OR_MIGRATE: AttachType = AttachType(40);
    /// `BPF_TRACE_KPROBE_MULTI`.
    pub const TRACE_KPROBE_MULTI: AttachType = AttachType(42);
    /// `BPF_LSM_CGROUP`.
    pub const LSM_CGROUP: AttachType = AttachType(43);
    /// `BPF_STRUCT_OPS`.
    pub const STRUCT_OPS: AttachType = AttachType(44);
    /// `BPF_NETFILTER`.
    pub const NETFILTER: AttachType = AttachType(45);
    /// `BPF_TCX_INGRESS`.
    pub const TCX_INGRESS: AttachType = AttachType(46);
    /// `BPF_TCX_EGRESS`.
    pub const TCX_EGRESS: AttachType = AttachType(47);
    /// `BPF_TRACE_UPROBE_MULTI`.
    pub const TRACE_UPROBE_MULTI: AttachType = AttachType(48);
    /// `BPF_CGROUP_UNIX_CONNECT`.
    pub const CGROUP_UNIX_CONNECT: AttachType = AttachType(49);
    /// `BPF_CGROUP_UNIX_SENDMSG`.
    pub const CGROUP_UNIX_SENDMSG: AttachType = AttachType(50);
    /// `BPF_CGROUP_UNIX_RECVMSG`.
    pub const CGROUP_UNIX_RECVMSG: AttachType = AttachType(51);
    /// `BPF_CGROUP_UNIX_GETPEERNAME`.
    pub const CGROUP_UNIX_GETPEERNAME: AttachType = AttachType(52);
    /// `BPF_CGROUP_UNIX_GETSOCKNAME`.
    pub const CGROUP_UNIX_GETSOCKNAME: AttachType = AttachType(53);
    /// `BPF_NETKIT_PRIMARY`.
    pub const NETKIT_PRIMARY: AttachType = AttachType(54);
    /// `BPF_NETKIT_PEER`.
    pub const NETKIT_PEER: AttachType = AttachType(55);
    /// `BPF_TRACE_KPROBE_SESSION`.
    pub const TRACE_KPROBE_SESSION: AttachType = AttachType(56);
}

/// `BPF_F_SLEEPABLE` (`prog_flags` of `BPF_PROG_LOAD`): the program may sleep (the `.s`
/// section variants: `fentry.s/`, `lsm.s/`, `uprobe.s`, `iter.s/`; and `syscall`).
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS` (`prog_flags`): an XDP program that handles multi-buffer
/// packets (`xdp.frags`).
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// `BPF_F_RDONLY_PROG` (map flag): programs may read the map but not write it (`.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_LINK` (`map_flags`, 6.4): a struct_ops map registered by a BPF link
/// (`BPF_LINK_CREATE` with `BPF_STRUCT_OPS`), not by `BPF_MAP_UPDATE_ELEM`.
pub const BPF_F_LINK: u32 = 1 << 13;

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
    fn every_program_type_is_found_by_its_number() {
        for value in 0..=32 {
            let found = ProgramType::from_u32(value).unwrap();
            assert_eq!(found.as_u32(), value);
        }
        assert_eq!(ProgramType::from_u32(6), Some(ProgramType::Xdp));
        assert_eq!(ProgramType::from_u32(33), None);
    }

    #[test]
    fn obj_name_cuts_and_cleans() {
        assert_eq!(&obj_name("events"), b"events\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(&obj_name("a_very_long_map_name"), b"a_very_long_map\0");
        assert_eq!(&obj_name("x-y.z"), b"x_y.z\0\0\0\0\0\0\0\0\0\0\0");
    }
}
