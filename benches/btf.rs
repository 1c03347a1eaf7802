//! BTF benchmarks: loading this kernel's BTF (`/sys/kernel/btf/vmlinux`, mapped) with its
//! name index, and that plus CO-RE relocation of both programs of bpf/main.bpf.o.
//!
//! Run: `cargo bench --bench btf` (options: benches/timing/mod.rs). Skips (prints why) when the kernel has no BTF.

mod timing;

use ebpf_loader::btf::{core, ext::BtfExt, kernel, Btf};
use ebpf_loader::insn::{self, Insn};
use object::{Object, ObjectSection};
use std::hint::black_box;

const PROGRAMS: [&str; 2] = ["kprobe/tcp_connect", "tracepoint/sock/inet_sock_set_state"];

/// Each program section's name and instructions.
type Programs = Vec<(String, Vec<Insn>)>;

/// The object's `.BTF`, `.BTF.ext` and program instructions.
fn object_parts() -> (Vec<u8>, Vec<u8>, Programs) {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o")).unwrap();
    let obj = object::File::parse(&*bytes).unwrap();
    let section = |name: &str| obj.section_by_name(name).unwrap().data().unwrap().to_vec();
    let progs = PROGRAMS
        .iter()
        .map(|p| (p.to_string(), insn::decode(&section(p)).unwrap()))
        .collect();
    (section(".BTF"), section(".BTF.ext"), progs)
}

fn main() {
    let harness = timing::Harness::from_args();
    if !std::path::Path::new(kernel::VMLINUX_BTF).exists() {
        eprintln!("skipped: {} does not exist", kernel::VMLINUX_BTF);
        return;
    }
    harness.bench("kernel_btf_load_and_index", || kernel::load().unwrap());
    let (btf_bytes, ext_bytes, progs) = object_parts();
    harness.bench("kernel_btf_load_and_relocate_main_bpf_o", || {
        let target = kernel::load().unwrap();
        let local = Btf::parse(btf_bytes.clone()).unwrap();
        let ext = BtfExt::parse(&ext_bytes, &local).unwrap();
        for (name, insns) in &progs {
            let mut insns = insns.clone();
            let fixups = core::relocate(&local, &target, ext.core_relos(name), &mut insns);
            black_box(fixups.unwrap());
        }
    });
    let target = kernel::load().unwrap();
    let local = Btf::parse(btf_bytes.clone()).unwrap();
    let ext = BtfExt::parse(&ext_bytes, &local).unwrap();
    harness.bench("relocate_main_bpf_o_only", || {
        for (name, insns) in &progs {
            let mut insns = insns.clone();
            let fixups = core::relocate(&local, &target, ext.core_relos(name), &mut insns);
            black_box(fixups.unwrap());
        }
    });
}
