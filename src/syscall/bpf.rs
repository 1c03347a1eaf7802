//! `bpf(2)`: one `#[repr(C)]` attribute struct per command, each the kernel's anonymous
//! struct in `union bpf_attr` (`include/uapi/linux/bpf.h`) up to the last field used, with
//! every padding gap spelled out as a field so that zero-filling really zeroes it.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::SysError;
use crate::uapi::BPF_OBJ_NAME_LEN;

/// The fake kernel of the unit tests: a child of this module, so that it reads each
/// command's attribute struct field by field, as the kernel does.
#[cfg(test)]
#[path = "fake.rs"]
pub(crate) mod fake;

// `enum bpf_cmd`.
pub const BPF_MAP_CREATE: u32 = 0;
pub const BPF_MAP_LOOKUP_ELEM: u32 = 1;
pub const BPF_MAP_UPDATE_ELEM: u32 = 2;
pub const BPF_MAP_DELETE_ELEM: u32 = 3;
pub const BPF_MAP_GET_NEXT_KEY: u32 = 4;
pub const BPF_PROG_LOAD: u32 = 5;
pub const BPF_PROG_TEST_RUN: u32 = 10;
pub const BPF_OBJ_PIN: u32 = 6;
pub const BPF_OBJ_GET: u32 = 7;
pub const BPF_PROG_ATTACH: u32 = 8;
pub const BPF_PROG_DETACH: u32 = 9;
pub const BPF_PROG_GET_FD_BY_ID: u32 = 13;
#[cfg_attr(not(test), allow(dead_code))] // the tests' checks that objects were freed
pub const BPF_PROG_GET_NEXT_ID: u32 = 11;
#[cfg_attr(not(test), allow(dead_code))]
pub const BPF_MAP_GET_NEXT_ID: u32 = 12;
pub const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
pub const BPF_PROG_QUERY: u32 = 16;
pub const BPF_RAW_TRACEPOINT_OPEN: u32 = 17;
pub const BPF_BTF_LOAD: u32 = 18;
pub const BPF_BTF_GET_FD_BY_ID: u32 = 19;
pub const BPF_MAP_FREEZE: u32 = 22;
pub const BPF_BTF_GET_NEXT_ID: u32 = 23;
pub const BPF_LINK_CREATE: u32 = 28;
pub const BPF_ITER_CREATE: u32 = 33;

/// Calls `bpf(cmd, attr, size_of::<A>())`, through the [seam](super::seam). Returns the
/// non-negative result.
pub(super) fn sys_bpf<A: std::any::Any>(
    op: &'static str,
    cmd: u32,
    attr: &mut A,
) -> Result<i64, SysError> {
    let size = std::mem::size_of::<A>() as libc::c_uint;
    super::seam::bpf(cmd, attr, |attr| {
        // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` struct of exactly
        // `size` bytes, with every byte initialised (padding is explicit); the kernel reads
        // and may write back at most `size` bytes of it. Pointers inside it (to
        // instructions, keys, logs) are to buffers the caller keeps alive across this call.
        unsafe { libc::syscall(libc::SYS_bpf, cmd as libc::c_long, attr as *mut A, size) }
    })
    .map_err(|errno| SysError::new(op, errno))
}

/// Like [`sys_bpf`], for the commands that return a new fd.
pub(super) fn sys_bpf_fd<A: std::any::Any>(
    op: &'static str,
    cmd: u32,
    attr: &mut A,
) -> Result<OwnedFd, SysError> {
    let fd = sys_bpf(op, cmd, attr)?;
    let fd = RawFd::try_from(fd).map_err(|_| SysError::new(op, libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pointer as the kernel's `__aligned_u64`.
pub(super) fn ptr_u64<T: ?Sized>(p: *const T) -> u64 {
    p as *const u8 as usize as u64
}

/// A map key as the kernel's `__aligned_u64`: NULL for a map without keys (`key_size` 0:
/// queue, stack, bloom filter), which refuses any other pointer with `EINVAL`.
pub(super) fn key_u64(key: &[u8]) -> u64 {
    if key.is_empty() {
        0
    } else {
        ptr_u64(key.as_ptr())
    }
}

/// `BPF_MAP_CREATE`'s part of `union bpf_attr`, up to `map_extra`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; BPF_OBJ_NAME_LEN],
    pub map_ifindex: u32,
    /// A BTF object fd, or 0 for none.
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    /// Per type (5.16): a bloom filter's number of hash functions, an arena's address.
    /// Kernels before it read the attribute only up to here, and require what follows to
    /// be zero.
    pub map_extra: u64,
}

/// Creates a map. `attr.map_name` is usually filled with [`crate::uapi::obj_name`].
pub fn map_create(attr: &MapCreateAttr) -> Result<OwnedFd, SysError> {
    let mut attr = *attr;
    sys_bpf_fd("BPF_MAP_CREATE", BPF_MAP_CREATE, &mut attr)
}

/// `BPF_MAP_*_ELEM`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct MapElemAttr {
    pub(super) map_fd: u32,
    pub(super) _pad: u32,
    pub(super) key: u64,
    /// `value`, or `next_key` for `BPF_MAP_GET_NEXT_KEY`.
    pub(super) value: u64,
    pub(super) flags: u64,
}

/// Stores `value` at `key` (`BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST` in `flags`). The slices
/// must be the map's key and value sizes (the kernel reads that many bytes).
pub fn map_update_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &[u8],
    flags: u64,
) -> Result<(), SysError> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key_u64(key),
        value: ptr_u64(value.as_ptr()),
        flags,
        ..Default::default()
    };
    sys_bpf("BPF_MAP_UPDATE_ELEM", BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// Reads the value at `key` into `value` (which must be the map's value size). `Ok(false)`
/// when there is no such key (`ENOENT`).
pub fn map_lookup_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
) -> Result<bool, SysError> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key_u64(key),
        value: ptr_u64(value.as_mut_ptr()),
        ..Default::default()
    };
    match sys_bpf("BPF_MAP_LOOKUP_ELEM", BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.errno == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes `key`. `Ok(false)` when there was no such key.
pub fn map_delete_elem(map: BorrowedFd<'_>, key: &[u8]) -> Result<bool, SysError> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key_u64(key),
        ..Default::default()
    };
    match sys_bpf("BPF_MAP_DELETE_ELEM", BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.errno == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes the key after `key` (the first key when `key` is `None`) into `next_key`.
/// `Ok(false)` at the end of the map.
pub fn map_get_next_key(
    map: BorrowedFd<'_>,
    key: Option<&[u8]>,
    next_key: &mut [u8],
) -> Result<bool, SysError> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.map_or(0, |k| ptr_u64(k.as_ptr())),
        value: ptr_u64(next_key.as_mut_ptr()),
        ..Default::default()
    };
    match sys_bpf("BPF_MAP_GET_NEXT_KEY", BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.errno == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_FREEZE`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct MapFreezeAttr {
    map_fd: u32,
}

/// Makes the map read-only for user space from now on (5.2); `.rodata` is frozen once filled.
pub fn map_freeze(map: BorrowedFd<'_>) -> Result<(), SysError> {
    let mut attr = MapFreezeAttr {
        map_fd: map.as_raw_fd() as u32,
    };
    sys_bpf("BPF_MAP_FREEZE", BPF_MAP_FREEZE, &mut attr).map(drop)
}

/// `BPF_PROG_LOAD`'s part of `union bpf_attr`, up to `log_true_size` (6.4; older kernels
/// accept the struct because the fields they do not know are zero).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; BPF_OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    /// Output (6.4): the log size the verifier needed.
    pub log_true_size: u32,
}

/// One raw `BPF_PROG_LOAD` attempt. The caller ([`super::load::load_program`]) owns the
/// buffers the attribute points to.
pub(crate) fn prog_load_raw(attr: &mut ProgLoadAttr) -> Result<OwnedFd, SysError> {
    sys_bpf_fd("BPF_PROG_LOAD", BPF_PROG_LOAD, attr)
}

/// `BPF_PROG_TEST_RUN`'s part of `union bpf_attr` (its `test` struct), up to `cpu`.
#[repr(C)]
#[derive(Debug, Default)]
struct TestRunAttr {
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
}

const _: () = assert!(std::mem::size_of::<TestRunAttr>() == 72);

/// Runs a loaded program once in the kernel on `data` (`BPF_PROG_TEST_RUN`, 4.12: XDP,
/// socket filter and TC programs take a packet, at least an Ethernet header for XDP);
/// returns what the program returned. The packet the program may have changed is not
/// read back.
pub fn prog_test_run(prog: BorrowedFd<'_>, data: &[u8]) -> Result<u32, SysError> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: data.len() as u32,
        data_in: ptr_u64(data.as_ptr()),
        repeat: 1,
        ..Default::default()
    };
    // `data` lives across the call; `data_out` is null, so the kernel writes no packet.
    sys_bpf("BPF_PROG_TEST_RUN", BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(attr.retval)
}

/// `BPF_BTF_LOAD`'s part of `union bpf_attr`, up to `btf_log_true_size` (6.4).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    /// Output (6.4): the log size the kernel needed.
    pub btf_log_true_size: u32,
}

/// One raw `BPF_BTF_LOAD` attempt.
pub(crate) fn btf_load_raw(attr: &mut BtfLoadAttr) -> Result<OwnedFd, SysError> {
    sys_bpf_fd("BPF_BTF_LOAD", BPF_BTF_LOAD, attr)
}

/// `BPF_LINK_CREATE`'s part of `union bpf_attr`, with the `perf_event.bpf_cookie` member.
#[repr(C)]
#[derive(Debug, Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    bpf_cookie: u64,
}

/// Links `prog` to `target` with `attach_type` (`BPF_PERF_EVENT` for a perf event, 5.15),
/// with a cookie the program reads with `bpf_get_attach_cookie` (0: none).
/// Closing the returned fd detaches the program.
pub fn link_create(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: crate::uapi::AttachType,
    bpf_cookie: u64,
) -> Result<OwnedFd, SysError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: target.as_raw_fd() as u32,
        attach_type: attach_type.0,
        bpf_cookie,
        ..Default::default()
    };
    sys_bpf_fd("BPF_LINK_CREATE", BPF_LINK_CREATE, &mut attr)
}

/// `BPF_OBJ_PIN` and `BPF_OBJ_GET`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct ObjAttr {
    /// Pointer to the NUL-terminated path in a bpf filesystem.
    pathname: u64,
    /// The object to pin (`BPF_OBJ_PIN`); 0 for `BPF_OBJ_GET`.
    bpf_fd: u32,
    /// `BPF_F_RDONLY`/`BPF_F_WRONLY` for `BPF_OBJ_GET`; 0: read-write.
    file_flags: u32,
}

/// Pins a map, program or link at `path`, a new file in a bpf filesystem (4.4): it then
/// outlives this process until the file is removed.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &CStr) -> Result<(), SysError> {
    let mut attr = ObjAttr {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    sys_bpf("BPF_OBJ_PIN", BPF_OBJ_PIN, &mut attr).map(drop)
}

/// Opens the object pinned at `path` (4.4).
pub fn obj_get(path: &CStr) -> Result<OwnedFd, SysError> {
    let mut attr = ObjAttr {
        pathname: ptr_u64(path.as_ptr()),
        ..Default::default()
    };
    sys_bpf_fd("BPF_OBJ_GET", BPF_OBJ_GET, &mut attr)
}

/// `BPF_RAW_TRACEPOINT_OPEN`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct RawTracepointOpenAttr {
    /// Pointer to the tracepoint's NUL-terminated name.
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

/// Attaches a raw tracepoint program to tracepoint `name` (4.17), or, with no name, a
/// BTF-typed program (tp_btf, fentry, fexit, fmod_ret, lsm: 5.5) to the target its
/// `attach_btf_id` named at load: the program stays attached while the returned fd is open.
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&CStr>) -> Result<OwnedFd, SysError> {
    let mut attr = RawTracepointOpenAttr {
        name: name.map_or(0, |name| ptr_u64(name.as_ptr())),
        prog_fd: prog.as_raw_fd() as u32,
        ..Default::default()
    };
    // `name` lives across the call.
    sys_bpf_fd(
        "BPF_RAW_TRACEPOINT_OPEN",
        BPF_RAW_TRACEPOINT_OPEN,
        &mut attr,
    )
}

/// `BPF_ITER_CREATE`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

/// A new reading of an iterator link (5.8): reading the returned fd runs the iterator
/// program over its objects (tasks, maps, ...) and gives what it wrote.
pub fn iter_create(link: BorrowedFd<'_>) -> Result<OwnedFd, SysError> {
    let mut attr = IterCreateAttr {
        link_fd: link.as_raw_fd() as u32,
        flags: 0,
    };
    sys_bpf_fd("BPF_ITER_CREATE", BPF_ITER_CREATE, &mut attr)
}

/// `BPF_*_GET_FD_BY_ID`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct GetFdByIdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Opens the program with this id. `ENOENT` once it has been freed, which is how tests check
/// that a program did not outlive its owners.
pub fn prog_get_fd_by_id(id: u32) -> Result<OwnedFd, SysError> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    sys_bpf_fd("BPF_PROG_GET_FD_BY_ID", BPF_PROG_GET_FD_BY_ID, &mut attr)
}

/// The id of the next map after `start` (`BPF_MAP_GET_NEXT_ID`, 4.13), without opening
/// it: how tests check that a map they made is gone. `None` past the last.
#[cfg(test)]
pub fn map_get_next_id(start: u32) -> Result<Option<u32>, SysError> {
    get_next_id("BPF_MAP_GET_NEXT_ID", BPF_MAP_GET_NEXT_ID, start)
}

/// The id of the next program after `start` (`BPF_PROG_GET_NEXT_ID`, 4.13).
#[cfg(test)]
pub fn prog_get_next_id(start: u32) -> Result<Option<u32>, SysError> {
    get_next_id("BPF_PROG_GET_NEXT_ID", BPF_PROG_GET_NEXT_ID, start)
}

/// `BPF_*_GET_NEXT_ID`: the id after `start`, `None` past the last.
fn get_next_id(op: &'static str, cmd: u32, start: u32) -> Result<Option<u32>, SysError> {
    let mut attr = GetFdByIdAttr {
        id: start,
        ..Default::default()
    };
    match sys_bpf(op, cmd, &mut attr) {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(error) if error.errno == libc::ENOENT => Ok(None),
        Err(error) => Err(error),
    }
}

/// The id of the next BTF object after `start` (`BPF_BTF_GET_NEXT_ID`, 5.4): the kernel's
/// own (vmlinux, each module's) and those programs loaded. `None` past the last.
pub fn btf_get_next_id(start: u32) -> Result<Option<u32>, SysError> {
    get_next_id("BPF_BTF_GET_NEXT_ID", BPF_BTF_GET_NEXT_ID, start)
}

/// Opens the BTF object with this id (`BPF_BTF_GET_FD_BY_ID`, 5.4). `ENOENT` once it has
/// been freed (a module unloaded between listing and opening).
pub fn btf_get_fd_by_id(id: u32) -> Result<OwnedFd, SysError> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    sys_bpf_fd("BPF_BTF_GET_FD_BY_ID", BPF_BTF_GET_FD_BY_ID, &mut attr)
}

/// `struct bpf_btf_info` (5.4; `name`, `name_len`, `kernel_btf` 5.11).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct BpfBtfInfoRaw {
    btf: u64,
    btf_size: u32,
    id: u32,
    name: u64,
    name_len: u32,
    kernel_btf: u32,
}

const _: () = assert!(std::mem::size_of::<BpfBtfInfoRaw>() == 32);

/// What the kernel says about a BTF object (`struct bpf_btf_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfObjectInfo {
    /// The kernel-wide id.
    pub id: u32,
    /// `vmlinux`, a module's name, or empty for BTF a program loaded (and before 5.11).
    pub name: String,
    /// The kernel's own BTF (vmlinux or a module's), not one loaded with `BPF_BTF_LOAD`.
    pub kernel_btf: bool,
    /// The size of its raw bytes.
    pub size: u32,
}

/// Asks the kernel about a BTF object (`BPF_OBJ_GET_INFO_BY_FD`): its id, name (module
/// names are at most `MODULE_NAME_LEN`, 56 bytes) and whether it is the kernel's.
pub fn btf_info(btf: BorrowedFd<'_>) -> Result<BtfObjectInfo, SysError> {
    let mut name = [0u8; 64];
    let mut raw = BpfBtfInfoRaw {
        name: ptr_u64(name.as_mut_ptr()),
        name_len: name.len() as u32,
        ..Default::default()
    };
    // `name` lives across the call; the kernel writes at most `name_len` bytes to it.
    obj_info(btf, &mut raw)?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(BtfObjectInfo {
        id: raw.id,
        name: String::from_utf8_lossy(name.get(..end).unwrap_or_default()).into_owned(),
        kernel_btf: raw.kernel_btf != 0,
        size: raw.btf_size,
    })
}

/// The raw bytes of a BTF object (`BPF_OBJ_GET_INFO_BY_FD` with a buffer of the size
/// [`btf_info`] gave): for a module's, split BTF on vmlinux's. `ENOSPC` if it grew.
pub fn btf_data(btf: BorrowedFd<'_>, size: u32) -> Result<Vec<u8>, SysError> {
    let mut bytes = vec![0u8; size as usize];
    let mut raw = BpfBtfInfoRaw {
        btf: ptr_u64(bytes.as_mut_ptr()),
        btf_size: size,
        ..Default::default()
    };
    // `bytes` lives across the call; the kernel copies at most `btf_size` bytes to it.
    obj_info(btf, &mut raw)?;
    bytes.truncate(raw.btf_size.min(size) as usize);
    Ok(bytes)
}

/// `BPF_OBJ_GET_INFO_BY_FD`'s part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `struct bpf_prog_info`, whole (to `attach_btf_id`, 5.16), as the kernel fills it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct BpfProgInfoRaw {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; BPF_OBJ_NAME_LEN],
    ifindex: u32,
    gpl_compatible: u32,
    netns_dev: u64,
    netns_ino: u64,
    nr_jited_ksyms: u32,
    nr_jited_func_lens: u32,
    jited_ksyms: u64,
    jited_func_lens: u64,
    btf_id: u32,
    func_info_rec_size: u32,
    func_info: u64,
    nr_func_info: u32,
    nr_line_info: u32,
    line_info: u64,
    jited_line_info: u64,
    nr_jited_line_info: u32,
    line_info_rec_size: u32,
    jited_line_info_rec_size: u32,
    nr_prog_tags: u32,
    prog_tags: u64,
    run_time_ns: u64,
    run_cnt: u64,
    recursion_misses: u64,
    verified_insns: u32,
    attach_btf_obj_id: u32,
    attach_btf_id: u32,
    _pad: u32,
}

const _: () = assert!(std::mem::size_of::<BpfProgInfoRaw>() == 232);
const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 144);
const _: () = assert!(std::mem::size_of::<MapCreateAttr>() == 72);
const _: () = assert!(std::mem::size_of::<MapElemAttr>() == 32);
const _: () = assert!(std::mem::size_of::<BtfLoadAttr>() == 32);
const _: () = assert!(std::mem::size_of::<LinkCreateAttr>() == 24);
const _: () = assert!(std::mem::size_of::<RawTracepointOpenAttr>() == 16);
const _: () = assert!(std::mem::size_of::<ObjAttr>() == 16);

/// What the kernel says about a loaded program (`struct bpf_prog_info`, the fields a
/// reader of `bpftool prog show` looks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    /// The kernel-wide id (for `BPF_PROG_GET_FD_BY_ID`, `bpftool prog show id N`).
    pub id: u32,
    /// `enum bpf_prog_type`, as a number: the kernel may know types this loader does not.
    pub prog_type: u32,
    /// The name as the kernel kept it (at most 15 bytes).
    pub name: String,
    /// The program's SHA-1 tag (first 8 bytes), as `bpftool` shows it.
    pub tag: [u8; 8],
    /// Bytes of the program after the verifier's rewrites (`xlated`), 0 without CAP_SYS_ADMIN.
    pub xlated_prog_len: u32,
    /// Bytes of JIT-compiled code.
    pub jited_prog_len: u32,
    /// Instructions the verifier processed (5.16; 0 before).
    pub verified_insns: u32,
    /// How many maps the program uses.
    pub nr_map_ids: u32,
    /// The BTF object the program was loaded with, 0 for none.
    pub btf_id: u32,
    /// `bpf_func_info` records the kernel kept (one per function).
    pub nr_func_info: u32,
    /// `bpf_line_info` records the kernel kept.
    pub nr_line_info: u32,
    /// For a BTF-typed program (fentry, tp_btf, lsm...): the id of the BTF object its
    /// target is in (vmlinux's or a module's), 0 when none or before 5.16.
    pub attach_btf_obj_id: u32,
    /// The target's type id in that BTF (5.16).
    pub attach_btf_id: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD`: the kernel fills `info` (a `struct bpf_*_info`), up to the
/// smaller of its size and the kernel's own (an older kernel leaves the rest zero).
pub(super) fn obj_info<T: std::any::Any>(fd: BorrowedFd<'_>, info: &mut T) -> Result<(), SysError> {
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: ptr_u64(info as *mut T),
    };
    sys_bpf("BPF_OBJ_GET_INFO_BY_FD", BPF_OBJ_GET_INFO_BY_FD, &mut attr).map(drop)
}

/// A kernel object name: the bytes up to the first NUL.
fn name_of(raw: &[u8; BPF_OBJ_NAME_LEN]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned()
}

/// Asks the kernel about a program (`BPF_OBJ_GET_INFO_BY_FD`).
pub fn prog_info(prog: BorrowedFd<'_>) -> Result<ProgramInfo, SysError> {
    let mut raw = BpfProgInfoRaw::default();
    obj_info(prog, &mut raw)?;
    Ok(ProgramInfo {
        id: raw.id,
        prog_type: raw.prog_type,
        name: name_of(&raw.name),
        tag: raw.tag,
        xlated_prog_len: raw.xlated_prog_len,
        jited_prog_len: raw.jited_prog_len,
        verified_insns: raw.verified_insns,
        nr_map_ids: raw.nr_map_ids,
        btf_id: raw.btf_id,
        nr_func_info: raw.nr_func_info,
        nr_line_info: raw.nr_line_info,
        attach_btf_obj_id: raw.attach_btf_obj_id,
        attach_btf_id: raw.attach_btf_id,
    })
}

/// `struct bpf_map_info`, whole (to `map_extra`, 5.16).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct BpfMapInfoRaw {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; BPF_OBJ_NAME_LEN],
    ifindex: u32,
    btf_vmlinux_value_type_id: u32,
    netns_dev: u64,
    netns_ino: u64,
    btf_id: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_id: u32,
    map_extra: u64,
}

const _: () = assert!(std::mem::size_of::<BpfMapInfoRaw>() == 88);

/// What the kernel says about a map (`struct bpf_map_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// The kernel-wide id (`bpftool map show id N`).
    pub id: u32,
    /// `enum bpf_map_type`.
    pub map_type: crate::uapi::MapType,
    /// The name as the kernel kept it (at most 15 bytes).
    pub name: String,
    /// Bytes of a key.
    pub key_size: u32,
    /// Bytes of a value (of one CPU's value, for per-CPU maps).
    pub value_size: u32,
    /// The capacity the map was created with.
    pub max_entries: u32,
    /// `BPF_F_*` flags it was created with.
    pub map_flags: u32,
    /// The BTF object describing its key and value, 0 for none.
    pub btf_id: u32,
    /// The key's type id in that BTF object, 0 for none.
    pub btf_key_type_id: u32,
    /// The value's type id in that BTF object, 0 for none.
    pub btf_value_type_id: u32,
    /// The type's extra attribute (a bloom filter's hash functions); 0 before 5.16.
    pub map_extra: u64,
}

/// Asks the kernel about a map (`BPF_OBJ_GET_INFO_BY_FD`).
pub fn map_info(map: BorrowedFd<'_>) -> Result<MapInfo, SysError> {
    let mut raw = BpfMapInfoRaw::default();
    obj_info(map, &mut raw)?;
    Ok(MapInfo {
        id: raw.id,
        map_type: crate::uapi::MapType(raw.map_type),
        name: name_of(&raw.name),
        key_size: raw.key_size,
        value_size: raw.value_size,
        max_entries: raw.max_entries,
        map_flags: raw.map_flags,
        btf_id: raw.btf_id,
        btf_key_type_id: raw.btf_key_type_id,
        btf_value_type_id: raw.btf_value_type_id,
        map_extra: raw.map_extra,
    })
}

/// `BPF_LINK_CREATE` with a raw target fd, for feature probes: libbpf's `probe_perf_link`
/// passes -1 on purpose, and a kernel that knows `BPF_PERF_EVENT` answers `EBADF` (it got as
/// far as looking the fd up), one that does not answers `EINVAL`.
pub(crate) fn link_create_raw_target(
    prog: BorrowedFd<'_>,
    target_fd: RawFd,
    attach_type: u32,
) -> Result<OwnedFd, SysError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: target_fd as u32,
        attach_type,
        ..Default::default()
    };
    sys_bpf_fd("BPF_LINK_CREATE", BPF_LINK_CREATE, &mut attr)
}

/// `BPF_PROG_QUERY`'s part of `union bpf_attr`, up to `prog_cnt` and its padding.
#[repr(C)]
#[derive(Debug, Default)]
struct ProgQueryAttr {
    /// The target: a cgroup fd, or for TCX (6.6) the interface's index.
    target: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    /// Pointer to a `u32` array the kernel fills with program ids.
    prog_ids: u64,
    /// In: the array's length; out: how many programs are attached.
    prog_cnt: u32,
    _pad: u32,
}

/// `BPF_PROG_QUERY` (4.15; for TCX hooks 6.6): the ids of the programs attached to
/// `target` (an ifindex for `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS`) with `attach_type`, up to
/// 64 of them.
pub fn prog_query(target: u32, attach_type: u32) -> Result<Vec<u32>, SysError> {
    let mut ids = [0u32; 64];
    let mut attr = ProgQueryAttr {
        target,
        attach_type,
        prog_ids: ptr_u64(ids.as_mut_ptr()),
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    sys_bpf("BPF_PROG_QUERY", BPF_PROG_QUERY, &mut attr)?;
    let n = (attr.prog_cnt as usize).min(ids.len());
    Ok(ids[..n].to_vec())
}
