//! struct_ops maps fitted to the running kernel, as libbpf's `bpf_map__init_kern_struct_ops`:
//! the object declares its ops struct with its own (local) type; the kernel takes the map's
//! value as its own `struct bpf_struct_ops_<name>`, which wraps the kernel's ops struct
//! (`struct bpf_struct_ops_tcp_congestion_ops { common; struct tcp_congestion_ops data; }`).
//!
//! For each struct_ops map of the object ([`crate::elf::struct_ops`]):
//! 1. the kernel's ops struct and its wrapper are found by name in vmlinux's BTF (neither:
//!    the kernel cannot take a BPF implementation of this struct, [`LoadError::StructOps`]);
//! 2. each local member is matched by name with the kernel's: a data member is copied to
//!    the kernel's offset inside `data` (sizes must agree); a function pointer set to a
//!    program records where the program's fd will go, and gives the program its
//!    `attach_btf_id` (the kernel's ops struct) and `expected_attach_type` (the kernel
//!    member's index), with which it must be loaded; a member the kernel lacks is skipped
//!    if the object left it zero, refused otherwise;
//!    A map of `.struct_ops.link` (`BPF_F_LINK`) needs a kernel with struct_ops links
//!    (6.4; its BTF has `struct bpf_struct_ops_link`): refused otherwise, as the kernel
//!    would refuse the map's flag;
//! 3. the map is created with `btf_vmlinux_value_type_id` = the wrapper's id, value size =
//!    the wrapper's size, and the object's BTF fd (`crate::load::map`).
//!
//! Registration (writing the fds and `BPF_MAP_UPDATE_ELEM`, or a BPF link) is an attach
//! step: [`crate::attach::struct_ops`].
//!
//! ABI: `BPF_MAP_TYPE_STRUCT_OPS`, `btf_vmlinux_value_type_id`, `BPF_PROG_TYPE_STRUCT_OPS`
//! with `attach_btf_id` and `expected_attach_type` (`include/uapi/linux/bpf.h`); the
//! wrapper's name is the kernel's `BPF_STRUCT_OPS_TYPE_VALUE_PREFIX`
//! (`kernel/bpf/bpf_struct_ops.c`).

use crate::btf::{Btf, Kind, TypeBody};
use crate::elf::struct_ops::{KernelStructOps, StructOpsSpec};
use crate::elf::{ObjectSpec, ProgramSpec};
use crate::uapi::{AttachType, ProgramType, BPF_F_LINK};

use super::program::AttachBtf;
use super::LoadError;

/// The kernel's prefix of the value type that wraps each ops struct.
const VALUE_PREFIX: &str = "bpf_struct_ops_";
/// The kernel's struct of a struct_ops link (`kernel/bpf/bpf_struct_ops.c`, 6.4): in its
/// BTF where `BPF_F_LINK` maps and `BPF_LINK_CREATE` with `BPF_STRUCT_OPS` exist. (Not
/// `BPF_LINK_TYPE_STRUCT_OPS`: that link type is older, for the kernel's own use.)
const LINK_TYPE: &str = "bpf_struct_ops_link";

/// Does the kernel register struct_ops maps by BPF link (6.4)? Its BTF says.
pub fn has_struct_ops_links(kernel: &Btf) -> bool {
    kernel.find_by_name_kind(LINK_TYPE, Kind::Struct).is_ok()
}

/// Does the object have struct_ops maps?
pub(super) fn has_struct_ops(spec: &ObjectSpec) -> bool {
    spec.maps.iter().any(|m| m.struct_ops.is_some())
}

/// `spec` with every struct_ops map fitted to `kernel` (value size, value type id, the
/// kernel's value) and every program a map points to given its member index as
/// `expected_attach_type`; `None` when the object has no struct_ops map.
pub(super) fn fit_to_kernel(
    spec: &ObjectSpec,
    kernel: Option<&Btf>,
) -> Result<Option<ObjectSpec>, LoadError> {
    if !has_struct_ops(spec) {
        return Ok(None);
    }
    let kernel = kernel.ok_or(LoadError::NoKernelBtf)?;
    let mut fitted = spec.clone();
    for map in &mut fitted.maps {
        let Some(ops) = map.struct_ops.as_mut() else {
            continue;
        };
        let refused = |reason| LoadError::StructOps {
            map: map.name.clone(),
            reason,
        };
        if map.map_flags & BPF_F_LINK != 0 && !has_struct_ops_links(kernel) {
            return Err(refused(format!(
                "it is in {}, to be registered by a BPF link, and this kernel has no \
                 struct_ops links (Linux 6.4: no struct {LINK_TYPE} in its BTF); put it in \
                 .struct_ops instead",
                map.section
            )));
        }
        let kernel_ops = kernel_value(kernel, ops).map_err(refused)?;
        map.value_size = kernel_ops.value.len() as u32;
        map.btf_vmlinux_value_type_id = kernel_ops.value_type_id;
        // The kernel refuses key and value types beside btf_vmlinux_value_type_id.
        map.btf_key_type_id = 0;
        map.btf_value_type_id = 0;
        for (_, program, member_index) in &kernel_ops.programs {
            if let Some(p) = fitted.programs.iter_mut().find(|p| p.name == *program) {
                p.expected_attach_type = AttachType(*member_index);
            }
        }
        ops.kernel = Some(kernel_ops);
    }
    Ok(Some(fitted))
}

/// The `attach_btf_id` of a struct_ops program: the kernel's ops struct of the (first)
/// map that points to it; `None` for any other program, and for a struct_ops program no
/// map points to.
pub(super) fn attach_btf(spec: &ObjectSpec, program: &ProgramSpec) -> Option<AttachBtf> {
    if program.prog_type != ProgramType::StructOps {
        return None;
    }
    spec.maps
        .iter()
        .filter_map(|m| m.struct_ops.as_ref())
        .find_map(|ops| {
            let kernel = ops.kernel.as_ref()?;
            kernel
                .programs
                .iter()
                .any(|(_, name, _)| *name == program.name)
                .then(|| AttachBtf {
                    name: ops.type_name.clone(),
                    type_id: kernel.type_id,
                    module: None,
                })
        })
}

/// Is `program` a struct_ops program that no struct_ops map points to? libbpf does not
/// load those (`bpf_object_adjust_struct_ops_autoload`): the kernel would have no member
/// to verify it against.
pub(super) fn is_unused(spec: &ObjectSpec, program: &ProgramSpec) -> bool {
    program.prog_type == ProgramType::StructOps
        && !spec
            .maps
            .iter()
            .filter_map(|m| m.struct_ops.as_ref())
            .any(|ops| {
                ops.members
                    .iter()
                    .any(|m| m.program.as_deref() == Some(program.name.as_str()))
            })
}

/// The kernel's value for `ops`: steps 1 and 2 of the module's header.
fn kernel_value(kernel: &Btf, ops: &StructOpsSpec) -> Result<KernelStructOps, String> {
    let type_id = kernel
        .find_by_name_kind(&ops.type_name, Kind::Struct)
        .map_err(|_| format!("the kernel has no struct {}", ops.type_name))?;
    let wrapper = format!("{VALUE_PREFIX}{}", ops.type_name);
    let value_type_id = kernel
        .find_by_name_kind(&wrapper, Kind::Struct)
        .map_err(|_| {
            format!(
                "the kernel cannot take a BPF struct {} (no struct {wrapper} in its BTF: \
             struct_ops needs Linux 5.6 and a kernel that lets BPF implement this struct)",
                ops.type_name
            )
        })?;
    let btf_error = |e: crate::btf::BtfError| e.to_string();
    let TypeBody::Struct {
        size: value_size,
        members: wrapper_members,
    } = kernel.type_by_id(value_type_id).map_err(btf_error)?.body
    else {
        return Err(format!("{wrapper} is not a struct"));
    };
    let data_offset = wrapper_members
        .iter()
        .find(|m| m.name == "data")
        .map(|m| m.bit_offset / 8)
        .ok_or_else(|| format!("{wrapper} has no member data"))?;
    let TypeBody::Struct {
        members: kernel_members,
        ..
    } = kernel.type_by_id(type_id).map_err(btf_error)?.body
    else {
        return Err(format!("{} is not a struct", ops.type_name));
    };
    let mut value = vec![0u8; value_size as usize];
    let mut programs = Vec::new();
    for member in &ops.members {
        let local = ops
            .data
            .get(member.offset as usize..(member.offset + member.size) as usize)
            .ok_or_else(|| format!("member {} lies outside the variable", member.name))?;
        let Some((index, kernel_member)) = kernel_members
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == member.name)
        else {
            // libbpf: a member the kernel lacks is fine only if the object left it empty.
            if member.program.is_none() && local.iter().all(|&b| b == 0) {
                continue;
            }
            return Err(format!(
                "the kernel's struct {} has no member {}",
                ops.type_name, member.name
            ));
        };
        let at = data_offset + kernel_member.bit_offset / 8;
        if member.is_function {
            if let Some(program) = &member.program {
                programs.push((at, program.clone(), index as u32));
            }
            continue;
        }
        let kernel_size = kernel
            .resolve_size(kernel_member.type_id)
            .map_err(btf_error)?;
        if kernel_size != member.size {
            return Err(format!(
                "member {} is {} bytes here and {kernel_size} in the kernel",
                member.name, member.size
            ));
        }
        value
            .get_mut(at as usize..(at + kernel_size) as usize)
            .ok_or_else(|| format!("member {} lies outside {wrapper}", member.name))?
            .copy_from_slice(local);
    }
    Ok(KernelStructOps {
        type_id,
        value_type_id,
        value,
        programs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::build::BtfBuilder;
    use crate::elf::struct_ops::StructOpsMember;

    /// A kernel whose `struct demo_ops` is laid out otherwise than the object's: an extra
    /// member first, `name` before `go`; and its wrapper `bpf_struct_ops_demo_ops`, with
    /// the ops struct at offset 16.
    fn kernel(with_wrapper: bool) -> Btf {
        let mut b = BtfBuilder::new();
        let u32_ = b.add_int("unsigned int", 4, 0);
        let char_ = b.add_int("char", 1, 0);
        let name = b.add_array(char_, u32_, 8);
        let proto = b.add_func_proto(u32_, &[]);
        let fn_ptr = b.add_ptr(proto);
        let ops = b.add_struct(
            "demo_ops",
            32,
            &[
                ("kernel_only", u32_, 0, 0),
                ("name", name, 64, 0),
                ("go", fn_ptr, 128, 0),
                ("flags", u32_, 192, 0),
            ],
        );
        if with_wrapper {
            let common = b.add_struct("bpf_struct_ops_common_value", 16, &[]);
            b.add_struct(
                "bpf_struct_ops_demo_ops",
                48,
                &[("common", common, 0, 0), ("data", ops, 128, 0)],
            );
        }
        Btf::parse(b.build()).unwrap()
    }

    /// The object's `struct demo_ops { u32 (*go)(void); char name[8]; u32 unused; }`,
    /// `go` set to program `prog_go`, `name` "demo", `unused` as given.
    fn local(unused: u32) -> StructOpsSpec {
        let mut data = vec![0u8; 24];
        data[8..12].copy_from_slice(b"demo");
        data[16..20].copy_from_slice(&unused.to_ne_bytes());
        let member =
            |name: &str, offset, size, is_function, program: Option<&str>| StructOpsMember {
                name: name.into(),
                offset,
                size,
                is_function,
                program: program.map(Into::into),
            };
        StructOpsSpec {
            type_name: "demo_ops".into(),
            type_id: 1,
            section_offset: 0,
            data,
            members: vec![
                member("go", 0, 8, true, Some("prog_go")),
                member("name", 8, 8, false, None),
                member("unused", 16, 4, false, None),
            ],
            kernel: None,
        }
    }

    #[test]
    fn the_value_is_laid_out_by_the_kernels_types() {
        let kernel = kernel(true);
        let fitted = kernel_value(&kernel, &local(0)).unwrap();
        assert_eq!(fitted.value.len(), 48);
        // `data` at 16; `name` at 8 inside it; everything else zero.
        let mut want = vec![0u8; 48];
        want[24..28].copy_from_slice(b"demo");
        assert_eq!(fitted.value, want);
        // `go` is the kernel's member 2, at 16 + 16: the program's slot and attach type.
        assert_eq!(fitted.programs, [(32, "prog_go".to_string(), 2)]);
        assert_eq!(
            kernel.type_name(fitted.value_type_id).unwrap(),
            "bpf_struct_ops_demo_ops"
        );
        assert_eq!(kernel.type_name(fitted.type_id).unwrap(), "demo_ops");
    }

    #[test]
    fn what_the_kernel_cannot_take_is_refused_as_libbpf_refuses_it() {
        // A member the kernel lacks, set by the object.
        assert_eq!(
            kernel_value(&kernel(true), &local(1)).unwrap_err(),
            "the kernel's struct demo_ops has no member unused"
        );
        // No wrapper: the kernel has the struct but lets no BPF implement it.
        assert_eq!(
            kernel_value(&kernel(false), &local(0)).unwrap_err(),
            "the kernel cannot take a BPF struct demo_ops (no struct bpf_struct_ops_demo_ops \
             in its BTF: struct_ops needs Linux 5.6 and a kernel that lets BPF implement this \
             struct)"
        );
        // A data member of another size than the kernel's.
        let mut wrong = local(0);
        wrong.members[1].size = 4;
        assert_eq!(
            kernel_value(&kernel(true), &wrong).unwrap_err(),
            "member name is 4 bytes here and 8 in the kernel"
        );
        let mut unknown = local(0);
        unknown.type_name = "no_such_ops".into();
        assert_eq!(
            kernel_value(&kernel(true), &unknown).unwrap_err(),
            "the kernel has no struct no_such_ops"
        );
    }
}
