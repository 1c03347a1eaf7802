//! `.BTF.ext`: what clang records about the code, per ELF section: `func_info` (where each
//! function starts and its BTF FUNC), `line_info` (source lines) and CO-RE relocations.
//!
//! ABI: `struct btf_ext_header`, `struct bpf_func_info`, `struct bpf_line_info` and
//! `struct bpf_core_relo` in `include/uapi/linux/bpf.h` and libbpf's `libbpf_internal.h`;
//! described in `Documentation/bpf/btf.rst` ("BTF.ext section") and
//! `Documentation/bpf/llvm_reloc.rst` (CO-RE).
//!
//! ```text
//!   header      magic 0xeB9F, version 1, flags, hdr_len,
//!               func_info_off/len, line_info_off/len, [core_relo_off/len]  (after header)
//!   subsection  u32 record_size, then blocks until its end:
//!                 u32 sec_name_off, u32 num_info, num_info records of record_size bytes
//! ```
//! Instruction offsets are in bytes, relative to the start of the ELF section named by
//! the block, exactly as in the file. A record size larger than the one known here is
//! accepted (newer fields are skipped); a smaller one is an error.

use super::{read_u16, read_u32, Btf, BtfError, BTF_MAGIC};
use std::fmt;

/// `struct bpf_func_info`: a function starts at `insn_off` and has BTF FUNC `type_id`.
/// In `.BTF.ext` the offset is in bytes from the section's start; `BPF_PROG_LOAD` takes the
/// same struct with the offset in instructions from the program's start (the relocation
/// step converts), which is why it has the kernel's layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FuncInfo {
    /// Where the function starts: bytes from the ELF section's start in `.BTF.ext`,
    /// instructions from the program's start for `BPF_PROG_LOAD`.
    pub insn_off: u32,
    /// Type id of the function's BTF FUNC.
    pub type_id: u32,
}

/// `struct bpf_line_info`: the instruction at `insn_off` comes from this line (bytes in
/// `.BTF.ext`, instructions for `BPF_PROG_LOAD`, as for [`FuncInfo`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineInfo {
    /// The instruction: bytes from the ELF section's start in `.BTF.ext`, instructions
    /// from the program's start for `BPF_PROG_LOAD`.
    pub insn_off: u32,
    /// String offset (in `.BTF`) of the source file's name.
    pub file_name_off: u32,
    /// String offset (in `.BTF`) of the source line's text.
    pub line_off: u32,
    /// `line << 10 | column`.
    pub line_col: u32,
}

impl LineInfo {
    /// `BPF_LINE_INFO_LINE_NUM`.
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    /// `BPF_LINE_INFO_LINE_COL`.
    pub fn column(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

/// `enum bpf_core_relo_kind`: what a CO-RE relocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CoreReloKind {
    /// `BPF_CORE_FIELD_BYTE_OFFSET`: the field's offset in bytes (`bpf_core_field_offset`).
    FieldByteOffset = 0,
    /// `BPF_CORE_FIELD_BYTE_SIZE`: the field's size in bytes (`bpf_core_field_size`).
    FieldByteSize = 1,
    /// `BPF_CORE_FIELD_EXISTS`: 1 if the field exists in the target kernel, else 0.
    FieldExists = 2,
    /// `BPF_CORE_FIELD_SIGNED`: 1 if the field is signed, else 0.
    FieldSigned = 3,
    /// `BPF_CORE_FIELD_LSHIFT_U64`: left shift that brings a bitfield's top bit to bit
    /// 63 of a `u64` (`BPF_CORE_READ_BITFIELD`).
    FieldLshiftU64 = 4,
    /// `BPF_CORE_FIELD_RSHIFT_U64`: right shift that then brings the bitfield down to bit 0.
    FieldRshiftU64 = 5,
    /// `BPF_CORE_TYPE_ID_LOCAL`: the type's id in the object's own BTF.
    TypeIdLocal = 6,
    /// `BPF_CORE_TYPE_ID_TARGET`: the matching type's id in the target kernel's BTF.
    TypeIdTarget = 7,
    /// `BPF_CORE_TYPE_EXISTS`: 1 if a compatible type exists in the target kernel, else 0.
    TypeExists = 8,
    /// `BPF_CORE_TYPE_SIZE`: the type's size in bytes in the target kernel.
    TypeSize = 9,
    /// `BPF_CORE_ENUMVAL_EXISTS`: 1 if the enumerator exists in the target kernel, else 0.
    EnumvalExists = 10,
    /// `BPF_CORE_ENUMVAL_VALUE`: the enumerator's value in the target kernel.
    EnumvalValue = 11,
    /// `BPF_CORE_TYPE_MATCHES`: 1 if the type matches the target's (a stricter test than
    /// existence: members and their types too), else 0.
    TypeMatches = 12,
}

impl CoreReloKind {
    /// The kind with the kernel's number `n` (`bpf_core_relo.kind`), if there is one.
    pub fn from_u32(n: u32) -> Option<CoreReloKind> {
        use CoreReloKind::*;
        Some(match n {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLshiftU64,
            5 => FieldRshiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            _ => return None,
        })
    }

    /// libbpf's spelling (`byte_off`, `exists`, `enumval_value`, ...).
    pub fn name(self) -> &'static str {
        use CoreReloKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
        }
    }

    /// A field relocation (access string walks members and array indexes).
    pub fn is_field(self) -> bool {
        (self as u32) <= 5
    }
    /// A type relocation (access string is "0").
    pub fn is_type(self) -> bool {
        matches!(self as u32, 6..=9 | 12)
    }
    /// An enumerator relocation (access string is the enumerator's index).
    pub fn is_enumval(self) -> bool {
        matches!(self as u32, 10 | 11)
    }
}

impl fmt::Display for CoreReloKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `struct bpf_core_relo`, with its access string parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction to patch.
    pub insn_off: u32,
    /// The local (object's BTF) type the access starts from.
    pub type_id: u32,
    /// String offset (in `.BTF`) of the access string.
    pub access_str_off: u32,
    /// `"0:1:3"` parsed: the first index is into an array of `type_id` (0: the object
    /// itself), the next ones are member indexes or array indexes.
    pub access: Vec<u32>,
    /// What the relocation computes.
    pub kind: CoreReloKind,
}

/// The records of one ELF section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtSection<T> {
    /// The ELF section's name (`kprobe/tcp_connect`, `.text`).
    pub name: String,
    /// String offset (in `.BTF`) of that name.
    pub name_off: u32,
    /// The section's records, in the file's order.
    pub records: Vec<T>,
}

/// `.BTF.ext`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BtfExt {
    /// `func_info` blocks, one per ELF section with functions.
    pub func_info: Vec<ExtSection<FuncInfo>>,
    /// `line_info` blocks, one per ELF section with code.
    pub line_info: Vec<ExtSection<LineInfo>>,
    /// CO-RE relocation blocks, one per ELF section that has any.
    pub core_relos: Vec<ExtSection<CoreRelo>>,
    /// `func_info` record size as the file gave it (records may be larger than the
    /// fields read here).
    pub func_info_rec_size: u32,
    /// `line_info` record size as the file gave it.
    pub line_info_rec_size: u32,
    /// `core_relo` record size as the file gave it.
    pub core_relo_rec_size: u32,
}

fn records_of<'a, T>(list: &'a [ExtSection<T>], section: &str) -> &'a [T] {
    list.iter()
        .find(|s| s.name == section)
        .map(|s| s.records.as_slice())
        .unwrap_or(&[])
}

/// The smallest header: magic, version, flags, hdr_len, func_info/line_info off+len.
const EXT_HEADER_MIN: usize = 24;
/// The header with core_relo_off/len.
const EXT_HEADER_CORE: usize = 32;
const FUNC_INFO_SIZE: u32 = 8;
const LINE_INFO_SIZE: u32 = 16;
const CORE_RELO_SIZE: u32 = 16;

impl BtfExt {
    /// Parses `.BTF.ext` bytes; strings (section names, access strings) are read from
    /// `btf`, the object's `.BTF`.
    pub fn parse(bytes: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let len = bytes.len();
        if len < EXT_HEADER_MIN {
            return Err(BtfError::ExtHeaderTruncated { len });
        }
        let magic = read_u16(bytes, 0).unwrap_or(0);
        if magic != BTF_MAGIC {
            return Err(BtfError::ExtBadMagic { magic });
        }
        let version = bytes.get(2).copied().unwrap_or(0);
        if version != 1 {
            return Err(BtfError::ExtUnsupportedVersion { version });
        }
        let hdr_len = read_u32(bytes, 4).unwrap_or(0);
        if (hdr_len as usize) < EXT_HEADER_MIN || hdr_len as usize > len {
            return Err(BtfError::ExtBadHeaderLen { hdr_len, len });
        }
        let field = |off| read_u32(bytes, off).unwrap_or(0);
        let body = bytes.get(hdr_len as usize..).unwrap_or(&[]);
        let sub = |name: &'static str, off: u32, sub_len: u32| -> Result<&[u8], BtfError> {
            let start = off as usize;
            start
                .checked_add(sub_len as usize)
                .and_then(|end| body.get(start..end))
                .ok_or(BtfError::SectionOutOfBounds {
                    section: name,
                    off,
                    len: sub_len,
                    data_len: body.len(),
                })
        };
        let mut ext = BtfExt::default();

        let fi = sub("func_info", field(8), field(12))?;
        let (rec, secs) = parse_subsection(fi, "func_info", FUNC_INFO_SIZE, btf, |r, _| {
            Ok(FuncInfo {
                insn_off: read_u32(r, 0).unwrap_or(0),
                type_id: read_u32(r, 4).unwrap_or(0),
            })
        })?;
        ext.func_info_rec_size = rec;
        ext.func_info = secs;

        let li = sub("line_info", field(16), field(20))?;
        let (rec, secs) = parse_subsection(li, "line_info", LINE_INFO_SIZE, btf, |r, _| {
            Ok(LineInfo {
                insn_off: read_u32(r, 0).unwrap_or(0),
                file_name_off: read_u32(r, 4).unwrap_or(0),
                line_off: read_u32(r, 8).unwrap_or(0),
                line_col: read_u32(r, 12).unwrap_or(0),
            })
        })?;
        ext.line_info_rec_size = rec;
        ext.line_info = secs;

        if hdr_len as usize >= EXT_HEADER_CORE {
            let cr = sub("core_relo", field(24), field(28))?;
            let (rec, secs) = parse_subsection(cr, "core_relo", CORE_RELO_SIZE, btf, |r, at| {
                let kind_raw = read_u32(r, 12).unwrap_or(0);
                let kind =
                    CoreReloKind::from_u32(kind_raw).ok_or(BtfError::ExtUnknownCoreReloKind {
                        offset: at,
                        kind: kind_raw,
                    })?;
                let access_str_off = read_u32(r, 8).unwrap_or(0);
                let spec = btf.name(access_str_off)?;
                let access =
                    parse_access_string(spec).ok_or_else(|| BtfError::ExtBadAccessString {
                        offset: at,
                        access: spec.to_string(),
                    })?;
                Ok(CoreRelo {
                    insn_off: read_u32(r, 0).unwrap_or(0),
                    type_id: read_u32(r, 4).unwrap_or(0),
                    access_str_off,
                    access,
                    kind,
                })
            })?;
            ext.core_relo_rec_size = rec;
            ext.core_relos = secs;
        }
        Ok(ext)
    }

    /// The func_info records of ELF section `section` (empty if none).
    pub fn func_info(&self, section: &str) -> &[FuncInfo] {
        records_of(&self.func_info, section)
    }

    /// The line_info records of ELF section `section` (empty if none).
    pub fn line_info(&self, section: &str) -> &[LineInfo] {
        records_of(&self.line_info, section)
    }

    /// The CO-RE relocations of ELF section `section` (empty if none).
    pub fn core_relos(&self, section: &str) -> &[CoreRelo] {
        records_of(&self.core_relos, section)
    }
}

/// `"0:1:3"` -> `[0, 1, 3]`. `None` for an empty string, an empty component or a number
/// that does not fit 32 bits.
pub fn parse_access_string(s: &str) -> Option<Vec<u32>> {
    if s.is_empty() {
        return None;
    }
    s.split(':').map(|p| p.parse::<u32>().ok()).collect()
}

/// Reads one subsection: its record size, then blocks of records for each section.
/// `decode` gets each record's bytes (exactly the known size) and its byte offset in the
/// subsection.
fn parse_subsection<T>(
    bytes: &[u8],
    subsection: &'static str,
    min_size: u32,
    btf: &Btf,
    decode: impl Fn(&[u8], usize) -> Result<T, BtfError>,
) -> Result<(u32, Vec<ExtSection<T>>), BtfError> {
    if bytes.is_empty() {
        return Ok((min_size, Vec::new()));
    }
    let rec_size = read_u32(bytes, 0).ok_or(BtfError::ExtTruncated {
        subsection,
        offset: 0,
    })?;
    if rec_size < min_size {
        return Err(BtfError::ExtRecordSizeTooSmall {
            subsection,
            rec_size,
            min: min_size,
        });
    }
    let mut sections = Vec::new();
    let mut off = 4usize;
    while off < bytes.len() {
        let truncated = BtfError::ExtTruncated {
            subsection,
            offset: off,
        };
        let name_off = read_u32(bytes, off).ok_or(truncated.clone())?;
        let num_info = read_u32(bytes, off + 4).ok_or(truncated)?;
        let name = btf.name(name_off)?.to_string();
        let start = off + 8;
        let remaining = bytes.len() - start.min(bytes.len());
        let total = (num_info as u64) * (rec_size as u64);
        if total > remaining as u64 {
            return Err(BtfError::ExtBlockOverrun {
                subsection,
                section: name,
                num_info,
                offset: off,
            });
        }
        // num_info is now bounded by the bytes that remain.
        let mut records = Vec::with_capacity(num_info as usize);
        for i in 0..num_info as usize {
            let at = start + i * rec_size as usize;
            let rec = bytes.get(at..at + min_size as usize).unwrap_or(&[]);
            records.push(decode(rec, at)?);
        }
        sections.push(ExtSection {
            name,
            name_off,
            records,
        });
        off = start + total as usize;
    }
    Ok((rec_size, sections))
}
