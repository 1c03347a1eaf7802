//! USDT probes as a binary declares them: user statically defined tracepoints, which a
//! program declares with `<sys/sdt.h>`'s `STAP_PROBE` / `DTRACE_PROBE` macros, read from
//! the binary's notes, and their arguments turned into what libbpf's `usdt.bpf.h` reads.
//! Pure: the attach step (`attach::usdt`) reads the file and places the uprobes.
//!
//! ABI: each probe is an ELF note (`.note.stapsdt`, owner `stapsdt`, type 3; SystemTap's
//! "UserSpaceProbeImplementation" wiki page describes it): the probe's address, the
//! address of `.stapsdt.base` at link time (to correct for prelinking), the semaphore's
//! address (0: none), each a word of the file's class (8 bytes, or 4 in a 32-bit file) in
//! its byte order, then `provider\0name\0arguments\0`. Each argument is `SIZE@LOCATION` in
//! the assembler's syntax (x86-64: `-4@%edi`, `8@-16(%rbp)`, `4@$5`); a negative size is a
//! signed value.
//!
//! The BPF side is libbpf's `usdt.bpf.h`: the program finds its probe's argument specs in
//! the array map `__bpf_usdt_specs` ([`USDT_SPECS_MAP`]), each a `struct __bpf_usdt_spec`
//! ([`usdt_spec_bytes`]): twelve `{u64 val_off; u32 arg_type; s16 reg_off; bool
//! arg_signed; s8 arg_bitshift}`, then `u64 usdt_cookie; s16 arg_cnt`. A register
//! argument names its register by its offset in `struct pt_regs` ([`reg_offset`]).

use std::fmt;

use super::target::{Executable, ExecutableError};

/// A USDT probe of a binary, as its note describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtProbe {
    /// The provider (`libc`).
    pub provider: String,
    /// The probe's name (`setjmp`).
    pub name: String,
    /// The probe's virtual address as linked (corrected for prelinking): in memory as is
    /// for an `ET_EXEC` binary, relative to where the file is mapped for an `ET_DYN` one.
    pub address: u64,
    /// Where the uprobe goes: the probe's offset in the file.
    pub file_offset: u64,
    /// The semaphore's offset in the file; 0 for a probe without one.
    pub semaphore_offset: u64,
    /// The arguments, as the note spells them (`-4@%edi 8@-16(%rbp)`).
    pub arguments: String,
}

impl UsdtProbe {
    /// The probe's arguments ([`parse_usdt_args`]), an error naming the probe.
    pub fn args(&self) -> Result<Vec<UsdtArg>, UsdtError> {
        parse_usdt_args(&self.arguments).map_err(|source| UsdtError::Arguments {
            probe: format!("{}:{}", self.provider, self.name),
            source,
        })
    }
}

/// `enum __bpf_usdt_arg_type`: where an argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdtArgKind {
    /// A constant (`4@$5`): the value is `val_off`.
    Const,
    /// A register (`8@%rax`): `reg_off` is its offset in `struct pt_regs`.
    Reg,
    /// Memory at a register plus `val_off` (`-4@-20(%rbp)`).
    RegDeref,
}

/// One argument, ready for `struct __bpf_usdt_arg_spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsdtArg {
    /// Where it is.
    pub kind: UsdtArgKind,
    /// The constant, or the offset from the register's value.
    pub val_off: u64,
    /// The register's offset in `struct pt_regs` ([`reg_offset`]).
    pub reg_off: i16,
    /// A signed value (negative size in the note).
    pub signed: bool,
    /// `64 - 8 * size`: the bits cleared (or sign-extended) to make a 64-bit value.
    pub bitshift: i8,
}

/// `BPF_USDT_MAX_ARG_CNT`.
pub const USDT_MAX_ARGS: usize = 12;
/// `sizeof(struct __bpf_usdt_spec)`.
pub const USDT_SPEC_SIZE: usize = 208;
/// The map of argument specs (`usdt.bpf.h`).
pub const USDT_SPECS_MAP: &str = "__bpf_usdt_specs";
/// The map from a probe's address to its spec id, for kernels without BPF cookies
/// (`usdt.bpf.h`).
pub const USDT_IP_MAP: &str = "__bpf_usdt_ip_to_spec_id";

/// The note section, its owner and its type.
const NOTE_SECTION: &str = ".note.stapsdt";
const NOTE_OWNER: &[u8] = b"stapsdt\0";
const NT_STAPSDT: u32 = 3;
/// The section whose link-time address the notes record, to detect prelinking.
const BASE_SECTION: &str = ".stapsdt.base";

/// Why a binary's USDT notes, or a probe's arguments, cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsdtError {
    /// The file itself (not ELF, a section outside the file).
    Executable(ExecutableError),
    /// A note's header, owner or descriptor runs past the end of `.note.stapsdt`.
    NoteTruncated {
        /// The note's byte offset in the section.
        offset: usize,
    },
    /// A `stapsdt` note whose descriptor is shorter than its three addresses.
    NoteTooShort {
        /// The note's byte offset in the section.
        offset: usize,
    },
    /// A probe's address, or its semaphore's, lies in no loaded segment of the file.
    NotInSegment {
        /// `provider:name`.
        probe: String,
        /// `true` for the semaphore, `false` for the probe itself.
        semaphore: bool,
        /// The virtual address.
        address: u64,
    },
    /// A probe's arguments cannot be read.
    Arguments {
        /// `provider:name`.
        probe: String,
        /// What is wrong with them.
        source: UsdtArgError,
    },
}

impl fmt::Display for UsdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsdtError::Executable(_) => f.write_str("reading the binary"),
            UsdtError::NoteTruncated { offset } => write!(
                f,
                "a note at byte {offset} runs past the end of {NOTE_SECTION}"
            ),
            UsdtError::NoteTooShort { offset } => write!(
                f,
                "the stapsdt note at byte {offset} is shorter than its three addresses"
            ),
            UsdtError::NotInSegment {
                probe,
                semaphore,
                address,
            } => write!(
                f,
                "probe {probe}: {} {address:#x} is in no segment",
                if *semaphore {
                    "its semaphore's address"
                } else {
                    "its address"
                }
            ),
            UsdtError::Arguments { probe, .. } => write!(f, "probe {probe}: its arguments"),
        }
    }
}

impl std::error::Error for UsdtError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UsdtError::Executable(source) => Some(source),
            UsdtError::Arguments { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ExecutableError> for UsdtError {
    fn from(error: ExecutableError) -> Self {
        UsdtError::Executable(error)
    }
}

/// Why an argument spec (`-4@%edi 8@-16(%rbp)`) cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsdtArgError {
    /// More arguments than `usdt.bpf.h` has slots for ([`USDT_MAX_ARGS`]).
    TooMany {
        /// How many the note gives.
        count: usize,
    },
    /// Not `SIZE@LOCATION` in a form read here.
    Syntax {
        /// The argument.
        arg: String,
    },
    /// A size other than 1, 2, 4 or 8 bytes (negative: signed).
    Size {
        /// The argument.
        arg: String,
    },
    /// A register that has no slot in `struct pt_regs` ([`reg_offset`]).
    UnknownRegister {
        /// The argument.
        arg: String,
        /// The register's name as the assembler writes it (`%xmm0`, `x31`).
        register: String,
    },
    /// `OFFSET(%base,%index,SCALE)`: no argument kind of `usdt.bpf.h` reads it.
    Indexed {
        /// The argument.
        arg: String,
    },
}

impl fmt::Display for UsdtArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsdtArgError::TooMany { count } => write!(
                f,
                "{count} arguments, more than the {USDT_MAX_ARGS} usdt.bpf.h takes"
            ),
            UsdtArgError::Syntax { arg } => write!(f, "argument {arg:?} is not SIZE@LOCATION"),
            UsdtArgError::Size { arg } => {
                write!(f, "argument {arg:?}: the size is not 1, 2, 4 or 8")
            }
            UsdtArgError::UnknownRegister { arg, register } => {
                write!(f, "argument {arg:?}: unknown register {register}")
            }
            UsdtArgError::Indexed { arg } => write!(
                f,
                "argument {arg:?}: an indexed location (base, index, scale) is not read by \
                 usdt.bpf.h's argument kinds"
            ),
        }
    }
}

impl std::error::Error for UsdtArgError {}

/// One note's header: `u32 namesz, descsz, type`, in the file's byte order.
fn note_header(data: &[u8], at: usize, little: bool) -> Option<[usize; 3]> {
    let field = |i: usize| -> Option<usize> {
        let start = at.checked_add(4 * i)?;
        let bytes: [u8; 4] = data.get(start..start.checked_add(4)?)?.try_into().ok()?;
        let value = if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        };
        usize::try_from(value).ok()
    };
    Some([field(0)?, field(1)?, field(2)?])
}

/// The `index`th address word of a descriptor: 8 bytes in a 64-bit file, 4 in a 32-bit
/// one, in the file's byte order.
fn address_word(desc: &[u8], index: usize, wide: bool, little: bool) -> Option<u64> {
    let size = if wide { 8 } else { 4 };
    let bytes = desc.get(index * size..(index + 1) * size)?;
    let mut word = [0u8; 8];
    if little {
        word.get_mut(..size)?.copy_from_slice(bytes);
        Some(u64::from_le_bytes(word))
    } else {
        word.get_mut(8 - size..)?.copy_from_slice(bytes);
        Some(u64::from_be_bytes(word))
    }
}

/// Every USDT probe of a binary (`.note.stapsdt`), with its addresses turned into file
/// offsets through the program headers. A binary without notes has none.
pub fn usdt_probes(exe: &Executable<'_>) -> Result<Vec<UsdtProbe>, UsdtError> {
    let Some((_, data)) = exe.section(NOTE_SECTION)? else {
        return Ok(Vec::new());
    };
    // Where .stapsdt.base really is, to correct addresses computed before prelinking.
    let base = exe.section(BASE_SECTION)?.map(|(address, _)| address);
    let (wide, little) = (exe.is_64(), exe.is_little_endian());
    let mut probes = Vec::new();
    let mut at = 0usize;
    // Each note: u32 namesz, u32 descsz, u32 type, name (padded to 4), desc (padded to 4).
    // A tail shorter than a note's header is padding, as libelf's `gelf_getnote` reads it.
    while data.len().saturating_sub(at) >= 12 {
        let truncated = UsdtError::NoteTruncated { offset: at };
        let [namesz, descsz, kind] = note_header(data, at, little).ok_or(truncated.clone())?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(namesz.next_multiple_of(4));
        let next = desc_at.and_then(|d| d.checked_add(descsz.next_multiple_of(4)));
        let owner = data.get(name_at..name_at.saturating_add(namesz));
        let desc = desc_at.and_then(|d| data.get(d..d.checked_add(descsz)?));
        let (Some(owner), Some(desc), Some(next)) = (owner, desc, next) else {
            return Err(truncated);
        };
        let offset = at;
        at = next;
        if owner != NOTE_OWNER || kind != NT_STAPSDT as usize {
            continue;
        }
        let word = |index| address_word(desc, index, wide, little);
        let (Some(pc), Some(note_base), Some(semaphore)) = (word(0), word(1), word(2)) else {
            return Err(UsdtError::NoteTooShort { offset });
        };
        let strings_at = if wide { 24 } else { 12 };
        let mut strings = desc
            .get(strings_at..)
            .unwrap_or_default()
            .split(|&b| b == 0);
        let mut text = || String::from_utf8_lossy(strings.next().unwrap_or_default()).into_owned();
        let (provider, name, arguments) = (text(), text(), text());
        let shift = |addr: u64| match base {
            Some(base) if note_base != 0 => addr.wrapping_add(base).wrapping_sub(note_base),
            _ => addr,
        };
        let not_in_segment = |semaphore, address| UsdtError::NotInSegment {
            probe: format!("{provider}:{name}"),
            semaphore,
            address,
        };
        let address = shift(pc);
        let file_offset = exe
            .file_offset(address)
            .ok_or_else(|| not_in_segment(false, address))?;
        let semaphore_offset = if semaphore == 0 {
            0
        } else {
            let address = shift(semaphore);
            exe.file_offset(address)
                .ok_or_else(|| not_in_segment(true, address))?
        };
        probes.push(UsdtProbe {
            provider,
            name,
            address,
            file_offset,
            semaphore_offset,
            arguments,
        });
    }
    Ok(probes)
}

/// The offset in `struct pt_regs` of the register the assembler of the architecture this
/// crate is built for names `name` (any width of it: x86-64's `rdi`, `edi`, `di`, `dil`;
/// arm64's `x0`, `w0`), `None` for a register `pt_regs` does not hold (`xmm0`). The table
/// is the architecture's ([`crate::arch`]).
pub fn reg_offset(name: &str) -> Option<i16> {
    (crate::arch::TARGET.pt_regs_offset)(name)
}

/// Reads the arguments of a note (`-4@%edi 8@-16(%rbp) 4@$5` on x86-64, `-4@x0
/// 8@[sp, 16]` on arm64) for the architecture this crate is built for, as libbpf's
/// `parse_usdt_arg` does.
pub fn parse_usdt_args(text: &str) -> Result<Vec<UsdtArg>, UsdtArgError> {
    parse_usdt_args_for(crate::arch::TARGET, text)
}

/// [`parse_usdt_args`] for the notes of `arch`'s binaries: the SIZE is the same everywhere,
/// the LOCATION is in the architecture's assembler syntax ([`crate::arch::Arch`]).
pub fn parse_usdt_args_for(
    arch: &crate::arch::Arch,
    text: &str,
) -> Result<Vec<UsdtArg>, UsdtArgError> {
    let args = split_usdt_args(text);
    if args.len() > USDT_MAX_ARGS {
        return Err(UsdtArgError::TooMany { count: args.len() });
    }
    args.iter().map(|arg| parse_usdt_arg(arch, arg)).collect()
}

/// The arguments of a note, split at the spaces between them but not at those inside
/// brackets (arm64's `-4@[sp, 16]` is one argument).
fn split_usdt_args(text: &str) -> Vec<&str> {
    let mut args = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    for (at, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(from) = start.take() {
                    args.push(text.get(from..at).unwrap_or_default());
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(at);
    }
    if let Some(from) = start {
        args.push(text.get(from..).unwrap_or_default());
    }
    args
}

/// One `SIZE@LOCATION`.
fn parse_usdt_arg(arch: &crate::arch::Arch, arg: &str) -> Result<UsdtArg, UsdtArgError> {
    use crate::arch::{ArgLocation, LocationError};
    let syntax = || UsdtArgError::Syntax {
        arg: arg.to_string(),
    };
    let (size, location) = arg.split_once('@').ok_or_else(syntax)?;
    let size: i32 = size.parse().map_err(|_| syntax())?;
    // `unsigned_abs`: `i32::MIN.abs()` overflows.
    let bytes = size.unsigned_abs();
    if !matches!(bytes, 1 | 2 | 4 | 8) {
        return Err(UsdtArgError::Size {
            arg: arg.to_string(),
        });
    }
    let (signed, bitshift) = (size < 0, 64 - 8 * bytes as i8);
    let spec = |kind, val_off: i64, reg_off| UsdtArg {
        kind,
        val_off: val_off as u64,
        reg_off,
        signed,
        bitshift,
    };
    match (arch.usdt_location)(location) {
        Ok(ArgLocation::Const(value)) => Ok(spec(UsdtArgKind::Const, value, 0)),
        Ok(ArgLocation::Reg(reg)) => Ok(spec(UsdtArgKind::Reg, 0, reg)),
        Ok(ArgLocation::Deref { reg, offset }) => Ok(spec(UsdtArgKind::RegDeref, offset, reg)),
        Err(LocationError::Syntax) => Err(syntax()),
        Err(LocationError::UnknownRegister(register)) => Err(UsdtArgError::UnknownRegister {
            arg: arg.to_string(),
            register,
        }),
        Err(LocationError::Unsupported) => Err(UsdtArgError::Indexed {
            arg: arg.to_string(),
        }),
    }
}

/// `struct __bpf_usdt_spec` for these arguments, as the map `__bpf_usdt_specs` holds it.
pub fn usdt_spec_bytes(args: &[UsdtArg], cookie: u64) -> [u8; USDT_SPEC_SIZE] {
    let mut spec = [0u8; USDT_SPEC_SIZE];
    for (slot, arg) in spec
        .chunks_exact_mut(16)
        .zip(args.iter().take(USDT_MAX_ARGS))
    {
        slot[..8].copy_from_slice(&arg.val_off.to_ne_bytes());
        let kind: u32 = match arg.kind {
            UsdtArgKind::Const => 0,
            UsdtArgKind::Reg => 1,
            UsdtArgKind::RegDeref => 2,
        };
        slot[8..12].copy_from_slice(&kind.to_ne_bytes());
        slot[12..14].copy_from_slice(&arg.reg_off.to_ne_bytes());
        slot[14] = u8::from(arg.signed);
        slot[15] = arg.bitshift as u8;
    }
    spec[192..200].copy_from_slice(&cookie.to_ne_bytes());
    let count = args.len().min(USDT_MAX_ARGS) as i16;
    spec[200..202].copy_from_slice(&count.to_ne_bytes());
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{AARCH64, X86_64};

    /// x86-64's notes, whatever this crate is built for.
    fn x86(text: &str) -> Result<Vec<UsdtArg>, UsdtArgError> {
        parse_usdt_args_for(&X86_64, text)
    }

    #[test]
    fn x86_64_argument_specs_are_read_as_libbpf_reads_them() {
        let args = x86("-4@%edi 8@-16(%rbp) 4@$5 -2@(%rax) 1@%r9b").unwrap();
        let arg = |kind, val_off, reg_off, signed, bitshift| UsdtArg {
            kind,
            val_off,
            reg_off,
            signed,
            bitshift,
        };
        use UsdtArgKind::*;
        assert_eq!(
            args,
            [
                arg(Reg, 0, 112, true, 32),
                arg(RegDeref, (-16i64) as u64, 32, false, 0),
                arg(Const, 5, 0, false, 32),
                arg(RegDeref, 0, 80, true, 48),
                arg(Reg, 0, 64, false, 56),
            ]
        );
        assert_eq!(x86("").unwrap(), []);
    }

    /// A register argument (`reg_off`) or one in memory at a register plus `val_off`.
    fn reg(reg_off: i16, size: i32) -> UsdtArg {
        UsdtArg {
            kind: UsdtArgKind::Reg,
            val_off: 0,
            reg_off,
            signed: size < 0,
            bitshift: (64 - 8 * size.abs()) as i8,
        }
    }
    fn mem(reg_off: i16, val_off: i64, size: i32) -> UsdtArg {
        UsdtArg {
            kind: UsdtArgKind::RegDeref,
            val_off: val_off as u64,
            ..reg(reg_off, size)
        }
    }
    fn constant(value: i64, size: i32) -> UsdtArg {
        UsdtArg {
            kind: UsdtArgKind::Const,
            val_off: value as u64,
            ..reg(0, size)
        }
    }

    /// The notes GCC wrote into an arm64 binary (tests/data/usdt-arm64: `probe_args(1, -3,
    /// 200, &p, -5)` with `p = {7, -9}`, two probes), read with arm64's syntax:
    /// `user_pt_regs` has `x0`..`x30` at 8 * N and `sp` at 248.
    #[test]
    fn arm64_notes_from_gcc_are_read_as_libbpf_reads_them() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/usdt-arm64/");
        let notes = |name: &str| {
            let elf = std::fs::read(format!("{data}{name}")).expect("committed test binary");
            let exe = Executable::parse(&elf).expect("an arm64 executable");
            let probes = usdt_probes(&exe).expect("the notes parse");
            probes
                .iter()
                .map(|probe| {
                    let args = parse_usdt_args_for(&AARCH64, &probe.arguments);
                    (probe.name.clone(), probe.arguments.clone(), args)
                })
                .collect::<Vec<_>>()
        };
        // -O0: everything spilled to the stack first (`-4@[sp, 28]`, with its space).
        let o0 = notes("probes-O0");
        assert_eq!(o0.len(), 2);
        assert_eq!(o0[0].0, "args");
        assert_eq!(
            o0[0].1,
            "-4@[sp, 28] -8@[sp, 16] 1@[sp, 27] -8@x0 -2@[sp, 24]"
        );
        assert_eq!(
            o0[0].2,
            Ok(vec![
                mem(248, 28, -4),
                mem(248, 16, -8),
                mem(248, 27, 1),
                reg(0, -8),
                mem(248, 24, -2),
            ])
        );
        assert_eq!(
            (o0[1].0.as_str(), o0[1].1.as_str()),
            ("stack", "-4@x1 -4@x0 -4@42")
        );
        assert_eq!(o0[1].2, Ok(vec![reg(8, -4), reg(0, -4), constant(42, -4)]));
        // -O2: the arguments' own registers, and memory behind one (`p->b`, `p->a`).
        let o2 = notes("probes-O2");
        assert_eq!(o2.len(), 2);
        assert_eq!(o2[0].1, "-4@x0 -8@x1 1@x2 -8@[x3, 8] -2@x4");
        assert_eq!(
            o2[0].2,
            Ok(vec![
                reg(0, -4),
                reg(8, -8),
                reg(16, 1),
                mem(24, 8, -8),
                reg(32, -2)
            ])
        );
        assert_eq!(o2[1].1, "-4@x1 -4@[x3] -4@42");
        assert_eq!(
            o2[1].2,
            Ok(vec![reg(8, -4), mem(24, 0, -4), constant(42, -4)])
        );
        // The same text is no x86-64 location, and x86-64's is none of arm64's.
        let arg = |s: &str| s.to_string();
        assert_eq!(
            x86("-4@x0"),
            Err(UsdtArgError::Syntax { arg: arg("-4@x0") })
        );
        assert_eq!(
            parse_usdt_args_for(&AARCH64, "8@%rdi"),
            Err(UsdtArgError::Syntax { arg: arg("8@%rdi") })
        );
        assert_eq!(
            parse_usdt_args_for(&AARCH64, "8@[x31, 8]"),
            Err(UsdtArgError::UnknownRegister {
                arg: arg("8@[x31, 8]"),
                register: arg("x31")
            })
        );
    }

    #[test]
    fn what_cannot_be_read_is_named() {
        let arg = |s: &str| s.to_string();
        assert_eq!(
            x86("3@%eax"),
            Err(UsdtArgError::Size { arg: arg("3@%eax") })
        );
        assert_eq!(
            x86("8@%xmm0"),
            Err(UsdtArgError::UnknownRegister {
                arg: arg("8@%xmm0"),
                register: arg("%xmm0")
            })
        );
        assert_eq!(
            x86("8@(%rax,%rbx,8)"),
            Err(UsdtArgError::Indexed {
                arg: arg("8@(%rax,%rbx,8)")
            })
        );
        assert_eq!(
            x86("8@rax"),
            Err(UsdtArgError::Syntax { arg: arg("8@rax") })
        );
        assert_eq!(
            x86(&"1@$1 ".repeat(13)),
            Err(UsdtArgError::TooMany { count: 13 })
        );
        // The smallest i32 as a size: its absolute value does not fit an i32 (a panic
        // before `unsigned_abs`), and it is no size.
        assert_eq!(
            x86("-2147483648@%eax"),
            Err(UsdtArgError::Size {
                arg: arg("-2147483648@%eax")
            })
        );
        assert_eq!((X86_64.pt_regs_offset)("r15"), Some(0));
        assert_eq!((X86_64.pt_regs_offset)("RAX"), None);
    }

    #[test]
    fn a_spec_is_laid_out_as_struct_bpf_usdt_spec() {
        let args = x86("-4@%edi 8@$7").unwrap();
        let spec = usdt_spec_bytes(&args, 0x1234);
        // args[0]: val_off 0, arg_type REG (1), reg_off 112, signed, bitshift 32.
        assert_eq!(
            &spec[..16],
            &[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 112, 0, 1, 32]
        );
        // args[1]: the constant 7, CONST (0), unsigned, no shift.
        assert_eq!(
            &spec[16..32],
            &[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(&spec[192..200], &0x1234u64.to_ne_bytes());
        assert_eq!(&spec[200..202], &2i16.to_ne_bytes());
    }

    /// A probe in this test binary, declared as `<sys/sdt.h>`'s `STAP_PROBE1` would.
    #[inline(never)]
    fn probe_here(x: i64) {
        // SAFETY: one `nop` and a note in other sections (`stap_probe!`).
        unsafe { ebpf_testkit::stap_probe!("unit", "here", "8@{x}", x = in(reg) x) };
    }

    #[test]
    fn a_probe_of_this_binary_is_found_at_its_nop() {
        probe_here(1);
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let exe = Executable::parse(&bytes).unwrap();
        let probes = usdt_probes(&exe).unwrap();
        let probe = probes
            .iter()
            .find(|p| p.provider == "unit" && p.name == "here")
            .expect("unit:here in this binary's notes");
        // The offset is the `nop` (0x90) the note names.
        assert_eq!(bytes.get(probe.file_offset as usize), Some(&0x90));
        assert_eq!(probe.semaphore_offset, 0);
        let args = probe.args().unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].kind, UsdtArgKind::Reg);
    }

    /// The bytes of one note: header, owner, descriptor, each padded to 4.
    fn note(owner: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut note = Vec::new();
        for field in [owner.len() as u32, desc.len() as u32, kind] {
            note.extend_from_slice(&field.to_le_bytes());
        }
        for part in [owner, desc] {
            note.extend_from_slice(part);
            note.resize(note.len().next_multiple_of(4), 0);
        }
        note
    }

    #[test]
    fn note_words_follow_the_files_class_and_byte_order() {
        let desc: Vec<u8> = (1..=8).collect();
        assert_eq!(address_word(&desc, 0, true, true), Some(0x0807060504030201));
        assert_eq!(
            address_word(&desc, 0, true, false),
            Some(0x0102030405060708)
        );
        assert_eq!(address_word(&desc, 1, false, true), Some(0x08070605));
        assert_eq!(address_word(&desc, 1, false, false), Some(0x05060708));
        assert_eq!(address_word(&desc, 1, true, true), None);
        let bytes = note(b"stapsdt\0", 3, &[0; 24]);
        assert_eq!(note_header(&bytes, 0, true), Some([8, 24, 3]));
        assert_eq!(note_header(&bytes, bytes.len() - 8, true), None);
    }
}
