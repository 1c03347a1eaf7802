//! The cost of reading tcpconnect-sized samples out of a perf ring: the pure ring reader
//! on a fake ring, against a plain copy of the same bytes.
//!
//! `cargo bench --bench perf` (options: benches/timing/mod.rs). A `struct data_t` of 72 bytes arrives as a 76-byte raw
//! sample in an 88-byte record; a 64 KiB ring holds 744 of them. The ring's records start
//! half-way, so one record per pass wraps the end (as in steady state) and goes through the
//! reader's reusable buffer.

mod timing;

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

fn main() {
    let harness = timing::Harness::from_args();
    let (fake, n) = filled_ring();
    // Each call drains a fresh copy of the filled ring (the copy is not timed).
    let drain = harness.bench_with_input(
        "perf_ring_76_byte_samples/ring_reader_drain",
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
    );

    // The floor: copying the same 76 bytes of each sample out of a flat buffer.
    let source: Vec<u8> = (0..n * RECORD).map(|i| i as u8).collect();
    let mut out = [0u8; 76];
    let copy = harness.bench("perf_ring_76_byte_samples/memcpy_76_bytes", || {
        let mut sum = 0u64;
        for chunk in source.chunks_exact(RECORD) {
            out.copy_from_slice(&black_box(chunk)[12..88]);
            sum = sum.wrapping_add(out[0] as u64);
        }
        black_box(sum)
    });

    for (name, summary) in [("ring_reader_drain", drain), ("memcpy_76_bytes", copy)] {
        if let Some(summary) = summary {
            let per_sample = |d: std::time::Duration| d.as_secs_f64() * 1e9 / n as f64;
            println!(
                "{name}: {:.1} ns per 76-byte sample (p10 {:.1}, p90 {:.1}), {n} samples a call",
                per_sample(summary.median),
                per_sample(summary.p10),
                per_sample(summary.p90),
            );
        }
    }
}
