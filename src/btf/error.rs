//! Why BTF could not be read, or a lookup failed: [`BtfError`], with the type id, offset
//! and kind at fault.

use std::fmt;

use super::{Kind, BTF_HEADER_LEN, MAX_RESOLVE_DEPTH};

/// Why BTF (or `.BTF.ext`) bytes could not be read, or a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// Fewer bytes than the fixed header.
    HeaderTruncated {
        /// How many bytes there were.
        len: usize,
    },
    /// The magic is not 0xeB9F in either byte order.
    BadMagic {
        /// The first two bytes, little-endian.
        magic: u16,
    },
    /// The magic is 0xeB9F in the other byte order: BTF for a machine of the other
    /// endianness.
    ForeignByteOrder,
    /// A version other than [`super::BTF_VERSION`].
    UnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// `hdr_len` smaller than the header, or larger than the data.
    BadHeaderLen {
        /// `hdr_len` as read.
        hdr_len: u32,
        /// How many bytes there are.
        len: usize,
    },
    /// A header field that should be zero (the unknown tail of a longer header).
    UnknownHeaderField {
        /// Byte offset of the non-zero field from the start of the data.
        offset: usize,
    },
    /// A section (`type`, `string`, `func_info`...) does not lie inside the data.
    SectionOutOfBounds {
        /// Which section.
        section: &'static str,
        /// Its offset, from the end of the header.
        off: u32,
        /// Its length in bytes.
        len: u32,
        /// Bytes after the header.
        data_len: usize,
    },
    /// The type section ends inside a type's record.
    TypeTruncated {
        /// Type id the record would have.
        id: u32,
        /// Byte offset of the record in the type section.
        offset: usize,
    },
    /// A type's vlen entries run past the end of the type section.
    VlenOutOfBounds {
        /// Type id of the record.
        id: u32,
        /// Byte offset of the record in the type section.
        offset: usize,
        /// Its kind.
        kind: Kind,
        /// Its number of entries (members, enumerators, parameters, variables).
        vlen: u16,
    },
    /// A type's kind is not one of [`Kind`]'s (BTF from a newer compiler or kernel).
    UnknownKind {
        /// Type id of the record.
        id: u32,
        /// Byte offset of the record in the type section.
        offset: usize,
        /// The kind's number.
        kind: u8,
    },
    /// More types than a type id can number.
    TooManyTypes,
    /// The string section does not start with the empty string.
    StringSectionStart,
    /// The string section's last byte is not NUL.
    StringSectionNotTerminated,
    /// A string offset at or past the end of the string section.
    StringOutOfBounds {
        /// The offset.
        offset: u32,
        /// Length of the string section.
        str_len: usize,
    },
    /// A string that runs to the end of the string section without a NUL.
    StringNotTerminated {
        /// Where it starts in the string section.
        offset: u32,
    },
    /// A string that is not UTF-8 (names are C identifiers).
    StringNotUtf8 {
        /// Where it starts in the string section.
        offset: u32,
    },
    /// A type id that names no type of this BTF.
    TypeIdOutOfRange {
        /// The type id.
        id: u32,
        /// How many type ids there are (including 0, `void`).
        count: u32,
    },
    /// A type's `name_off` points outside the string section.
    TypeNameOutOfBounds {
        /// The type's id.
        id: u32,
        /// Its name offset.
        name_off: u32,
    },
    /// A chain of typedefs, modifiers or arrays longer than [`MAX_RESOLVE_DEPTH`]: a loop.
    TypeLoop {
        /// The type where resolving started.
        id: u32,
    },
    /// The type has no size (void, FWD, FUNC, FUNC_PROTO, DECL_TAG).
    NotSized {
        /// The type's id.
        id: u32,
        /// Its kind.
        kind: Kind,
    },
    /// An array's size (elements times element size) does not fit in 32 bits.
    SizeOverflow {
        /// The array's type id.
        id: u32,
    },
    /// The type is not of the kind an operation needs.
    WrongKind {
        /// The type's id.
        id: u32,
        /// Its kind.
        kind: Kind,
        /// The kind or kinds that were expected.
        want: &'static str,
    },
    /// No type of that name and kind.
    NotFound {
        /// The name looked up.
        name: String,
        /// The kind looked up.
        kind: Kind,
    },
    /// [`super::Btf::fixup_datasecs`] on BTF that is mapped read-only.
    ReadOnly,
    /// The section a DATASEC describes has no known size.
    DatasecSectionUnknown {
        /// The DATASEC's name.
        datasec: String,
    },
    /// No symbol gives the offset of a DATASEC's variable.
    DatasecSymbolUnknown {
        /// The DATASEC's name.
        datasec: String,
        /// The variable's name.
        var: String,
    },
    /// Two variables of a DATASEC overlap, or one runs past the section's end.
    DatasecOverlap {
        /// The DATASEC's name.
        datasec: String,
        /// The variable's name.
        var: String,
        /// Its offset in the section.
        offset: u32,
        /// Its size in bytes.
        size: u32,
    },

    // .BTF.ext
    /// `.BTF.ext`: fewer bytes than its fixed header.
    ExtHeaderTruncated {
        /// How many bytes there were.
        len: usize,
    },
    /// `.BTF.ext`: the magic is not 0xeB9F.
    ExtBadMagic {
        /// The first two bytes, little-endian.
        magic: u16,
    },
    /// `.BTF.ext`: a version other than 1.
    ExtUnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// `.BTF.ext`: `hdr_len` smaller than the header, or larger than the data.
    ExtBadHeaderLen {
        /// `hdr_len` as read.
        hdr_len: u32,
        /// How many bytes there are.
        len: usize,
    },
    /// A subsection's record size is smaller than the record the ABI defines.
    ExtRecordSizeTooSmall {
        /// `func_info`, `line_info` or `core_relo`.
        subsection: &'static str,
        /// The record size the subsection declares.
        rec_size: u32,
        /// The size of the record the loader reads.
        min: u32,
    },
    /// A subsection is too short for its record size, or for a block header.
    ExtTruncated {
        /// `func_info`, `line_info` or `core_relo`.
        subsection: &'static str,
        /// Byte offset in the subsection where the bytes ran out.
        offset: usize,
    },
    /// A per-section block claims more records than the bytes hold.
    ExtBlockOverrun {
        /// `func_info`, `line_info` or `core_relo`.
        subsection: &'static str,
        /// The ELF section the block is for.
        section: String,
        /// How many records it claims.
        num_info: u32,
        /// Byte offset of the block header in the subsection.
        offset: usize,
    },
    /// `.BTF.ext`: a CO-RE record of a kind this loader does not know.
    ExtUnknownCoreReloKind {
        /// Byte offset of the record in the `core_relo` subsection.
        offset: usize,
        /// `bpf_core_relo.kind` as read.
        kind: u32,
    },
    /// `.BTF.ext`: a CO-RE record's access string is not `N(:N)*`.
    ExtBadAccessString {
        /// Byte offset of the record in the `core_relo` subsection.
        offset: usize,
        /// The access string.
        access: String,
    },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BtfError::*;
        match self {
            HeaderTruncated { len } => {
                write!(f, "BTF: {len} bytes is shorter than the {BTF_HEADER_LEN}-byte header")
            }
            BadMagic { magic } => write!(f, "BTF: bad magic {magic:#06x} (want 0xeb9f)"),
            ForeignByteOrder => f.write_str("BTF: written for the other byte order"),
            UnsupportedVersion { version } => {
                write!(f, "BTF: unsupported version {version} (want 1)")
            }
            BadHeaderLen { hdr_len, len } => {
                write!(f, "BTF: header length {hdr_len} does not fit {len} bytes")
            }
            UnknownHeaderField { offset } => {
                write!(f, "BTF: unknown non-zero header field at byte {offset}")
            }
            SectionOutOfBounds {
                section,
                off,
                len,
                data_len,
            } => write!(
                f,
                "BTF: {section} section (offset {off}, length {len}) lies outside the {data_len} bytes"
            ),
            TypeTruncated { id, offset } => write!(
                f,
                "BTF: type {id} at byte {offset} of the type section is truncated"
            ),
            VlenOutOfBounds {
                id,
                offset,
                kind,
                vlen,
            } => write!(
                f,
                "BTF: type {id} ({kind}) at byte {offset}: {vlen} entries run past the type section"
            ),
            UnknownKind { id, offset, kind } => {
                write!(f, "BTF: type {id} at byte {offset} has unknown kind {kind}")
            }
            TooManyTypes => f.write_str("BTF: more types than a 32-bit id can number"),
            StringSectionStart => f.write_str("BTF: the string section does not start with NUL"),
            StringSectionNotTerminated => {
                f.write_str("BTF: the string section does not end with NUL")
            }
            StringOutOfBounds { offset, str_len } => write!(
                f,
                "BTF: string offset {offset} is past the {str_len}-byte string section"
            ),
            StringNotTerminated { offset } => {
                write!(f, "BTF: string at offset {offset} is not NUL-terminated")
            }
            StringNotUtf8 { offset } => write!(f, "BTF: string at offset {offset} is not UTF-8"),
            TypeIdOutOfRange { id, count } => {
                write!(f, "BTF: type id {id} out of range ({count} types)")
            }
            TypeNameOutOfBounds { id, name_off } => {
                write!(f, "BTF: type {id}: name offset {name_off} is past the string section")
            }
            TypeLoop { id } => write!(
                f,
                "BTF: type {id}: more than {MAX_RESOLVE_DEPTH} typedefs/modifiers/arrays (a loop?)"
            ),
            NotSized { id, kind } => write!(f, "BTF: type {id} ({kind}) has no size"),
            SizeOverflow { id } => write!(f, "BTF: type {id}: size overflows 32 bits"),
            WrongKind { id, kind, want } => {
                write!(f, "BTF: type {id} is a {kind}, expected {want}")
            }
            NotFound { name, kind } => write!(f, "BTF: no {kind} named '{name}'"),
            ReadOnly => f.write_str("BTF: mapped read-only, cannot be fixed up"),
            DatasecSectionUnknown { datasec } => {
                write!(f, "BTF: DATASEC '{datasec}': the ELF has no section of that name")
            }
            DatasecSymbolUnknown { datasec, var } => write!(
                f,
                "BTF: DATASEC '{datasec}': no symbol gives the offset of variable '{var}'"
            ),
            DatasecOverlap {
                datasec,
                var,
                offset,
                size,
            } => write!(
                f,
                "BTF: DATASEC '{datasec}': variable '{var}' ({size} bytes at {offset}) overlaps another or the section's end"
            ),
            ExtHeaderTruncated { len } => {
                write!(f, "BTF.ext: {len} bytes is shorter than the header")
            }
            ExtBadMagic { magic } => write!(f, "BTF.ext: bad magic {magic:#06x} (want 0xeb9f)"),
            ExtUnsupportedVersion { version } => {
                write!(f, "BTF.ext: unsupported version {version} (want 1)")
            }
            ExtBadHeaderLen { hdr_len, len } => {
                write!(f, "BTF.ext: header length {hdr_len} does not fit {len} bytes")
            }
            ExtRecordSizeTooSmall {
                subsection,
                rec_size,
                min,
            } => write!(
                f,
                "BTF.ext: {subsection} record size {rec_size} is smaller than {min}"
            ),
            ExtTruncated { subsection, offset } => {
                write!(f, "BTF.ext: {subsection} truncated at byte {offset}")
            }
            ExtBlockOverrun {
                subsection,
                section,
                num_info,
                offset,
            } => write!(
                f,
                "BTF.ext: {subsection} block of section '{section}' at byte {offset}: {num_info} records run past the end"
            ),
            ExtUnknownCoreReloKind { offset, kind } => {
                write!(f, "BTF.ext: CO-RE record at byte {offset} has unknown kind {kind}")
            }
            ExtBadAccessString { offset, access } => write!(
                f,
                "BTF.ext: CO-RE record at byte {offset}: bad access string '{access}'"
            ),
        }
    }
}

impl std::error::Error for BtfError {}
