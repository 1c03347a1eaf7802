//! Loading: an [`ObjectSpec`] made into kernel objects, in libbpf's order: the object's
//! BTF, then the maps (global data filled, `.rodata` frozen; a map of maps created with a
//! template of its inner maps, then its slots set to the object's maps it names), then
//! each program, relocated against those maps and the kernel's BTF, and last the slots of
//! prog arrays that name the object's programs.
//!
//! ABI: `BPF_BTF_LOAD`, `BPF_MAP_CREATE`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_FREEZE` and
//! `BPF_PROG_LOAD` in `include/uapi/linux/bpf.h`; the rules for maps created with BTF in
//! `Documentation/bpf/btf.rst` ("BPF_MAP_CREATE").
//!
//! The kernel's BTF is vmlinux's and, for what vmlinux lacks, the loaded modules'
//! (`modules.rs`; `Documentation/bpf/btf.rst`, "BTF for kernel modules"): a BTF-typed
//! program's target (fentry, fexit, fmod_ret, tp_btf, lsm, iter) found in a module is
//! loaded with that module BTF's fd (`attach_btf_obj_fd`, 5.11), a kfunc found in a module
//! is called with its BTF's slot in `fd_array` as the call's `off` (slot 0 is vmlinux's),
//! and a typed `__ksym` variable's `ld_imm64` carries the module BTF's fd, as libbpf does.
//! The modules' BTF objects are listed only when vmlinux lacks a name, and their fds held
//! until the programs are loaded (the kernel then holds the module; attaching needs
//! nothing more). A name found nowhere is "not in vmlinux nor in any loaded module's BTF".
//!
//! What comes out is a set of handles that own their fds: an [`Object`] holds its
//! [`Map`]s and [`Program`]s; a map is read and written through its handle, a program is
//! attached through its handle, and a perf event array is read with
//! [`crate::perf::PerfReader::open`]. Everything is closed when the handles are dropped.
//!
//! Before loading, the spec can be changed like any value: [`ObjectSpec::set_global`]
//! writes a `const volatile` variable of `.rodata` (the program's configuration), and a
//! map's `max_entries` can be set directly (as the seed's Go version resizes `events`).

mod fallback;
pub mod kconfig;
mod map;
mod map_ops;
mod modules;
mod program;
mod struct_ops;
mod typed;

#[cfg(test)]
mod fake_tests;

use std::borrow::Cow;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use crate::btf::core::CoreFixup;
use crate::btf::Btf;
use crate::elf::{
    ExternError, GlobalError, GlobalVariable, KconfigInput, ObjectSpec, ProgramSpec, RelocError,
    RelocatedProgram,
};
use crate::syscall::{self, CpuListError, ProgLoadOptions, SysError};
use crate::uapi::{MapType, BPF_ANY};

pub use fallback::Fallback;
pub use map::{adjust_ringbuf_size, Entries, Keys, Map, MapError, MapInfo};
pub use map_ops::{BatchCursor, BatchPage, Entry};
pub use program::{
    program_info_by_id, AttachBtf, BtfInfoOutcome, BtfModule, Program, ProgramError, ProgramInfo,
    TestRun, TestRunResult, VerifierError, VerifierLog, VerifierStats,
};
pub use struct_ops::has_struct_ops_links;
pub use typed::{
    Array, HashMap, PerCpuArray, PerCpuHashMap, PerfEventArray, Queue, RingBufMap, Stack, TypedMap,
};

/// Why an object could not be loaded. Each variant names the map or program; the cause,
/// where there is one below this layer, is the error's [`source`](std::error::Error::source).
#[derive(Debug)]
pub enum LoadError {
    /// The possible CPUs could not be read (a perf event array is sized by them).
    PossibleCpus(CpuListError),
    /// `BPF_MAP_CREATE` (or filling the map) failed.
    Map {
        /// The map's name in the object.
        map: String,
        /// What the kernel answered.
        error: SysError,
    },
    /// The program could not be relocated.
    Relocate(RelocError),
    /// The kernel refused the program; the verifier's log is inside.
    Program(Box<VerifierError>),
    /// No program of that name in the object.
    NoSuchProgram {
        /// The name asked for.
        name: String,
    },
    /// A global variable could not be found.
    Global(GlobalError),
    /// The map pinned at `path` could not be opened.
    Pinned {
        /// The object's map it was to stand for.
        map: String,
        /// The pin.
        path: PathBuf,
        /// What the kernel answered.
        error: SysError,
    },
    /// The map pinned at `path` is not the map the object declares.
    PinMismatch {
        /// The object's map.
        map: String,
        /// The pin.
        path: PathBuf,
        /// Which attribute differs (`type`, `key_size`, ...).
        field: &'static str,
        /// The object's value.
        expected: u32,
        /// The pinned map's value.
        found: u32,
    },
    /// A map created for `pinning` by name could not be pinned.
    Pin {
        /// The map.
        map: String,
        /// Why.
        error: MapError,
    },
    /// `EPERM` creating a map or loading a program on a kernel that charges
    /// `RLIMIT_MEMLOCK` (before 5.11), whose limit could not be raised.
    Memlock {
        /// `map NAME` or `program NAME`.
        object: String,
        /// The limit, and how to raise it.
        error: crate::features::memlock::MemlockError,
    },
    /// An extern (`.kconfig`, `.ksyms`) could not be resolved on this machine.
    Extern(ExternError),
    /// The kernel's BTF, needed for externs or BTF-typed programs, could not be read.
    KernelBtf(crate::btf::kernel::KernelBtfError),
    /// No kernel BTF to resolve the object's externs or BTF-typed programs against
    /// ([`TargetBtf::Off`]).
    NoKernelBtf,
    /// The kernel modules' BTF objects could not be listed or read (looked at only when
    /// vmlinux's BTF lacks a program's target or a `__ksym`).
    ModuleBtfs(SysError),
    /// A kernel module's BTF could not be parsed (as split BTF on vmlinux's).
    ModuleBtf {
        /// The module.
        module: String,
        /// What is wrong with it.
        error: crate::btf::BtfError,
    },
    /// A struct_ops map the running kernel cannot take as the object declares it.
    StructOps {
        /// The map (the object's variable).
        map: String,
        /// Why.
        reason: String,
    },
    /// A BTF-typed program (fentry, fexit, tp_btf, lsm, iter) whose target is neither in
    /// vmlinux's BTF nor in any loaded module's.
    AttachBtf {
        /// The program.
        program: String,
        /// What was looked for (`tcp_connect`, `btf_trace_sched_switch`, `bpf_lsm_bprm_check_security`).
        name: String,
    },
    /// A global variable could not be read back from its map.
    ReadGlobal {
        /// The variable.
        name: String,
        /// Why its map could not be read.
        error: MapError,
    },
    /// A slot of a map of maps or prog array that the object fills (`.values = {...}`)
    /// could not be set.
    InitSlot {
        /// The map of maps or prog array.
        map: String,
        /// The slot (the key).
        slot: u32,
        /// The map or program the object puts there.
        target: String,
        /// What the kernel answered; `None`: the object has no map or program of that name.
        error: Option<MapError>,
    },
    /// The kernel refused the program for a cause its errno does not say, found by probes
    /// ([`crate::features::refusal`]): `EPERM` to a privileged process, because this kernel
    /// makes no BPF trampoline here, or a security policy said no.
    Refused {
        /// The cause.
        refusal: crate::features::refusal::Refusal,
        /// The refusal as the kernel gave it, with its log.
        error: Box<VerifierError>,
    },
    /// The verifier rejected an instruction that CO-RE had to poison: the kernel lacks a
    /// type or field the program reads.
    CoreUnresolved {
        /// The program.
        program: String,
        /// The poisoned relocation the verifier stopped at.
        fixup: Box<CoreFixup>,
        /// The rejection, with the verifier's log.
        error: Box<VerifierError>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::PossibleCpus(_) => write!(f, "possible CPUs"),
            LoadError::Map { map, .. } => write!(f, "map {map}"),
            LoadError::Relocate(error) => write!(f, "{error}"),
            LoadError::Program(error) => write!(f, "{error}"),
            LoadError::Refused { refusal, error } => write!(
                f,
                "loading program {}: {}: {} ({}), {refusal}",
                error.name,
                error.error.op,
                nix::errno::Errno::from_raw(error.error.errno).desc(),
                error.error.errno_name()
            ),
            LoadError::NoSuchProgram { name } => write!(f, "no program named {name} in the object"),
            LoadError::Global(error) => write!(f, "{error}"),
            LoadError::ReadGlobal { name, .. } => write!(f, "reading global variable {name}"),
            LoadError::Pinned { map, path, .. } => {
                write!(f, "map {map}: the map pinned at {}", path.display())
            }
            LoadError::PinMismatch {
                map,
                path,
                field,
                expected,
                found,
            } => write!(
                f,
                "map {map}: the map pinned at {} has {field} {found}, the object's has {expected}",
                path.display()
            ),
            LoadError::Pin { map, .. } => write!(f, "map {map}: pinning by name"),
            LoadError::Memlock { object, .. } => write!(f, "{object}"),
            LoadError::Extern(error) => write!(f, "{error}"),
            LoadError::KernelBtf(_) => write!(f, "the kernel's BTF"),
            LoadError::NoKernelBtf => {
                write!(
                    f,
                    "the object has externs or BTF-typed programs, which need the kernel's BTF, \
                     but the load's target BTF is TargetBtf::Off"
                )
            }
            LoadError::InitSlot {
                map,
                slot,
                target,
                error,
            } => {
                write!(f, "map {map}: setting slot [{slot}] to {target}")?;
                if error.is_none() {
                    write!(f, ": the object has no map or program of that name")?;
                }
                Ok(())
            }
            LoadError::StructOps { map, reason } => write!(f, "struct_ops map {map}: {reason}"),
            LoadError::AttachBtf { program, name } => write!(
                f,
                "program {program}: {name} is not in vmlinux nor in any loaded module's BTF, \
                 so nothing to attach it to"
            ),
            LoadError::ModuleBtfs(_) => write!(f, "the kernel modules' BTF"),
            LoadError::ModuleBtf { module, .. } => write!(f, "module {module}'s BTF"),
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
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::PossibleCpus(error) => Some(error),
            LoadError::Map { error, .. } => Some(error),
            // Shown whole in Display: their own causes come next.
            LoadError::Relocate(error) => error.source(),
            LoadError::Program(error) => error.source(),
            LoadError::Global(error) => error.source(),
            LoadError::ReadGlobal { error, .. } | LoadError::Pin { error, .. } => Some(error),
            LoadError::InitSlot { error, .. } => error.as_ref().map(|e| e as _),
            LoadError::Pinned { error, .. } => Some(error),
            LoadError::Memlock { error, .. } => Some(error),
            LoadError::Extern(error) => error.source(),
            LoadError::KernelBtf(error) => Some(error),
            LoadError::ModuleBtfs(error) => Some(error),
            LoadError::ModuleBtf { error, .. } => Some(error),
            LoadError::NoSuchProgram { .. }
            | LoadError::CoreUnresolved { .. }
            | LoadError::Refused { .. }
            | LoadError::PinMismatch { .. }
            | LoadError::NoKernelBtf
            | LoadError::StructOps { .. }
            | LoadError::AttachBtf { .. } => None,
        }
    }
}

impl LoadError {
    /// The verifier's log, when the kernel refused a program.
    pub fn verifier_log(&self) -> Option<&VerifierLog> {
        match self {
            LoadError::Program(error)
            | LoadError::CoreUnresolved { error, .. }
            | LoadError::Refused { error, .. } => Some(&error.log),
            _ => None,
        }
    }
}

/// Sets slot `slot` of the map of maps or prog array `map` to the object's map or program
/// `target` (`fd`; `None`: the object has none of that name).
fn fill_slot(map: &Map, slot: u32, target: &str, fd: Option<i32>) -> Result<(), LoadError> {
    let error = |error| LoadError::InitSlot {
        map: map.spec().name.clone(),
        slot,
        target: target.to_string(),
        error,
    };
    let fd = fd.ok_or_else(|| error(None))?;
    map.update(&slot.to_ne_bytes(), &(fd as u32).to_ne_bytes(), BPF_ANY)
        .map_err(|e| error(Some(e)))
}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// The programs to load, by name; empty: all of them. Maps are always all created.
    pub programs: Vec<String>,
    /// The BTF CO-RE relocations are resolved against: by default the running kernel's.
    /// Only CO-RE's target, as libbpf's `btf_custom_path`: attach targets and `__ksym`s
    /// are looked up in [`LoadOptions::kernel_btf`].
    pub target_btf: TargetBtf<'a>,
    /// The running kernel's BTF (libbpf's `btf_vmlinux`), where BTF-typed programs'
    /// targets (`tp_btf`, `fentry`, `lsm`, `iter`, ...) and `__ksym` variables and kfuncs
    /// are looked up, whatever CO-RE's target is: the kernel checks them against its own
    /// BTF. `None`: read from `/sys/kernel/btf/vmlinux` when the object needs it. A caller
    /// that already holds it (as its CO-RE target too) passes it to spare a second read.
    pub kernel_btf: Option<&'a Btf>,
    /// Ask the verifier for its statistics (`BPF_LOG_STATS`) on every load.
    pub verifier_stats: bool,
    /// Maps to take from a bpf filesystem instead of creating them: (the object's map
    /// name, the pin's path). Each is checked against the object's definition.
    pub pinned_maps: Vec<(String, PathBuf)>,
    /// Where maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)` are pinned, as
    /// `DIR/NAME`: reused when a map is pinned there, else created and pinned. `None`:
    /// `/sys/fs/bpf`, libbpf's default.
    pub pin_root: Option<PathBuf>,
    /// Load and attach as on a kernel without BPF cookies (before 5.15), even where the
    /// kernel has them: the `.kconfig` extern `LINUX_HAS_BPF_COOKIE` is false, and
    /// [`crate::attach::usdt::attach`] gives the programs their probes' specs by address
    /// (`__bpf_usdt_ip_to_spec_id`) instead of by cookie. For testing that path on any
    /// kernel; `false` (the default) follows the kernel.
    pub without_bpf_cookie: bool,
}

/// CO-RE's target: the BTF whose field offsets the object's CO-RE relocations are fitted
/// to. One decision, made here: there is no second, silent source of kernel BTF. (Attach
/// targets and `__ksym`s are always the running kernel's: [`LoadOptions::kernel_btf`].)
#[derive(Debug, Clone, Copy, Default)]
pub enum TargetBtf<'a> {
    /// The running kernel's, `/sys/kernel/btf/vmlinux`, read at load when the object
    /// needs it (CO-RE relocations, externs, BTF-typed programs); a kernel that publishes
    /// none is then [`LoadError::KernelBtf`].
    #[default]
    RunningKernel,
    /// This BTF: a file for a kernel that publishes none (the tool's `--btf FILE`:
    /// BTFHub's archive, `pahole --btf_encode_detached`), or another kernel's.
    Btf(&'a Btf),
    /// None: CO-RE is off, and the offsets stay as compiled; no kernel BTF is read. An
    /// object with externs or BTF-typed programs then loads only with
    /// [`LoadOptions::kernel_btf`] given ([`LoadError::NoKernelBtf`] otherwise).
    Off,
}

/// libbpf's `LIBBPF_PIN_BY_NAME`: the map is pinned at `PIN_ROOT/NAME`.
const LIBBPF_PIN_BY_NAME: u32 = 1;
/// libbpf's default pin root.
const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

/// What became of the object's BTF.
#[derive(Debug, Clone, Copy)]
pub enum BtfStatus<'a> {
    /// The kernel took it: maps are typed by it and programs carry func/line info. The fd
    /// of the BTF object in the kernel (owned by the [`Object`]).
    Loaded(BorrowedFd<'a>),
    /// The kernel refused it; maps and programs were loaded without BTF.
    Refused(&'a VerifierError),
    /// The object has no BTF.
    Absent,
}

/// An object in the kernel: its BTF, maps and programs. Dropping it closes every fd; the
/// kernel frees what no link or fd holds any more.
#[derive(Debug)]
pub struct Object {
    btf_fd: Option<OwnedFd>,
    btf_error: Option<VerifierError>,
    /// What was rewritten in the object's BTF for this kernel (empty: loaded as compiled).
    btf_rewrites: Vec<crate::btf::sanitize::Rewrite>,
    maps: Vec<Map>,
    programs: Vec<Program>,
    /// The variables of the data sections, so that they can be read back by name.
    globals: Vec<GlobalVariable>,
    /// The next free slot of `__bpf_usdt_specs` (one per USDT probe attached).
    next_usdt_spec: std::cell::Cell<u32>,
    /// Loaded with [`LoadOptions::without_bpf_cookie`].
    without_bpf_cookie: bool,
    /// The `__kconfig` values taken with libbpf's warning.
    kconfig_warnings: Vec<crate::elf::KconfigWarning>,
}

impl Object {
    /// Loads `spec`: BTF, maps, then the programs `opts` names.
    ///
    /// The steps of libbpf's `bpf_object_load`, in its order: the kernel's BTF and the
    /// externs resolved against it, the object's BTF sanitised and loaded, the maps created
    /// (or opened from their pins) and their slots filled, then each program relocated and
    /// loaded, and last the prog arrays' slots filled.
    pub fn load(spec: &ObjectSpec, opts: &LoadOptions<'_>) -> Result<Object, LoadError> {
        check_programs_named(spec, opts)?;
        let wanted = wanted_programs(spec, opts);
        let kernel = kernel_btf_for(spec, opts, &wanted)?;
        let core_target = core_target(opts, kernel.as_deref());
        // The modules' BTF, read only if vmlinux's lacks a target or a `__ksym`; their fds
        // are held until the programs are loaded.
        let mut modules = modules::ModuleBtfs::default();
        let (prepared, kconfig_warnings) =
            resolve_externs(spec, opts, kernel.as_deref().or(core_target), &mut modules)?;
        let spec = prepared.as_ref().unwrap_or(spec);
        let fitted = struct_ops::fit_to_kernel(spec, kernel.as_deref())?;
        let spec = fitted.as_ref().unwrap_or(spec);
        let wanted = wanted_programs(spec, opts);

        // Before anything is created: where the kernel charges BPF memory to
        // RLIMIT_MEMLOCK (before 5.11), the limit is raised (once per process).
        crate::features::memlock::ensure();

        let btf = load_object_btf(spec);
        let btf_fd = btf.fd.as_ref().map(|fd| fd.as_fd());
        let mut maps = create_maps(spec, opts, btf_fd)?;
        share_btf_with_maps(spec, &mut maps);
        fill_map_in_map_slots(&maps)?;
        let targets = find_attach_targets(spec, &wanted, kernel.as_deref(), &mut modules)?;
        let how = program::ProgramLoad {
            license: &spec.license,
            kernel_version: spec.kernel_version.unwrap_or(0),
            btf: btf_fd.filter(|_| btf.func_info),
            verifier_stats: opts.verifier_stats,
            fd_array: modules.fd_array(),
        };
        let programs = load_programs(spec, &wanted, targets, &maps, core_target, &modules, &how)?;
        fill_prog_array_slots(&maps, &programs, opts)?;

        Ok(Object {
            btf_fd: btf.fd,
            btf_error: btf.error,
            btf_rewrites: btf.rewrites,
            maps,
            programs,
            globals: spec.globals().unwrap_or_default(),
            next_usdt_spec: std::cell::Cell::new(0),
            without_bpf_cookie: opts.without_bpf_cookie,
            kconfig_warnings,
        })
    }

    /// The `__kconfig` values taken with a warning, as libbpf warns of them: strings
    /// longer than their `char[N]` extern, cut to N-1 bytes.
    pub fn kconfig_warnings(&self) -> &[crate::elf::KconfigWarning] {
        &self.kconfig_warnings
    }

    /// Whether the kernel took the object's BTF.
    pub fn btf_status(&self) -> BtfStatus<'_> {
        match (&self.btf_fd, &self.btf_error) {
            (Some(fd), _) => BtfStatus::Loaded(fd.as_fd()),
            (None, Some(error)) => BtfStatus::Refused(error),
            (None, None) => BtfStatus::Absent,
        }
    }

    /// What was rewritten in the object's BTF for this kernel, kind by kind (empty: the
    /// kernel took it as compiled).
    pub fn btf_rewrites(&self) -> &[crate::btf::sanitize::Rewrite] {
        &self.btf_rewrites
    }

    /// The maps, in the object's order.
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// The map named `name` (its name in the object, e.g. `events`, or its section,
    /// `.rodata`).
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps
            .iter()
            .find(|m| m.spec().name == name || m.spec().section == name)
    }

    /// The programs loaded, in the object's order.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The program named `name` (its function name in the object).
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// The current value of global variable `name` (`.data` or `.bss`, as the programs
    /// left it), read from the kernel with `BPF_MAP_LOOKUP_ELEM`, as a `T` checked against
    /// the variable's BTF type (as [`ObjectSpec::set_global`] checks it):
    /// `let dropped: u64 = object.global("pending_dropped")?;`.
    pub fn global<T: crate::pod::Pod>(&self, name: &str) -> Result<T, LoadError> {
        let (var, map) = self.global_variable(name)?;
        if let Some(btf) = map.btf() {
            var.check::<T>(btf).map_err(LoadError::Global)?;
        }
        let bytes = self.global_bytes(name)?;
        crate::pod::read(&bytes).ok_or_else(|| {
            LoadError::Global(GlobalError::Size {
                name: name.to_string(),
                expected: bytes.len(),
                got: std::mem::size_of::<T>(),
            })
        })
    }

    /// The variable `name` and its data section's map.
    fn global_variable(&self, name: &str) -> Result<(&GlobalVariable, &Map), LoadError> {
        let not_found = || {
            LoadError::Global(GlobalError::NotFound {
                name: name.to_string(),
            })
        };
        let var = self
            .globals
            .iter()
            .find(|var| var.name == name)
            .ok_or_else(not_found)?;
        let map = self.maps.get(var.map).ok_or_else(not_found)?;
        Ok((var, map))
    }

    /// [`Object::global`] as bytes, for a tool that does not know the variable's type.
    pub fn global_bytes(&self, name: &str) -> Result<Vec<u8>, LoadError> {
        let not_found = || {
            LoadError::Global(GlobalError::NotFound {
                name: name.to_string(),
            })
        };
        let (var, map) = self.global_variable(name)?;
        let value = map
            .lookup(&0u32.to_ne_bytes())
            .map_err(|error| LoadError::ReadGlobal {
                name: name.to_string(),
                error,
            })?
            .ok_or_else(not_found)?;
        value
            .get(var.offset..var.offset + var.size)
            .map(<[u8]>::to_vec)
            .ok_or_else(not_found)
    }
}

impl Object {
    /// Was the object loaded with [`LoadOptions::without_bpf_cookie`]?
    pub fn without_bpf_cookie(&self) -> bool {
        self.without_bpf_cookie
    }

    /// The next free slot of the object's `__bpf_usdt_specs` map, which
    /// [`crate::attach::usdt::attach`] takes one by one (a slot per USDT probe attached).
    pub(crate) fn usdt_spec_slot(&self) -> &std::cell::Cell<u32> {
        &self.next_usdt_spec
    }
}

// The steps of `Object::load`, in the order it calls them (libbpf's `bpf_object_load`).

/// Fails with [`LoadError::NoSuchProgram`] on the first program `opts` names that the
/// object lacks, before anything is read or created (libbpf fails on such a name when
/// it is looked up: `bpf_object__find_program_by_name`).
fn check_programs_named(spec: &ObjectSpec, opts: &LoadOptions<'_>) -> Result<(), LoadError> {
    for name in &opts.programs {
        if spec.program(name).is_none() {
            return Err(LoadError::NoSuchProgram { name: name.clone() });
        }
    }
    Ok(())
}

/// The programs to load: those `opts` names, or all of them (libbpf's `autoload`) but the
/// struct_ops programs no struct_ops map points to (libbpf does not load those either).
fn wanted_programs<'s>(spec: &'s ObjectSpec, opts: &LoadOptions<'_>) -> Vec<&'s ProgramSpec> {
    spec.programs
        .iter()
        .filter(|p| {
            if opts.programs.is_empty() {
                !struct_ops::is_unused(spec, p)
            } else {
                opts.programs.contains(&p.name)
            }
        })
        .collect()
}

/// The running kernel's BTF, when something needs it: BTF-typed programs
/// (`attach_btf_id`) and `.ksyms` (by BTF id), read here when not given. Never CO-RE's
/// target (`opts.target_btf`, a `--btf` file maybe): the kernel checks attach targets
/// and ksyms against its own BTF, as libbpf looks them up in `btf_vmlinux` whatever
/// its `btf_custom_path` (`bpf_object__load_vmlinux_btf`). `.kconfig`-only externs take
/// either.
fn kernel_btf_for<'a>(
    spec: &ObjectSpec,
    opts: &LoadOptions<'a>,
    wanted: &[&ProgramSpec],
) -> Result<Option<Cow<'a, Btf>>, LoadError> {
    let has_core = spec
        .btf_ext
        .as_ref()
        .is_some_and(|ext| ext.core_relos.iter().any(|s| !s.records.is_empty()));
    let has_ksyms = spec
        .externs
        .iter()
        .any(|e| matches!(e.kind, crate::elf::ExternKind::Ksym(_)));
    // What needs the running kernel's own BTF, whatever CO-RE's target is.
    let needs_kernel = has_ksyms
        || struct_ops::has_struct_ops(spec)
        || wanted.iter().any(|p| p.attach_btf_name().is_some());
    let read_kernel = || crate::btf::kernel::load().map_err(LoadError::KernelBtf);
    Ok(match (opts.kernel_btf, opts.target_btf) {
        (Some(btf), _) => Some(Cow::Borrowed(btf)),
        // The running kernel's BTF is CO-RE's target too: read once for both, and for
        // `.kconfig` externs.
        (None, TargetBtf::RunningKernel)
            if needs_kernel || has_core || !spec.externs.is_empty() =>
        {
            Some(Cow::Owned(read_kernel()?))
        }
        (None, TargetBtf::Btf(_)) if needs_kernel => Some(Cow::Owned(read_kernel()?)),
        // No kernel BTF asked for, none given: what needs it cannot load.
        (None, TargetBtf::Off) if needs_kernel || !spec.externs.is_empty() => {
            return Err(LoadError::NoKernelBtf)
        }
        (None, _) => None,
    })
}

/// CO-RE's target: the running kernel's (read by [`kernel_btf_for`]), a given BTF, or
/// none (libbpf's `btf_custom_path`, else `btf_vmlinux`).
fn core_target<'b>(opts: &LoadOptions<'b>, kernel: Option<&'b Btf>) -> Option<&'b Btf> {
    match opts.target_btf {
        TargetBtf::RunningKernel => kernel,
        TargetBtf::Btf(btf) => Some(btf),
        TargetBtf::Off => None,
    }
}

/// Externs: `.kconfig` values from this machine, `.ksyms` from the kernel's BTF
/// (vmlinux's, then the modules'), as libbpf resolves them before relocation
/// (`bpf_object__resolve_externs`). Gives a copy of `spec` with its externs resolved
/// (`None`: it has none) and the `__kconfig` values taken with a warning.
fn resolve_externs(
    spec: &ObjectSpec,
    opts: &LoadOptions<'_>,
    kernel: Option<&Btf>,
    modules: &mut modules::ModuleBtfs,
) -> Result<(Option<ObjectSpec>, Vec<crate::elf::KconfigWarning>), LoadError> {
    if spec.externs.is_empty() {
        return Ok((None, Vec::new()));
    }
    let kernel = kernel.ok_or(LoadError::NoKernelBtf)?;
    let mut input = KconfigInput::from_host();
    input.has_bpf_cookie = !opts.without_bpf_cookie && crate::features::probe_bpf_cookie();
    // libbpf's FEAT_SYSCALL_WRAPPER, probed once (and only for objects that ask).
    input.has_syscall_wrapper = spec
        .externs
        .iter()
        .any(|ext| ext.name == "LINUX_HAS_SYSCALL_WRAPPER")
        && crate::features::syscall_wrapper().is_some();
    let mut copy: ObjectSpec = spec.clone();
    let mut failure = None;
    let mut in_modules = |ext: &crate::elf::ExternSpec| {
        let found = module_ksym(modules, ext);
        Ok(found.unwrap_or_else(|error| {
            failure.get_or_insert(error);
            None
        }))
    };
    let prepared_externs = copy.prepare_externs_with(kernel, &input, Some(&mut in_modules));
    if let Some(error) = failure {
        return Err(error);
    }
    let kconfig_warnings = prepared_externs.map_err(LoadError::Extern)?;
    Ok((Some(copy), kconfig_warnings))
}

/// The object's BTF as loaded into the kernel (or refused by it).
struct LoadedBtf {
    fd: Option<OwnedFd>,
    error: Option<VerifierError>,
    /// What was rewritten for this kernel (empty: loaded as compiled).
    rewrites: Vec<crate::btf::sanitize::Rewrite>,
    /// Whether the kernel takes func_info and line_info: not without FUNC in BTF
    /// (before 5.0).
    func_info: bool,
}

/// The object's BTF, DATASECs already fixed up by the parser, sanitised then loaded
/// (libbpf's `bpf_object__sanitize_and_load_btf`): the kinds this kernel does not know
/// (probed) are rewritten first, every type keeping its id (`btf::sanitize`). A kernel
/// that refuses it still loads the programs, without BTF for maps and func/line info.
fn load_object_btf(spec: &ObjectSpec) -> LoadedBtf {
    let btf_features = spec.btf.as_ref().map(|_| crate::features::btf::probe());
    let mut rewrites = Vec::new();
    let (fd, error) = match (&spec.btf, &btf_features) {
        (Some(btf), Some(features)) => {
            let sanitized = crate::btf::sanitize::sanitize(btf, features);
            rewrites = sanitized.rewrites;
            match syscall::load_btf(&sanitized.bytes, &ProgLoadOptions::default()) {
                Ok((fd, _log)) => (Some(fd), None),
                Err(error) => (None, Some(error)),
            }
        }
        _ => (None, None),
    };
    LoadedBtf {
        fd,
        error,
        rewrites,
        func_info: btf_features.is_some_and(|f| f.func),
    }
}

/// The maps, in the object's order: taken from a pin where the caller or the object says
/// so, else created (and pinned, for `LIBBPF_PIN_BY_NAME`), as libbpf's
/// `bpf_object__create_maps` with `bpf_object__reuse_map`.
fn create_maps(
    spec: &ObjectSpec,
    opts: &LoadOptions<'_>,
    btf: Option<BorrowedFd<'_>>,
) -> Result<Vec<Map>, LoadError> {
    let mut maps = Vec::with_capacity(spec.maps.len());
    let pin_root = opts
        .pin_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PIN_ROOT));
    for map_spec in &spec.maps {
        let given = opts
            .pinned_maps
            .iter()
            .find(|(name, _)| *name == map_spec.name)
            .map(|(_, path)| path.clone());
        let by_name =
            (map_spec.pinning == LIBBPF_PIN_BY_NAME).then(|| pin_root.join(&map_spec.name));
        let map = match (given, by_name) {
            (Some(path), _) => Map::open_pinned(&path, map_spec)?,
            (None, Some(path)) if path.exists() => Map::open_pinned(&path, map_spec)?,
            (None, Some(path)) => {
                let map = Map::create_with_btf(map_spec, btf)?;
                map.pin(&path).map_err(|error| LoadError::Pin {
                    map: map_spec.name.clone(),
                    error,
                })?;
                map
            }
            (None, None) => Map::create_with_btf(map_spec, btf)?,
        };
        maps.push(map);
    }
    Ok(maps)
}

/// Gives every map the object's BTF, so that typed views check keys and values against
/// it (no system call; libbpf keeps `btf_key_type_id`/`btf_value_type_id` per map).
fn share_btf_with_maps(spec: &ObjectSpec, maps: &mut [Map]) {
    if let Some(btf) = &spec.btf {
        let btf = std::sync::Arc::new(btf.clone());
        maps.iter_mut().for_each(|map| map.set_btf(btf.clone()));
    }
}

/// The slots of maps of maps that the object fills (`.values = { [1] = &inner }`), as
/// libbpf's `init_map_in_map_slots`.
fn fill_map_in_map_slots(maps: &[Map]) -> Result<(), LoadError> {
    for map in maps {
        if matches!(
            map.spec().map_type,
            MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS
        ) {
            for (slot, target) in &map.spec().init_slots {
                let fd = maps
                    .iter()
                    .find(|m| m.spec().name == *target)
                    .map(|m| m.as_fd().as_raw_fd());
                fill_slot(map, *slot, target, fd)?;
            }
        }
    }
    Ok(())
}

/// BTF-typed programs' targets: in vmlinux's BTF, else in a module's (whose BTF fd then
/// goes with the program), as libbpf's `libbpf_find_attach_btf_id`. One per wanted
/// program, `None` for the others.
fn find_attach_targets(
    spec: &ObjectSpec,
    wanted: &[&ProgramSpec],
    kernel: Option<&Btf>,
    modules: &mut modules::ModuleBtfs,
) -> Result<Vec<Option<AttachBtf>>, LoadError> {
    let mut targets = Vec::new();
    for program in wanted {
        // A struct_ops program's target is the kernel's ops struct its map implements.
        if let Some(target) = struct_ops::attach_btf(spec, program) {
            targets.push(Some(target));
            continue;
        }
        let target = match program.attach_btf_name() {
            Some((name, kind)) => {
                let not_found = || LoadError::AttachBtf {
                    program: program.name.clone(),
                    name: name.clone(),
                };
                let kernel = kernel.ok_or_else(not_found)?;
                Some(match kernel.find_by_name_kind(&name, kind) {
                    Ok(type_id) => AttachBtf {
                        name: name.clone(),
                        type_id,
                        module: None,
                    },
                    Err(_) => {
                        let hit = modules.find(&name, kind)?.ok_or_else(not_found)?;
                        AttachBtf {
                            name: name.clone(),
                            type_id: hit.type_id,
                            module: Some(BtfModule {
                                name: hit.module,
                                btf_obj_id: hit.btf_obj_id,
                            }),
                        }
                    }
                })
            }
            None => None,
        };
        targets.push(target);
    }
    Ok(targets)
}

/// Each wanted program relocated (against the maps' fds and CO-RE's target) then loaded,
/// one after the other, as libbpf's `bpf_object__relocate` and `bpf_object__load_progs`
/// (relocation is pure: interleaving it with the loads changes no system call).
fn load_programs(
    spec: &ObjectSpec,
    wanted: &[&ProgramSpec],
    targets: Vec<Option<AttachBtf>>,
    maps: &[Map],
    core_target: Option<&Btf>,
    modules: &modules::ModuleBtfs,
    how: &program::ProgramLoad<'_>,
) -> Result<Vec<Program>, LoadError> {
    let map_fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let mut programs = Vec::new();
    for (program, attach_btf) in wanted.iter().zip(targets) {
        let relocated = spec
            .relocate(&program.name, &map_fds, core_target)
            .map_err(LoadError::Relocate)?;
        let attach_btf_obj_fd = attach_btf
            .as_ref()
            .and_then(|t| t.module.as_ref())
            .and_then(|m| modules.fd(m.btf_obj_id));
        let target = program::LoadTarget {
            expected_attach_type: program.expected_attach_type,
            prog_flags: program.prog_flags,
            attach_btf,
            attach_btf_obj_fd,
        };
        programs.push(Program::load(
            &program.section,
            program.prog_type,
            program.attach.clone(),
            target,
            relocated,
            how,
        )?);
    }
    Ok(programs)
}

/// The slots of prog arrays that the object fills, now that their programs exist
/// (libbpf's order: `bpf_object_init_prog_arrays`, after the programs). A slot whose
/// program was not chosen to load stays empty.
fn fill_prog_array_slots(
    maps: &[Map],
    programs: &[Program],
    opts: &LoadOptions<'_>,
) -> Result<(), LoadError> {
    for map in maps {
        if map.spec().map_type == MapType::PROG_ARRAY {
            for (slot, target) in &map.spec().init_slots {
                if let Some(program) = programs.iter().find(|p| p.name() == target) {
                    fill_slot(map, *slot, target, Some(program.as_fd().as_raw_fd()))?;
                } else if !opts.programs.is_empty() {
                    continue;
                } else {
                    fill_slot(map, *slot, target, None)?;
                }
            }
        }
    }
    Ok(())
}

/// A kfunc or typed `__ksym` vmlinux's BTF lacks, looked up in the modules' BTF: the
/// module BTF's id with its fd (for an `ld_imm64`) and, for a kfunc, its `fd_array` slot
/// (a call's `off`), as libbpf resolves them.
fn module_ksym(
    modules: &mut modules::ModuleBtfs,
    ext: &crate::elf::ExternSpec,
) -> Result<Option<crate::elf::KsymValue>, LoadError> {
    use crate::elf::{ExternKind, KsymKind, KsymValue};
    let (kind, kfunc) = match ext.kind {
        ExternKind::Ksym(KsymKind::Func { .. }) => (crate::btf::Kind::Func, true),
        ExternKind::Ksym(KsymKind::Var { .. }) => (crate::btf::Kind::Var, false),
        _ => return Ok(None),
    };
    let Some(hit) = modules.find(&ext.name, kind)? else {
        return Ok(None);
    };
    let fd_index = if kfunc {
        modules.fd_index(hit.btf_obj_id)?.unwrap_or(0)
    } else {
        0
    };
    let btf_obj_fd = modules.fd(hit.btf_obj_id).map_or(0, |fd| fd.as_raw_fd());
    Ok(Some(KsymValue::Btf {
        btf_id: hit.type_id,
        btf_obj_fd,
        fd_index,
    }))
}

/// A rejected program whose log stops at a poisoned CO-RE instruction
/// (`call unknown#195896080`, i.e. `CORE_POISON_IMM`) is explained by the field that was
/// missing; any other rejection is passed on with its log.
fn explain_rejection(relocated: &RelocatedProgram, error: VerifierError) -> LoadError {
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
