//! Memory and time of loading this kernel's BTF and relocating bpf/main.bpf.o, once, as
//! a fresh process sees it: VmRSS (from /proc/self/status) before and after, and the
//! wall time. Printed, not asserted.
//!
//! Run: `cargo run --release --example btf_rss`

use ebpf_loader::btf::{core, ext::BtfExt, kernel, Btf};
use ebpf_loader::insn;
use object::{Object, ObjectSection};
use std::time::Instant;

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o")).unwrap();
    let obj = object::File::parse(&*bytes).unwrap();
    let section = |name: &str| obj.section_by_name(name).unwrap().data().unwrap().to_vec();
    let progs: Vec<(&str, Vec<insn::Insn>)> =
        ["kprobe/tcp_connect", "tracepoint/sock/inet_sock_set_state"]
            .into_iter()
            .map(|p| (p, insn::decode(&section(p)).unwrap()))
            .collect();
    let (btf_bytes, ext_bytes) = (section(".BTF"), section(".BTF.ext"));

    let before = vm_rss_kib();
    let start = Instant::now();
    let target = match kernel::load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let loaded = start.elapsed();
    let local = Btf::parse(btf_bytes).unwrap();
    let ext = BtfExt::parse(&ext_bytes, &local).unwrap();
    let mut records = 0;
    for (name, insns) in &progs {
        let mut insns = insns.clone();
        records += core::relocate(&local, &target, ext.core_relos(name), &mut insns)
            .unwrap()
            .len();
    }
    let total = start.elapsed();
    let after = vm_rss_kib();
    println!(
        "kernel BTF: {} types; load+index {:.2} ms; +relocate {} records: {:.2} ms total; VmRSS {} -> {} KiB (+{} KiB)",
        target.len(),
        loaded.as_secs_f64() * 1e3,
        records,
        total.as_secs_f64() * 1e3,
        before,
        after,
        after.saturating_sub(before)
    );
}
