//! `btf::dump_c` on this host's kernel BTF, against bpftool: the `vmlinux.h` round trip.
//!
//! 1. Our header of `/sys/kernel/btf/vmlinux` is bpftool's (`bpftool btf dump file
//!    /sys/kernel/btf/vmlinux format c`), line for line, but for one known difference:
//!    we force one-byte enums to one byte (`__attribute__((mode(byte)))`, as libbpf does
//!    since 1.2), which an older bpftool leaves out.
//! 2. A program in the style of libbpf-tools (`tests/btf_dump/core_reads.bpf.c`) built by
//!    clang for `-target bpf` against either header has the same CO-RE relocations: per
//!    section, instruction, kind, type and access string.
//!
//! The corpus (`shared/corpus`) holds libbpf-tools' objects, not their sources, so the
//! program here stands in for them. Each part says why it does nothing where the host
//! lacks kernel BTF, bpftool, clang or libbpf's headers.

use std::path::{Path, PathBuf};
use std::process::Command;

use ebpf_loader::btf::{dump_c, kernel};
use ebpf_loader::elf::ObjectSpec;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

fn our_header() -> Option<String> {
    if !Path::new(VMLINUX).exists() {
        eprintln!("no {VMLINUX}: nothing to dump");
        return None;
    }
    let (btf, _) = kernel::load_file(Path::new(VMLINUX)).expect("kernel BTF");
    Some(dump_c::header(&btf).expect("the kernel's BTF dumps"))
}

fn bpftool_header() -> Option<String> {
    let output = Command::new("bpftool")
        .args(["btf", "dump", "file", VMLINUX, "format", "c"])
        .output();
    match output {
        Ok(out) if out.status.success() => Some(String::from_utf8(out.stdout).expect("C text")),
        Ok(out) => {
            eprintln!("bpftool failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
        Err(e) => {
            eprintln!("no bpftool ({e}): nothing to compare with");
            None
        }
    }
}

/// A directory of the test's own under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("btf_dump-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn vmlinux_header_is_bpftools() {
    let (Some(ours), Some(theirs)) = (our_header(), bpftool_header()) else {
        return;
    };
    let ours = ours.replace(" __attribute__((mode(byte)))", "");
    let theirs = theirs.replace(" __attribute__((mode(byte)))", "");
    if let Some((n, (a, b))) = ours
        .lines()
        .zip(theirs.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("line {}: ours {a:?}, bpftool's {b:?}", n + 1);
    }
    assert_eq!(ours.lines().count(), theirs.lines().count());
    assert!(ours.contains("struct task_struct {\n"));
}

/// `(section, instruction offset, kind, type, access string)` of every CO-RE relocation.
type Relo = (String, u32, String, String, String);

fn core_relos(object: &Path) -> Vec<Relo> {
    let spec = ObjectSpec::parse(&std::fs::read(object).unwrap()).unwrap();
    let btf = spec.btf.as_ref().expect(".BTF");
    let ext = spec.btf_ext.as_ref().expect(".BTF.ext");
    let mut relos = Vec::new();
    for section in &ext.core_relos {
        for r in &section.records {
            relos.push((
                section.name.clone(),
                r.insn_off,
                r.kind.name().to_string(),
                btf.type_by_id(r.type_id).unwrap().describe(),
                btf.name(r.access_str_off).unwrap().to_string(),
            ));
        }
    }
    relos
}

fn build(source: &Path, include: &Path, out: &Path) -> bool {
    let status = Command::new("clang")
        .args([
            "-g",
            "-O2",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Werror",
        ])
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(out)
        .status();
    match status {
        Ok(s) => s.success(),
        Err(e) => panic!("clang: {e}"),
    }
}

#[test]
fn programs_built_against_ours_have_bpftools_core_relocations() {
    if Command::new("clang").arg("--version").output().is_err() {
        eprintln!("no clang: nothing to build");
        return;
    }
    if !Path::new("/usr/include/bpf/bpf_core_read.h").exists() {
        eprintln!("no libbpf headers (/usr/include/bpf, libbpf-dev): nothing to build");
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        eprintln!("the program reads x86's pt_regs: built on x86_64 only");
        return;
    }
    let (Some(ours), Some(theirs)) = (our_header(), bpftool_header()) else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/btf_dump/core_reads.bpf.c");
    let mut relos = Vec::new();
    for (name, header) in [("ours", ours), ("bpftool", theirs)] {
        let dir = scratch(name);
        std::fs::write(dir.join("vmlinux.h"), header).unwrap();
        let object = dir.join("core_reads.bpf.o");
        assert!(
            build(&source, &dir, &object),
            "clang against {name}'s vmlinux.h"
        );
        relos.push(core_relos(&object));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let (ours, theirs) = (&relos[0], &relos[1]);
    assert_eq!(ours, theirs);
    // The reads of the program are there: nested pointers, a bitfield, enum values.
    let has = |kind: &str, ty: &str| ours.iter().any(|r| r.2 == kind && r.3 == ty);
    assert!(has("byte_off", "STRUCT 'task_struct'"), "{ours:#?}");
    assert!(has("type_size", "STRUCT 'sock_common'"), "{ours:#?}");
    assert!(has("lshift_u64", "STRUCT 'sock'"), "{ours:#?}");
    assert!(has("enumval_value", "ENUM 'bpf_map_type'"), "{ours:#?}");
    assert!(has("type_exists", "STRUCT 'bpf_iter_num'"), "{ours:#?}");
    assert!(ours.len() >= 30, "{} relocations", ours.len());
}
