//! BPF ring buffers: how `bpf_ringbuf_output` / `bpf_ringbuf_submit` data reaches user
//! space (5.8). One buffer shared by every CPU, in order, with no per-CPU rings to merge.
//!
//! ABI: `BPF_MAP_TYPE_RINGBUF` (`kernel/bpf/ringbuf.c`): the map fd is mmapped in two
//! parts (the consumer page read-write at offset 0; the producer page and the data, mapped
//! twice, read-only at offset one page) and is pollable (`EPOLLIN` once data is there,
//! unless the program asked for no wake-up with `BPF_RB_NO_WAKEUP`); see
//! `Documentation/bpf/ringbuf.rst`.
//!
//! [`ring`] is the pure record reader; [`RingBufReader`] maps one or more ring buffers
//! and waits on all of them with one epoll. Like [`crate::perf::PerfReader`], it never
//! sleeps longer than a poll interval, so a record committed with `BPF_RB_NO_WAKEUP` is
//! still read within one interval.

pub mod ring;

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::load::{Map, RingBufMap};
use crate::pod::{self, Pod, SizeError};
use crate::uapi::MapType;
use crate::SysError;
pub use ring::{CorruptRecord, RingBuf, RingBufLayoutError};

/// The `T` a ring buffer record holds. A ring buffer record has the exact length the
/// program reserved or output (the 8-byte alignment is in the ring, not in the record),
/// so no padding is allowed: any other length is a [`SizeError`].
pub fn read_record<T: Pod>(data: &[u8]) -> Result<T, SizeError> {
    pod::read_padded(data, 0)
}

impl RingBufMap<'_> {
    /// Opens a [`RingBufReader`] on this ring buffer ([`RingBufReader::open`]).
    pub fn reader(&self) -> Result<RingBufReader, RingBufError> {
        RingBufReader::open(self.map())
    }
}

/// Why ring buffers could not be opened or read. `ring` is the map's name.
#[derive(Debug)]
pub enum RingBufError {
    /// The map given is not a `BPF_MAP_TYPE_RINGBUF`.
    NotRingBuf {
        /// The map.
        ring: String,
        /// Its type.
        map_type: MapType,
    },
    /// A system call failed (`dup`, `epoll_*`).
    Sys {
        /// The ring buffer, when it was about one.
        ring: Option<String>,
        /// What failed.
        error: SysError,
    },
    /// `mmap` of the buffer failed.
    Mmap {
        /// The ring buffer.
        ring: String,
        /// Why.
        error: std::io::Error,
    },
    /// The mapping did not look like a ring buffer.
    Layout {
        /// The ring buffer.
        ring: String,
        /// What was wrong.
        error: RingBufLayoutError,
    },
    /// A record with an impossible length; the buffer was skipped to its producer
    /// position.
    Corrupt {
        /// The ring buffer.
        ring: String,
        /// Where and what.
        error: CorruptRecord,
    },
}

impl fmt::Display for RingBufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingBufError::NotRingBuf { ring, map_type } => write!(
                f,
                "map {ring} is a {map_type} map: ring buffer readers read a ringbuf map"
            ),
            RingBufError::Sys { ring: None, .. } => write!(f, "ring buffers"),
            RingBufError::Sys {
                ring: Some(ring), ..
            }
            | RingBufError::Layout { ring, .. }
            | RingBufError::Corrupt { ring, .. } => write!(f, "ring buffer {ring}"),
            RingBufError::Mmap { ring, .. } => write!(f, "ring buffer {ring}: mmap"),
        }
    }
}

impl std::error::Error for RingBufError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RingBufError::NotRingBuf { .. } => None,
            RingBufError::Sys { error, .. } => Some(error),
            RingBufError::Mmap { error, .. } => Some(error),
            RingBufError::Layout { error, .. } => Some(error),
            RingBufError::Corrupt { error, .. } => Some(error),
        }
    }
}

/// One mapped ring buffer. Field order is drop order: the reader goes before the
/// mappings it points into.
struct MappedRing {
    name: String,
    ring: RingBuf<'static>,
    _producer: memmap2::MmapRaw,
    _consumer: memmap2::MmapRaw,
    _fd: OwnedFd,
}

/// One or more ring buffers behind one epoll. Records are handed to the callback as
/// slices of the mapping itself (no copy); the space is given back to the kernel as soon
/// as the callback returns.
pub struct RingBufReader {
    rings: Vec<MappedRing>,
    epoll: Epoll,
    poll_interval: Duration,
    events: Vec<EpollEvent>,
}

impl RingBufReader {
    /// A reader with no ring yet; [`RingBufReader::add`] maps one. `poll_interval` bounds
    /// each sleep (50 ms is a good default).
    pub fn new(poll_interval: Duration) -> Result<RingBufReader, RingBufError> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| RingBufError::Sys {
            ring: None,
            error: SysError::new("epoll_create1", e as i32),
        })?;
        Ok(RingBufReader {
            rings: Vec::new(),
            epoll,
            poll_interval: poll_interval.max(Duration::from_millis(1)),
            events: Vec::new(),
        })
    }

    /// A reader of one ring buffer, polled every 50 ms at most.
    pub fn open(map: &Map) -> Result<RingBufReader, RingBufError> {
        let mut reader = RingBufReader::new(Duration::from_millis(50))?;
        reader.add(map)?;
        Ok(reader)
    }

    /// Maps the ring buffer `map` and adds it to the epoll. Records of every ring added
    /// reach the same callback; which ring a record came from is its index in the order
    /// of the `add` calls.
    pub fn add(&mut self, map: &Map) -> Result<usize, RingBufError> {
        let name = map.name().to_string();
        if map.map_type() != MapType::RINGBUF {
            return Err(RingBufError::NotRingBuf {
                ring: name,
                map_type: map.map_type(),
            });
        }
        let sys = |op, error: std::io::Error| RingBufError::Sys {
            ring: Some(map.name().to_string()),
            error: SysError::new(op, error.raw_os_error().unwrap_or(0)),
        };
        let fd = map
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| sys("dup", e))?;
        let page = crate::perf::page_size();
        let size = map.max_entries() as usize;
        let mmap_error = |error| RingBufError::Mmap {
            ring: name.clone(),
            error,
        };
        // The consumer page: read-write, shared (the kernel reads consumer_pos).
        let consumer = memmap2::MmapOptions::new()
            .len(page)
            .map_raw(&fd)
            .map_err(mmap_error)?;
        // The producer page and the data twice: the kernel allows only a read-only mapping.
        let producer_len = page + 2 * size;
        let producer = memmap2::MmapOptions::new()
            .offset(page as u64)
            .len(producer_len)
            .map_raw_read_only(&fd)
            .map_err(mmap_error)?;
        let null = || RingBufError::Mmap {
            ring: name.clone(),
            error: std::io::Error::other("null mapping"),
        };
        let consumer_base = NonNull::new(consumer.as_mut_ptr()).ok_or_else(null)?;
        let producer_base = NonNull::new(producer.as_mut_ptr()).ok_or_else(null)?;
        // SAFETY: both mappings live in the same `MappedRing` as the reader and are
        // dropped after it (field order); the consumer page is shared read-write, the
        // producer mapping read-only and `producer_len` long; only the kernel, following
        // the ring buffer protocol, and this reader touch them.
        let ring =
            unsafe { RingBuf::from_raw(consumer_base, producer_base, producer_len, page, size) }
                .map_err(|error| RingBufError::Layout {
                    ring: name.clone(),
                    error,
                })?;
        let index = self.rings.len();
        self.epoll
            .add(
                fd.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, index as u64),
            )
            .map_err(|e| sys("epoll_ctl", std::io::Error::from(e)))?;
        self.rings.push(MappedRing {
            name,
            ring,
            _producer: producer,
            _consumer: consumer,
            _fd: fd,
        });
        self.events = vec![EpollEvent::empty(); self.rings.len()];
        Ok(index)
    }

    /// Reads every ring's submitted records without waiting, handing each to
    /// `f(ring index, record)`. Returns how many were read. A corrupt record in one ring
    /// is reported after the other rings were read.
    pub fn drain(&mut self, mut f: impl FnMut(usize, &[u8])) -> Result<usize, RingBufError> {
        let mut total = 0;
        let mut corrupt = None;
        for (index, mapped) in self.rings.iter_mut().enumerate() {
            match mapped.ring.drain(|record| f(index, record)) {
                Ok(n) => total += n,
                Err(error) => {
                    corrupt.get_or_insert(RingBufError::Corrupt {
                        ring: mapped.name.clone(),
                        error,
                    });
                }
            }
        }
        match corrupt {
            Some(error) => Err(error),
            None => Ok(total),
        }
    }

    /// Waits until a record arrives (or `timeout` passes; `None`: no limit), then reads
    /// everything there is. Returns how many records were read; 0 on timeout or when a
    /// signal interrupted the wait.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(usize, &[u8]),
    ) -> Result<usize, RingBufError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let n = self.drain(&mut f)?;
            if n > 0 {
                return Ok(n);
            }
            let waited =
                crate::perf::sleep_on(&self.epoll, &mut self.events, self.poll_interval, deadline)
                    .map_err(|error| RingBufError::Sys { ring: None, error })?;
            if !waited {
                return Ok(0);
            }
        }
    }

    /// The names of the rings, in index order.
    pub fn rings(&self) -> Vec<&str> {
        self.rings.iter().map(|r| r.name.as_str()).collect()
    }
}
