//! Counts execs per program name for a while, then prints the counts, most first: a
//! tracepoint program (`sched/sched_process_exec`) counting into a hash map, read with the
//! typed [`HashMap`] view. Its eBPF side is `execs_per_process.bpf.c`, built by
//! `examples/Makefile` and embedded here. Run as root:
//! `cargo run --example execs_per_process -- 5` (seconds; default 5).

use std::time::Duration;

use ebpf_loader::attach::{self, AttachOptions};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{HashMap, LoadOptions, Object};

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    // Open: parse the object; nothing touches the kernel yet.
    let spec = ObjectSpec::parse(include_bytes!("execs_per_process.bpf.o"))?;
    // Load: its BTF, its map `execs`, its program, into the kernel.
    let object = Object::load(&spec, &LoadOptions::default())?;
    // Attach where its section says: tracepoint/sched/sched_process_exec.
    let program = object.program("count_exec").expect("the object's program");
    let _link = attach::by_section(program, &AttachOptions::default())?;
    println!("counting execs for {seconds} s");
    std::thread::sleep(Duration::from_secs(seconds));

    // Read: the key is the comm (char[16] in C), the value a u64; the view checks both
    // against the map's sizes and BTF types once, here.
    let execs: HashMap<[u8; 16], u64> = object.typed_map("execs")?;
    let mut counts = execs.entries().collect::<Result<Vec<_>, _>>()?;
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (comm, count) in counts {
        let name = comm.split(|&b| b == 0).next().unwrap_or_default();
        println!("{count:>8} {}", String::from_utf8_lossy(name));
    }
    Ok(())
}
