//! Reading one perf ring: the records the kernel writes into a `perf_event_open` mmap.
//!
//! ABI: `struct perf_event_mmap_page`, `struct perf_event_header` and `enum
//! perf_event_type` in `include/uapi/linux/perf_event.h`; the protocol is in the comments
//! of `perf_event_mmap_page` there ("data_head ... user-space reading ... smp_rmb()").
//!
//! ```text
//!  page 0: struct perf_event_mmap_page        data area (data_size = 2^n pages)
//!  ┌──────────────┬──────────┬──────────┐    ┌───────────────────────────────────────┐
//!  │ ... 1024 B   │data_head │data_tail │    │ ..rec.. │ hdr │ body ... (wraps) ..│
//!  │              │ @1024    │ @1032    │    └───────────────────────────────────────┘
//!  │ data_offset @1040, data_size @1048 │       records live at [tail, head) mod size
//!  └─────────────────────────────────────┘
//! ```
//!
//! The kernel writes records and then advances `data_head` (a free-running byte counter);
//! we read `data_head` with acquire ordering (so the records before it are visible), read
//! the records in `[data_tail, data_head)`, and write `data_tail` with release ordering
//! once per drain, which hands the space back to the kernel. Until then the kernel does not
//! touch those bytes, so records are handed out as slices of the ring itself; only a record
//! that runs past the end of the ring and continues at its start is copied, into a buffer
//! that is reused (no allocation per event once it has grown to the largest record).
//!
//! The reader is pure: it takes the memory as given, so the tests and the benchmark run it
//! on a fake page (`ebpf_testkit::perf::FakeRing`, in testkit/); [`super::PerfReader`]
//! gives it the kernel's mmap. Every length read from the ring is checked against the ring
//! and against `data_head` before use: a corrupt header stops the drain with an error and
//! skips to `data_head`, never loops, never reads out of bounds.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Offset of `data_head` in `struct perf_event_mmap_page`.
pub const DATA_HEAD_OFFSET: usize = 1024;
/// Offset of `data_tail`.
pub const DATA_TAIL_OFFSET: usize = 1032;
/// Offset of `data_offset` (4.1): where the data area starts in the mapping.
pub const DATA_OFFSET_OFFSET: usize = 1040;
/// Offset of `data_size` (4.1): the data area's size, a power of two.
pub const DATA_SIZE_OFFSET: usize = 1048;
/// The header page fields the reader uses end here.
const HEADER_END: usize = DATA_SIZE_OFFSET + 8;

/// `sizeof(struct perf_event_header)`: `u32 type; u16 misc; u16 size;`.
pub const PERF_EVENT_HEADER_SIZE: usize = 8;
/// `PERF_RECORD_LOST`: `u64 id; u64 lost;`.
pub const PERF_RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE`: with `PERF_SAMPLE_RAW` only, `u32 size; u8 data[size];`.
pub const PERF_RECORD_SAMPLE: u32 = 9;

/// One record, as the callback of [`PerfRing::drain`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// The raw data of a sample (`bpf_perf_event_output`'s bytes, padded by the kernel so
    /// that the record is 8-byte aligned: 72 bytes written arrive as 76; the padding is not
    /// zeroed).
    Sample(&'a [u8]),
    /// The kernel dropped `lost` samples because the ring was full.
    Lost {
        /// The id of the perf event that lost them (`PERF_RECORD_LOST`'s `id`).
        id: u64,
        /// How many samples were dropped.
        lost: u64,
    },
    /// A record of another type (none is expected on a `PERF_COUNT_SW_BPF_OUTPUT` event).
    Other {
        /// `perf_event_header.type` (`PERF_RECORD_*`).
        type_: u32,
        /// `perf_event_header.misc`.
        misc: u16,
        /// `perf_event_header.size`: the record's length in bytes, header included.
        size: u16,
    },
}

/// The memory given is not a perf mapping the reader can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// Shorter than the header fields plus a data area.
    TooSmall {
        /// The mapping's length in bytes.
        len: usize,
    },
    /// The header page is not 8-byte aligned (the head and tail are 64-bit atomics).
    Misaligned,
    /// `data_offset`/`data_size` do not describe a power-of-two area inside the mapping.
    BadDataArea {
        /// `data_offset` as read from the header page.
        data_offset: u64,
        /// `data_size` as read from the header page.
        data_size: u64,
        /// The mapping's length in bytes.
        len: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::TooSmall { len } => {
                write!(
                    f,
                    "perf mapping of {len} bytes is too small for a header page and data"
                )
            }
            LayoutError::Misaligned => write!(f, "perf mapping is not 8-byte aligned"),
            LayoutError::BadDataArea {
                data_offset,
                data_size,
                len,
            } => write!(
                f,
                "perf mapping of {len} bytes has data_offset {data_offset} and data_size \
                 {data_size} (not a power-of-two area inside it)"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// The ring holds something that is not a valid record stream. Offsets are positions in
/// the stream (`data_tail` counts), not in the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingError {
    /// `data_head - data_tail` is more than the ring holds.
    HeadTooFar {
        /// `data_head`, where the kernel has written up to.
        head: u64,
        /// `data_tail`, where the reader has read up to.
        tail: u64,
        /// The data area's size in bytes.
        data_size: u64,
    },
    /// Fewer than 8 bytes (a header) left before `data_head`.
    TruncatedHeader {
        /// Stream position of the record.
        pos: u64,
        /// Bytes left before `data_head`.
        available: u64,
    },
    /// A header whose `size` is smaller than a header, larger than the ring, or runs past
    /// `data_head`.
    BadRecordSize {
        /// Stream position of the record.
        pos: u64,
        /// `perf_event_header.size`.
        size: u16,
        /// Bytes left before `data_head`.
        available: u64,
    },
    /// A sample whose raw `size` does not fit in its record.
    BadRawSize {
        /// Stream position of the record.
        pos: u64,
        /// The sample's `u32 size` field.
        raw_size: u32,
        /// `perf_event_header.size`.
        record_size: u16,
    },
    /// A `PERF_RECORD_LOST` too short for its two counters.
    ShortLost {
        /// Stream position of the record.
        pos: u64,
        /// `perf_event_header.size`.
        record_size: u16,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::HeadTooFar {
                head,
                tail,
                data_size,
            } => write!(
                f,
                "perf ring corrupt: data_head {head} is more than data_size {data_size} past data_tail {tail}"
            ),
            RingError::TruncatedHeader { pos, available } => write!(
                f,
                "perf ring corrupt at {pos}: {available} bytes before data_head, less than a record header"
            ),
            RingError::BadRecordSize {
                pos,
                size,
                available,
            } => write!(
                f,
                "perf ring corrupt at {pos}: record size {size} (header is 8 bytes, {available} bytes before data_head)"
            ),
            RingError::BadRawSize {
                pos,
                raw_size,
                record_size,
            } => write!(
                f,
                "perf ring corrupt at {pos}: sample raw size {raw_size} does not fit in a {record_size}-byte record"
            ),
            RingError::ShortLost { pos, record_size } => write!(
                f,
                "perf ring corrupt at {pos}: PERF_RECORD_LOST of {record_size} bytes, needs 24"
            ),
        }
    }
}

impl std::error::Error for RingError {}

/// A reader over one ring: a `perf_event_mmap_page` followed by the data area.
pub struct PerfRing<'a> {
    base: NonNull<u8>,
    data_offset: usize,
    /// A power of two.
    data_size: usize,
    /// Where records that wrap the end of the ring are put together.
    wrap_buf: Vec<u8>,
    _memory: PhantomData<&'a mut [u8]>,
}

// SAFETY: the ring is only reached through `&mut self`; the memory is either borrowed
// exclusively for 'a or a mapping whose owner keeps it alive (see `from_raw`).
unsafe impl Send for PerfRing<'_> {}

impl<'a> PerfRing<'a> {
    /// A reader over memory the caller owns (a test's fake page, a benchmark's buffer).
    pub fn new(memory: &'a mut [u8]) -> Result<PerfRing<'a>, LayoutError> {
        let len = memory.len();
        let base = NonNull::from(memory).cast::<u8>();
        // SAFETY: `base` is valid for `len` bytes for 'a and borrowed exclusively.
        unsafe { PerfRing::from_raw(base, len) }
    }

    /// A reader over a mapping: `base` must point to `len` bytes that stay mapped, readable
    /// and writable while the reader lives, and that nothing but the kernel (following the
    /// perf protocol) and this reader touches.
    ///
    /// # Safety
    /// As above.
    pub unsafe fn from_raw(base: NonNull<u8>, len: usize) -> Result<PerfRing<'a>, LayoutError> {
        if len < HEADER_END + PERF_EVENT_HEADER_SIZE {
            return Err(LayoutError::TooSmall { len });
        }
        if base.as_ptr() as usize % 8 != 0 {
            return Err(LayoutError::Misaligned);
        }
        // SAFETY: both fields are inside the first HEADER_END bytes, 8-byte aligned.
        let (data_offset, data_size) = unsafe {
            (
                base.as_ptr()
                    .add(DATA_OFFSET_OFFSET)
                    .cast::<u64>()
                    .read_volatile(),
                base.as_ptr()
                    .add(DATA_SIZE_OFFSET)
                    .cast::<u64>()
                    .read_volatile(),
            )
        };
        // Kernels before 4.1 leave both 0: the data area is the rest after one page, and
        // the mapping is (1 + 2^n) pages, so the data is the largest power of two below len.
        let (data_offset, data_size) = if data_offset == 0 && data_size == 0 {
            let size = 1u64 << (usize::BITS - 1 - (len - 1).leading_zeros());
            ((len as u64) - size, size)
        } else {
            (data_offset, data_size)
        };
        let bad = LayoutError::BadDataArea {
            data_offset,
            data_size,
            len,
        };
        let inside = data_offset
            .checked_add(data_size)
            .is_some_and(|end| end <= len as u64);
        if !data_size.is_power_of_two()
            || data_size < PERF_EVENT_HEADER_SIZE as u64
            || data_offset < HEADER_END as u64
            || !inside
        {
            return Err(bad);
        }
        Ok(PerfRing {
            base,
            data_offset: data_offset as usize,
            data_size: data_size as usize,
            wrap_buf: Vec::new(),
            _memory: PhantomData,
        })
    }

    /// The data area's size in bytes.
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    fn head_atomic(&self) -> &AtomicU64 {
        // SAFETY: offset 1024 is inside the mapping (checked in `from_raw`), 8-byte
        // aligned, and only ever accessed atomically (by us and by the kernel).
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(DATA_HEAD_OFFSET).cast()) }
    }

    fn tail_atomic(&self) -> &AtomicU64 {
        // SAFETY: as for `head_atomic`, at offset 1032.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(DATA_TAIL_OFFSET).cast()) }
    }

    /// Bytes waiting to be read (`data_head - data_tail`).
    pub fn pending(&self) -> u64 {
        let head = self.head_atomic().load(Ordering::Acquire);
        let tail = self.tail_atomic().load(Ordering::Relaxed);
        head.wrapping_sub(tail)
    }

    /// Copies `dst.len()` bytes of the stream starting at `pos` (which may wrap).
    fn copy_out(&self, pos: u64, dst: &mut [u8]) {
        let mask = self.data_size - 1;
        let start = (pos as usize) & mask;
        let first = dst.len().min(self.data_size - start);
        let data = self.data_offset;
        // SAFETY: `start < data_size` and `first <= data_size - start`, so the first copy
        // stays inside the data area; the second copies `dst.len() - first <= data_size`
        // bytes (callers pass at most data_size) from its start. The bytes are in
        // [tail, head), which the kernel does not write until we move data_tail.
        unsafe {
            let area = self.base.as_ptr().add(data);
            std::ptr::copy_nonoverlapping(area.add(start), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(area, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }

    /// Reads every record in `[data_tail, data_head)`, handing each to `f`, then moves
    /// `data_tail` to the end of what was read. Returns how many records were read.
    ///
    /// On corruption, the records before it have been handed out, `data_tail` is set to
    /// `data_head` (the rest is skipped) and the error says where and what.
    pub fn drain(&mut self, mut f: impl FnMut(Record<'_>)) -> Result<usize, RingError> {
        let head = self.head_atomic().load(Ordering::Acquire);
        let mut tail = self.tail_atomic().load(Ordering::Relaxed);
        let mut count = 0;
        let result = loop {
            let available = head.wrapping_sub(tail);
            if available == 0 {
                break Ok(count);
            }
            if available > self.data_size as u64 {
                break Err(RingError::HeadTooFar {
                    head,
                    tail,
                    data_size: self.data_size as u64,
                });
            }
            if available < PERF_EVENT_HEADER_SIZE as u64 {
                break Err(RingError::TruncatedHeader {
                    pos: tail,
                    available,
                });
            }
            let mut header = [0u8; PERF_EVENT_HEADER_SIZE];
            self.copy_out(tail, &mut header);
            let [t0, t1, t2, t3, m0, m1, s0, s1] = header;
            let type_ = u32::from_ne_bytes([t0, t1, t2, t3]);
            let misc = u16::from_ne_bytes([m0, m1]);
            let size = u16::from_ne_bytes([s0, s1]);
            if (size as usize) < PERF_EVENT_HEADER_SIZE || size as u64 > available {
                break Err(RingError::BadRecordSize {
                    pos: tail,
                    size,
                    available,
                });
            }
            // `size <= available <= data_size`: the record is inside the ring.
            let parsed = self.with_record(tail, size as usize, |record| {
                parse_record(tail, type_, misc, size, record).map(&mut f)
            });
            if let Err(e) = parsed {
                break Err(e);
            }
            count += 1;
            tail = tail.wrapping_add(size as u64);
        };
        let new_tail = if result.is_ok() { tail } else { head };
        self.tail_atomic().store(new_tail, Ordering::Release);
        result
    }

    /// Calls `g` with the record's bytes (header included): a slice of the ring, or of the
    /// reusable buffer when the record wraps. `len <= data_size` (checked by the caller).
    fn with_record<R>(&mut self, pos: u64, len: usize, g: impl FnOnce(&[u8]) -> R) -> R {
        let start = (pos as usize) & (self.data_size - 1);
        if start + len <= self.data_size {
            // SAFETY: `start + len <= data_size`: inside the data area, in [tail, head),
            // which the kernel leaves alone until data_tail moves (after `g` returns).
            let record = unsafe {
                std::slice::from_raw_parts(self.base.as_ptr().add(self.data_offset + start), len)
            };
            g(record)
        } else {
            let mut buf = std::mem::take(&mut self.wrap_buf);
            buf.resize(len, 0);
            self.copy_out(pos, &mut buf);
            let r = g(&buf);
            self.wrap_buf = buf;
            r
        }
    }
}

/// Decodes one record's body (`record` includes the 8-byte header).
fn parse_record(
    pos: u64,
    type_: u32,
    misc: u16,
    size: u16,
    record: &[u8],
) -> Result<Record<'_>, RingError> {
    let body = record.get(PERF_EVENT_HEADER_SIZE..).unwrap_or_default();
    match type_ {
        PERF_RECORD_SAMPLE => {
            let bad = RingError::BadRawSize {
                pos,
                raw_size: u32::MAX,
                record_size: size,
            };
            let (raw_size, rest) = body.split_first_chunk::<4>().ok_or(bad)?;
            let raw_size = u32::from_ne_bytes(*raw_size);
            rest.get(..raw_size as usize)
                .map(Record::Sample)
                .ok_or(RingError::BadRawSize {
                    pos,
                    raw_size,
                    record_size: size,
                })
        }
        PERF_RECORD_LOST => {
            let short = RingError::ShortLost {
                pos,
                record_size: size,
            };
            let (id, rest) = body.split_first_chunk::<8>().ok_or(short.clone())?;
            let (lost, _) = rest.split_first_chunk::<8>().ok_or(short)?;
            Ok(Record::Lost {
                id: u64::from_ne_bytes(*id),
                lost: u64::from_ne_bytes(*lost),
            })
        }
        _ => Ok(Record::Other { type_, misc, size }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_testkit::perf::FakeRing;
    use ebpf_testkit::AlignedBytes;

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Sample(Vec<u8>),
        Lost(u64, u64),
        Other(u32, u16),
    }

    fn drain(fake: &mut FakeRing) -> (Vec<Owned>, Result<usize, RingError>) {
        let mut out = Vec::new();
        let mut ring = PerfRing::new(fake.memory()).unwrap();
        let result = ring.drain(|r| {
            out.push(match r {
                Record::Sample(d) => Owned::Sample(d.to_vec()),
                Record::Lost { id, lost } => Owned::Lost(id, lost),
                Record::Other { type_, size, .. } => Owned::Other(type_, size),
            })
        });
        (out, result)
    }

    #[test]
    fn an_empty_ring_gives_nothing() {
        let mut fake = FakeRing::new(64);
        assert_eq!(drain(&mut fake), (vec![], Ok(0)));
        assert_eq!(fake.data_tail(), 0);
    }

    #[test]
    fn reads_samples_and_lost_records_and_moves_the_tail() {
        let mut fake = FakeRing::new(256);
        let a = fake.push_sample(&[1, 2, 3, 4, 5, 6, 7, 8]);
        fake.push_lost(7, 3);
        let b = fake.push_sample(&[9; 72]);
        assert_eq!(a.len(), 12);
        assert_eq!(b.len(), 76, "72 bytes arrive as 76, as from the kernel");
        let (records, result) = drain(&mut fake);
        assert_eq!(result, Ok(3));
        assert_eq!(
            records,
            vec![Owned::Sample(a), Owned::Lost(7, 3), Owned::Sample(b)]
        );
        assert_eq!(fake.data_tail(), fake.data_head());
        // Drained: nothing more.
        assert_eq!(drain(&mut fake), (vec![], Ok(0)));
    }

    #[test]
    fn other_record_types_are_passed_on() {
        let mut fake = FakeRing::new(64);
        fake.push_record(14, 16, &[0; 8]);
        assert_eq!(drain(&mut fake), (vec![Owned::Other(14, 16)], Ok(1)));
    }

    /// A record starting at every byte offset of a small ring, with sizes that make it wrap
    /// in the header, in the raw size field and in the data, and with two records per
    /// drain so that the second starts where the first wrapped.
    #[test]
    fn records_wrapping_at_every_offset() {
        let data_size = 64;
        for start in 0..(2 * data_size as u64) {
            for len in [1usize, 4, 11, 20, 44] {
                let mut fake = FakeRing::new(data_size);
                // Fill the ring with garbage so stale bytes would show.
                fake.write_at(0, &[0xee; 64]);
                fake.set_data_head(start);
                fake.set_data_tail(start);
                let payload: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(7) ^ 0x5a).collect();
                let first = fake.push_sample(&payload);
                let mut expected = vec![Owned::Sample(first)];
                if fake.data_head() - start + 16 <= data_size as u64 {
                    expected.push(Owned::Sample(fake.push_sample(&[0xab, 0xcd])));
                }
                let n = expected.len();
                let (records, result) = drain(&mut fake);
                assert_eq!(result, Ok(n), "start {start} len {len}");
                assert_eq!(records, expected, "start {start} len {len}");
                assert_eq!(fake.data_tail(), fake.data_head());
            }
        }
    }

    #[test]
    fn a_lost_record_that_wraps() {
        let mut fake = FakeRing::new(32);
        fake.set_data_head(20);
        fake.set_data_tail(20);
        fake.push_lost(u64::MAX, 1 << 40);
        assert_eq!(
            drain(&mut fake),
            (vec![Owned::Lost(u64::MAX, 1 << 40)], Ok(1))
        );
    }

    #[test]
    fn a_zero_size_header_stops_the_drain_and_skips_to_head() {
        let mut fake = FakeRing::new(64);
        let a = fake.push_sample(&[1; 4]);
        fake.push_record(PERF_RECORD_SAMPLE, 0, &[0; 8]);
        // The writer moved the head by 0; make the head cover the garbage.
        fake.set_data_head(fake.data_head() + 16);
        let (records, result) = drain(&mut fake);
        assert_eq!(records, vec![Owned::Sample(a)]);
        assert_eq!(
            result,
            Err(RingError::BadRecordSize {
                pos: 16,
                size: 0,
                available: 16
            })
        );
        assert_eq!(fake.data_tail(), 32);
    }

    #[test]
    fn a_header_smaller_than_a_header_is_corrupt() {
        let mut fake = FakeRing::new(64);
        fake.push_record(PERF_RECORD_SAMPLE, 4, &[]);
        fake.set_data_head(8);
        let (_, result) = drain(&mut fake);
        assert_eq!(
            result,
            Err(RingError::BadRecordSize {
                pos: 0,
                size: 4,
                available: 8
            })
        );
        assert_eq!(fake.data_tail(), 8);
    }

    #[test]
    fn a_record_larger_than_the_ring_or_past_the_head_is_corrupt() {
        let mut fake = FakeRing::new(64);
        fake.push_record(PERF_RECORD_SAMPLE, 200, &[]);
        fake.set_data_head(64);
        let (records, result) = drain(&mut fake);
        assert!(records.is_empty());
        assert_eq!(
            result,
            Err(RingError::BadRecordSize {
                pos: 0,
                size: 200,
                available: 64
            })
        );
        assert_eq!(fake.data_tail(), 64);

        let mut fake = FakeRing::new(64);
        fake.push_record(PERF_RECORD_SAMPLE, 32, &[0; 24]);
        fake.set_data_head(16); // the kernel has not finished it
        let (_, result) = drain(&mut fake);
        assert_eq!(
            result,
            Err(RingError::BadRecordSize {
                pos: 0,
                size: 32,
                available: 16
            })
        );
    }

    #[test]
    fn a_raw_size_larger_than_the_record_is_corrupt() {
        let mut fake = FakeRing::new(64);
        let mut body = 100u32.to_ne_bytes().to_vec();
        body.extend_from_slice(&[0; 4]);
        fake.push_record(PERF_RECORD_SAMPLE, 16, &body);
        let (records, result) = drain(&mut fake);
        assert!(records.is_empty());
        assert_eq!(
            result,
            Err(RingError::BadRawSize {
                pos: 0,
                raw_size: 100,
                record_size: 16
            })
        );
        assert_eq!(fake.data_tail(), 16);

        // A sample too short for its raw size field.
        let mut fake = FakeRing::new(64);
        fake.push_record(PERF_RECORD_SAMPLE, 8, &[]);
        let (_, result) = drain(&mut fake);
        assert_eq!(
            result,
            Err(RingError::BadRawSize {
                pos: 0,
                raw_size: u32::MAX,
                record_size: 8
            })
        );
    }

    #[test]
    fn a_short_lost_record_is_corrupt() {
        let mut fake = FakeRing::new(64);
        fake.push_record(PERF_RECORD_LOST, 16, &[0; 8]);
        let (_, result) = drain(&mut fake);
        assert_eq!(
            result,
            Err(RingError::ShortLost {
                pos: 0,
                record_size: 16
            })
        );
    }

    #[test]
    fn a_head_too_far_ahead_or_a_truncated_header_is_corrupt() {
        let mut fake = FakeRing::new(64);
        fake.set_data_head(65);
        let (_, result) = drain(&mut fake);
        assert_eq!(
            result,
            Err(RingError::HeadTooFar {
                head: 65,
                tail: 0,
                data_size: 64
            })
        );
        assert_eq!(fake.data_tail(), 65);

        let mut fake = FakeRing::new(64);
        fake.set_data_head(4);
        let (_, result) = drain(&mut fake);
        assert_eq!(
            result,
            Err(RingError::TruncatedHeader {
                pos: 0,
                available: 4
            })
        );
    }

    #[test]
    fn counters_that_wrap_around_u64_still_work() {
        let mut fake = FakeRing::new(64);
        fake.set_data_head(u64::MAX - 7);
        fake.set_data_tail(u64::MAX - 7);
        let a = fake.push_sample(&[3; 12]);
        assert_eq!(fake.data_head(), 16);
        assert_eq!(drain(&mut fake), (vec![Owned::Sample(a)], Ok(1)));
        assert_eq!(fake.data_tail(), 16);
    }

    #[test]
    fn bad_layouts_are_refused() {
        let mut small = AlignedBytes::zeroed(800);
        let bytes = small.as_mut_slice();
        assert_eq!(
            PerfRing::new(bytes).err(),
            Some(LayoutError::TooSmall { len: 800 })
        );

        let mut fake = FakeRing::new(64);
        let mem = fake.memory();
        mem[DATA_SIZE_OFFSET..DATA_SIZE_OFFSET + 8].copy_from_slice(&48u64.to_ne_bytes());
        assert!(matches!(
            PerfRing::new(mem).err(),
            Some(LayoutError::BadDataArea { data_size: 48, .. })
        ));
        mem[DATA_SIZE_OFFSET..DATA_SIZE_OFFSET + 8].copy_from_slice(&128u64.to_ne_bytes());
        assert!(matches!(
            PerfRing::new(mem).err(),
            Some(LayoutError::BadDataArea { data_size: 128, .. })
        ));
        // Misaligned: start one byte in.
        let mut fake = FakeRing::new(64);
        let mem = fake.memory();
        assert_eq!(
            PerfRing::new(&mut mem[1..]).err(),
            Some(LayoutError::Misaligned)
        );
    }

    #[test]
    fn without_data_offset_the_data_is_after_one_page() {
        // (1 + 2) pages of 4096, data_offset and data_size 0 (kernels before 4.1).
        let mut pages = AlignedBytes::zeroed(3 * 4096);
        let mem = pages.as_mut_slice();
        let ring = PerfRing::new(mem).unwrap();
        assert_eq!(ring.data_size(), 8192);
        assert_eq!(ring.data_offset, 4096);
    }

    /// Plays the kernel through the reader's own pointer: appends a sample of `data`
    /// (raw size `data.len()`, a multiple of 8 minus 4) at data_head.
    fn push_through(ring: &PerfRing<'_>, data: &[u8]) {
        let size = 8 + 4 + data.len();
        let mut rec = Vec::with_capacity(size);
        rec.extend_from_slice(&PERF_RECORD_SAMPLE.to_ne_bytes());
        rec.extend_from_slice(&0u16.to_ne_bytes());
        rec.extend_from_slice(&(size as u16).to_ne_bytes());
        rec.extend_from_slice(&(data.len() as u32).to_ne_bytes());
        rec.extend_from_slice(data);
        let head = ring.head_atomic().load(Ordering::Relaxed);
        for (i, b) in rec.iter().enumerate() {
            let at = ring.data_offset + ((head as usize + i) & (ring.data_size - 1));
            // SAFETY: `at` is inside the data area, outside [tail, head) (the ring was
            // drained), as the kernel would write it.
            unsafe { ring.base.as_ptr().add(at).write(*b) };
        }
        ring.head_atomic()
            .store(head + size as u64, Ordering::Release);
    }

    #[test]
    fn wrapping_records_reuse_one_buffer() {
        let mut fake = FakeRing::new(64);
        let mut ring = PerfRing::new(fake.memory()).unwrap();
        let mut seen_wrap = None;
        for round in 0..50u8 {
            let data = [round; 36]; // 48-byte records: most of them wrap a 64-byte ring
            push_through(&ring, &data);
            let mut got = Vec::new();
            assert_eq!(ring.drain(|r| got.push(format!("{r:?}"))), Ok(1));
            assert_eq!(got, vec![format!("{:?}", Record::Sample(&data))]);
            if ring.wrap_buf.capacity() > 0 {
                let now = (ring.wrap_buf.as_ptr(), ring.wrap_buf.capacity());
                assert_eq!(*seen_wrap.get_or_insert(now), now, "round {round}");
            }
        }
        assert!(seen_wrap.is_some());
    }
}
