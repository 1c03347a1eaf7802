//! The cost of reading tcpconnect-sized records out of a BPF ring buffer: the pure ring
//! buffer reader on fake memory, beside `benches/perf.rs`'s perf ring reader and a plain
//! copy of the same bytes.
//!
//! `cargo bench --bench ringbuf` (options: benches/timing/mod.rs). A 72-byte `struct
//! data_t` is an 80-byte record (8-byte header); a 64 KiB ring buffer holds 819 of them.
//! The records start half-way, so one wraps the end of the data and is read through the
//! second mapping, as in steady state.

mod timing;

use ebpf_loader::ringbuf::RingBuf;
use std::hint::black_box;

const SIZE: usize = 64 * 1024;
const PAYLOAD: usize = 72;
const RECORD: usize = PAYLOAD + 8;
/// Where the data starts in the producer mapping (the kernel's is one page; any multiple
/// of 8 works for the reader).
const DATA_OFFSET: usize = 64;

/// The consumer word and the producer mapping (position, then the data twice), in
/// buffers with 8 spare bytes so that an 8-byte-aligned window can be cut out of each.
#[derive(Clone)]
struct FakeRingBuf {
    consumer: Vec<u8>,
    producer: Vec<u8>,
}

fn aligned(buf: &mut [u8], len: usize) -> &mut [u8] {
    let at = buf.as_ptr().align_offset(8);
    &mut buf[at..at + len]
}

fn filled() -> (FakeRingBuf, usize) {
    let mut fake = FakeRingBuf {
        consumer: vec![0; 16],
        producer: vec![0; DATA_OFFSET + 2 * SIZE + 8],
    };
    let start = (SIZE / 2) as u64;
    let mut pos = start;
    let mut n = 0;
    {
        let producer = aligned(&mut fake.producer, DATA_OFFSET + 2 * SIZE);
        while (n + 1) * RECORD <= SIZE {
            let mut record = (PAYLOAD as u32).to_ne_bytes().to_vec();
            record.extend_from_slice(&0u32.to_ne_bytes());
            record.extend((0..PAYLOAD as u8).map(|i| i.wrapping_add(n as u8)));
            for (i, &b) in record.iter().enumerate() {
                let at = (pos as usize + i) % SIZE;
                producer[DATA_OFFSET + at] = b;
                producer[DATA_OFFSET + SIZE + at] = b;
            }
            pos += RECORD as u64;
            n += 1;
        }
        producer[..8].copy_from_slice(&pos.to_ne_bytes());
    }
    aligned(&mut fake.consumer, 8).copy_from_slice(&start.to_ne_bytes());
    (fake, n)
}

fn main() {
    let harness = timing::Harness::from_args();
    let (fake, n) = filled();
    // Each call drains a fresh copy of the filled ring buffer (the copy is not timed).
    let drain = harness.bench_with_input(
        "ringbuf_72_byte_records/reader_drain",
        || fake.clone(),
        |fake| {
            let consumer = aligned(&mut fake.consumer, 8);
            let producer = aligned(&mut fake.producer, DATA_OFFSET + 2 * SIZE);
            let mut ring = RingBuf::new(consumer, producer, DATA_OFFSET, SIZE).unwrap();
            let mut sum = 0u64;
            let count = ring
                .drain(|record| sum = sum.wrapping_add(record.len() as u64 + record[0] as u64))
                .unwrap();
            assert_eq!(count, n);
            black_box(sum)
        },
    );

    // The floor: copying the same 72 bytes of each record out of a flat buffer.
    let source: Vec<u8> = (0..n * RECORD).map(|i| i as u8).collect();
    let mut out = [0u8; PAYLOAD];
    let copy = harness.bench("ringbuf_72_byte_records/memcpy_72_bytes", || {
        let mut sum = 0u64;
        for chunk in source.chunks_exact(RECORD) {
            out.copy_from_slice(&black_box(chunk)[8..RECORD]);
            sum = sum.wrapping_add(out[0] as u64);
        }
        black_box(sum)
    });

    for (name, summary) in [("reader_drain", drain), ("memcpy_72_bytes", copy)] {
        if let Some(summary) = summary {
            let per_record = |d: std::time::Duration| d.as_secs_f64() * 1e9 / n as f64;
            println!(
                "{name}: {:.1} ns per 72-byte record (p10 {:.1}, p90 {:.1}), {n} records a call",
                per_record(summary.median),
                per_record(summary.p10),
                per_record(summary.p90),
            );
        }
    }
}
