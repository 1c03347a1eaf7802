//! The real-world objects of `shared/corpus` (libbpf-tools, libbpf-bootstrap), for the
//! tests that load or run them. The corpus sits beside the project (`../shared/corpus`),
//! or beside a parent folder for a worktree; the VM guests have none: those tests then say
//! so and do nothing.
#![allow(dead_code)] // each test crate uses a part

use std::path::{Path, PathBuf};

use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};

/// `shared/corpus/PATH` from the nearest folder above the project that has it; `None`
/// (and a line saying so) where there is none.
pub fn object(path: &str) -> Option<PathBuf> {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/corpus").join(path))
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("no shared/corpus/{path}: nothing to test");
    }
    found
}

/// Loads the programs named of the object at `path` (all of them when none are named),
/// CO-RE against the running kernel's BTF, as a C tool's skeleton would.
pub fn load(path: &Path, programs: &[&str]) -> Object {
    let spec = ObjectSpec::parse(&std::fs::read(path).unwrap()).unwrap();
    let kernel = btf::kernel::load().unwrap();
    Object::load(
        &spec,
        &LoadOptions {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            ..LoadOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}
