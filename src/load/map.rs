//! A map in the kernel, and what user space can do with it: look up, update and delete
//! elements, walk its keys, ask the kernel about it.
//!
//! ABI: `BPF_MAP_CREATE`, `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`,
//! `BPF_MAP_DELETE_ELEM`, `BPF_MAP_GET_NEXT_KEY`, `BPF_MAP_FREEZE` and
//! `BPF_OBJ_GET_INFO_BY_FD` (`struct bpf_map_info`) in `include/uapi/linux/bpf.h`;
//! `Documentation/bpf/maps.rst` and the per-type pages beside it.
//!
//! Values of per-CPU maps (`percpu_hash`, `percpu_array`, `lru_percpu_hash`,
//! `percpu_cgroup_storage`) are read and written for every possible CPU at once: one
//! value per CPU, each padded to 8 bytes (`bpf_map_value_size` in `kernel/bpf/syscall.c`).
//!
//! Queue and stack pops, lookup-and-delete, the batch commands and freezing are in
//! [`super::map_ops`].
//!
//! This is the byte API: keys and values are `&[u8]` of the map's sizes. The typed views
//! over it (`HashMap<K, V>`, `Array<V>`, the per-CPU ones), checked once against the
//! map's sizes and its BTF, are in [`super::typed`].

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::LoadError;
use crate::btf::layout::LayoutError;
use crate::btf::Btf;
use crate::elf::{MapKind, MapSpec};
use crate::syscall::{self, SysError};
use crate::uapi::{obj_name, MapType, BPF_ANY};

pub use crate::syscall::MapInfo;

/// A map operation the kernel refused, or a key or value of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// The system call failed.
    Sys {
        /// The map's name.
        map: String,
        /// What the kernel answered.
        error: SysError,
    },
    /// A key or value whose length is not the map's.
    Size {
        /// The map's name.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// The map's size for it.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A Rust key or value type of another size than the map's.
    TypeSize {
        /// The map's name.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// The Rust type.
        rust_type: &'static str,
        /// The map's size for it.
        expected: u32,
        /// The Rust type's size.
        got: u32,
    },
    /// A Rust key or value type that does not mirror the map's BTF type.
    Layout {
        /// The map's name.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// How they differ.
        error: Box<LayoutError>,
    },
    /// A typed view asked of a map of another type.
    WrongType {
        /// The map's name.
        map: String,
        /// Its type.
        map_type: MapType,
        /// The map types the view reads.
        expected: &'static [MapType],
    },
    /// No map of that name in the object.
    NotFound {
        /// The name asked for.
        map: String,
    },
    /// An operation the running kernel does not have, for this map or at all (batch
    /// commands before 5.6, `lookup_and_delete` of a hash map before 5.14), decided by
    /// what the kernel answered, not by its version.
    NotSupported {
        /// The map's name.
        map: String,
        /// What the kernel answered to the command (its `op`, `BPF_MAP_LOOKUP_BATCH`);
        /// [`MapError::since`] says which kernels have it.
        error: SysError,
    },
    /// The BTF the kernel gave for the map could not be read.
    Btf {
        /// The map's name.
        map: String,
        /// The kernel's BTF object id.
        btf_id: u32,
        /// Why its bytes do not parse.
        error: Box<crate::btf::BtfError>,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Sys { map, .. } => write!(f, "map {map}"),
            MapError::Size {
                map,
                what,
                expected,
                got,
            } => write!(f, "map {map}: a {what} is {expected} bytes, not {got}"),
            MapError::TypeSize {
                map,
                what,
                rust_type,
                expected,
                got,
            } => write!(
                f,
                "map {map}: a {what} is {expected} bytes, but {rust_type} is {got}"
            ),
            MapError::Layout { map, what, .. } => write!(f, "map {map}: {what} type"),
            MapError::WrongType {
                map,
                map_type,
                expected,
            } => {
                let names: Vec<String> = expected.iter().map(|t| t.to_string()).collect();
                write!(
                    f,
                    "map {map} is of type {map_type}; this view reads {}",
                    names.join(" or ")
                )
            }
            MapError::NotFound { map } => write!(f, "no map {map} in the object"),
            MapError::NotSupported { map, error } => write!(
                f,
                "map {map}: this kernel has no {} for this map ({})",
                error.op,
                MapError::since(error.op)
            ),
            MapError::Btf { map, btf_id, .. } => {
                write!(f, "map {map}: the kernel's BTF object {btf_id}")
            }
        }
    }
}

impl MapError {
    /// Since which kernel, and for which maps, a map command exists: what
    /// [`MapError::NotSupported`] says of its command.
    pub fn since(command: &str) -> &'static str {
        match command {
            "BPF_MAP_LOOKUP_AND_DELETE_ELEM" => {
                "queue and stack maps since 4.20, hash maps since 5.14"
            }
            "BPF_MAP_FREEZE" => "since 5.2",
            "BPF_MAP_LOOKUP_BATCH"
            | "BPF_MAP_LOOKUP_AND_DELETE_BATCH"
            | "BPF_MAP_UPDATE_BATCH"
            | "BPF_MAP_DELETE_BATCH" => "since 5.6, for hash maps and arrays",
            _ => "not in every kernel",
        }
    }
}

impl std::error::Error for MapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapError::Sys { error, .. } | MapError::NotSupported { error, .. } => Some(error),
            MapError::Layout { error, .. } => Some(error),
            MapError::Btf { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A map in the kernel. Dropping it closes its fd; the kernel frees the map when no
/// program, link or fd holds it any more.
#[derive(Debug)]
pub struct Map {
    spec: MapSpec,
    max_entries: u32,
    fd: OwnedFd,
    typed_by_btf: bool,
    /// Bytes of a whole value as user space reads it (all CPUs' for per-CPU maps).
    value_len: usize,
    /// The object's BTF, where the map came from an object that has one: its key and
    /// value types (`spec.btf_key_type_id`, `btf_value_type_id`) are ids in it.
    btf: Option<Arc<Btf>>,
}

/// The size a perf event array gets when the object leaves it at 0: one slot per
/// possible CPU (the highest possible CPU number plus one).
fn possible_cpu_slots() -> Result<u32, LoadError> {
    let cpus = syscall::possible_cpus().map_err(LoadError::PossibleCpus)?;
    Ok(cpus.iter().max().map_or(1, |&max| max + 1))
}

/// libbpf's `adjust_ringbuf_sz`: the kernel takes a ring buffer's `max_entries` (its
/// data size in bytes) only as a power-of-two multiple of the page size
/// (`ringbuf_map_alloc` in `kernel/bpf/ringbuf.c`), so a size that is not one becomes the
/// smallest that is and is larger: 1000 is 4096 with 4 KiB pages, 5000 is 8192, 8192
/// stays. 0 stays 0 (the kernel's error then says the size is missing), and a size no
/// such multiple below 4 GiB exceeds is passed as it is for the kernel to refuse.
pub fn adjust_ringbuf_size(size: u32, page_size: u32) -> u32 {
    if size == 0 || page_size == 0 {
        return size;
    }
    if size % page_size == 0 && (size / page_size).is_power_of_two() {
        return size;
    }
    let mut multiple: u32 = 1;
    while multiple <= u32::MAX / page_size {
        if multiple * page_size > size {
            return multiple * page_size;
        }
        match multiple.checked_mul(2) {
            Some(next) => multiple = next,
            None => break,
        }
    }
    size
}

/// The `max_entries` the kernel is asked for: a ring buffer's adjusted
/// ([`adjust_ringbuf_size`]), any other map's as the spec says.
fn max_entries_to_create(spec: &MapSpec) -> u32 {
    if matches!(spec.map_type, MapType::RINGBUF | MapType::USER_RINGBUF) {
        adjust_ringbuf_size(spec.max_entries, syscall::page_size() as u32)
    } else {
        spec.max_entries
    }
}

/// The error of a system call made to create or fill map `spec`: a memlock limit named as
/// such (before 5.11), else the map and the call.
fn create_error(spec: &MapSpec, error: SysError) -> LoadError {
    match crate::features::memlock::explain_eperm(&error) {
        Some(memlock) => LoadError::Memlock {
            object: format!("map {}", spec.name),
            error: memlock,
        },
        None => LoadError::Map {
            map: spec.name.clone(),
            error,
        },
    }
}

/// The `max_entries` map `spec` is created with: a perf event array of 0 entries (or of
/// more than there are CPUs) gets one per possible CPU, as libbpf's `map_set_def_max_entries`.
fn max_entries_for(spec: &MapSpec) -> Result<u32, LoadError> {
    let mut max_entries = max_entries_to_create(spec);
    if spec.map_type == MapType::PERF_EVENT_ARRAY {
        let slots = possible_cpu_slots()?;
        if max_entries == 0 || max_entries > slots {
            max_entries = slots;
        }
    }
    Ok(max_entries)
}

/// `BPF_MAP_CREATE` for `attr`, its key and value typed by the object's BTF where the spec
/// has their types; a kernel that cannot check these types still takes the map without
/// them (libbpf's retry in `bpf_object__create_map`). Gives the fd and whether it is typed.
fn create_typed_by_btf(
    spec: &MapSpec,
    mut attr: syscall::MapCreateAttr,
    btf: Option<BorrowedFd<'_>>,
) -> Result<(OwnedFd, bool), LoadError> {
    let sys = |error| create_error(spec, error);
    if spec.btf_vmlinux_value_type_id != 0 {
        // A struct_ops map: its value is the kernel's type, and the kernel wants the
        // object's BTF beside it (with no key or value type of its own).
        attr.btf_fd = btf.map_or(0, |btf| btf.as_raw_fd() as u32);
        attr.btf_vmlinux_value_type_id = spec.btf_vmlinux_value_type_id;
        return Ok((syscall::map_create(&attr).map_err(sys)?, false));
    }
    let typed = btf.filter(|_| spec.btf_key_type_id != 0 || spec.btf_value_type_id != 0);
    Ok(match typed {
        Some(btf) => {
            attr.btf_fd = btf.as_raw_fd() as u32;
            attr.btf_key_type_id = spec.btf_key_type_id;
            attr.btf_value_type_id = spec.btf_value_type_id;
            match syscall::map_create(&attr) {
                Ok(fd) => (fd, true),
                // A kernel that cannot check these types still takes the map without them.
                Err(e) if e.errno == libc::EINVAL || e.is_not_supported() => {
                    attr.btf_fd = 0;
                    attr.btf_key_type_id = 0;
                    attr.btf_value_type_id = 0;
                    (syscall::map_create(&attr).map_err(sys)?, false)
                }
                Err(e) => return Err(sys(e)),
            }
        }
        None => (syscall::map_create(&attr).map_err(sys)?, false),
    })
}

/// The length of a value as user space reads and writes it: per-CPU maps hold one value
/// per possible CPU, each rounded up to 8 bytes (libbpf's `bpf_map__value_size`).
fn value_len_of(spec: &MapSpec) -> Result<usize, LoadError> {
    Ok(if spec.map_type.is_per_cpu() {
        let cpus = possible_cpu_slots()? as usize;
        (spec.value_size as usize).next_multiple_of(8) * cpus
    } else {
        spec.value_size as usize
    })
}

impl Map {
    /// Creates the map `spec` describes, on its own (no object, no BTF): a perf event array
    /// of 0 entries gets one per possible CPU; global data is filled and `.rodata` frozen.
    pub fn create(spec: &MapSpec) -> Result<Map, LoadError> {
        // Before 5.11 the map is charged to RLIMIT_MEMLOCK: raised first, as Object::load does.
        crate::features::memlock::ensure();
        Map::create_with_btf(spec, None)
    }

    /// [`Map::create`] with the object's BTF (`btf`), which types the key and value.
    ///
    /// libbpf's `bpf_object__create_map` then `bpf_object__populate_internal_map`: the
    /// size, the inner map's template, the map itself (typed by BTF where it can be), then
    /// its global data.
    pub(crate) fn create_with_btf(
        spec: &MapSpec,
        btf: Option<BorrowedFd<'_>>,
    ) -> Result<Map, LoadError> {
        let max_entries = max_entries_for(spec)?;
        // A map of maps is created with a map of its inner maps' shape (`inner_map_fd`),
        // which the verifier checks the programs' use of the inner maps against. Only a
        // template: closed once the outer map exists, as libbpf does.
        let inner_template = match &spec.inner {
            Some(inner) => Some(Map::create_with_btf(inner, btf)?),
            None => None,
        };
        let attr = syscall::MapCreateAttr {
            map_type: spec.map_type.0,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries,
            map_flags: spec.map_flags,
            inner_map_fd: inner_template
                .as_ref()
                .map_or(0, |inner| inner.fd.as_raw_fd() as u32),
            numa_node: spec.numa_node,
            map_name: obj_name(spec.kernel_name()),
            map_extra: spec.map_extra,
            ..Default::default()
        };
        let (fd, typed_by_btf) = create_typed_by_btf(spec, attr, btf)?;
        let map = Map {
            spec: spec.clone(),
            max_entries,
            fd,
            typed_by_btf,
            value_len: value_len_of(spec)?,
            btf: None,
        };
        map.populate_global_data()?;
        Ok(map)
    }

    /// Global data: one element at key 0 holding the section's bytes (written only if
    /// some byte is not zero), and `.rodata` and `.kconfig` frozen, as libbpf's
    /// `bpf_object__populate_internal_map`.
    fn populate_global_data(&self) -> Result<(), LoadError> {
        let spec = &self.spec;
        if !matches!(spec.kind, MapKind::Btf | MapKind::Legacy) {
            let mut value = spec.initial.clone();
            value.resize(spec.value_size as usize, 0);
            if value.iter().any(|&b| b != 0) {
                syscall::map_update_elem(self.fd.as_fd(), &0u32.to_ne_bytes(), &value, BPF_ANY)
                    .map_err(|error| create_error(spec, error))?;
            }
            if matches!(spec.kind, MapKind::Rodata | MapKind::Kconfig) {
                syscall::map_freeze(self.fd.as_fd()).map_err(|error| create_error(spec, error))?;
            }
        }
        Ok(())
    }

    /// Opens the map pinned at `path` (in a bpf filesystem) for the object's map `spec`:
    /// its type, key and value sizes, `max_entries` and flags must be those of the spec
    /// (libbpf's `map_is_reuse_compat`), else the programs would be verified against a
    /// map they do not expect. A perf event array of 0 entries accepts any size.
    pub fn open_pinned(path: &Path, spec: &MapSpec) -> Result<Map, LoadError> {
        let pinned = |error| LoadError::Pinned {
            map: spec.name.clone(),
            path: path.to_path_buf(),
            error,
        };
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| pinned(SysError::new("BPF_OBJ_GET", libc::EINVAL)))?;
        let fd = syscall::obj_get(&c_path).map_err(pinned)?;
        let info = syscall::map_info(fd.as_fd()).map_err(pinned)?;
        let any_size = spec.map_type == MapType::PERF_EVENT_ARRAY && spec.max_entries == 0;
        let checks = [
            ("type", spec.map_type.0, info.map_type.0),
            ("key_size", spec.key_size, info.key_size),
            ("value_size", spec.value_size, info.value_size),
            (
                "max_entries",
                if any_size {
                    info.max_entries
                } else {
                    max_entries_to_create(spec)
                },
                info.max_entries,
            ),
            ("map_flags", spec.map_flags, info.map_flags),
        ];
        for (field, expected, found) in checks {
            if expected != found {
                return Err(LoadError::PinMismatch {
                    map: spec.name.clone(),
                    path: path.to_path_buf(),
                    field,
                    expected,
                    found,
                });
            }
        }
        let value_len = if spec.map_type.is_per_cpu() {
            let cpus = possible_cpu_slots()? as usize;
            (spec.value_size as usize).next_multiple_of(8) * cpus
        } else {
            spec.value_size as usize
        };
        Ok(Map {
            spec: spec.clone(),
            max_entries: info.max_entries,
            fd,
            typed_by_btf: info.btf_id != 0,
            value_len,
            btf: None,
        })
    }

    /// Opens the map pinned at `path`, whatever it is (`bpftool map dump pinned PATH`):
    /// its type, sizes and name are what the kernel says (`BPF_OBJ_GET_INFO_BY_FD`), and
    /// its key and value type ids are those of its BTF object in the kernel, which
    /// [`Map::fetch_kernel_btf`] reads.
    pub fn open_pinned_as_is(path: &Path) -> Result<Map, LoadError> {
        let pinned = |error| LoadError::Pinned {
            map: path.display().to_string(),
            path: path.to_path_buf(),
            error,
        };
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| pinned(SysError::new("BPF_OBJ_GET", libc::EINVAL)))?;
        let fd = syscall::obj_get(&c_path).map_err(pinned)?;
        let info = syscall::map_info(fd.as_fd()).map_err(pinned)?;
        let spec = MapSpec {
            name: info.name.clone(),
            map_type: info.map_type,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            map_flags: info.map_flags,
            btf_key_type_id: info.btf_key_type_id,
            btf_value_type_id: info.btf_value_type_id,
            map_extra: info.map_extra,
            ..MapSpec::default()
        };
        Ok(Map {
            value_len: value_len_of(&spec)?,
            spec,
            max_entries: info.max_entries,
            fd,
            typed_by_btf: info.btf_id != 0,
            btf: None,
        })
    }

    /// Reads the map's BTF back from the kernel (`BPF_OBJ_GET_INFO_BY_FD` for its
    /// `btf_id`, `BPF_BTF_GET_FD_BY_ID`, then the BTF object's bytes) and keeps it as the
    /// map's [`Map::btf`], with the key and value type ids the kernel holds. `Ok(false)`
    /// when the map was created without BTF.
    pub fn fetch_kernel_btf(&mut self) -> Result<bool, MapError> {
        let info = self.info()?;
        if info.btf_id == 0 {
            return Ok(false);
        }
        let btf_fd = syscall::btf_get_fd_by_id(info.btf_id).map_err(|e| self.sys(e))?;
        let btf_info = syscall::btf_info(btf_fd.as_fd()).map_err(|e| self.sys(e))?;
        let bytes = syscall::btf_data(btf_fd.as_fd(), btf_info.size).map_err(|e| self.sys(e))?;
        let btf = Btf::parse(bytes).map_err(|error| MapError::Btf {
            map: self.spec.name.clone(),
            btf_id: info.btf_id,
            error: Box::new(error),
        })?;
        self.spec.btf_key_type_id = info.btf_key_type_id;
        self.spec.btf_value_type_id = info.btf_value_type_id;
        self.btf = Some(Arc::new(btf));
        Ok(true)
    }

    /// Pins the map at `path`, a new file in a bpf filesystem: the map then outlives this
    /// process, until the file is removed, and others can open it.
    pub fn pin(&self, path: &Path) -> Result<(), MapError> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| self.sys(SysError::new("BPF_OBJ_PIN", libc::EINVAL)))?;
        syscall::obj_pin(self.fd.as_fd(), &c_path).map_err(|e| self.sys(e))
    }

    /// The map's name in the object (`events`, `.rodata`).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// What it was created from.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// `enum bpf_map_type`.
    pub fn map_type(&self) -> MapType {
        self.spec.map_type
    }

    /// Bytes of a key.
    pub fn key_size(&self) -> usize {
        self.spec.key_size as usize
    }

    /// Bytes of a value as [`Map::lookup`] returns it and [`Map::update`] takes it: for a
    /// per-CPU map, one 8-byte-aligned value per possible CPU.
    pub fn value_size(&self) -> usize {
        self.value_len
    }

    /// `max_entries` as created (a perf event array's 0 became the possible CPUs).
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// Whether the kernel took the key and value BTF types (a kernel that cannot check
    /// them gets the map without).
    pub fn typed_by_btf(&self) -> bool {
        self.typed_by_btf
    }

    /// The object's BTF, in which the spec's `btf_key_type_id` and `btf_value_type_id`
    /// name the key and value types; `None` for a map made on its own ([`Map::create`]).
    pub fn btf(&self) -> Option<&Btf> {
        self.btf.as_deref()
    }

    /// Gives the map its object's BTF (the key and value types' ids are in it).
    pub(crate) fn set_btf(&mut self, btf: Arc<Btf>) {
        self.btf = Some(btf);
    }

    /// Whether its values are one per possible CPU.
    pub fn is_per_cpu(&self) -> bool {
        self.spec.map_type.is_per_cpu()
    }

    pub(crate) fn sys(&self, error: SysError) -> MapError {
        MapError::Sys {
            map: self.spec.name.clone(),
            error,
        }
    }

    pub(super) fn check(
        &self,
        what: &'static str,
        expected: usize,
        got: usize,
    ) -> Result<(), MapError> {
        if expected == got {
            Ok(())
        } else {
            Err(MapError::Size {
                map: self.spec.name.clone(),
                what,
                expected,
                got,
            })
        }
    }

    /// The value at `key`, `None` when there is none.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        self.check("key", self.key_size(), key.len())?;
        let mut value = vec![0u8; self.value_len];
        let found =
            syscall::map_lookup_elem(self.fd.as_fd(), key, &mut value).map_err(|e| self.sys(e))?;
        Ok(found.then_some(value))
    }

    /// Stores `value` at `key`. `flags`: [`BPF_ANY`](crate::uapi::BPF_ANY),
    /// [`BPF_NOEXIST`](crate::uapi::BPF_NOEXIST) or [`BPF_EXIST`](crate::uapi::BPF_EXIST).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check("key", self.key_size(), key.len())?;
        self.check("value", self.value_len, value.len())?;
        syscall::map_update_elem(self.fd.as_fd(), key, value, flags).map_err(|e| self.sys(e))
    }

    /// Deletes `key`; `false` when it was not there.
    pub fn delete(&self, key: &[u8]) -> Result<bool, MapError> {
        self.check("key", self.key_size(), key.len())?;
        syscall::map_delete_elem(self.fd.as_fd(), key).map_err(|e| self.sys(e))
    }

    /// The keys, in the kernel's order (`BPF_MAP_GET_NEXT_KEY` from the start). Bounded by
    /// `max_entries` + 1 steps, so a map that changes under the walk cannot keep it going;
    /// a key deleted meanwhile may make the kernel start again from the first key (hash
    /// maps), so a walk of a changing map can repeat or miss keys.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            last: None,
            steps_left: u64::from(self.max_entries) + 1,
        }
    }

    /// The keys and their values ([`Map::keys`], then a lookup of each). An element
    /// deleted between the two is skipped.
    pub fn entries(&self) -> Entries<'_> {
        Entries { keys: self.keys() }
    }

    /// What the kernel says about the map (`BPF_OBJ_GET_INFO_BY_FD`): its id, type, sizes.
    pub fn info(&self) -> Result<MapInfo, MapError> {
        syscall::map_info(self.fd.as_fd()).map_err(|e| self.sys(e))
    }
}

impl AsFd for Map {
    /// The map's fd, for what this API does not cover (it stays owned by the `Map`).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The keys of a map; see [`Map::keys`].
#[derive(Debug)]
pub struct Keys<'m> {
    map: &'m Map,
    last: Option<Vec<u8>>,
    steps_left: u64,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>, MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.steps_left == 0 {
            return None;
        }
        self.steps_left -= 1;
        let mut next = vec![0u8; self.map.key_size()];
        match syscall::map_get_next_key(self.map.fd.as_fd(), self.last.as_deref(), &mut next) {
            Ok(true) => {
                self.last = Some(next.clone());
                Some(Ok(next))
            }
            Ok(false) => {
                self.steps_left = 0;
                None
            }
            Err(error) => {
                self.steps_left = 0;
                Some(Err(self.map.sys(error)))
            }
        }
    }
}

/// The keys and values of a map; see [`Map::entries`].
#[derive(Debug)]
pub struct Entries<'m> {
    keys: Keys<'m>,
}

impl Iterator for Entries<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = match self.keys.next()? {
                Ok(key) => key,
                Err(error) => return Some(Err(error)),
            };
            match self.keys.map.lookup(&key) {
                Ok(Some(value)) => return Some(Ok((key, value))),
                // Deleted since its key was read: not shown.
                Ok(None) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}
