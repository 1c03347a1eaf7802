//! Pinning against this host's kernel (root; programs are loaded, not attached): maps
//! declared with `LIBBPF_PIN_BY_NAME` are created and pinned once, then reused by the next
//! load; a map given by its pin (`LoadOptions::pinned_maps`) stands for the object's own,
//! checked against the object's declaration. Each test pins under a directory of its own.

mod harness;

use harness::kernel::Bpffs;

use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};

const OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

fn spec() -> ObjectSpec {
    ObjectSpec::parse(OBJECT).expect("parse main.bpf.o")
}

#[test]
fn maps_pinned_by_name_are_created_once_and_reused() {
    let fs = Bpffs::new("pin_root");
    let dir = fs.0.clone();
    let mut spec = spec();
    let counts = spec.map_index("counts").unwrap();
    // As `__uint(pinning, LIBBPF_PIN_BY_NAME)` would declare it.
    spec.maps[counts].pinning = 1;
    let kernel = ebpf_loader::btf::kernel::load().expect("kernel BTF");
    let options = LoadOptions {
        programs: vec!["inet_sock_set_state".into()],
        target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
        kernel_btf: Some(&kernel),
        pin_root: Some(dir.clone()),
        ..LoadOptions::default()
    };
    let first = Object::load(&spec, &options).unwrap();
    let id = first.map("counts").unwrap().info().unwrap().id;
    assert!(dir.join("counts").exists(), "pinned at PIN_ROOT/NAME");
    drop(first);
    // Loaded again: the pinned map, not a new one.
    let second = Object::load(&spec, &options).unwrap();
    assert_eq!(second.map("counts").unwrap().info().unwrap().id, id);
    // The unpinned maps are new ones each time.
    drop(second);
}

#[test]
fn a_map_given_by_its_pin_replaces_the_objects_own() {
    let spec = spec();
    let kernel = ebpf_loader::btf::kernel::load().expect("kernel BTF");
    let fs = Bpffs::new("pinned");
    let dir = fs.0.clone();
    // Someone else's map, of the object's `counts` definition, pinned.
    let counts_spec = &spec.maps[spec.map_index("counts").unwrap()];
    let theirs = ebpf_loader::load::Map::create(counts_spec).unwrap();
    theirs.pin(&dir.join("theirs")).unwrap();
    let options = LoadOptions {
        programs: vec!["inet_sock_set_state".into()],
        target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
        kernel_btf: Some(&kernel),
        pinned_maps: vec![("counts".into(), dir.join("theirs"))],
        ..LoadOptions::default()
    };
    let object = Object::load(&spec, &options).unwrap();
    assert_eq!(
        object.map("counts").unwrap().info().unwrap().id,
        theirs.info().unwrap().id
    );
    drop(object);
}
