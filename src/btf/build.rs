//! Writes BTF bytes (`include/uapi/linux/btf.h`; `Documentation/bpf/btf.rst`): types are
//! added one by one and get consecutive ids from 1; [`BtfBuilder::build`] lays out the
//! header, the type section and the string section. The kernel feature probes
//! ([`crate::features`]) write their one-kind blobs with it, and tests their hand-made BTF.
//!
//! The builder writes what it is told: it does not check that the type ids it is given
//! exist, so it can also make the broken BTF that tests need.

use super::{Kind, BTF_HEADER_LEN, BTF_MAGIC, BTF_VERSION};
use std::collections::HashMap;

/// Builds a BTF blob.
#[derive(Debug, Clone)]
pub struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
    count: u32,
    /// Split BTF: the base's type count (ids start at it) and string section length
    /// (offsets start at it); 1 and 0 otherwise.
    first_id: u32,
    first_str: u32,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        BtfBuilder::new()
    }
}

/// A member for [`BtfBuilder::add_struct`]: name, type id, bit offset, bitfield size
/// (0 when not a bitfield).
pub type MemberSpec<'a> = (&'a str, u32, u32, u8);

impl BtfBuilder {
    /// An empty blob: no types, the string section holding only the empty string.
    pub fn new() -> BtfBuilder {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            string_offsets: HashMap::from([(String::new(), 0)]),
            count: 0,
            first_id: 1,
            first_str: 0,
        }
    }

    /// Split BTF on top of `base` (a kernel module's on vmlinux's): ids continue after
    /// the base's last type, string offsets after its string section, and the string
    /// section starts empty (the empty string is the base's offset 0). Names are not
    /// looked up in the base: each added name is a string of the split BTF.
    pub fn new_split(base: &super::Btf) -> BtfBuilder {
        BtfBuilder {
            types: Vec::new(),
            strings: Vec::new(),
            string_offsets: HashMap::from([(String::new(), 0)]),
            count: 0,
            first_id: base.len(),
            first_str: base.first_str + base.strings().len() as u32,
        }
    }

    /// The offset of `s` in the string section, adding it once.
    pub fn add_string(&mut self, s: &str) -> u32 {
        if let Some(&off) = self.string_offsets.get(s) {
            return off;
        }
        let off = self.first_str + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(s.to_string(), off);
        off
    }

    /// Appends a raw `struct btf_type` plus `extra` words; returns its id.
    pub fn add_raw(&mut self, name_off: u32, info: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        for w in [name_off, info, size_or_type].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.count += 1;
        self.first_id + self.count - 1
    }

    fn info(kind: Kind, kind_flag: bool, vlen: usize) -> u32 {
        ((kind_flag as u32) << 31) | ((kind as u32) << 24) | (vlen as u32 & 0xffff)
    }

    fn add(
        &mut self,
        name: &str,
        kind: Kind,
        kflag: bool,
        vlen: usize,
        st: u32,
        extra: &[u32],
    ) -> u32 {
        let name_off = self.add_string(name);
        self.add_raw(name_off, Self::info(kind, kflag, vlen), st, extra)
    }

    /// INT: `encoding` is `BTF_INT_SIGNED` | `BTF_INT_CHAR` | `BTF_INT_BOOL`; all
    /// `size * 8` bits used.
    pub fn add_int(&mut self, name: &str, size: u32, encoding: u8) -> u32 {
        let bits = size * 8;
        self.add(
            name,
            Kind::Int,
            false,
            0,
            size,
            &[((encoding as u32) << 24) | bits],
        )
    }

    /// FLOAT of `size` bytes.
    pub fn add_float(&mut self, name: &str, size: u32) -> u32 {
        self.add(name, Kind::Float, false, 0, size, &[])
    }

    /// PTR to `target`.
    pub fn add_ptr(&mut self, target: u32) -> u32 {
        self.add("", Kind::Ptr, false, 0, target, &[])
    }

    /// ARRAY of `nelems` `elem`s, indexed by `index` (`struct btf_array`).
    pub fn add_array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        self.add("", Kind::Array, false, 0, 0, &[elem, index, nelems])
    }

    fn add_composite(&mut self, kind: Kind, name: &str, size: u32, members: &[MemberSpec]) -> u32 {
        let kflag = members.iter().any(|m| m.3 != 0);
        let mut extra = Vec::with_capacity(members.len() * 3);
        for &(mname, ty, bit_offset, bitfield) in members {
            extra.push(self.add_string(mname));
            extra.push(ty);
            extra.push(if kflag {
                ((bitfield as u32) << 24) | (bit_offset & 0x00ff_ffff)
            } else {
                bit_offset
            });
        }
        self.add(name, kind, kflag, members.len(), size, &extra)
    }

    /// STRUCT; `kind_flag` is set when any member is a bitfield.
    pub fn add_struct(&mut self, name: &str, size: u32, members: &[MemberSpec]) -> u32 {
        self.add_composite(Kind::Struct, name, size, members)
    }

    /// UNION; `kind_flag` is set when any member is a bitfield.
    pub fn add_union(&mut self, name: &str, size: u32, members: &[MemberSpec]) -> u32 {
        self.add_composite(Kind::Union, name, size, members)
    }

    /// ENUM of `size` bytes (values truncated to 32 bits).
    pub fn add_enum(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, i64)]) -> u32 {
        let mut extra = Vec::with_capacity(values.len() * 2);
        for &(vname, v) in values {
            extra.push(self.add_string(vname));
            extra.push(v as u32);
        }
        self.add(name, Kind::Enum, signed, values.len(), size, &extra)
    }

    /// ENUM64 of `size` bytes, values split into low and high 32 bits.
    pub fn add_enum64(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, u64)],
    ) -> u32 {
        let mut extra = Vec::with_capacity(values.len() * 3);
        for &(vname, v) in values {
            extra.push(self.add_string(vname));
            extra.push(v as u32);
            extra.push((v >> 32) as u32);
        }
        self.add(name, Kind::Enum64, signed, values.len(), size, &extra)
    }

    /// FWD: a struct (or, with `is_union`, a union) declared but not defined.
    pub fn add_fwd(&mut self, name: &str, is_union: bool) -> u32 {
        self.add(name, Kind::Fwd, is_union, 0, 0, &[])
    }

    /// TYPEDEF `name` of `target`.
    pub fn add_typedef(&mut self, name: &str, target: u32) -> u32 {
        self.add(name, Kind::Typedef, false, 0, target, &[])
    }

    /// VOLATILE `target`.
    pub fn add_volatile(&mut self, target: u32) -> u32 {
        self.add("", Kind::Volatile, false, 0, target, &[])
    }

    /// CONST `target`.
    pub fn add_const(&mut self, target: u32) -> u32 {
        self.add("", Kind::Const, false, 0, target, &[])
    }

    /// RESTRICT `target`.
    pub fn add_restrict(&mut self, target: u32) -> u32 {
        self.add("", Kind::Restrict, false, 0, target, &[])
    }

    /// TYPE_TAG `name` on `target`.
    pub fn add_type_tag(&mut self, name: &str, target: u32) -> u32 {
        self.add(name, Kind::TypeTag, false, 0, target, &[])
    }

    /// FUNC; `linkage` is `BTF_FUNC_STATIC`/`GLOBAL`/`EXTERN`.
    pub fn add_func(&mut self, name: &str, proto: u32, linkage: u16) -> u32 {
        self.add(name, Kind::Func, false, linkage as usize, proto, &[])
    }

    /// FUNC_PROTO with `(name, type)` parameters.
    pub fn add_func_proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::with_capacity(params.len() * 2);
        for &(pname, ty) in params {
            extra.push(self.add_string(pname));
            extra.push(ty);
        }
        self.add("", Kind::FuncProto, false, params.len(), ret, &extra)
    }

    /// VAR; `linkage` is `BTF_VAR_STATIC`/`GLOBAL_ALLOCATED`/`GLOBAL_EXTERN`.
    pub fn add_var(&mut self, name: &str, ty: u32, linkage: u32) -> u32 {
        self.add(name, Kind::Var, false, 0, ty, &[linkage])
    }

    /// DATASEC with `(var type id, offset, size)` entries.
    pub fn add_datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let extra: Vec<u32> = vars.iter().flat_map(|&(t, o, s)| [t, o, s]).collect();
        self.add(name, Kind::Datasec, false, vars.len(), size, &extra)
    }

    /// DECL_TAG `name` on `target`, on its member or parameter `component_idx` (-1: the
    /// type itself).
    pub fn add_decl_tag(&mut self, name: &str, target: u32, component_idx: i32) -> u32 {
        self.add(
            name,
            Kind::DeclTag,
            false,
            0,
            target,
            &[component_idx as u32],
        )
    }

    /// The id the next type will get.
    pub fn next_id(&self) -> u32 {
        self.first_id + self.count
    }

    /// The BTF bytes: header, types, strings.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BTF_HEADER_LEN + self.types.len() + self.strings.len());
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(BTF_VERSION);
        out.push(0); // flags
        for w in [
            BTF_HEADER_LEN as u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
