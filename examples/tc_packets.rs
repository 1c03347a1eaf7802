//! Counts the packets an interface receives for a while, per IP protocol: a tc program
//! on the interface's ingress hook counting into a hash map, read with the typed
//! [`HashMap`] view. Its eBPF side is `tc_packets.bpf.c`, built by `examples/Makefile`
//! and embedded here. Run as root: `cargo run --example tc_packets -- lo 5` (interface,
//! default lo; seconds, default 5). The program only watches: packets go on unchanged.

use std::time::Duration;

use ebpf_loader::attach::{tc, AttachOptions, TcDirection};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{HashMap, LoadOptions, Object};

/// The name of an IP protocol number, as the map's keys hold them.
fn protocol(key: u32) -> &'static str {
    match key {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        256 => "not ipv4",
        _ => "other",
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let interface = args.next().unwrap_or("lo".into());
    let seconds: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let spec = ObjectSpec::parse(include_bytes!("tc_packets.bpf.o"))?;
    let object = Object::load(&spec, &LoadOptions::default())?;
    let program = object
        .program("count_packets")
        .expect("the object's program");
    // A TCX link where the kernel has them (6.6), else a filter on the clsact qdisc;
    // either way dropping `link` takes the program off the interface.
    let link = tc::attach(
        program,
        &interface,
        TcDirection::Ingress,
        &AttachOptions::default(),
    )?;
    println!("counting packets into {interface} for {seconds} s");
    std::thread::sleep(Duration::from_secs(seconds));
    drop(link);

    let packets: HashMap<u32, u64> = object.typed_map("packets")?;
    let mut counts = packets.entries().collect::<Result<Vec<_>, _>>()?;
    counts.sort();
    for (key, count) in counts {
        println!("{key:>3} {:<8} {count}", protocol(key));
    }
    Ok(())
}
