//! tcpconnect: every outgoing TCP connection, through the loader in this crate.

use ebpf_loader::elf::{object_name_from_path, ObjectSpec};

/// The eBPF object built from bpf/main.bpf.c, embedded in the binary.
const OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // `tcpconnect inspect [OBJECT]`: a guided tour of an object (the embedded one by
        // default); nothing is loaded into the kernel.
        Some("inspect") => {
            let (title, bytes) = match args.get(1) {
                Some(path) => match std::fs::read(path) {
                    Ok(bytes) => (path.clone(), bytes),
                    Err(error) => fail(&format!("{path}: {error}")),
                },
                None => ("bpf/main.bpf.o (embedded)".to_string(), OBJECT.to_vec()),
            };
            let name = object_name_from_path(args.get(1).map_or("main.bpf.o", |p| p));
            match ObjectSpec::parse_named(&bytes, name) {
                Ok(spec) => print!("{}", ebpf_loader::inspect::render(&spec, &title)),
                Err(error) => fail(&format!("{title}: {error}")),
            }
        }
        _ => fail("usage: tcpconnect inspect [OBJECT] (tracing is not built yet)"),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("tcpconnect: {message}");
    std::process::exit(1);
}
