//! The `Map` handle on the running kernel (root): a hash map written, read, walked and
//! emptied through the public API; a per-CPU array's value covers every possible CPU; a
//! key of the wrong size is refused before any system call; queues and stacks pushed and
//! popped, batches with their cursor, a frozen map, typed per-CPU values; a legacy
//! `SEC("maps")` object loaded and run. Each test makes its own maps.

mod harness;

use harness::kernel::Bpffs;

use ebpf_loader::elf::MapSpec;
use ebpf_loader::load::{Map, MapError, PerCpuArray, PerCpuHashMap, Queue, Stack};
use ebpf_loader::perf::possible_cpus;
use ebpf_loader::uapi::{MapType, BPF_ANY, BPF_EXIST, BPF_NOEXIST};

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

#[test]
fn a_hash_map_round_trip_through_the_handle() {
    let hash = map("test_handle", MapType::HASH, 4, 8, 16);
    for key in 1u32..=3 {
        hash.update(
            &key.to_ne_bytes(),
            &(key as u64 * 100).to_ne_bytes(),
            BPF_ANY,
        )
        .unwrap();
    }
    assert_eq!(
        hash.lookup(&2u32.to_ne_bytes()).unwrap(),
        Some(200u64.to_ne_bytes().to_vec())
    );
    assert_eq!(hash.lookup(&9u32.to_ne_bytes()).unwrap(), None);
    // BPF_NOEXIST on a key that is there: EEXIST, named with the map.
    match hash
        .update(&1u32.to_ne_bytes(), &[0; 8], BPF_NOEXIST)
        .unwrap_err()
    {
        MapError::Sys { map, error } => {
            assert_eq!(map, "test_handle");
            assert_eq!(error.errno, libc::EEXIST);
        }
        other => panic!("{other:?}"),
    }
    let mut keys: Vec<u32> = hash
        .keys()
        .map(|k| u32::from_ne_bytes(k.unwrap().try_into().unwrap()))
        .collect();
    keys.sort();
    assert_eq!(keys, [1, 2, 3]);
    let mut entries: Vec<(u32, u64)> = hash
        .entries()
        .map(|e| {
            let (k, v) = e.unwrap();
            (
                u32::from_ne_bytes(k.try_into().unwrap()),
                u64::from_ne_bytes(v.try_into().unwrap()),
            )
        })
        .collect();
    entries.sort();
    assert_eq!(entries, [(1, 100), (2, 200), (3, 300)]);
    assert_eq!(hash.delete(&2u32.to_ne_bytes()), Ok(true));
    assert_eq!(hash.delete(&2u32.to_ne_bytes()), Ok(false));
    assert_eq!(hash.keys().count(), 2);

    let info = hash.info().unwrap();
    assert_eq!(info.map_type, MapType::HASH);
    assert_eq!(info.name, "test_handle");
    assert_eq!(
        (info.key_size, info.value_size, info.max_entries),
        (4, 8, 16)
    );
    assert_ne!(info.id, 0);
}

#[test]
fn a_per_cpu_value_holds_one_slot_per_possible_cpu() {
    let cpus = possible_cpus().unwrap();
    let slots = cpus.iter().max().unwrap() + 1;
    // 4-byte values are padded to 8 per CPU.
    let array = map("test_percpu", MapType::PERCPU_ARRAY, 4, 4, 1);
    assert_eq!(array.value_size(), 8 * slots as usize);
    let value = array.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
    assert_eq!(value, vec![0u8; 8 * slots as usize]);
    let mut ones = vec![0u8; array.value_size()];
    for slot in ones.chunks_exact_mut(8) {
        slot[..4].copy_from_slice(&1u32.to_ne_bytes());
    }
    array.update(&0u32.to_ne_bytes(), &ones, BPF_ANY).unwrap();
    assert_eq!(array.lookup(&0u32.to_ne_bytes()).unwrap(), Some(ones));
}

#[test]
fn keys_and_values_of_the_wrong_size_are_refused_before_the_kernel_sees_them() {
    let hash = map("test_sizes", MapType::HASH, 4, 8, 4);
    assert_eq!(
        hash.lookup(&[0u8; 3]).unwrap_err(),
        MapError::Size {
            map: "test_sizes".into(),
            what: "key",
            expected: 4,
            got: 3
        }
    );
    assert_eq!(
        hash.update(&[0u8; 4], &[0u8; 7], BPF_ANY)
            .unwrap_err()
            .to_string(),
        "map test_sizes: a value is 8 bytes, not 7"
    );
}

#[test]
fn a_pinned_map_is_opened_again_and_checked_against_the_spec() {
    let fs = Bpffs::new("pin");
    let spec = MapSpec {
        name: "test_pinned".into(),
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 8,
        ..MapSpec::default()
    };
    let original = Map::create(&spec).unwrap();
    original
        .update(&7u32.to_ne_bytes(), &42u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let path = fs.0.join("test_pinned");
    original.pin(&path).unwrap();
    let id = original.info().unwrap().id;
    drop(original);

    // The pin keeps the map: the same map, its element still there.
    let reopened = Map::open_pinned(&path, &spec).unwrap();
    assert_eq!(reopened.info().unwrap().id, id);
    assert_eq!(
        reopened.lookup(&7u32.to_ne_bytes()).unwrap(),
        Some(42u64.to_ne_bytes().to_vec())
    );

    // A spec that declares another value size is refused, naming the difference.
    let other = MapSpec {
        value_size: 16,
        ..spec.clone()
    };
    let error = Map::open_pinned(&path, &other).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "map test_pinned: the map pinned at {} has value_size 8, the object's has 16",
            path.display()
        )
    );
    // Nothing pinned there: ENOENT, said as such.
    let missing = fs.0.join("nothing");
    let error = Map::open_pinned(&missing, &spec).unwrap_err();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        cause.starts_with("BPF_OBJ_GET: No such file or directory (ENOENT)"),
        "{cause}"
    );
}

#[test]
fn a_bloom_filter_takes_its_hash_count_from_map_extra_and_has_no_keys() {
    let spec = MapSpec {
        name: "test_bloom".into(),
        map_type: MapType(30), // BPF_MAP_TYPE_BLOOM_FILTER (5.16)
        value_size: 4,
        max_entries: 16,
        map_extra: 3,
        ..MapSpec::default()
    };
    let bloom = match Map::create(&spec) {
        Ok(map) => map,
        Err(error) => {
            // Before 5.16 the kernel knows neither the type nor map_extra.
            eprintln!("no bloom filter on this kernel: {error}");
            return;
        }
    };
    assert_eq!(bloom.info().unwrap().map_extra, 3);
    // No key: the kernel refuses any key pointer but NULL (EINVAL).
    bloom.update(&[], &7u32.to_ne_bytes(), BPF_ANY).unwrap();
}

fn u64s(values: impl IntoIterator<Item = Option<Vec<u8>>>) -> Vec<Option<u64>> {
    values
        .into_iter()
        .map(|v| v.map(|bytes| u64::from_ne_bytes(bytes.try_into().unwrap())))
        .collect()
}

#[test]
fn a_queue_gives_back_in_push_order_and_a_stack_in_reverse() {
    let queue = map("test_queue", MapType::QUEUE, 0, 8, 3);
    let stack = map("test_stack", MapType::STACK, 0, 8, 3);
    for value in [10u64, 20, 30] {
        queue.push(&value.to_ne_bytes(), BPF_ANY).unwrap();
        stack.push(&value.to_ne_bytes(), BPF_ANY).unwrap();
    }
    // Full: BPF_ANY is refused (E2BIG), BPF_EXIST drops the oldest to make room.
    let full = queue.push(&40u64.to_ne_bytes(), BPF_ANY).unwrap_err();
    match &full {
        MapError::Sys { error, .. } => assert_eq!(error.errno, libc::E2BIG, "{full}"),
        other => panic!("{other:?}"),
    }
    queue.push(&40u64.to_ne_bytes(), BPF_EXIST).unwrap();
    assert_eq!(u64s([queue.peek().unwrap()]), [Some(20)]);
    assert_eq!(u64s([stack.peek().unwrap()]), [Some(30)]);
    let popped = |m: &Map| u64s((0..4).map(|_| m.pop().unwrap()));
    assert_eq!(popped(&queue), [Some(20), Some(30), Some(40), None]);
    assert_eq!(popped(&stack), [Some(30), Some(20), Some(10), None]);
    assert_eq!(queue.peek().unwrap(), None);

    // The typed views, over the same maps.
    let typed: Queue<u64> = Queue::new(&queue).unwrap();
    typed.push(&7, BPF_ANY).unwrap();
    typed.push(&8, BPF_ANY).unwrap();
    assert_eq!(typed.peek().unwrap(), Some(7));
    assert_eq!(
        (typed.pop().unwrap(), typed.pop().unwrap()),
        (Some(7), Some(8))
    );
    let typed: Stack<u64> = Stack::new(&stack).unwrap();
    typed.push(&7, BPF_ANY).unwrap();
    typed.push(&8, BPF_ANY).unwrap();
    assert_eq!(
        (typed.pop().unwrap(), typed.pop().unwrap()),
        (Some(8), Some(7))
    );
    // A queue is not a stack, nor a hash map a queue.
    assert!(matches!(
        Stack::<u64>::new(&queue).unwrap_err(),
        MapError::WrongType { .. }
    ));
    let hash = map("test_not_queue", MapType::HASH, 4, 8, 1);
    assert_eq!(
        hash.pop().unwrap_err().to_string(),
        "map test_not_queue is of type hash; this view reads queue or stack"
    );
}

#[test]
fn lookup_and_delete_of_a_hash_element_or_a_typed_refusal_before_5_14() {
    let hash = map("test_lookdel", MapType::HASH, 4, 8, 4);
    hash.update(&1u32.to_ne_bytes(), &11u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    match hash.lookup_and_delete(&1u32.to_ne_bytes()) {
        Ok(value) => {
            assert_eq!(value, Some(11u64.to_ne_bytes().to_vec()));
            assert_eq!(hash.lookup(&1u32.to_ne_bytes()).unwrap(), None);
            assert_eq!(hash.lookup_and_delete(&1u32.to_ne_bytes()).unwrap(), None);
        }
        Err(error @ MapError::NotSupported { .. }) => {
            eprintln!("skipped: no lookup-and-delete of hash maps before 5.14: {error}");
            assert_eq!(
                error.to_string(),
                "map test_lookdel: this kernel has no BPF_MAP_LOOKUP_AND_DELETE_ELEM for this \
                 map (queue and stack maps since 4.20, hash maps since 5.14)"
            );
            // Refused, so nothing was deleted.
            assert!(hash.lookup(&1u32.to_ne_bytes()).unwrap().is_some());
        }
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn batches_write_read_and_delete_a_hash_map_with_a_cursor() {
    if !ebpf_loader::features::probe_map_batch() {
        eprintln!("skipped: this kernel has no BPF_MAP_*_BATCH commands (5.6)");
        return;
    }
    let hash = map("test_batch", MapType::HASH, 4, 8, 64);
    let keys: Vec<[u8; 4]> = (1u32..=10).map(u32::to_ne_bytes).collect();
    let values: Vec<[u8; 8]> = (1u64..=10).map(|k| (k * 100).to_ne_bytes()).collect();
    let entries: Vec<(&[u8], &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (&k[..], &v[..]))
        .collect();
    assert_eq!(hash.update_batch(&entries, BPF_ANY).unwrap(), 10);

    // Read back 8 at a time: the first page's cursor takes the second call on, and the
    // second reaches the end.
    let first = hash.lookup_batch(None, 8).unwrap();
    let cursor = first.next.clone().expect("more after the first page");
    let second = hash.lookup_batch(Some(&cursor), 8).unwrap();
    assert_eq!(second.next, None, "the end of the map");
    let mut all: Vec<(u32, u64)> = first
        .entries
        .iter()
        .chain(&second.entries)
        .map(|(k, v)| {
            (
                u32::from_ne_bytes(k[..].try_into().unwrap()),
                u64::from_ne_bytes(v[..].try_into().unwrap()),
            )
        })
        .collect();
    all.sort();
    let expected: Vec<(u32, u64)> = (1..=10).map(|k| (k, u64::from(k) * 100)).collect();
    assert_eq!(all, expected);
    // The whole walk, page after page.
    assert_eq!(hash.batch_entries(8).unwrap().len(), 10);

    // Delete three by batch; a key that is not there stops it with ENOENT.
    let gone: Vec<&[u8]> = keys[..3].iter().map(|k| &k[..]).collect();
    assert_eq!(hash.delete_batch(&gone).unwrap(), 3);
    match hash.delete_batch(&gone[..1]).unwrap_err() {
        MapError::Sys { error, .. } => assert_eq!(error.errno, libc::ENOENT),
        other => panic!("{other:?}"),
    }
    // Take the rest out at once: the map is empty after.
    let rest = hash.lookup_and_delete_batch(None, 64).unwrap();
    assert_eq!(rest.entries.len(), 7);
    assert_eq!(rest.next, None);
    assert_eq!(hash.keys().count(), 0);

    // A queue has no batch commands: the kernel says so, typed.
    let queue = map("test_batch_q", MapType::QUEUE, 0, 8, 4);
    let error = queue.lookup_batch(None, 4).unwrap_err();
    match &error {
        MapError::NotSupported { error, .. } => assert_eq!(error.op, "BPF_MAP_LOOKUP_BATCH"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_frozen_map_refuses_user_space_writes_with_eperm() {
    let array = map("test_freeze", MapType::ARRAY, 4, 8, 2);
    array
        .update(&0u32.to_ne_bytes(), &5u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    array.freeze().unwrap();
    let error = array
        .update(&0u32.to_ne_bytes(), &6u64.to_ne_bytes(), BPF_ANY)
        .unwrap_err();
    match &error {
        MapError::Sys { map, error } => {
            assert_eq!(map, "test_freeze");
            assert_eq!(error.errno, libc::EPERM);
            assert_eq!(error.op, "BPF_MAP_UPDATE_ELEM");
        }
        other => panic!("{other:?}"),
    }
    // Still readable, unchanged.
    assert_eq!(
        array.lookup(&0u32.to_ne_bytes()).unwrap(),
        Some(5u64.to_ne_bytes().to_vec())
    );
}

#[test]
fn typed_per_cpu_values_are_one_per_possible_cpu_each_in_an_8_byte_slot() {
    let slots = (possible_cpus().unwrap().iter().max().unwrap() + 1) as usize;
    let array = map("test_pc_typed", MapType::PERCPU_ARRAY, 4, 4, 2);
    let view: PerCpuArray<u32> = PerCpuArray::new(&array).unwrap();
    let values: Vec<u32> = (0..slots as u32).map(|cpu| 1000 + cpu).collect();
    view.set(1, &values, BPF_ANY).unwrap();
    assert_eq!(view.get(1).unwrap(), Some(values.clone()));
    // In the kernel's bytes, CPU i's value is at 8 * i, its padding zero.
    let bytes = array.lookup(&1u32.to_ne_bytes()).unwrap().unwrap();
    for (cpu, slot) in bytes.chunks(8).enumerate() {
        assert_eq!(slot[..4], (1000 + cpu as u32).to_ne_bytes());
        assert_eq!(slot[4..], [0; 4]);
    }
    // One value too few is refused before the kernel sees it.
    assert!(matches!(
        view.set(1, &values[1..], BPF_ANY).unwrap_err(),
        MapError::Size {
            what: "per-CPU value list",
            ..
        }
    ));
    let hash = map("test_pc_hash", MapType::PERCPU_HASH, 8, 8, 2);
    let view: PerCpuHashMap<u64, u64> = PerCpuHashMap::new(&hash).unwrap();
    let values: Vec<u64> = (0..slots as u64).map(|cpu| cpu * cpu).collect();
    view.update(&9, &values, BPF_ANY).unwrap();
    assert_eq!(view.lookup(&9).unwrap(), Some(values));
}

const LEGACY: &[u8] = include_bytes!("fixtures/legacy_maps.bpf.o");

#[test]
fn legacy_maps_of_struct_bpf_map_def_load_and_work() {
    let spec = ebpf_loader::elf::ObjectSpec::parse(LEGACY).unwrap();
    let legacy: Vec<(&str, MapType, u32, u32, u32)> = spec
        .maps
        .iter()
        .filter(|m| m.kind == ebpf_loader::elf::MapKind::Legacy)
        .map(|m| {
            (
                m.name.as_str(),
                m.map_type,
                m.key_size,
                m.value_size,
                m.max_entries,
            )
        })
        .collect();
    assert_eq!(
        legacy,
        [
            ("counts", MapType::ARRAY, 4, 8, 2),
            ("order", MapType::QUEUE, 0, 8, 8),
            ("stack", MapType::STACK, 0, 8, 8),
        ]
    );
    let object = ebpf_loader::load::Object::load(&spec, &ebpf_loader::load::LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let program = object.program("count_runs").unwrap();
    // Three runs of the socket filter on an Ethernet-sized packet.
    let run = program
        .test_run_with(&ebpf_loader::load::TestRun {
            data: &[0u8; 64],
            data_out_size: Some(0),
            repeat: 3,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(run.retval, 0);
    let counts: ebpf_loader::load::Array<u64> = object.typed_map("counts").unwrap();
    assert_eq!(counts.get(0).unwrap(), Some(3));
    let order: Queue<u64> = object.typed_map("order").unwrap();
    let stack: Stack<u64> = object.typed_map("stack").unwrap();
    let drain = |pop: &dyn Fn() -> Option<u64>| (0..4).map(|_| pop()).collect::<Vec<_>>();
    assert_eq!(
        drain(&|| order.pop().unwrap()),
        [Some(0), Some(1), Some(2), None]
    );
    assert_eq!(
        drain(&|| stack.pop().unwrap()),
        [Some(2), Some(1), Some(0), None]
    );
}
