//! What user space can do to a map beyond one element at a time: take an element out as
//! it reads it (a queue's or stack's pop), push and peek, read, write and delete many
//! elements per system call, and freeze the map against user space's writes.
//!
//! ABI: `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (4.20 for queue and stack maps, 5.14 for hash
//! maps), `BPF_MAP_UPDATE_ELEM` and `BPF_MAP_LOOKUP_ELEM` with no key (push and peek,
//! `Documentation/bpf/map_queue_stack.rst`), `BPF_MAP_LOOKUP_BATCH`,
//! `BPF_MAP_LOOKUP_AND_DELETE_BATCH`, `BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH` (5.6:
//! hash maps, arrays and their per-CPU and LRU kin; `Documentation/bpf/map_hash.rst`),
//! `BPF_MAP_FREEZE` (5.2) in `include/uapi/linux/bpf.h`.
//!
//! A batch walk hands a cursor from one call to the next (`in_batch`, `out_batch`): for a
//! hash map a bucket number, for an array a key. The kernel answers `ENOENT` with the
//! last elements when the walk reaches the end; a hash map's bucket holding more
//! elements than the call's `count` is `ENOSPC` (ask for more at once).

use std::os::fd::AsFd;

use super::{Map, MapError};
use crate::syscall::{self, Batch, SysError};

/// A key and its value, as bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Where a batch walk goes on from: the `out_batch` the kernel gave for the last call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchCursor(Vec<u8>);

/// One call's worth of a batch walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPage {
    /// The keys and values read (values one per possible CPU for per-CPU maps, as
    /// [`Map::lookup`] gives them).
    pub entries: Vec<Entry>,
    /// Where the next call starts; `None` once the walk reached the map's end.
    pub next: Option<BatchCursor>,
}

/// The map types that are a queue or a stack (`BPF_MAP_TYPE_QUEUE`, `_STACK`, 4.20).
const QUEUE_STACK: &[crate::uapi::MapType] =
    &[crate::uapi::MapType::QUEUE, crate::uapi::MapType::STACK];

impl Map {
    /// A refusal the kernel gave because it lacks the command ([`MapError::since`] says
    /// which kernels have it), typed as such; any other error as it is.
    fn unsupported_or_sys(&self, error: SysError) -> MapError {
        if error.is_not_supported() {
            MapError::NotSupported {
                map: self.name().to_string(),
                error,
            }
        } else {
            self.sys(error)
        }
    }

    /// Reads the value at `key` and deletes it, in one step
    /// (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`); `None` when there was none. Queue and stack
    /// maps take an empty key (their pop, 4.20); hash maps have it since 5.14
    /// (`MapError::NotSupported` before).
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        self.check("key", self.key_size(), key.len())?;
        let mut value = vec![0u8; self.value_size()];
        let found = syscall::map_lookup_and_delete_elem(self.as_fd(), key, &mut value, 0)
            .map_err(|e| self.unsupported_or_sys(e))?;
        Ok(found.then_some(value))
    }

    /// Adds `value` to a queue (at its tail) or a stack (on its top). `flags`:
    /// [`BPF_ANY`](crate::uapi::BPF_ANY) refuses a full map (`E2BIG`),
    /// [`BPF_EXIST`](crate::uapi::BPF_EXIST) makes room by dropping the oldest element.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_type(QUEUE_STACK)?;
        self.update(&[], value, flags)
    }

    /// Takes the next element out of a queue (its oldest) or a stack (its newest); `None`
    /// when empty.
    pub fn pop(&self) -> Result<Option<Vec<u8>>, MapError> {
        self.check_type(QUEUE_STACK)?;
        self.lookup_and_delete(&[])
    }

    /// The element [`Map::pop`] would take, left in place; `None` when empty.
    pub fn peek(&self) -> Result<Option<Vec<u8>>, MapError> {
        self.check_type(QUEUE_STACK)?;
        self.lookup(&[])
    }

    /// Makes the map read-only for user space from now on (`BPF_MAP_FREEZE`, 5.2): every
    /// later update or delete from user space is refused with `EPERM`; the programs may
    /// still write it unless it was created `BPF_F_RDONLY_PROG`.
    pub fn freeze(&self) -> Result<(), MapError> {
        syscall::map_freeze(self.as_fd()).map_err(|e| self.unsupported_or_sys(e))
    }

    /// The bytes of a batch cursor: a hash map's is a bucket (4 bytes), an array's a key.
    fn cursor_len(&self) -> usize {
        self.key_size().max(4)
    }

    /// Reads up to `count` elements from `from` on (`None`: the start) with one system
    /// call (`BPF_MAP_LOOKUP_BATCH`, 5.6). Pass the page's `next` to the next call.
    pub fn lookup_batch(
        &self,
        from: Option<&BatchCursor>,
        count: u32,
    ) -> Result<BatchPage, MapError> {
        self.batch_read(from, count, false)
    }

    /// As [`Map::lookup_batch`], deleting what it read
    /// (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`, 5.6; hash maps only).
    pub fn lookup_and_delete_batch(
        &self,
        from: Option<&BatchCursor>,
        count: u32,
    ) -> Result<BatchPage, MapError> {
        self.batch_read(from, count, true)
    }

    fn batch_read(
        &self,
        from: Option<&BatchCursor>,
        count: u32,
        delete: bool,
    ) -> Result<BatchPage, MapError> {
        let (key_size, value_size) = (self.key_size(), self.value_size());
        let mut keys = vec![0u8; key_size * count as usize];
        let mut values = vec![0u8; value_size * count as usize];
        let mut out = vec![0u8; self.cursor_len()];
        let batch = Batch {
            in_batch: from.map(|c| c.0.as_slice()),
            out_batch: Some(&mut out),
            keys: &mut keys,
            values: &mut values,
            count,
            elem_flags: 0,
        };
        let result = if delete {
            syscall::map_lookup_and_delete_batch(self.as_fd(), batch)
        } else {
            syscall::map_lookup_batch(self.as_fd(), batch)
        };
        let (n, at_end) = result.map_err(|e| self.batch_error(e))?;
        let n = (n as usize).min(count as usize);
        let entries = keys
            .chunks(key_size.max(1))
            .zip(values.chunks(value_size.max(1)))
            .take(n)
            .map(|(k, v)| (k.get(..key_size).unwrap_or_default().to_vec(), v.to_vec()))
            .collect();
        Ok(BatchPage {
            entries,
            next: (!at_end).then_some(BatchCursor(out)),
        })
    }

    /// Every element, read `per_call` at a time with [`Map::lookup_batch`].
    pub fn batch_entries(&self, per_call: u32) -> Result<Vec<Entry>, MapError> {
        let mut all = Vec::new();
        let mut cursor = None;
        // A walk of a map that others fill meanwhile still ends: at most one call per
        // element the map can hold, and one more.
        for _ in 0..=self.max_entries() {
            let page = self.lookup_batch(cursor.as_ref(), per_call)?;
            all.extend(page.entries);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(all)
    }

    /// Stores each `(key, value)` with one system call (`BPF_MAP_UPDATE_BATCH`, 5.6);
    /// `flags` as [`Map::update`]'s apply to each element. Gives how many were stored.
    pub fn update_batch(&self, entries: &[(&[u8], &[u8])], flags: u64) -> Result<u32, MapError> {
        let mut keys = Vec::with_capacity(entries.len() * self.key_size());
        let mut values = Vec::with_capacity(entries.len() * self.value_size());
        for (key, value) in entries {
            self.check("key", self.key_size(), key.len())?;
            self.check("value", self.value_size(), value.len())?;
            keys.extend_from_slice(key);
            values.extend_from_slice(value);
        }
        let batch = Batch {
            in_batch: None,
            out_batch: None,
            keys: &mut keys,
            values: &mut values,
            count: entries.len() as u32,
            elem_flags: flags,
        };
        syscall::map_update_batch(self.as_fd(), batch).map_err(|e| self.batch_error(e))
    }

    /// Deletes each key with one system call (`BPF_MAP_DELETE_BATCH`, 5.6; hash maps
    /// only). A key that is not there is an error (`ENOENT`), after those before it
    /// were deleted. Gives how many were deleted.
    pub fn delete_batch(&self, keys: &[&[u8]]) -> Result<u32, MapError> {
        let mut bytes = Vec::with_capacity(keys.len() * self.key_size());
        for key in keys {
            self.check("key", self.key_size(), key.len())?;
            bytes.extend_from_slice(key);
        }
        let batch = Batch {
            in_batch: None,
            out_batch: None,
            keys: &mut bytes,
            values: &mut [],
            count: keys.len() as u32,
            elem_flags: 0,
        };
        syscall::map_delete_batch(self.as_fd(), batch).map_err(|e| self.batch_error(e))
    }

    /// A batch command's error: "not supported" where the kernel lacks the command
    /// (before 5.6, it answers `EINVAL` to every batch command: the probe
    /// [`syscall::map_batch_exists`] tells that from a bad argument) or the map type
    /// lacks it (`ENOTSUPP`).
    fn batch_error(&self, error: SysError) -> MapError {
        if error.errno == libc::EINVAL && !syscall::map_batch_exists() {
            return MapError::NotSupported {
                map: self.name().to_string(),
                error,
            };
        }
        self.unsupported_or_sys(error)
    }
}
