//! What the kernel tests share: a hand-assembled program that sends a known payload
//! through `bpf_perf_event_output`, a perf event array, and a way to trigger it.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ebpf_loader::elf::MapSpec;
use ebpf_loader::insn::*;
use ebpf_loader::load::{Map, Program};
use ebpf_loader::perf::{Event, PerfReader};
use ebpf_loader::uapi::{MapType, ProgramType, BPF_F_CURRENT_CPU};

const BPF_JNE: u8 = 0x50;
const HELPER_GET_CURRENT_PID_TGID: i32 = 14;
const HELPER_PERF_EVENT_OUTPUT: i32 = 25;

pub fn insn(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Insn {
    Insn::new(code, dst_reg, src_reg, off, imm)
}

pub fn ld_imm64(dst: u8, src_reg: u8, value: u64) -> [Insn; 2] {
    [
        insn(LD_IMM64, dst, src_reg, 0, value as u32 as i32),
        insn(0, 0, 0, 0, (value >> 32) as u32 as i32),
    ]
}

/// ```text
///  r6 = r1                              ; ctx
///  call bpf_get_current_pid_tgid
///  r8 = PID_TGID ; if r0 != r8 goto out ; only this test's thread
///  *(u64 *)(r10 - 16) = r0
///  r1 = MAGIC ; *(u64 *)(r10 - 8) = r1
///  r1 = r6 ; r2 = map ; r3 = BPF_F_CURRENT_CPU ; r4 = r10 - 16 ; r5 = 16
///  call bpf_perf_event_output
/// out: r0 = 0 ; exit
/// ```
pub fn program(map_fd: i32, pid_tgid: u64, magic: u64) -> Vec<Insn> {
    let mut p = vec![
        insn(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
        insn(CALL, 0, 0, 0, HELPER_GET_CURRENT_PID_TGID),
    ];
    p.extend(ld_imm64(8, 0, pid_tgid));
    let jne_at = p.len();
    p.push(insn(BPF_JMP | BPF_JNE | BPF_X, 0, 8, 0, 0)); // offset patched below
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -16, 0));
    p.extend(ld_imm64(1, 0, magic));
    p.push(insn(BPF_STX | BPF_MEM | BPF_DW, 10, 1, -8, 0));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0));
    p.extend(ld_imm64(2, BPF_PSEUDO_MAP_FD, map_fd as u32 as u64));
    p.extend(ld_imm64(3, 0, BPF_F_CURRENT_CPU));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 4, 10, 0, 0));
    p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, -16));
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 5, 0, 0, 16));
    p.push(insn(CALL, 0, 0, 0, HELPER_PERF_EVENT_OUTPUT));
    let out = p.len();
    p[jne_at].off = (out - jne_at - 1) as i16;
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

pub fn this_pid_tgid() -> u64 {
    let tgid = std::process::id() as u64;
    let tid = nix::unistd::gettid().as_raw() as u64;
    (tgid << 32) | tid
}

/// A perf event array of one slot per possible CPU (`max_entries` 0: the loader sizes it).
pub fn perf_event_array() -> Map {
    Map::create(&MapSpec {
        name: "test_events".into(),
        map_type: MapType::PERF_EVENT_ARRAY,
        key_size: 4,
        value_size: 4,
        ..MapSpec::default()
    })
    .unwrap()
}

/// Loads `insns` as a program of `program_type`; a refusal panics with the verifier's log.
pub fn load(name: &str, program_type: ProgramType, insns: &[Insn]) -> Program {
    Program::load_instructions(name, program_type, insns, "GPL").unwrap_or_else(|e| {
        let log = e
            .verifier_log()
            .map(|log| log.text.clone())
            .unwrap_or_default();
        panic!("{e}\n{log}")
    })
}

/// Makes TCP connections to a local listener until `reader` has delivered a sample (each
/// connection fires sock/inet_sock_set_state several times), at most 50 rounds.
pub fn connect_until_sample(reader: &mut PerfReader) -> Vec<(u32, Vec<u8>)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut samples = Vec::new();
    let mut lost = 0;
    for _ in 0..50 {
        drop(TcpStream::connect(addr).unwrap());
        reader
            .poll(Some(Duration::from_millis(200)), |event| match event {
                Event::Sample { cpu, data } => samples.push((cpu, data.to_vec())),
                Event::Lost { count, .. } => lost += count,
            })
            .unwrap();
        if !samples.is_empty() {
            break;
        }
    }
    assert_eq!(lost, 0);
    samples
}

/// Checks a sample against the payload `program` sends: 16 bytes, which arrive as 20 (the
/// kernel pads the record to 8 bytes; the padding bytes are whatever was in the ring, not
/// zeros, so they are not compared).
pub fn assert_payload(data: &[u8], pid_tgid: u64, magic: u64) {
    let mut payload = Vec::new();
    payload.extend_from_slice(&pid_tgid.to_ne_bytes());
    payload.extend_from_slice(&magic.to_ne_bytes());
    assert_eq!(data.len(), 20, "{data:?}");
    assert_eq!(&data[..16], &payload[..]);
}

/// How `LinkPreference::Auto` attaches on this kernel: a BPF link where `BPF_LINK_CREATE`
/// knows perf events (5.15), else the `PERF_EVENT_IOC_SET_BPF` fallback (5.10 in the VM
/// matrix). Decided by the library's probe, which is libbpf's.
pub fn auto_link_via() -> ebpf_loader::attach::Via {
    if ebpf_loader::features::probe_perf_link() {
        ebpf_loader::attach::Via::BpfLink
    } else {
        ebpf_loader::attach::Via::PerfIoctl
    }
}

/// A bpf filesystem of the test's own, mounted on a fresh directory, unmounted on drop
/// (each mount of bpffs is a new, empty instance).
pub struct Bpffs(pub std::path::PathBuf);

impl Bpffs {
    /// Mounts one at a new directory named after `name` and this process.
    pub fn new(name: &str) -> Bpffs {
        let dir = std::env::temp_dir().join(format!("ebpf_loader_{name}_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount -t bpf");
        Bpffs(dir)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Loads `program` of a fixture object (`bytes`, a tests/fixtures/*.bpf.o), its `.rodata`
/// variable `watched` (a `u32`: the process or thread its programs count) set to `id`,
/// CO-RE against the running kernel's BTF.
pub fn load_fixture(
    bytes: &[u8],
    (watched, id): (&str, u32),
    program: &str,
) -> Result<ebpf_loader::load::Object, ebpf_loader::load::LoadError> {
    let mut spec = ebpf_loader::elf::ObjectSpec::parse(bytes).unwrap();
    spec.set_global(watched, &id).unwrap();
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    ebpf_loader::load::Object::load(
        &spec,
        &ebpf_loader::load::LoadOptions {
            programs: vec![program.into()],
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            ..Default::default()
        },
    )
}

/// A `u64` global variable of `object`, read back from the kernel.
pub fn global_u64(object: &ebpf_loader::load::Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}
