//! `btf dump` and `gen rust`: source text generated from BTF by the library's pure
//! generators, [`ebpf_loader::btf::dump_c`] (libbpf's `btf_dump.c`, what bpftool's
//! `btf dump ... format c` prints) and [`ebpf_loader::btf::gen_rust`] (what libbpf-cargo's
//! and bpf2go's generators are to their loaders). Nothing here touches the kernel.

use std::path::Path;

use anyhow::{Context, Result};
use ebpf_loader::btf::{self, dump_c, gen_rust, Btf};
use ebpf_loader::elf::ObjectSpec;

use super::write_stdout;

/// `btf dump [FILE] [--type NAME]...`: the types of `file` (raw BTF, or an ELF object's
/// `.BTF`; default the running kernel's) as a C header on stdout; with names, only those
/// types and what they need.
pub fn btf_dump(file: Option<&Path>, types: &[String]) -> Result<()> {
    let (btf, what) = match file {
        Some(path) => (btf::kernel::load_file(path)?.0, path.display().to_string()),
        None => (
            btf::kernel::load().context("this kernel's BTF (give a FILE to dump another)")?,
            btf::kernel::VMLINUX_BTF.to_string(),
        ),
    };
    let header = if types.is_empty() {
        dump_c::header(&btf)
    } else {
        let names: Vec<&str> = types.iter().map(String::as_str).collect();
        dump_c::header_of(&btf, &names)
    }
    .with_context(|| format!("btf dump of {what}"))?;
    write_stdout(&header)
}

/// `gen rust OBJECT`: Rust source for the object's types, maps and globals on stdout. The
/// BTF is the object's as parsed for loading (its `DATASEC` offsets fixed up from the symbol
/// table, as at load), so the globals' layout is the one the kernel will hold.
pub fn gen_rust(object: &Path) -> Result<()> {
    let bytes = std::fs::read(object).with_context(|| format!("reading {}", object.display()))?;
    let spec = ObjectSpec::parse(&bytes).with_context(|| format!("{}", object.display()))?;
    let btf: &Btf = spec.btf.as_ref().with_context(|| {
        format!(
            "{} has no .BTF section (build it with clang -g)",
            object.display()
        )
    })?;
    let name = object
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("object");
    let source = gen_rust::generate(btf, name)
        .with_context(|| format!("gen rust of {}", object.display()))?;
    write_stdout(&source)
}
