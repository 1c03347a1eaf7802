//! A pure-Rust eBPF loader, written from scratch: every byte between the clang-built
//! object file and the kernel is produced here, in modules that follow the pipeline.
//!
//! ```text
//!  bytes ──► elf::ObjectSpec ──► relocated programs ──► kernel objects ──► events
//!           (elf, btf, insn)     (elf::reloc, btf::core)  (load, attach)     (perf)
//! ```
//!
//! The first half (`uapi`, `insn`, `btf`, `elf`) is pure: it never panics on any input
//! and is fuzzed; its one I/O is reading the kernel's BTF file (`btf::kernel`, which maps
//! it with `mmap`). The second half (`load`, `attach`, `perf`, `ringbuf`) is thin: it makes the
//! system calls through a private `syscall` module, and hands out handles that own
//! their fds. `unsafe` lives where the kernel is touched: the system calls, and the
//! `mmap`s of the perf rings, the ring buffers and the kernel's BTF.
//!
//! Reading order, the pipeline's:
//! 1. [`uapi`]: the kernel's numbers (map, program and attach types, flags);
//! 2. [`insn`]: the 8-byte instruction, and [`insn::disasm`] to read it;
//! 3. [`btf`]: types (`.BTF`), their annotations (`.BTF.ext`), the kernel's own BTF, and
//!    CO-RE ([`btf::core`]);
//! 4. [`elf`]: the object file as an [`elf::ObjectSpec`]; [`elf::reloc`] links and
//!    relocates a program; the executables uprobes and USDT name ([`elf::target`],
//!    [`elf::usdt`]);
//! 5. [`load`]: maps, BTF and programs made into kernel objects, as [`load::Map`] and
//!    [`load::Program`] handles;
//! 6. [`attach`]: kprobes, tracepoints, raw tracepoints, uprobes, perf events, as
//!    [`attach::Link`]s; [`features`]: what the running kernel offers, probed (and the
//!    memlock limit raised where the kernel still charges it);
//! 7. [`perf`] and [`ringbuf`]: the rings the programs write records into, and
//!    [`records`], one reader for either;
//! 8. [`inspect`]: the whole of it told for any object, as text.
//!
//! ```no_run
//! use ebpf_loader::{btf, elf::ObjectSpec, load::{LoadOptions, Object}};
//! use ebpf_loader::{attach::AttachOptions, perf::{PerfReader, PerfReaderOptions}};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("bpf/main.bpf.o")?;
//! let spec = ObjectSpec::parse(&bytes)?;
//! let kernel = btf::kernel::load()?;
//! let object = Object::load(&spec, &LoadOptions { target_btf: Some(&kernel), ..Default::default() })?;
//! let _link = object.program("inet_sock_set_state").unwrap().attach(&AttachOptions::default())?;
//! let mut reader = PerfReader::open(object.map("events").unwrap(), &PerfReaderOptions::default())?;
//! reader.poll(None, |event| println!("{event:?}"))?;
//! # Ok(()) }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod uapi;

pub mod insn;

pub mod btf;

pub mod elf;

mod syscall;

pub mod load;

pub mod attach;

pub mod features;

pub mod perf;

pub mod ringbuf;

pub mod records;

pub mod inspect;

pub use syscall::SysError;
