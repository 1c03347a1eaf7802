//! `btf dump` through the library until the workbench binary has the subcommand: writes
//! the BTF of FILE (default the running kernel's, `/sys/kernel/btf/vmlinux`; an object's
//! `.BTF` section when FILE is an ELF object) as a C header on stdout, like
//! `bpftool btf dump file FILE format c`. With `--type NAME...`, only those types and what
//! they need.
//!
//!     cargo run --example btf_dump -- /sys/kernel/btf/vmlinux > vmlinux.h
//!     cargo run --example btf_dump -- /sys/kernel/btf/vmlinux --type task_struct

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use ebpf_loader::btf::{dump_c, kernel, Btf};
use ebpf_loader::elf::ObjectSpec;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, names) = match args.iter().position(|a| a == "--type") {
        Some(at) => (args[..at].first().cloned(), args[at + 1..].to_vec()),
        None => (args.first().cloned(), Vec::new()),
    };
    let file = file.unwrap_or_else(|| "/sys/kernel/btf/vmlinux".to_string());
    let btf = load(Path::new(&file))?;
    let header = if names.is_empty() {
        dump_c::header(&btf)
    } else {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        dump_c::header_of(&btf, &names)
    }
    .with_context(|| format!("btf dump {file}"))?;
    std::io::stdout().lock().write_all(header.as_bytes())?;
    Ok(())
}

/// Raw BTF (a kernel's), or the `.BTF` of an ELF object.
fn load(path: &Path) -> anyhow::Result<Btf> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    if bytes.starts_with(b"\x7fELF") {
        let spec =
            ObjectSpec::parse(&bytes).with_context(|| format!("parse {}", path.display()))?;
        return spec
            .btf
            .with_context(|| format!("{} has no .BTF section", path.display()));
    }
    if path.starts_with("/sys/kernel/btf") && path.file_name() == Some("vmlinux".as_ref()) {
        return Ok(kernel::load_file(path)?.0);
    }
    Ok(Btf::parse(bytes)?)
}
