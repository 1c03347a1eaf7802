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

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod attach;
pub mod btf;
pub mod elf;
pub mod event;
#[doc(hidden)]
pub mod fuzz;
pub mod insn;
pub mod inspect;
pub mod load;
pub mod output;
pub mod perf;
pub mod syscall;
