//! Prints every openat(2) for a while, as it happens: a tracepoint program
//! (`syscalls/sys_enter_openat`) writes one `struct open_event` per call into a ring
//! buffer, read here as a typed record. A constant of the program, `target_pid`, is set
//! before load to watch one process. Its eBPF side is `opens.bpf.c`, built by
//! `examples/Makefile` and embedded here. Run as root:
//! `cargo run --example opens -- 5 [PID]` (seconds, default 5; PID, default every process).

use std::time::{Duration, Instant};

use ebpf_loader::attach::{self, AttachOptions};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object, RingBufMap};
use ebpf_loader::pod::Pod;
use ebpf_loader::ringbuf::read_record;

/// `struct open_event` of opens.bpf.c, field for field (no padding: 152 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
struct OpenEvent {
    pid: u32,
    uid: u32,
    comm: [u8; 16],
    filename: [u8; 128],
}

// SAFETY: repr(C), integers and byte arrays only, no padding.
unsafe impl Pod for OpenEvent {}

/// The text of a NUL-padded C string.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes.split(|&b| b == 0).next().unwrap_or_default()).into()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let pid: u32 = args.next().map_or(Ok(0), |s| s.parse())?;
    // Open, then set the program's `const volatile __u32 target_pid` (checked against
    // its BTF type: a u32) before load freezes it.
    let mut spec = ObjectSpec::parse(include_bytes!("opens.bpf.o"))?;
    spec.set_global("target_pid", &pid)?;
    let object = Object::load(&spec, &LoadOptions::default())?;
    let program = object
        .program("trace_openat")
        .expect("the object's program");
    let _link = attach::by_section(program, &AttachOptions::default())?;
    // The ring buffer `opens`, mapped into this process.
    let opens: RingBufMap = object.typed_map("opens")?;
    let mut reader = opens.reader()?;
    println!("watching openat for {seconds} s");
    let end = Instant::now() + Duration::from_secs(seconds);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        reader.poll(Some(left), |_ring, record| {
            match read_record::<OpenEvent>(record) {
                Ok(e) => println!(
                    "{} {} {} {}",
                    e.pid,
                    e.uid,
                    text(&e.comm),
                    text(&e.filename)
                ),
                Err(error) => eprintln!("not an open_event: {error}"),
            }
        })?;
    }
    Ok(())
}
