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
//! 2. [`insn`]: the 8-byte instruction, and [`insn::disasm`] to read it; [`pod`]: plain
//!    data, the Rust types that are the bytes of C types (checked by [`btf::layout`]);
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
//! use ebpf_loader::{elf::ObjectSpec, load::{HashMap, LoadOptions, Object, PerfEventArray}};
//! use ebpf_loader::{attach::AttachOptions, perf::PerfReaderOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("bpf/main.bpf.o")?;
//! let mut spec = ObjectSpec::parse(&bytes)?;
//! spec.set_global("filter_pid", &4242u32)?; // checked against the variable's BTF type
//! // CO-RE against the running kernel's BTF, the default `TargetBtf`.
//! let object = Object::load(&spec, &LoadOptions::default())?;
//! let _link = object.program("inet_sock_set_state").unwrap().attach(&AttachOptions::default())?;
//! // Typed views, checked once against the map's sizes and BTF types.
//! let counts: HashMap<[u8; 36], u64> = object.typed_map("counts")?;
//! let events: PerfEventArray = object.typed_map("events")?;
//! let mut reader = events.reader(&PerfReaderOptions::default())?;
//! // A sample as a `Pod` type: at most the kernel's 7 bytes of padding longer.
//! reader.poll(None, |event| println!("{:?}", event.read::<[u8; 16]>()))?;
//! # Ok(()) }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod uapi;

pub mod insn;

pub mod pod;

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
