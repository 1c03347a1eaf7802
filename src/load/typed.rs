//! Typed views of a map: `HashMap<K, V>`, `Array<V>`, their per-CPU kin, `Queue<V>` and
//! `Stack<V>`, over the byte API of [`Map`]. A view is made once from a `&Map`
//! ([`TypedMap::new`]) or by name from an [`Object`] ([`Object::typed_map`]); making it checks the map's type,
//! the Rust types' sizes against the map's key and value sizes and, where the map came
//! from an object with BTF, the Rust types against its BTF key and value types
//! ([`crate::btf::layout`]). After that every call is typed and cannot be given a key
//! or value of the wrong size.
//!
//! ABI: the same commands as [`Map`] (`BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`,
//! `BPF_MAP_DELETE_ELEM`, `BPF_MAP_GET_NEXT_KEY`, `include/uapi/linux/bpf.h`). Per-CPU
//! values are one per possible CPU, each in a slot rounded up to 8 bytes
//! (`bpf_map_value_size` in `kernel/bpf/syscall.c`). The readers' maps have views too,
//! [`PerfEventArray`] and [`RingBufMap`], checked for their type here; their readers are
//! opened from them in [`crate::perf`] and [`crate::ringbuf`] (`PerfEventArray::reader`,
//! `RingBufMap::reader`), and read records as typed values there.
//!
//! (aya's `HashMap<T, K: Pod, V: Pod>::try_from(map)`; cilium/ebpf's `Map.Lookup(key,
//! &value)`.)

use std::marker::PhantomData;
use std::mem::size_of;

use super::{Map, MapError, Object};
use crate::btf::layout;
use crate::pod::{self, Pod};
use crate::uapi::MapType;

/// A view of a map of a given kind and types, made from a `&Map` with every check done
/// once.
pub trait TypedMap<'m>: Sized {
    /// The view of `map`; refused when the map's type is not the view's, or its key or
    /// value is not the Rust type's size or BTF type.
    fn new(map: &'m Map) -> Result<Self, MapError>;
}

impl Object {
    /// The map named `name` as a typed view:
    /// `let counts: HashMap<FlowKey, u64> = object.typed_map("counts")?;`.
    pub fn typed_map<'m, M: TypedMap<'m>>(&'m self, name: &str) -> Result<M, MapError> {
        let map = self.map(name).ok_or_else(|| MapError::NotFound {
            map: name.to_string(),
        })?;
        M::new(map)
    }
}

impl Map {
    /// Refuses (`MapError::WrongType`) a map whose type is not one of `expected`, the
    /// types a view reads.
    pub fn check_type(&self, expected: &'static [MapType]) -> Result<(), MapError> {
        if expected.contains(&self.map_type()) {
            Ok(())
        } else {
            Err(MapError::WrongType {
                map: self.name().to_string(),
                map_type: self.map_type(),
                expected,
            })
        }
    }
}

/// Checks `T` against the map's key (`what` = `key`) or value: its size is `size`, and
/// its BTF type, if the map has one, is `btf_type`.
fn check_side<T: Pod>(
    map: &Map,
    what: &'static str,
    size: usize,
    btf_type: u32,
) -> Result<(), MapError> {
    if size != size_of::<T>() {
        return Err(MapError::TypeSize {
            map: map.name().to_string(),
            what,
            rust_type: std::any::type_name::<T>(),
            expected: size as u32,
            got: size_of::<T>().try_into().unwrap_or(u32::MAX),
        });
    }
    match map.btf() {
        Some(btf) if btf_type != 0 => {
            layout::check::<T>(btf, btf_type).map_err(|error| MapError::Layout {
                map: map.name().to_string(),
                what,
                error: Box::new(error),
            })
        }
        _ => Ok(()),
    }
}

/// Checks the key type `K` and the value type `V` (one CPU's, for a per-CPU map).
fn check_key_value<K: Pod, V: Pod>(map: &Map) -> Result<(), MapError> {
    let spec = map.spec();
    check_side::<K>(map, "key", map.key_size(), spec.btf_key_type_id)?;
    check_side::<V>(
        map,
        "value",
        spec.value_size as usize,
        spec.btf_value_type_id,
    )
}

/// `T` from a value the kernel returned, of the size checked when the view was made.
fn value_of<T: Pod>(map: &Map, bytes: &[u8]) -> Result<T, MapError> {
    read_as(map, "value", bytes)
}

/// `T` from a key the kernel returned.
fn key_of<T: Pod>(map: &Map, bytes: &[u8]) -> Result<T, MapError> {
    read_as(map, "key", bytes)
}

fn read_as<T: Pod>(map: &Map, what: &'static str, bytes: &[u8]) -> Result<T, MapError> {
    pod::read(bytes).ok_or_else(|| MapError::Size {
        map: map.name().to_string(),
        what,
        expected: size_of::<T>(),
        got: bytes.len(),
    })
}

/// A hash map (`hash`, `lru_hash`) whose keys are `K` and values `V`.
#[derive(Debug, Clone, Copy)]
pub struct HashMap<'m, K, V> {
    map: &'m Map,
    types: PhantomData<(K, V)>,
}

impl<'m, K: Pod, V: Pod> TypedMap<'m> for HashMap<'m, K, V> {
    fn new(map: &'m Map) -> Result<Self, MapError> {
        map.check_type(&[MapType::HASH, MapType::LRU_HASH])?;
        check_key_value::<K, V>(map)?;
        Ok(HashMap {
            map,
            types: PhantomData,
        })
    }
}

impl<'m, K: Pod, V: Pod> HashMap<'m, K, V> {
    /// The view of `map` ([`TypedMap::new`]).
    pub fn new(map: &'m Map) -> Result<Self, MapError> {
        <Self as TypedMap>::new(map)
    }

    /// The map underneath.
    pub fn map(&self) -> &'m Map {
        self.map
    }

    /// The value at `key`, `None` when there is none.
    pub fn lookup(&self, key: &K) -> Result<Option<V>, MapError> {
        match self.map.lookup(pod::bytes_of(key))? {
            Some(bytes) => value_of(self.map, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` at `key` (`flags` as [`Map::update`]'s).
    pub fn update(&self, key: &K, value: &V, flags: u64) -> Result<(), MapError> {
        self.map
            .update(pod::bytes_of(key), pod::bytes_of(value), flags)
    }

    /// Deletes `key`; `false` when it was not there.
    pub fn delete(&self, key: &K) -> Result<bool, MapError> {
        self.map.delete(pod::bytes_of(key))
    }

    /// The keys ([`Map::keys`]: bounded, in the kernel's order).
    pub fn keys(&self) -> impl Iterator<Item = Result<K, MapError>> + 'm {
        let map = self.map;
        map.keys()
            .map(move |key| key.and_then(|bytes| key_of(map, &bytes)))
    }

    /// The keys and their values ([`Map::entries`]).
    pub fn entries(&self) -> impl Iterator<Item = Result<(K, V), MapError>> + 'm {
        let map = self.map;
        map.entries().map(move |entry| {
            let (key, value) = entry?;
            Ok((key_of(map, &key)?, value_of(map, &value)?))
        })
    }
}

/// An array map (`array`) of `V`, indexed by `u32`.
#[derive(Debug, Clone, Copy)]
pub struct Array<'m, V> {
    map: &'m Map,
    types: PhantomData<V>,
}

impl<'m, V: Pod> TypedMap<'m> for Array<'m, V> {
    fn new(map: &'m Map) -> Result<Self, MapError> {
        map.check_type(&[MapType::ARRAY])?;
        check_key_value::<u32, V>(map)?;
        Ok(Array {
            map,
            types: PhantomData,
        })
    }
}

impl<'m, V: Pod> Array<'m, V> {
    /// The view of `map` ([`TypedMap::new`]).
    pub fn new(map: &'m Map) -> Result<Self, MapError> {
        <Self as TypedMap>::new(map)
    }

    /// The map underneath.
    pub fn map(&self) -> &'m Map {
        self.map
    }

    /// How many elements (`max_entries`).
    pub fn len(&self) -> u32 {
        self.map.max_entries()
    }

    /// Whether it has no element at all (`max_entries` 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `index`; an index past the end is the kernel's `ENOENT`, `None`.
    pub fn get(&self, index: u32) -> Result<Option<V>, MapError> {
        match self.map.lookup(&index.to_ne_bytes())? {
            Some(bytes) => value_of(self.map, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` at `index` (`flags` as [`Map::update`]'s).
    pub fn set(&self, index: u32, value: &V, flags: u64) -> Result<(), MapError> {
        self.map
            .update(&index.to_ne_bytes(), pod::bytes_of(value), flags)
    }
}

/// The bytes of one CPU's value in a per-CPU map: its size rounded up to 8.
fn per_cpu_stride<V>() -> usize {
    size_of::<V>().next_multiple_of(8)
}

/// One `V` per possible CPU, from the kernel's bytes (CPU `i`'s at `i * stride`).
fn per_cpu_values<V: Pod>(map: &Map, bytes: &[u8]) -> Result<Vec<V>, MapError> {
    bytes
        .chunks(per_cpu_stride::<V>())
        .map(|slot| value_of(map, slot))
        .collect()
}

/// The kernel's bytes for `values`, one per possible CPU; refused unless there are as
/// many values as the map has CPUs.
fn per_cpu_bytes<V: Pod>(map: &Map, values: &[V]) -> Result<Vec<u8>, MapError> {
    let stride = per_cpu_stride::<V>();
    let cpus = map.value_size() / stride;
    if values.len() != cpus {
        return Err(MapError::Size {
            map: map.name().to_string(),
            what: "per-CPU value list",
            expected: cpus,
            got: values.len(),
        });
    }
    let mut bytes = vec![0u8; map.value_size()];
    for (slot, value) in bytes.chunks_mut(stride).zip(values) {
        let value = pod::bytes_of(value);
        slot.get_mut(..value.len())
            .ok_or_else(|| map_size_error(map, value.len()))?
            .copy_from_slice(value);
    }
    Ok(bytes)
}

fn map_size_error(map: &Map, got: usize) -> MapError {
    MapError::Size {
        map: map.name().to_string(),
        what: "value",
        expected: map.spec().value_size as usize,
        got,
    }
}

/// A per-CPU hash map (`percpu_hash`, `lru_percpu_hash`): each key has one `V` per
/// possible CPU, the value that CPU's programs see.
#[derive(Debug, Clone, Copy)]
pub struct PerCpuHashMap<'m, K, V> {
    map: &'m Map,
    types: PhantomData<(K, V)>,
}

impl<'m, K: Pod, V: Pod> TypedMap<'m> for PerCpuHashMap<'m, K, V> {
    fn new(map: &'m Map) -> Result<Self, MapError> {
        map.check_type(&[MapType::PERCPU_HASH, MapType::LRU_PERCPU_HASH])?;
        check_key_value::<K, V>(map)?;
        Ok(PerCpuHashMap {
            map,
            types: PhantomData,
        })
    }
}

impl<'m, K: Pod, V: Pod> PerCpuHashMap<'m, K, V> {
    /// The view of `map` ([`TypedMap::new`]).
    pub fn new(map: &'m Map) -> Result<Self, MapError> {
        <Self as TypedMap>::new(map)
    }

    /// The map underneath.
    pub fn map(&self) -> &'m Map {
        self.map
    }

    /// The values at `key`, one per possible CPU (index = CPU number).
    pub fn lookup(&self, key: &K) -> Result<Option<Vec<V>>, MapError> {
        match self.map.lookup(pod::bytes_of(key))? {
            Some(bytes) => per_cpu_values(self.map, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `values` at `key`: exactly one per possible CPU.
    pub fn update(&self, key: &K, values: &[V], flags: u64) -> Result<(), MapError> {
        let bytes = per_cpu_bytes(self.map, values)?;
        self.map.update(pod::bytes_of(key), &bytes, flags)
    }

    /// Deletes `key`; `false` when it was not there.
    pub fn delete(&self, key: &K) -> Result<bool, MapError> {
        self.map.delete(pod::bytes_of(key))
    }

    /// The keys and their values, one per CPU ([`Map::entries`]).
    pub fn entries(&self) -> impl Iterator<Item = Result<(K, Vec<V>), MapError>> + 'm {
        let map = self.map;
        map.entries().map(move |entry| {
            let (key, value) = entry?;
            Ok((key_of(map, &key)?, per_cpu_values(map, &value)?))
        })
    }
}

/// A per-CPU array (`percpu_array`) of `V`: each index has one `V` per possible CPU.
#[derive(Debug, Clone, Copy)]
pub struct PerCpuArray<'m, V> {
    map: &'m Map,
    types: PhantomData<V>,
}

impl<'m, V: Pod> TypedMap<'m> for PerCpuArray<'m, V> {
    fn new(map: &'m Map) -> Result<Self, MapError> {
        map.check_type(&[MapType::PERCPU_ARRAY])?;
        check_key_value::<u32, V>(map)?;
        Ok(PerCpuArray {
            map,
            types: PhantomData,
        })
    }
}

impl<'m, V: Pod> PerCpuArray<'m, V> {
    /// The view of `map` ([`TypedMap::new`]).
    pub fn new(map: &'m Map) -> Result<Self, MapError> {
        <Self as TypedMap>::new(map)
    }

    /// The map underneath.
    pub fn map(&self) -> &'m Map {
        self.map
    }

    /// The values at `index`, one per possible CPU; `None` past the end.
    pub fn get(&self, index: u32) -> Result<Option<Vec<V>>, MapError> {
        match self.map.lookup(&index.to_ne_bytes())? {
            Some(bytes) => per_cpu_values(self.map, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `values` at `index`: exactly one per possible CPU.
    pub fn set(&self, index: u32, values: &[V], flags: u64) -> Result<(), MapError> {
        let bytes = per_cpu_bytes(self.map, values)?;
        self.map.update(&index.to_ne_bytes(), &bytes, flags)
    }
}

/// A queue (`queue`, 4.20) of `V`: first in, first out. No keys.
#[derive(Debug, Clone, Copy)]
pub struct Queue<'m, V> {
    map: &'m Map,
    types: PhantomData<V>,
}

/// A stack (`stack`, 4.20) of `V`: last in, first out. No keys.
#[derive(Debug, Clone, Copy)]
pub struct Stack<'m, V> {
    map: &'m Map,
    types: PhantomData<V>,
}

/// The checks of a queue or stack view: the type, and `V` against the value (the key
/// is empty).
fn check_queue_stack<V: Pod>(map: &Map, map_type: MapType) -> Result<(), MapError> {
    const QUEUE: &[MapType] = &[MapType::QUEUE];
    const STACK: &[MapType] = &[MapType::STACK];
    map.check_type(if map_type == MapType::QUEUE {
        QUEUE
    } else {
        STACK
    })?;
    let spec = map.spec();
    check_side::<V>(
        map,
        "value",
        spec.value_size as usize,
        spec.btf_value_type_id,
    )
}

macro_rules! queue_or_stack {
    ($view:ident, $map_type:expr, $pop:literal) => {
        impl<'m, V: Pod> TypedMap<'m> for $view<'m, V> {
            fn new(map: &'m Map) -> Result<Self, MapError> {
                check_queue_stack::<V>(map, $map_type)?;
                Ok($view {
                    map,
                    types: PhantomData,
                })
            }
        }

        impl<'m, V: Pod> $view<'m, V> {
            /// The view of `map` ([`TypedMap::new`]).
            pub fn new(map: &'m Map) -> Result<Self, MapError> {
                <Self as TypedMap>::new(map)
            }

            /// The map underneath.
            pub fn map(&self) -> &'m Map {
                self.map
            }

            /// Adds `value` ([`Map::push`]: `BPF_EXIST` drops the oldest when full).
            pub fn push(&self, value: &V, flags: u64) -> Result<(), MapError> {
                self.map.push(pod::bytes_of(value), flags)
            }

            #[doc = concat!("Takes out ", $pop, "; `None` when empty ([`Map::pop`]).")]
            pub fn pop(&self) -> Result<Option<V>, MapError> {
                match self.map.pop()? {
                    Some(bytes) => value_of(self.map, &bytes).map(Some),
                    None => Ok(None),
                }
            }

            #[doc = concat!("Reads ", $pop, " and leaves it there ([`Map::peek`]).")]
            pub fn peek(&self) -> Result<Option<V>, MapError> {
                match self.map.peek()? {
                    Some(bytes) => value_of(self.map, &bytes).map(Some),
                    None => Ok(None),
                }
            }
        }
    };
}

queue_or_stack!(Queue, MapType::QUEUE, "the oldest element");
queue_or_stack!(Stack, MapType::STACK, "the newest element");

/// A perf event array (`perf_event_array`), the map a [`crate::perf::PerfReader`] reads
/// ([`PerfEventArray::reader`]). Its values are perf event fds, set by the reader.
#[derive(Debug, Clone, Copy)]
pub struct PerfEventArray<'m> {
    map: &'m Map,
}

impl<'m> TypedMap<'m> for PerfEventArray<'m> {
    fn new(map: &'m Map) -> Result<Self, MapError> {
        map.check_type(&[MapType::PERF_EVENT_ARRAY])?;
        Ok(PerfEventArray { map })
    }
}

impl<'m> PerfEventArray<'m> {
    /// The view of `map` ([`TypedMap::new`]).
    pub fn new(map: &'m Map) -> Result<Self, MapError> {
        <Self as TypedMap>::new(map)
    }

    /// The map underneath.
    pub fn map(&self) -> &'m Map {
        self.map
    }
}

/// A ring buffer (`ringbuf`), the map a [`crate::ringbuf::RingBufReader`] reads
/// ([`RingBufMap::reader`]). (Not `RingBuf`: [`crate::ringbuf::RingBuf`] is the pure
/// reader of the ring's memory.)
#[derive(Debug, Clone, Copy)]
pub struct RingBufMap<'m> {
    map: &'m Map,
}

impl<'m> TypedMap<'m> for RingBufMap<'m> {
    fn new(map: &'m Map) -> Result<Self, MapError> {
        map.check_type(&[MapType::RINGBUF])?;
        Ok(RingBufMap { map })
    }
}

impl<'m> RingBufMap<'m> {
    /// The view of `map` ([`TypedMap::new`]).
    pub fn new(map: &'m Map) -> Result<Self, MapError> {
        <Self as TypedMap>::new(map)
    }

    /// The map underneath.
    pub fn map(&self) -> &'m Map {
        self.map
    }
}
