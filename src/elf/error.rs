//! Why an object file could not be read: [`ParseError`], each variant naming where the
//! problem is (section, symbol, instruction, byte offset), with the detail of a bad map
//! ([`MapProblem`]), a bad relocation record ([`RelocProblem`]) or bad BTF as its
//! [`source`](std::error::Error::source). Relocating a parsed program has its own error,
//! [`RelocError`](super::RelocError), in `reloc.rs`.

use std::fmt;

use crate::btf::BtfError;

/// Why [`ObjectSpec::parse`](super::ObjectSpec::parse) rejected the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than an ELF header, or without the `\x7fELF` magic.
    NotElf,
    /// `EI_CLASS` is not `ELFCLASS64`: eBPF objects are 64-bit.
    Not64Bit {
        /// `e_ident[EI_CLASS]` as read (1: `ELFCLASS32`).
        class: u8,
    },
    /// `EI_DATA` is not the host's byte order (or not a byte order at all).
    ByteOrder {
        /// `e_ident[EI_DATA]` as read (1: little-endian, 2: big-endian).
        data: u8,
    },
    /// `e_machine` is neither `EM_BPF` (247) nor `EM_NONE` (0, very old LLVM).
    WrongMachine {
        /// `e_machine` as read from the ELF header.
        machine: u16,
    },
    /// `e_type` is not `ET_REL`: the loader reads the relocatable objects clang writes.
    NotRelocatable {
        /// `e_type` as read from the ELF header (2: `ET_EXEC`, 3: `ET_DYN`).
        e_type: u16,
    },
    /// The ELF container itself is damaged: headers, tables or data past the end of the
    /// file. `what` says which part; `reason` is the ELF reader's message.
    Elf {
        /// The part being read (`file header`, `section headers`, `symbol table`, a
        /// section or symbol).
        what: String,
        /// The ELF reader's message.
        reason: String,
    },
    /// No `SHT_SYMTAB` section: programs and relocations cannot be found without one.
    NoSymbolTable,
    /// A symbol whose section index is not in the section table.
    SymbolSection {
        /// The symbol's index in the symbol table.
        symbol: usize,
        /// Its name.
        name: String,
        /// Its `st_shndx`.
        section: usize,
    },
    /// A code section whose size is not a whole number of 8-byte instructions.
    CodeSize {
        /// The section's name.
        section: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A function symbol that does not describe instructions inside its section.
    FunctionBounds {
        /// The section's name.
        section: String,
        /// The function's name.
        symbol: String,
        /// `st_value`: where the function starts, in bytes from the section's start.
        offset: u64,
        /// `st_size`: its length in bytes.
        size: u64,
        /// The section's size in bytes.
        section_size: u64,
    },
    /// Two function symbols of one section overlap.
    FunctionOverlap {
        /// The section's name.
        section: String,
        /// The function that starts first.
        first: String,
        /// The function that starts inside it.
        second: String,
    },
    /// A `static` (local) function in a program section: only global functions are
    /// programs, and subprograms belong in `.text`.
    StaticProgram {
        /// The program section's name.
        section: String,
        /// The static function's name.
        symbol: String,
    },
    /// The section name says a program type, but the attach target in it is malformed.
    AttachTarget {
        /// The section's name (`tracepoint/sock`).
        section: String,
        /// What is wrong with the target.
        reason: &'static str,
    },
    /// The `license` section is not a NUL-terminated UTF-8 string.
    License {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `version` section is not one 4-byte kernel version.
    Version {
        /// The section's size in bytes.
        size: u64,
    },
    /// A global data section larger than [`MAX_GLOBAL_DATA_SIZE`](super::MAX_GLOBAL_DATA_SIZE).
    GlobalDataSize {
        /// The section's name (`.data`, `.bss`, `.rodata`).
        section: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A map could not be read from its BTF description or legacy definition.
    Map {
        /// The map's name (its `VAR` in the `.maps` `DATASEC`, its symbol in `maps`).
        map: String,
        /// What is wrong with it.
        problem: MapProblem,
    },
    /// A struct_ops variable (`.struct_ops`, `.struct_ops.link`) or one of its
    /// relocations could not be read.
    StructOps {
        /// The section.
        section: String,
        /// The variable (the map's name); empty when not known.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// A relocation record of a code section cannot be applied.
    Relocation {
        /// The code section being relocated (`kprobe/tcp_connect`).
        section: String,
        /// Instruction index in that section (byte offset / 8).
        insn: u64,
        /// The symbol the record names (section symbols by their section's name).
        symbol: String,
        /// What is wrong with the record.
        problem: RelocProblem,
    },
    /// A bpf-to-bpf call with no relocation record whose target is not a function of
    /// `.text`.
    CallTarget {
        /// The code section of the call.
        section: String,
        /// Instruction index of the call in that section.
        insn: usize,
        /// Index the call jumps to (`insn + imm + 1`).
        target: i64,
    },
    /// `.BTF` is malformed (or its `DATASEC`s could not be fixed up).
    Btf(BtfError),
    /// `.BTF.ext` is malformed, or one of its records does not fit the code.
    BtfExt {
        /// The code section the record is for (`.BTF.ext` itself when the problem is not
        /// a record's).
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// An extern (`__kconfig`, `__ksym`) that cannot be read.
    Extern(super::externs::ExternError),
}

/// What is wrong with one relocation record (see [`ParseError::Relocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocProblem {
    /// Not one of `R_BPF_64_64` (1) or `R_BPF_64_32` (10).
    UnknownType(u32),
    /// `r_offset` is not a multiple of 8: it points into the middle of an instruction.
    Misaligned {
        /// `r_offset`, in bytes from the section's start.
        offset: u64,
    },
    /// `r_offset` is past the end of the section.
    PastEnd {
        /// `r_offset`, in bytes from the section's start.
        offset: u64,
        /// The section's size in bytes.
        size: u64,
    },
    /// The instruction belongs to no function symbol of the section.
    OutsideFunctions,
    /// The symbol index is not in the symbol table.
    NoSuchSymbol {
        /// The symbol index (`ELF64_R_SYM(r_info)`).
        index: u32,
    },
    /// The symbol is not defined in this object (an `extern`: kconfig, ksym).
    Undefined,
    /// The symbol is defined in a section this loader cannot refer to from code.
    UnsupportedTarget {
        /// The section the symbol is defined in.
        section: String,
    },
    /// A map reference or global data reference whose instruction is not `ld_imm64`.
    NotLdImm64 {
        /// The instruction's opcode.
        code: u8,
    },
    /// An `ld_imm64` whose second slot is past the end of its function.
    MissingSecondSlot,
    /// A call relocation on an instruction that is not a bpf-to-bpf `call`.
    NotCall {
        /// The instruction's opcode.
        code: u8,
        /// Its `src_reg` (a bpf-to-bpf call has [`BPF_PSEUDO_CALL`](crate::insn::BPF_PSEUDO_CALL)).
        src_reg: u8,
    },
    /// A call whose target (instruction index in `.text`) is not the start of a function.
    CallTarget {
        /// The instruction index in `.text` the call would jump to (-1 when it is not
        /// even an instruction boundary).
        target: i64,
    },
    /// A reference into `.maps` at a symbol that is not one of the maps.
    NotAMap,
    /// A global data reference outside its section (`imm` + symbol value).
    DataOffset {
        /// The offset in the section (`imm` + symbol value).
        offset: i64,
        /// The section's size in bytes.
        size: u64,
    },
    /// `ld_imm64` of a function's address that is not a `.text` subprogram (callbacks
    /// are subprograms, as libbpf requires).
    FunctionPointer,
    /// A `__kconfig` extern used by a call, or an extern used by an instruction that is
    /// neither `ld_imm64` nor `call`.
    ExternUse {
        /// The instruction's opcode.
        code: u8,
    },
    /// At relocation: a strong `__ksym` extern that nothing resolved
    /// ([`ExternSpec::value`](super::ExternSpec::value) is `None`), or an extern index the
    /// spec does not have.
    ExternUnresolved,
}

/// What is wrong with one BTF-defined map (see [`ParseError::Map`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapProblem {
    /// `.maps` exists but the object has no `.BTF` to describe it.
    NoBtf,
    /// `.BTF` has no `DATASEC` named `.maps`.
    NoDatasec,
    /// A `DATASEC` entry that is not a `VAR`.
    NotAVar {
        /// The entry's type id.
        type_id: u32,
    },
    /// The map's `VAR` is not of a `STRUCT` type.
    NotAStruct {
        /// The type id of the `VAR`'s type.
        type_id: u32,
    },
    /// A member this loader does not know (`__uint(foo, 1)`): an error, never ignored.
    UnknownMember {
        /// The member's name.
        member: String,
    },
    /// A known member of the wrong shape, e.g. `type` not declared with `__uint`.
    BadMember {
        /// The member's name.
        member: String,
        /// What is wrong with its shape.
        reason: String,
    },
    /// An attribute given twice with different values (`key_size` and `__type(key)`).
    Conflict {
        /// The member given twice.
        member: String,
    },
    /// No `type` member.
    NoType,
    /// No symbol in `.maps` names this map (clang writes one per map).
    NoSymbol,
    /// A `.rel.maps` record (an initial slot of `__array(values)`) that cannot be used:
    /// `offset` in `.maps`, what is wrong.
    InitSlot {
        /// The record's byte offset in `.maps`.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A legacy `SEC("maps")` definition (`struct bpf_map_def`) that cannot be read.
    Legacy {
        /// What is wrong with it.
        reason: String,
    },
    /// A BTF lookup failed while decoding the map.
    Btf(BtfError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotElf => write!(f, "not an ELF file (no \\x7fELF header)"),
            ParseError::Not64Bit { class } => {
                write!(
                    f,
                    "ELF class {class} is not ELFCLASS64: eBPF objects are 64-bit"
                )
            }
            ParseError::ByteOrder { data } => {
                let object = match data {
                    1 => "little-endian",
                    2 => "big-endian",
                    _ => "of unknown byte order",
                };
                let host = if cfg!(target_endian = "little") {
                    "little-endian"
                } else {
                    "big-endian"
                };
                write!(
                    f,
                    "the object is {object} (EI_DATA {data}) but this host is {host}: \
                     build it for this host (clang -target bpf picks the host's order)"
                )
            }
            ParseError::WrongMachine { machine } => write!(
                f,
                "e_machine {machine} is not EM_BPF (247): not an eBPF object"
            ),
            ParseError::NotRelocatable { e_type } => write!(
                f,
                "e_type {e_type} is not ET_REL (1): expected the relocatable object clang writes"
            ),
            ParseError::Elf { what, reason } => write!(f, "malformed ELF: {what}: {reason}"),
            ParseError::NoSymbolTable => write!(f, "the object has no symbol table (.symtab)"),
            ParseError::SymbolSection {
                symbol,
                name,
                section,
            } => write!(
                f,
                "symbol {symbol} ({name}) is in section {section}, which does not exist"
            ),
            ParseError::CodeSize { section, size } => write!(
                f,
                "section {section}: {size} bytes is not a whole number of 8-byte instructions"
            ),
            ParseError::FunctionBounds {
                section,
                symbol,
                offset,
                size,
                section_size,
            } => write!(
                f,
                "section {section}: function {symbol} at byte {offset} of size {size} does not \
                 fit the section's {section_size} bytes in whole instructions"
            ),
            ParseError::FunctionOverlap {
                section,
                first,
                second,
            } => write!(
                f,
                "section {section}: functions {first} and {second} overlap"
            ),
            ParseError::StaticProgram { section, symbol } => write!(
                f,
                "section {section}: static function {symbol} in a program section; \
                 programs are global, subprograms belong in .text"
            ),
            ParseError::AttachTarget { section, reason } => {
                write!(f, "section {section}: {reason}")
            }
            ParseError::License { reason } => write!(f, "section license: {reason}"),
            ParseError::Version { size } => write!(
                f,
                "section version: {size} bytes, expected one 4-byte kernel version"
            ),
            ParseError::GlobalDataSize { section, size } => write!(
                f,
                "section {section}: {size} bytes of global data is more than the {} accepted",
                super::MAX_GLOBAL_DATA_SIZE
            ),
            ParseError::Map { map, .. } => write!(f, "map {map}"),
            ParseError::StructOps {
                section,
                map,
                reason,
            } => write!(f, "struct_ops {map} in {section}: {reason}"),
            ParseError::Extern(error) => write!(f, "{error}"),
            ParseError::Relocation {
                section,
                insn,
                symbol,
                ..
            } => write!(
                f,
                "section {section}: relocation at instruction {insn} against {symbol}"
            ),
            ParseError::CallTarget {
                section,
                insn,
                target,
            } => write!(
                f,
                "section {section}: call at instruction {insn} targets instruction {target}, \
                 which starts no function of .text"
            ),
            ParseError::Btf(_) => write!(f, ".BTF"),
            ParseError::BtfExt { section, reason } => {
                write!(f, ".BTF.ext: section {section}: {reason}")
            }
        }
    }
}

impl fmt::Display for RelocProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelocProblem::UnknownType(t) => write!(
                f,
                "relocation type {t} is neither R_BPF_64_64 (1) nor R_BPF_64_32 (10)"
            ),
            RelocProblem::Misaligned { offset } => {
                write!(f, "byte offset {offset} is not at an instruction boundary")
            }
            RelocProblem::PastEnd { offset, size } => {
                write!(f, "byte offset {offset} is past the section's {size} bytes")
            }
            RelocProblem::OutsideFunctions => {
                write!(f, "the instruction belongs to no function symbol")
            }
            RelocProblem::NoSuchSymbol { index } => {
                write!(f, "symbol index {index} is not in the symbol table")
            }
            RelocProblem::Undefined => write!(
                f,
                "the symbol is not defined in the object (extern symbols are not supported)"
            ),
            RelocProblem::UnsupportedTarget { section } => write!(
                f,
                "the symbol is in section {section}, which code cannot refer to"
            ),
            RelocProblem::NotLdImm64 { code } => {
                write!(f, "opcode {code:#04x} is not ld_imm64 (0x18)")
            }
            RelocProblem::MissingSecondSlot => {
                write!(f, "ld_imm64 has no second slot before the function ends")
            }
            RelocProblem::NotCall { code, src_reg } => write!(
                f,
                "opcode {code:#04x} src_reg {src_reg} is not a bpf-to-bpf call (0x85, src_reg 1)"
            ),
            RelocProblem::CallTarget { target } => write!(
                f,
                "the call targets instruction {target} of .text, which starts no function"
            ),
            RelocProblem::NotAMap => write!(f, "the symbol is in .maps but is not a map"),
            RelocProblem::DataOffset { offset, size } => write!(
                f,
                "offset {offset} is outside the data section's {size} bytes"
            ),
            RelocProblem::FunctionPointer => write!(
                f,
                "ld_imm64 of a function address that is not a .text subprogram marked BPF_PSEUDO_FUNC"
            ),
            RelocProblem::ExternUnresolved => write!(
                f,
                "strong extern not resolved against the kernel (resolve it, or declare it __weak)"
            ),
            RelocProblem::ExternUse { code } => write!(
                f,
                "extern used by opcode {code:#04x} (an ld_imm64 of an extern, or a call of a __ksym function, is expected)"
            ),
        }
    }
}

impl fmt::Display for MapProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapProblem::NoBtf => write!(f, "section .maps needs .BTF to describe its maps"),
            MapProblem::NoDatasec => write!(f, ".BTF has no DATASEC named .maps"),
            MapProblem::NotAVar { type_id } => {
                write!(f, "DATASEC .maps entry type {type_id} is not a VAR")
            }
            MapProblem::NotAStruct { type_id } => {
                write!(f, "type {type_id} of the map definition is not a STRUCT")
            }
            MapProblem::UnknownMember { member } => write!(
                f,
                "unknown attribute {member} (known: type, key_size, value_size, max_entries, \
                 map_flags, key, value, pinning, numa_node, map_extra)"
            ),
            MapProblem::BadMember { member, reason } => write!(f, "attribute {member}: {reason}"),
            MapProblem::Conflict { member } => {
                write!(f, "attribute {member} contradicts another attribute")
            }
            MapProblem::NoType => write!(f, "no type attribute (__uint(type, BPF_MAP_TYPE_...))"),
            MapProblem::NoSymbol => write!(f, "no symbol in .maps names this map"),
            MapProblem::InitSlot { offset, reason } => {
                write!(f, "initial value at byte {offset} of .maps: {reason}")
            }
            MapProblem::Legacy { reason } => write!(f, "legacy struct bpf_map_def: {reason}"),
            MapProblem::Btf(_) => write!(f, "BTF"),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParseError::Map { problem, .. } => Some(problem),
            ParseError::Relocation { problem, .. } => Some(problem),
            ParseError::Btf(error) => Some(error),
            ParseError::Extern(error) => error.source(),
            _ => None,
        }
    }
}

impl std::error::Error for RelocProblem {}

impl std::error::Error for MapProblem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapProblem::Btf(error) => Some(error),
            _ => None,
        }
    }
}

impl From<BtfError> for ParseError {
    fn from(error: BtfError) -> Self {
        ParseError::Btf(error)
    }
}
