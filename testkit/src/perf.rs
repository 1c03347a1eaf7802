//! A fake perf ring: what `perf_event_open(2)` + `mmap(2)` give a reader, in plain memory,
//! with a writer that plays the kernel. ABI: `struct perf_event_mmap_page`, `struct
//! perf_event_header` and `enum perf_event_type` in `include/uapi/linux/perf_event.h`.
//!
//! ```text
//!  FAKE_PAGE bytes: the header page           data_size bytes (a power of two)
//!  data_head @1024, data_tail @1032,           records at stream positions
//!  data_offset @1040 (= FAKE_PAGE),            [tail, head) mod data_size
//!  data_size @1048
//! ```
//!
//! The reader needs its memory 8-byte aligned (it reads `data_head` and `data_tail` as
//! `AtomicU64`): the fake is built on [`AlignedBytes`].

use crate::AlignedBytes;

/// Offset of `data_head` in `struct perf_event_mmap_page`.
const DATA_HEAD_OFFSET: usize = 1024;
/// Offset of `data_tail`.
const DATA_TAIL_OFFSET: usize = 1032;
/// Offset of `data_offset`: where the data area starts in the mapping.
const DATA_OFFSET_OFFSET: usize = 1040;
/// Offset of `data_size`: the data area's size.
const DATA_SIZE_OFFSET: usize = 1048;
/// `PERF_RECORD_LOST`: `u64 id; u64 lost;`.
const PERF_RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE`: with `PERF_SAMPLE_RAW` only, `u32 size; u8 data[size];`.
const PERF_RECORD_SAMPLE: u32 = 9;

/// The header page's size in the fake mapping.
pub const FAKE_PAGE: usize = 4096;

/// `FAKE_PAGE` bytes of header followed by `data_size` bytes of data, 8-byte aligned;
/// `data_offset` and `data_size` filled in as a 4.1+ kernel fills them.
#[derive(Clone)]
pub struct FakeRing {
    memory: AlignedBytes,
    data_size: usize,
}

impl FakeRing {
    /// A fake mapping with a data area of `data_size` bytes (a power of two >= 8).
    pub fn new(data_size: usize) -> FakeRing {
        let mut ring = FakeRing {
            memory: AlignedBytes::zeroed(FAKE_PAGE + data_size),
            data_size,
        };
        ring.set_u64(DATA_OFFSET_OFFSET, FAKE_PAGE as u64);
        ring.set_u64(DATA_SIZE_OFFSET, data_size as u64);
        ring
    }

    fn set_u64(&mut self, offset: usize, value: u64) {
        if let Some(field) = self.memory.as_mut_slice().get_mut(offset..offset + 8) {
            field.copy_from_slice(&value.to_ne_bytes());
        }
    }

    fn get_u64(&self, offset: usize) -> u64 {
        self.memory
            .as_slice()
            .get(offset..offset + 8)
            .and_then(|field| field.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    }

    /// The whole mapping as bytes, for the reader.
    pub fn memory(&mut self) -> &mut [u8] {
        self.memory.as_mut_slice()
    }

    /// `data_head`: where the writer has got to (a free-running byte counter).
    pub fn data_head(&self) -> u64 {
        self.get_u64(DATA_HEAD_OFFSET)
    }

    /// `data_tail`: what the reader has handed back.
    pub fn data_tail(&self) -> u64 {
        self.get_u64(DATA_TAIL_OFFSET)
    }

    /// Sets `data_head`.
    pub fn set_data_head(&mut self, v: u64) {
        self.set_u64(DATA_HEAD_OFFSET, v)
    }

    /// Sets `data_tail`.
    pub fn set_data_tail(&mut self, v: u64) {
        self.set_u64(DATA_TAIL_OFFSET, v)
    }

    /// Writes `bytes` at stream position `pos` (wrapping) without moving the head.
    pub fn write_at(&mut self, pos: u64, bytes: &[u8]) {
        let data_size = self.data_size;
        let mem = self.memory();
        for (i, b) in bytes.iter().enumerate() {
            let at = FAKE_PAGE + ((pos as usize).wrapping_add(i) & (data_size - 1));
            if let Some(slot) = mem.get_mut(at) {
                *slot = *b;
            }
        }
    }

    /// Appends a record (header with `type_` and `size`, then `body`) at the head and
    /// moves the head by `size`.
    pub fn push_record(&mut self, type_: u32, size: u16, body: &[u8]) {
        let head = self.data_head();
        let mut rec = Vec::with_capacity(8 + body.len());
        rec.extend_from_slice(&type_.to_ne_bytes());
        rec.extend_from_slice(&0u16.to_ne_bytes());
        rec.extend_from_slice(&size.to_ne_bytes());
        rec.extend_from_slice(body);
        self.write_at(head, &rec);
        self.set_data_head(head.wrapping_add(size as u64));
    }

    /// Appends a `PERF_RECORD_SAMPLE` with raw data `data`, padded as the kernel pads it
    /// (the record's size a multiple of 8); returns the raw data as the reader will see
    /// it (with the padding).
    pub fn push_sample(&mut self, data: &[u8]) -> Vec<u8> {
        let raw = (data.len() + 4).div_ceil(8) * 8 - 4;
        let mut body = Vec::with_capacity(4 + raw);
        body.extend_from_slice(&(raw as u32).to_ne_bytes());
        body.extend_from_slice(data);
        body.resize(4 + raw, 0);
        self.push_record(PERF_RECORD_SAMPLE, (8 + 4 + raw) as u16, &body);
        body.split_off(4)
    }

    /// Appends a `PERF_RECORD_LOST`.
    pub fn push_lost(&mut self, id: u64, lost: u64) {
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&id.to_ne_bytes());
        body.extend_from_slice(&lost.to_ne_bytes());
        self.push_record(PERF_RECORD_LOST, 24, &body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_page_says_where_the_data_is() {
        let mut ring = FakeRing::new(64);
        let mem = ring.memory();
        assert_eq!(mem.len(), FAKE_PAGE + 64);
        assert_eq!(mem[1040..1048], (FAKE_PAGE as u64).to_ne_bytes());
        assert_eq!(mem[1048..1056], 64u64.to_ne_bytes());
    }

    #[test]
    fn a_sample_is_padded_and_wraps_the_data_area() {
        let mut ring = FakeRing::new(64);
        ring.set_data_head(56);
        let raw = ring.push_sample(&[7; 9]);
        assert_eq!(raw.len(), 12, "9 bytes + the u32 size, padded to 8");
        assert_eq!(ring.data_head(), 56 + 24);
        let data = &ring.memory()[FAKE_PAGE..];
        // The header at 56..64, the body wraps to 0..16.
        assert_eq!(data[56..60], PERF_RECORD_SAMPLE.to_ne_bytes());
        assert_eq!(data[62..64], 24u16.to_ne_bytes());
        assert_eq!(data[0..4], 12u32.to_ne_bytes());
        assert_eq!(data[4..13], [7; 9]);
    }
}
