//! Bytes read as the type BTF names: a record of a ring buffer, a map's key or value,
//! decoded into a [`Value`] tree (fields by name, char arrays as strings, nested structs,
//! unions, arrays and enums), with a one-line text rendering ([`fmt::Display`]) and a JSON
//! one ([`Value::to_json`]).
//!
//! ABI: the type layout of `Documentation/bpf/btf.rst` (sections 2.2, "BTF_KIND_INT" to
//! "BTF_KIND_ENUM64"): member offsets in bits, bitfields through `kind_flag` or an INT's
//! `BTF_INT_OFFSET`/`BTF_INT_BITS`, arrays of `nelems` elements. The JSON follows what
//! bpftool's BTF dumper (`tools/bpf/bpftool/btf_dumper.c`) prints for `bpftool -j map
//! dump`'s `formatted` field, so that the two can be compared: integers as numbers, a char
//! array that holds a printable, NUL-terminated string as a string, an enum as its
//! enumerator's name, a pointer as a hex string.
//!
//! Pure: [`decode`] is a function of (BTF, type id, bytes); every read is bounds-checked,
//! and a type the bytes do not cover is an error, not a panic.

use std::fmt::{self, Write as _};

use super::{Btf, BtfError, Kind, TypeBody, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED};

/// How deep structs, unions and arrays may nest before the type is called a loop (the
/// kernel's BTF checker refuses deeper nesting too: `MAX_RESOLVE_DEPTH` is 32).
pub const MAX_NESTING: usize = 32;

/// A value read through its BTF type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An unsigned integer (an unsigned INT, a bitfield).
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// An INT of 16 bytes (`__int128`), its bytes little-endian.
    Wide(u128),
    /// An INT with `BTF_INT_BOOL`.
    Bool(bool),
    /// A lone `char` (an INT with `BTF_INT_CHAR`, outside an array).
    Char(u8),
    /// A FLOAT (4 or 8 bytes; others are [`Value::Bytes`]).
    Float(f64),
    /// An ENUM or ENUM64: the enumerator of that value, if one has it.
    Enum {
        /// The enumerator's name.
        name: Option<String>,
        /// The value, sign-extended for a signed enum.
        value: i128,
    },
    /// A pointer: an address in the kernel or the traced process, printed, not followed.
    Pointer(u64),
    /// A char array up to its first NUL, when every byte before it is printable.
    String(String),
    /// An ARRAY's elements.
    Array(Vec<Value>),
    /// A STRUCT's members, in order; an anonymous struct or union member's fields are
    /// listed in place, as C names them.
    Struct(Vec<Field>),
    /// A UNION: every member, each read from the union's start.
    Union(Vec<Field>),
    /// Bytes no type explains (a `void`, a forward declaration, a function).
    Bytes(Vec<u8>),
}

/// A named member of a struct or union.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The member's name.
    pub name: String,
    /// Its value.
    pub value: Value,
}

/// Why bytes could not be read as a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// The type could not be read from the BTF.
    Btf(BtfError),
    /// The bytes end before the type does.
    Short {
        /// The type id whose bytes run past the end.
        type_id: u32,
        /// The bytes it needs, from the start of the value.
        needed: u64,
        /// The bytes there are.
        len: usize,
    },
    /// Structs, unions and arrays nest deeper than [`MAX_NESTING`].
    TooDeep {
        /// The type id at which the walk stopped.
        type_id: u32,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Btf(_) => write!(f, "the type could not be read from the BTF"),
            ValueError::Short {
                type_id,
                needed,
                len,
            } => write!(
                f,
                "type [{type_id}] needs {needed} bytes, the value has {len}"
            ),
            ValueError::TooDeep { type_id } => write!(
                f,
                "type [{type_id}] nests deeper than {MAX_NESTING} levels (a loop?)"
            ),
        }
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ValueError::Btf(error) => Some(error),
            _ => None,
        }
    }
}

impl From<BtfError> for ValueError {
    fn from(error: BtfError) -> ValueError {
        ValueError::Btf(error)
    }
}

/// Reads `bytes` as type `type_id` of `btf`. The bytes may be longer than the type (a
/// perf sample is padded to 8 bytes); shorter is [`ValueError::Short`].
pub fn decode(btf: &Btf, type_id: u32, bytes: &[u8]) -> Result<Value, ValueError> {
    let size = btf.resolve_size(type_id)?;
    if (size as usize) > bytes.len() {
        return Err(ValueError::Short {
            type_id,
            needed: u64::from(size),
            len: bytes.len(),
        });
    }
    Decoder {
        btf,
        partial: false,
    }
    .value(type_id, bytes, 0, 0)
}

/// Reads `bytes` as type `type_id` where the bytes may end before the type does: a
/// record sent at the length it fills (libbpf-tools' `execsnoop` sends its `struct event`
/// up to the last argument it copied). The members that lie wholly in the bytes are read;
/// a char array cut short reads as the string up to the cut; the members after the end
/// are left out, which [`Value::field`] then does not find.
pub fn decode_prefix(btf: &Btf, type_id: u32, bytes: &[u8]) -> Result<Value, ValueError> {
    Decoder { btf, partial: true }.value(type_id, bytes, 0, 0)
}

/// The STRUCTs (and UNIONs) of `btf` that are `size` bytes long and have a name: the
/// candidates for a record of that size. A caller that finds exactly one may say it chose
/// it by size.
pub fn named_structs_of_size(btf: &Btf, size: usize) -> Vec<u32> {
    (btf.first_id()..btf.len())
        .filter(|&id| {
            matches!(btf.kind(id), Ok(Kind::Struct | Kind::Union))
                && btf.type_name(id).is_ok_and(|name| !name.is_empty())
                && btf.resolve_size(id).is_ok_and(|s| s as usize == size)
        })
        .collect()
}

/// The walk: `bytes` starts where the outermost value starts; offsets are in bits from it.
struct Decoder<'b> {
    btf: &'b Btf,
    /// [`decode_prefix`]: members past the end of the bytes are left out.
    partial: bool,
}

impl Decoder<'_> {
    /// The value of type `id` at bit `bit_offset` of `bytes`.
    fn value(
        &self,
        id: u32,
        bytes: &[u8],
        bit_offset: u64,
        depth: usize,
    ) -> Result<Value, ValueError> {
        if depth > MAX_NESTING {
            return Err(ValueError::TooDeep { type_id: id });
        }
        let id = self.btf.skip_mods_and_typedefs(id)?;
        let ty = self.btf.type_by_id(id)?;
        let start = bit_offset / 8;
        match ty.body {
            TypeBody::Int {
                size,
                encoding,
                offset,
                bits,
            } => {
                if size == 16 && bits == 128 {
                    let raw = self.slice(id, bytes, start, 16)?;
                    let mut le = [0u8; 16];
                    le.copy_from_slice(raw);
                    return Ok(Value::Wide(u128::from_le_bytes(le)));
                }
                let bits = bits.min(64);
                let raw = self.bits(id, bytes, bit_offset + u64::from(offset), bits)?;
                Ok(int_value(raw, bits, encoding))
            }
            TypeBody::Enum {
                size,
                signed,
                ref values,
            }
            | TypeBody::Enum64 {
                size,
                signed,
                ref values,
            } => {
                let bits = (size * 8).min(64) as u8;
                let raw = self.bits(id, bytes, bit_offset, bits)?;
                let value = if signed {
                    i128::from(sign_extend(raw, bits))
                } else {
                    i128::from(raw)
                };
                let name = values
                    .iter()
                    .find(|e| {
                        let enumerator = if signed {
                            i128::from(e.value as i64)
                        } else if size <= 4 {
                            i128::from(e.value as u32)
                        } else {
                            i128::from(e.value)
                        };
                        enumerator == value
                    })
                    .map(|e| e.name.clone());
                Ok(Value::Enum { name, value })
            }
            TypeBody::Float { size } => {
                let raw = self.slice(id, bytes, start, u64::from(size))?;
                Ok(match *raw {
                    [a, b, c, d] => Value::Float(f64::from(f32::from_le_bytes([a, b, c, d]))),
                    [a, b, c, d, e, f, g, h] => {
                        Value::Float(f64::from_le_bytes([a, b, c, d, e, f, g, h]))
                    }
                    _ => Value::Bytes(raw.to_vec()),
                })
            }
            TypeBody::Ptr { .. } => {
                let raw = self.bits(id, bytes, bit_offset, 64)?;
                Ok(Value::Pointer(raw))
            }
            TypeBody::Array { elem, nelems, .. } => {
                self.array(id, elem, nelems, bytes, bit_offset, depth)
            }
            TypeBody::Struct { ref members, .. } => {
                let mut fields = Vec::with_capacity(members.len());
                self.members(members, bytes, bit_offset, depth, &mut fields)?;
                Ok(Value::Struct(fields))
            }
            TypeBody::Union { ref members, .. } => {
                let mut fields = Vec::with_capacity(members.len());
                self.members(members, bytes, bit_offset, depth, &mut fields)?;
                Ok(Value::Union(fields))
            }
            // A global data map's value: its variables, by name, at their offsets.
            TypeBody::Datasec { ref vars, .. } => {
                let mut fields = Vec::with_capacity(vars.len());
                for var in vars {
                    let name = self.btf.type_name(var.type_id)?.to_string();
                    let at = bit_offset + u64::from(var.offset) * 8;
                    let value = self.value(var.type_id, bytes, at, depth + 1)?;
                    fields.push(Field { name, value });
                }
                Ok(Value::Struct(fields))
            }
            TypeBody::Var { type_id, .. } => self.value(type_id, bytes, bit_offset, depth + 1),
            _ => {
                let size = self.btf.resolve_size(id).unwrap_or(0);
                Ok(Value::Bytes(
                    self.slice(id, bytes, start, u64::from(size))?.to_vec(),
                ))
            }
        }
    }

    /// The members of a struct or union at `bit_offset`, pushed onto `fields`; an
    /// anonymous struct or union member's own members are pushed in its place.
    fn members(
        &self,
        members: &[super::Member],
        bytes: &[u8],
        bit_offset: u64,
        depth: usize,
        fields: &mut Vec<Field>,
    ) -> Result<(), ValueError> {
        for member in members {
            let at = bit_offset + u64::from(member.bit_offset);
            if self.partial && at / 8 >= bytes.len() as u64 {
                break;
            }
            let value = if member.bitfield_size > 0 {
                let raw = self.bits(member.type_id, bytes, at, member.bitfield_size)?;
                let target = self.btf.skip_mods_and_typedefs(member.type_id)?;
                match self.btf.type_by_id(target)?.body {
                    TypeBody::Int { encoding, .. } => {
                        int_value(raw, member.bitfield_size, encoding)
                    }
                    _ => Value::Unsigned(raw),
                }
            } else {
                match self.value(member.type_id, bytes, at, depth + 1) {
                    Err(ValueError::Short { .. }) if self.partial => break,
                    other => other?,
                }
            };
            match value {
                Value::Struct(inner) | Value::Union(inner) if member.name.is_empty() => {
                    fields.extend(inner);
                }
                value => fields.push(Field {
                    name: member.name.clone(),
                    value,
                }),
            }
        }
        Ok(())
    }

    /// An array: a string when its elements are `char`s that read as one, else its
    /// elements.
    fn array(
        &self,
        id: u32,
        elem: u32,
        nelems: u32,
        bytes: &[u8],
        bit_offset: u64,
        depth: usize,
    ) -> Result<Value, ValueError> {
        let elem_size = u64::from(self.btf.resolve_size(elem)?);
        let start = bit_offset / 8;
        if elem_size == 1 && self.is_char(elem)? {
            let available = (bytes.len() as u64).saturating_sub(start);
            let len = if self.partial {
                u64::from(nelems).min(available)
            } else {
                u64::from(nelems)
            };
            let raw = self.slice(id, bytes, start, len)?;
            let cut = len < u64::from(nelems);
            if let Some(text) = printable_string(raw, cut) {
                return Ok(Value::String(text));
            }
        }
        // The whole array must lie in the bytes before any element is read: a bound on the
        // work for a huge `nelems`.
        self.slice(
            id,
            bytes,
            start,
            elem_size.saturating_mul(u64::from(nelems)),
        )?;
        let mut values = Vec::with_capacity(nelems.min(4096) as usize);
        for i in 0..u64::from(nelems) {
            values.push(self.value(elem, bytes, bit_offset + i * elem_size * 8, depth + 1)?);
        }
        Ok(Value::Array(values))
    }

    /// Is `id` a one-byte INT that C calls `char`: `BTF_INT_CHAR`, or named "char" (clang
    /// encodes `char` as a signed one-byte INT)? Modifiers are skipped, typedefs not: a
    /// `__u8` array is bytes, as bpftool's `is_str_array` has it.
    fn is_char(&self, id: u32) -> Result<bool, ValueError> {
        let id = self.btf.skip_mods(id)?;
        let ty = self.btf.type_by_id(id)?;
        Ok(match ty.body {
            TypeBody::Int {
                size: 1, encoding, ..
            } => encoding & BTF_INT_CHAR != 0 || ty.name == "char",
            _ => false,
        })
    }

    /// `len` bytes from byte `start`, or [`ValueError::Short`].
    fn slice<'a>(
        &self,
        id: u32,
        bytes: &'a [u8],
        start: u64,
        len: u64,
    ) -> Result<&'a [u8], ValueError> {
        let end = start.saturating_add(len);
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| bytes.get(start..end))
            .ok_or(ValueError::Short {
                type_id: id,
                needed: end,
                len: bytes.len(),
            })
    }

    /// `bits` bits (at most 64) from bit `bit_offset`, little-endian, as an unsigned
    /// number.
    fn bits(&self, id: u32, bytes: &[u8], bit_offset: u64, bits: u8) -> Result<u64, ValueError> {
        let bits = bits.min(64);
        let first = bit_offset / 8;
        let shift = bit_offset % 8;
        let len = (shift + u64::from(bits)).div_ceil(8);
        let raw = self.slice(id, bytes, first, len)?;
        let mut word: u128 = 0;
        for (i, &byte) in raw.iter().enumerate() {
            word |= u128::from(byte) << (8 * i);
        }
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        Ok((word >> shift) as u64 & mask)
    }
}

/// An integer of `bits` bits with its BTF encoding.
fn int_value(raw: u64, bits: u8, encoding: u8) -> Value {
    if encoding & BTF_INT_BOOL != 0 {
        Value::Bool(raw != 0)
    } else if encoding & BTF_INT_CHAR != 0 && bits == 8 {
        Value::Char(raw as u8)
    } else if encoding & BTF_INT_SIGNED != 0 {
        Value::Signed(sign_extend(raw, bits))
    } else {
        Value::Unsigned(raw)
    }
}

/// The low `bits` bits of `raw` as a two's complement number.
fn sign_extend(raw: u64, bits: u8) -> i64 {
    if bits == 0 || bits >= 64 {
        return raw as i64;
    }
    let shift = 64 - u32::from(bits);
    ((raw << shift) as i64) >> shift
}

/// The bytes up to the first NUL, if there is one (or the array was `cut` short) and every
/// byte before it is printable ASCII (bpftool's `is_str_array`); an empty string when the
/// first byte is NUL.
fn printable_string(raw: &[u8], cut: bool) -> Option<String> {
    let end = match raw.iter().position(|&b| b == 0) {
        Some(end) => end,
        None if cut => raw.len(),
        None => return None,
    };
    let text = raw.get(..end)?;
    text.iter()
        .all(|&b| (0x20..0x7f).contains(&b))
        .then(|| text.iter().map(|&b| char::from(b)).collect())
}

impl fmt::Display for Value {
    /// One line, C-like: `{pid: 181, comm: "bash", flags: [0, 1]}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(n) => write!(f, "{n}"),
            Value::Signed(n) => write!(f, "{n}"),
            Value::Wide(n) => write!(f, "{n:#x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Char(c) => write!(f, "{:?}", char::from(*c)),
            Value::Float(x) => write!(f, "{x}"),
            Value::Enum {
                name: Some(name), ..
            } => f.write_str(name),
            Value::Enum { name: None, value } => write!(f, "{value}"),
            Value::Pointer(p) => write!(f, "{p:#x}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(bytes) => {
                f.write_str("<")?;
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(">")
            }
            Value::Array(values) => {
                f.write_str("[")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) | Value::Union(fields) => {
                f.write_str("{")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", field.name, field.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl Value {
    /// The value as JSON, on one line (bpftool's `formatted` conventions; see the module's
    /// header). A float that is not finite is `null`.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.push_json(&mut out);
        out
    }

    /// Appends the JSON to `out`.
    pub fn push_json(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self {
            Value::Unsigned(n) => write!(out, "{n}"),
            Value::Signed(n) => write!(out, "{n}"),
            Value::Wide(n) => write!(out, "\"{n:#x}\""),
            Value::Bool(b) => write!(out, "{b}"),
            Value::Char(c) => write!(out, "{c}"),
            Value::Float(x) if x.is_finite() => write!(out, "{x}"),
            Value::Float(_) => write!(out, "null"),
            Value::Enum {
                name: Some(name), ..
            } => {
                push_json_string(out, name);
                Ok(())
            }
            Value::Enum { name: None, value } => write!(out, "{value}"),
            Value::Pointer(p) => write!(out, "\"{p:#x}\""),
            Value::String(s) => {
                push_json_string(out, s);
                Ok(())
            }
            Value::Bytes(bytes) => {
                out.push('[');
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{b:#04x}\"");
                }
                out.push(']');
                Ok(())
            }
            Value::Array(values) => {
                out.push('[');
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    value.push_json(out);
                }
                out.push(']');
                Ok(())
            }
            Value::Struct(fields) | Value::Union(fields) => {
                out.push('{');
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(out, &field.name);
                    out.push(':');
                    field.value.push_json(out);
                }
                out.push('}');
                Ok(())
            }
        };
    }

    /// The member `name` of a struct or union value.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) | Value::Union(fields) => {
                fields.iter().find(|f| f.name == name).map(|f| &f.value)
            }
            _ => None,
        }
    }
}

/// `text` as a JSON string, quoted and escaped.
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::build::BtfBuilder;

    /// `struct event { int pid; char comm[8]; unsigned flags:3, mode:5; enum e state;
    /// union { u16 a; u8 b; }; }`.
    fn event_btf() -> (Btf, u32) {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, BTF_INT_SIGNED);
        let uint = b.add_int("unsigned int", 4, 0);
        let chr = b.add_int("char", 1, BTF_INT_SIGNED);
        let u16_ = b.add_int("u16", 2, 0);
        let u8_ = b.add_int("u8", 1, 0);
        let comm = b.add_array(chr, uint, 8);
        let state = b.add_enum("e", 4, false, &[("IDLE", 0), ("BUSY", 7)]);
        let anon = b.add_union("", 2, &[("a", u16_, 0, 0), ("b", u8_, 0, 0)]);
        let event = b.add_struct(
            "event",
            24,
            &[
                ("pid", int, 0, 0),
                ("comm", comm, 32, 0),
                ("flags", uint, 96, 3),
                ("mode", uint, 99, 5),
                ("state", state, 128, 0),
                ("", anon, 160, 0),
            ],
        );
        (Btf::parse(b.build()).unwrap(), event)
    }

    fn event_bytes() -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(-5i32).to_le_bytes());
        bytes.extend_from_slice(b"bash\0\0\0\0");
        // flags = 5 (bits 0-2), mode = 17 (bits 3-7): 0b10001_101.
        bytes.extend_from_slice(&[0b1000_1101, 0, 0, 0]);
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(&0x1234u16.to_le_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes
    }

    #[test]
    fn a_struct_reads_field_by_field() {
        let (btf, event) = event_btf();
        let value = decode(&btf, event, &event_bytes()).unwrap();
        assert_eq!(
            value.to_string(),
            "{pid: -5, comm: \"bash\", flags: 5, mode: 17, state: BUSY, a: 4660, b: 52}"
        );
        assert_eq!(
            value.to_json(),
            "{\"pid\":-5,\"comm\":\"bash\",\"flags\":5,\"mode\":17,\"state\":\"BUSY\",\
             \"a\":4660,\"b\":52}"
        );
        assert_eq!(value.field("pid"), Some(&Value::Signed(-5)));
    }

    #[test]
    fn an_enum_value_without_an_enumerator_is_a_number() {
        let (btf, event) = event_btf();
        let mut bytes = event_bytes();
        bytes[16] = 3;
        let value = decode(&btf, event, &bytes).unwrap();
        assert_eq!(
            value.field("state"),
            Some(&Value::Enum {
                name: None,
                value: 3
            })
        );
    }

    #[test]
    fn a_char_array_that_is_not_a_string_is_an_array() {
        let (btf, event) = event_btf();
        let mut bytes = event_bytes();
        // No NUL in the 8 bytes: not a C string.
        bytes[4..12].copy_from_slice(b"abcdefgh");
        let value = decode(&btf, event, &bytes).unwrap();
        let expected: Vec<Value> = b"abcdefgh"
            .iter()
            .map(|&c| Value::Signed(i64::from(c)))
            .collect();
        assert_eq!(value.field("comm"), Some(&Value::Array(expected)));
    }

    #[test]
    fn short_bytes_are_an_error_naming_the_sizes() {
        let (btf, event) = event_btf();
        assert_eq!(
            decode(&btf, event, &event_bytes()[..23]),
            Err(ValueError::Short {
                type_id: event,
                needed: 24,
                len: 23
            })
        );
    }

    #[test]
    fn a_prefix_reads_the_members_it_holds() {
        let (btf, event) = event_btf();
        // pid and 3 bytes of comm: the string cut there, the rest left out.
        let value = decode_prefix(&btf, event, &event_bytes()[..7]).unwrap();
        assert_eq!(value.to_string(), "{pid: -5, comm: \"bas\"}");
        assert_eq!(value.field("flags"), None);
    }

    #[test]
    fn structs_are_found_by_size() {
        let (btf, event) = event_btf();
        assert_eq!(named_structs_of_size(&btf, 24), vec![event]);
        assert!(named_structs_of_size(&btf, 25).is_empty());
    }
}
