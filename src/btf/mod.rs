//! BTF, the BPF Type Format: the `.BTF` section of an object and the kernel's own
//! `/sys/kernel/btf/vmlinux`.
//!
//! ABI: `include/uapi/linux/btf.h`; described in `Documentation/bpf/btf.rst`.
//!
//! ```text
//!   struct btf_header   magic 0xeB9F, version 1, flags, hdr_len,
//!                       type_off, type_len, str_off, str_len   (offsets after the header)
//!   type section        struct btf_type { name_off, info, size|type } + kind-specific data,
//!                       one after the other; the first is type id 1 (id 0 is `void`)
//!   string section      NUL-terminated strings; offset 0 is the empty string
//! ```
//!
//! [`Btf::parse`] checks the header and walks the type section once, recording where each
//! type starts (the offsets table) and checking that every record fits. Types are decoded
//! on demand into an owned [`Type`]: the kernel's BTF has ~127k types and a loader needs a
//! few dozen of them; a walk over all of them reads each in place ([`Btf::view`]). Lookups by name go through a hash index of essential names (see
//! [`essential_name`]) built in the same pass; FUNCs (~56k in a kernel, never a CO-RE
//! candidate) get their own index on the first FUNC lookup.
//!
//! This file holds [`Btf`] and its one pass over the bytes. Beside it: `types.rs` (the
//! decoded [`Type`], [`Kind`], [`TypeBody`]), `view.rs` (a type read in place,
//! [`TypeView`]: [`TypeBody`]'s shape with iterators over the records), `error.rs` ([`BtfError`]), `index.rs` (the
//! name index, [`essential_name`]). Submodules: [`ext`] (`.BTF.ext`: func_info, line_info,
//! CO-RE records), [`value`] (bytes read as a type: records, map keys and values), [`build`] (writes BTF bytes: the kernel feature probes' blobs, the tests'
//! hand-made BTF), [`kernel`] (the running kernel's BTF), [`sanitize`] (rewrites for older
//! kernels), [`core`] (CO-RE relocation), [`dump_c`] (BTF as a C header, bpftool's
//! `vmlinux.h`) and [`gen_rust`] (Rust types and typed accessors for an object).
//!
//! Only little-endian BTF is read: the loader runs on the machine the BTF is for.

pub mod build;
pub mod core;
pub mod dump_c;
mod error;
pub mod ext;
mod externs;
pub mod gen_rust;
mod index;
pub mod kernel;
pub mod layout;
pub mod sanitize;
mod types;
pub mod value;
mod view;

pub use error::BtfError;
pub use index::essential_name;
use index::{essential_hash, NameIndex};
pub use types::*;
pub use view::*;

use std::fmt;
use std::sync::{Arc, OnceLock};

/// `BTF_MAGIC`, as read in the host's (little-endian) byte order.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// The one BTF version there is.
pub const BTF_VERSION: u8 = 1;
/// `sizeof(struct btf_header)`.
pub const BTF_HEADER_LEN: usize = 24;
/// `sizeof(struct btf_type)`: name_off, info, size|type.
const BTF_TYPE_LEN: usize = 12;
/// `BTF_MAX_VLEN`: vlen is 16 bits in `info`.
const VLEN_MASK: u32 = 0xffff;
/// How many typedefs/modifiers/arrays a chain may hold before it is called a loop
/// (the kernel's `MAX_RESOLVE_DEPTH` is 32).
pub const MAX_RESOLVE_DEPTH: usize = 32;
/// The size of a pointer on the BPF target.
pub const PTR_SIZE: u32 = 8;

/// The bytes a [`Btf`] reads: its own, or a read-only mapping of a file.
#[derive(Clone)]
enum Data {
    Owned(Vec<u8>),
    Mapped(Arc<memmap2::Mmap>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::Mapped(m) => m,
        }
    }
}

/// Reads a little-endian `u32` at `off`, if the bytes are there.
pub(crate) fn read_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u16` at `off`, if the bytes are there.
pub(crate) fn read_u16(bytes: &[u8], off: usize) -> Option<u16> {
    let b = bytes.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// `struct btf_type`'s three words.
#[derive(Debug, Clone, Copy)]
struct RawType {
    name_off: u32,
    info: u32,
    size_or_type: u32,
}

impl RawType {
    fn kind_u8(self) -> u8 {
        ((self.info >> 24) & 0x1f) as u8
    }
}

/// Parsed BTF: the raw bytes, where each type starts, and lookups that decode on demand.
#[derive(Clone)]
pub struct Btf {
    data: Data,
    /// Split BTF (a kernel module's): the BTF it extends. Its ids and string offsets
    /// come first; this one's continue after them.
    base: Option<Arc<Btf>>,
    /// The id of this BTF's first own type: 1, or the base's `len()` for split BTF.
    first_id: u32,
    /// The string offset of this BTF's first own string: 0, or the base's string
    /// section length for split BTF.
    first_str: u32,
    /// Absolute byte range of the type section.
    type_start: usize,
    type_end: usize,
    /// Absolute byte range of the string section.
    str_start: usize,
    str_end: usize,
    /// `offsets[id - first_id]`: start of type `id`, relative to `type_start`.
    offsets: Vec<u32>,
    /// Named types other than FUNC, by essential name: built with the offsets.
    names: NameIndex,
    /// FUNCs by name (a kernel has ~56k of them and CO-RE never looks for one): built
    /// on the first lookup of a FUNC.
    func_names: OnceLock<NameIndex>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.len())
            .field("type_len", &(self.type_end - self.type_start))
            .field("str_len", &(self.str_end - self.str_start))
            .finish()
    }
}

impl Btf {
    /// Parses BTF it will own (e.g. an object's `.BTF` section, copied).
    pub fn parse(bytes: Vec<u8>) -> Result<Btf, BtfError> {
        Btf::from_data(Data::Owned(bytes), None)
    }

    /// Parses BTF that lives in a read-only mapping (the kernel's, see [`kernel`]).
    pub fn parse_mapped(map: memmap2::Mmap) -> Result<Btf, BtfError> {
        Btf::from_data(Data::Mapped(Arc::new(map)), None)
    }

    /// Parses split BTF on top of `base`: a kernel module's BTF (`/sys/kernel/btf/<module>`,
    /// or what `BPF_OBJ_GET_INFO_BY_FD` gives for a module's BTF object) on vmlinux's.
    /// Its type ids continue after the base's last (its first type is `base.len()`) and
    /// its string offsets after the base's string section; types and names may refer to
    /// the base's. Lookups see both: the base's types first.
    pub fn parse_split(bytes: Vec<u8>, base: Arc<Btf>) -> Result<Btf, BtfError> {
        Btf::from_data(Data::Owned(bytes), Some(base))
    }

    fn from_data(data: Data, base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        let bytes = data.bytes();
        let len = bytes.len();
        if len < BTF_HEADER_LEN {
            return Err(BtfError::HeaderTruncated { len });
        }
        let magic = read_u16(bytes, 0).unwrap_or(0);
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(BtfError::ForeignByteOrder);
        }
        if magic != BTF_MAGIC {
            return Err(BtfError::BadMagic { magic });
        }
        let version = bytes.get(2).copied().unwrap_or(0);
        if version != BTF_VERSION {
            return Err(BtfError::UnsupportedVersion { version });
        }
        let hdr_len = read_u32(bytes, 4).unwrap_or(0);
        if (hdr_len as usize) < BTF_HEADER_LEN || hdr_len as usize > len {
            return Err(BtfError::BadHeaderLen { hdr_len, len });
        }
        // A longer header than we know is fine if its tail is zero (as the kernel checks).
        if let Some(tail) = bytes.get(BTF_HEADER_LEN..hdr_len as usize) {
            if let Some(pos) = tail.iter().position(|&b| b != 0) {
                return Err(BtfError::UnknownHeaderField {
                    offset: BTF_HEADER_LEN + pos,
                });
            }
        }
        let field = |off| read_u32(bytes, off).unwrap_or(0);
        let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
        let section = |name, off: u32, sec_len: u32| {
            let start = (hdr_len as usize).checked_add(off as usize);
            let end = start.and_then(|s| s.checked_add(sec_len as usize));
            match (start, end) {
                (Some(s), Some(e)) if e <= len => Ok((s, e)),
                _ => Err(BtfError::SectionOutOfBounds {
                    section: name,
                    off,
                    len: sec_len,
                    data_len: len - hdr_len as usize,
                }),
            }
        };
        let (type_start, type_end) = section("type", type_off, type_len)?;
        let (str_start, str_end) = section("string", str_off, str_len)?;
        let strings = bytes.get(str_start..str_end).unwrap_or(&[]);
        // The kernel's rules (`btf_parse_str_sec`): a base's strings start with the empty
        // string; split BTF's may be empty, and start anywhere (offset 0 is the base's).
        if base.is_none() && strings.first() != Some(&0) {
            return Err(BtfError::StringSectionStart);
        }
        if !strings.is_empty() && strings.last() != Some(&0) {
            return Err(BtfError::StringSectionNotTerminated);
        }
        if base.is_none() && strings.is_empty() {
            return Err(BtfError::StringSectionStart);
        }
        let (first_id, first_str) = match &base {
            Some(base) => (base.len(), base.first_str + base.strings().len() as u32),
            None => (1, 0),
        };
        let types = bytes.get(type_start..type_end).unwrap_or(&[]);
        let pool = Strings {
            base: base.as_deref(),
            own: strings,
            first: first_str,
        };
        let (offsets, named) = index_types(types, first_id, &pool)?;
        Ok(Btf {
            data,
            base,
            first_id,
            first_str,
            type_start,
            type_end,
            str_start,
            str_end,
            offsets,
            names: NameIndex::new(&named),
            func_names: OnceLock::new(),
        })
    }

    /// The raw BTF bytes (fixed up by [`Btf::fixup_datasecs`]), for `BPF_BTF_LOAD`.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.bytes()
    }

    /// Number of types, counting `void` (id 0): valid ids are `0..len()`.
    pub fn len(&self) -> u32 {
        self.first_id + self.offsets.len() as u32
    }

    /// True when the BTF holds no type besides `void` (split BTF: none of its own).
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The BTF this one extends (split BTF), if any.
    pub fn base(&self) -> Option<&Btf> {
        self.base.as_deref()
    }

    /// The id of this BTF's first own type: 1, or for split BTF the base's [`Btf::len`].
    /// Own types are `first_id()..len()`.
    pub fn first_id(&self) -> u32 {
        self.first_id
    }

    /// The base that holds type `id`, when `id` is not one of this BTF's own.
    fn base_for(&self, id: u32) -> Option<&Btf> {
        self.base
            .as_deref()
            .filter(|_| id != 0 && id < self.first_id)
    }

    fn types(&self) -> &[u8] {
        self.data
            .bytes()
            .get(self.type_start..self.type_end)
            .unwrap_or(&[])
    }

    fn strings(&self) -> &[u8] {
        self.data
            .bytes()
            .get(self.str_start..self.str_end)
            .unwrap_or(&[])
    }

    /// The string at `offset` in the string section, without its NUL, as bytes.
    pub fn name_bytes(&self, offset: u32) -> Result<&[u8], BtfError> {
        if let Some(base) = self.base.as_deref().filter(|_| offset < self.first_str) {
            return base.name_bytes(offset);
        }
        let strings = self.strings();
        let rest = strings
            .get((offset - self.first_str) as usize..)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| BtfError::StringOutOfBounds {
                offset,
                str_len: self.first_str as usize + strings.len(),
            })?;
        // `CStr` finds the NUL with the standard library's word-at-a-time search.
        match std::ffi::CStr::from_bytes_until_nul(rest) {
            Ok(c) => Ok(c.to_bytes()),
            Err(_) => Err(BtfError::StringNotTerminated { offset }),
        }
    }

    /// The string at `offset` in the string section (a type, member, file or line name).
    pub fn name(&self, offset: u32) -> Result<&str, BtfError> {
        std::str::from_utf8(self.name_bytes(offset)?)
            .map_err(|_| BtfError::StringNotUtf8 { offset })
    }

    /// Where own type `id` starts in the type section (a base's type is out of range).
    fn check_id(&self, id: u32) -> Result<usize, BtfError> {
        if id < self.first_id || id >= self.len() {
            return Err(BtfError::TypeIdOutOfRange {
                id,
                count: self.len(),
            });
        }
        let off = self
            .offsets
            .get((id - self.first_id) as usize)
            .copied()
            .unwrap_or(0);
        Ok(off as usize)
    }

    fn raw(&self, id: u32) -> Result<RawType, BtfError> {
        if let Some(base) = self.base_for(id) {
            return base.raw(id);
        }
        let off = self.check_id(id)?;
        let t = self.types();
        // A `match`, not `ok_or`: the error is built only when it is one (this runs for
        // every lookup, and an unused `BtfError` still costs its drop).
        let word = |i: usize| match read_u32(t, off + 4 * i) {
            Some(w) => Ok(w),
            None => Err(BtfError::TypeTruncated { id, offset: off }),
        };
        Ok(RawType {
            name_off: word(0)?,
            info: word(1)?,
            size_or_type: word(2)?,
        })
    }

    /// The kind of type `id`, without decoding it.
    pub fn kind(&self, id: u32) -> Result<Kind, BtfError> {
        if id == 0 {
            return Ok(Kind::Void);
        }
        if let Some(base) = self.base_for(id) {
            return base.kind(id);
        }
        let raw = self.raw(id)?;
        Kind::from_u8(raw.kind_u8()).ok_or(BtfError::UnknownKind {
            id,
            offset: self.check_id(id)?,
            kind: raw.kind_u8(),
        })
    }

    /// The name of type `id` ("" when anonymous), without decoding it.
    pub fn type_name(&self, id: u32) -> Result<&str, BtfError> {
        if id == 0 {
            return Ok("");
        }
        self.name(self.raw(id)?.name_off)
    }

    /// Decodes type `id` (0 is `void`) into an owned [`Type`]: its [`Btf::view`], every
    /// name read and every list collected.
    pub fn type_by_id(&self, id: u32) -> Result<Type, BtfError> {
        self.view(id)?.to_type()
    }

    /// The type ids type `id` refers to (members', parameters', an array's element and
    /// index, a pointer's or typedef's target...), read in place: no name is decoded
    /// (libbpf's `btf_type_visit_type_ids`). A DECL_TAG's target is included.
    pub fn type_refs(&self, id: u32) -> Result<Vec<u32>, BtfError> {
        Ok(self.view(id)?.type_refs().collect())
    }

    /// Follows typedefs and modifiers (const, volatile, restrict, type tags) from `id` to
    /// the first other type. Errors on a loop.
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let kind = self.kind(cur)?;
            if kind == Kind::Typedef || kind.is_modifier() {
                cur = self.raw(cur)?.size_or_type;
            } else {
                return Ok(cur);
            }
        }
        Err(BtfError::TypeLoop { id })
    }

    /// Follows modifiers only (not typedefs).
    pub fn skip_mods(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            if self.kind(cur)?.is_modifier() {
                cur = self.raw(cur)?.size_or_type;
            } else {
                return Ok(cur);
            }
        }
        Err(BtfError::TypeLoop { id })
    }

    /// The size in bytes of type `id`, through typedefs, modifiers, VARs and arrays
    /// (`nelems` times the element's size). Errors on a loop, on an unsized type and on
    /// overflow.
    pub fn resolve_size(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        let mut mult: u64 = 1;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let kind = self.kind(cur)?;
            let size = match kind {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Float
                | Kind::Datasec => self.raw(cur)?.size_or_type,
                Kind::Ptr => PTR_SIZE,
                Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::TypeTag
                | Kind::Var => {
                    cur = self.raw(cur)?.size_or_type;
                    continue;
                }
                Kind::Array => {
                    let (elem, nelems) = self.array_info(cur)?;
                    mult = mult
                        .checked_mul(nelems as u64)
                        .filter(|&m| m <= u32::MAX as u64)
                        .ok_or(BtfError::SizeOverflow { id })?;
                    cur = elem;
                    continue;
                }
                Kind::Void | Kind::Fwd | Kind::Func | Kind::FuncProto | Kind::DeclTag => {
                    return Err(BtfError::NotSized { id: cur, kind })
                }
            };
            return u32::try_from(mult * size as u64).map_err(|_| BtfError::SizeOverflow { id });
        }
        Err(BtfError::TypeLoop { id })
    }

    /// An ARRAY's element type and element count, without decoding.
    fn array_info(&self, id: u32) -> Result<(u32, u32), BtfError> {
        if let Some(base) = self.base_for(id) {
            return base.array_info(id);
        }
        let off = self.check_id(id)?;
        let t = self.types();
        let truncated = BtfError::TypeTruncated { id, offset: off };
        let elem = read_u32(t, off + BTF_TYPE_LEN).ok_or(truncated.clone())?;
        let nelems = read_u32(t, off + BTF_TYPE_LEN + 8).ok_or(truncated)?;
        Ok((elem, nelems))
    }

    fn func_index(&self) -> &NameIndex {
        self.func_names.get_or_init(|| {
            let pool = Strings {
                base: self.base.as_deref(),
                own: self.strings(),
                first: self.first_str,
            };
            let funcs: Vec<(u32, u32)> = (self.first_id..self.len())
                .filter_map(|id| {
                    let raw = self.raw(id).ok()?;
                    (raw.kind_u8() == Kind::Func as u8 && raw.name_off != 0)
                        .then(|| (essential_hash(pool.tail(raw.name_off)), id))
                })
                .collect();
            NameIndex::new(&funcs)
        })
    }

    /// Ids of the types of a kind compatible with `kind` (the kind itself; ENUM and
    /// ENUM64 together) whose essential name (see [`essential_name`]) is `essential`, in
    /// id order: `sock` finds `sock` and `sock___old`. CO-RE's candidates.
    pub fn ids_by_essential_name(&self, essential: &str, kind: Kind) -> Vec<u32> {
        let index = if kind == Kind::Func {
            self.func_index()
        } else {
            &self.names
        };
        let enums = |k| matches!(k, Kind::Enum | Kind::Enum64);
        let mut ids = match &self.base {
            Some(base) => base.ids_by_essential_name(essential, kind),
            None => Vec::new(),
        };
        let base_count = ids.len();
        ids.extend(index.candidates(essential.as_bytes()));
        let mut i = 0;
        // The base's ids are already checked.
        ids.retain(|&id| {
            i += 1;
            i <= base_count
                || (self
                    .kind(id)
                    .is_ok_and(|k| k == kind || (enums(k) && enums(kind)))
                    && self
                        .type_name(id)
                        .is_ok_and(|n| essential_name(n) == essential))
        });
        ids
    }

    /// Ids of the types named exactly `name`, in id order, of any kind (FUNCs included).
    pub fn ids_by_name(&self, name: &str) -> Vec<u32> {
        let essential = essential_name(name).as_bytes();
        let mut own = self.names.candidates(essential);
        own.extend(self.func_index().candidates(essential));
        own.sort_unstable();
        own.retain(|&id| self.type_name(id) == Ok(name));
        match &self.base {
            Some(base) => {
                let mut ids = base.ids_by_name(name);
                ids.extend(own);
                ids
            }
            None => own,
        }
    }

    /// The first type (lowest id) named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Result<u32, BtfError> {
        self.ids_by_essential_name(essential_name(name), kind)
            .into_iter()
            .find(|&id| self.kind(id) == Ok(kind) && self.type_name(id) == Ok(name))
            .ok_or_else(|| BtfError::NotFound {
                name: name.to_string(),
                kind,
            })
    }

    /// Fills in what clang leaves as 0 in the DATASECs, so the kernel accepts the BTF:
    /// each DATASEC's size is `section_size(datasec name)`, each variable's offset is
    /// `symbol_offset(datasec name, variable name)`; then the variables are sorted by
    /// offset and checked not to overlap (the kernel requires ascending, non-overlapping
    /// offsets inside the section).
    ///
    /// A DATASEC whose size is already non-zero keeps it; `section_size` returning `None`
    /// for a DATASEC of size 0, or `symbol_offset` returning `None`, is an error (the
    /// caller decides which sections to describe; `.ksyms`/`.kconfig` externs have no
    /// ELF section and should be handled before BTF is loaded).
    pub fn fixup_datasecs(
        &mut self,
        section_size: impl Fn(&str) -> Option<u32>,
        symbol_offset: impl Fn(&str, &str) -> Option<u32>,
    ) -> Result<(), BtfError> {
        // Compute all patches first (reading), then write them (the bytes are borrowed).
        let mut patches: Vec<(usize, u32)> = Vec::new();
        for id in self.first_id..self.len() {
            if self.kind(id)? != Kind::Datasec {
                continue;
            }
            let ty = self.type_by_id(id)?;
            let TypeBody::Datasec { size, vars } = &ty.body else {
                continue;
            };
            let abs = self.type_start + self.check_id(id)?;
            let sec_size = if *size != 0 {
                *size
            } else {
                section_size(&ty.name).ok_or_else(|| BtfError::DatasecSectionUnknown {
                    datasec: ty.name.clone(),
                })?
            };
            patches.push((abs + 8, sec_size));
            let mut fixed: Vec<(VarSecinfo, String)> = Vec::with_capacity(vars.len());
            for v in vars {
                let var_name = self.type_name(v.type_id)?.to_string();
                let offset = symbol_offset(&ty.name, &var_name).ok_or_else(|| {
                    BtfError::DatasecSymbolUnknown {
                        datasec: ty.name.clone(),
                        var: var_name.clone(),
                    }
                })?;
                fixed.push((VarSecinfo { offset, ..*v }, var_name));
            }
            crate::sort::by_key(&mut fixed, |(v, _)| u64::from(v.offset));
            let mut end = 0u64;
            for (i, (v, var_name)) in fixed.iter().enumerate() {
                let v_end = v.offset as u64 + v.size as u64;
                if (v.offset as u64) < end || v_end > sec_size as u64 {
                    return Err(BtfError::DatasecOverlap {
                        datasec: ty.name.clone(),
                        var: var_name.clone(),
                        offset: v.offset,
                        size: v.size,
                    });
                }
                end = v_end;
                let at = abs + BTF_TYPE_LEN + 12 * i;
                patches.push((at, v.type_id));
                patches.push((at + 4, v.offset));
                patches.push((at + 8, v.size));
            }
        }
        let Data::Owned(bytes) = &mut self.data else {
            return if patches.is_empty() {
                Ok(())
            } else {
                Err(BtfError::ReadOnly)
            };
        };
        for (at, value) in patches {
            if let Some(slot) = bytes.get_mut(at..at + 4) {
                slot.copy_from_slice(&value.to_le_bytes());
            }
        }
        Ok(())
    }
}

/// The string sections a BTF's names are read from: its own, after its base's for split
/// BTF (offsets below `first` are the base's).
struct Strings<'a> {
    base: Option<&'a Btf>,
    own: &'a [u8],
    first: u32,
}

impl Strings<'_> {
    /// Whether `offset` falls inside the string sections (below `first`: the base's,
    /// which is whole by construction).
    fn contains(&self, offset: u32) -> bool {
        match offset.checked_sub(self.first) {
            Some(own) => (own as usize) < self.own.len(),
            None => self.base.is_some(),
        }
    }

    /// The bytes of the string at `offset`, to its NUL or the end of its section (empty
    /// when out of bounds).
    fn tail(&self, offset: u32) -> &[u8] {
        match (offset.checked_sub(self.first), self.base) {
            (Some(own), _) => self.own.get(own as usize..).unwrap_or(&[]),
            (None, Some(base)) => base.name_bytes(offset).unwrap_or(&[]),
            (None, None) => &[],
        }
    }
}

/// Bytes after `struct btf_type` in a record of kind number `kind_u8` with `vlen`
/// entries; `None` for a kind this crate does not know. (A FUNC's vlen is its linkage,
/// not a count.)
fn record_len(kind_u8: u8, vlen: usize) -> Option<usize> {
    Some(match kind_u8 {
        1 | 14 | 17 => 4,                            // INT, VAR, DECL_TAG
        3 => 12,                                     // ARRAY
        4 | 5 | 15 | 19 => 12 * vlen,                // STRUCT, UNION, DATASEC, ENUM64
        6 | 13 => 8 * vlen,                          // ENUM, FUNC_PROTO
        2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0, // the rest
        _ => return None,
    })
}

/// One pass over the type section: the start of each type, every record checked to fit,
/// every kind known, every name offset inside the string section; and the
/// `(essential name hash, id)` of every named type but FUNCs, for the name index.
/// Reads each header once, as a fixed 12-byte array: this runs over all ~127k types of
/// the kernel's BTF.
/// Split BTF's first id is `first_id`, and its names may be the base's (`strings`).
#[allow(clippy::type_complexity)]
fn index_types(
    types: &[u8],
    first_id: u32,
    strings: &Strings<'_>,
) -> Result<(Vec<u32>, Vec<(u32, u32)>), BtfError> {
    // Each type takes at least 12 bytes: that bounds the count.
    let mut offsets = Vec::with_capacity(types.len() / BTF_TYPE_LEN);
    let mut named = Vec::new();
    let mut off = 0usize;
    while off < types.len() {
        let id = u32::try_from(offsets.len())
            .ok()
            .and_then(|n| n.checked_add(first_id))
            .ok_or(BtfError::TooManyTypes)?;
        let header: &[u8; BTF_TYPE_LEN] = types
            .get(off..off + BTF_TYPE_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(BtfError::TypeTruncated { id, offset: off })?;
        let name_off = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let info = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let kind_u8 = ((info >> 24) & 0x1f) as u8;
        let vlen = (info & VLEN_MASK) as usize;
        let Some(extra) = record_len(kind_u8, vlen) else {
            return Err(BtfError::UnknownKind {
                id,
                offset: off,
                kind: kind_u8,
            });
        };
        if !strings.contains(name_off) {
            return Err(BtfError::TypeNameOutOfBounds { id, name_off });
        }
        let end = off + BTF_TYPE_LEN + extra;
        if end > types.len() {
            let kind = Kind::from_u8(kind_u8).unwrap_or(Kind::Void);
            let has_entries = matches!(kind_u8, 4 | 5 | 6 | 13 | 15 | 19);
            return Err(if has_entries && vlen > 0 {
                BtfError::VlenOutOfBounds {
                    id,
                    offset: off,
                    kind,
                    vlen: vlen as u16,
                }
            } else {
                BtfError::TypeTruncated { id, offset: off }
            });
        }
        if name_off != 0 && kind_u8 != Kind::Func as u8 {
            named.push((essential_hash(strings.tail(name_off)), id));
        }
        offsets.push(off as u32);
        off = end;
    }
    Ok((offsets, named))
}

#[cfg(test)]
mod tests;
