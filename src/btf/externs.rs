//! The `.kconfig` and `.ksyms` DATASECs made loadable: what libbpf's
//! `bpf_object__collect_externs` does to an object's BTF before `BPF_BTF_LOAD`.
//!
//! ABI: `Documentation/bpf/btf.rst` ("BTF_KIND_VAR", "BTF_KIND_DATASEC"). The kernel
//! accepts VARs of linkage `static` or `global allocated` only, FUNCs of linkage `static`
//! or `global` only, and a DATASEC of non-zero size; clang leaves externs with `extern`
//! linkage in DATASECs of size 0, so:
//! - `.kconfig`: each VAR becomes `global allocated`, placed where the `.kconfig` map
//!   holds its value; the DATASEC gets the map's size.
//! - `.ksyms`: every entry becomes a 4-byte slot at `4 * i`; a VAR becomes a
//!   `global allocated` 4-byte int; a FUNC becomes `global` and its DATASEC entry points
//!   to a new VAR of the same name (libbpf adds one `dummy_ksym` VAR for all of them:
//!   one per FUNC keeps the names unique, which [`Btf::fixup_datasecs`] relies on).
//!   Unnamed parameters of such a FUNC get its name (the kernel wants every parameter of
//!   a non-extern FUNC named; libbpf names them `dummy_ksym`).
//!
//! Type ids do not change: new types are appended.

use std::collections::HashMap;

use super::{
    Btf, BtfError, Kind, TypeBody, BTF_FUNC_GLOBAL, BTF_HEADER_LEN, BTF_TYPE_LEN,
    BTF_VAR_GLOBAL_ALLOCATED,
};

/// `BTF_KIND_VAR` in a type's `info` (bits 24-28).
const KIND_VAR: u32 = 14;

impl Btf {
    /// Rewrites the `.kconfig` and `.ksyms` DATASECs as described in the module header.
    /// `kconfig` gives each `.kconfig` variable's offset in the map, `kconfig_size` the
    /// map's size. Returns the new BTF and the offset of every entry of both sections,
    /// keyed by (section, variable name), for [`Btf::fixup_datasecs`].
    #[allow(clippy::type_complexity)]
    pub fn with_externs_allocated(
        &self,
        kconfig: &HashMap<String, u32>,
        kconfig_size: u32,
    ) -> Result<(Btf, HashMap<(String, String), u32>), BtfError> {
        let mut types = self.types().to_vec();
        let mut strings = self.strings().to_vec();
        let mut placed = HashMap::new();
        let mut appended: Vec<u8> = Vec::new();
        let mut next_id = self.len();
        let put = |buf: &mut Vec<u8>, at: usize, value: u32| {
            if let Some(slot) = buf.get_mut(at..at + 4) {
                slot.copy_from_slice(&value.to_le_bytes());
            }
        };
        // A 4-byte int for the .ksyms variables, as libbpf's find_int_btf_id picks it.
        let int4 = (1..self.len()).find(|&id| {
            matches!(
                self.type_by_id(id).map(|t| t.body),
                Ok(TypeBody::Int {
                    size: 4,
                    bits: 32,
                    ..
                })
            )
        });
        for id in 1..self.len() {
            if self.kind(id)? != Kind::Datasec {
                continue;
            }
            let ty = self.type_by_id(id)?;
            let TypeBody::Datasec { vars, .. } = &ty.body else {
                continue;
            };
            let at = self.check_id(id)?;
            if ty.name == ".kconfig" {
                put(&mut types, at + 8, kconfig_size);
                let mut entries = Vec::with_capacity(vars.len());
                for v in vars {
                    let name = self.type_name(v.type_id)?.to_string();
                    let offset = kconfig.get(&name).copied().ok_or_else(|| {
                        BtfError::DatasecSymbolUnknown {
                            datasec: ty.name.clone(),
                            var: name.clone(),
                        }
                    })?;
                    if self.kind(v.type_id)? == Kind::Var {
                        let var_at = self.check_id(v.type_id)?;
                        put(&mut types, var_at + BTF_TYPE_LEN, BTF_VAR_GLOBAL_ALLOCATED);
                    }
                    entries.push((v.type_id, offset, v.size));
                    placed.insert((ty.name.clone(), name), offset);
                }
                crate::sort::by_key(&mut entries, |&(_, offset, _)| u64::from(offset));
                for (i, (type_id, offset, size)) in entries.into_iter().enumerate() {
                    let e = at + BTF_TYPE_LEN + 12 * i;
                    put(&mut types, e, type_id);
                    put(&mut types, e + 4, offset);
                    put(&mut types, e + 8, size);
                }
            } else if ty.name == ".ksyms" {
                put(&mut types, at + 8, 4 * vars.len() as u32);
                for (i, v) in vars.iter().enumerate() {
                    let e = at + BTF_TYPE_LEN + 12 * i;
                    let offset = 4 * i as u32;
                    let entry = self.type_by_id(v.type_id)?;
                    let name_off = self.name_off(v.type_id)?;
                    let mut entry_type = v.type_id;
                    match entry.body {
                        TypeBody::Var { .. } => {
                            let int4 = int4.ok_or(BtfError::DatasecSymbolUnknown {
                                datasec: ty.name.clone(),
                                var: format!("{} (no 4-byte int type to give it)", entry.name),
                            })?;
                            let var_at = self.check_id(v.type_id)?;
                            put(&mut types, var_at + 8, int4);
                            put(&mut types, var_at + BTF_TYPE_LEN, BTF_VAR_GLOBAL_ALLOCATED);
                        }
                        TypeBody::Func { proto, .. } => {
                            let func_at = self.check_id(v.type_id)?;
                            let info = self.info(v.type_id)?;
                            put(
                                &mut types,
                                func_at + 4,
                                (info & !0xffff) | u32::from(BTF_FUNC_GLOBAL),
                            );
                            if let Ok(TypeBody::FuncProto { params, .. }) =
                                self.type_by_id(proto).map(|t| t.body)
                            {
                                let proto_at = self.check_id(proto)?;
                                for (j, p) in params.iter().enumerate() {
                                    if p.type_id != 0 && p.name.is_empty() {
                                        put(&mut types, proto_at + BTF_TYPE_LEN + 8 * j, name_off);
                                    }
                                }
                            }
                            // A VAR of the FUNC's name, an int, global allocated.
                            let int4 = int4.ok_or(BtfError::DatasecSymbolUnknown {
                                datasec: ty.name.clone(),
                                var: format!("{} (no 4-byte int type to give it)", entry.name),
                            })?;
                            appended.extend_from_slice(&name_off.to_le_bytes());
                            appended.extend_from_slice(&(KIND_VAR << 24).to_le_bytes());
                            appended.extend_from_slice(&int4.to_le_bytes());
                            appended.extend_from_slice(&BTF_VAR_GLOBAL_ALLOCATED.to_le_bytes());
                            entry_type = next_id;
                            next_id += 1;
                        }
                        _ => {}
                    }
                    put(&mut types, e, entry_type);
                    put(&mut types, e + 4, offset);
                    put(&mut types, e + 8, 4);
                    placed.insert((ty.name.clone(), entry.name.clone()), offset);
                }
            }
        }
        types.extend_from_slice(&appended);
        // Header (the standard 24 bytes), types, strings.
        let mut bytes = Vec::with_capacity(BTF_HEADER_LEN + types.len() + strings.len());
        let header = self.as_bytes().get(..8).unwrap_or(&[]);
        bytes.extend_from_slice(header);
        if let Some(len) = bytes.get_mut(4..8) {
            len.copy_from_slice(&(BTF_HEADER_LEN as u32).to_le_bytes());
        }
        for value in [
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.append(&mut types);
        bytes.append(&mut strings);
        Ok((Btf::parse(bytes)?, placed))
    }

    /// Makes the global FUNC named `name` static (libbpf's `mark_btf_static`, for
    /// `__hidden` subprograms); no such FUNC is no change.
    pub fn make_func_static(&mut self, name: &str) -> Result<(), BtfError> {
        let Some(id) = self.ids_by_name(name).into_iter().find(|&id| {
            matches!(self.type_by_id(id).map(|t| t.body),
                Ok(TypeBody::Func { linkage, .. }) if linkage == BTF_FUNC_GLOBAL)
        }) else {
            return Ok(());
        };
        let at = self.type_start + self.check_id(id)? + 4;
        let info = self.info(id)?;
        let super::Data::Owned(bytes) = &mut self.data else {
            return Err(BtfError::ReadOnly);
        };
        if let Some(slot) = bytes.get_mut(at..at + 4) {
            slot.copy_from_slice(&(info & !0xffff).to_le_bytes());
        }
        Ok(())
    }

    /// The `name_off` of type `id`.
    fn name_off(&self, id: u32) -> Result<u32, BtfError> {
        let at = self.check_id(id)?;
        Ok(read_u32_at(self.types(), at))
    }

    /// The `info` word of type `id`.
    fn info(&self, id: u32) -> Result<u32, BtfError> {
        let at = self.check_id(id)?;
        Ok(read_u32_at(self.types(), at + 4))
    }
}

fn read_u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}
