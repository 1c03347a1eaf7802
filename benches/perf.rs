//! The cost of reading tcpconnect-sized samples out of a perf ring: the pure ring reader
//! on a fake ring, against a plain copy of the same bytes.
//!
//! `cargo bench --bench perf`. A `struct data_t` of 72 bytes arrives as a 76-byte raw
//! sample in an 88-byte record; a 64 KiB ring holds 744 of them. The ring's records start
//! half-way, so one record per pass wraps the end (as in steady state) and goes through the
//! reader's reusable buffer.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ebpf_loader::perf::ring::fake::FakeRing;
use ebpf_loader::perf::ring::{PerfRing, Record};
use std::hint::black_box;

const DATA_SIZE: usize = 64 * 1024;
const RECORD: usize = 88;

fn filled_ring() -> (FakeRing, usize) {
    let mut fake = FakeRing::new(DATA_SIZE);
    let start = (DATA_SIZE / 2) as u64;
    fake.set_data_head(start);
    fake.set_data_tail(start);
    let mut n = 0;
    while (n + 1) * RECORD <= DATA_SIZE {
        let payload: Vec<u8> = (0..72u8).map(|i| i.wrapping_add(n as u8)).collect();
        fake.push_sample(&payload);
        n += 1;
    }
    (fake, n)
}

fn bench(c: &mut Criterion) {
    let (fake, n) = filled_ring();
    let mut group = c.benchmark_group("perf_ring_76_byte_samples");
    group.throughput(Throughput::Elements(n as u64));

    group.bench_function("ring_reader_drain", |b| {
        b.iter_batched_ref(
            || fake.clone(),
            |fake| {
                let mut ring = PerfRing::new(fake.memory()).unwrap();
                let mut sum = 0u64;
                let count = ring
                    .drain(|record| {
                        if let Record::Sample(data) = record {
                            sum = sum.wrapping_add(data.len() as u64 + data[0] as u64);
                        }
                    })
                    .unwrap();
                assert_eq!(count, n);
                black_box(sum)
            },
            BatchSize::LargeInput,
        )
    });

    // The floor: copying the same 76 bytes of each sample out of a flat buffer.
    let source: Vec<u8> = (0..n * RECORD).map(|i| i as u8).collect();
    group.bench_function("memcpy_76_bytes", |b| {
        let mut out = [0u8; 76];
        b.iter(|| {
            let mut sum = 0u64;
            for chunk in source.chunks_exact(RECORD) {
                out.copy_from_slice(&black_box(chunk)[12..88]);
                sum = sum.wrapping_add(out[0] as u64);
            }
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
