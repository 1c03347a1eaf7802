//! The `Map` handle on the running kernel (root): a hash map written, read, walked and
//! emptied through the public API; a per-CPU array's value covers every possible CPU; a
//! key of the wrong size is refused before any system call. Each test makes its own maps.

mod harness;

use harness::kernel::Bpffs;

use ebpf_loader::elf::MapSpec;
use ebpf_loader::load::{Map, MapError};
use ebpf_loader::perf::possible_cpus;
use ebpf_loader::uapi::{MapType, BPF_ANY, BPF_NOEXIST};

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
