//! The loader as a library, in the shape of the seed's libbpf and libbpfgo programs:
//! open an object, adjust a map before load, load, attach a program by name, read its
//! perf events. Run as root: `cargo run --example connections -- bpf/main.bpf.o`.

use std::time::Duration;

use ebpf_loader::attach;
use ebpf_loader::attach::AttachOptions;
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};
use ebpf_loader::perf::{Event, PerfReader, PerfReaderOptions};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or("bpf/main.bpf.o".into());
    // Open: parse the object (nothing touches the kernel yet).
    let mut spec = ObjectSpec::parse(&std::fs::read(&path)?)?;
    // Adjust a map before load, as the seed resizes `events`.
    let events = spec.map_index("events").expect("a map named events");
    spec.maps[events].max_entries = 8192;
    // Load: maps, BTF, the program, relocated against the running kernel's BTF.
    let kernel_btf = btf::kernel::load()?;
    let object = Object::load(
        &spec,
        &LoadOptions {
            programs: vec!["inet_sock_set_state".into()],
            target_btf: Some(&kernel_btf),
            ..LoadOptions::default()
        },
    )?;
    // Attach the program where its section says (tracepoint/sock/inet_sock_set_state).
    let program = object.program("inet_sock_set_state").expect("loaded");
    let _link = attach::by_section(program, &AttachOptions::default())?;
    // Read: one ring per CPU; samples and lost counts arrive through one callback.
    let map = object.map("events").expect("created");
    let mut reader = PerfReader::open(map, &PerfReaderOptions::default())?;
    for _ in 0..100 {
        reader.poll(Some(Duration::from_millis(100)), |event| match event {
            // The sample is the program's `struct data_t`: `char comm[16]` then `u32 pid`
            // (bpf/main.bpf.c); decode what you need of your own struct the same way.
            Event::Sample { data, .. } => {
                let (Some(comm), Some(pid)) = (data.get(..16), data.get(16..20)) else {
                    return;
                };
                let comm = comm.split(|&b| b == 0).next().unwrap_or_default();
                let pid = u32::from_ne_bytes(pid.try_into().unwrap_or_default());
                println!("{} {pid} connected", String::from_utf8_lossy(comm));
            }
            Event::Lost { cpu, count } => eprintln!("lost {count} on CPU {cpu}"),
        })?;
    }
    Ok(())
}
