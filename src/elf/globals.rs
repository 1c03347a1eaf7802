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
use crate::btf::{Kind, TypeBody};

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
        }
    }
}

impl std::error::Error for GlobalError {}

impl ObjectSpec {
    /// Every variable of every data section, section by section in map order.
    pub fn globals(&self) -> Result<Vec<GlobalVariable>, GlobalError> {
        let btf = self.btf.as_ref().ok_or(GlobalError::NoBtf)?;
        let mut globals = Vec::new();
        for (index, map) in self.maps.iter().enumerate() {
            if matches!(map.kind, MapKind::Btf | MapKind::Kconfig) {
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
                globals.push(GlobalVariable {
                    name: name.to_string(),
                    section: map.section.clone(),
                    map: index,
                    offset: var.offset as usize,
                    size: var.size as usize,
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

    /// Writes the initial value of global variable `name` (for `.rodata`, the only time it
    /// can be written: the loader freezes the map once filled).
    pub fn set_global(&mut self, name: &str, value: &[u8]) -> Result<(), GlobalError> {
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
