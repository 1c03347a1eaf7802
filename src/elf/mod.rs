//! The object file: an ELF (`EM_BPF`) as clang writes it, read into an [`ObjectSpec`].
//!
//! ABI: the ELF format (`include/uapi/linux/elf.h`, the System V gABI) with the eBPF
//! relocation types of `Documentation/bpf/llvm_reloc.rst`, and libbpf's conventions for
//! section names (`Documentation/bpf/libbpf/program_types.rst`) and `.maps`.
//!
//! What clang puts in an object, and where this module reads it:
//!
//! | section | holds | read into |
//! |---|---|---|
//! | `kprobe/tcp_connect`, ... | programs: one per global `STT_FUNC` symbol | [`ObjectSpec::programs`] |
//! | `.text` | subprograms, called with bpf-to-bpf calls | [`ObjectSpec::subprograms`] |
//! | `.rel<section>` | where code needs a map, a global or a callee | [`ProgramSpec::relocations`] |
//! | `.maps` | BTF-defined maps (described in `.BTF`) | [`ObjectSpec::maps`] |
//! | `.rodata`, `.data`, `.bss` | global variables: one array map each | [`ObjectSpec::maps`] |
//! | `.rel.maps` | initial slots of map-in-map and prog-array maps | [`MapSpec::init_slots`] |
//! | (none: `SHN_UNDEF` symbols) | `__kconfig` and `__ksym` externs (`externs.rs`) | [`ObjectSpec::externs`] |
//! | `license`, `version` | the license string, the kernel version | [`ObjectSpec::license`] |
//! | `.BTF`, `.BTF.ext` | types; func/line info and CO-RE records | [`ObjectSpec::btf`] |
//!
//! Relocation records (`.rel<section>`, `Elf64_Rel`: offset, symbol, type):
//! - `R_BPF_64_64` (1) on an `ld_imm64`: against a `.maps` symbol, a map reference;
//!   against a global data symbol, an address inside the section at byte
//!   `imm + st_value` (clang 14 names the variable, with `imm` 0; for a `static` variable
//!   it names the section symbol and puts the offset in `imm`).
//!   Against a `.text` function: the address of a callback (`BPF_PSEUDO_FUNC`). Against
//!   an extern: its value or address (see `externs.rs`).
//! - `R_BPF_64_32` (10) on a `call` with `src_reg = BPF_PSEUDO_CALL`: a bpf-to-bpf call
//!   (against an extern: a kfunc call).
//!   The callee's slot in the symbol's section is `st_value / 8 + imm + 1`. clang 14 names
//!   the `.text` section symbol (`st_value` 0) and writes `imm = -1` when the callee is a
//!   `static` function at the start of `.text`; in general it writes the callee's slot
//!   relative to the symbol, minus one, the same rule libbpf uses. A bpf-to-bpf call with
//!   no record is relative to the call itself: target = call slot + `imm` + 1.
//! - The relocations of `.BTF` and `.BTF.ext` (`R_BPF_64_ABS32`, `R_BPF_64_NODYLD32`) are
//!   for linkers; they are ignored, as are relocation sections of other non-code
//!   sections than `.maps`.
//!
//! Policies (what this loader decides where the ELF file leaves a choice):
//! - `e_machine` `EM_NONE` (very old LLVM) is accepted like `EM_BPF`; the byte order
//!   must be the host's.
//! - A program section whose name this loader does not know still parses: its programs
//!   get [`ProgramType::Unspec`](crate::uapi::ProgramType::Unspec) and the load step refuses them (see `program.rs`).
//! - Global data maps are named as libbpf names them (`main.rodata`; see `maps.rs`);
//!   `.rodata` maps get `BPF_F_RDONLY_PROG`. Empty data sections get no map.
//! - Only `.text` functions can be called or taken the address of; static functions in
//!   program sections and legacy `maps` are errors.
//!
//! Every read goes through the `object` crate's checked accessors or `get(..)`; any
//! byte sequence gives an `ObjectSpec` or a [`ParseError`] that says where.

mod error;
pub mod externs;
mod globals;
pub mod gunzip;
pub mod kconfig;
mod maps;
mod program;
pub mod reloc;
mod section;
pub mod struct_ops;
pub mod target;
pub mod usdt;

use std::collections::{BTreeMap, HashMap, HashSet};

use object::elf::{self, FileHeader64, SectionHeader64};
use object::read::elf::Rel as _;
use object::read::elf::{FileHeader, SectionHeader, SectionTable, Sym};
use object::Endianness;

pub use error::{MapProblem, ParseError, RelocProblem};
pub use externs::{
    ExternError, ExternKind, ExternProblem, ExternSpec, KconfigType, KsymKind, KsymValue,
    ModuleLookup,
};
pub use globals::{GlobalError, GlobalVariable};
pub use kconfig::{kernel_version_code, KconfigInput, KconfigWarning};
pub use maps::{
    global_data_map_name, object_name_from_path, MapKind, MapSpec, MAX_GLOBAL_DATA_SIZE,
};
pub use program::{ProgramSpec, Relocation, RelocationKind};
pub use reloc::{AppliedRelocation, CoreError, CoreFixup, RelocError, RelocatedProgram, SiteError};
pub use section::{program_type_from_section, section_def, AttachTarget, SectionDef};

use crate::btf::ext::{BtfExt, CoreRelo, FuncInfo, LineInfo};
use crate::btf::Btf;
use crate::insn::{self, Insn, INSN_SIZE};

/// `R_BPF_64_64`: a 64-bit immediate (`ld_imm64`).
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: a call's 32-bit immediate.
pub const R_BPF_64_32: u32 = 10;

/// An eBPF object file, read and checked; nothing in it has been given to the kernel.
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    /// The object's name, used for global data map names (`main` for `main.bpf.o`).
    pub name: String,
    /// Every ELF section, in table order, with what the loader makes of it.
    pub sections: Vec<SectionInfo>,
    /// The `license` section's string (empty when there is none); the kernel checks it
    /// before allowing GPL-only helpers.
    pub license: String,
    /// The `version` section's value, if any (`LINUX_VERSION_CODE`, for old kernels).
    pub kernel_version: Option<u32>,
    /// `.BTF`, with its `DATASEC` sizes and offsets filled in (ready for `BPF_BTF_LOAD`).
    pub btf: Option<Btf>,
    /// `.BTF.ext` as the file gives it (section-relative byte offsets).
    pub btf_ext: Option<BtfExt>,
    /// `.maps` maps in declaration order, then one map per global data section.
    pub maps: Vec<MapSpec>,
    /// The entry points: each global function of a program section.
    pub programs: Vec<ProgramSpec>,
    /// The functions of `.text`, called by programs with bpf-to-bpf calls.
    pub subprograms: Vec<ProgramSpec>,
    /// The externs (`__kconfig`, `__ksym`), in libbpf's order (see `externs.rs`).
    pub externs: Vec<ExternSpec>,
}

/// One ELF section as the loader sees it (for `inspect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    /// Index in the section header table.
    pub index: usize,
    /// The section's name.
    pub name: String,
    /// What the loader takes it for.
    pub kind: SectionKind,
    /// `sh_size` in bytes.
    pub size: u64,
}

/// What a section is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// Executable code whose functions are programs.
    Program,
    /// `.text`: subprograms.
    Subprograms,
    /// `.maps`.
    Maps,
    /// `maps` (and aya's `maps/NAME`): legacy `struct bpf_map_def` definitions.
    LegacyMaps,
    /// `.rodata`, `.data`, `.bss`, and their `.name.*` variants.
    GlobalData(MapKind),
    /// `license`: the programs' license string (a GPL-compatible one unlocks the GPL-only
    /// helpers).
    License,
    /// `version`: a `LINUX_VERSION_CODE`, which kernels before 5.0 required of kprobe
    /// programs (`kern_version`).
    Version,
    /// `.BTF`: the object's types.
    Btf,
    /// `.BTF.ext`: function, line and CO-RE records for the code.
    BtfExt,
    /// `SHT_REL` for the section named.
    Relocations {
        /// Name of the section the relocations apply to.
        target: String,
    },
    /// `.symtab` (`SHT_SYMTAB`).
    SymbolTable,
    /// A string table (`SHT_STRTAB`): section or symbol names.
    StringTable,
    /// The null section, `.llvm_addrsig`, ...: not used by the loader.
    Other,
}

impl SectionKind {
    /// A short description for `inspect`.
    pub fn describe(&self) -> String {
        match self {
            SectionKind::Program => "program code".to_string(),
            SectionKind::Subprograms => "subprogram code (bpf-to-bpf calls)".to_string(),
            SectionKind::Maps => "map definitions (BTF-described)".to_string(),
            SectionKind::LegacyMaps => "legacy map definitions (struct bpf_map_def)".to_string(),
            SectionKind::GlobalData(kind) => format!("global data ({} map)", kind.name()),
            SectionKind::License => "license string".to_string(),
            SectionKind::Version => "kernel version".to_string(),
            SectionKind::Btf => "BTF: type information".to_string(),
            SectionKind::BtfExt => "BTF.ext: func/line info, CO-RE relocations".to_string(),
            SectionKind::Relocations { target } => format!("relocations of {target}"),
            SectionKind::SymbolTable => "symbol table".to_string(),
            SectionKind::StringTable => "string table".to_string(),
            SectionKind::Other => "not used by the loader".to_string(),
        }
    }
}

/// A symbol of `.symtab`, decoded.
#[derive(Debug, Clone)]
struct Symbol {
    /// The name; a section symbol is named after its section.
    name: String,
    /// `None` for undefined, absolute and common symbols.
    section: Option<usize>,
    value: u64,
    size: u64,
    st_type: u8,
    st_bind: u8,
    /// `st_shndx == SHN_UNDEF` (an extern, when global and untyped).
    undefined: bool,
    /// `STV_*` from `st_other`: `__hidden` functions are `STV_HIDDEN`.
    visibility: u8,
}

/// Which function a slot range of a code section belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FunctionRef {
    Program(usize),
    Subprogram(usize),
}

/// A code section: its name, its slots, and its functions sorted by start.
struct CodeSection {
    name: String,
    insns: Vec<Insn>,
    /// `(start slot, end slot, function)`, sorted, non-overlapping.
    functions: Vec<(usize, usize, FunctionRef)>,
}

impl CodeSection {
    /// The function holding slot `slot`, and the slot's index inside it.
    fn function_at(&self, slot: usize) -> Option<(FunctionRef, usize)> {
        let after = self
            .functions
            .partition_point(|&(start, _, _)| start <= slot);
        let &(start, end, function) = self.functions.get(after.checked_sub(1)?)?;
        (slot < end).then_some((function, slot - start))
    }
}

type Header = FileHeader64<Endianness>;

fn elf_error(what: impl Into<String>) -> impl FnOnce(object::read::Error) -> ParseError {
    let what = what.into();
    move |error| ParseError::Elf {
        what,
        reason: error.to_string(),
    }
}

impl ObjectSpec {
    /// Reads an object with no name: global data maps are named after their section
    /// alone (`.rodata`). See [`ObjectSpec::parse_named`].
    pub fn parse(bytes: &[u8]) -> Result<ObjectSpec, ParseError> {
        ObjectSpec::parse_named(bytes, "")
    }

    /// Reads an object; `object_name` prefixes global data map names as libbpf does
    /// (`main` gives `main.rodata`; see [`object_name_from_path`]).
    pub fn parse_named(bytes: &[u8], object_name: &str) -> Result<ObjectSpec, ParseError> {
        check_ident(bytes)?;
        let header = Header::parse(bytes).map_err(elf_error("file header"))?;
        let endian = header.endian().map_err(elf_error("file header"))?;
        let machine = header.e_machine(endian);
        if machine != elf::EM_BPF && machine != elf::EM_NONE {
            return Err(ParseError::WrongMachine { machine });
        }
        let e_type = header.e_type(endian);
        if e_type != elf::ET_REL {
            return Err(ParseError::NotRelocatable { e_type });
        }
        let table = header
            .sections(endian, bytes)
            .map_err(elf_error("section headers"))?;
        let reader = Reader {
            bytes,
            endian,
            table,
        };
        reader.read(object_name)
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The index in [`ObjectSpec::maps`] of the map named `name`.
    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.name == name)
    }
}

// Positions in `e_ident` (the ELF specification's names).
const EI_NIDENT: usize = 16;
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;

/// The first 16 bytes (`e_ident`): checked here so that each problem has its own error.
fn check_ident(bytes: &[u8]) -> Result<(), ParseError> {
    let ident = bytes.get(..EI_NIDENT).ok_or(ParseError::NotElf)?;
    if ident.get(..4) != Some(&elf::ELFMAG[..]) {
        return Err(ParseError::NotElf);
    }
    let class = ident.get(EI_CLASS).copied().unwrap_or(0);
    if class != elf::ELFCLASS64 {
        return Err(ParseError::Not64Bit { class });
    }
    let data = ident.get(EI_DATA).copied().unwrap_or(0);
    let host = if cfg!(target_endian = "little") {
        elf::ELFDATA2LSB
    } else {
        elf::ELFDATA2MSB
    };
    if data != host {
        return Err(ParseError::ByteOrder { data });
    }
    Ok(())
}

/// The section named `name`, if the object has one.
fn section_named<'s>(sections: &'s [SectionInfo], name: &str) -> Option<&'s SectionInfo> {
    sections.iter().find(|s| s.name == name)
}

/// libbpf's `mark_btf_static`: a global `.text` function of hidden or internal visibility
/// (`__hidden`, as libbpf's usdt.bpf.h declares bpf_usdt_arg) gets a static BTF FUNC, so
/// that the verifier checks it in its callers' context instead of on its own as a global
/// function.
fn mark_hidden_functions_static(
    btf: &mut Btf,
    sections: &[SectionInfo],
    symbols: &[Symbol],
) -> Result<(), ParseError> {
    let Some(text) = sections.iter().find(|s| s.kind == SectionKind::Subprograms) else {
        return Ok(());
    };
    for symbol in symbols {
        let hidden = matches!(symbol.visibility, elf::STV_HIDDEN | elf::STV_INTERNAL);
        let global = matches!(symbol.st_bind, elf::STB_GLOBAL | elf::STB_WEAK);
        if symbol.st_type == elf::STT_FUNC && symbol.section == Some(text.index) && global && hidden
        {
            btf.make_func_static(&symbol.name)?;
        }
    }
    Ok(())
}

/// The DATASEC sizes and VAR offsets clang leaves as 0, filled from the section table, the
/// symbols and the places given to the externs (libbpf's `btf_fixup_datasec`).
fn fixup_datasecs(
    btf: &mut Btf,
    sections: &[SectionInfo],
    symbols: &[Symbol],
    extern_offsets: &HashMap<(String, String), u32>,
) -> Result<(), ParseError> {
    let mut offsets = HashMap::new();
    for ((datasec, var), &offset) in extern_offsets {
        offsets.insert((datasec.as_str(), var.as_str()), u64::from(offset));
    }
    for symbol in symbols {
        if let Some(section) = symbol.section.and_then(|i| sections.get(i)) {
            offsets
                .entry((section.name.as_str(), symbol.name.as_str()))
                .or_insert(symbol.value);
        }
    }
    btf.fixup_datasecs(
        |datasec| section_named(sections, datasec).and_then(|s| u32::try_from(s.size).ok()),
        |datasec, var| {
            offsets
                .get(&(datasec, var))
                .and_then(|&value| u32::try_from(value).ok())
        },
    )?;
    Ok(())
}

/// The maps of `.maps` (BTF-defined), each checked to have its symbol there; they come
/// first in the object's maps.
fn btf_maps(
    sections: &[SectionInfo],
    symbols: &[Symbol],
    btf: Option<&Btf>,
) -> Result<Vec<MapSpec>, ParseError> {
    if section_named(sections, ".maps").is_none() {
        return Ok(Vec::new());
    }
    let Some(btf) = btf else {
        return Err(ParseError::Map {
            map: ".maps".to_string(),
            problem: MapProblem::NoBtf,
        });
    };
    let maps = maps::btf_maps(btf)?;
    let in_maps: HashSet<&str> = symbols
        .iter()
        .filter(|s| {
            s.section.and_then(|i| sections.get(i)).map(|s| &s.kind) == Some(&SectionKind::Maps)
        })
        .map(|s| s.name.as_str())
        .collect();
    if let Some(map) = maps.iter().find(|m| !in_maps.contains(m.name.as_str())) {
        return Err(ParseError::Map {
            map: map.name.clone(),
            problem: MapProblem::NoSymbol,
        });
    }
    Ok(maps)
}

/// The `.kconfig` map (libbpf's internal map for `__kconfig` externs), after the data
/// maps, when the object has such externs; its index in `maps`.
fn kconfig_map(
    externs: &[ExternSpec],
    kconfig_size: u32,
    object_name: &str,
    btf: Option<&Btf>,
    maps: &mut Vec<MapSpec>,
) -> Result<Option<usize>, ParseError> {
    if !externs
        .iter()
        .any(|e| matches!(e.kind, ExternKind::Kconfig { .. }))
    {
        return Ok(None);
    }
    let mut map = maps::global_data_map(
        object_name,
        ".kconfig",
        MapKind::Kconfig,
        u64::from(kconfig_size),
        None,
        btf,
    )?;
    map.map_flags |= crate::uapi::BPF_F_RDONLY_PROG;
    maps.push(map);
    Ok(Some(maps.len() - 1))
}

/// The parse, step by step, over the checked section table.
struct Reader<'a> {
    bytes: &'a [u8],
    endian: Endianness,
    table: SectionTable<'a, Header, &'a [u8]>,
}

impl<'a> Reader<'a> {
    fn header(&self, index: usize) -> Result<&'a SectionHeader64<Endianness>, ParseError> {
        self.table
            .section(object::SectionIndex(index))
            .map_err(elf_error(format!("section {index}")))
    }

    fn data(&self, index: usize, name: &str) -> Result<&'a [u8], ParseError> {
        self.header(index)?
            .data(self.endian, self.bytes)
            .map_err(elf_error(format!("section {name}")))
    }

    /// The object, read in libbpf's order (`bpf_object_open`: sections, symbols, license and
    /// version, BTF and externs, `.BTF.ext`, maps, programs, relocations): one named step
    /// each, over the section table checked once.
    fn read(self, object_name: &str) -> Result<ObjectSpec, ParseError> {
        let sections = self.sections()?;
        let symbols = self.symbols(&sections)?;
        let license = self.license(&sections)?;
        let kernel_version = self.kernel_version(&sections)?;
        let (btf, externs, kconfig_size) = self.btf_and_externs(&sections, &symbols)?;
        let btf_ext = self.btf_ext(&sections, btf.as_ref())?;
        let mut maps = btf_maps(&sections, &symbols, btf.as_ref())?;
        maps.extend(self.legacy_maps(&sections, &symbols)?);
        let data_maps = self.global_data_maps(&sections, object_name, btf.as_ref(), &mut maps)?;
        let kconfig_map =
            kconfig_map(&externs, kconfig_size, object_name, btf.as_ref(), &mut maps)?;
        self.struct_ops_maps(&sections, btf.as_ref(), &mut maps)?;
        let (programs, subprograms, code) = self.code_sections(&sections, &symbols)?;
        let mut spec = ObjectSpec {
            name: object_name.to_string(),
            sections: sections.clone(),
            license,
            kernel_version,
            // Set now: the `.maps` relocations read the map definitions.
            btf,
            btf_ext: None,
            maps,
            programs,
            subprograms,
            externs,
        };
        let context = Context::new(&sections, &symbols, &code, &data_maps, kconfig_map, &spec);
        self.read_relocations(&context, &mut spec)?;
        if let Some(ext) = &btf_ext {
            split_btf_ext(ext, &code, &mut spec)?;
        }
        spec.btf_ext = btf_ext;
        Ok(spec)
    }

    /// The `license` section's string; empty when there is none.
    fn license(&self, sections: &[SectionInfo]) -> Result<String, ParseError> {
        match section_named(sections, "license") {
            Some(section) => read_license(self.data(section.index, "license")?),
            None => Ok(String::new()),
        }
    }

    /// The `version` section's `u32` (`LINUX_VERSION_CODE`, which kernels before 5.0 wanted
    /// for kprobes), if there is one.
    fn kernel_version(&self, sections: &[SectionInfo]) -> Result<Option<u32>, ParseError> {
        let Some(section) = section_named(sections, "version") else {
            return Ok(None);
        };
        let data = self.data(section.index, "version")?;
        let bytes: [u8; 4] = data
            .try_into()
            .map_err(|_| ParseError::Version { size: section.size })?;
        Ok(Some(u32::from_le_bytes(bytes)))
    }

    /// `.BTF`, with the externs collected and given their places in `.kconfig`/`.ksyms`,
    /// hidden `.text` functions made static, and the DATASEC sizes and variable offsets
    /// clang left as 0 filled in; and the size of the `.kconfig` map.
    fn btf_and_externs(
        &self,
        sections: &[SectionInfo],
        symbols: &[Symbol],
    ) -> Result<(Option<Btf>, Vec<ExternSpec>, u32), ParseError> {
        let mut btf = match section_named(sections, ".BTF") {
            Some(section) => Some(Btf::parse(self.data(section.index, ".BTF")?.to_vec())?),
            None => None,
        };
        let (externs, kconfig_size) =
            externs::collect(symbols, btf.as_ref()).map_err(ParseError::Extern)?;
        let mut extern_offsets = HashMap::new();
        if let (Some(local), false) = (btf.as_ref(), externs.is_empty()) {
            let (fixed, placed) =
                local.with_externs_allocated(&externs::kconfig_offsets(&externs), kconfig_size)?;
            btf = Some(fixed);
            extern_offsets = placed;
        }
        if let Some(btf) = btf.as_mut() {
            mark_hidden_functions_static(btf, sections, symbols)?;
            fixup_datasecs(btf, sections, symbols, &extern_offsets)?;
        }
        Ok((btf, externs, kconfig_size))
    }

    /// `.BTF.ext`, read against `.BTF`'s strings.
    fn btf_ext(
        &self,
        sections: &[SectionInfo],
        btf: Option<&Btf>,
    ) -> Result<Option<BtfExt>, ParseError> {
        match (section_named(sections, ".BTF.ext"), btf) {
            (Some(section), Some(btf)) => Ok(Some(BtfExt::parse(
                self.data(section.index, ".BTF.ext")?,
                btf,
            )?)),
            (Some(_), None) => Err(ParseError::BtfExt {
                section: ".BTF.ext".to_string(),
                reason: "present without .BTF, whose strings it needs".to_string(),
            }),
            (None, _) => Ok(None),
        }
    }

    /// The maps of legacy `maps` sections (`struct bpf_map_def`), one per symbol there
    /// that is not the section's own; they come after the `.maps` maps.
    fn legacy_maps(
        &self,
        sections: &[SectionInfo],
        symbols: &[Symbol],
    ) -> Result<Vec<MapSpec>, ParseError> {
        let mut found = Vec::new();
        for section in sections
            .iter()
            .filter(|s| s.kind == SectionKind::LegacyMaps)
        {
            let in_section: Vec<maps::LegacySymbol> = symbols
                .iter()
                .filter(|s| s.section == Some(section.index) && s.st_type != elf::STT_SECTION)
                .map(|s| maps::LegacySymbol {
                    name: s.name.clone(),
                    offset: s.value,
                    size: s.size,
                })
                .collect();
            let data = self.data(section.index, &section.name)?;
            found.extend(maps::legacy_maps(&section.name, data, &in_section)?);
        }
        Ok(found)
    }

    /// One array map per non-empty global data section, in section order, appended to
    /// `maps`; returns section index -> index in `maps`.
    fn global_data_maps(
        &self,
        sections: &[SectionInfo],
        object_name: &str,
        btf: Option<&Btf>,
        maps: &mut Vec<MapSpec>,
    ) -> Result<HashMap<usize, usize>, ParseError> {
        let mut data_maps = HashMap::new();
        for section in sections {
            let SectionKind::GlobalData(kind) = section.kind else {
                continue;
            };
            if section.size == 0 {
                continue;
            }
            let header = self.header(section.index)?;
            let data = if header.sh_type(self.endian) == elf::SHT_NOBITS {
                None
            } else {
                Some(self.data(section.index, &section.name)?)
            };
            data_maps.insert(section.index, maps.len());
            maps.push(maps::global_data_map(
                object_name,
                &section.name,
                kind,
                section.size,
                data,
                btf,
            )?);
        }
        Ok(data_maps)
    }

    /// The functions of every code section, as programs (entry points of program
    /// sections) and subprograms (`.text`), and each code section's instructions.
    #[allow(clippy::type_complexity)]
    fn code_sections(
        &self,
        sections: &[SectionInfo],
        symbols: &[Symbol],
    ) -> Result<
        (
            Vec<ProgramSpec>,
            Vec<ProgramSpec>,
            BTreeMap<usize, CodeSection>,
        ),
        ParseError,
    > {
        let mut programs = Vec::new();
        let mut subprograms = Vec::new();
        let mut code = BTreeMap::new();
        for section in sections {
            let is_text = match section.kind {
                SectionKind::Program => false,
                SectionKind::Subprograms => true,
                _ => continue,
            };
            let data = self.data(section.index, &section.name)?;
            let insns = insn::decode(data).map_err(|_| ParseError::CodeSize {
                section: section.name.clone(),
                size: data.len() as u64,
            })?;
            let functions = functions_of(
                section,
                &insns,
                symbols,
                is_text,
                &mut programs,
                &mut subprograms,
            )?;
            code.insert(
                section.index,
                CodeSection {
                    name: section.name.clone(),
                    insns,
                    functions,
                },
            );
        }
        Ok((programs, subprograms, code))
    }

    /// Every relocation record of every code section, then the calls inside a section
    /// that have none; each function's relocations in slot order.
    fn read_relocations(
        &self,
        context: &Context<'_>,
        spec: &mut ObjectSpec,
    ) -> Result<(), ParseError> {
        for section in context.sections {
            if let SectionKind::Relocations { .. } = section.kind {
                self.relocations(section, context, spec)?;
            }
        }
        add_unrelocated_calls(context, spec)?;
        for function in spec.programs.iter_mut().chain(spec.subprograms.iter_mut()) {
            crate::sort::by_key(&mut function.relocations, |r| r.insn as u64);
        }
        Ok(())
    }

    /// Names and kinds of all sections.
    fn sections(&self) -> Result<Vec<SectionInfo>, ParseError> {
        let endian = self.endian;
        let mut names = Vec::with_capacity(self.table.len());
        for (index, header) in self.table.enumerate() {
            let name = self
                .table
                .section_name(endian, header)
                .map_err(elf_error(format!("name of section {}", index.0)))?;
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        let mut sections = Vec::with_capacity(names.len());
        for (index, header) in self.table.enumerate() {
            let name = names.get(index.0).cloned().unwrap_or_default();
            let sh_type = header.sh_type(endian);
            let flags = header.sh_flags(endian);
            let kind = if sh_type == elf::SHT_PROGBITS && flags & u64::from(elf::SHF_EXECINSTR) != 0
            {
                if name == ".text" {
                    SectionKind::Subprograms
                } else {
                    SectionKind::Program
                }
            } else if sh_type == elf::SHT_REL || sh_type == elf::SHT_RELA {
                let target = header.sh_info(endian) as usize;
                let target_name = names.get(target).cloned().unwrap_or_default();
                SectionKind::Relocations {
                    target: target_name,
                }
            } else if sh_type == elf::SHT_SYMTAB {
                SectionKind::SymbolTable
            } else if sh_type == elf::SHT_STRTAB {
                SectionKind::StringTable
            } else {
                match name.as_str() {
                    ".maps" => SectionKind::Maps,
                    "maps" => SectionKind::LegacyMaps,
                    _ if name.starts_with("maps/") => SectionKind::LegacyMaps,
                    "license" => SectionKind::License,
                    "version" => SectionKind::Version,
                    ".BTF" => SectionKind::Btf,
                    ".BTF.ext" => SectionKind::BtfExt,
                    _ => match MapKind::of_data_section(&name) {
                        Some(kind) if matches!(sh_type, elf::SHT_PROGBITS | elf::SHT_NOBITS) => {
                            SectionKind::GlobalData(kind)
                        }
                        _ => SectionKind::Other,
                    },
                }
            };
            sections.push(SectionInfo {
                index: index.0,
                name,
                kind,
                size: header.sh_size(endian),
            });
        }
        Ok(sections)
    }

    /// Every symbol of `.symtab`, index for index (entry 0 is the null symbol).
    fn symbols(&self, sections: &[SectionInfo]) -> Result<Vec<Symbol>, ParseError> {
        let endian = self.endian;
        if !sections.iter().any(|s| s.kind == SectionKind::SymbolTable) {
            return Err(ParseError::NoSymbolTable);
        }
        let table = self
            .table
            .symbols(endian, self.bytes, elf::SHT_SYMTAB)
            .map_err(elf_error("symbol table"))?;
        let mut symbols = Vec::with_capacity(table.len());
        for (index, sym) in table.enumerate() {
            let section = table
                .symbol_section(endian, sym, index)
                .map_err(elf_error(format!("symbol {}", index.0)))?
                .map(|s| s.0);
            let st_type = sym.st_type();
            let name = if st_type == elf::STT_SECTION {
                section
                    .and_then(|i| sections.get(i))
                    .map(|s| s.name.clone())
                    .unwrap_or_default()
            } else {
                let name = table
                    .symbol_name(endian, sym)
                    .map_err(elf_error(format!("name of symbol {}", index.0)))?;
                String::from_utf8_lossy(name).into_owned()
            };
            if let Some(section) = section.filter(|&i| i >= sections.len()) {
                return Err(ParseError::SymbolSection {
                    symbol: index.0,
                    name,
                    section,
                });
            }
            symbols.push(Symbol {
                name,
                section,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                st_type,
                st_bind: sym.st_bind(),
                undefined: sym.st_shndx(endian) == elf::SHN_UNDEF,
                visibility: sym.st_visibility(),
            });
        }
        Ok(symbols)
    }

    /// The records of one `SHT_REL` section, if it relocates code.
    fn relocations(
        &self,
        section: &SectionInfo,
        context: &Context<'_>,
        spec: &mut ObjectSpec,
    ) -> Result<(), ParseError> {
        let endian = self.endian;
        let header = self.header(section.index)?;
        let target = header.sh_info(endian) as usize;
        let Some(code) = context.code.get(&target) else {
            if context.sections.get(target).map(|s| &s.kind) == Some(&SectionKind::Maps) {
                return self.map_relocations(section, target, context, spec);
            }
            if let Some(target) = context
                .sections
                .get(target)
                .filter(|s| struct_ops::is_struct_ops_section(&s.name))
            {
                return self.struct_ops_relocations(section, &target.name, context, spec);
            }
            // Relocations of .BTF, .BTF.ext and other data: for linkers, not loaders.
            return Ok(());
        };
        let what = format!("relocation section {}", section.name);
        if header.sh_type(endian) == elf::SHT_RELA {
            return Err(ParseError::Elf {
                what,
                reason: "SHT_RELA relocations are not used for eBPF code".to_string(),
            });
        }
        let Some((records, link)) = header
            .rel(endian, self.bytes)
            .map_err(elf_error(what.clone()))?
        else {
            return Ok(());
        };
        let symtab_index = context
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::SymbolTable)
            .map(|s| s.index);
        if Some(link.0) != symtab_index {
            return Err(ParseError::Elf {
                what,
                reason: "sh_link does not name the symbol table".to_string(),
            });
        }
        for record in records {
            let offset = record.r_offset(endian);
            let sym_index = record.r_sym(endian);
            let r_type = record.r_type(endian);
            let (function, relocation) = classify(context, code, offset, sym_index, r_type)
                .map_err(|(insn, symbol, problem)| ParseError::Relocation {
                    section: code.name.clone(),
                    insn,
                    symbol,
                    problem,
                })?;
            let function = match function {
                FunctionRef::Program(i) => spec.programs.get_mut(i),
                FunctionRef::Subprogram(i) => spec.subprograms.get_mut(i),
            };
            if let Some(function) = function {
                function.relocations.push(relocation);
            }
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// One struct_ops map per variable of `.struct_ops` and `.struct_ops.link`, appended to
    /// `maps` after the others, as libbpf's `init_struct_ops_maps`: key `u32`, one entry,
    /// `BPF_F_LINK` for `.struct_ops.link`; its value is built at load from the kernel's
    /// type (`crate::load::struct_ops`).
    fn struct_ops_maps(
        &self,
        sections: &[SectionInfo],
        btf: Option<&Btf>,
        maps: &mut Vec<MapSpec>,
    ) -> Result<(), ParseError> {
        use crate::btf::{Kind, TypeBody};
        for section in sections
            .iter()
            .filter(|s| struct_ops::is_struct_ops_section(&s.name))
        {
            let fail = |map: &str, reason: String| ParseError::StructOps {
                section: section.name.clone(),
                map: map.to_string(),
                reason,
            };
            let btf = btf.ok_or_else(|| fail("", "the object has no BTF to describe it".into()))?;
            let datasec = btf
                .find_by_name_kind(&section.name, Kind::Datasec)
                .map_err(|e| fail("", format!("no DATASEC in BTF: {e}")))?;
            let TypeBody::Datasec { vars, .. } = btf.type_by_id(datasec)?.body else {
                return Err(fail("", "its BTF type is not a DATASEC".into()));
            };
            let data = self.data(section.index, &section.name)?;
            for var in vars {
                let name = btf.type_name(var.type_id)?.to_string();
                let TypeBody::Var { type_id, .. } = btf.type_by_id(var.type_id)?.body else {
                    return Err(fail(&name, "not a VAR in the DATASEC".into()));
                };
                let ops = struct_ops::StructOpsSpec::read(
                    btf,
                    type_id,
                    u64::from(var.offset),
                    u64::from(var.size),
                    data,
                )
                .map_err(|e| fail(&name, e.to_string()))?;
                let link = section.name == struct_ops::STRUCT_OPS_LINK_SEC;
                maps.push(MapSpec {
                    name,
                    section: section.name.clone(),
                    map_type: crate::uapi::MapType::STRUCT_OPS,
                    key_size: 4,
                    value_size: var.size,
                    max_entries: 1,
                    map_flags: if link { crate::uapi::BPF_F_LINK } else { 0 },
                    struct_ops: Some(ops),
                    ..Default::default()
                });
            }
        }
        Ok(())
    }

    /// `.rel.struct_ops`: which program each function pointer of a struct_ops variable
    /// points to (libbpf's `bpf_object__collect_st_ops_relos`): a record at the member's
    /// offset, against the program's symbol, which must be in a `struct_ops` section.
    fn struct_ops_relocations(
        &self,
        section: &SectionInfo,
        target: &str,
        context: &Context<'_>,
        spec: &mut ObjectSpec,
    ) -> Result<(), ParseError> {
        let endian = self.endian;
        let what = format!("relocation section {}", section.name);
        let header = self.header(section.index)?;
        let Some((records, _)) = header
            .rel(endian, self.bytes)
            .map_err(elf_error(what.clone()))?
        else {
            return Ok(());
        };
        for record in records {
            let offset = record.r_offset(endian);
            let symbol = context
                .symbols
                .get(record.r_sym(endian) as usize)
                .ok_or_else(|| ParseError::StructOps {
                    section: target.to_string(),
                    map: String::new(),
                    reason: format!(
                        "a relocation names symbol {}, not in the symbol table",
                        record.r_sym(endian)
                    ),
                })?;
            let fail = |map: &str, error: struct_ops::StructOpsError| ParseError::StructOps {
                section: target.to_string(),
                map: map.to_string(),
                reason: error.to_string(),
            };
            let is_program = symbol
                .section
                .and_then(|index| context.sections.get(index))
                .is_some_and(|s| {
                    s.kind == SectionKind::Program
                        && program_type_from_section(&s.name).is_ok_and(|(prog_type, _)| {
                            prog_type == crate::uapi::ProgramType::StructOps
                        })
                });
            let map = spec
                .maps
                .iter_mut()
                .filter(|m| m.section == target)
                .find(|m| {
                    m.struct_ops.as_ref().is_some_and(|ops| {
                        offset >= ops.section_offset
                            && offset - ops.section_offset < u64::from(m.value_size)
                    })
                })
                .ok_or_else(|| {
                    fail(
                        "",
                        struct_ops::StructOpsError::NotAFunctionMember { offset },
                    )
                })?;
            let name = map.name.clone();
            if !is_program {
                return Err(fail(
                    &name,
                    struct_ops::StructOpsError::NotAProgram {
                        symbol: symbol.name.clone(),
                    },
                ));
            }
            let ops = map.struct_ops.as_mut().ok_or_else(|| {
                fail(
                    &name,
                    struct_ops::StructOpsError::NotAFunctionMember { offset },
                )
            })?;
            let within = offset - ops.section_offset;
            let member = ops.function_member_at(within).ok_or_else(|| {
                fail(
                    &name,
                    struct_ops::StructOpsError::NotAFunctionMember { offset },
                )
            })?;
            member.program = Some(symbol.name.clone());
        }
        Ok(())
    }

    /// `.rel.maps`: the initial slots of `__array(values, ...)` maps (libbpf's
    /// `bpf_object__collect_map_relos`). Each record points into one map's definition,
    /// inside its last member `values`, at slot `(offset - values offset) / 8`, and names
    /// a `.maps` map (map-in-map) or a program (prog array).
    fn map_relocations(
        &self,
        section: &SectionInfo,
        maps_section: usize,
        context: &Context<'_>,
        spec: &mut ObjectSpec,
    ) -> Result<(), ParseError> {
        let endian = self.endian;
        let header = self.header(section.index)?;
        let what = format!("relocation section {}", section.name);
        let Some((records, _)) = header
            .rel(endian, self.bytes)
            .map_err(elf_error(what.clone()))?
        else {
            return Ok(());
        };
        // The maps' variables in .maps: (offset, size, map name).
        let vars: Vec<(u64, u64, &str)> = context
            .symbols
            .iter()
            .filter(|s| s.section == Some(maps_section) && s.st_type != elf::STT_SECTION)
            .map(|s| (s.value, s.size, s.name.as_str()))
            .collect();
        for record in records {
            let offset = record.r_offset(endian);
            let fail = |map: &str, reason: String| ParseError::Map {
                map: map.to_string(),
                problem: MapProblem::InitSlot { offset, reason },
            };
            let Some(&(start, _, map_name)) = vars.iter().find(|&&(start, size, _)| {
                start <= offset && offset.saturating_add(8) <= start.saturating_add(size)
            }) else {
                return Err(fail(".maps", "inside no map definition".to_string()));
            };
            let Some(map_index) = spec
                .maps
                .iter()
                .position(|m| m.kind == MapKind::Btf && m.name == map_name)
            else {
                return Err(fail(map_name, "not a BTF-defined map".to_string()));
            };
            let values_offset =
                values_member_offset(spec.btf.as_ref(), map_name).ok_or_else(|| {
                    fail(
                        map_name,
                        "the map has no __array(values) member last".to_string(),
                    )
                })?;
            let into = (offset - start)
                .checked_sub(values_offset)
                .filter(|o| o % 8 == 0)
                .and_then(|o| u32::try_from(o / 8).ok())
                .ok_or_else(|| fail(map_name, "not at a slot of the values array".to_string()))?;
            let symbol = context
                .symbols
                .get(record.r_sym(endian) as usize)
                .ok_or_else(|| fail(map_name, "no such symbol".to_string()))?;
            let target = slot_target(spec, map_index, maps_section, symbol)
                .map_err(|reason| fail(map_name, reason))?;
            if let Some(map) = spec.maps.get_mut(map_index) {
                map.init_slots.retain(|(slot, _)| *slot != into);
                map.init_slots.push((into, target));
                map.init_slots.sort();
            }
        }
        Ok(())
    }
}

/// What a slot of map `map_index` set in `.maps` names, checked: for a map of maps, another
/// BTF-defined map of the object; for a prog array, a program of the object (at its
/// symbol's place). `Err` says why not.
fn slot_target(
    spec: &ObjectSpec,
    map_index: usize,
    maps_section: usize,
    symbol: &Symbol,
) -> Result<String, String> {
    let is_map_in_map = spec.maps.get(map_index).is_some_and(|m| m.inner.is_some());
    if is_map_in_map {
        let is_btf_map = spec
            .maps
            .iter()
            .any(|m| m.kind == MapKind::Btf && m.name == symbol.name);
        if symbol.section != Some(maps_section) || !is_btf_map {
            return Err(format!(
                "inner map {} is not a BTF-defined map",
                symbol.name
            ));
        }
    } else {
        let program = spec.programs.iter().find(|p| p.name == symbol.name);
        let valid = program.is_some_and(|p| {
            Some(p.section_index) == symbol.section && (p.start * INSN_SIZE) as u64 == symbol.value
        });
        if !valid {
            return Err(format!("{} is not a program of the object", symbol.name));
        }
    }
    Ok(symbol.name.clone())
}

/// The byte offset of the last member of map `name`'s definition, if it is `values`.
fn values_member_offset(btf: Option<&Btf>, name: &str) -> Option<u64> {
    use crate::btf::{Kind, TypeBody};
    let btf = btf?;
    let datasec = btf.find_by_name_kind(".maps", Kind::Datasec).ok()?;
    let TypeBody::Datasec { vars, .. } = btf.type_by_id(datasec).ok()?.body else {
        return None;
    };
    let var = vars.iter().find(|v| btf.type_name(v.type_id) == Ok(name))?;
    let TypeBody::Var { type_id, .. } = btf.type_by_id(var.type_id).ok()?.body else {
        return None;
    };
    let def = btf.skip_mods_and_typedefs(type_id).ok()?;
    let TypeBody::Struct { members, .. } = btf.type_by_id(def).ok()?.body else {
        return None;
    };
    let last = members.last().filter(|m| m.name == "values")?;
    Some(u64::from(last.bit_offset) / 8)
}

/// What the relocation step needs to look up.
struct Context<'c> {
    sections: &'c [SectionInfo],
    symbols: &'c [Symbol],
    code: &'c BTreeMap<usize, CodeSection>,
    /// Section index -> index in `maps` of its global data map.
    data_maps: &'c HashMap<usize, usize>,
    /// The index of `.text`, if the object has one.
    text: Option<usize>,
    /// Names of the `.maps` maps, which come first in the object's maps.
    btf_maps: Vec<String>,
    /// Names of the legacy `maps` maps, which come next.
    legacy_maps: Vec<String>,
    /// The index in `maps` of the `.kconfig` map, if any.
    kconfig_map: Option<usize>,
    /// Symbol index -> index in `externs`.
    externs: HashMap<usize, usize>,
    /// `kconfig_externs[i]`: extern `i` is a `__kconfig` one.
    kconfig_externs: Vec<bool>,
}

impl<'c> Context<'c> {
    /// What the relocation step reads, gathered once: the code sections, the data maps, the
    /// `.kconfig` map, which symbol is which extern, the names of the `.maps` maps.
    fn new(
        sections: &'c [SectionInfo],
        symbols: &'c [Symbol],
        code: &'c BTreeMap<usize, CodeSection>,
        data_maps: &'c HashMap<usize, usize>,
        kconfig_map: Option<usize>,
        spec: &ObjectSpec,
    ) -> Context<'c> {
        Context {
            sections,
            symbols,
            code,
            data_maps,
            text: sections
                .iter()
                .find(|s| s.kind == SectionKind::Subprograms)
                .map(|s| s.index),
            kconfig_map,
            externs: spec
                .externs
                .iter()
                .enumerate()
                .map(|(i, e)| (e.symbol, i))
                .collect(),
            kconfig_externs: spec
                .externs
                .iter()
                .map(|e| matches!(e.kind, ExternKind::Kconfig { .. }))
                .collect(),
            btf_maps: spec
                .maps
                .iter()
                .filter(|m| m.kind == MapKind::Btf)
                .map(|m| m.name.clone())
                .collect(),
            legacy_maps: spec
                .maps
                .iter()
                .filter(|m| m.kind == MapKind::Legacy)
                .map(|m| m.name.clone())
                .collect(),
        }
    }
}

/// One relocation record read against its code: which function it patches and how, or
/// `(instruction in section, symbol, problem)`.
fn classify(
    context: &Context<'_>,
    code: &CodeSection,
    offset: u64,
    sym_index: u32,
    r_type: u32,
) -> Result<(FunctionRef, Relocation), (u64, String, RelocProblem)> {
    let slot = offset / INSN_SIZE as u64;
    let symbol = context
        .symbols
        .get(sym_index as usize)
        .filter(|_| sym_index != 0);
    let symbol_name = symbol.map(|s| s.name.clone()).unwrap_or_default();
    let fail = |problem| Err((slot, symbol_name.clone(), problem));
    let size = code.insns.len() as u64 * INSN_SIZE as u64;
    if offset % INSN_SIZE as u64 != 0 {
        return fail(RelocProblem::Misaligned { offset });
    }
    if offset >= size {
        return fail(RelocProblem::PastEnd { offset, size });
    }
    let Some(symbol) = symbol else {
        return fail(RelocProblem::NoSuchSymbol { index: sym_index });
    };
    // In bounds: offset < size.
    let slot = slot as usize;
    let Some((function, insn_index)) = code.function_at(slot) else {
        return fail(RelocProblem::OutsideFunctions);
    };
    let Some(&insn) = code.insns.get(slot) else {
        return fail(RelocProblem::PastEnd { offset, size });
    };
    if let Some(&index) = context.externs.get(&(sym_index as usize)) {
        let kind = extern_use(context, code, function, slot, insn, r_type, index);
        return match kind {
            Ok(kind) => Ok((
                function,
                Relocation {
                    insn: insn_index,
                    symbol: symbol.name.clone(),
                    kind,
                },
            )),
            Err(problem) => fail(problem),
        };
    }
    let Some(target_section) = symbol.section.and_then(|i| context.sections.get(i)) else {
        return fail(RelocProblem::Undefined);
    };
    let kind = match r_type {
        R_BPF_64_64 => ld_imm64_kind(context, code, function, slot, insn, symbol, target_section),
        R_BPF_64_32 => call_kind(context, insn, symbol, target_section),
        other => Err(RelocProblem::UnknownType(other)),
    };
    let kind = match kind {
        Ok(kind) => kind,
        Err(problem) => return fail(problem),
    };
    Ok((
        function,
        Relocation {
            insn: insn_index,
            symbol: symbol.name.clone(),
            kind,
        },
    ))
}

/// What an `R_BPF_64_64` record on the `ld_imm64` at `slot` refers to: a `.maps` map, a
/// place in a global data map, or the address of a `.text` function.
fn ld_imm64_kind(
    context: &Context<'_>,
    code: &CodeSection,
    function: FunctionRef,
    slot: usize,
    insn: Insn,
    symbol: &Symbol,
    target_section: &SectionInfo,
) -> Result<RelocationKind, RelocProblem> {
    if !insn.is_ld_imm64() {
        return Err(RelocProblem::NotLdImm64 { code: insn.code });
    }
    let second_in_function = code
        .function_at(slot + 1)
        .is_some_and(|(f, _)| f == function);
    if !second_in_function {
        return Err(RelocProblem::MissingSecondSlot);
    }
    match &target_section.kind {
        SectionKind::Maps => {
            let map = (symbol.st_type != elf::STT_SECTION)
                .then(|| context.btf_maps.iter().position(|n| *n == symbol.name))
                .flatten();
            map.map(|map| RelocationKind::Map { map })
                .ok_or(RelocProblem::NotAMap)
        }
        SectionKind::LegacyMaps => legacy_map_kind(context, insn, symbol, target_section),
        SectionKind::GlobalData(_) => data_kind(context, insn, symbol, target_section),
        // The address of a subprogram (a callback for bpf_loop, timers,
        // bpf_for_each_map_elem): libbpf's RELO_SUBPROG_ADDR. The target is byte
        // `st_value + imm` of `.text`; clang leaves src_reg 0 and the loader marks the
        // instruction BPF_PSEUDO_FUNC.
        SectionKind::Subprograms
            if insn.src_reg == 0 || insn.src_reg == crate::insn::BPF_PSEUDO_FUNC =>
        {
            let target = i64::from(insn.imm)
                .checked_add_unsigned(symbol.value)
                .filter(|t| t % INSN_SIZE as i64 == 0)
                .map(|t| t / INSN_SIZE as i64)
                .unwrap_or(-1);
            match context.subprogram_at(target) {
                Some(callee) => Ok(RelocationKind::FuncAddr { callee }),
                None => Err(RelocProblem::CallTarget { target }),
            }
        }
        SectionKind::Program | SectionKind::Subprograms => Err(RelocProblem::FunctionPointer),
        _ => Err(RelocProblem::UnsupportedTarget {
            section: target_section.name.clone(),
        }),
    }
}

/// A legacy map: the symbol's own (a global `struct bpf_map_def`), or for a relocation
/// against the section (a `static` one), the map whose definition starts at byte `imm`
/// of it, as libbpf matches `sec_offset`.
fn legacy_map_kind(
    context: &Context<'_>,
    insn: Insn,
    symbol: &Symbol,
    target_section: &SectionInfo,
) -> Result<RelocationKind, RelocProblem> {
    let name = if symbol.st_type == elf::STT_SECTION {
        let offset = u64::try_from(insn.imm).map_err(|_| RelocProblem::NotAMap)?;
        context
            .symbols
            .iter()
            .find(|s| {
                s.section == Some(target_section.index)
                    && s.st_type != elf::STT_SECTION
                    && s.value == offset
            })
            .map(|s| s.name.as_str())
            .ok_or(RelocProblem::NotAMap)?
    } else {
        symbol.name.as_str()
    };
    context
        .legacy_maps
        .iter()
        .position(|n| n == name)
        .map(|i| RelocationKind::Map {
            map: context.btf_maps.len() + i,
        })
        .ok_or(RelocProblem::NotAMap)
}

/// A place in a global data map: byte `imm + st_value` of the section, which must lie
/// inside it.
fn data_kind(
    context: &Context<'_>,
    insn: Insn,
    symbol: &Symbol,
    target_section: &SectionInfo,
) -> Result<RelocationKind, RelocProblem> {
    let Some(&map) = context.data_maps.get(&target_section.index) else {
        // An empty section has no map: nothing can be at any offset in it.
        return Err(RelocProblem::DataOffset {
            offset: i64::from(insn.imm),
            size: 0,
        });
    };
    let offset = i64::from(insn.imm)
        .checked_add_unsigned(symbol.value)
        .unwrap_or(i64::MAX);
    match u32::try_from(offset) {
        Ok(offset) if u64::from(offset) < target_section.size => {
            Ok(RelocationKind::MapValue { map, offset })
        }
        _ => Err(RelocProblem::DataOffset {
            offset,
            size: target_section.size,
        }),
    }
}

/// What an `R_BPF_64_32` record on a call refers to: a `.text` function, at slot
/// `st_value / 8 + imm + 1`.
fn call_kind(
    context: &Context<'_>,
    insn: Insn,
    symbol: &Symbol,
    target_section: &SectionInfo,
) -> Result<RelocationKind, RelocProblem> {
    if !insn.is_pseudo_call() {
        return Err(RelocProblem::NotCall {
            code: insn.code,
            src_reg: insn.src_reg,
        });
    }
    if Some(target_section.index) != context.text {
        return Err(RelocProblem::UnsupportedTarget {
            section: target_section.name.clone(),
        });
    }
    let target = if symbol.value % INSN_SIZE as u64 == 0 {
        i64::try_from(symbol.value / INSN_SIZE as u64)
            .ok()
            .and_then(|base| base.checked_add(i64::from(insn.imm) + 1))
    } else {
        None
    };
    let target = target.unwrap_or(-1);
    match context.subprogram_at(target) {
        Some(callee) => Ok(RelocationKind::Call { callee }),
        None => Err(RelocProblem::CallTarget { target }),
    }
}

/// A relocation against extern `index` (libbpf's `RELO_EXTERN_LD64` and
/// `RELO_EXTERN_CALL`): an `ld_imm64` of any extern, or a call of a `__ksym` function.
fn extern_use(
    context: &Context<'_>,
    code: &CodeSection,
    function: FunctionRef,
    slot: usize,
    insn: Insn,
    r_type: u32,
    index: usize,
) -> Result<RelocationKind, RelocProblem> {
    let is_kconfig = context.kconfig_map.is_some()
        && context.kconfig_externs.get(index).copied().unwrap_or(false);
    match r_type {
        R_BPF_64_64 if insn.is_ld_imm64() => {
            let second_in_function = code
                .function_at(slot + 1)
                .is_some_and(|(f, _)| f == function);
            if !second_in_function {
                return Err(RelocProblem::MissingSecondSlot);
            }
            Ok(RelocationKind::Extern { index })
        }
        R_BPF_64_32 if insn.code == crate::insn::CALL && !is_kconfig => {
            Ok(RelocationKind::Extern { index })
        }
        R_BPF_64_64 | R_BPF_64_32 => Err(RelocProblem::ExternUse { code: insn.code }),
        other => Err(RelocProblem::UnknownType(other)),
    }
}

impl Context<'_> {
    /// The subprogram starting at slot `target` of `.text`.
    fn subprogram_at(&self, target: i64) -> Option<usize> {
        let text = self.code.get(&self.text?)?;
        let target = usize::try_from(target).ok()?;
        match text.function_at(target)? {
            (FunctionRef::Subprogram(i), 0) => Some(i),
            _ => None,
        }
    }
}

/// The `license` section: a NUL-terminated string.
fn read_license(data: &[u8]) -> Result<String, ParseError> {
    let end = data
        .iter()
        .position(|&b| b == 0)
        .ok_or(ParseError::License {
            reason: "not NUL-terminated",
        })?;
    let text = data.get(..end).unwrap_or_default();
    std::str::from_utf8(text)
        .map(str::to_string)
        .map_err(|_| ParseError::License {
            reason: "not UTF-8",
        })
}

/// The functions of one code section, from its `STT_FUNC` symbols: each becomes a
/// program (program sections) or a subprogram (`.text`). Returns their slot ranges.
fn functions_of(
    section: &SectionInfo,
    insns: &[Insn],
    symbols: &[Symbol],
    is_text: bool,
    programs: &mut Vec<ProgramSpec>,
    subprograms: &mut Vec<ProgramSpec>,
) -> Result<Vec<(usize, usize, FunctionRef)>, ParseError> {
    let mut functions: Vec<&Symbol> = symbols
        .iter()
        .filter(|s| s.section == Some(section.index) && s.st_type == elf::STT_FUNC)
        .collect();
    crate::sort::by_key(&mut functions, |s| s.value);
    let def = if is_text || functions.is_empty() {
        SectionDef {
            prog_type: crate::uapi::ProgramType::Unspec,
            expected_attach_type: crate::uapi::AttachType::NONE,
            prog_flags: 0,
            attach: AttachTarget::None,
        }
    } else {
        section_def(&section.name)?
    };
    let section_size = insns.len() as u64 * INSN_SIZE as u64;
    let mut ranges: Vec<(usize, usize, FunctionRef)> = Vec::with_capacity(functions.len());
    let mut previous: Option<&Symbol> = None;
    for symbol in functions {
        let bounds = || ParseError::FunctionBounds {
            section: section.name.clone(),
            symbol: symbol.name.clone(),
            offset: symbol.value,
            size: symbol.size,
            section_size,
        };
        let (start, end) = function_slots(symbol, section_size).ok_or_else(bounds)?;
        if let (Some(previous), Some(&(_, previous_end, _))) = (previous, ranges.last()) {
            if start < previous_end {
                return Err(ParseError::FunctionOverlap {
                    section: section.name.clone(),
                    first: previous.name.clone(),
                    second: symbol.name.clone(),
                });
            }
        }
        if !is_text && symbol.st_bind == elf::STB_LOCAL {
            return Err(ParseError::StaticProgram {
                section: section.name.clone(),
                symbol: symbol.name.clone(),
            });
        }
        let function = ProgramSpec {
            name: symbol.name.clone(),
            section: section.name.clone(),
            section_index: section.index,
            start,
            prog_type: def.prog_type,
            attach: def.attach.clone(),
            expected_attach_type: def.expected_attach_type,
            prog_flags: def.prog_flags,
            insns: insns.get(start..end).ok_or_else(bounds)?.to_vec(),
            relocations: Vec::new(),
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relos: Vec::new(),
        };
        let reference = if is_text {
            subprograms.push(function);
            FunctionRef::Subprogram(subprograms.len() - 1)
        } else {
            programs.push(function);
            FunctionRef::Program(programs.len() - 1)
        };
        ranges.push((start, end, reference));
        previous = Some(symbol);
    }
    Ok(ranges)
}

/// The slots `[start, end)` of function `symbol` in a code section of `section_size`
/// bytes: `None` unless it lies inside, starts and ends at slot boundaries and is not empty.
fn function_slots(symbol: &Symbol, section_size: u64) -> Option<(usize, usize)> {
    let slot = INSN_SIZE as u64;
    let end = symbol
        .value
        .checked_add(symbol.size)
        .filter(|&end| end <= section_size)?;
    if symbol.value % slot != 0 || symbol.size % slot != 0 || symbol.size == 0 {
        return None;
    }
    // Both are at most the section's size, which came from a slice: they fit usize.
    Some(((symbol.value / slot) as usize, (end / slot) as usize))
}

/// bpf-to-bpf calls that have no relocation record: clang leaves a call between two
/// functions of `.text` relative (`imm` = callee - call - 1). They become `Call`
/// relocations like the others, so that linking treats every call the same way.
fn add_unrelocated_calls(context: &Context<'_>, spec: &mut ObjectSpec) -> Result<(), ParseError> {
    for (&section_index, code) in context.code {
        for &(start, end, reference) in &code.functions {
            let function = match reference {
                FunctionRef::Program(i) => spec.programs.get_mut(i),
                FunctionRef::Subprogram(i) => spec.subprograms.get_mut(i),
            };
            let Some(function) = function else { continue };
            let mut new = Vec::new();
            let relocated: HashSet<usize> = function.relocations.iter().map(|r| r.insn).collect();
            let mut index = 0;
            while let Some(&insn) = function.insns.get(index) {
                if insn.is_pseudo_call() && !relocated.contains(&index) {
                    let call = start + index;
                    let target = call as i64 + i64::from(insn.imm) + 1;
                    let callee = (Some(section_index) == context.text)
                        .then(|| context.subprogram_at(target))
                        .flatten()
                        .ok_or(ParseError::CallTarget {
                            section: code.name.clone(),
                            insn: call,
                            target,
                        })?;
                    new.push(Relocation {
                        insn: index,
                        // Named after the callee below.
                        symbol: String::new(),
                        kind: RelocationKind::Call { callee },
                    });
                }
                index += if insn.is_ld_imm64() { 2 } else { 1 };
            }
            debug_assert!(start + function.insns.len() == end);
            function.relocations.extend(new);
        }
    }
    // Name the callees of the calls found above.
    let names: Vec<String> = spec.subprograms.iter().map(|s| s.name.clone()).collect();
    for function in spec.programs.iter_mut().chain(spec.subprograms.iter_mut()) {
        for relocation in &mut function.relocations {
            if let RelocationKind::Call { callee } = relocation.kind {
                if relocation.symbol.is_empty() {
                    relocation.symbol = names.get(callee).cloned().unwrap_or_default();
                }
            }
        }
    }
    Ok(())
}

/// Hands each function its `.BTF.ext` records, with offsets made relative to the
/// function's first slot (still in bytes, as the file has them).
fn split_btf_ext(
    ext: &BtfExt,
    code: &BTreeMap<usize, CodeSection>,
    spec: &mut ObjectSpec,
) -> Result<(), ParseError> {
    for section in code.values() {
        let locate = |what: &str, insn_off: u32| {
            let bad = |reason: String| ParseError::BtfExt {
                section: section.name.clone(),
                reason,
            };
            if insn_off as usize % INSN_SIZE != 0 {
                return Err(bad(format!(
                    "{what} record at byte {insn_off} is not at an instruction boundary"
                )));
            }
            section
                .function_at(insn_off as usize / INSN_SIZE)
                .map(|(function, index)| (function, (index * INSN_SIZE) as u32))
                .ok_or_else(|| {
                    bad(format!(
                        "{what} record at byte {insn_off} is inside no function"
                    ))
                })
        };
        fn target(spec: &mut ObjectSpec, function: FunctionRef) -> Option<&mut ProgramSpec> {
            match function {
                FunctionRef::Program(i) => spec.programs.get_mut(i),
                FunctionRef::Subprogram(i) => spec.subprograms.get_mut(i),
            }
        }
        for record in ext.func_info(&section.name) {
            let (function, insn_off) = locate("func_info", record.insn_off)?;
            if let Some(f) = target(spec, function) {
                f.func_info.push(FuncInfo {
                    insn_off,
                    ..*record
                });
            }
        }
        for record in ext.line_info(&section.name) {
            let (function, insn_off) = locate("line_info", record.insn_off)?;
            if let Some(f) = target(spec, function) {
                f.line_info.push(LineInfo {
                    insn_off,
                    ..*record
                });
            }
        }
        for record in ext.core_relos(&section.name) {
            let (function, insn_off) = locate("CO-RE relocation", record.insn_off)?;
            if let Some(f) = target(spec, function) {
                f.core_relos.push(CoreRelo {
                    insn_off,
                    ..record.clone()
                });
            }
        }
    }
    Ok(())
}
