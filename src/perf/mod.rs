//! Perf rings: how `bpf_perf_event_output` data reaches user space.
//!
//! ABI: `perf_event_open(2)` with `PERF_TYPE_SOFTWARE`/`PERF_COUNT_SW_BPF_OUTPUT`, the
//! mmapped `struct perf_event_mmap_page` (`include/uapi/linux/perf_event.h`), and
//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (`kernel/bpf/arraymap.c`): a program writes with
//! `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, data, size)` into the perf event
//! stored in the map at the key of the CPU it runs on.
//!
//! [`ring`] is the pure record reader; [`PerfReader`] sets up one ring per online CPU and
//! waits on all of them with one epoll.
//!
//! ## Wake-ups
//! Each event is opened with a watermark (`watermark = 1`, `wakeup_watermark` bytes, by
//! default 4096): the kernel wakes the reader only once that many bytes are waiting, so a
//! busy system costs one wake-up per ~50 small (84-byte) events instead of one per event. A lone
//! event below the watermark would then wait forever, so [`PerfReader::poll`] never sleeps
//! longer than [`PerfReaderOptions::poll_interval`] (default 50 ms) at a time and, on every
//! wake-up or timeout, drains every ring that holds data (a read of `data_head` per CPU).
//! A lone event is delivered within one poll interval. `Wakeup::Events(1)` gives the
//! other trade-off: a wake-up per event, no added latency.

pub mod ring;

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::load::{Map, PerfEventArray};
use crate::pod::{self, Pod, SizeError};
use crate::syscall::{self, PerfEventAttr, SysError};
pub use crate::syscall::{online_cpus, possible_cpus, CpuListError};
use crate::uapi::{MapType, BPF_ANY};
pub use ring::{LayoutError, PerfRing, Record, RingError};

/// When the kernel wakes the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// After this many bytes are waiting (`watermark = 1`, `wakeup_watermark`); must be
    /// less than the ring's size.
    Watermark(u32),
    /// After this many samples (`wakeup_events`).
    Events(u32),
}

/// How the rings are set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfReaderOptions {
    /// Data pages per CPU: a power of two (the mapping is `page_size * (1 + pages)`).
    pub pages: usize,
    /// When the kernel wakes a reader sleeping in `poll` on a ring.
    pub wakeup: Wakeup,
    /// The longest [`PerfReader::poll`] sleeps before looking at the rings anyway.
    pub poll_interval: Duration,
}

impl Default for PerfReaderOptions {
    fn default() -> Self {
        PerfReaderOptions {
            pages: 8,
            wakeup: Wakeup::Watermark(4096),
            poll_interval: Duration::from_millis(50),
        }
    }
}

/// What [`PerfReader::poll`] hands to its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// One `bpf_perf_event_output`'s data, padded by the kernel so that the record is a
    /// multiple of 8 bytes (72 bytes arrive as 76). The padding bytes are not zeroed: they
    /// hold whatever was in the ring before.
    Sample {
        /// The CPU whose ring held it (the CPU the program ran on, with
        /// `BPF_F_CURRENT_CPU`).
        cpu: u32,
        /// The bytes, borrowed from the ring until the callback returns.
        data: &'a [u8],
    },
    /// The kernel dropped `count` samples on this CPU because its ring was full.
    Lost {
        /// The CPU whose ring was full.
        cpu: u32,
        /// How many samples were dropped (`PERF_RECORD_LOST`'s `lost`).
        count: u64,
    },
}

/// Setting up or reading the rings failed.
#[derive(Debug)]
pub enum PerfError {
    /// The map given is not a `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    NotPerfEventArray {
        /// The map's name.
        map: String,
        /// Its type.
        map_type: MapType,
    },
    /// `pages` is not a power of two (or is 0).
    PagesNotPowerOfTwo {
        /// The data pages asked for.
        pages: usize,
    },
    /// The watermark does not fit in the ring.
    WatermarkTooLarge {
        /// The watermark asked for, in bytes.
        watermark: u32,
        /// The ring's data size in bytes.
        ring_size: usize,
    },
    /// The online or possible CPU list could not be read.
    Cpus(CpuListError),
    /// A system call failed (on `cpu`, when it was about one).
    Sys {
        /// The CPU whose ring was being set up or read, if any.
        cpu: Option<u32>,
        /// The failed call.
        error: SysError,
    },
    /// `mmap` of the ring failed.
    Mmap {
        /// The CPU whose ring it was.
        cpu: u32,
        /// The error of `mmap`.
        error: std::io::Error,
    },
    /// The kernel's mapping did not look like a perf ring.
    Layout {
        /// The CPU whose ring it was.
        cpu: u32,
        /// What did not fit.
        error: LayoutError,
    },
    /// A CPU's ring held a corrupt record; it was skipped to its head.
    Corrupt {
        /// The CPU whose ring it was.
        cpu: u32,
        /// What was wrong with the record.
        error: RingError,
    },
}

impl fmt::Display for PerfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerfError::PagesNotPowerOfTwo { pages } => write!(
                f,
                "perf ring pages must be a power of two (1, 2, 4, 8, ...), not {pages}"
            ),
            PerfError::WatermarkTooLarge {
                watermark,
                ring_size,
            } => write!(
                f,
                "wakeup watermark of {watermark} bytes does not fit in a {ring_size}-byte perf ring"
            ),
            PerfError::NotPerfEventArray { map, map_type } => write!(
                f,
                "map {map} is a {map_type} map: perf rings are read from a perf_event_array"
            ),
            PerfError::Cpus(_) | PerfError::Sys { cpu: None, .. } => write!(f, "perf rings"),
            PerfError::Sys { cpu: Some(cpu), .. } | PerfError::Layout { cpu, .. } => {
                write!(f, "perf ring of cpu {cpu}")
            }
            PerfError::Mmap { cpu, .. } => write!(f, "perf ring of cpu {cpu}: mmap"),
            PerfError::Corrupt { cpu, .. } => write!(f, "cpu {cpu}"),
        }
    }
}

impl std::error::Error for PerfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PerfError::Cpus(error) => Some(error),
            PerfError::Sys { error, .. } => Some(error),
            PerfError::Mmap { error, .. } => Some(error),
            PerfError::Layout { error, .. } => Some(error),
            PerfError::Corrupt { error, .. } => Some(error),
            PerfError::NotPerfEventArray { .. }
            | PerfError::PagesNotPowerOfTwo { .. }
            | PerfError::WatermarkTooLarge { .. } => None,
        }
    }
}

/// One CPU's event, its mapping and the reader over it. Field order is drop order: the
/// reader goes before the mapping it points into.
struct CpuRing {
    cpu: u32,
    ring: PerfRing<'static>,
    _mmap: memmap2::MmapRaw,
    fd: OwnedFd,
}

/// One `PERF_COUNT_SW_BPF_OUTPUT` ring per online CPU, each stored in a perf event array at
/// its CPU's number, all behind one epoll.
///
/// Dropping it disables the events and removes them from the map (the map keeps a
/// reference to each event until its entry is deleted).
pub struct PerfReader {
    rings: Vec<CpuRing>,
    epoll: Epoll,
    map: OwnedFd,
    poll_interval: Duration,
    events: Vec<EpollEvent>,
}

/// How many bytes past its data a raw sample may carry: the kernel pads `u32 size` and
/// the data to a multiple of 8 (`perf_prepare_sample`, `kernel/events/core.c`), so 1 to 7
/// bytes of whatever was in the ring follow a sample whose `4 + size` is not.
pub const SAMPLE_PADDING: usize = 7;

/// The `T` a raw sample holds: the sample is `T`'s size plus at most [`SAMPLE_PADDING`]
/// bytes. Shorter (or longer) is a [`SizeError`].
pub fn read_sample<T: Pod>(data: &[u8]) -> Result<T, SizeError> {
    pod::read_padded(data, SAMPLE_PADDING)
}

impl Event<'_> {
    /// A sample's `T` ([`read_sample`]); `None` for a lost-samples report.
    pub fn read<T: Pod>(&self) -> Option<Result<T, SizeError>> {
        match self {
            Event::Sample { data, .. } => Some(read_sample(data)),
            Event::Lost { .. } => None,
        }
    }
}

impl PerfEventArray<'_> {
    /// Opens a [`PerfReader`] on this perf event array ([`PerfReader::open`]).
    pub fn reader(&self, opts: &PerfReaderOptions) -> Result<PerfReader, PerfError> {
        PerfReader::open(self.map(), opts)
    }
}

impl PerfReader {
    /// Opens, maps and enables a ring for every online CPU and stores each in `map`, a
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY` (the loader sizes it to cover the possible CPUs).
    pub fn open(map: &Map, opts: &PerfReaderOptions) -> Result<PerfReader, PerfError> {
        if map.map_type() != MapType::PERF_EVENT_ARRAY {
            return Err(PerfError::NotPerfEventArray {
                map: map.name().to_string(),
                map_type: map.map_type(),
            });
        }
        if !opts.pages.is_power_of_two() {
            return Err(PerfError::PagesNotPowerOfTwo { pages: opts.pages });
        }
        let page_size = page_size();
        let ring_size = page_size.saturating_mul(opts.pages);
        let mut attr = PerfEventAttr {
            type_: syscall::PERF_TYPE_SOFTWARE,
            config: syscall::PERF_COUNT_SW_BPF_OUTPUT,
            sample_type: syscall::PERF_SAMPLE_RAW,
            sample_period: 1,
            flags: syscall::ATTR_FLAG_DISABLED,
            ..Default::default()
        };
        match opts.wakeup {
            Wakeup::Watermark(bytes) => {
                if bytes as usize >= ring_size {
                    return Err(PerfError::WatermarkTooLarge {
                        watermark: bytes,
                        ring_size,
                    });
                }
                attr.flags |= syscall::ATTR_FLAG_WATERMARK;
                attr.wakeup = bytes.max(1);
            }
            Wakeup::Events(n) => attr.wakeup = n.max(1),
        }
        let map = map
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| PerfError::Sys {
                cpu: None,
                error: SysError::new("dup", e.raw_os_error().unwrap_or(0)),
            })?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| PerfError::Sys {
            cpu: None,
            error: SysError::new("epoll_create1", e as i32),
        })?;
        let mut reader = PerfReader {
            rings: Vec::new(),
            epoll,
            map,
            poll_interval: opts.poll_interval.max(Duration::from_millis(1)),
            events: Vec::new(),
        };
        let cpus = syscall::online_cpus().map_err(PerfError::Cpus)?;
        for cpu in cpus {
            // On error, `reader` is dropped: the rings opened so far are removed again.
            let ring = open_ring(cpu, &attr, page_size * (1 + opts.pages))?;
            reader
                .epoll
                .add(
                    ring.fd.as_fd(),
                    EpollEvent::new(EpollFlags::EPOLLIN, cpu as u64),
                )
                .map_err(|e| PerfError::Sys {
                    cpu: Some(cpu),
                    error: SysError::new("epoll_ctl", e as i32),
                })?;
            let fd_value = std::os::fd::AsRawFd::as_raw_fd(&ring.fd) as u32;
            reader.rings.push(ring);
            syscall::map_update_elem(
                reader.map.as_fd(),
                &cpu.to_ne_bytes(),
                &fd_value.to_ne_bytes(),
                BPF_ANY,
            )
            .map_err(|error| PerfError::Sys {
                cpu: Some(cpu),
                error,
            })?;
            if let Some(ring) = reader.rings.last() {
                syscall::perf_event_enable(ring.fd.as_fd()).map_err(|error| PerfError::Sys {
                    cpu: Some(cpu),
                    error,
                })?;
            }
        }
        reader.events = vec![EpollEvent::empty(); reader.rings.len().max(1)];
        Ok(reader)
    }

    /// The CPUs that have a ring.
    pub fn cpus(&self) -> Vec<u32> {
        self.rings.iter().map(|r| r.cpu).collect()
    }

    /// Drains every ring that holds data, handing each record to `f`. Returns how many
    /// records were read. A corrupt ring is skipped to its head, the other rings are still
    /// drained, and the first corruption is returned as the error.
    pub fn drain(&mut self, mut f: impl FnMut(Event<'_>)) -> Result<usize, PerfError> {
        let mut total = 0;
        let mut first_error = None;
        for ring in &mut self.rings {
            if ring.ring.pending() == 0 {
                continue;
            }
            let cpu = ring.cpu;
            let result = ring.ring.drain(|record| match record {
                Record::Sample(data) => f(Event::Sample { cpu, data }),
                Record::Lost { lost, .. } => f(Event::Lost { cpu, count: lost }),
                Record::Other { .. } => {}
            });
            match result {
                Ok(n) => total += n,
                Err(error) => {
                    first_error.get_or_insert(PerfError::Corrupt { cpu, error });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Waits up to `timeout` (`None`: forever) for records and hands them to `f`; returns
    /// as soon as at least one record was read, with how many. Sleeps at most one poll
    /// interval at a time (see the module header), so events below the watermark arrive
    /// within that interval. `EINTR` returns `Ok(0)`, so a signal handler's flag can be
    /// checked by the caller.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(Event<'_>),
    ) -> Result<usize, PerfError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let n = self.drain(&mut f)?;
            if n > 0 {
                return Ok(n);
            }
            let waited = sleep_on(&self.epoll, &mut self.events, self.poll_interval, deadline)
                .map_err(|error| PerfError::Sys { cpu: None, error })?;
            if !waited {
                return Ok(0);
            }
        }
    }
}

impl Drop for PerfReader {
    fn drop(&mut self) {
        for ring in &self.rings {
            // Best effort: the event is going away whatever these return.
            let _ = syscall::perf_event_disable(ring.fd.as_fd());
            let _ = syscall::map_delete_elem(self.map.as_fd(), &ring.cpu.to_ne_bytes());
        }
    }
}

/// One sleep of a poll loop (`PerfReader::poll`, `RingBufReader::poll`): on `epoll`, for
/// the poll interval or what is left until `deadline`, whichever is shorter. `Ok(false)`
/// when the loop should return empty-handed: the deadline has passed, or a signal
/// interrupted the wait (`EINTR`, so that the caller can look at its signals).
pub(crate) fn sleep_on(
    epoll: &Epoll,
    events: &mut [EpollEvent],
    poll_interval: Duration,
    deadline: Option<Instant>,
) -> Result<bool, SysError> {
    let mut wait = poll_interval;
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        wait = wait.min(left);
    }
    let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
    match epoll.wait(events, ms) {
        Ok(_) => Ok(true),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(SysError::new("epoll_wait", e as i32)),
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

fn open_ring(cpu: u32, attr: &PerfEventAttr, len: usize) -> Result<CpuRing, PerfError> {
    let fd = syscall::perf_event_open(attr, -1, cpu as i32).map_err(|error| PerfError::Sys {
        cpu: Some(cpu),
        error,
    })?;
    // PROT_READ|PROT_WRITE, MAP_SHARED (a read-only mapping would put the ring in overwrite
    // mode); the length is exactly page_size * (1 + 2^n), anything else is EINVAL.
    let mmap = memmap2::MmapOptions::new()
        .len(len)
        .map_raw(&fd)
        .map_err(|error| PerfError::Mmap { cpu, error })?;
    let base = NonNull::new(mmap.as_mut_ptr()).ok_or(PerfError::Mmap {
        cpu,
        error: std::io::Error::other("null mapping"),
    })?;
    // SAFETY: `mmap` is a shared read-write mapping of `len` bytes that lives in the same
    // `CpuRing` as the reader and is dropped after it (field order); only the kernel, per
    // the perf protocol, and this reader access it.
    let ring = unsafe { PerfRing::from_raw(base, mmap.len()) }
        .map_err(|error| PerfError::Layout { cpu, error })?;
    Ok(CpuRing {
        cpu,
        ring,
        _mmap: mmap,
        fd,
    })
}
