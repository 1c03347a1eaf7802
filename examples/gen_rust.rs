//! `gen rust` through the library until the workbench binary has the subcommand: Rust
//! types and typed accessors for the maps, globals and named structs of an object, from
//! its BTF (`ebpf_loader::btf::gen_rust`), on stdout.
//!
//!     cargo run --example gen_rust -- bpf/main.bpf.o > src/tool/main_bpf.rs
//!
//! tcpconnect's own `src/tool/main_bpf.rs` is made so; `tests/all` fails when it is stale.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use ebpf_loader::btf::gen_rust;
use ebpf_loader::elf::ObjectSpec;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: gen_rust OBJECT.bpf.o")?;
    let bytes = std::fs::read(&path).with_context(|| format!("read {path}"))?;
    let spec = ObjectSpec::parse(&bytes).with_context(|| format!("parse {path}"))?;
    let btf = spec
        .btf
        .as_ref()
        .with_context(|| format!("{path} has no .BTF section"))?;
    let name = Path::new(&path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&path);
    let source = gen_rust::generate(btf, name).with_context(|| format!("gen rust {path}"))?;
    std::io::stdout().lock().write_all(source.as_bytes())?;
    Ok(())
}
