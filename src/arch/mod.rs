//! The architecture: everything the loader knows that differs between the CPUs it runs on,
//! one small file per architecture, and [`TARGET`], the one this crate is compiled *for*
//! (`cfg(target_arch)`, never the build machine's: an arm64 binary cross-built on x86-64
//! reads arm64's registers).
//!
//! ABI: each file names its kernel headers. Three things differ, as in libbpf
//! (`tools/lib/bpf/usdt.c`'s `parse_usdt_arg` and `calc_pt_regs_off` per architecture,
//! `libbpf.c`'s `arch_specific_syscall_pfx`, `bpf_tracing.h`'s `__TARGET_ARCH_*` blocks):
//!
//! - the registers a kprobe or uprobe sees, `struct pt_regs`: where each one is, for the
//!   USDT argument specs (`usdt.bpf.h` reads `ctx + reg_off`);
//! - the assembler's spelling of a USDT argument's location in a `.note.stapsdt` note
//!   (x86-64: `8@%rdi`, `-4@-20(%rbp)`, `4@$5`; arm64: `8@x0`, `-4@[sp, 16]`, `4@5`);
//! - the prefix of the kernel's system call wrappers (`__x64_sys_bpf`, `__arm64_sys_bpf`),
//!   which `ksyscall/NAME` programs attach to (whether the running kernel has them is
//!   probed: [`crate::features::syscall_wrapper`]).
//!
//! Adding an architecture is one file that fills an [`Arch`], and one line below. The
//! module is pure: parsing a location never panics, whatever the text.

mod aarch64;
mod x86_64;

pub use aarch64::AARCH64;
pub use x86_64::X86_64;

/// What the loader needs to know about one architecture.
#[derive(Debug)]
pub struct Arch {
    /// Rust's name of it (`target_arch`): `x86_64`, `aarch64`.
    pub name: &'static str,
    /// The prefix of the kernel's system call wrappers: the `x64` of `__x64_sys_bpf`
    /// (libbpf's `arch_specific_syscall_pfx`).
    pub syscall_prefix: &'static str,
    /// Debian's multiarch directory name, where its shared libraries are
    /// (`/usr/lib/x86_64-linux-gnu`), for uprobes on a library named without a path.
    pub multiarch: &'static str,
    /// The offset in `struct pt_regs` of the register the assembler calls `name` (any
    /// width of it: `rdi`, `edi`, `di`, `dil`), `None` for a name it does not know.
    pub pt_regs_offset: fn(name: &str) -> Option<i16>,
    /// The LOCATION of a USDT argument (`SIZE@LOCATION`), in this architecture's
    /// assembler syntax.
    pub usdt_location: fn(text: &str) -> Result<ArgLocation, LocationError>,
}

/// Where a USDT argument is, as the note says (libbpf's `enum __bpf_usdt_arg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgLocation {
    /// A constant.
    Const(i64),
    /// A register: its offset in `struct pt_regs`.
    Reg(i16),
    /// Memory at a register (its offset in `struct pt_regs`) plus `offset`.
    Deref {
        /// The register's offset in `struct pt_regs`.
        reg: i16,
        /// Added to the register's value.
        offset: i64,
    },
}

/// Why a USDT argument's location could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationError {
    /// Not a location of this architecture's syntax.
    Syntax,
    /// A register name this architecture does not have (or `pt_regs` does not hold).
    UnknownRegister(String),
    /// A form usdt.bpf.h cannot read (x86-64's `(base, index, scale)`).
    Unsupported,
}

impl std::fmt::Display for LocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocationError::Syntax => write!(f, "not a location of {}'s syntax", TARGET.name),
            LocationError::UnknownRegister(name) => write!(f, "unknown register {name}"),
            LocationError::Unsupported => write!(
                f,
                "an indexed location (base, index, scale) is not read by usdt.bpf.h's \
                 argument kinds"
            ),
        }
    }
}

impl std::error::Error for LocationError {}

/// The architecture this crate is compiled for.
#[cfg(target_arch = "x86_64")]
pub const TARGET: &Arch = &X86_64;
/// The architecture this crate is compiled for.
#[cfg(target_arch = "aarch64")]
pub const TARGET: &Arch = &AARCH64;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("no src/arch/ file for this target architecture: add one (see src/arch/mod.rs)");

/// A signed decimal or `0x` hexadecimal integer, as assemblers print offsets and
/// constants (`-16`, `0x10`).
fn integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i64>().ok()?,
    };
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}
