//! ELF parse + relocate of bpf/main.bpf.o: what `tcpconnect` does before its first
//! system call. Run: `cargo bench --bench elf` (options: benches/timing/mod.rs).

mod timing;

use ebpf_loader::elf::ObjectSpec;
use std::hint::black_box;

const OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

fn main() {
    let harness = timing::Harness::from_args();
    harness.bench("parse main.bpf.o", || {
        ObjectSpec::parse_named(black_box(OBJECT), "main").unwrap()
    });
    let spec = ObjectSpec::parse_named(OBJECT, "main").unwrap();
    let fds: Vec<i32> = (10..10 + spec.maps.len() as i32).collect();
    harness.bench("relocate tcp_connect", || {
        spec.relocate(black_box("tcp_connect"), &fds, None).unwrap()
    });
    harness.bench("parse + relocate both programs", || {
        let spec = ObjectSpec::parse_named(black_box(OBJECT), "main").unwrap();
        for program in ["tcp_connect", "inet_sock_set_state"] {
            black_box(spec.relocate(program, &fds, None).unwrap());
        }
    });
}
