//! A fake kernel for the crate's unit tests (`cfg(test)` only), as aya's `sys/fake.rs`:
//! installed on a test's thread, it answers every system call the [seam](super::super::seam)
//! sees there, so that the load and attach logic (fallbacks, pin checks, slot fills, the
//! memlock raise, errors) is tested without root and without a kernel.
//!
//! What it does with each call, in order:
//! 1. records it as one line, the command and the attribute fields a reader checks
//!    (`BPF_MAP_CREATE outer type=12 key=4 value=4 max=2 inner=inner_a`), objects named
//!    by their names, never by fd numbers, so that a test compares whole sequences;
//! 2. fails it with the fault plan's errno if it is the planned call ([`FakeKernel::fail_nth`]),
//!    or with a rule's ([`FakeKernel::refuse`]);
//! 3. answers it: from its own model of a recent kernel ([`FakeKernel::install`]): maps
//!    that keep their elements (and, as the kernel, no BTF for maps of fds), programs,
//!    BTF, links, perf events, sockets, a bpf filesystem of pins; or by making the real call ([`FakeKernel::over_real_kernel`],
//!    to inject faults into a real load).
//!
//! The fds it hands out are real: each is a `memfd` named after the fake and the object
//! (`/memfd:fakebpf-PID-N map events`), so the code under test closes them as it would
//! a kernel's, and a test can see which ones are still open ([`FakeKernel::open_fds`]).
//!
//! The `unsafe` here reads and writes through the pointers of an attribute, as the kernel
//! does (a map key, a pin's path, a `bpf_map_info` to fill): each pointer was set by this
//! module's callers to a buffer of the size the command implies, alive across the call.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fmt;
use std::os::fd::{BorrowedFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::syscall::seam::{outcome, Call};
use crate::syscall::{PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT};
use crate::uapi::MapType;

/// One call, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The command: a `bpf_cmd` name, `perf_event_open`, `PERF_EVENT_IOC_SET_BPF`, ...
    pub op: &'static str,
    /// The fields a reader checks, objects by name.
    pub detail: String,
}

impl Seen {
    /// The object the call is about: the first word of the detail (a map's or program's
    /// name, `outer[1]`, the size of a BTF blob).
    pub(crate) fn object(&self) -> &str {
        self.detail.split(' ').next().unwrap_or_default()
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.op)
        } else {
            write!(f, "{} {}", self.op, self.detail)
        }
    }
}

/// A kernel object of the fake, behind one of its fds.
#[derive(Debug, Clone, Default)]
struct Object {
    /// `map`, `prog`, `btf`, `link`, `perf`, `socket`.
    kind: &'static str,
    name: String,
    id: u32,
    /// A map's attributes, as created.
    map: Option<MapCreateAttr>,
    /// The BTF object a map was typed with (its id), 0 for none.
    btf_id: u32,
    prog_type: u32,
    /// A map's elements.
    values: HashMap<Vec<u8>, Vec<u8>>,
}

type Rule = Box<dyn FnMut(&Seen) -> Option<i32>>;

/// The state of the fake installed on one thread.
struct Kernel {
    /// Unique to this fake: in every fd's name.
    tag: String,
    /// Make the real calls (fault injection into a real load).
    real: bool,
    calls: Vec<Seen>,
    /// The call (1 = the first since install) that fails, its errno, and whether the
    /// same command on the same object keeps failing after it.
    fault: Option<(usize, i32, bool)>,
    failed: Option<Seen>,
    rules: Vec<Rule>,
    objects: HashMap<RawFd, Object>,
    pins: HashMap<String, Object>,
    next_id: u32,
    memlock: libc::rlimit,
    last_sent: Vec<u8>,
    btf_loads: Vec<Vec<u8>>,
    probes: HashMap<usize, Box<dyn Any>>,
    /// Over the real kernel: the maps, programs and BTF it made, by id.
    real_ids: Vec<(&'static str, u32)>,
}

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
}

static INSTALLS: AtomicU32 = AtomicU32::new(0);

/// The fake installed on this thread; uninstalled when dropped.
pub(crate) struct FakeKernel {
    /// Bound to the thread it was installed on.
    _thread: std::marker::PhantomData<*const ()>,
}

fn with<R>(f: impl FnOnce(&mut Kernel) -> R) -> R {
    KERNEL.with(|k| {
        let mut k = k.borrow_mut();
        f(k.as_mut().expect("no fake kernel on this thread"))
    })
}

/// Takes the fake out of the thread while it answers, so that what it calls itself (the
/// real call, an info query over the real kernel) goes to the kernel.
fn take() -> Option<Kernel> {
    KERNEL.with(|k| k.borrow_mut().take())
}

fn put(kernel: Kernel) {
    KERNEL.with(|k| *k.borrow_mut() = Some(kernel));
}

/// Is a fake installed on this thread (and not busy answering)?
pub(crate) fn installed() -> bool {
    KERNEL.with(|k| k.borrow().is_some())
}

impl FakeKernel {
    fn new(real: bool) -> FakeKernel {
        assert!(
            !installed(),
            "a fake kernel is already installed on this thread"
        );
        let n = INSTALLS.fetch_add(1, Ordering::Relaxed);
        put(Kernel {
            tag: format!("fakebpf-{}-{n}", std::process::id()),
            real,
            calls: Vec::new(),
            fault: None,
            failed: None,
            rules: Vec::new(),
            objects: HashMap::new(),
            pins: HashMap::new(),
            next_id: 1,
            memlock: libc::rlimit {
                rlim_cur: 8 << 20,
                rlim_max: 8 << 20,
            },
            last_sent: Vec::new(),
            btf_loads: Vec::new(),
            probes: HashMap::new(),
            real_ids: Vec::new(),
        });
        FakeKernel {
            _thread: std::marker::PhantomData,
        }
    }

    /// A fake that answers every call from its model of a recent kernel (6.x: BTF of
    /// every kind, BPF links for perf events and TCX, memory cgroup accounting).
    pub(crate) fn install() -> FakeKernel {
        FakeKernel::new(false)
    }

    /// A fake that passes every call to the real kernel, but for the planned fault and the
    /// rules, and notes the id of each map, program and BTF object the kernel made.
    pub(crate) fn over_real_kernel() -> FakeKernel {
        FakeKernel::new(true)
    }

    /// The `n`th call since install (from 1) fails with `errno`, without reaching the
    /// model or the kernel; the calls after it do not (a transient error: `EAGAIN`).
    pub(crate) fn fail_nth(&self, n: usize, errno: i32) {
        with(|k| k.fault = Some((n, errno, false)));
    }

    /// The `n`th call since install fails with `errno`, and so does every later call of
    /// the same command on the same object ([`Seen::object`]): a kernel that keeps
    /// refusing it (`EPERM`, `ENOMEM`, `E2BIG`), whatever the loader retries.
    pub(crate) fn fail_from(&self, n: usize, errno: i32) {
        with(|k| k.fault = Some((n, errno, true)));
    }

    /// Every call for which `rule` gives an errno fails with it (rules are asked in the
    /// order they were given, after the fault plan). A rule must not use the fake.
    pub(crate) fn refuse(&self, rule: impl FnMut(&Seen) -> Option<i32> + 'static) {
        with(|k| k.rules.push(Box::new(rule)));
    }

    /// The last netlink request sent, as sent.
    pub(crate) fn last_sent(&self) -> Vec<u8> {
        with(|k| k.last_sent.clone())
    }

    /// Every call so far, one line each.
    pub(crate) fn calls(&self) -> Vec<String> {
        with(|k| k.calls.iter().map(Seen::to_string).collect())
    }

    /// The calls since the last `take_calls` (or install), and forgets them.
    pub(crate) fn take_calls(&self) -> Vec<String> {
        with(|k| {
            let calls = k.calls.iter().map(Seen::to_string).collect();
            k.calls.clear();
            k.fault = None;
            calls
        })
    }

    /// The call the fault plan failed, if it came.
    pub(crate) fn failed(&self) -> Option<Seen> {
        with(|k| k.failed.clone())
    }

    /// Pins a map of these attributes at `path` in the fake's bpf filesystem, as if
    /// another process had.
    pub(crate) fn pin_map(&self, path: &str, attr: MapCreateAttr) {
        with(|k| {
            let id = k.new_id();
            let name = name_of(&attr.map_name);
            k.pins.insert(
                path.to_string(),
                Object {
                    kind: "map",
                    name,
                    id,
                    map: Some(attr),
                    ..Object::default()
                },
            );
        });
    }

    /// The paths pinned in the fake's bpf filesystem.
    pub(crate) fn pins(&self) -> Vec<String> {
        with(|k| {
            let mut pins: Vec<String> = k.pins.keys().cloned().collect();
            pins.sort();
            pins
        })
    }

    /// `RLIMIT_MEMLOCK` as the fake's `getrlimit` gives it (8 MiB unless set).
    pub(crate) fn set_memlock(&self, limit: libc::rlimit) {
        with(|k| k.memlock = limit);
    }

    /// `RLIMIT_MEMLOCK` as set last.
    pub(crate) fn memlock(&self) -> libc::rlimit {
        with(|k| k.memlock)
    }

    /// The bytes of each `BPF_BTF_LOAD`, in order.
    pub(crate) fn btf_loads(&self) -> Vec<Vec<u8>> {
        with(|k| k.btf_loads.clone())
    }

    /// The fds this fake handed out that are still open in the process, by name
    /// (`map events`, `prog tcp_v4_connect`), sorted.
    pub(crate) fn open_fds(&self) -> Vec<String> {
        let tag = with(|k| format!("/memfd:{} ", k.tag));
        let mut open = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd")
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.to_string_lossy();
                if let Some(rest) = target.strip_prefix(&tag) {
                    open.push(rest.trim_end_matches(" (deleted)").to_string());
                }
            }
        }
        open.sort();
        open
    }

    /// Over the real kernel: the (`map`/`prog`/`btf`, id) of every object it made.
    pub(crate) fn real_ids(&self) -> Vec<(&'static str, u32)> {
        with(|k| k.real_ids.clone())
    }
}

impl Drop for FakeKernel {
    fn drop(&mut self) {
        take();
    }
}

/// A feature probe's answer, once per fake (see [`crate::syscall::probe_once`]).
pub(crate) fn probe_once<T: Copy + 'static>(key: usize, probe: impl FnOnce() -> T) -> T {
    let known = with(|k| {
        k.probes
            .get(&key)
            .and_then(|v| v.downcast_ref::<T>())
            .copied()
    });
    if let Some(value) = known {
        return value;
    }
    let value = probe();
    with(|k| k.probes.insert(key, Box::new(value)));
    value
}

/// The name in a kernel object name field.
fn name_of(raw: &[u8; crate::uapi::BPF_OBJ_NAME_LEN]) -> String {
    super::name_of(raw)
}

/// `enum bpf_cmd` by name.
fn cmd_name(cmd: u32) -> &'static str {
    match cmd {
        BPF_MAP_CREATE => "BPF_MAP_CREATE",
        BPF_MAP_LOOKUP_ELEM => "BPF_MAP_LOOKUP_ELEM",
        BPF_MAP_UPDATE_ELEM => "BPF_MAP_UPDATE_ELEM",
        BPF_MAP_DELETE_ELEM => "BPF_MAP_DELETE_ELEM",
        BPF_MAP_GET_NEXT_KEY => "BPF_MAP_GET_NEXT_KEY",
        BPF_PROG_LOAD => "BPF_PROG_LOAD",
        BPF_OBJ_PIN => "BPF_OBJ_PIN",
        BPF_OBJ_GET => "BPF_OBJ_GET",
        BPF_PROG_ATTACH => "BPF_PROG_ATTACH",
        BPF_PROG_DETACH => "BPF_PROG_DETACH",
        BPF_PROG_TEST_RUN => "BPF_PROG_TEST_RUN",
        BPF_PROG_GET_FD_BY_ID => "BPF_PROG_GET_FD_BY_ID",
        BPF_PROG_GET_NEXT_ID => "BPF_PROG_GET_NEXT_ID",
        BPF_MAP_GET_NEXT_ID => "BPF_MAP_GET_NEXT_ID",
        BPF_OBJ_GET_INFO_BY_FD => "BPF_OBJ_GET_INFO_BY_FD",
        BPF_PROG_QUERY => "BPF_PROG_QUERY",
        BPF_RAW_TRACEPOINT_OPEN => "BPF_RAW_TRACEPOINT_OPEN",
        BPF_BTF_LOAD => "BPF_BTF_LOAD",
        BPF_BTF_GET_FD_BY_ID => "BPF_BTF_GET_FD_BY_ID",
        BPF_MAP_FREEZE => "BPF_MAP_FREEZE",
        BPF_BTF_GET_NEXT_ID => "BPF_BTF_GET_NEXT_ID",
        BPF_LINK_CREATE => "BPF_LINK_CREATE",
        BPF_ITER_CREATE => "BPF_ITER_CREATE",
        crate::syscall::BPF_LINK_DETACH => "BPF_LINK_DETACH",
        crate::syscall::BPF_LINK_UPDATE => "BPF_LINK_UPDATE",
        crate::syscall::BPF_MAP_LOOKUP_AND_DELETE_ELEM => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        _ => "bpf(unknown command)",
    }
}

/// Does a map of this type hold fds (its values are other maps or programs)?
fn holds_fds(map_type: u32) -> bool {
    matches!(
        MapType(map_type),
        MapType::PROG_ARRAY | MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS
    )
}

/// Map types whose `map_check_btf` is `map_check_no_btf` (`ENOTSUPP` for a map created
/// with BTF): prog arrays, perf event arrays, stack traces, cgroup arrays, maps of maps,
/// devmaps, sockmaps, cpumaps, xskmaps, sockhashes, reuseport arrays.
fn refuses_btf(map_type: u32) -> bool {
    matches!(
        map_type,
        3 | 4 | 7 | 8 | 12 | 13 | 14 | 15 | 16 | 17 | 18 | 20 | 25
    )
}

/// Bytes of a value as user space passes it: one per possible CPU for per-CPU maps, as
/// `load::map` computes it.
fn user_value_len(map: &MapCreateAttr) -> usize {
    if matches!(map.map_type, 5 | 6 | 10 | 21) {
        let cpus = crate::syscall::possible_cpus()
            .ok()
            .and_then(|cpus| cpus.into_iter().max())
            .map_or(1, |max| max as usize + 1);
        (map.value_size as usize).next_multiple_of(8) * cpus
    } else {
        map.value_size as usize
    }
}

/// `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` is 0 or points to at least `len` readable bytes.
unsafe fn bytes_at(ptr: u64, len: usize) -> Vec<u8> {
    if ptr == 0 || len == 0 {
        return Vec::new();
    }
    // SAFETY: the caller's promise.
    unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len) }.to_vec()
}

/// The NUL-terminated string at `ptr`.
///
/// # Safety
/// `ptr` is 0 or points to a NUL-terminated string.
unsafe fn str_at(ptr: u64) -> String {
    if ptr == 0 {
        return String::new();
    }
    // SAFETY: the caller's promise.
    unsafe { CStr::from_ptr(ptr as usize as *const libc::c_char) }
        .to_string_lossy()
        .into_owned()
}

/// Copies `value` to `ptr`, at most `len` bytes.
///
/// # Safety
/// `ptr` points to at least `len` writable bytes.
unsafe fn write_at(ptr: u64, len: usize, value: &[u8]) {
    let n = value.len().min(len);
    if ptr != 0 && n != 0 {
        // SAFETY: the caller's promise; `value` is a separate buffer of at least `n` bytes.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), ptr as usize as *mut u8, n) };
    }
}

/// The bytes of a plain `#[repr(C)]` struct of this module (no padding left implicit).
fn raw_bytes<T: Copy>(value: &T) -> Vec<u8> {
    // SAFETY: `T` is one of the info structs of the parent module, whose every byte is an
    // explicit, initialised field; the slice is read while `value` is borrowed.
    unsafe { std::slice::from_raw_parts(value as *const T as *const u8, std::mem::size_of::<T>()) }
        .to_vec()
}

/// A key as the records show it: a `u32` as a number, else hex.
fn show_key(key: &[u8]) -> String {
    match <[u8; 4]>::try_from(key) {
        Ok(k) => u32::from_ne_bytes(k).to_string(),
        Err(_) => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

impl Kernel {
    fn new_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The object behind `fd`, by its name: the fd's memfd says which, so that a
    /// duplicate of one of the fake's fds (a link's own copy of a program) is named as
    /// the original; a file by its path (a cgroup directory); an fd of the real kernel by
    /// the object recorded for it (over the real kernel); else `fd N`.
    fn name(&self, fd: u32) -> String {
        let fd = fd as RawFd;
        let path = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|p| {
                p.to_string_lossy()
                    .trim_end_matches(" (deleted)")
                    .to_string()
            })
            .unwrap_or_default();
        if let Some(rest) = path.strip_prefix(&format!("/memfd:{} ", self.tag)) {
            // "KIND NAME": the name.
            return rest
                .split_once(' ')
                .map_or(rest, |(_, name)| name)
                .to_string();
        }
        if path.starts_with('/') {
            return path;
        }
        match self.objects.get(&fd) {
            Some(object) => object.name.clone(),
            None => format!("fd {fd}"),
        }
    }

    /// A new fd for a new object: a memfd named after this fake and the object.
    fn new_fd(&mut self, mut object: Object) -> Result<i64, i32> {
        let label = CString::new(format!("{} {} {}", self.tag, object.kind, object.name))
            .map_err(|_| libc::EINVAL)?;
        let fd =
            nix::sys::memfd::memfd_create(&label, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
                .map_err(|e| e as i32)?
                .into_raw_fd();
        if object.id == 0 {
            object.id = self.new_id();
        }
        self.objects.insert(fd, object);
        Ok(i64::from(fd))
    }

    /// Steps 1 and 2: record the call; the errno it fails with, if it does.
    fn decide(&mut self, seen: Seen) -> Option<i32> {
        self.calls.push(seen.clone());
        if let Some((n, errno, persist)) = self.fault {
            if self.calls.len() == n {
                self.failed = Some(seen);
                return Some(errno);
            }
            let again = self.failed.as_ref().is_some_and(|failed| {
                persist && failed.op == seen.op && failed.object() == seen.object()
            });
            if again {
                return Some(errno);
            }
        }
        self.rules.iter_mut().find_map(|rule| rule(&seen))
    }

    /// The record of a `bpf(2)` call.
    fn describe_bpf(&self, cmd: u32, attr: &dyn Any) -> Seen {
        let op = cmd_name(cmd);
        let detail = match cmd {
            BPF_MAP_CREATE => attr.downcast_ref::<MapCreateAttr>().map(|a| {
                let mut d = format!(
                    "{} type={} key={} value={} max={}",
                    name_of(&a.map_name),
                    a.map_type,
                    a.key_size,
                    a.value_size,
                    a.max_entries
                );
                if a.map_flags != 0 {
                    d.push_str(&format!(" flags={:#x}", a.map_flags));
                }
                if a.inner_map_fd != 0 {
                    d.push_str(&format!(" inner={}", self.name(a.inner_map_fd)));
                }
                if a.btf_fd != 0 {
                    d.push_str(&format!(
                        " btf={}/{}",
                        a.btf_key_type_id, a.btf_value_type_id
                    ));
                }
                d
            }),
            BPF_MAP_UPDATE_ELEM | BPF_MAP_LOOKUP_ELEM | BPF_MAP_DELETE_ELEM => {
                attr.downcast_ref::<MapElemAttr>().map(|a| {
                    let map = self.objects.get(&(a.map_fd as RawFd));
                    let Some(spec) = map.and_then(|m| m.map) else {
                        return self.name(a.map_fd);
                    };
                    // SAFETY: the kernel reads `key_size` bytes at `key`; `load::map`
                    // passes keys of the map's size (checked in `Map::update` and
                    // `Map::lookup`).
                    let key = unsafe { bytes_at(a.key, spec.key_size as usize) };
                    let mut d = format!("{}[{}]", self.name(a.map_fd), show_key(&key));
                    if cmd == BPF_MAP_UPDATE_ELEM {
                        if holds_fds(spec.map_type) {
                            // SAFETY: as the key: a value of the map's size, 4 here.
                            let v = unsafe { bytes_at(a.value, 4) };
                            let fd = u32::from_ne_bytes(v.try_into().unwrap_or_default());
                            d.push_str(&format!(" = {}", self.name(fd)));
                        } else {
                            d.push_str(&format!(" = {} bytes", user_value_len(&spec)));
                        }
                    }
                    d
                })
            }
            BPF_MAP_GET_NEXT_KEY => attr
                .downcast_ref::<MapElemAttr>()
                .map(|a| self.name(a.map_fd)),
            BPF_MAP_FREEZE => attr
                .downcast_ref::<MapFreezeAttr>()
                .map(|a| self.name(a.map_fd)),
            BPF_PROG_LOAD => attr.downcast_ref::<ProgLoadAttr>().map(|a| {
                let mut d = format!("{} type={}", name_of(&a.prog_name), a.prog_type);
                if a.expected_attach_type != 0 {
                    d.push_str(&format!(" attach_type={}", a.expected_attach_type));
                }
                if a.func_info_cnt != 0 || a.line_info_cnt != 0 {
                    d.push_str(" btf_info");
                }
                d.push_str(&format!(" log={}", a.log_level));
                d
            }),
            BPF_BTF_LOAD => attr
                .downcast_ref::<BtfLoadAttr>()
                .map(|a| format!("{} bytes log={}", a.btf_size, a.btf_log_level)),
            BPF_LINK_CREATE => attr
                .downcast_ref::<LinkCreateAttr>()
                .map(|a| {
                    let target = match a.attach_type {
                        46 | 47 => format!("ifindex {}", a.target_fd),
                        _ => self.name(a.target_fd),
                    };
                    let mut d = format!(
                        "{} -> {target} attach_type={}",
                        self.name(a.prog_fd),
                        a.attach_type
                    );
                    if a.bpf_cookie != 0 {
                        d.push_str(&format!(" cookie={}", a.bpf_cookie));
                    }
                    d
                })
                .or_else(|| {
                    // An iterator, with its `union bpf_iter_link_info` (iter.rs).
                    let a = attr.downcast_ref::<crate::syscall::iter::IterLinkAttr>()?;
                    let mut d = format!("{} iter", self.name(a.prog_fd));
                    if a.iter_info_len != 0 {
                        // SAFETY: `link_create_iter` passes `iter_info_len` bytes at
                        // `iter_info`.
                        let info = unsafe { bytes_at(a.iter_info, a.iter_info_len as usize) };
                        let words: Vec<String> = info
                            .chunks_exact(4)
                            .map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]).to_string())
                            .collect();
                        d.push_str(&format!(" info=[{}]", words.join(" ")));
                    }
                    Some(d)
                })
                .or_else(|| {
                    // An interface or namespace target, with flags (attach_target.rs).
                    let a = attr.downcast_ref::<crate::syscall::attach_target::LinkTargetAttr>()?;
                    let target = match a.attach_type {
                        37 => format!("ifindex {}", a.target),
                        _ => self.name(a.target),
                    };
                    Some(format!(
                        "{} -> {target} attach_type={} flags={:#x}",
                        self.name(a.prog_fd),
                        a.attach_type,
                        a.flags
                    ))
                }),
            BPF_RAW_TRACEPOINT_OPEN => attr.downcast_ref::<RawTracepointOpenAttr>().map(|a| {
                // SAFETY: `raw_tracepoint_open` passes a NUL-terminated name or none.
                let name = unsafe { str_at(a.name) };
                format!("{} {name}", self.name(a.prog_fd))
                    .trim_end()
                    .to_string()
            }),
            BPF_OBJ_PIN | BPF_OBJ_GET => attr.downcast_ref::<ObjAttr>().map(|a| {
                // SAFETY: `obj_pin` and `obj_get` pass a NUL-terminated path.
                let path = unsafe { str_at(a.pathname) };
                if cmd == BPF_OBJ_PIN {
                    format!("{} {path}", self.name(a.bpf_fd))
                } else {
                    path
                }
            }),
            BPF_OBJ_GET_INFO_BY_FD => attr.downcast_ref::<InfoAttr>().map(|a| self.name(a.bpf_fd)),
            BPF_PROG_ATTACH | BPF_PROG_DETACH => attr
                .downcast_ref::<crate::syscall::attach::ProgAttachAttr>()
                .map(|a| {
                    format!(
                        "{} -> {} attach_type={} flags={}",
                        self.name(a.attach_bpf_fd),
                        self.name(a.target_fd),
                        a.attach_type,
                        a.attach_flags
                    )
                }),
            BPF_PROG_QUERY => attr
                .downcast_ref::<ProgQueryAttr>()
                .map(|a| format!("target={} attach_type={}", a.target, a.attach_type)),
            _ => None,
        };
        Seen {
            op,
            detail: detail.unwrap_or_default(),
        }
    }

    /// The object a successful `bpf(2)` call makes, if it makes one.
    fn object_made(&self, cmd: u32, attr: &dyn Any) -> Option<Object> {
        match cmd {
            BPF_MAP_CREATE => {
                let a = *attr.downcast_ref::<MapCreateAttr>()?;
                let btf_id = match a.btf_fd {
                    0 => 0,
                    fd => self.objects.get(&(fd as RawFd)).map_or(0, |o| o.id),
                };
                Some(Object {
                    kind: "map",
                    name: name_of(&a.map_name),
                    map: Some(a),
                    btf_id,
                    ..Object::default()
                })
            }
            BPF_PROG_LOAD => {
                let a = attr.downcast_ref::<ProgLoadAttr>()?;
                Some(Object {
                    kind: "prog",
                    name: name_of(&a.prog_name),
                    prog_type: a.prog_type,
                    ..Object::default()
                })
            }
            BPF_BTF_LOAD => Some(Object {
                kind: "btf",
                name: "BTF".to_string(),
                ..Object::default()
            }),
            BPF_LINK_CREATE | BPF_RAW_TRACEPOINT_OPEN | BPF_ITER_CREATE => Some(Object {
                kind: "link",
                name: self.describe_bpf(cmd, attr).detail,
                ..Object::default()
            }),
            _ => None,
        }
    }

    /// Step 3 of a `bpf(2)` call, from the model.
    fn answer_bpf(&mut self, cmd: u32, attr: &mut dyn Any) -> Result<i64, i32> {
        match cmd {
            // As the kernel's `map_check_no_btf`: no BTF key or value for the maps whose
            // values are fds, cgroups or stack ids (the loader then creates them without).
            BPF_MAP_CREATE
                if attr
                    .downcast_ref::<MapCreateAttr>()
                    .is_some_and(|a| a.btf_fd != 0 && refuses_btf(a.map_type)) =>
            {
                Err(crate::syscall::error::ENOTSUPP)
            }
            // As the kernel: the program is looked up first (the probes' fd -1).
            BPF_LINK_CREATE
                if attr
                    .downcast_ref::<crate::syscall::attach_target::LinkTargetAttr>()
                    .is_some_and(|a| !self.objects.contains_key(&(a.prog_fd as RawFd))) =>
            {
                Err(libc::EBADF)
            }
            BPF_MAP_CREATE
            | BPF_PROG_LOAD
            | BPF_LINK_CREATE
            | BPF_RAW_TRACEPOINT_OPEN
            | BPF_ITER_CREATE => {
                let object = self.object_made(cmd, attr).ok_or(libc::EINVAL)?;
                self.new_fd(object)
            }
            BPF_MAP_UPDATE_ELEM | BPF_MAP_LOOKUP_ELEM | BPF_MAP_DELETE_ELEM => {
                let a = attr.downcast_ref::<MapElemAttr>().ok_or(libc::EINVAL)?;
                let map = self
                    .objects
                    .get_mut(&(a.map_fd as RawFd))
                    .ok_or(libc::EBADF)?;
                let spec = map.map.ok_or(libc::EINVAL)?;
                let len = user_value_len(&spec);
                // SAFETY: as in `describe_bpf`: keys of the map's size.
                let key = unsafe { bytes_at(a.key, spec.key_size as usize) };
                match cmd {
                    BPF_MAP_UPDATE_ELEM => {
                        // SAFETY: values of the map's size as user space passes them.
                        let value = unsafe { bytes_at(a.value, len) };
                        map.values.insert(key, value);
                        Ok(0)
                    }
                    BPF_MAP_DELETE_ELEM => map.values.remove(&key).map(|_| 0).ok_or(libc::ENOENT),
                    _ => {
                        let is_array =
                            matches!(MapType(spec.map_type), MapType::ARRAY) || spec.map_type == 6;
                        let index = show_key(&key).parse::<u32>().ok();
                        let value = match map.values.get(&key) {
                            Some(value) => value.clone(),
                            None if is_array && index.is_some_and(|i| i < spec.max_entries) => {
                                vec![0; len]
                            }
                            None => return Err(libc::ENOENT),
                        };
                        // SAFETY: `map_lookup_elem`'s buffer is the map's value size as
                        // user space reads it (`Map::lookup`).
                        unsafe { write_at(a.value, len, &value) };
                        Ok(0)
                    }
                }
            }
            BPF_MAP_GET_NEXT_KEY => Err(libc::ENOENT),
            BPF_MAP_FREEZE | BPF_PROG_TEST_RUN | BPF_PROG_ATTACH | BPF_PROG_DETACH => Ok(0),
            BPF_BTF_LOAD => {
                let a = attr.downcast_ref::<BtfLoadAttr>().ok_or(libc::EINVAL)?;
                // SAFETY: `load_btf` passes a slice of `btf_size` bytes.
                let bytes = unsafe { bytes_at(a.btf, a.btf_size as usize) };
                self.btf_loads.push(bytes);
                let object = self.object_made(cmd, attr).ok_or(libc::EINVAL)?;
                self.new_fd(object)
            }
            BPF_OBJ_PIN => {
                let a = attr.downcast_ref::<ObjAttr>().ok_or(libc::EINVAL)?;
                // SAFETY: as in `describe_bpf`.
                let path = unsafe { str_at(a.pathname) };
                if self.pins.contains_key(&path) {
                    return Err(libc::EEXIST);
                }
                let object = self.objects.get(&(a.bpf_fd as RawFd)).ok_or(libc::EBADF)?;
                self.pins.insert(path, object.clone());
                Ok(0)
            }
            BPF_OBJ_GET => {
                let a = attr.downcast_ref::<ObjAttr>().ok_or(libc::EINVAL)?;
                // SAFETY: as in `describe_bpf`.
                let path = unsafe { str_at(a.pathname) };
                let object = self.pins.get(&path).cloned().ok_or(libc::ENOENT)?;
                self.new_fd(object)
            }
            BPF_OBJ_GET_INFO_BY_FD => {
                let a = attr.downcast_ref::<InfoAttr>().ok_or(libc::EINVAL)?;
                let object = self.objects.get(&(a.bpf_fd as RawFd)).ok_or(libc::EBADF)?;
                let info = object_info(object);
                // SAFETY: `obj_info` points `info` at a struct of `info_len` bytes.
                unsafe { write_at(a.info, a.info_len as usize, &info) };
                Ok(0)
            }
            BPF_PROG_QUERY => {
                let a = attr.downcast_mut::<ProgQueryAttr>().ok_or(libc::EINVAL)?;
                a.prog_cnt = 0;
                Ok(0)
            }
            // No kernel modules, and no object known by id.
            BPF_BTF_GET_NEXT_ID
            | BPF_BTF_GET_FD_BY_ID
            | BPF_PROG_GET_FD_BY_ID
            | BPF_PROG_GET_NEXT_ID
            | BPF_MAP_GET_NEXT_ID => Err(libc::ENOENT),
            _ => Err(libc::EINVAL),
        }
    }

    /// Over the real kernel: note the object the kernel just made, by name for the
    /// records and by id for the test.
    fn note_real(&mut self, cmd: u32, attr: &dyn Any, fd: i64) {
        let Ok(fd) = RawFd::try_from(fd) else { return };
        if let Some(object) = self.object_made(cmd, attr) {
            self.objects.insert(fd, object);
        }
        // SAFETY: the kernel just returned this fd to the caller, who owns it and has not
        // seen it yet: it is open for the length of this borrow.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let id = match cmd {
            BPF_MAP_CREATE => map_info(fd).map(|i| ("map", i.id)),
            BPF_PROG_LOAD => prog_info(fd).map(|i| ("prog", i.id)),
            BPF_BTF_LOAD => btf_info(fd).map(|i| ("btf", i.id)),
            _ => return,
        };
        if let Ok(id) = id {
            self.real_ids.push(id);
        }
    }

    /// The record of any other call.
    fn describe(&self, call: &Call<'_>) -> Seen {
        match *call {
            Call::PerfEventOpen { attr, pid, cpu } => {
                let mut detail = format!(
                    "type={} config={:#x} pid={pid} cpu={cpu}",
                    attr.type_, attr.config
                );
                if attr.config1 != 0 && attr.type_ > PERF_TYPE_TRACEPOINT {
                    // SAFETY: for the kprobe and uprobe PMUs `config1` points to the
                    // function's or file's NUL-terminated name, which the caller keeps.
                    detail.push_str(&format!(" name={}", unsafe { str_at(attr.config1) }));
                }
                Seen {
                    op: "perf_event_open",
                    detail,
                }
            }
            Call::PerfIoctl { op, fd, arg } => {
                let mut detail = self.name(fd as u32);
                if op == "PERF_EVENT_IOC_SET_BPF" {
                    detail.push_str(&format!(" {}", self.name(arg as u32)));
                }
                Seen { op, detail }
            }
            Call::Socket {
                op,
                domain,
                protocol,
            } => Seen {
                op,
                detail: format!("domain={domain} protocol={protocol:#x}"),
            },
            Call::BindPacket { fd, ifindex } => Seen {
                op: "bind(AF_PACKET)",
                detail: format!("{} ifindex={ifindex}", self.name(fd as u32)),
            },
            Call::Setsockopt { op, fd, value } => Seen {
                op,
                detail: match self.objects.get(&value) {
                    Some(object) if object.kind != "socket" => {
                        format!("{} {}", self.name(fd as u32), object.name)
                    }
                    _ => format!("{} {value}", self.name(fd as u32)),
                },
            },
            Call::Sendto { fd, data } => {
                let u16_at = |at: usize| {
                    data.get(at..at + 2)
                        .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
                };
                Seen {
                    op: "sendto(NETLINK_ROUTE)",
                    detail: format!(
                        "{} type={} flags={:#x}",
                        self.name(fd as u32),
                        u16_at(4),
                        u16_at(6)
                    ),
                }
            }
            Call::SetMemlock { limit } => {
                let show = |v: libc::rlim_t| {
                    if v == libc::RLIM_INFINITY {
                        "unlimited".to_string()
                    } else {
                        v.to_string()
                    }
                };
                Seen {
                    op: "setrlimit(RLIMIT_MEMLOCK)",
                    detail: format!("{}/{}", show(limit.rlim_cur), show(limit.rlim_max)),
                }
            }
            Call::Mount { fstype, target } => Seen {
                op: "mount",
                detail: format!("{} {}", fstype.to_string_lossy(), target.to_string_lossy()),
            },
            Call::SetnsNet { fd } => Seen {
                op: "setns(CLONE_NEWNET)",
                detail: format!("fd {fd}"),
            },
        }
    }

    /// The fd a successful call opens, as an object, if it opens one.
    fn object_opened(&self, call: &Call<'_>, seen: &Seen) -> Option<Object> {
        match *call {
            Call::PerfEventOpen { attr, .. } => Some(Object {
                kind: "perf",
                name: match attr.type_ {
                    PERF_TYPE_SOFTWARE => format!("software {}", attr.config),
                    PERF_TYPE_TRACEPOINT => format!("tracepoint {}", attr.config),
                    _ => format!("pmu {}", seen.detail),
                },
                ..Object::default()
            }),
            Call::Socket { op, .. } => Some(Object {
                kind: "socket",
                name: op.to_string(),
                ..Object::default()
            }),
            _ => None,
        }
    }

    /// Step 3 of any other call, from the model.
    fn answer(&mut self, call: &Call<'_>, seen: Seen) -> Result<i64, i32> {
        match *call {
            Call::PerfEventOpen { .. } | Call::Socket { .. } => {
                let object = self.object_opened(call, &seen).ok_or(libc::EINVAL)?;
                self.new_fd(object)
            }
            Call::Sendto { data, .. } => {
                self.last_sent = data.to_vec();
                Ok(data.len() as i64)
            }
            Call::SetMemlock { limit } => {
                self.memlock = limit;
                Ok(0)
            }
            Call::PerfIoctl { .. } | Call::BindPacket { .. } | Call::Setsockopt { .. } => Ok(0),
            Call::Mount { .. } | Call::SetnsNet { .. } => Ok(0),
        }
    }

    /// The kernel's answer to the last netlink request: the request itself when it asked
    /// for an echo (`NLM_F_ECHO`: what the kernel added, as it added it), then the ack.
    fn netlink_answer(&self) -> Vec<u8> {
        let flags = self
            .last_sent
            .get(6..8)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
        let mut answer = Vec::new();
        if flags & libc::NLM_F_ECHO as u16 != 0 {
            answer.extend_from_slice(&self.last_sent);
            answer.resize(self.last_sent.len().next_multiple_of(4), 0);
        }
        answer.extend_from_slice(&self.ack());
        answer
    }

    /// A netlink ack of the last request: `NLMSG_ERROR` with error 0 and the request's
    /// header (`netlink(7)`).
    fn ack(&self) -> Vec<u8> {
        let header = self.last_sent.get(..16).unwrap_or_default();
        let seq = header.get(8..12).unwrap_or(&[0; 4]);
        let mut ack = Vec::with_capacity(36);
        ack.extend_from_slice(&36u32.to_ne_bytes());
        ack.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        ack.extend_from_slice(&0u16.to_ne_bytes());
        ack.extend_from_slice(seq);
        ack.extend_from_slice(&0u32.to_ne_bytes());
        ack.extend_from_slice(&0i32.to_ne_bytes());
        ack.extend_from_slice(header);
        ack.resize(36, 0);
        ack
    }
}

/// What `BPF_OBJ_GET_INFO_BY_FD` writes for `object`.
fn object_info(object: &Object) -> Vec<u8> {
    match object.kind {
        "map" => {
            let a = object.map.unwrap_or_default();
            raw_bytes(&BpfMapInfoRaw {
                map_type: a.map_type,
                id: object.id,
                key_size: a.key_size,
                value_size: a.value_size,
                max_entries: a.max_entries,
                map_flags: a.map_flags,
                name: a.map_name,
                btf_id: object.btf_id,
                map_extra: a.map_extra,
                ..Default::default()
            })
        }
        "prog" => raw_bytes(&BpfProgInfoRaw {
            prog_type: object.prog_type,
            id: object.id,
            name: crate::uapi::obj_name(&object.name),
            ..Default::default()
        }),
        _ => raw_bytes(&BpfBtfInfoRaw {
            id: object.id,
            ..Default::default()
        }),
    }
}

/// The seam's `bpf(2)`: the fake's answer, or the real call without a fake.
pub(in crate::syscall) fn bpf<A: Any>(
    cmd: u32,
    attr: &mut A,
    real: impl FnOnce(&mut A) -> i64,
) -> Result<i64, i32> {
    let Some(mut kernel) = take() else {
        return outcome(real(attr));
    };
    let seen = kernel.describe_bpf(cmd, attr);
    let result = match kernel.decide(seen) {
        Some(errno) => Err(errno),
        None if kernel.real => {
            let result = outcome(real(attr));
            if let Ok(fd) = result {
                kernel.note_real(cmd, attr, fd);
            }
            result
        }
        None => kernel.answer_bpf(cmd, attr),
    };
    put(kernel);
    result
}

/// The seam's other calls.
pub(in crate::syscall) fn call(call: Call<'_>, real: impl FnOnce() -> i64) -> Result<i64, i32> {
    let Some(mut kernel) = take() else {
        return outcome(real());
    };
    let seen = kernel.describe(&call);
    let result = match kernel.decide(seen.clone()) {
        Some(errno) => Err(errno),
        None if kernel.real => {
            let result = outcome(real());
            if let (Ok(fd), Some(object)) = (result, kernel.object_opened(&call, &seen)) {
                kernel.objects.insert(fd as RawFd, object);
            }
            result
        }
        None => kernel.answer(&call, seen),
    };
    put(kernel);
    result
}

/// The seam's `recv(2)`: the answer to the last netlink request.
pub(in crate::syscall) fn recv(
    fd: RawFd,
    buf: &mut [u8],
    real: impl FnOnce(&mut [u8]) -> i64,
) -> Result<usize, i32> {
    let Some(mut kernel) = take() else {
        return outcome(real(buf)).map(|n| n as usize);
    };
    let seen = Seen {
        op: "recv",
        detail: kernel.name(fd as u32),
    };
    let result = match kernel.decide(seen) {
        Some(errno) => Err(errno),
        None if kernel.real => outcome(real(buf)).map(|n| n as usize),
        None => {
            let reply = kernel.netlink_answer();
            let n = reply.len().min(buf.len());
            buf[..n].copy_from_slice(&reply[..n]);
            Ok(n)
        }
    };
    put(kernel);
    result
}

/// The seam's `getrlimit(RLIMIT_MEMLOCK)`.
pub(in crate::syscall) fn get_memlock(
    limit: &mut libc::rlimit,
    real: impl FnOnce(&mut libc::rlimit) -> i64,
) -> Result<(), i32> {
    let Some(mut kernel) = take() else {
        return outcome(real(limit)).map(drop);
    };
    let seen = Seen {
        op: "getrlimit(RLIMIT_MEMLOCK)",
        detail: String::new(),
    };
    let result = match kernel.decide(seen) {
        Some(errno) => Err(errno),
        None if kernel.real => outcome(real(limit)).map(drop),
        None => {
            *limit = kernel.memlock;
            Ok(())
        }
    };
    put(kernel);
    result
}
