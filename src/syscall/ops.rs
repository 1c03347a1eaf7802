//! `bpf(2)` commands on objects already made: taking elements out of a map
//! (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`), the batch commands (`BPF_MAP_*_BATCH`), a link's
//! program swapped or the link cut (`BPF_LINK_UPDATE`, `BPF_LINK_DETACH`), what the
//! kernel says of a link (`struct bpf_link_info`), and a program run on a test input
//! with everything `BPF_PROG_TEST_RUN` can take and give.
//!
//! ABI: `union bpf_attr` (its `batch`, `link_update`, `link_detach` and `test` structs) and
//! `struct bpf_link_info` in `include/uapi/linux/bpf.h`;
//! `Documentation/bpf/map_*.rst` for what each map type does with these commands;
//! `Documentation/bpf/bpf_prog_run.rst` for `BPF_PROG_TEST_RUN`.
//!
//! The same two rules as [`super::bpf`] hold: each attribute struct is zero-filled with its
//! padding spelled out, and its size is passed exactly.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::bpf::{key_u64, obj_info, ptr_u64, sys_bpf, MapElemAttr};
use super::SysError;

// `enum bpf_cmd`, the commands of this file.
pub const BPF_MAP_LOOKUP_AND_DELETE_ELEM: u32 = 21;
pub const BPF_MAP_LOOKUP_BATCH: u32 = 24;
pub const BPF_MAP_LOOKUP_AND_DELETE_BATCH: u32 = 25;
pub const BPF_MAP_UPDATE_BATCH: u32 = 26;
pub const BPF_MAP_DELETE_BATCH: u32 = 27;
pub const BPF_LINK_UPDATE: u32 = 29;
pub const BPF_LINK_DETACH: u32 = 34;

/// `BPF_LINK_UPDATE`'s flag: replace the program only if it is still `old_prog_fd`'s.
pub const BPF_F_REPLACE: u32 = 1 << 2;
/// `BPF_PROG_TEST_RUN`'s flag: run on the CPU `cpu` names (5.10; raw tracepoints only).
pub const BPF_F_TEST_RUN_ON_CPU: u32 = 1 << 0;
/// `BPF_PROG_TEST_RUN`'s flag: send the XDP program's frames for real (5.18).
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// Reads the value at `key` into `value` and deletes it, in one step (4.20 for queue and
/// stack maps, whose `key` is empty: their pop; 5.14 for hash maps). `Ok(false)` when
/// there was none (`ENOENT`).
pub fn map_lookup_and_delete_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> Result<bool, SysError> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key_u64(key),
        value: ptr_u64(value.as_mut_ptr()),
        flags,
        ..Default::default()
    };
    // `key` and `value` live across the call; the kernel writes `value_size` bytes.
    match sys_bpf(
        "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        BPF_MAP_LOOKUP_AND_DELETE_ELEM,
        &mut attr,
    ) {
        Ok(_) => Ok(true),
        Err(e) if e.errno == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// `union bpf_attr`'s `batch` struct (5.6).
#[repr(C)]
#[derive(Debug, Default)]
struct BatchAttr {
    /// Where to start: a pointer to the cursor a previous call gave (NULL: the start).
    in_batch: u64,
    /// Where the kernel writes the cursor to pass next time.
    out_batch: u64,
    keys: u64,
    values: u64,
    /// In: how many elements the buffers hold; out: how many the kernel went through.
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

const _: () = assert!(std::mem::size_of::<BatchAttr>() == 56);

/// A batch command's buffers: `count` keys and values back to back, and the cursor. The
/// cursor's size is the map's: a hash map's is 4 bytes (a bucket), an array's its key.
#[derive(Debug)]
pub struct Batch<'a> {
    /// The cursor to resume from (`None`: the map's start).
    pub in_batch: Option<&'a [u8]>,
    /// Where the kernel writes the cursor for the next call (lookup commands only).
    pub out_batch: Option<&'a mut [u8]>,
    /// Keys, `count` of them back to back.
    pub keys: &'a mut [u8],
    /// Values, `count` of them back to back (none for `BPF_MAP_DELETE_BATCH`).
    pub values: &'a mut [u8],
    /// How many elements the buffers are for.
    pub count: u32,
    /// `BPF_F_LOCK` for maps of spin-locked values; else 0.
    pub elem_flags: u64,
}

/// One batch command; gives how many elements it went through. `ENOENT` from a lookup
/// means "the end of the map was reached": `Ok((n, true))`, with `n` elements filled.
fn map_batch(
    op: &'static str,
    cmd: u32,
    map: BorrowedFd<'_>,
    batch: Batch<'_>,
) -> Result<(u32, bool), SysError> {
    let mut attr = BatchAttr {
        in_batch: batch.in_batch.map_or(0, |c| ptr_u64(c.as_ptr())),
        out_batch: batch.out_batch.map_or(0, |c| ptr_u64(c.as_mut_ptr())),
        keys: ptr_u64(batch.keys.as_mut_ptr()),
        values: if batch.values.is_empty() {
            0
        } else {
            ptr_u64(batch.values.as_mut_ptr())
        },
        count: batch.count,
        map_fd: map.as_raw_fd() as u32,
        elem_flags: batch.elem_flags,
        flags: 0,
    };
    // Every buffer lives across the call and holds `count` keys or values (the caller
    // sized them from the map), the cursors the map's cursor size.
    match sys_bpf(op, cmd, &mut attr) {
        Ok(_) => Ok((attr.count, false)),
        Err(e) if e.errno == libc::ENOENT && cmd != BPF_MAP_DELETE_BATCH => Ok((attr.count, true)),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_BATCH` (5.6): up to `count` elements from the cursor on. Gives how
/// many were read, and whether that was the map's end.
pub fn map_lookup_batch(map: BorrowedFd<'_>, batch: Batch<'_>) -> Result<(u32, bool), SysError> {
    map_batch("BPF_MAP_LOOKUP_BATCH", BPF_MAP_LOOKUP_BATCH, map, batch)
}

/// `BPF_MAP_LOOKUP_AND_DELETE_BATCH` (5.6): as [`map_lookup_batch`], and the elements
/// read are deleted.
pub fn map_lookup_and_delete_batch(
    map: BorrowedFd<'_>,
    batch: Batch<'_>,
) -> Result<(u32, bool), SysError> {
    map_batch(
        "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
        BPF_MAP_LOOKUP_AND_DELETE_BATCH,
        map,
        batch,
    )
}

/// `BPF_MAP_UPDATE_BATCH` (5.6): stores `count` keys and values. Gives how many were
/// stored (all, or on error the kernel stops at the first it refuses).
pub fn map_update_batch(map: BorrowedFd<'_>, batch: Batch<'_>) -> Result<u32, SysError> {
    map_batch("BPF_MAP_UPDATE_BATCH", BPF_MAP_UPDATE_BATCH, map, batch).map(|(n, _)| n)
}

/// `BPF_MAP_DELETE_BATCH` (5.6): deletes `count` keys (`ENOENT` if one is missing).
pub fn map_delete_batch(map: BorrowedFd<'_>, batch: Batch<'_>) -> Result<u32, SysError> {
    map_batch("BPF_MAP_DELETE_BATCH", BPF_MAP_DELETE_BATCH, map, batch).map(|(n, _)| n)
}

/// `union bpf_attr`'s `link_update` struct (5.7).
#[repr(C)]
#[derive(Debug, Default)]
struct LinkUpdateAttr {
    link_fd: u32,
    new_prog_fd: u32,
    flags: u32,
    old_prog_fd: u32,
}

const _: () = assert!(std::mem::size_of::<LinkUpdateAttr>() == 16);

/// Swaps the program of `link` for `new_prog` in place (5.7), without a moment when none
/// is attached. With `old_prog`, only if that is still the link's program
/// (`BPF_F_REPLACE`; else `EPERM`). Links of some kinds cannot be updated (`EOPNOTSUPP`
/// or `EINVAL`: perf events, raw tracepoints before 6.x).
pub fn link_update(
    link: BorrowedFd<'_>,
    new_prog: BorrowedFd<'_>,
    old_prog: Option<BorrowedFd<'_>>,
) -> Result<(), SysError> {
    let mut attr = LinkUpdateAttr {
        link_fd: link.as_raw_fd() as u32,
        new_prog_fd: new_prog.as_raw_fd() as u32,
        flags: if old_prog.is_some() { BPF_F_REPLACE } else { 0 },
        old_prog_fd: old_prog.map_or(0, |p| p.as_raw_fd() as u32),
    };
    sys_bpf("BPF_LINK_UPDATE", BPF_LINK_UPDATE, &mut attr).map(drop)
}

/// `union bpf_attr`'s `link_detach` struct (5.9).
#[repr(C)]
#[derive(Debug, Default)]
struct LinkDetachAttr {
    link_fd: u32,
}

/// Detaches the link's program now (5.9), whoever else holds the link open or pinned:
/// the link stays, "defunct", until its last fd and pin are gone.
pub fn link_detach(link: BorrowedFd<'_>) -> Result<(), SysError> {
    let mut attr = LinkDetachAttr {
        link_fd: link.as_raw_fd() as u32,
    };
    sys_bpf("BPF_LINK_DETACH", BPF_LINK_DETACH, &mut attr).map(drop)
}

/// The head of `struct bpf_link_info` (5.8): its type, id and program. The kernel fills
/// the smaller of this and its own struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct BpfLinkInfoRaw {
    link_type: u32,
    id: u32,
    prog_id: u32,
    _pad: u32,
}

/// What the kernel says about a link (`struct bpf_link_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// `enum bpf_link_type` (1 raw tracepoint, 2 tracing, 3 cgroup, 4 iter, 5 netns,
    /// 6 xdp, 7 perf event, ...).
    pub link_type: u32,
    /// The kernel-wide id.
    pub id: u32,
    /// The id of the program attached; 0 once the link is detached (5.9).
    pub prog_id: u32,
}

/// Asks the kernel about a link (`BPF_OBJ_GET_INFO_BY_FD`, 5.8).
pub fn link_info(link: BorrowedFd<'_>) -> Result<LinkInfo, SysError> {
    let mut raw = BpfLinkInfoRaw::default();
    obj_info(link, &mut raw)?;
    Ok(LinkInfo {
        link_type: raw.link_type,
        id: raw.id,
        prog_id: raw.prog_id,
    })
}

/// `union bpf_attr`'s `test` struct, up to `batch_size` (5.18) and its padding.
#[repr(C)]
#[derive(Debug, Default)]
struct TestRunOptsAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

const _: () = assert!(std::mem::size_of::<TestRunOptsAttr>() == 80);

/// The buffers and settings of one `BPF_PROG_TEST_RUN`.
#[derive(Debug, Default)]
pub struct TestRunBuffers<'a> {
    /// The packet in (empty: none).
    pub data_in: &'a [u8],
    /// Where the kernel writes the packet as the program left it (empty: not read back).
    pub data_out: &'a mut [u8],
    /// The context in (`struct xdp_md`, `struct __sk_buff`, a raw tracepoint's arguments;
    /// empty: the kernel's default).
    pub ctx_in: &'a [u8],
    /// Where the kernel writes the context as the program left it (empty: not read back).
    pub ctx_out: &'a mut [u8],
    /// How many times to run (0 is 1).
    pub repeat: u32,
    /// `BPF_F_TEST_RUN_ON_CPU`, `BPF_F_TEST_XDP_LIVE_FRAMES`.
    pub flags: u32,
    /// The CPU, with `BPF_F_TEST_RUN_ON_CPU`.
    pub cpu: u32,
    /// With `BPF_F_TEST_XDP_LIVE_FRAMES`: frames per batch (0: the kernel's 64).
    pub batch_size: u32,
}

/// What `BPF_PROG_TEST_RUN` gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRunOutcome {
    /// The program's return value (of the last run).
    pub retval: u32,
    /// Mean nanoseconds per run, as the kernel measured them.
    pub duration_ns: u32,
    /// Bytes of the packet out (may exceed the buffer: then `ENOSPC` was answered).
    pub data_size_out: u32,
    /// Bytes of the context out.
    pub ctx_size_out: u32,
}

/// `BPF_PROG_TEST_RUN` (4.12): runs the program on the buffers' inputs and fills their
/// outputs. A context in and out came later, type by type (5.2 for tc and socket filters,
/// 5.12 for XDP); a type or kernel that cannot take an input answers `EINVAL`.
pub fn prog_test_run_opts(
    prog: BorrowedFd<'_>,
    run: TestRunBuffers<'_>,
) -> Result<TestRunOutcome, SysError> {
    let nonnull = |len: usize, p: u64| if len == 0 { 0 } else { p };
    let mut attr = TestRunOptsAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: run.data_in.len() as u32,
        data_size_out: run.data_out.len() as u32,
        data_in: nonnull(run.data_in.len(), ptr_u64(run.data_in.as_ptr())),
        data_out: nonnull(run.data_out.len(), ptr_u64(run.data_out.as_mut_ptr())),
        repeat: run.repeat,
        ctx_size_in: run.ctx_in.len() as u32,
        ctx_size_out: run.ctx_out.len() as u32,
        ctx_in: nonnull(run.ctx_in.len(), ptr_u64(run.ctx_in.as_ptr())),
        ctx_out: nonnull(run.ctx_out.len(), ptr_u64(run.ctx_out.as_mut_ptr())),
        flags: run.flags,
        cpu: run.cpu,
        batch_size: run.batch_size,
        ..Default::default()
    };
    // Every buffer lives across the call; the kernel writes at most `data_size_out` and
    // `ctx_size_out` bytes to the out buffers.
    sys_bpf("BPF_PROG_TEST_RUN", super::BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(TestRunOutcome {
        retval: attr.retval,
        duration_ns: attr.duration,
        data_size_out: attr.data_size_out,
        ctx_size_out: attr.ctx_size_out,
    })
}

/// Whether the kernel has the batch commands (5.6): a `BPF_MAP_LOOKUP_BATCH` of no map
/// (fd -1) is `EBADF` where the command exists (the kernel got as far as looking the fd
/// up) and `EINVAL` where it does not. Asked once per process.
pub fn map_batch_exists() -> bool {
    static EXISTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    super::probe_once(&EXISTS, || {
        let mut attr = BatchAttr {
            map_fd: u32::MAX,
            count: 1,
            ..Default::default()
        };
        match sys_bpf("BPF_MAP_LOOKUP_BATCH", BPF_MAP_LOOKUP_BATCH, &mut attr) {
            Err(e) => e.errno != libc::EINVAL,
            Ok(_) => true,
        }
    })
}

/// What kind of BPF object an fd is, by the name of its anonymous inode
/// (`/proc/self/fd/N` reads `anon_inode:bpf-prog`, `anon_inode:bpf-map`, and for a link
/// `anon_inode:bpf_link` as made, `anon_inode:bpf-link` as reopened: `kernel/bpf/syscall.c`
/// names them so, in `bpf_link_prime` and `bpf_link_new_fd`): `prog`, `map`, `link`, or
/// `None` for another file. `BPF_OBJ_GET` opens whatever is pinned at a path, and
/// `BPF_OBJ_GET_INFO_BY_FD` fills any info struct from any kind, so this is how a
/// reopened pin is checked to be what the caller expects.
pub fn bpf_fd_kind(fd: BorrowedFd<'_>) -> Option<&'static str> {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    match target.to_str()? {
        "anon_inode:bpf-prog" => Some("prog"),
        "anon_inode:bpf-map" => Some("map"),
        "anon_inode:bpf_link" | "anon_inode:bpf-link" => Some("link"),
        _ => None,
    }
}
