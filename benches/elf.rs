//! ELF parse + relocate of bpf/main.bpf.o: what `tcpconnect` does before its first
//! system call. Run: `cargo bench --bench elf`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ebpf_loader::elf::ObjectSpec;

const OBJECT: &[u8] = include_bytes!("../bpf/main.bpf.o");

fn parse_and_relocate(c: &mut Criterion) {
    c.bench_function("parse main.bpf.o", |b| {
        b.iter(|| ObjectSpec::parse_named(black_box(OBJECT), "main").unwrap())
    });
    let spec = ObjectSpec::parse_named(OBJECT, "main").unwrap();
    let fds: Vec<i32> = (10..10 + spec.maps.len() as i32).collect();
    c.bench_function("relocate tcp_connect", |b| {
        b.iter(|| spec.relocate(black_box("tcp_connect"), &fds, None).unwrap())
    });
    c.bench_function("parse + relocate both programs", |b| {
        b.iter(|| {
            let spec = ObjectSpec::parse_named(black_box(OBJECT), "main").unwrap();
            for program in ["tcp_connect", "inet_sock_set_state"] {
                black_box(spec.relocate(program, &fds, None).unwrap());
            }
        })
    });
}

criterion_group!(benches, parse_and_relocate);
criterion_main!(benches);
