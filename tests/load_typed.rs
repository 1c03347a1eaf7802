//! The typed views of `src/load/typed.rs` and the typed globals on the running kernel
//! (root): a hash map, an array and the per-CPU maps written and read as Rust types; the
//! views refuse a map of another type or size before any system call; and, on the maps
//! of `bpf/main.bpf.o`, the Rust types are checked against the object's BTF (the `counts`
//! map's `struct flow_key`, the globals' `u32` and `u64`). Each test makes its own maps.

use std::mem::offset_of;

use ebpf_loader::elf::{GlobalError, MapSpec, ObjectSpec};
use ebpf_loader::load::{
    Array, HashMap, LoadError, LoadOptions, Map, MapError, Object, PerCpuArray, PerCpuHashMap,
    PerfEventArray, TypedMap,
};
use ebpf_loader::perf::possible_cpus;
use ebpf_loader::pod::{Field, Pod, Shape};
use ebpf_loader::uapi::{MapType, BPF_ANY, BPF_NOEXIST};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");

fn map(name: &str, map_type: MapType, key_size: u32, value_size: u32, entries: u32) -> Map {
    Map::create(&MapSpec {
        name: name.into(),
        map_type,
        key_size,
        value_size,
        max_entries: entries,
        ..MapSpec::default()
    })
    .unwrap()
}

fn slots() -> usize {
    possible_cpus().unwrap().into_iter().max().unwrap() as usize + 1
}

#[test]
fn a_typed_hash_map_round_trip() {
    let raw = map("typed_hash", MapType::HASH, 4, 8, 16);
    let hash: HashMap<u32, u64> = HashMap::new(&raw).unwrap();
    for key in 1u32..=3 {
        hash.update(&key, &(u64::from(key) * 100), BPF_ANY).unwrap();
    }
    assert_eq!(hash.lookup(&2).unwrap(), Some(200));
    assert_eq!(hash.lookup(&9).unwrap(), None);
    assert!(matches!(
        hash.update(&1, &0, BPF_NOEXIST),
        Err(MapError::Sys { error, .. }) if error.errno == libc::EEXIST
    ));
    let mut keys: Vec<u32> = hash.keys().map(Result::unwrap).collect();
    keys.sort();
    assert_eq!(keys, [1, 2, 3]);
    let mut entries: Vec<(u32, u64)> = hash.entries().map(Result::unwrap).collect();
    entries.sort();
    assert_eq!(entries, [(1, 100), (2, 200), (3, 300)]);
    assert_eq!(hash.delete(&2), Ok(true));
    assert_eq!(hash.delete(&2), Ok(false));
    // The byte API underneath sees the same element.
    assert_eq!(
        raw.lookup(&3u32.to_ne_bytes()).unwrap(),
        Some(300u64.to_ne_bytes().to_vec())
    );
}

#[test]
fn a_typed_array_reads_and_writes_by_index() {
    let raw = map("typed_array", MapType::ARRAY, 4, 4, 4);
    let array: Array<[u16; 2]> = Array::new(&raw).unwrap();
    assert_eq!(array.len(), 4);
    array.set(3, &[7, 8], BPF_ANY).unwrap();
    assert_eq!(array.get(3).unwrap(), Some([7, 8]));
    assert_eq!(array.get(0).unwrap(), Some([0, 0]));
    assert_eq!(array.get(4).unwrap(), None);
}

#[test]
fn per_cpu_views_hold_one_value_per_possible_cpu() {
    let slots = slots();
    let raw = map("typed_pcpu_arr", MapType::PERCPU_ARRAY, 4, 4, 2);
    let array: PerCpuArray<u32> = PerCpuArray::new(&raw).unwrap();
    assert_eq!(array.get(1).unwrap(), Some(vec![0; slots]));
    let values: Vec<u32> = (0..slots as u32).map(|cpu| cpu * 10 + 1).collect();
    array.set(1, &values, BPF_ANY).unwrap();
    assert_eq!(array.get(1).unwrap(), Some(values.clone()));
    // 4-byte values sit in 8-byte slots: CPU 1's is at byte 8 of the kernel's bytes.
    let bytes = raw.lookup(&1u32.to_ne_bytes()).unwrap().unwrap();
    if slots > 1 {
        assert_eq!(bytes[8..12], 11u32.to_ne_bytes());
    }
    assert_eq!(
        array.set(1, &values[1..], BPF_ANY),
        Err(MapError::Size {
            map: "typed_pcpu_arr".into(),
            what: "per-CPU value list",
            expected: slots,
            got: slots - 1
        })
    );

    let raw = map("typed_pcpu_hash", MapType::PERCPU_HASH, 8, 8, 4);
    let hash: PerCpuHashMap<u64, i64> = PerCpuHashMap::new(&raw).unwrap();
    let values: Vec<i64> = (0..slots as i64).map(|cpu| -cpu).collect();
    hash.update(&42, &values, BPF_ANY).unwrap();
    assert_eq!(hash.lookup(&42).unwrap(), Some(values.clone()));
    assert_eq!(hash.lookup(&43).unwrap(), None);
    let entries: Vec<(u64, Vec<i64>)> = hash.entries().map(Result::unwrap).collect();
    assert_eq!(entries, [(42, values)]);
}

#[test]
fn a_view_of_the_wrong_type_or_size_is_refused_when_made() {
    let raw = map("typed_refuse", MapType::HASH, 4, 8, 4);
    assert_eq!(
        HashMap::<u64, u64>::new(&raw).unwrap_err().to_string(),
        "map typed_refuse: a key is 4 bytes, but u64 is 8"
    );
    assert_eq!(
        HashMap::<u32, [u8; 7]>::new(&raw).unwrap_err(),
        MapError::TypeSize {
            map: "typed_refuse".into(),
            what: "value",
            rust_type: "[u8; 7]",
            expected: 8,
            got: 7
        }
    );
    assert_eq!(
        Array::<u64>::new(&raw).unwrap_err().to_string(),
        "map typed_refuse is of type hash; this view reads array"
    );
    assert_eq!(
        PerfEventArray::new(&raw).unwrap_err().to_string(),
        "map typed_refuse is of type hash; this view reads perf_event_array"
    );
    assert_eq!(
        PerCpuHashMap::<u32, u64>::new(&raw)
            .unwrap_err()
            .to_string(),
        "map typed_refuse is of type hash; this view reads percpu_hash or lru_percpu_hash"
    );
}

/// `struct flow_key` of `bpf/main.bpf.c`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    saddr: [u8; 16],
    daddr: [u8; 16],
    dport: u16,
    family: u8,
    pad: u8,
}

// SAFETY: repr(C), integers and byte arrays, no hole.
unsafe impl Pod for FlowKey {
    fn shape() -> Shape {
        Shape::Struct {
            fields: vec![
                Field::of::<[u8; 16]>("saddr", offset_of!(FlowKey, saddr)),
                Field::of::<[u8; 16]>("daddr", offset_of!(FlowKey, daddr)),
                Field::of::<u16>("dport", offset_of!(FlowKey, dport)),
                Field::of::<u8>("family", offset_of!(FlowKey, family)),
                Field::of::<u8>("pad", offset_of!(FlowKey, pad)),
            ],
        }
    }
}

/// The same bytes with `family` and `pad` swapped: a Rust mirror gone stale.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct StaleFlowKey {
    saddr: [u8; 16],
    daddr: [u8; 16],
    dport: u16,
    pad: u8,
    family: u8,
}

// SAFETY: as FlowKey.
unsafe impl Pod for StaleFlowKey {
    fn shape() -> Shape {
        Shape::Struct {
            fields: vec![
                Field::of::<[u8; 16]>("saddr", offset_of!(StaleFlowKey, saddr)),
                Field::of::<[u8; 16]>("daddr", offset_of!(StaleFlowKey, daddr)),
                Field::of::<u16>("dport", offset_of!(StaleFlowKey, dport)),
                Field::of::<u8>("pad", offset_of!(StaleFlowKey, pad)),
                Field::of::<u8>("family", offset_of!(StaleFlowKey, family)),
            ],
        }
    }
}

fn tool_object(filter_pid: u32) -> Object {
    let mut spec = ObjectSpec::parse(&std::fs::read(OBJECT).unwrap()).unwrap();
    spec.set_global("filter_pid", &filter_pid).unwrap();
    Object::load(
        &spec,
        &LoadOptions {
            programs: vec!["inet_sock_set_state".into()],
            ..LoadOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn views_of_an_objects_maps_are_checked_against_its_btf() {
    let object = tool_object(std::process::id());
    let counts: HashMap<FlowKey, u64> = object.typed_map("counts").unwrap();
    let mut key = FlowKey {
        saddr: [0; 16],
        daddr: [0; 16],
        dport: 443,
        family: 2,
        pad: 0,
    };
    key.saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    counts.update(&key, &5, BPF_ANY).unwrap();
    assert_eq!(
        counts.entries().map(Result::unwrap).collect::<Vec<_>>(),
        [(key, 5)]
    );

    // Bytes view the key's struct; an array of u32 does not.
    object
        .typed_map::<HashMap<[u8; 36], u64>>("counts")
        .unwrap();
    let error = object
        .typed_map::<HashMap<[u32; 9], u64>>("counts")
        .unwrap_err();
    assert_eq!(error.to_string(), "map counts: key type");
    assert_eq!(
        std::error::Error::source(&error).unwrap().to_string(),
        "[u32; 9] does not match STRUCT 'flow_key': STRUCT 'flow_key' in the object's BTF, \
         an array in Rust"
    );
    let error = object
        .typed_map::<HashMap<StaleFlowKey, u64>>("counts")
        .unwrap_err();
    let MapError::Layout { what, error, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!((*what, error.field.as_str()), ("key", "pad"));
    assert!(
        error
            .to_string()
            .ends_with("field pad: at byte 35 in the object's BTF, at byte 34 in Rust"),
        "{error}"
    );
    // The value is a u64: signed is refused.
    assert!(matches!(
        object.typed_map::<HashMap<FlowKey, i64>>("counts"),
        Err(MapError::Layout { what: "value", .. })
    ));
    assert!(matches!(
        object.typed_map::<HashMap<FlowKey, u64>>("no_such_map"),
        Err(MapError::NotFound { map }) if map == "no_such_map"
    ));
    let events: PerfEventArray = object.typed_map("events").unwrap();
    assert_eq!(events.map().name(), "events");
}

#[test]
fn typed_globals_are_read_back_and_checked_against_their_btf_type() {
    let pid = std::process::id();
    let object = tool_object(pid);
    assert_eq!(object.global::<u32>("filter_pid").unwrap(), pid);
    assert_eq!(object.global::<u64>("pending_dropped").unwrap(), 0);
    assert_eq!(
        object.global_bytes("filter_pid").unwrap(),
        pid.to_ne_bytes()
    );
    let error = object.global::<i64>("pending_dropped").unwrap_err();
    let LoadError::Global(GlobalError::Layout { name, error }) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(name, "pending_dropped");
    assert_eq!(
        error.to_string(),
        "i64 does not match TYPEDEF 'u64': unsigned in the object's BTF, signed in Rust"
    );
    assert!(matches!(
        object.global::<u32>("pending_dropped"),
        Err(LoadError::Global(GlobalError::Size {
            expected: 8,
            got: 4,
            ..
        }))
    ));
    // filter_ports is u16[64]: its length is checked.
    let mut spec = ObjectSpec::parse(&std::fs::read(OBJECT).unwrap()).unwrap();
    spec.set_global("filter_ports", &[80u16; 64]).unwrap();
    let error = spec.set_global("filter_ports", &[80u32; 32]).unwrap_err();
    assert_eq!(
        std::error::Error::source(&error).unwrap().to_string(),
        "[u32; 32] does not match ARRAY '(anon)': 64 elements in the object's BTF, 32 in Rust"
    );
}

#[test]
fn the_typed_map_trait_makes_any_view() {
    fn view<'m, M: TypedMap<'m>>(map: &'m Map) -> Result<M, MapError> {
        M::new(map)
    }
    let raw = map("typed_trait", MapType::ARRAY, 4, 8, 1);
    let array: Array<u64> = view(&raw).unwrap();
    array.set(0, &u64::MAX, BPF_ANY).unwrap();
    assert_eq!(array.get(0).unwrap(), Some(u64::MAX));
}
