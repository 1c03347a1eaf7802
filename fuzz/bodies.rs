//! The fuzz targets' bodies, one file included (`#[path]`) by the cargo-fuzz targets
//! (`fuzz_targets/*.rs`, nightly) and by the corpus regression test (`tests/elf/corpus.rs`,
//! stable), so both run exactly the same steps without the library shipping them. Any
//! input must end in `Ok` or a typed error: a panic, an abort or a hang is a bug.
//!
//! Every parser of input that is not ours has a body: the object file (`parse_relocate`),
//! BTF (`btf_parse`, `btf_split`, and `btf_dump`: any BTF told as a C header and as Rust), the executables uprobes and USDT name (`executable`),
//! USDT argument specs and `/proc/PID/maps` text (`usdt_args`), kernel config text
//! (`kconfig`), gzip (`gunzip`).
//!
//! Only the library's public API is used here: the file is compiled in crates that depend
//! on `ebpf_loader`, never inside it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use ebpf_loader::btf::ext::BtfExt;
use ebpf_loader::btf::Btf;
use ebpf_loader::elf::target::Executable;
use ebpf_loader::elf::usdt::{
    parse_usdt_args, parse_usdt_args_for, reg_offset, usdt_probes, usdt_spec_bytes,
};
use ebpf_loader::elf::{kernel_version_code, KconfigInput, ObjectSpec};

/// Any bytes as an object: parse, relocate each program without and with CO-RE (the
/// object's own BTF standing in for the kernel's), and render `inspect` and
/// `inspect --core`.
pub fn parse_relocate(data: &[u8]) {
    let Ok(spec) = ObjectSpec::parse_named(data, "fuzz") else {
        return;
    };
    let fds: Vec<i32> = (0..spec.maps.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    for program in &spec.programs {
        let _ = spec.relocate(&program.name, &fds, None);
        let _ = spec.relocate(&program.name, &fds, spec.btf.as_ref());
    }
    let _ = ebpf_loader::inspect::render(&spec, "fuzz");
    if let Some(btf) = &spec.btf {
        let _ = ebpf_loader::inspect::render_core(&spec, btf, "fuzz");
    }
}

/// Any bytes as BTF: the first two bytes (little-endian) give the length of the `.BTF`
/// part, the rest is read as its `.BTF.ext`, and as split BTF on top of it (a kernel
/// module's BTF on vmlinux's). Every type is decoded and sized, and looked up by name.
pub fn btf_parse(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (btf, ext) = rest.split_at(len);
    let Ok(btf) = Btf::parse(btf.to_vec()) else {
        return;
    };
    for id in 0..btf.len() {
        let _ = btf.type_by_id(id);
        let _ = btf.resolve_size(id);
        let _ = btf.skip_mods_and_typedefs(id);
    }
    let _ = BtfExt::parse(ext, &btf);
    let base = std::sync::Arc::new(btf);
    let Ok(split) = Btf::parse_split(ext.to_vec(), base) else {
        return;
    };
    for id in 0..split.len() {
        if let Ok(ty) = split.type_by_id(id) {
            let _ = split.ids_by_name(&ty.name);
        }
        let _ = split.resolve_size(id);
        let _ = split.skip_mods_and_typedefs(id);
    }
}

/// Any bytes as BTF, told as a C header (`btf dump`): every type, then each of the first
/// types alone with what it needs; and as Rust (`gen rust`). Loops, bad ids and kinds C
/// cannot declare are errors.
pub fn btf_dump(data: &[u8]) {
    let Ok(btf) = Btf::parse(data.to_vec()) else {
        return;
    };
    let _ = ebpf_loader::btf::gen_rust::generate(&btf, "fuzz");
    let _ = ebpf_loader::btf::dump_c::header(&btf);
    for id in 1..btf.len().min(64) {
        let _ = ebpf_loader::btf::dump_c::declarations(&btf, &[id]);
    }
}

/// The base of `btf_split`: the `.BTF` part of the `btf_parse` seed (tcpconnect's own
/// types), parsed once.
fn split_base() -> Arc<Btf> {
    static BASE: OnceLock<Arc<Btf>> = OnceLock::new();
    BASE.get_or_init(|| {
        let seed = include_bytes!("seeds/btf_parse/main.btf");
        let len = usize::from(u16::from_le_bytes([seed[0], seed[1]]));
        let btf = seed.get(2..2 + len).expect("the seed's .BTF part");
        Arc::new(Btf::parse(btf.to_vec()).expect("the seed's BTF parses"))
    })
    .clone()
}

/// Any bytes as split BTF on a real base (a kernel module's BTF on vmlinux's, as
/// `load::modules` reads them): every type decoded, sized, its modifiers skipped, and
/// looked up by name and by name and kind, which see the base's types first.
pub fn btf_split(data: &[u8]) {
    let Ok(split) = Btf::parse_split(data.to_vec(), split_base()) else {
        return;
    };
    for id in 0..split.len() {
        if let Ok(ty) = split.type_by_id(id) {
            let _ = split.ids_by_name(&ty.name);
            let _ = split.find_by_name_kind(&ty.name, ty.kind());
        }
        let _ = split.resolve_size(id);
        let _ = split.skip_mods_and_typedefs(id);
        let _ = split.skip_mods(id);
    }
}

/// Any bytes as an executable or shared library a uprobe or USDT probe names: its type,
/// the file offsets of functions by name (`.symtab`, `.dynsym`), of its entry point
/// (program headers), its USDT probes (`.note.stapsdt`) and each probe's arguments as
/// the `struct __bpf_usdt_spec` the attach step writes.
pub fn executable(data: &[u8]) {
    let Ok(exe) = Executable::parse(data) else {
        return;
    };
    let _ = exe.fixed_addresses();
    for name in ["main", "_start", "no_such_function"] {
        let _ = exe.function_offset(name);
    }
    // e_entry: at byte 24 of both classes' header (8 bytes in ELFCLASS64, 4 in 32).
    if let Some(entry) = data.get(24..32) {
        let entry = u64::from_le_bytes(entry.try_into().unwrap_or_default());
        let _ = exe.file_offset(entry);
        let _ = exe.file_offset(entry & 0xffff_ffff);
    }
    let Ok(probes) = usdt_probes(&exe) else {
        return;
    };
    for probe in &probes {
        let _ = exe.file_offset(probe.address);
        if let Ok(args) = probe.args() {
            let _ = usdt_spec_bytes(&args, 0);
        }
    }
}

/// Any text as the arguments of a USDT note (`-4@%edi 8@-16(%rbp) 4@$5`), each token as a
/// register name, and as a `/proc/PID/maps` file in which `/usr/bin/app`'s offset 0x1234
/// is looked for.
pub fn usdt_args(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(args) = parse_usdt_args(text) {
        let _ = usdt_spec_bytes(&args, 0);
    }
    // Both architectures' syntaxes, whatever this build's target is.
    for arch in [&ebpf_loader::arch::X86_64, &ebpf_loader::arch::AARCH64] {
        let _ = parse_usdt_args_for(arch, text);
    }
    for token in text.split_whitespace() {
        let _ = reg_offset(token.trim_start_matches('%'));
    }
    let _ = ebpf_loader::elf::target::address_in_maps(text, Path::new("/usr/bin/app"), 0x1234);
}

/// The object whose `.kconfig` the `kconfig` target fills (fuzz/kconfig.bpf.c: one
/// extern of each type), parsed once.
fn kconfig_object() -> &'static ObjectSpec {
    static OBJECT: OnceLock<ObjectSpec> = OnceLock::new();
    OBJECT.get_or_init(|| {
        ObjectSpec::parse_named(include_bytes!("kconfig.bpf.o"), "kconfig")
            .expect("fuzz/kconfig.bpf.o parses")
    })
}

/// Any text as a kernel's release (the first line) and config (the rest), written into
/// the `.kconfig` of an object with an extern of every type (the feature flags from the
/// release's length, so that both values are seen).
pub fn kconfig(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (release, config) = text.split_once('\n').unwrap_or((text, ""));
    let _ = kernel_version_code(release);
    let input = KconfigInput {
        release: release.to_string(),
        has_bpf_cookie: release.len() % 2 == 1,
        has_syscall_wrapper: release.len() % 4 >= 2,
        config: Some(config.to_string()),
    };
    let mut spec = kconfig_object().clone();
    let _ = spec.fill_kconfig(&input);
}

/// Any bytes as a gzip member (`/proc/config.gz`): decoded, and never more than the
/// reader's cap.
pub fn gunzip(data: &[u8]) {
    if let Ok(out) = ebpf_loader::elf::gunzip::gunzip(data) {
        assert!(out.len() <= ebpf_loader::elf::gunzip::MAX_OUTPUT);
    }
}
