//! Test support for the `ebpf_loader` crate, kept out of the shipped library: builders
//! that write the bytes the loader reads, so tests can make exactly the input they need
//! (well-formed or broken in one chosen way).
//!
//! - [`elf::ElfWriter`]: a relocatable ELF64 object, section by section (the System V
//!   gABI, `include/uapi/linux/elf.h`);
//! - [`perf::FakeRing`]: a `perf_event_mmap_page` and its data area in plain memory, with
//!   a writer that plays the kernel (`include/uapi/linux/perf_event.h`);
//! - [`AlignedBytes`]: 8-byte aligned memory for any ring reader under test;
//! - [`stap_probe!`]: a USDT probe (`.note.stapsdt`) in the test binary itself.
//!
//! The builders write what they are told and check nothing: broken input is what many
//! tests need. They do not depend on the library; the kernel numbers they write are
//! copied here from the headers above. (BTF is written by the library's own
//! `btf::build::BtfBuilder`: the kernel feature probes need it too.)

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aligned;
pub mod elf;
pub mod perf;
mod usdt;

pub use aligned::AlignedBytes;
