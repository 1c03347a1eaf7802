//! The fuzz targets' bodies, one file included (`#[path]`) by the cargo-fuzz targets
//! (`fuzz_targets/*.rs`, nightly) and by the corpus regression test (`tests/elf/corpus.rs`,
//! stable), so both run exactly the same steps without the library shipping them. Any
//! input must end in `Ok` or a typed error: a panic, an abort or a hang is a bug.
//!
//! Only the library's public API is used here: the file is compiled in crates that depend
//! on `ebpf_loader`, never inside it.

use ebpf_loader::btf::ext::BtfExt;
use ebpf_loader::btf::Btf;
use ebpf_loader::elf::ObjectSpec;

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
