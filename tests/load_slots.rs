//! Maps that hold other kernel objects, created and filled as the object declares them
//! (root): an array of maps, created with its inner maps' shape (`inner_map_fd`) and slot 1
//! set to the object's map `inner_b`; a prog array whose slot 0 is the object's program
//! `tail`. The kernel answers a lookup in such a map from user space with the id of what
//! the slot holds; the test also makes the program use both (a raw tracepoint,
//! `task_rename`, which this process fires by renaming its thread).

use std::time::{Duration, Instant};

use ebpf_loader::attach;
use ebpf_loader::attach::AttachOptions;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, LoadOptions, Object};
use ebpf_loader::uapi::BPF_ANY;

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/nested.bpf.o");

fn spec() -> ObjectSpec {
    let mut spec = ObjectSpec::parse(OBJECT).unwrap();
    spec.set_global("target_tgid", &std::process::id()).unwrap();
    spec
}

fn load(spec: &ObjectSpec, programs: &[&str]) -> Result<Object, LoadError> {
    Object::load(
        spec,
        &LoadOptions {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            ..LoadOptions::default()
        },
    )
}

/// The id a slot holds, as the kernel answers a lookup from user space; `None`: empty.
fn slot(object: &Object, map: &str, slot: u32) -> Option<u32> {
    let value = object
        .map(map)
        .unwrap()
        .lookup(&slot.to_ne_bytes())
        .unwrap()?;
    Some(u32::from_ne_bytes(value.try_into().unwrap()))
}

fn global(object: &Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}

#[test]
fn the_slots_the_object_names_hold_its_map_and_its_program() {
    let object = load(&spec(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let inner_b = object.map("inner_b").unwrap().info().unwrap().id;
    let tail = object.program("tail").unwrap().info().unwrap().id;
    assert_eq!(slot(&object, "outer", 0), None);
    assert_eq!(slot(&object, "outer", 1), Some(inner_b));
    assert_eq!(slot(&object, "jump", 0), Some(tail));
    assert_eq!(slot(&object, "jump", 1), None);
    // The inner maps' template is not one of the object's maps: only the four declared
    // and the global data sections are.
    let names: Vec<&str> = object
        .maps()
        .iter()
        .map(|m| m.spec().name.as_str())
        .collect();
    assert_eq!(
        names,
        ["inner_b", "outer", "jump", "inner_a", ".rodata", ".bss"]
    );
}

#[test]
fn the_program_reads_through_the_outer_map_and_tail_calls() {
    let object = load(&spec(), &[]).unwrap_or_else(|e| panic!("{e}"));
    object
        .map("inner_b")
        .unwrap()
        .update(&0u32.to_ne_bytes(), &0x1234u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let _link = attach::by_section(
        object.program("on_enter").unwrap(),
        &AttachOptions::default(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while global(&object, "tail_calls") == 0 {
        // inner_value set but no tail call: on_enter ran and its tail call failed.
        assert!(
            Instant::now() < deadline,
            "the tail call never ran in 5 s (inner_value {:#x}, slot jump[0] {:?})",
            global(&object, "inner_value"),
            slot(&object, "jump", 0)
        );
        // SAFETY: the name is a NUL-terminated string that outlives the call.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"load_slots".as_ptr()) };
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(global(&object, "inner_value"), 0x1234);
}

#[test]
fn a_slot_whose_program_is_not_loaded_stays_empty() {
    let object = load(&spec(), &["on_enter"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(object.program("tail").is_none());
    assert_eq!(slot(&object, "jump", 0), None);
}

#[test]
fn a_slot_naming_nothing_in_the_object_is_refused_with_its_names() {
    let mut spec = spec();
    let outer = spec.map_index("outer").unwrap();
    spec.maps[outer].init_slots = vec![(0, "nowhere".into())];
    let Err(error) = load(&spec, &[]) else {
        panic!("loaded with a slot naming nothing")
    };
    assert!(
        matches!(error, LoadError::InitSlot { error: None, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "map outer: setting slot [0] to nowhere: the object has no map or program of that name"
    );
}
