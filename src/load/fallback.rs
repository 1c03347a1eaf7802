//! The fallbacks a load took: where this kernel lacked something and the loader went a
//! second way, as libbpf does silently (its BTF sanitising, the retry of `BPF_MAP_CREATE`
//! without BTF types in `bpf_object__create_map`, programs loaded without `func_info`
//! when the kernel has no BTF `FUNC`). Here a caller sees each of them:
//! [`Object::fallbacks`]. (How a program was attached, and whether that was the second
//! choice, is the link's: `AttachMethod::fallback` in [`crate::attach`].)
//!
//! ABI: none of its own; it reads what `BPF_BTF_LOAD`, `BPF_MAP_CREATE` and
//! `BPF_PROG_LOAD` answered (`include/uapi/linux/bpf.h`).

use std::fmt;

use super::{BtfInfoOutcome, BtfStatus, Object};

/// One way the load went other than its first choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// The kernel refused the object's BTF (`BPF_BTF_LOAD`): maps were created and
    /// programs loaded without it.
    BtfRefused {
        /// The refusal, as the kernel gave it.
        error: String,
    },
    /// BTF kinds this kernel does not know were rewritten before `BPF_BTF_LOAD`
    /// ([`crate::btf::sanitize`]).
    BtfRewritten {
        /// Each rewrite (`DATASEC .bss -> STRUCT`, ...).
        rewrites: Vec<String>,
    },
    /// The object gives the map BTF key and value types, but the map in the kernel has
    /// none: the kernel refused it typed and it was created again without them (or, for a
    /// map opened from its pin, the pinned map has none). `bpftool map dump` then cannot
    /// print it typed, and typed views check sizes only.
    MapWithoutBtf {
        /// The map.
        map: String,
    },
    /// The program was loaded without its `func_info` and `line_info` (the kernel has no
    /// BTF `FUNC`, probed): the verifier's log and `bpftool prog dump` show no source lines.
    ProgramWithoutBtfInfo {
        /// The program.
        program: String,
    },
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::BtfRefused { error } => write!(
                f,
                "the object's BTF was refused, so its maps and programs went without BTF ({error})"
            ),
            Fallback::BtfRewritten { rewrites } => write!(
                f,
                "BTF kinds this kernel lacks were rewritten: {}",
                rewrites.join(", ")
            ),
            Fallback::MapWithoutBtf { map } => write!(
                f,
                "map {map}: created without its BTF key/value types (the kernel refused them)"
            ),
            Fallback::ProgramWithoutBtfInfo { program } => write!(
                f,
                "program {program}: loaded without func_info/line_info (no BTF FUNC in this kernel)"
            ),
        }
    }
}

impl Object {
    /// Every fallback this load took, in the load's order (BTF, maps, programs); empty
    /// when everything went the first way.
    pub fn fallbacks(&self) -> Vec<Fallback> {
        let mut fallbacks = Vec::new();
        let btf_loaded = match self.btf_status() {
            BtfStatus::Loaded(_) => true,
            BtfStatus::Refused(error) => {
                fallbacks.push(Fallback::BtfRefused {
                    error: error.to_string(),
                });
                false
            }
            BtfStatus::Absent => false,
        };
        if !self.btf_rewrites.is_empty() {
            fallbacks.push(Fallback::BtfRewritten {
                rewrites: self.btf_rewrites.iter().map(|r| r.to_string()).collect(),
            });
        }
        if btf_loaded {
            for map in &self.maps {
                let spec = map.spec();
                let has_types = spec.btf_key_type_id != 0 || spec.btf_value_type_id != 0;
                if has_types && !map.typed_by_btf() {
                    fallbacks.push(Fallback::MapWithoutBtf {
                        map: spec.name.clone(),
                    });
                }
            }
            for program in &self.programs {
                if matches!(program.btf_info(), BtfInfoOutcome::NotGiven)
                    && !program.relocated().func_info.is_empty()
                {
                    fallbacks.push(Fallback::ProgramWithoutBtfInfo {
                        program: program.name().to_string(),
                    });
                }
            }
        }
        fallbacks
    }
}
