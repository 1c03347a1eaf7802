//! Global variables: the named values of the data sections (`.rodata`, `.data`, `.bss`
//! and their `.rodata.NAME` kin), found through the object's BTF.
//!
//! ABI: each data section has a BTF `DATASEC` of the same name listing its variables
//! (`VAR`) with their offsets and sizes (`Documentation/bpf/btf.rst`, "BTF_KIND_DATASEC");
//! the parser has already filled in those offsets (clang leaves them to the loader).
//!
//! This is a pure edit of the spec: setting a `const volatile` variable of `.rodata`
//! before load is how a program is configured (the verifier then treats it as a
//! constant and prunes the branches it rules out).

use std::fmt;

use super::{MapKind, ObjectSpec};
use crate::btf::layout::{self, LayoutError};
use crate::btf::{Btf, Kind, TypeBody};
use crate::pod::{self, Pod};

/// Where a global variable lives: the map of its data section, and its bytes in that
/// map's one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalVariable {
    /// The variable's name in the source (`filter_pid`).
    pub name: String,
    /// Its data section (`.rodata`).
    pub section: String,
    /// Index of the section's map in [`ObjectSpec::maps`].
    pub map: usize,
    /// Byte offset in the section.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// Its type in the object's BTF (the VAR's type), which typed access is checked against.
    pub type_id: u32,
}

/// Why a global variable could not be found or set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalError {
    /// The object has no BTF describing its data sections.
    NoBtf,
    /// No variable of that name in any data section.
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The value's size is not the variable's.
    Size {
        /// The variable.
        name: String,
        /// Its size in the object.
        expected: usize,
        /// The size of the value given.
        got: usize,
    },
    /// The Rust type given does not mirror the variable's C type.
    Layout {
        /// The variable.
        name: String,
        /// How they differ.
        error: Box<LayoutError>,
    },
}

impl fmt::Display for GlobalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobalError::NoBtf => write!(
                f,
                "the object has no BTF: its global variables cannot be found"
            ),
            GlobalError::NotFound { name } => write!(f, "no global variable {name} in the object"),
            GlobalError::Size {
                name,
                expected,
                got,
            } => write!(f, "global variable {name} is {expected} bytes, not {got}"),
            GlobalError::Layout { name, .. } => write!(f, "global variable {name}"),
        }
    }
}

impl std::error::Error for GlobalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GlobalError::Layout { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl ObjectSpec {
    /// Every variable of every data section, section by section in map order.
    pub fn globals(&self) -> Result<Vec<GlobalVariable>, GlobalError> {
        let btf = self.btf.as_ref().ok_or(GlobalError::NoBtf)?;
        let mut globals = Vec::new();
        for (index, map) in self.maps.iter().enumerate() {
            if matches!(map.kind, MapKind::Btf | MapKind::Legacy | MapKind::Kconfig) {
                continue;
            }
            let Ok(datasec) = btf.find_by_name_kind(&map.section, Kind::Datasec) else {
                continue;
            };
            let Ok(TypeBody::Datasec { vars, .. }) = btf.type_by_id(datasec).map(|t| t.body) else {
                continue;
            };
            for var in vars {
                let Ok(name) = btf.type_name(var.type_id) else {
                    continue;
                };
                let type_id = match btf.type_by_id(var.type_id).map(|t| t.body) {
                    Ok(TypeBody::Var { type_id, .. }) => type_id,
                    _ => 0,
                };
                globals.push(GlobalVariable {
                    name: name.to_string(),
                    section: map.section.clone(),
                    map: index,
                    offset: var.offset as usize,
                    size: var.size as usize,
                    type_id,
                });
            }
        }
        Ok(globals)
    }

    /// Global variable `name`, in whichever data section declares it.
    pub fn global(&self, name: &str) -> Result<GlobalVariable, GlobalError> {
        self.globals()?
            .into_iter()
            .find(|var| var.name == name)
            .ok_or_else(|| GlobalError::NotFound {
                name: name.to_string(),
            })
    }

    /// Sets the initial value of global variable `name` to `value`, a Rust type checked
    /// against the variable's C type in the object's BTF ([`layout::check`]: its size,
    /// and an integer's signedness, an array's length, a struct's fields). For `.rodata`
    /// this is the only time it can be written: the loader freezes the map once filled.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut spec = ebpf_loader::elf::ObjectSpec::parse(&std::fs::read("bpf/main.bpf.o")?)?;
    /// spec.set_global("filter_pid", &4242u32)?;
    /// spec.set_global("filter_ports", &[443u16; 64])?;
    /// # Ok(()) }
    /// ```
    pub fn set_global<T: Pod>(&mut self, name: &str, value: &T) -> Result<(), GlobalError> {
        let var = self.global(name)?;
        let btf = self.btf.as_ref().ok_or(GlobalError::NoBtf)?;
        var.check::<T>(btf)?;
        self.set_global_bytes(name, pod::bytes_of(value))
    }

    /// [`ObjectSpec::set_global`] from bytes, for a tool that does not know the variable's
    /// type (only the size is checked).
    pub fn set_global_bytes(&mut self, name: &str, value: &[u8]) -> Result<(), GlobalError> {
        let var = self.global(name)?;
        if var.size != value.len() {
            return Err(GlobalError::Size {
                name: name.to_string(),
                expected: var.size,
                got: value.len(),
            });
        }
        let not_found = || GlobalError::NotFound {
            name: name.to_string(),
        };
        let map = self.maps.get_mut(var.map).ok_or_else(not_found)?;
        // .bss has no bytes in the file: its initial image is zeroes of its size.
        if map.initial.len() < map.value_size as usize {
            map.initial.resize(map.value_size as usize, 0);
        }
        map.initial
            .get_mut(var.offset..var.offset + var.size)
            .ok_or_else(not_found)?
            .copy_from_slice(value);
        Ok(())
    }
}

impl GlobalVariable {
    /// Checks that `T` mirrors the variable's type in `btf`, the object's BTF (the size
    /// first, then [`layout::check`]).
    pub fn check<T: Pod>(&self, btf: &Btf) -> Result<(), GlobalError> {
        if self.size != std::mem::size_of::<T>() {
            return Err(GlobalError::Size {
                name: self.name.clone(),
                expected: self.size,
                got: std::mem::size_of::<T>(),
            });
        }
        layout::check::<T>(btf, self.type_id).map_err(|error| GlobalError::Layout {
            name: self.name.clone(),
            error: Box::new(error),
        })
    }
}
