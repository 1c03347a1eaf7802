//! Loading: an [`ObjectSpec`] made into kernel objects, in libbpf's order: the object's
//! BTF, then the maps (global data filled, `.rodata` frozen), then each program,
//! relocated against those maps and the kernel's BTF.
//!
//! ABI: `BPF_BTF_LOAD`, `BPF_MAP_CREATE`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_FREEZE` and
//! `BPF_PROG_LOAD` in `include/uapi/linux/bpf.h`; the rules for maps created with BTF in
//! `Documentation/bpf/btf.rst` ("BPF_MAP_CREATE").
//!
//! Before loading, the spec can be changed like any value: [`set_global`] writes a
//! `const volatile` variable of `.rodata` (the program's configuration), and a map's
//! `max_entries` can be set directly (as the seed's Go version resizes `events`).

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::attach::{self, AttachError, AttachOptions, KprobeKind, Link};
use crate::btf::core::CoreFixup;
use crate::btf::{Btf, TypeBody};
use crate::elf::AttachTarget;
use crate::elf::{MapKind, MapSpec, ObjectSpec, RelocError, RelocatedProgram};
use crate::syscall::{self, BtfInfoOutcome, ProgLoadOptions, ProgLoadRequest, SysError};

/// Why an object could not be loaded. Each variant names the map or program.
#[derive(Debug)]
pub enum LoadError {
    /// The possible CPUs could not be read (a perf event array is sized by them).
    PossibleCpus(String),
    /// `BPF_MAP_CREATE` (or filling the map) failed.
    Map { map: String, error: SysError },
    /// The program could not be relocated.
    Relocate(RelocError),
    /// The kernel refused the program; the verifier's log is inside.
    Program(Box<syscall::LoadError>),
    /// No program of that name in the object.
    NoSuchProgram { name: String },
    /// A global variable could not be found.
    Global(GlobalError),
    /// The verifier rejected an instruction that CO-RE had to poison: the kernel lacks a
    /// type or field the program reads.
    CoreUnresolved {
        program: String,
        /// The poisoned relocation the verifier stopped at.
        fixup: Box<CoreFixup>,
        error: Box<syscall::LoadError>,
    },
    /// `EPERM` creating a map or loading a program on a kernel that charges
    /// `RLIMIT_MEMLOCK` (before 5.11), whose limit could not be raised.
    Memlock {
        /// `map NAME` or `program NAME`.
        object: String,
        error: crate::features::memlock::MemlockError,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::PossibleCpus(reason) => write!(f, "possible CPUs: {reason}"),
            LoadError::Map { map, error } => write!(f, "map {map}: {error}"),
            LoadError::Relocate(error) => write!(f, "{error}"),
            LoadError::Program(error) => write!(f, "{error}"),
            LoadError::NoSuchProgram { name } => write!(f, "no program named {name} in the object"),
            LoadError::Global(error) => write!(f, "{error}"),
            LoadError::CoreUnresolved {
                program,
                fixup,
                error,
            } => {
                write!(
                    f,
                    "program {program}: this kernel has no {} ({}), which instruction {} reads; \
                     CO-RE could not relocate it and the verifier refused the program ({})",
                    fixup.local_access,
                    fixup.missing.as_deref().unwrap_or("no matching type"),
                    fixup.insn_index,
                    error.error
                )
            }
            LoadError::Memlock { object, error } => write!(f, "{object}: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Why a global variable could not be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalError {
    /// The object has no BTF describing its data sections.
    NoBtf,
    /// No variable of that name in any data section.
    NotFound { name: String },
    /// The value's size is not the variable's.
    Size {
        name: String,
        expected: u32,
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
            } => {
                write!(f, "global variable {name} is {expected} bytes, not {got}")
            }
        }
    }
}

impl std::error::Error for GlobalError {}

/// Where a global variable lives: its data section's map, and its place in the map's one
/// value, found through the BTF `DATASEC` of the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalVar {
    /// Index of the section's map in `spec.maps`.
    pub map: usize,
    pub offset: usize,
    pub size: usize,
}

/// Finds global variable `name` in `.rodata`, `.data` or `.bss`.
pub fn find_global(spec: &ObjectSpec, name: &str) -> Result<GlobalVar, GlobalError> {
    let btf = spec.btf.as_ref().ok_or(GlobalError::NoBtf)?;
    for (index, map) in spec.maps.iter().enumerate() {
        if map.kind == MapKind::Btf {
            continue;
        }
        let Ok(datasec) = btf.find_by_name_kind(&map.section, crate::btf::Kind::Datasec) else {
            continue;
        };
        let Ok(TypeBody::Datasec { vars, .. }) = btf.type_by_id(datasec).map(|t| t.body) else {
            continue;
        };
        let found = vars
            .iter()
            .find(|var| btf.type_name(var.type_id).ok() == Some(name));
        if let Some(var) = found {
            return Ok(GlobalVar {
                map: index,
                offset: var.offset as usize,
                size: var.size as usize,
            });
        }
    }
    Err(GlobalError::NotFound {
        name: name.to_string(),
    })
}

/// Writes the initial value of global variable `name` before the object is loaded (for
/// `.rodata`, the only time it can be written).
pub fn set_global(spec: &mut ObjectSpec, name: &str, value: &[u8]) -> Result<(), GlobalError> {
    let var = find_global(spec, name)?;
    if var.size != value.len() {
        return Err(GlobalError::Size {
            name: name.to_string(),
            expected: var.size as u32,
            got: value.len(),
        });
    }
    let not_found = || GlobalError::NotFound {
        name: name.to_string(),
    };
    let map = spec.maps.get_mut(var.map).ok_or_else(not_found)?;
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

/// Why a program could not be attached by its section name.
#[derive(Debug)]
pub enum ProgramAttachError {
    /// This loader has no way (yet) to attach to that kind of target.
    Unsupported {
        program: String,
        target: String,
    },
    Attach(AttachError),
}

impl fmt::Display for ProgramAttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramAttachError::Unsupported { program, target } => {
                write!(
                    f,
                    "program {program}: attaching to {target} is not supported"
                )
            }
            ProgramAttachError::Attach(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ProgramAttachError {}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// The programs to load, by name; empty: all of them. Maps are always all created.
    pub programs: Vec<String>,
    /// The kernel's BTF, for CO-RE. `None`: the offsets stay as compiled.
    pub target_btf: Option<&'a Btf>,
    /// Ask the verifier for its statistics (`BPF_LOG_STATS`) on every load.
    pub verifier_stats: bool,
}

/// A map in the kernel.
#[derive(Debug)]
pub struct Map {
    pub spec: MapSpec,
    /// `max_entries` as created (a perf event array's 0 becomes the possible CPUs).
    pub max_entries: u32,
    pub fd: OwnedFd,
    /// Created with its key/value BTF types (else the kernel did not take them).
    pub with_btf: bool,
}

/// A program in the kernel.
#[derive(Debug)]
pub struct Program {
    pub name: String,
    pub section: String,
    pub attach: AttachTarget,
    pub fd: OwnedFd,
    /// What relocation did, instruction by instruction (for `--verbose`).
    pub relocated: RelocatedProgram,
    /// Whether the kernel took the func_info/line_info.
    pub btf_info: BtfInfoOutcome,
    /// The verifier's statistics line, when asked for.
    pub verifier_stats: Option<String>,
}

impl Program {
    /// Attaches the program where its section name says (`kprobe/FUNC`,
    /// `tracepoint/CATEGORY/NAME`).
    pub fn attach(&self, opts: &AttachOptions) -> Result<Link, ProgramAttachError> {
        let fd = self.fd.as_fd();
        let result = match &self.attach {
            AttachTarget::Kprobe {
                function,
                offset: 0,
                retprobe,
            } => {
                let kind = if *retprobe {
                    KprobeKind::Return
                } else {
                    KprobeKind::Entry
                };
                attach::attach_kprobe(fd, function, kind, opts)
            }
            AttachTarget::Tracepoint { category, name } => {
                attach::attach_tracepoint(fd, category, name, opts)
            }
            other => {
                return Err(ProgramAttachError::Unsupported {
                    program: self.name.clone(),
                    target: other.to_string(),
                })
            }
        };
        result.map_err(ProgramAttachError::Attach)
    }
}

/// An object in the kernel: its BTF, maps and programs. Dropping it closes every fd; the
/// kernel frees what no link or fd holds any more.
#[derive(Debug)]
pub struct Object {
    pub btf_fd: Option<OwnedFd>,
    /// Why the object's BTF was not loaded, when it was not.
    pub btf_error: Option<syscall::LoadError>,
    /// What was rewritten in the object's BTF for this kernel (empty: loaded as compiled).
    pub btf_rewrites: Vec<crate::btf::sanitize::Rewrite>,
    pub maps: Vec<Map>,
    pub programs: Vec<Program>,
}

impl Object {
    /// Loads `spec`: BTF, maps, then the programs `opts` names.
    pub fn load(spec: &ObjectSpec, opts: &LoadOptions<'_>) -> Result<Object, LoadError> {
        for name in &opts.programs {
            if spec.program(name).is_none() {
                return Err(LoadError::NoSuchProgram { name: name.clone() });
            }
        }
        // Before anything is created: where the kernel charges BPF memory to
        // RLIMIT_MEMLOCK (before 5.11), the limit is raised (once per process).
        crate::features::memlock::ensure();

        // 1. The object's BTF, DATASECs already fixed up by the parser. A kernel that refuses
        //    it still loads the programs, without BTF for maps and func/line info.
        //    The kinds this kernel does not know (probed) are rewritten first, every type
        //    keeping its id (btf::sanitize, issue 12).
        let btf_features = spec.btf.as_ref().map(|_| crate::features::btf::probe());
        let mut btf_rewrites = Vec::new();
        let (btf_fd, btf_error) = match (&spec.btf, &btf_features) {
            (Some(btf), Some(features)) => {
                let sanitized = crate::btf::sanitize::sanitize(btf, features);
                btf_rewrites = sanitized.rewrites;
                match syscall::load_btf(&sanitized.bytes, &ProgLoadOptions::default()) {
                    Ok((fd, _log)) => (Some(fd), None),
                    Err(error) => (None, Some(error)),
                }
            }
            _ => (None, None),
        };
        // Without FUNC in BTF (before 5.0) the kernel takes no func_info or line_info.
        let btf_info = btf_features.is_some_and(|f| f.func);

        // 2. Maps.
        let mut maps = Vec::with_capacity(spec.maps.len());
        for map_spec in &spec.maps {
            maps.push(create_map(map_spec, btf_fd.as_ref().map(|fd| fd.as_fd()))?);
        }
        let map_fds: Vec<i32> = maps.iter().map(|m| m.fd.as_raw_fd()).collect();

        // 3. Programs.
        let mut programs = Vec::new();
        for program in &spec.programs {
            if !opts.programs.is_empty() && !opts.programs.contains(&program.name) {
                continue;
            }
            let relocated = spec
                .relocate(&program.name, &map_fds, opts.target_btf)
                .map_err(LoadError::Relocate)?;
            let mut request = ProgLoadRequest::new(
                &program.name,
                program.prog_type.as_u32(),
                &relocated.insns,
                &spec.license,
            );
            request.kern_version = spec.kernel_version.unwrap_or(0);
            if let Some(btf) = btf_fd.as_ref().filter(|_| btf_info) {
                request.prog_btf_fd = Some(btf.as_fd());
                request.func_info = &relocated.func_info;
                request.line_info = &relocated.line_info;
            }
            let load_opts = ProgLoadOptions {
                log_level: if opts.verifier_stats { 4 } else { 0 },
                ..ProgLoadOptions::default()
            };
            let loaded = syscall::load_program(&request, &load_opts).map_err(|error| {
                match crate::features::memlock::explain_eperm(&error.error) {
                    Some(error) => LoadError::Memlock {
                        object: format!("program {}", program.name),
                        error,
                    },
                    None => explain_rejection(&relocated, error),
                }
            })?;
            let verifier_stats = loaded.log.as_ref().and_then(|log| {
                log.text
                    .lines()
                    .rev()
                    .find(|line| line.starts_with("processed"))
                    .map(str::to_string)
            });
            programs.push(Program {
                name: program.name.clone(),
                section: program.section.clone(),
                attach: program.attach.clone(),
                fd: loaded.fd,
                relocated,
                btf_info: loaded.btf_info,
                verifier_stats,
            });
        }

        Ok(Object {
            btf_fd,
            btf_error,
            btf_rewrites,
            maps,
            programs,
        })
    }

    /// The map named `name` (its name in the object, e.g. `events` or `.rodata`).
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps
            .iter()
            .find(|m| m.spec.name == name || m.spec.section == name)
    }

    /// The current value of global variable `name` (`.data` or `.bss`, as the programs
    /// left it), read from the kernel with `BPF_MAP_LOOKUP_ELEM`.
    pub fn global(&self, spec: &ObjectSpec, name: &str) -> Result<Vec<u8>, LoadError> {
        let var = find_global(spec, name).map_err(LoadError::Global)?;
        let not_loaded = || {
            LoadError::Global(GlobalError::NotFound {
                name: name.to_string(),
            })
        };
        let map = self.maps.get(var.map).ok_or_else(not_loaded)?;
        let mut value = vec![0u8; map.spec.value_size as usize];
        syscall::map_lookup_elem(map.fd.as_fd(), &0u32.to_ne_bytes(), &mut value).map_err(
            |error| LoadError::Map {
                map: map.spec.name.clone(),
                error,
            },
        )?;
        value
            .get(var.offset..var.offset + var.size)
            .map(<[u8]>::to_vec)
            .ok_or_else(not_loaded)
    }

    /// The program named `name` (its function name in the object).
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }
}

/// A rejected program whose log stops at a poisoned CO-RE instruction
/// (`call unknown#195896080`, i.e. `CORE_POISON_IMM`) is explained by the field that was
/// missing; any other rejection is passed on with its log.
fn explain_rejection(relocated: &RelocatedProgram, error: syscall::LoadError) -> LoadError {
    let poison = format!("call unknown#{}", crate::insn::CORE_POISON_IMM);
    let site = error
        .log
        .text
        .lines()
        .filter(|line| line.contains(&poison))
        .find_map(|line| line.split(':').next()?.trim().parse::<usize>().ok());
    let fixup = site.and_then(|index| {
        relocated
            .core
            .iter()
            .find(|fixup| fixup.poisoned && fixup.insn_index == index)
    });
    match fixup {
        Some(fixup) => LoadError::CoreUnresolved {
            program: relocated.name.clone(),
            fixup: Box::new(fixup.clone()),
            error: Box::new(error),
        },
        None => LoadError::Program(Box::new(error)),
    }
}

/// The size a perf event array gets when the object leaves it at 0: one slot per
/// possible CPU (the highest possible CPU number plus one).
fn possible_cpu_slots() -> Result<u32, LoadError> {
    let cpus = syscall::possible_cpus().map_err(|e| LoadError::PossibleCpus(e.to_string()))?;
    Ok(cpus.iter().max().map_or(1, |&max| max + 1))
}

fn create_map(spec: &MapSpec, btf: Option<BorrowedFd<'_>>) -> Result<Map, LoadError> {
    let sys = |error| match crate::features::memlock::explain_eperm(&error) {
        Some(error) => LoadError::Memlock {
            object: format!("map {}", spec.name),
            error,
        },
        None => LoadError::Map {
            map: spec.name.clone(),
            error,
        },
    };
    let mut max_entries = spec.max_entries;
    if spec.map_type == syscall::BPF_MAP_TYPE_PERF_EVENT_ARRAY {
        let slots = possible_cpu_slots()?;
        if max_entries == 0 || max_entries > slots {
            max_entries = slots;
        }
    }
    let mut attr = syscall::MapCreateAttr {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries,
        map_flags: spec.map_flags,
        numa_node: spec.numa_node,
        map_name: syscall::obj_name(spec.kernel_name()),
        ..Default::default()
    };
    let typed = btf.filter(|_| spec.btf_key_type_id != 0 || spec.btf_value_type_id != 0);
    let (fd, with_btf) = match typed {
        Some(btf) => {
            attr.btf_fd = btf.as_raw_fd() as u32;
            attr.btf_key_type_id = spec.btf_key_type_id;
            attr.btf_value_type_id = spec.btf_value_type_id;
            match syscall::map_create(&attr) {
                Ok(fd) => (fd, true),
                // A kernel that cannot check these types still takes the map without them.
                Err(e) if e.errno == libc::EINVAL || e.is_not_supported() => {
                    attr.btf_fd = 0;
                    attr.btf_key_type_id = 0;
                    attr.btf_value_type_id = 0;
                    (syscall::map_create(&attr).map_err(sys)?, false)
                }
                Err(e) => return Err(sys(e)),
            }
        }
        None => (syscall::map_create(&attr).map_err(sys)?, false),
    };

    // Global data: one element at key 0 holding the section's bytes.
    if spec.kind != MapKind::Btf {
        let mut value = spec.initial.clone();
        value.resize(spec.value_size as usize, 0);
        if value.iter().any(|&b| b != 0) {
            syscall::map_update_elem(fd.as_fd(), &0u32.to_ne_bytes(), &value, syscall::BPF_ANY)
                .map_err(sys)?;
        }
        if spec.kind == MapKind::Rodata {
            syscall::map_freeze(fd.as_fd()).map_err(sys)?;
        }
    }
    Ok(Map {
        spec: spec.clone(),
        max_entries,
        fd,
        with_btf,
    })
}
