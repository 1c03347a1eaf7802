//! Maps: the ones declared in `.maps` (described by BTF), and the global data sections
//! (`.rodata`, `.data`, `.bss`), each of which becomes an array map of one element.
//!
//! ABI: the map attributes of `BPF_MAP_CREATE` (`union bpf_attr`, `enum bpf_map_type`,
//! `BPF_F_*` in `include/uapi/linux/bpf.h`); the `.maps` encoding is libbpf's
//! (`tools/lib/bpf/bpf_helpers.h`: `__uint`, `__type`), read as in libbpf's
//! `parse_btf_map_def`.
//!
//! ```text
//! struct {                                          STRUCT (anon)
//!     __uint(type, BPF_MAP_TYPE_HASH);                type: PTR -> ARRAY[1] of int
//!     __uint(max_entries, 8192);                      max_entries: PTR -> ARRAY[8192] of int
//!     __type(key, u64);                               key: PTR -> u64
//! } pending SEC(".maps");                         VAR 'pending', listed in DATASEC '.maps'
//! ```
//! `__uint(name, N)` is a pointer to an array of N elements: the attribute is the array's
//! element count. `__type(name, T)` is a pointer to T: the key or value size is T's size
//! and its BTF type id goes to the kernel as `btf_key_type_id` / `btf_value_type_id`.
//!
//! Legacy maps, from before BTF described them (libbpf read them until 1.0; cilium/ebpf
//! and aya still do, and aya-ebpf, eBPF written in Rust, emits them by default): a
//! section `maps` holding one `struct bpf_map_def` per map symbol, read as libbpf 0.x's
//! `bpf_object__init_user_maps` and aya's `parse_map_def` read it:
//!
//! ```text
//! struct bpf_map_def {          offset
//!     unsigned int type;          0     BPF_MAP_TYPE_*
//!     unsigned int key_size;      4
//!     unsigned int value_size;    8
//!     unsigned int max_entries;  12
//!     unsigned int map_flags;    16     (libbpf's struct ends here: 20 bytes)
//!     unsigned int id;           20     aya and iproute2: ignored by loaders
//!     unsigned int pinning;      24     aya: 0 none, 1 by name (libbpf's LIBBPF_PIN_BY_NAME)
//! };
//! ```
//! A definition's size is its symbol's, or where clang left that 0, the section's size
//! divided by the number of maps (libbpf's rule). A shorter definition has zeroes for
//! the fields it lacks; bytes past `pinning` must be zero (libbpf refuses what it does
//! not know, and iproute2's map-in-map fields there cannot be honoured).
//!
//! Naming: the kernel keeps at most 15 bytes of a name (`BPF_OBJ_NAME_LEN` is 16 with the
//! NUL) from the characters `[A-Za-z0-9_.]`. `.maps` maps keep their variable's name
//! (see [`MapSpec::kernel_name`]); global data maps are named as libbpf names them
//! (`internal_map_name`): up to 8 bytes of the object's name, then the section name
//! (`main.rodata` for `main.bpf.o`); a section name with a second dot (`.rodata.str1.1`)
//! is used alone, without the object's name.

use super::error::{MapProblem, ParseError};
use crate::btf::{Btf, Kind, TypeBody};
use crate::uapi::{MapType, BPF_F_RDONLY_PROG, BPF_OBJ_NAME_LEN};

/// The largest global data section accepted. The kernel refuses array values larger than
/// `KMALLOC_MAX_SIZE` (a few MiB); this cap only keeps a damaged `.bss` size from making
/// the parser allocate without bound.
pub const MAX_GLOBAL_DATA_SIZE: u64 = 64 << 20;

/// Where a map comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapKind {
    /// A `.maps` definition, described by BTF.
    #[default]
    Btf,
    /// `.rodata*`: constants; `BPF_F_RDONLY_PROG`, frozen by the loader once filled.
    Rodata,
    /// `.data*`: initialised globals.
    Data,
    /// `.bss*`: zero-initialised globals.
    Bss,
    /// `.kconfig`: the values of the `__kconfig` externs (libbpf's `LIBBPF_MAP_KCONFIG`);
    /// `BPF_F_RDONLY_PROG`, filled by [`ObjectSpec::fill_kconfig`](super::ObjectSpec::fill_kconfig),
    /// frozen by the loader.
    Kconfig,
    /// A legacy `SEC("maps")` definition (`struct bpf_map_def`), read from the section's
    /// bytes: no BTF types for its key and value.
    Legacy,
}

impl MapKind {
    /// `.maps`, `.rodata`, `.data`, `.bss`.
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Btf => ".maps",
            MapKind::Rodata => ".rodata",
            MapKind::Data => ".data",
            MapKind::Bss => ".bss",
            MapKind::Kconfig => ".kconfig",
            MapKind::Legacy => "maps",
        }
    }

    /// The kind of global data a section holds, from its name.
    pub fn of_data_section(name: &str) -> Option<MapKind> {
        let is = |base: &str| {
            name == base
                || name
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        if is(".rodata") {
            Some(MapKind::Rodata)
        } else if is(".data") {
            Some(MapKind::Data)
        } else if is(".bss") {
            Some(MapKind::Bss)
        } else {
            None
        }
    }
}

/// One map to create with `BPF_MAP_CREATE`. Field names are `union bpf_attr`'s.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MapSpec {
    /// The variable's name (`events`), or the global data map's name (`main.rodata`).
    pub name: String,
    /// The ELF section the map comes from (`.maps`, `.rodata`).
    pub section: String,
    /// `enum bpf_map_type`.
    pub map_type: MapType,
    /// Size of a key in bytes (`__uint(key_size, ..)` or `sizeof` the `__type(key)`).
    pub key_size: u32,
    /// Size of a value in bytes (`__uint(value_size, ..)` or `sizeof` the `__type(value)`).
    pub value_size: u32,
    /// Capacity; for a perf event array, 0 means one slot per possible CPU (the
    /// loader fills it in).
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// 0 when the map has no BTF key type.
    pub btf_key_type_id: u32,
    /// 0 when the map has no BTF value type; the section's DATASEC for global data.
    pub btf_value_type_id: u32,
    /// NUMA node to allocate the map on; used by the kernel only with `BPF_F_NUMA_NODE`.
    pub numa_node: u32,
    /// Type-specific: the number of hash functions of a bloom filter, the address of
    /// an arena (kernel 5.16 and later).
    pub map_extra: u64,
    /// libbpf's pinning attribute: 0 none, 1 `LIBBPF_PIN_BY_NAME` (pinned at
    /// `PIN_ROOT/NAME` by `Object::load`).
    pub pinning: u32,
    /// Where the map comes from: `.maps` or a global data section.
    pub kind: MapKind,
    /// The single value's initial bytes (global data); empty for `.maps` maps.
    pub initial: Vec<u8>,
    /// Map-in-map (`array_of_maps`, `hash_of_maps`): the inner maps' definition, from
    /// `__array(values, struct {...})`, named `<map>.inner`. The kernel wants a map of
    /// that shape (`inner_map_fd`) when the outer map is created.
    pub inner: Option<Box<MapSpec>>,
    /// Initial slots of a map-in-map or prog array (`.values = { [1] = &inner_a }`):
    /// `(index, name)` of the map or program the loader stores there once it exists
    /// (from `.rel.maps`, as libbpf's `bpf_object__collect_map_relos` reads it).
    pub init_slots: Vec<(u32, String)>,
    /// A struct_ops map (`.struct_ops`, `.struct_ops.link`): the ops struct the object
    /// fills in, and which programs implement its members.
    pub struct_ops: Option<super::struct_ops::StructOpsSpec>,
    /// For a struct_ops map: the kernel's `struct bpf_struct_ops_<name>` type id
    /// (`btf_vmlinux_value_type_id`), found at load; 0 otherwise.
    pub btf_vmlinux_value_type_id: u32,
}

impl MapSpec {
    /// The name as `BPF_MAP_CREATE` takes it: at most `BPF_OBJ_NAME_LEN - 1` bytes.
    pub fn kernel_name(&self) -> &str {
        truncate(&self.name, BPF_OBJ_NAME_LEN - 1)
    }
}

fn truncate(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The name libbpf gives the map of global data section `section` of object
/// `object_name` (`internal_map_name`): `main` + `.rodata` -> `main.rodata`.
pub fn global_data_map_name(object_name: &str, section: &str) -> String {
    let max = BPF_OBJ_NAME_LEN - 1;
    // The suffix reserves at least 7 bytes (the length of ".rodata").
    let suffix_len = section.len().max(7).min(max);
    let prefix_len = if section.get(1..).is_some_and(|rest| rest.contains('.')) {
        0
    } else {
        (max - suffix_len).min(object_name.len())
    };
    let name = format!(
        "{}{}",
        truncate(object_name, prefix_len),
        truncate(section, suffix_len)
    );
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The object's name as libbpf derives it from a path: the file name up to its first dot
/// (`bpf/main.bpf.o` -> `main`).
pub fn object_name_from_path(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file)
}

impl std::fmt::Display for MapSpec {
    /// One line: name, type, sizes, capacity, and what the loader does to it:
    /// `events  perf_event_array  key 4 B, value 4 B, max_entries 0 (one per possible CPU)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<14} {:<16} key {:>2} B, value {:>4} B, max_entries {:>4}",
            self.name,
            self.map_type.to_string(),
            self.key_size,
            self.value_size,
            self.max_entries
        )?;
        if self.map_type == MapType::PERF_EVENT_ARRAY && self.max_entries == 0 {
            f.write_str(" (one per possible CPU)")?;
        }
        match self.kind {
            MapKind::Rodata => f.write_str(", filled and frozen (BPF_MAP_FREEZE)"),
            MapKind::Data => f.write_str(", filled"),
            MapKind::Bss => f.write_str(", zeroes"),
            MapKind::Kconfig => f.write_str(", kernel config values, frozen (BPF_MAP_FREEZE)"),
            MapKind::Btf => Ok(()),
            MapKind::Legacy => f.write_str(", legacy struct bpf_map_def"),
        }
    }
}

/// The one-element array map of a global data section. `data` is the section's bytes
/// (`None` for `SHT_NOBITS`, whose `size` bytes are zeros).
pub(super) fn global_data_map(
    object_name: &str,
    section: &str,
    kind: MapKind,
    size: u64,
    data: Option<&[u8]>,
    btf: Option<&Btf>,
) -> Result<MapSpec, ParseError> {
    if size > MAX_GLOBAL_DATA_SIZE {
        return Err(ParseError::GlobalDataSize {
            section: section.to_string(),
            size,
        });
    }
    // Bounded by MAX_GLOBAL_DATA_SIZE just above.
    let value_size = size as u32;
    let initial = match data {
        Some(bytes) => bytes.to_vec(),
        None => vec![0; value_size as usize],
    };
    let btf_value_type_id = btf
        .and_then(|btf| btf.find_by_name_kind(section, Kind::Datasec).ok())
        .unwrap_or(0);
    Ok(MapSpec {
        name: global_data_map_name(object_name, section),
        section: section.to_string(),
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size,
        max_entries: 1,
        map_flags: if kind == MapKind::Rodata {
            BPF_F_RDONLY_PROG
        } else {
            0
        },
        btf_key_type_id: 0,
        btf_value_type_id,
        numa_node: 0,
        map_extra: 0,
        pinning: 0,
        kind,
        initial,
        inner: None,
        init_slots: Vec::new(),
        struct_ops: None,
        btf_vmlinux_value_type_id: 0,
    })
}

/// The maps of `.maps`, in the order of the `.maps` DATASEC (which, after the fix-up,
/// is the order of their offsets in the section).
pub(super) fn btf_maps(btf: &Btf) -> Result<Vec<MapSpec>, ParseError> {
    let no_name = |problem| ParseError::Map {
        map: ".maps".to_string(),
        problem,
    };
    let datasec_id = btf
        .find_by_name_kind(".maps", Kind::Datasec)
        .map_err(|_| no_name(MapProblem::NoDatasec))?;
    let datasec = btf
        .type_by_id(datasec_id)
        .map_err(|e| no_name(MapProblem::Btf(e)))?;
    let TypeBody::Datasec { vars, .. } = &datasec.body else {
        return Err(no_name(MapProblem::NoDatasec));
    };
    let mut maps = Vec::with_capacity(vars.len());
    for var in vars {
        let var_type = btf
            .type_by_id(var.type_id)
            .map_err(|e| no_name(MapProblem::Btf(e)))?;
        let TypeBody::Var { type_id, .. } = var_type.body else {
            return Err(no_name(MapProblem::NotAVar {
                type_id: var.type_id,
            }));
        };
        let name = var_type.name;
        let map = btf_map(btf, &name, type_id).map_err(|problem| ParseError::Map {
            map: name.clone(),
            problem,
        })?;
        maps.push(map);
    }
    Ok(maps)
}

/// One `.maps` definition: the STRUCT `def_id`, member by member.
fn btf_map(btf: &Btf, name: &str, def_id: u32) -> Result<MapSpec, MapProblem> {
    btf_map_def(btf, name, def_id, None)
}

/// A map definition; `inner_of` names the outer map when this is an inner one.
fn btf_map_def(
    btf: &Btf,
    name: &str,
    def_id: u32,
    inner_of: Option<&str>,
) -> Result<MapSpec, MapProblem> {
    let struct_id = btf
        .skip_mods_and_typedefs(def_id)
        .map_err(MapProblem::Btf)?;
    let def = btf.type_by_id(struct_id).map_err(MapProblem::Btf)?;
    let TypeBody::Struct { members, .. } = &def.body else {
        return Err(MapProblem::NotAStruct { type_id: struct_id });
    };
    let mut map = MapSpec {
        name: name.to_string(),
        section: ".maps".to_string(),
        kind: MapKind::Btf,
        ..MapSpec::default()
    };
    let mut has_type = false;
    for member in members {
        let attr = member.name.as_str();
        match attr {
            "type" => {
                map.map_type = MapType(uint_attribute(btf, attr, member.type_id)?);
                has_type = true;
            }
            "max_entries" => map.max_entries = uint_attribute(btf, attr, member.type_id)?,
            "map_flags" => map.map_flags = uint_attribute(btf, attr, member.type_id)?,
            "numa_node" => map.numa_node = uint_attribute(btf, attr, member.type_id)?,
            "map_extra" => map.map_extra = ulong_attribute(btf, attr, member.type_id)?,
            "values" => {
                let is_map_in_map =
                    matches!(map.map_type, MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS);
                let is_prog_array = map.map_type == MapType::PROG_ARRAY;
                let bad = |reason: &str| MapProblem::BadMember {
                    member: attr.to_string(),
                    reason: reason.to_string(),
                };
                if inner_of.is_some() {
                    return Err(bad("an inner map cannot have inner maps (one level only)"));
                }
                if members.last().map(|m| m.name.as_str()) != Some("values") {
                    return Err(bad("must be the last member"));
                }
                if !is_map_in_map && !is_prog_array {
                    return Err(bad(
                        "only map-in-map and prog-array maps have __array(values)",
                    ));
                }
                set_size(&mut map.value_size, 4, attr)?;
                let array = btf.type_by_id(member.type_id).map_err(MapProblem::Btf)?;
                let TypeBody::Array {
                    elem, nelems: 0, ..
                } = array.body
                else {
                    return Err(bad("not a zero-sized array (declare it with __array)"));
                };
                let ptr = btf.skip_mods_and_typedefs(elem).map_err(MapProblem::Btf)?;
                let TypeBody::Ptr { target } = btf.type_by_id(ptr).map_err(MapProblem::Btf)?.body
                else {
                    return Err(bad("the array's elements are not pointers"));
                };
                let target = btf
                    .skip_mods_and_typedefs(target)
                    .map_err(MapProblem::Btf)?;
                let kind = btf.kind(target).map_err(MapProblem::Btf)?;
                if is_prog_array {
                    if kind != Kind::FuncProto {
                        return Err(bad("prog-array values are not functions"));
                    }
                } else {
                    if kind != Kind::Struct {
                        return Err(bad("map-in-map values are not map definitions"));
                    }
                    let inner_name = format!("{name}.inner");
                    let inner = btf_map_def(btf, &inner_name, target, Some(name))?;
                    map.inner = Some(Box::new(inner));
                }
            }
            "pinning" => {
                map.pinning = uint_attribute(btf, attr, member.type_id)?;
                if map.pinning > 1 {
                    return Err(MapProblem::BadMember {
                        member: attr.to_string(),
                        reason: format!(
                            "{} is neither LIBBPF_PIN_NONE (0) nor LIBBPF_PIN_BY_NAME (1)",
                            map.pinning
                        ),
                    });
                }
            }
            "key_size" => {
                let size = uint_attribute(btf, attr, member.type_id)?;
                set_size(&mut map.key_size, size, attr)?;
            }
            "value_size" => {
                let size = uint_attribute(btf, attr, member.type_id)?;
                set_size(&mut map.value_size, size, attr)?;
            }
            "key" | "value" => {
                let (type_id, size) = type_attribute(btf, attr, member.type_id)?;
                if attr == "key" {
                    set_size(&mut map.key_size, size, attr)?;
                    map.btf_key_type_id = type_id;
                } else {
                    set_size(&mut map.value_size, size, attr)?;
                    map.btf_value_type_id = type_id;
                }
            }
            _ => {
                return Err(MapProblem::UnknownMember {
                    member: if attr.is_empty() {
                        "(anonymous)".to_string()
                    } else {
                        attr.to_string()
                    },
                })
            }
        }
    }
    if !has_type {
        return Err(MapProblem::NoType);
    }
    Ok(map)
}

/// A size given twice (`key_size` and `__type(key)`) must agree.
fn set_size(slot: &mut u32, size: u32, member: &str) -> Result<(), MapProblem> {
    if *slot != 0 && *slot != size {
        return Err(MapProblem::Conflict {
            member: member.to_string(),
        });
    }
    *slot = size;
    Ok(())
}

/// `__uint(name, N)`: a pointer to an array of N elements; the value is N.
fn uint_attribute(btf: &Btf, member: &str, type_id: u32) -> Result<u32, MapProblem> {
    let bad = |reason: &str| MapProblem::BadMember {
        member: member.to_string(),
        reason: reason.to_string(),
    };
    let ptr_id = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(MapProblem::Btf)?;
    let TypeBody::Ptr { target } = btf.type_by_id(ptr_id).map_err(MapProblem::Btf)?.body else {
        return Err(bad("not a pointer to an array (declare it with __uint)"));
    };
    let array_id = btf
        .skip_mods_and_typedefs(target)
        .map_err(MapProblem::Btf)?;
    let TypeBody::Array { nelems, .. } = btf.type_by_id(array_id).map_err(MapProblem::Btf)?.body
    else {
        return Err(bad("not a pointer to an array (declare it with __uint)"));
    };
    Ok(nelems)
}

/// `__ulong(name, N)` (an enum whose one value is N, for 64-bit values) or
/// `__uint(name, N)`: libbpf's `get_map_field_long`.
fn ulong_attribute(btf: &Btf, member: &str, type_id: u32) -> Result<u64, MapProblem> {
    let id = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(MapProblem::Btf)?;
    match btf.type_by_id(id).map_err(MapProblem::Btf)?.body {
        TypeBody::Ptr { .. } => uint_attribute(btf, member, type_id).map(u64::from),
        TypeBody::Enum { values, .. } | TypeBody::Enum64 { values, .. } => {
            match values.as_slice() {
                [only] => Ok(only.value),
                _ => Err(MapProblem::BadMember {
                    member: member.to_string(),
                    reason: "an enum of more than one value (declare it with __ulong)".to_string(),
                }),
            }
        }
        _ => Err(MapProblem::BadMember {
            member: member.to_string(),
            reason: "neither __uint nor __ulong".to_string(),
        }),
    }
}

/// `__type(name, T)`: a pointer to T; gives T's id and size.
fn type_attribute(btf: &Btf, member: &str, type_id: u32) -> Result<(u32, u32), MapProblem> {
    let ptr_id = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(MapProblem::Btf)?;
    let TypeBody::Ptr { target } = btf.type_by_id(ptr_id).map_err(MapProblem::Btf)?.body else {
        return Err(MapProblem::BadMember {
            member: member.to_string(),
            reason: "not a pointer to the type (declare it with __type)".to_string(),
        });
    };
    let size = btf.resolve_size(target).map_err(MapProblem::Btf)?;
    Ok((target, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_global_data_maps_like_libbpf() {
        assert_eq!(global_data_map_name("main", ".rodata"), "main.rodata");
        assert_eq!(global_data_map_name("main", ".bss"), "main.bss");
        assert_eq!(
            global_data_map_name("my_object_name", ".rodata"),
            "my_objec.rodata"
        );
        // Short suffixes still reserve 7 bytes.
        assert_eq!(
            global_data_map_name("my_object_name", ".bss"),
            "my_objec.bss"
        );
        assert_eq!(
            global_data_map_name("main", ".rodata.str1.1"),
            ".rodata.str1.1"
        );
        assert_eq!(global_data_map_name("", ".data"), ".data");
        assert_eq!(global_data_map_name("a-b", ".data"), "a_b.data");
        assert_eq!(object_name_from_path("bpf/main.bpf.o"), "main");
        assert_eq!(object_name_from_path("x"), "x");
    }

    #[test]
    fn classifies_data_sections() {
        assert_eq!(MapKind::of_data_section(".rodata"), Some(MapKind::Rodata));
        assert_eq!(
            MapKind::of_data_section(".rodata.cst16"),
            Some(MapKind::Rodata)
        );
        assert_eq!(MapKind::of_data_section(".data"), Some(MapKind::Data));
        assert_eq!(MapKind::of_data_section(".bss"), Some(MapKind::Bss));
        assert_eq!(MapKind::of_data_section(".datax"), None);
        assert_eq!(MapKind::of_data_section(".maps"), None);
    }

    #[test]
    fn kernel_names_are_cut_to_15_bytes() {
        let map = MapSpec {
            name: "a_very_long_map_name".into(),
            section: ".maps".into(),
            map_type: MapType::HASH,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..MapSpec::default()
        };
        assert_eq!(map.kernel_name(), "a_very_long_map");
    }
}

/// Bytes of aya's `bpf_map_def`, which adds `id` and `pinning`.
pub const BPF_MAP_DEF_SIZE_WITH_PINNING: usize = 28;

/// One legacy map symbol: its name, offset in the `maps` section and size (0: unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LegacySymbol {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The maps of a legacy `maps` section (`data`, named `section`), one per symbol, in
/// the order of their offsets.
pub(super) fn legacy_maps(
    section: &str,
    data: &[u8],
    symbols: &[LegacySymbol],
) -> Result<Vec<MapSpec>, ParseError> {
    if symbols.is_empty() {
        return Ok(Vec::new());
    }
    let shared_size = data.len() / symbols.len();
    let mut sorted: Vec<&LegacySymbol> = symbols.iter().collect();
    crate::sort::by_key(&mut sorted, |s| s.offset);
    sorted
        .into_iter()
        .map(|symbol| {
            let problem = |reason: String| ParseError::Map {
                map: symbol.name.clone(),
                problem: MapProblem::Legacy { reason },
            };
            let size = if symbol.size != 0 {
                symbol.size
            } else {
                shared_size as u64
            };
            let def = usize::try_from(symbol.offset)
                .ok()
                .zip(usize::try_from(size).ok())
                .and_then(|(start, size)| data.get(start..start.checked_add(size)?))
                .filter(|def| !def.is_empty())
                .ok_or_else(|| {
                    problem(format!(
                        "its {size}-byte definition at offset {} is not inside section {section} \
                         ({} bytes)",
                        symbol.offset,
                        data.len()
                    ))
                })?;
            legacy_map_def(section, &symbol.name, def).map_err(problem)
        })
        .collect()
}

/// One `struct bpf_map_def`, of any of the sizes loaders have known.
fn legacy_map_def(section: &str, name: &str, def: &[u8]) -> Result<MapSpec, String> {
    let field = |index: usize| -> u32 {
        def.get(index * 4..index * 4 + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    };
    if let Some(at) = def
        .get(BPF_MAP_DEF_SIZE_WITH_PINNING..)
        .and_then(|extra| extra.iter().position(|&b| b != 0))
    {
        return Err(format!(
            "byte {} of its {}-byte definition is not zero: fields past `pinning` \
             (iproute2's inner_id, inner_idx) are not known to this loader",
            BPF_MAP_DEF_SIZE_WITH_PINNING + at,
            def.len()
        ));
    }
    let pinning = field(6);
    if pinning > 1 {
        return Err(format!(
            "pinning {pinning}: only 0 (none) and 1 (by name) are known"
        ));
    }
    let map_type = MapType(field(0));
    if map_type.0 == 0 {
        return Err("type 0 (BPF_MAP_TYPE_UNSPEC): no map type".to_string());
    }
    Ok(MapSpec {
        name: name.to_string(),
        section: section.to_string(),
        map_type,
        key_size: field(1),
        value_size: field(2),
        max_entries: field(3),
        map_flags: field(4),
        pinning,
        kind: MapKind::Legacy,
        ..MapSpec::default()
    })
}

#[cfg(test)]
mod legacy_tests {
    use super::*;

    fn def(fields: &[u32]) -> Vec<u8> {
        fields.iter().flat_map(|f| f.to_ne_bytes()).collect()
    }

    fn symbol(name: &str, offset: u64, size: u64) -> LegacySymbol {
        LegacySymbol {
            name: name.to_string(),
            offset,
            size,
        }
    }

    #[test]
    fn libbpf_and_aya_definitions_are_read() {
        // libbpf's 20 bytes, then aya's 28 with pinning by name; sizes from the symbols.
        let mut data = def(&[1, 4, 8, 128, 1]);
        data.extend(def(&[22, 0, 4, 16, 0, 7, 1]));
        let maps = legacy_maps(
            "maps",
            &data,
            &[symbol("queue", 20, 28), symbol("counts", 0, 20)],
        )
        .unwrap();
        assert_eq!(maps.len(), 2);
        let (counts, queue) = (&maps[0], &maps[1]);
        assert_eq!(counts.name, "counts");
        assert_eq!(
            (counts.map_type, counts.key_size, counts.value_size),
            (MapType::HASH, 4, 8)
        );
        assert_eq!(
            (counts.max_entries, counts.map_flags, counts.pinning),
            (128, 1, 0)
        );
        assert_eq!(counts.kind, MapKind::Legacy);
        assert_eq!(counts.section, "maps");
        assert_eq!((queue.map_type, queue.key_size), (MapType::QUEUE, 0));
        assert_eq!(
            (queue.value_size, queue.max_entries, queue.pinning),
            (4, 16, 1)
        );
    }

    #[test]
    fn without_symbol_sizes_the_section_is_shared_and_short_definitions_are_zero_filled() {
        // Two 16-byte definitions (no map_flags): libbpf's section size / number of maps.
        let mut data = def(&[2, 4, 4, 1]);
        data.extend(def(&[1, 8, 8, 2]));
        let maps = legacy_maps("maps", &data, &[symbol("a", 0, 0), symbol("b", 16, 0)]).unwrap();
        assert_eq!(
            (maps[0].map_type, maps[0].max_entries, maps[0].map_flags),
            (MapType::ARRAY, 1, 0)
        );
        assert_eq!((maps[1].key_size, maps[1].max_entries), (8, 2));
    }

    #[test]
    fn bad_definitions_are_refused_with_the_reason() {
        let problem =
            |data: &[u8], symbols: &[LegacySymbol]| match legacy_maps("maps", data, symbols) {
                Err(ParseError::Map {
                    map,
                    problem: MapProblem::Legacy { reason },
                }) => format!("{map}: {reason}"),
                other => panic!("{other:?}"),
            };
        let data = def(&[1, 4, 4, 1, 0, 0, 0, 3, 0]);
        assert_eq!(
            problem(&data, &[symbol("m", 0, 36)]),
            "m: byte 28 of its 36-byte definition is not zero: fields past `pinning` \
             (iproute2's inner_id, inner_idx) are not known to this loader"
        );
        let data = def(&[1, 4, 4, 1, 0, 0, 2]);
        assert_eq!(
            problem(&data, &[symbol("m", 0, 28)]),
            "m: pinning 2: only 0 (none) and 1 (by name) are known"
        );
        assert_eq!(
            problem(&def(&[1, 4, 4, 1, 0]), &[symbol("m", 8, 20)]),
            "m: its 20-byte definition at offset 8 is not inside section maps (20 bytes)"
        );
        assert_eq!(
            problem(&def(&[0, 4, 4, 1, 0]), &[symbol("m", 0, 20)]),
            "m: type 0 (BPF_MAP_TYPE_UNSPEC): no map type"
        );
        assert_eq!(legacy_maps("maps", &[0; 20], &[]).unwrap(), Vec::new());
    }
}
