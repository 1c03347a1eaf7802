//! Ring buffers on the running kernel (5.8+, root): a hand-assembled tracepoint program
//! writes a known 16-byte record with `bpf_ringbuf_output`, and the test reads it back
//! through `RingBufReader` and through the common `RecordReader`. Each test makes its own
//! map, program and link and filters on its own thread id.

mod harness;

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use harness::kernel::*;

use ebpf_loader::attach;
use ebpf_loader::attach::AttachOptions;
use ebpf_loader::elf::MapSpec;
use ebpf_loader::insn::*;
use ebpf_loader::load::Map;
use ebpf_loader::records::{Record, RecordError, RecordReader};
use ebpf_loader::ringbuf::{RingBufError, RingBufReader};
use ebpf_loader::uapi::{MapType, ProgramType};

const HELPER_RINGBUF_OUTPUT: i32 = 130;

fn ring_buffer(name: &str) -> Map {
    Map::create(&MapSpec {
        name: name.into(),
        map_type: MapType::RINGBUF,
        max_entries: 64 * 1024,
        ..MapSpec::default()
    })
    .unwrap()
}

/// As `harness::kernel::program`, with `bpf_ringbuf_output(map, r10 - 16, 16, 0)` as output.
fn ringbuf_program(map_fd: i32, pid_tgid: u64, magic: u64) -> Vec<Insn> {
    let mut p = vec![insn(CALL, 0, 0, 0, 14)]; // bpf_get_current_pid_tgid
    p.extend(ld_imm64(8, 0, pid_tgid));
    let jne_at = p.len();
    p.push(insn(BPF_JMP | 0x50 | BPF_X, 0, 8, 0, 0)); // if r0 != r8 goto out
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -16, 0));
    p.extend(ld_imm64(1, 0, magic));
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 1, -8, 0));
    p.extend(ld_imm64(1, BPF_PSEUDO_MAP_FD, map_fd as u32 as u64));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
    p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -16));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 16));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0));
    p.push(insn(CALL, 0, 0, 0, HELPER_RINGBUF_OUTPUT));
    let out = p.len();
    p[jne_at].off = (out - jne_at - 1) as i16;
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn expected(pid_tgid: u64, magic: u64) -> Vec<u8> {
    [pid_tgid.to_ne_bytes(), magic.to_ne_bytes()].concat()
}

/// Connects to a local listener until `read` has seen a record, at most 50 rounds.
fn connect_until(mut read: impl FnMut() -> Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for _ in 0..50 {
        drop(std::net::TcpStream::connect(addr).unwrap());
        let seen = read();
        if !seen.is_empty() {
            return seen;
        }
    }
    Vec::new()
}

#[test]
fn a_ring_buffer_record_arrives_whole_with_this_threads_id() {
    let map = ring_buffer("test_rb");
    let pid_tgid = this_pid_tgid();
    let magic = 0x5151_0001;
    let prog = load(
        "test_rb",
        ProgramType::Tracepoint,
        &ringbuf_program(map.as_fd().as_raw_fd(), pid_tgid, magic),
    );
    let mut reader = RingBufReader::open(&map).unwrap();
    assert_eq!(reader.rings(), ["test_rb"]);
    let _link = attach::tracepoint::attach(
        &prog,
        "sock",
        "inet_sock_set_state",
        &AttachOptions::default(),
    )
    .unwrap();
    let records = connect_until(|| {
        let mut seen = Vec::new();
        reader
            .poll(Some(Duration::from_millis(200)), |ring, data| {
                assert_eq!(ring, 0);
                seen.push(data.to_vec());
            })
            .unwrap();
        seen
    });
    assert!(!records.is_empty(), "no record arrived");
    // Exactly the 16 bytes written: a ring buffer does not pad the record.
    for record in &records {
        assert_eq!(record, &expected(pid_tgid, magic));
    }
}

#[test]
fn the_record_reader_reads_a_ring_buffer_and_a_perf_array_alike() {
    let pid_tgid = this_pid_tgid();
    let ring = ring_buffer("test_rb2");
    let perf = perf_event_array();
    let magic = 0x5151_0002;
    let ring_prog = load(
        "test_rb2",
        ProgramType::Tracepoint,
        &ringbuf_program(ring.as_fd().as_raw_fd(), pid_tgid, magic),
    );
    let perf_prog = load(
        "test_pa2",
        ProgramType::Tracepoint,
        &program(perf.as_fd().as_raw_fd(), pid_tgid, magic),
    );
    let opts = AttachOptions::default();
    let _links = [
        attach::tracepoint::attach(&ring_prog, "sock", "inet_sock_set_state", &opts).unwrap(),
        attach::tracepoint::attach(&perf_prog, "sock", "inet_sock_set_state", &opts).unwrap(),
    ];
    for map in [&ring, &perf] {
        let mut reader = RecordReader::open(map).unwrap();
        let records = connect_until(|| {
            let mut seen = Vec::new();
            reader
                .poll(Some(Duration::from_millis(200)), |record| match record {
                    Record::Sample(data) => seen.push(data.to_vec()),
                    Record::Lost { count } => panic!("{count} lost"),
                })
                .unwrap();
            seen
        });
        assert!(!records.is_empty(), "no record through {}", map.name());
        for record in &records {
            // The perf ring pads the 16 bytes to 20 (u32 size + data, 8-byte aligned).
            assert_eq!(&record[..16], expected(pid_tgid, magic), "{}", map.name());
        }
    }
}

#[test]
fn a_map_of_another_type_is_refused_by_name() {
    let perf = perf_event_array();
    match RingBufReader::open(&perf).err().unwrap() {
        error @ RingBufError::NotRingBuf { .. } => assert_eq!(
            error.to_string(),
            "map test_events is a perf_event_array map: ring buffer readers read a ringbuf map"
        ),
        other => panic!("{other:?}"),
    }
    let hash = Map::create(&MapSpec {
        name: "test_hash".into(),
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..MapSpec::default()
    })
    .unwrap();
    match RecordReader::open(&hash).err().unwrap() {
        error @ RecordError::NotAnOutputMap { .. } => assert_eq!(
            error.to_string(),
            "map test_hash is a hash map: records are read from a perf_event_array or a ringbuf"
        ),
        other => panic!("{other:?}"),
    }
}

/// A storm through a small ring buffer that nobody reads until it is over: every event
/// the program tried to write is either read back or counted as dropped by the program
/// (`bpf_ringbuf_output` fails when the ring is full), and the two add up exactly.
#[test]
fn a_storm_through_a_full_ring_buffer_is_all_accounted() {
    // 4 pages: room for 512 records of 8 bytes (16 with the header).
    let ring = Map::create(&MapSpec {
        name: "test_rb_storm".into(),
        map_type: MapType::RINGBUF,
        max_entries: 4 * 4096,
        ..MapSpec::default()
    })
    .unwrap();
    let dropped = Map::create(&MapSpec {
        name: "test_rb_drop".into(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..MapSpec::default()
    })
    .unwrap();
    let pid_tgid = this_pid_tgid();
    // r0 = pid_tgid; if ours: ringbuf_output(ring, &r0, 8, 0); on failure counts[0] += 1.
    let mut p = vec![insn(CALL, 0, 0, 0, 14)]; // bpf_get_current_pid_tgid
    p.extend(ld_imm64(8, 0, pid_tgid));
    let not_ours = p.len();
    p.push(insn(BPF_JMP | 0x50 | BPF_X, 0, 8, 0, 0)); // if r0 != r8 goto out
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -8, 0));
    p.extend(ld_imm64(
        1,
        BPF_PSEUDO_MAP_FD,
        ring.as_fd().as_raw_fd() as u64,
    ));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
    p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -8));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 8));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0));
    p.push(insn(CALL, 0, 0, 0, HELPER_RINGBUF_OUTPUT));
    let written = p.len();
    p.push(insn(BPF_JMP | 0x10 | BPF_K, 0, 0, 0, 0)); // if r0 == 0 goto out
    p.push(insn(BPF_ST | BPF_MEM | BPF_W, 10, 0, -12, 0)); // key 0
    p.extend(ld_imm64(
        1,
        BPF_PSEUDO_MAP_FD,
        dropped.as_fd().as_raw_fd() as u64,
    ));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
    p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -12));
    p.push(insn(CALL, 0, 0, 0, 1)); // bpf_map_lookup_elem
    let missing = p.len();
    p.push(insn(BPF_JMP | 0x10 | BPF_K, 0, 0, 0, 0)); // if r0 == 0 goto out
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1));
    p.push(insn(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, 0)); // lock *(u64 *)r0 += r1
    let out = p.len();
    for jump in [not_ours, written, missing] {
        p[jump].off = (out - jump - 1) as i16;
    }
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    let prog = load("test_rb_storm", ProgramType::RawTracepoint, &p);
    let mut reader = RingBufReader::open(&ring).unwrap();

    // Each prctl(PR_SET_NAME) renames this thread: task_rename fires once per call, and
    // only for it (the raw tracepoint sys_enter was used before, and counted every system
    // call; on Debian's arm64 5.10 in QEMU a fresh sys_enter registration sometimes never
    // fires for the process at all: tests/vm/README.md).
    let link = attach::raw_tracepoint::attach(&prog, "task_rename").unwrap();
    for _ in 0..20_000 {
        // SAFETY: the name is a NUL-terminated string that outlives the call.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"rb_storm".as_ptr()) };
    }
    drop(link);
    let mut received = 0u64;
    while reader
        .drain(|_, record| {
            assert_eq!(record, pid_tgid.to_ne_bytes());
            received += 1;
        })
        .unwrap()
        > 0
    {}
    let lost = u64::from_ne_bytes(
        dropped
            .lookup(&0u32.to_ne_bytes())
            .unwrap()
            .unwrap()
            .try_into()
            .unwrap(),
    );
    assert!(lost > 0, "the ring never filled ({received} received)");
    assert!(received > 0 && received <= 1024, "{received} received");
    // Every rename was either received or dropped, exactly: the program counts this
    // thread's renames only, and the test made 20,000.
    assert_eq!(
        received + lost,
        20_000,
        "{received} received + {lost} dropped"
    );
}
