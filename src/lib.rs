//! A pure-Rust eBPF loader, written from scratch: every byte between the clang-built
//! object file and the kernel is produced here, in modules that follow the pipeline.
//!
//! ```text
//!  bytes ──► elf::ObjectSpec ──► relocated programs ──► kernel objects ──► events
//!           (elf, btf, insn)     (elf::reloc, btf::core)  (load, attach)     (perf)
//! ```
//!
//! The first half (`uapi`, `insn`, `pod`, `btf`, `elf`, `inspect`) is pure: it never panics on
//! any input and is fuzzed; its one I/O is reading the kernel's BTF file (`btf::kernel`,
//! which maps it with `mmap`). The second half (`features`, `load`, `attach`, `perf`,
//! `ringbuf`, `records`) is thin: it makes the system calls through a private `syscall`
//! module, and hands out handles that own their fds. `unsafe` lives where the kernel is
//! touched: the system calls, and the `mmap`s of the perf rings, the ring buffers and the
//! kernel's BTF.
//!
//! The modules import one way, in the order below (`load` knows nothing of attaching;
//! `attach` takes a loaded [`load::Program`]); `tests/architecture.rs` checks it
//! (`docs/architecture.md`, "Layers").
//!
//! Reading order, the pipeline's (the book, `docs/README.md`, walks it with real output;
//! the layers above are the order of imports, not of reading):
//! 1. [`elf`]: the object file as an [`elf::ObjectSpec`] (sections, maps, programs, globals);
//!    [`inspect`] tells the whole of it for any object, as text;
//! 2. [`elf::reloc`]: a program linked with its subprograms and its map references
//!    relocated; [`insn`] is the 8-byte instruction they rewrite ([`insn::disasm`] to
//!    read it);
//! 3. [`btf`]: types (`.BTF`), their annotations (`.BTF.ext`), the kernel's own BTF, and
//!    CO-RE ([`btf::core`]), which fits field offsets to the running kernel;
//! 4. [`load`]: maps, BTF and programs made into kernel objects, as [`load::Map`] and
//!    [`load::Program`] handles ([`features`]: what the running kernel offers, probed);
//! 5. [`attach`]: one file per way of attaching, each taking a loaded program and giving
//!    an [`attach::Link`];
//! 6. [`perf`] and [`ringbuf`]: the rings the programs write records into, and
//!    [`records`], one reader for either.
//!
//! Met on the way, read when needed: [`uapi`] (the kernel's numbers), [`pod`] (Rust types
//! that are the bytes of C types, checked by [`btf::layout`]), [`arch`] (what differs
//! between CPUs). Skipped on a first reading: USDT ([`elf::usdt`], [`attach::usdt`]),
//! netlink and tc, kconfig and gzip, externs, kernel modules' BTF, struct_ops.
//!
//! ```no_run
//! use ebpf_loader::{elf::ObjectSpec, load::{HashMap, LoadOptions, Object, PerfEventArray}};
//! use ebpf_loader::{attach::{self, AttachOptions}, perf::PerfReaderOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("bpf/main.bpf.o")?;
//! let mut spec = ObjectSpec::parse(&bytes)?;
//! spec.set_global("filter_pid", &4242u32)?; // checked against the variable's BTF type
//! // CO-RE against the running kernel's BTF, the default `TargetBtf`.
//! let object = Object::load(&spec, &LoadOptions::default())?;
//! let program = object.program("inet_sock_set_state").unwrap();
//! let _link = attach::by_section(program, &AttachOptions::default())?;
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

pub mod arch;

pub mod uapi;

pub mod insn;

pub mod pod;

mod sort;

pub mod btf;

pub mod elf;

pub mod inspect;

mod syscall;

pub mod features;

pub mod load;

pub mod attach;

pub mod perf;

pub mod ringbuf;

pub mod records;

pub use syscall::SysError;
