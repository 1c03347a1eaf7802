//! struct_ops maps: a kernel "ops" struct (`struct tcp_congestion_ops`, ...) filled in by
//! the object, some of whose function pointers are the object's programs, as libbpf reads
//! them (`init_struct_ops_maps`, `bpf_object__collect_st_ops_relos`).
//!
//! ```text
//! SEC("struct_ops/ca_init")                     a program, BPF_PROG_TYPE_STRUCT_OPS
//! void ca_init(unsigned long long *ctx) {...}
//!
//! SEC(".struct_ops")                            a data section; its DATASEC lists one VAR
//! struct tcp_congestion_ops test_ca = {        per map, of the ops struct's local type
//!     .init = (void *)ca_init,                  `.rel.struct_ops`: R_BPF_64_ABS64 at the
//!     .name = "test_ca",                        member's offset, against the program
//! };
//! ```
//!
//! Each variable of `.struct_ops` (registered with `BPF_MAP_UPDATE_ELEM`) or of
//! `.struct_ops.link` (created with `BPF_F_LINK`, registered by a BPF link: 6.4) is one map
//! of type `BPF_MAP_TYPE_STRUCT_OPS`: key `u32` 0, one entry. Here, in the pure half, the
//! map keeps the variable's bytes and the local struct's members (which are function
//! pointers, and which program each points to); the value the kernel takes, laid out by
//! the kernel's own `struct bpf_struct_ops_<name>`, is built at load
//! (`crate::load::struct_ops`).
//!
//! ABI: `BPF_MAP_TYPE_STRUCT_OPS` and `BPF_F_LINK` in `include/uapi/linux/bpf.h`;
//! `Documentation/bpf/libbpf/program_types.rst` (`struct_ops+`); the kernel's side in
//! `kernel/bpf/bpf_struct_ops.c`.

use std::fmt;

use crate::btf::{Btf, Kind, TypeBody};

/// `.struct_ops`: registered with `BPF_MAP_UPDATE_ELEM`.
pub const STRUCT_OPS_SEC: &str = ".struct_ops";
/// `.struct_ops.link`: created with `BPF_F_LINK`, registered with `BPF_LINK_CREATE`.
pub const STRUCT_OPS_LINK_SEC: &str = ".struct_ops.link";

/// Is `name` a section of struct_ops variables?
pub fn is_struct_ops_section(name: &str) -> bool {
    name == STRUCT_OPS_SEC || name == STRUCT_OPS_LINK_SEC
}

/// One struct_ops map as the object declares it: the ops struct's local type and bytes,
/// and its members.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructOpsSpec {
    /// The ops struct's name (`tcp_congestion_ops`): the kernel's struct of that name is
    /// what the map implements.
    pub type_name: String,
    /// Its type id in the object's BTF.
    pub type_id: u32,
    /// The variable's offset in its section.
    pub section_offset: u64,
    /// The variable's bytes, laid out by the local type (function pointers 0).
    pub data: Vec<u8>,
    /// The local struct's members, in order.
    pub members: Vec<StructOpsMember>,
    /// Filled at load, for the running kernel (`crate::load::struct_ops`); `None` in a
    /// spec read from a file.
    pub kernel: Option<KernelStructOps>,
}

/// A struct_ops map's value as the running kernel lays it out: its
/// `struct bpf_struct_ops_<name>`, the object's data members copied into the ops struct
/// inside it (its `data` member), and where each program's fd goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelStructOps {
    /// The kernel's ops struct (`struct tcp_congestion_ops`): its type id, the programs'
    /// `attach_btf_id`.
    pub type_id: u32,
    /// `struct bpf_struct_ops_<name>`'s type id: the map's `btf_vmlinux_value_type_id`.
    pub value_type_id: u32,
    /// The value, program slots still 0.
    pub value: Vec<u8>,
    /// `(byte offset in value, program, member index)`: each function pointer the object
    /// sets, which takes the program's fd at registration; the member's index in the
    /// kernel's struct is the program's `expected_attach_type`.
    pub programs: Vec<(u32, String, u32)>,
}

/// A member of the local ops struct.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StructOpsMember {
    /// Its name, by which the kernel's member is found.
    pub name: String,
    /// Byte offset in the local struct.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// A pointer to a function: its value is a program's fd, not bytes of `data`.
    pub is_function: bool,
    /// The program it points to (`.rel.struct_ops`), if any.
    pub program: Option<String>,
}

/// Why a struct_ops variable or one of its relocations could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StructOpsError {
    /// The variable's type is not a struct.
    NotAStruct {
        /// Its type, described.
        found: String,
    },
    /// The variable lies outside its section's bytes.
    OutsideSection {
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// A relocation points at no function-pointer member of any variable.
    NotAFunctionMember {
        /// The offset in the section.
        offset: u64,
    },
    /// A relocation names a symbol that is not a program of a `struct_ops` section.
    NotAProgram {
        /// The symbol.
        symbol: String,
    },
    /// No member of that name in the local struct.
    NoMember {
        /// The name asked for.
        member: String,
    },
    /// A value of the wrong size for a member, or for a function pointer.
    BadValue {
        /// The member.
        member: String,
        /// Why.
        reason: String,
    },
    /// The object's BTF could not be read.
    Btf(String),
}

impl fmt::Display for StructOpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StructOpsError::NotAStruct { found } => {
                write!(f, "its type is not a struct but {found}")
            }
            StructOpsError::OutsideSection { offset, size } => write!(
                f,
                "its {size} bytes at offset {offset} lie outside the section"
            ),
            StructOpsError::NotAFunctionMember { offset } => write!(
                f,
                "a relocation at offset {offset} points at no function pointer member"
            ),
            StructOpsError::NotAProgram { symbol } => write!(
                f,
                "{symbol} is not a program of a struct_ops/ section, so it cannot implement a member"
            ),
            StructOpsError::NoMember { member } => write!(f, "no member {member}"),
            StructOpsError::BadValue { member, reason } => write!(f, "member {member}: {reason}"),
            StructOpsError::Btf(reason) => write!(f, "BTF: {reason}"),
        }
    }
}

impl std::error::Error for StructOpsError {}

impl StructOpsSpec {
    /// Reads the variable of type `var_type` at `offset` (`size` bytes) of a struct_ops
    /// section whose bytes are `section`.
    pub fn read(
        btf: &Btf,
        var_type: u32,
        offset: u64,
        size: u64,
        section: &[u8],
    ) -> Result<StructOpsSpec, StructOpsError> {
        let btf_error = |e: crate::btf::BtfError| StructOpsError::Btf(e.to_string());
        let type_id = btf.skip_mods_and_typedefs(var_type).map_err(btf_error)?;
        let ty = btf.type_by_id(type_id).map_err(btf_error)?;
        let TypeBody::Struct { members, .. } = &ty.body else {
            return Err(StructOpsError::NotAStruct {
                found: ty.describe(),
            });
        };
        let outside = || StructOpsError::OutsideSection { offset, size };
        let start = usize::try_from(offset).map_err(|_| outside())?;
        let end = usize::try_from(offset.checked_add(size).ok_or_else(outside)?)
            .map_err(|_| outside())?;
        let data = section.get(start..end).ok_or_else(outside)?.to_vec();
        let members = members
            .iter()
            .map(|member| {
                Ok(StructOpsMember {
                    name: member.name.clone(),
                    offset: member.bit_offset / 8,
                    size: btf.resolve_size(member.type_id).map_err(btf_error)?,
                    is_function: is_function_pointer(btf, member.type_id),
                    program: None,
                })
            })
            .collect::<Result<Vec<_>, StructOpsError>>()?;
        Ok(StructOpsSpec {
            type_name: btf.type_name(type_id).map_err(btf_error)?.to_string(),
            type_id,
            section_offset: offset,
            data,
            members,
            kernel: None,
        })
    }

    /// Sets data member `name` to `value` (its exact size) before load: libbpf's
    /// writable `skel->struct_ops.NAME->member`. A function pointer is set by
    /// [`StructOpsSpec::set_program`].
    pub fn set_member(&mut self, name: &str, value: &[u8]) -> Result<(), StructOpsError> {
        let member = self
            .members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| StructOpsError::NoMember {
                member: name.to_string(),
            })?;
        let bad = |reason: String| StructOpsError::BadValue {
            member: name.to_string(),
            reason,
        };
        if member.is_function {
            return Err(bad(
                "a function pointer: set_program names its program".into()
            ));
        }
        if value.len() != member.size as usize {
            return Err(bad(format!(
                "{} bytes given for a member of {}",
                value.len(),
                member.size
            )));
        }
        let start = member.offset as usize;
        self.data
            .get_mut(start..start + value.len())
            .ok_or_else(|| bad("outside the variable's bytes".into()))?
            .copy_from_slice(value);
        Ok(())
    }

    /// Points function member `name` at program `program` (or at none).
    pub fn set_program(&mut self, name: &str, program: Option<&str>) -> Result<(), StructOpsError> {
        let member = self
            .members
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| StructOpsError::NoMember {
                member: name.to_string(),
            })?;
        if !member.is_function {
            return Err(StructOpsError::BadValue {
                member: name.to_string(),
                reason: "not a function pointer".into(),
            });
        }
        member.program = program.map(str::to_string);
        Ok(())
    }

    /// The function member at byte `offset` of the variable, for a relocation.
    pub(super) fn function_member_at(&mut self, offset: u64) -> Option<&mut StructOpsMember> {
        self.members
            .iter_mut()
            .find(|m| m.is_function && u64::from(m.offset) == offset)
    }
}

/// Is type `id` (modifiers and typedefs skipped) a pointer to a function prototype?
fn is_function_pointer(btf: &Btf, id: u32) -> bool {
    let pointee = btf
        .skip_mods_and_typedefs(id)
        .and_then(|id| btf.type_by_id(id))
        .ok()
        .and_then(|ty| match ty.body {
            TypeBody::Ptr { target } => Some(target),
            _ => None,
        });
    pointee
        .and_then(|target| btf.skip_mods_and_typedefs(target).ok())
        .and_then(|target| btf.kind(target).ok())
        == Some(Kind::FuncProto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StructOpsSpec {
        let member = |name: &str, offset, size, is_function| StructOpsMember {
            name: name.into(),
            offset,
            size,
            is_function,
            program: None,
        };
        StructOpsSpec {
            type_name: "demo_ops".into(),
            data: vec![0; 16],
            members: vec![member("go", 0, 8, true), member("name", 8, 8, false)],
            ..Default::default()
        }
    }

    #[test]
    fn members_are_set_by_name_and_checked() {
        let mut ops = spec();
        ops.set_member("name", b"abcdefg\0").unwrap();
        assert_eq!(&ops.data[8..], b"abcdefg\0");
        ops.set_program("go", Some("prog")).unwrap();
        assert_eq!(ops.members[0].program.as_deref(), Some("prog"));
        assert_eq!(
            ops.set_member("name", b"short").unwrap_err().to_string(),
            "member name: 5 bytes given for a member of 8"
        );
        assert_eq!(
            ops.set_member("go", &[0; 8]).unwrap_err().to_string(),
            "member go: a function pointer: set_program names its program"
        );
        assert_eq!(
            ops.set_program("name", Some("prog"))
                .unwrap_err()
                .to_string(),
            "member name: not a function pointer"
        );
        assert_eq!(
            ops.set_member("nope", &[]).unwrap_err(),
            StructOpsError::NoMember {
                member: "nope".into()
            }
        );
    }
}
