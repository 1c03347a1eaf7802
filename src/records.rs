//! One small interface over the two ways a program hands records to user space: a perf
//! event array (`bpf_perf_event_output`, one ring per CPU, every kernel) and a ring
//! buffer (`bpf_ringbuf_output`, one ring for all CPUs, 5.8+). Tools such as libbpf-tools
//! switch a ring buffer to a perf event array on older kernels (the map's type is changed
//! on the spec before load); with [`RecordReader::open`] the code that reads is the same
//! either way.
//!
//! A sample reads as a typed value with [`Sample::read`]: its length is checked against
//! the type's, allowing the padding of the channel it came through (a perf sample up to
//! [`crate::perf::SAMPLE_PADDING`] bytes, a ring buffer record none). Where no Rust type
//! is at hand, [`Sample::decode`] reads it through a BTF type instead, into a
//! [`crate::btf::value::Value`] tree (fields by name, char arrays as strings), which is
//! how the workbench (`ebpf-loader load --attach`) prints any object's records.
//!
//! ABI: see [`crate::perf`] and [`crate::ringbuf`].

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use crate::btf::value::{self, Value, ValueError};
use crate::btf::Btf;
use crate::load::Map;
use crate::perf::{Event, PerfError, PerfReader, PerfReaderOptions, SAMPLE_PADDING};
use crate::pod::{self, Pod, SizeError};
use crate::ringbuf::{RingBufError, RingBufReader};
use crate::uapi::MapType;

/// A record, whichever map it came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// The bytes the program wrote. Through a perf event array they arrive padded by the
    /// kernel to keep records 8-byte aligned (the padding is not zeroed); through a ring
    /// buffer they arrive at their exact length. [`Sample::read`] reads them as a type.
    Sample(Sample<'a>),
    /// `count` records the kernel could not write because a perf ring was full. (A full
    /// ring buffer makes the program's own call fail instead: the program counts those.)
    Lost {
        /// How many.
        count: u64,
    },
}

/// A sample's bytes, and how much padding its channel may have added after them. Derefs
/// to the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    data: &'a [u8],
    padding: usize,
}

impl<'a> Sample<'a> {
    /// The bytes, padding included.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The `T` the program wrote: the sample is `T`'s size, plus at most the padding of
    /// its channel (7 bytes for a perf event array, none for a ring buffer); anything
    /// else is a [`SizeError`].
    pub fn read<T: Pod>(&self) -> Result<T, SizeError> {
        pod::read_padded(self.data, self.padding)
    }
}

impl Sample<'_> {
    /// The sample read as type `type_id` of `btf` ([`crate::btf::value::decode`]): the
    /// bytes the channel padded it with are ignored; a sample shorter than the type is an
    /// error (for records sent at the length they fill, see
    /// [`crate::btf::value::decode_prefix`]).
    pub fn decode(&self, btf: &Btf, type_id: u32) -> Result<Value, ValueError> {
        value::decode(btf, type_id, self.data)
    }
}

impl Deref for Sample<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.data
    }
}

fn ring_sample(data: &[u8]) -> Record<'_> {
    Record::Sample(Sample { data, padding: 0 })
}

/// Why a record reader could not be opened or read.
#[derive(Debug)]
pub enum RecordError {
    /// The map is neither a perf event array nor a ring buffer.
    NotAnOutputMap {
        /// The map's name.
        map: String,
        /// Its type.
        map_type: MapType,
    },
    /// Through a perf event array.
    Perf(PerfError),
    /// Through a ring buffer.
    RingBuf(RingBufError),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::NotAnOutputMap { map, map_type } => write!(
                f,
                "map {map} is a {map_type} map: records are read from a perf_event_array or a ringbuf"
            ),
            RecordError::Perf(error) => write!(f, "{error}"),
            RecordError::RingBuf(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecordError::NotAnOutputMap { .. } => None,
            RecordError::Perf(error) => error.source(),
            RecordError::RingBuf(error) => error.source(),
        }
    }
}

/// Reads a perf event array or a ring buffer, whichever the map is.
pub enum RecordReader {
    /// One ring per CPU.
    Perf(PerfReader),
    /// One ring for all CPUs.
    RingBuf(RingBufReader),
}

impl RecordReader {
    /// Opens the reader `map`'s type calls for, with the default options (perf rings of
    /// 8 pages per CPU).
    pub fn open(map: &Map) -> Result<RecordReader, RecordError> {
        match map.map_type() {
            MapType::PERF_EVENT_ARRAY => PerfReader::open(map, &PerfReaderOptions::default())
                .map(RecordReader::Perf)
                .map_err(RecordError::Perf),
            MapType::RINGBUF => RingBufReader::open(map)
                .map(RecordReader::RingBuf)
                .map_err(RecordError::RingBuf),
            other => Err(RecordError::NotAnOutputMap {
                map: map.name().to_string(),
                map_type: other,
            }),
        }
    }

    /// Waits until records arrive (or `timeout` passes), then hands each to `f`. Returns
    /// how many were read.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(Record<'_>),
    ) -> Result<usize, RecordError> {
        match self {
            RecordReader::Perf(reader) => reader
                .poll(timeout, |event| f(from_perf(event)))
                .map_err(RecordError::Perf),
            RecordReader::RingBuf(reader) => reader
                .poll(timeout, |_, data| f(ring_sample(data)))
                .map_err(RecordError::RingBuf),
        }
    }

    /// Hands every record already there to `f`, without waiting.
    pub fn drain(&mut self, mut f: impl FnMut(Record<'_>)) -> Result<usize, RecordError> {
        match self {
            RecordReader::Perf(reader) => reader
                .drain(|event| f(from_perf(event)))
                .map_err(RecordError::Perf),
            RecordReader::RingBuf(reader) => reader
                .drain(|_, data| f(ring_sample(data)))
                .map_err(RecordError::RingBuf),
        }
    }
}

fn from_perf(event: Event<'_>) -> Record<'_> {
    match event {
        Event::Sample { data, .. } => Record::Sample(Sample {
            data,
            padding: SAMPLE_PADDING,
        }),
        Event::Lost { count, .. } => Record::Lost { count },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_as_a_type_with_its_channels_padding() {
        let bytes = [7u8, 0, 0, 0, 0xee, 0xee, 0xee, 0xee];
        let perf = Sample {
            data: &bytes,
            padding: SAMPLE_PADDING,
        };
        // A perf sample of a u32: 4 bytes of the kernel's padding follow it.
        assert_eq!(perf.read::<u32>(), Ok(u32::from_ne_bytes([7, 0, 0, 0])));
        assert_eq!(perf.len(), 8);
        let ring = Sample {
            data: &bytes,
            padding: 0,
        };
        assert_eq!(ring.read::<u64>(), Ok(u64::from_ne_bytes(bytes)));
        assert_eq!(
            ring.read::<u32>().unwrap_err().to_string(),
            "a record of 8 bytes is longer than u32 (4 bytes) and the 0 bytes of padding allowed"
        );
        let short = Sample {
            data: &bytes[..3],
            padding: SAMPLE_PADDING,
        };
        assert_eq!(
            short.read::<u32>().unwrap_err().to_string(),
            "a record of 3 bytes is shorter than u32 (4 bytes)"
        );
    }

    #[test]
    fn a_sample_decodes_through_btf_past_its_padding() {
        let mut b = crate::btf::build::BtfBuilder::new();
        let u32_ = b.add_int("u32", 4, 0);
        let event = b.add_struct("event", 4, &[("pid", u32_, 0, 0)]);
        let btf = Btf::parse(b.build()).unwrap();
        let bytes = [7u8, 0, 0, 0, 0xee, 0xee, 0xee, 0xee];
        let perf = Sample {
            data: &bytes,
            padding: SAMPLE_PADDING,
        };
        assert_eq!(perf.decode(&btf, event).unwrap().to_string(), "{pid: 7}");
        let short = Sample {
            data: &bytes[..3],
            padding: 0,
        };
        assert!(matches!(
            short.decode(&btf, event),
            Err(ValueError::Short {
                needed: 4,
                len: 3,
                ..
            })
        ));
    }
}
