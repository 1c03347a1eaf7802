//! `PerfReader` on the running kernel (needs root): one ring per CPU stored in a perf
//! event array at its CPU's slot and removed on drop, a page count refused before any
//! system call, and lost samples counted when a ring overflows. A hand-assembled tracepoint
//! program writes the samples; each test makes its own map, program, link and rings and
//! filters on its own thread id, so tests run in parallel.

mod harness;

use std::os::fd::AsFd;

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::AttachOptions;
use ebpf_loader::load::MapError;
use ebpf_loader::perf::online_cpus;
use ebpf_loader::perf::{PerfError, PerfReader, PerfReaderOptions};
use ebpf_loader::uapi::ProgramType;

/// Keeps the calling thread on the CPU it runs on until dropped, then gives it back its
/// former CPU mask (`sched_setaffinity(2)`, pid 0 being the calling thread).
struct PinnedToThisCpu {
    former: libc::cpu_set_t,
}

impl PinnedToThisCpu {
    fn new() -> Self {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: cpu_set_t is plain data; all zeros is the empty set.
        let mut former: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: writes at most `size` bytes into `former`, a cpu_set_t of that size.
        let rc = unsafe { libc::sched_getaffinity(0, size, &mut former) };
        assert_eq!(
            rc,
            0,
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: takes no argument and touches no memory.
        let cpu = unsafe { libc::sched_getcpu() };
        assert!(
            cpu >= 0,
            "sched_getcpu: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: as for `former`.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: sets one bit of `one`; the cpu number, from the kernel, is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu as usize, &mut one) };
        // SAFETY: reads `size` bytes of `one`, a cpu_set_t of that size.
        let rc = unsafe { libc::sched_setaffinity(0, size, &one) };
        assert_eq!(
            rc,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
        PinnedToThisCpu { former }
    }
}

impl Drop for PinnedToThisCpu {
    fn drop(&mut self) {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: sched_setaffinity reads `size` bytes of the mask saved in new().
        unsafe { libc::sched_setaffinity(0, size, &self.former) };
    }
}

#[test]
fn perf_reader_rejects_a_page_count_that_is_not_a_power_of_two() {
    ebpf_loader::features::memlock::ensure();
    let map = perf_event_array();
    let opts = PerfReaderOptions {
        pages: 3,
        ..Default::default()
    };
    let err = PerfReader::open(&map, &opts).err().unwrap();
    assert!(matches!(err, PerfError::PagesNotPowerOfTwo { pages: 3 }));
    assert_eq!(
        err.to_string(),
        "perf ring pages must be a power of two (1, 2, 4, 8, ...), not 3"
    );
}

#[test]
fn perf_reader_stores_each_ring_at_its_cpu_and_removes_it_on_drop() {
    ebpf_loader::features::memlock::ensure();
    let map = perf_event_array();
    let reader = PerfReader::open(&map, &PerfReaderOptions::default()).unwrap();
    let cpus = online_cpus().unwrap();
    // Lookups of a perf event array from user space are not allowed (EOPNOTSUPP), but
    // deleting an entry that exists says so, and one that does not says ENOENT.
    match map.lookup(&0u32.to_ne_bytes()).unwrap_err() {
        MapError::Sys { error, .. } => assert!(error.is_not_supported(), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(map.delete(&cpus[0].to_ne_bytes()), Ok(true));
    drop(reader);
    for cpu in &cpus {
        assert_eq!(map.delete(&cpu.to_ne_bytes()), Ok(false));
    }
}

#[test]
fn a_full_ring_reports_lost_samples() {
    ebpf_loader::features::memlock::ensure();
    // Every sample and every PERF_RECORD_LOST on one CPU's ring: the kernel writes the lost
    // count only with the next sample that fits in the ring that lost them, so a thread that
    // moved to another CPU during the burst would leave that count unread (seen in QEMU:
    // "322 read + 1644 lost" of at least 2000).
    let _pinned = PinnedToThisCpu::new();
    let map = perf_event_array();
    let pid_tgid = this_pid_tgid();
    let magic = 0x7777;
    let insns = program(
        std::os::fd::AsRawFd::as_raw_fd(&map.as_fd()),
        pid_tgid,
        magic,
    );
    let prog = load("test_lost", ProgramType::Tracepoint, &insns);
    // One 4 KiB page per CPU: room for 128 of these 32-byte records.
    let opts = PerfReaderOptions {
        pages: 1,
        wakeup: ebpf_loader::perf::Wakeup::Watermark(2048),
        ..Default::default()
    };
    let mut reader = PerfReader::open(&map, &opts).unwrap();
    let link = attach::tracepoint::attach(
        &prog,
        "sock",
        "inet_sock_set_state",
        &AttachOptions::default(),
    )
    .unwrap();
    // Each connection changes socket states at least twice on this thread (CLOSE ->
    // SYN_SENT -> ESTABLISHED): 1000 of them are more than two rings hold.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut accepted = Vec::new();
    for _ in 0..1000 {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        drop(stream);
        // Keep the backlog from filling up.
        if let Ok((s, _)) = listener.accept() {
            accepted.push(s);
        }
    }
    let (mut samples, mut lost) = (0u64, 0u64);
    let mut read_all = |reader: &mut PerfReader| {
        while reader
            .drain(|event| match event {
                ebpf_loader::perf::Event::Sample { data, .. } => {
                    assert_payload(data, pid_tgid, magic);
                    samples += 1;
                }
                ebpf_loader::perf::Event::Lost { count, .. } => lost += count,
            })
            .unwrap()
            > 0
        {}
    };
    read_all(&mut reader);
    // The kernel writes PERF_RECORD_LOST with the next sample that finds room, so
    // make some more now that the rings are empty.
    for _ in 0..10 {
        drop(std::net::TcpStream::connect(addr).unwrap());
    }
    read_all(&mut reader);
    drop(link);
    assert!(lost > 0, "no loss reported ({samples} samples)");
    // 1000 connections made at least 2000 samples; what was not read was lost.
    assert!(samples + lost >= 2000, "{samples} read + {lost} lost");
}
