//! The loader as a library, in the shape of the seed's libbpf and libbpfgo programs:
//! open an object, adjust a map and a global before load, load, attach a program by name,
//! read its perf events as a typed struct checked against the object's BTF. Run as root:
//! `cargo run --example connections -- bpf/main.bpf.o`.

use std::mem::offset_of;
use std::time::Duration;

use ebpf_loader::attach::AttachOptions;
use ebpf_loader::btf::{layout, Kind};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object, PerfEventArray};
use ebpf_loader::perf::{Event, PerfReaderOptions};
use ebpf_loader::pod::{Field, Pod, Shape};

/// The program's `struct data_t` (bpf/main.bpf.c), field for field. C leaves a hole of
/// two bytes before `saddr`: here it is a field, since a `Pod` type has no padding.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // the fields this example does not print
struct DataT {
    comm: [u8; 16],
    pid: u32,
    uid: u32,
    gid: u32,
    loginuid: u32,
    family: u8,
    proto: u8,
    sport: u16,
    dport: u16,
    _hole: [u8; 2],
    saddr: [u8; 4],
    saddr6: [u8; 16],
    daddr: [u8; 4],
    daddr6: [u8; 16],
    thesource: u8,
    __pad: [u8; 7],
    cgroup_id: u64,
    mntns: u32,
    netns: u32,
}

// SAFETY: repr(C); integers and byte arrays only (every bit pattern valid); C's one hole
// is the field `_hole`, and the struct has no tail padding (104 bytes).
unsafe impl Pod for DataT {
    /// Every C member by name and offset, for the check against the object's BTF.
    fn shape() -> Shape {
        Shape::Struct {
            fields: vec![
                Field::of::<[u8; 16]>("comm", offset_of!(DataT, comm)),
                Field::of::<u32>("pid", offset_of!(DataT, pid)),
                Field::of::<u32>("uid", offset_of!(DataT, uid)),
                Field::of::<u32>("gid", offset_of!(DataT, gid)),
                Field::of::<u32>("loginuid", offset_of!(DataT, loginuid)),
                Field::of::<u8>("family", offset_of!(DataT, family)),
                Field::of::<u8>("proto", offset_of!(DataT, proto)),
                Field::of::<u16>("sport", offset_of!(DataT, sport)),
                Field::of::<u16>("dport", offset_of!(DataT, dport)),
                Field::of::<[u8; 4]>("saddr", offset_of!(DataT, saddr)),
                Field::of::<[u8; 16]>("saddr6", offset_of!(DataT, saddr6)),
                Field::of::<[u8; 4]>("daddr", offset_of!(DataT, daddr)),
                Field::of::<[u8; 16]>("daddr6", offset_of!(DataT, daddr6)),
                Field::of::<u8>("thesource", offset_of!(DataT, thesource)),
                Field::of::<[u8; 7]>("__pad", offset_of!(DataT, __pad)),
                Field::of::<u64>("cgroup_id", offset_of!(DataT, cgroup_id)),
                Field::of::<u32>("mntns", offset_of!(DataT, mntns)),
                Field::of::<u32>("netns", offset_of!(DataT, netns)),
            ],
        }
    }
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or("bpf/main.bpf.o".into());
    // Open: parse the object (nothing touches the kernel yet).
    let mut spec = ObjectSpec::parse(&std::fs::read(&path)?)?;
    // Check the event struct against the object's BTF: a changed field is named here.
    let btf = spec.btf.as_ref().expect("an object with BTF");
    layout::check::<DataT>(btf, btf.find_by_name_kind("data_t", Kind::Struct)?)?;
    // Adjust a map before load, as the seed resizes `events`.
    let events = spec.map_index("events").expect("a map named events");
    spec.maps[events].max_entries = 8192;
    // Configure the program: a `const volatile u32` of .rodata, checked against its type.
    spec.set_global("filter_uid", &u32::MAX)?;
    // Load: BTF, maps, the program, relocated against the running kernel's BTF (the
    // default target of CO-RE).
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: vec!["inet_sock_set_state".into()],
            ..LoadOptions::default()
        },
    )?;
    // Attach the program where its section says (tracepoint/sock/inet_sock_set_state).
    let program = object.program("inet_sock_set_state").expect("loaded");
    let _link = program.attach(&AttachOptions::default())?;
    // Read: one ring per CPU; samples and lost counts arrive through one callback.
    let events: PerfEventArray = object.typed_map("events")?;
    let mut reader = events.reader(&PerfReaderOptions::default())?;
    for _ in 0..100 {
        reader.poll(Some(Duration::from_millis(100)), |event| match event {
            Event::Sample { .. } => match event.read::<DataT>() {
                Some(Ok(data)) => {
                    let comm = data.comm.split(|&b| b == 0).next().unwrap_or_default();
                    let port = data.dport;
                    println!(
                        "{} {} connected to port {port}",
                        String::from_utf8_lossy(comm),
                        data.pid
                    );
                }
                Some(Err(error)) => eprintln!("not a data_t: {error}"),
                None => {}
            },
            Event::Lost { cpu, count } => eprintln!("lost {count} on CPU {cpu}"),
        })?;
    }
    Ok(())
}
