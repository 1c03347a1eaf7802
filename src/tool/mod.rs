//! tcpconnect's own modules, one job each, on the loader's public API only:
//!
//! | module | job |
//! |---|---|
//! | [`cli`] | the command line |
//! | [`trace`] | the pipeline in order: parse, configure, load, attach, read until stopped |
//! | [`tour`] | `--verbose`: what each step of the pipeline did, on stderr |
//! | [`main_bpf`] | the Rust types of `bpf/main.bpf.o`, generated from its BTF (`ebpf-loader gen rust bpf/main.bpf.o`); `tests/all` fails when it is stale |
//! | [`event`] | `struct data_t` and `struct flow_key` (from [`main_bpf`]) decoded, checked against the object's BTF |
//! | [`print`](mod@print) | BCC's columns and JSON lines, on stdout |
//! | [`count`] | count mode: the `counts` map read and printed as a table |
//! | [`signal`] | SIGINT and SIGTERM through a signalfd: when the loops of [`trace`] and [`count`] stop |
//! | [`container`] | which container a cgroup id names: its path, runtime, id, pod |
//! | [`select`] | the container filters in the kernel: `--cgroup`, `--cgroupmap`, `--mntnsmap` |
//! | [`features`] | `tcpconnect features`: what this kernel offers, and the path the tool takes |
//! | [`inspect`] | `tcpconnect inspect`: the loader's tour of an object |
//!
//! `load` (any object through the verifier, attached, its records decoded) is the
//! workbench's: `src/bin/ebpf-loader/`.

pub mod cli;
pub mod container;
pub mod count;
pub mod event;
// Generated: formatted as the generator writes it (tests/all compares it byte for byte),
// and with accessors the tool does not call.
#[rustfmt::skip]
#[allow(dead_code)]
pub mod main_bpf;
pub mod features;
pub mod inspect;
pub mod print;
pub mod select;
pub mod signal;
pub mod tour;
pub mod trace;

use std::borrow::Cow;
use std::path::Path;

use anyhow::{Context, Result};
use ebpf_loader::btf::kernel::KernelBtfError;
use ebpf_loader::btf::{self, Btf};

/// The object `bpf/Makefile` builds from `bpf/main.bpf.c` for the architecture this binary
/// is built *for* (`cfg(target_arch)`, never the build machine's: a kprobe's registers are
/// the target's), parsed where it lies: the parser reads unaligned input.
#[cfg(target_arch = "x86_64")]
pub static EMBEDDED_OBJECT: &[u8] = include_bytes!("../../bpf/main.bpf.o");
/// The object `bpf/Makefile` builds from `bpf/main.bpf.c` for the architecture this binary
/// is built *for* (`cfg(target_arch)`, never the build machine's: a kprobe's registers are
/// the target's), parsed where it lies: the parser reads unaligned input.
#[cfg(target_arch = "aarch64")]
pub static EMBEDDED_OBJECT: &[u8] = include_bytes!("../../bpf/main.arm64.bpf.o");

/// The object's bytes: the file at `path`, or the embedded object.
pub fn read_object(path: Option<&Path>) -> Result<Cow<'static, [u8]>> {
    match path {
        Some(path) => std::fs::read(path)
            .map(Cow::Owned)
            .with_context(|| format!("reading {}", path.display())),
        None => Ok(Cow::Borrowed(EMBEDDED_OBJECT)),
    }
}

/// The kernel's BTF: the file at `path` (raw BTF or an ELF with `.BTF`), or the running
/// kernel's.
pub fn kernel_btf(path: Option<&Path>) -> Result<Btf> {
    match path {
        Some(path) => Ok(btf::kernel::load_file(path)?.0),
        None => btf::kernel::load().map_err(|error| match error {
            KernelBtfError::NotAvailable { .. } => anyhow::anyhow!(
                "{error}; give a BTF file with --btf PATH (for older kernels: BTFHub's archive, \
                 github.com/aquasecurity/btfhub-archive, or `pahole --btf_encode_detached` on \
                 the kernel's vmlinux with debug info)"
            ),
            other => other.into(),
        }),
    }
}
