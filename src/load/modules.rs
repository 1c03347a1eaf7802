//! The kernel modules' BTF: where a BTF-typed program's target or a `__ksym` is found when
//! vmlinux's BTF does not have it.
//!
//! ABI: `BPF_BTF_GET_NEXT_ID`, `BPF_BTF_GET_FD_BY_ID` and `BPF_OBJ_GET_INFO_BY_FD` with
//! `struct bpf_btf_info` (`name`, `kernel_btf`: 5.11) in `include/uapi/linux/bpf.h`; a
//! module's BTF is split BTF on vmlinux's (`Documentation/bpf/btf.rst`, "BTF for kernel
//! modules"), the same bytes as `/sys/kernel/btf/<module>`. What the kernel wants for a
//! module target is the BTF object's fd: `attach_btf_obj_fd` of `BPF_PROG_LOAD` for a
//! BTF-typed program, the second slot's `imm` of a `BPF_PSEUDO_BTF_ID` `ld_imm64` for a
//! typed `__ksym`, and a slot of `fd_array` named by a kfunc call's `off` (slot 0 stands
//! for vmlinux, so modules start at 1: libbpf's `bpf_object__resolve_ksym_func_btf_id`).
//!
//! The list is read lazily, on the first name vmlinux lacks: loading an object whose
//! targets are all in vmlinux makes no system call here. The fds are held until the
//! object's programs are loaded; then the kernel holds what it needs (the program keeps
//! its target's BTF and module; attaching needs nothing more).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::LoadError;
use crate::btf::{Btf, Kind};
use crate::syscall;

/// One loaded module's BTF object.
#[derive(Debug)]
pub(crate) struct ModuleBtf {
    /// The module's name (`dummy`, `nf_conntrack`).
    pub name: String,
    /// The BTF object's kernel-wide id (what `bpf_prog_info.attach_btf_obj_id` reports).
    pub id: u32,
    /// Its fd, held until the programs are loaded.
    pub fd: OwnedFd,
    /// Its types, split on vmlinux's.
    pub btf: Btf,
    /// Its slot in `fd_array`, once a kfunc call needs one.
    fd_index: Option<i16>,
}

/// Where a name was found in a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleHit {
    /// The module's name.
    pub module: String,
    /// Its BTF object's id.
    pub btf_obj_id: u32,
    /// The type id in the module's (split) BTF.
    pub type_id: u32,
}

/// The modules' BTF, read on first use.
#[derive(Debug, Default)]
pub(crate) struct ModuleBtfs {
    modules: Option<Vec<ModuleBtf>>,
    /// `fd_array`: slot 0 unused (a kfunc call's `off` 0 is vmlinux), then one per module
    /// a kfunc call names.
    fd_array: Vec<i32>,
}

impl ModuleBtfs {
    /// The kernel's module BTF objects, listed and parsed on the first call.
    fn modules(&mut self) -> Result<&mut Vec<ModuleBtf>, LoadError> {
        if self.modules.is_none() {
            self.modules = Some(read_modules()?);
        }
        Ok(self.modules.get_or_insert_with(Vec::new))
    }

    /// The first module (in id order, as libbpf walks them) whose own BTF has a type
    /// `name` of kind `kind`.
    pub fn find(&mut self, name: &str, kind: Kind) -> Result<Option<ModuleHit>, LoadError> {
        let modules = self.modules()?;
        Ok(modules.iter().find_map(|module| {
            let type_id = module.btf.find_by_name_kind(name, kind).ok()?;
            (type_id >= module.btf.first_id()).then(|| ModuleHit {
                module: module.name.clone(),
                btf_obj_id: module.id,
                type_id,
            })
        }))
    }

    /// The `fd_array` slot of module `id`'s BTF, given one on first use.
    pub fn fd_index(&mut self, id: u32) -> Result<Option<i16>, LoadError> {
        let next = self.fd_array.len().max(1);
        let modules = self.modules()?;
        let Some(module) = modules.iter_mut().find(|m| m.id == id) else {
            return Ok(None);
        };
        if let Some(index) = module.fd_index {
            return Ok(Some(index));
        }
        // `off` is an s16.
        let index = i16::try_from(next).map_err(|_| {
            LoadError::ModuleBtfs(syscall::SysError::new(
                "fd_array (a kfunc call's off is an s16)",
                libc::E2BIG,
            ))
        })?;
        module.fd_index = Some(index);
        let fd = module.fd.as_raw_fd();
        if self.fd_array.is_empty() {
            self.fd_array.push(0);
        }
        self.fd_array.push(fd);
        Ok(Some(index))
    }

    /// `fd_array` for `BPF_PROG_LOAD`: empty when no kfunc call is a module's.
    pub fn fd_array(&self) -> &[i32] {
        &self.fd_array
    }

    /// The fd of module BTF `id`, while the list is held.
    pub fn fd(&self, id: u32) -> Option<BorrowedFd<'_>> {
        self.modules
            .as_ref()?
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.fd.as_fd())
    }
}

/// Every loaded module's BTF: the kernel's BTF objects (`kernel_btf`) but vmlinux's,
/// each parsed as split BTF on the running kernel's vmlinux BTF. A module unloaded while
/// the list is read is skipped. Before 5.11 no BTF object is a module's (and
/// `bpf_btf_info` has no name): the list is empty.
fn read_modules() -> Result<Vec<ModuleBtf>, LoadError> {
    let mut modules = Vec::new();
    let mut base: Option<Arc<Btf>> = None;
    let mut id = 0;
    loop {
        id = match syscall::btf_get_next_id(id) {
            Ok(Some(next)) => next,
            Ok(None) => break,
            // Before 5.4 there is no BTF object to list (EINVAL: unknown command). Listing
            // needs CAP_SYS_ADMIN, loading only CAP_BPF: without it, no module is searched
            // (libbpf's `load_module_btfs` skips them the same way), and a name vmlinux
            // lacks is then not found.
            Err(error) if error.errno == libc::EINVAL && modules.is_empty() => break,
            Err(error) if error.errno == libc::EPERM => break,
            Err(error) => return Err(LoadError::ModuleBtfs(error)),
        };
        let fd = match syscall::btf_get_fd_by_id(id) {
            Ok(fd) => fd,
            Err(error) if error.errno == libc::ENOENT => continue,
            Err(error) => return Err(LoadError::ModuleBtfs(error)),
        };
        let info = match syscall::btf_info(fd.as_fd()) {
            Ok(info) => info,
            // Before 5.11 `struct bpf_btf_info` ends at `id`: the kernel refuses the
            // longer struct with a name buffer (E2BIG), and has no module BTF either.
            Err(error) if error.errno == libc::E2BIG => return Ok(Vec::new()),
            Err(error) => return Err(LoadError::ModuleBtfs(error)),
        };
        if !info.kernel_btf || info.name.is_empty() || info.name == "vmlinux" {
            continue;
        }
        let bytes = syscall::btf_data(fd.as_fd(), info.size).map_err(LoadError::ModuleBtfs)?;
        let base = match &base {
            Some(base) => base.clone(),
            None => {
                // The modules' base is the running kernel's vmlinux BTF, whatever target
                // BTF the caller gave for CO-RE.
                let vmlinux = Arc::new(crate::btf::kernel::load().map_err(LoadError::KernelBtf)?);
                base = Some(vmlinux.clone());
                vmlinux
            }
        };
        let btf = Btf::parse_split(bytes, base).map_err(|error| LoadError::ModuleBtf {
            module: info.name.clone(),
            error,
        })?;
        modules.push(ModuleBtf {
            name: info.name,
            id: info.id,
            fd,
            btf,
            fd_index: None,
        });
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::build::BtfBuilder;

    /// A module whose split BTF has one FUNC `func`; its fd is /dev/null's (never used as
    /// a BTF here).
    fn module(base: &Arc<Btf>, name: &str, id: u32, func: &str) -> ModuleBtf {
        let mut b = BtfBuilder::new_split(base);
        let proto = b.add_func_proto(0, &[]);
        b.add_func(func, proto, 0);
        ModuleBtf {
            name: name.into(),
            id,
            fd: std::fs::File::open("/dev/null").unwrap().into(),
            btf: Btf::parse_split(b.build(), base.clone()).unwrap(),
            fd_index: None,
        }
    }

    #[test]
    fn module_hits_and_fd_array_slots() {
        let mut b = BtfBuilder::new();
        let proto = b.add_func_proto(0, &[]);
        b.add_func("vmlinux_func", proto, 0); // 2
        let base = Arc::new(Btf::parse(b.build()).unwrap());
        let mut modules = ModuleBtfs {
            modules: Some(vec![
                module(&base, "first", 40, "first_func"),
                module(&base, "second", 41, "second_func"),
            ]),
            fd_array: Vec::new(),
        };
        let hit = |m: &str, id, t| ModuleHit {
            module: m.into(),
            btf_obj_id: id,
            type_id: t,
        };
        // Ids continue after the base's 2 types.
        assert_eq!(
            modules.find("second_func", Kind::Func).unwrap(),
            Some(hit("second", 41, 4))
        );
        assert_eq!(
            modules.find("first_func", Kind::Func).unwrap(),
            Some(hit("first", 40, 4))
        );
        // vmlinux's own types are not a module's hit, nor another kind.
        assert_eq!(modules.find("vmlinux_func", Kind::Func).unwrap(), None);
        assert_eq!(modules.find("first_func", Kind::Var).unwrap(), None);
        // fd_array: no slot until a kfunc call needs one; slot 0 stays vmlinux's.
        assert!(modules.fd_array().is_empty());
        assert_eq!(modules.fd_index(41).unwrap(), Some(1));
        assert_eq!(modules.fd_index(40).unwrap(), Some(2));
        assert_eq!(modules.fd_index(41).unwrap(), Some(1));
        assert_eq!(modules.fd_index(99).unwrap(), None);
        let fd = |id| modules.fd(id).unwrap().as_raw_fd();
        assert_eq!(modules.fd_array(), [0, fd(41), fd(40)]);
    }
}
