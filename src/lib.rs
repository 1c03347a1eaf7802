//! A pure-Rust eBPF loader, written from scratch: every byte between the clang-built
//! object file and the kernel is produced here, in modules that follow the pipeline.
//!
//! ```text
//!  bytes ──► elf::ObjectSpec ──► relocated programs ──► kernel objects ──► events
//!           (elf, btf, insn)     (elf::reloc, btf::core)  (syscall, load,    (perf)
//!                                                          attach)
//! ```
//!
//! The first half (`insn`, `btf`, `elf`) is pure: it never makes a system call, never
//! panics on any input, and is fuzzed. The second half (`syscall`, `load`, `attach`,
//! `perf`) is thin and is where all `unsafe` lives.
//!
//! Reading order, the pipeline's:
//! 1. [`insn`]: the 8-byte instruction, and [`insn::disasm`] to read it;
//! 2. [`btf`]: types (`.BTF`), their annotations (`.BTF.ext`), the kernel's own BTF, and
//!    CO-RE ([`btf::core`]);
//! 3. [`elf`]: the object file as an [`elf::ObjectSpec`]; [`elf::reloc`] links and
//!    relocates a program;
//! 4. [`syscall`]: `bpf(2)` and `perf_event_open(2)`, typed;
//! 5. [`load`]: maps, BTF and programs made into kernel objects;
//! 6. [`attach`]: kprobes and tracepoints;
//! 7. [`perf`]: the rings the programs write events into;
//! 8. [`event`], [`output`], [`inspect`]: what tcpconnect makes of it all.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod insn;

pub mod btf;

pub mod elf;

pub mod syscall;

pub mod load;

pub mod attach;

/// What the running kernel offers, probed (memlock accounting, BTF kinds, ...).
pub mod features;

pub mod perf;

pub mod event;
pub mod inspect;
pub mod output;

#[doc(hidden)]
pub mod fuzz;
