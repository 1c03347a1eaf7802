//! Reading one BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`, 5.8): the records programs write
//! with `bpf_ringbuf_output` or `bpf_ringbuf_reserve`/`submit`/`discard`.
//!
//! ABI: `kernel/bpf/ringbuf.c` (`struct bpf_ringbuf`, `bpf_ringbuf_mmap`) and the record
//! header bits `BPF_RINGBUF_BUSY_BIT`, `BPF_RINGBUF_DISCARD_BIT`, `BPF_RINGBUF_HDR_SZ` in
//! `include/uapi/linux/bpf.h`; `Documentation/bpf/ringbuf.rst` describes the protocol.
//!
//! ```text
//!  mmap offset 0:          consumer page   (read-write): u64 consumer_pos at byte 0
//!  mmap offset 1 page:     producer page   (read-only):  u64 producer_pos at byte 0
//!  mmap offset 2 pages:    data, size bytes (a power of two, a multiple of the page),
//!                          then the same data mapped again right after it
//!
//!  a record at pos: │ u32 len (bit 31 busy, bit 30 discarded) │ u32 pg_off │ len bytes │ pad to 8 │
//! ```
//!
//! Positions are free-running byte counters; a record is at `pos & (size - 1)` in the data.
//! Because the kernel maps the data twice in a row, a record that runs past the end of the
//! data continues in the second mapping: every record is contiguous, and is handed out as
//! a slice of the ring itself, with no copy.
//!
//! The consumer reads `producer_pos` with acquire ordering, then each record's header with
//! acquire ordering (the kernel publishes a record by clearing its busy bit with release
//! ordering, and records may be committed out of order: reading stops at the first busy
//! one), and after each record moves `consumer_pos` on with release ordering, which gives
//! the space back to the kernel. A discarded record is skipped. A length that cannot fit
//! in the ring stops the drain with an error and skips to `producer_pos`: never a loop,
//! never a read out of bounds.
//!
//! The reader is pure: it takes the memory as given, so the tests run it on fake pages;
//! [`super::RingBufReader`] gives it the kernel's mapping.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `BPF_RINGBUF_HDR_SZ`: the record header, `u32 len; u32 pg_off;`.
pub const RINGBUF_HEADER_SIZE: usize = 8;
/// `BPF_RINGBUF_BUSY_BIT`: the record is reserved but not yet submitted or discarded.
pub const RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: the record was discarded; skip it.
pub const RINGBUF_DISCARD_BIT: u32 = 1 << 30;

/// Why the memory given is not a ring buffer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingBufLayoutError {
    /// The data size is not a power of two of at least 8 bytes.
    DataSize {
        /// The size given.
        size: usize,
    },
    /// The producer mapping is not a position word plus the data twice.
    ProducerLength {
        /// Bytes of the producer mapping.
        len: usize,
        /// Where the data starts in it.
        data_offset: usize,
        /// The data's size.
        size: usize,
    },
    /// A page is not 8-byte aligned, so its position word cannot be read atomically.
    Misaligned,
}

impl fmt::Display for RingBufLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingBufLayoutError::DataSize { size } => {
                write!(
                    f,
                    "ring buffer size {size} is not a power of two of 8 bytes or more"
                )
            }
            RingBufLayoutError::ProducerLength {
                len,
                data_offset,
                size,
            } => write!(
                f,
                "a {len}-byte producer mapping cannot hold data at {data_offset} mapped twice \
                 ({size} bytes each)"
            ),
            RingBufLayoutError::Misaligned => write!(f, "ring buffer pages are not 8-byte aligned"),
        }
    }
}

impl std::error::Error for RingBufLayoutError {}

/// A record whose length cannot be right: the drain stopped there and skipped to
/// `producer_pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptRecord {
    /// The record's position.
    pub pos: u64,
    /// The length its header gave.
    pub len: u32,
    /// Bytes between the record and `producer_pos`.
    pub available: u64,
}

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ring buffer record at position {} claims {} bytes, but only {} were produced; \
             skipped to the producer position",
            self.pos, self.len, self.available
        )
    }
}

impl std::error::Error for CorruptRecord {}

/// A reader over one ring buffer's consumer page and producer mapping.
pub struct RingBuf<'a> {
    consumer: NonNull<u8>,
    producer: NonNull<u8>,
    data_offset: usize,
    /// A power of two.
    size: usize,
    _memory: PhantomData<&'a mut [u8]>,
}

// SAFETY: the ring is only reached through `&mut self`; the memory is either borrowed
// exclusively for 'a or a mapping whose owner keeps it alive (see `from_raw`).
unsafe impl Send for RingBuf<'_> {}

impl<'a> RingBuf<'a> {
    /// A reader over memory the caller owns (a test's fake pages): `consumer` holds
    /// `consumer_pos` at byte 0; `producer` holds `producer_pos` at byte 0 and the data
    /// twice from `data_offset` on (`size` bytes, then the same `size` bytes again).
    pub fn new(
        consumer: &'a mut [u8],
        producer: &'a mut [u8],
        data_offset: usize,
        size: usize,
    ) -> Result<RingBuf<'a>, RingBufLayoutError> {
        if consumer.len() < 8 {
            return Err(RingBufLayoutError::Misaligned);
        }
        let len = producer.len();
        let consumer = NonNull::from(consumer).cast::<u8>();
        let producer = NonNull::from(producer).cast::<u8>();
        // SAFETY: both are valid for their lengths for 'a and borrowed exclusively.
        unsafe { RingBuf::from_raw(consumer, producer, len, data_offset, size) }
    }

    /// A reader over the kernel's mappings: `consumer` must point to at least 8 bytes
    /// that stay mapped, readable and writable; `producer` to `producer_len` bytes that
    /// stay mapped and readable, while the reader lives; nothing but the kernel (following
    /// the ring buffer protocol) and this reader may touch them.
    ///
    /// # Safety
    /// As above.
    pub unsafe fn from_raw(
        consumer: NonNull<u8>,
        producer: NonNull<u8>,
        producer_len: usize,
        data_offset: usize,
        size: usize,
    ) -> Result<RingBuf<'a>, RingBufLayoutError> {
        if !size.is_power_of_two() || size < RINGBUF_HEADER_SIZE {
            return Err(RingBufLayoutError::DataSize { size });
        }
        let fits = size
            .checked_mul(2)
            .and_then(|twice| twice.checked_add(data_offset))
            .is_some_and(|end| end <= producer_len);
        if !fits || data_offset < 8 || data_offset % 8 != 0 {
            return Err(RingBufLayoutError::ProducerLength {
                len: producer_len,
                data_offset,
                size,
            });
        }
        if consumer.as_ptr() as usize % 8 != 0 || producer.as_ptr() as usize % 8 != 0 {
            return Err(RingBufLayoutError::Misaligned);
        }
        Ok(RingBuf {
            consumer,
            producer,
            data_offset,
            size,
            _memory: PhantomData,
        })
    }

    /// The data's size in bytes (the map's `max_entries`).
    pub fn size(&self) -> usize {
        self.size
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: byte 0 of the consumer page, 8-byte aligned (checked), only ever
        // accessed atomically (by us; the kernel reads it).
        unsafe { AtomicU64::from_ptr(self.consumer.as_ptr().cast()) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: byte 0 of the producer mapping, 8-byte aligned (checked); the kernel
        // writes it atomically, we only load it.
        unsafe { AtomicU64::from_ptr(self.producer.as_ptr().cast()) }
    }

    /// Bytes produced and not yet consumed.
    pub fn pending(&self) -> u64 {
        let producer = self.producer_pos().load(Ordering::Acquire);
        producer.wrapping_sub(self.consumer_pos().load(Ordering::Relaxed))
    }

    /// The header word of the record at `pos`.
    fn header(&self, pos: u64) -> &AtomicU32 {
        let offset = self.data_offset + (pos as usize & (self.size - 1));
        // SAFETY: `offset + 8 <= data_offset + size <= producer_len` (checked in
        // `from_raw`), and it is 8-byte aligned: positions advance by multiples of 8 and
        // `data_offset` is a multiple of 8. The kernel writes the word atomically.
        unsafe { AtomicU32::from_ptr(self.producer.as_ptr().add(offset).cast()) }
    }

    /// Reads every submitted record from `consumer_pos` on, handing each to `f`, and
    /// moves `consumer_pos` past each. Stops at the first record still being written
    /// (busy) or at `producer_pos`. Returns how many records were handed out.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize, CorruptRecord> {
        let mut count = 0;
        let mut pos = self.consumer_pos().load(Ordering::Relaxed);
        loop {
            let producer = self.producer_pos().load(Ordering::Acquire);
            let mut progressed = false;
            while pos < producer {
                let word = self.header(pos).load(Ordering::Acquire);
                if word & RINGBUF_BUSY_BIT != 0 {
                    return Ok(count);
                }
                let len = word & !(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
                let total = (len as u64 + RINGBUF_HEADER_SIZE as u64).next_multiple_of(8);
                let available = producer - pos;
                if total > available || total > self.size as u64 {
                    self.consumer_pos().store(producer, Ordering::Release);
                    return Err(CorruptRecord {
                        pos,
                        len,
                        available,
                    });
                }
                if word & RINGBUF_DISCARD_BIT == 0 {
                    let start =
                        self.data_offset + (pos as usize & (self.size - 1)) + RINGBUF_HEADER_SIZE;
                    // SAFETY: `start + len <= data_offset + 2 * size <= producer_len`:
                    // the record starts in the first copy of the data and `len < size`
                    // (checked just above), so it ends within the second copy. The
                    // kernel does not write these bytes until consumer_pos moves past.
                    let record = unsafe {
                        std::slice::from_raw_parts(self.producer.as_ptr().add(start), len as usize)
                    };
                    f(record);
                    count += 1;
                }
                pos += total;
                self.consumer_pos().store(pos, Ordering::Release);
                progressed = true;
            }
            // Records committed while we read: look again, until nothing new arrived.
            if !progressed {
                return Ok(count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_testkit::AlignedBytes;

    /// A fake ring: a consumer page and a producer mapping with the data twice, as the
    /// kernel lays them out.
    struct Fake {
        consumer: AlignedBytes,
        producer: AlignedBytes,
        size: usize,
    }

    const DATA_OFFSET: usize = 64;

    impl Fake {
        fn new(size: usize) -> Fake {
            Fake {
                consumer: AlignedBytes::zeroed(8),
                producer: AlignedBytes::zeroed(DATA_OFFSET + 2 * size),
                size,
            }
        }

        fn set_positions(&mut self, consumer: u64, producer: u64) {
            self.consumer.as_mut_slice()[..8].copy_from_slice(&consumer.to_ne_bytes());
            self.producer.as_mut_slice()[..8].copy_from_slice(&producer.to_ne_bytes());
        }

        fn consumer_pos(&mut self) -> u64 {
            u64::from_ne_bytes(self.consumer.as_mut_slice()[..8].try_into().unwrap())
        }

        /// Writes `bytes` at stream position `pos`, into both copies of the data.
        fn write(&mut self, pos: u64, bytes: &[u8]) {
            let size = self.size;
            let data = self.producer.as_mut_slice();
            for (i, &b) in bytes.iter().enumerate() {
                let at = (pos as usize + i) % size;
                data[DATA_OFFSET + at] = b;
                data[DATA_OFFSET + size + at] = b;
            }
        }

        /// Appends a record of `body` at `pos` with `flags` in the length word; returns
        /// the next position.
        fn record(&mut self, pos: u64, body: &[u8], flags: u32) -> u64 {
            let mut header = (body.len() as u32 | flags).to_ne_bytes().to_vec();
            header.extend_from_slice(&0u32.to_ne_bytes());
            self.write(pos, &header);
            self.write(pos + 8, body);
            pos + (8 + body.len() as u64).next_multiple_of(8)
        }

        fn drain(&mut self) -> (Result<usize, CorruptRecord>, Vec<Vec<u8>>, u64) {
            let size = self.size;
            let mut seen = Vec::new();
            let result = {
                let consumer = self.consumer.as_mut_slice();
                let producer = self.producer.as_mut_slice();
                let mut ring = RingBuf::new(consumer, producer, DATA_OFFSET, size).unwrap();
                ring.drain(|r| seen.push(r.to_vec()))
            };
            (result, seen, self.consumer_pos())
        }
    }

    #[test]
    fn records_at_every_wrap_offset_arrive_whole() {
        let size = 64;
        // Start the stream at each 8-byte offset, so a 20-byte record wraps at every point.
        for start in (0..size as u64 * 2).step_by(8) {
            let mut fake = Fake::new(size);
            let body: Vec<u8> = (0..20u8).map(|i| i.wrapping_add(start as u8)).collect();
            let next = fake.record(start, &body, 0);
            let after = fake.record(next, b"second", 0);
            fake.set_positions(start, after);
            let (result, seen, consumer) = fake.drain();
            assert_eq!(result, Ok(2), "start {start}");
            assert_eq!(
                seen,
                vec![body.clone(), b"second".to_vec()],
                "start {start}"
            );
            assert_eq!(consumer, after);
        }
    }

    #[test]
    fn a_busy_record_stops_the_drain_and_a_discarded_one_is_skipped() {
        let mut fake = Fake::new(128);
        let p1 = fake.record(0, b"one", 0);
        let p2 = fake.record(p1, b"dropped", RINGBUF_DISCARD_BIT);
        let p3 = fake.record(p2, b"three", 0);
        let p4 = fake.record(p3, b"not yet", RINGBUF_BUSY_BIT);
        let p5 = fake.record(p4, b"after", 0);
        fake.set_positions(0, p5);
        let (result, seen, consumer) = fake.drain();
        assert_eq!(result, Ok(2));
        assert_eq!(seen, vec![b"one".to_vec(), b"three".to_vec()]);
        // The consumer waits at the busy record (at p3); the kernel will commit it later.
        assert_eq!(consumer, p3);
        // Committed: the rest arrives.
        assert_eq!(fake.record(p3, b"not yet", 0), p4);
        let (result, seen, consumer) = fake.drain();
        assert_eq!(result, Ok(2));
        assert_eq!(seen, vec![b"not yet".to_vec(), b"after".to_vec()]);
        assert_eq!(consumer, p5);
    }

    #[test]
    fn a_corrupt_length_is_reported_and_skipped() {
        let mut fake = Fake::new(64);
        let p1 = fake.record(0, b"good", 0);
        // A header claiming more bytes than were produced.
        fake.write(p1, &(500u32).to_ne_bytes());
        let end = p1 + 16;
        fake.set_positions(0, end);
        let (result, seen, consumer) = fake.drain();
        assert_eq!(
            result,
            Err(CorruptRecord {
                pos: p1,
                len: 500,
                available: 16
            })
        );
        assert_eq!(seen, vec![b"good".to_vec()]);
        assert_eq!(consumer, end);
        // Nothing more: an empty drain.
        let (result, seen, _) = fake.drain();
        assert_eq!(result, Ok(0));
        assert!(seen.is_empty());
    }

    #[test]
    fn layouts_that_cannot_be_a_ring_buffer_are_refused() {
        let mut consumer = AlignedBytes::zeroed(8);
        let mut producer = AlignedBytes::zeroed(64);
        assert_eq!(
            RingBuf::new(consumer.as_mut_slice(), producer.as_mut_slice(), 8, 24).err(),
            Some(RingBufLayoutError::DataSize { size: 24 })
        );
        assert_eq!(
            RingBuf::new(consumer.as_mut_slice(), producer.as_mut_slice(), 8, 32).err(),
            Some(RingBufLayoutError::ProducerLength {
                len: 64,
                data_offset: 8,
                size: 32
            })
        );
    }
}
