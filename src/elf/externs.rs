//! Externs: variables and functions a program uses but the object does not define,
//! `extern ... __kconfig` (section `.kconfig`) and `extern ... __ksym` (section `.ksyms`).
//!
//! ABI: the ELF symbol (`SHN_UNDEF`, `STB_GLOBAL` or `STB_WEAK`, `STT_NOTYPE`) and its
//! BTF (`VAR` or `FUNC` of `extern` linkage, listed in DATASEC `.kconfig` or `.ksyms`),
//! as libbpf reads them (`bpf_object__collect_externs` in `tools/lib/bpf/libbpf.c`,
//! `Documentation/bpf/libbpf/libbpf_overview.rst`; `__kconfig`/`__ksym`/`__weak` in
//! `bpf_helpers.h`).
//!
//! - `.kconfig` externs live in one internal array map, `<object>.kconfig` (libbpf's
//!   `LIBBPF_MAP_KCONFIG`): read-only for programs and frozen, like `.rodata`. Their
//!   places in it are libbpf's: sorted by alignment (largest first), then size (smallest
//!   first), then name, each at the next multiple of its alignment. An `ld_imm64` of one
//!   becomes `BPF_PSEUDO_MAP_VALUE` of that map at its offset; the values are written by
//!   [`ObjectSpec::fill_kconfig`](super::ObjectSpec::fill_kconfig) (see `kconfig.rs`).
//! - `.ksyms` externs are kernel symbols: a typed variable (resolved to its BTF id in the
//!   kernel's BTF), a typeless one (`extern const void x __ksym`: an address from
//!   `/proc/kallsyms`) or a kfunc (a FUNC: resolved to its BTF id). They are resolved at
//!   load time ([`ExternSpec::value`]); a `__weak` one left unresolved is 0, which is
//!   what `bpf_ksym_exists()` tests, and a call of it is a kfunc call of BTF id 0, as
//!   libbpf 1.1 writes it (the verifier refuses it only where it can run).
//! - The externs are kept in libbpf's order (kconfig first, then ksyms; see
//!   [`sort_externs`]).

use std::collections::HashMap;
use std::fmt;

use object::elf;

use super::Symbol;
use crate::btf::{Btf, BtfError, Kind, TypeBody, BTF_INT_BOOL, BTF_INT_SIGNED};

/// One extern of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternSpec {
    /// The symbol's name (`LINUX_KERNEL_VERSION`, `bpf_task_from_pid`).
    pub name: String,
    /// Where its value comes from, and for `__kconfig` ones where it lives.
    pub kind: ExternKind,
    /// `__weak`: unresolved is 0 instead of an error.
    pub weak: bool,
    /// Its `VAR` or `FUNC` in the object's BTF.
    pub btf_id: u32,
    /// Its index in the ELF symbol table (what relocation records name).
    pub symbol: usize,
    /// For `.ksyms`: what it was resolved to, set by the load step (or by hand) before
    /// relocation; `None` is unresolved. Unused for `.kconfig` externs.
    pub value: Option<KsymValue>,
}

/// Where an extern's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternKind {
    /// `__kconfig`: a value in the `.kconfig` map at `offset`.
    Kconfig {
        /// Its C type, which says how a config value is written.
        ty: KconfigType,
        /// Its byte offset in the `.kconfig` map's value.
        offset: u32,
        /// Its size in bytes.
        size: u32,
        /// Its alignment in bytes (what the offsets are laid out by).
        align: u32,
    },
    /// `__ksym`: a kernel symbol.
    Ksym(KsymKind),
}

/// The C types a `__kconfig` extern may have (libbpf's `enum kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KconfigType {
    /// `bool`: `y` is 1, `n` is 0 (`m` is an error).
    Bool,
    /// `char` (any 1-byte integer that is no `bool`: `char`, `signed char`, `unsigned
    /// char`, `u8`): the letter itself (`y`, `n`, `m`) or a number, which must fit it as
    /// a signed number when the type is signed.
    Char {
        /// A signed type (`char` and `signed char`, as clang writes them).
        signed: bool,
    },
    /// `enum libbpf_tristate`: `n` 0, `y` 1, `m` 2.
    Tristate,
    /// An integer of the extern's size.
    Int {
        /// A signed type: the value must fit it as a signed number.
        signed: bool,
    },
    /// `char name[N]`: a quoted string, NUL-terminated, truncated to fit.
    CharArray,
}

/// What a `__ksym` extern names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsymKind {
    /// A kfunc: `extern struct task_struct *bpf_task_from_pid(s32) __ksym`; `proto` is
    /// its FUNC_PROTO in the object's BTF.
    Func {
        /// Its FUNC_PROTO in the object's BTF.
        proto: u32,
    },
    /// A typed variable (`extern const struct rq runqueues __ksym`): `type_id` is its
    /// type in the object's BTF, modifiers and typedefs skipped.
    Var {
        /// Its type in the object's BTF.
        type_id: u32,
    },
    /// A typeless variable (`extern const void x __ksym`): its address.
    Typeless,
}

impl ExternKind {
    /// `kconfig` or `ksym`.
    pub fn section(&self) -> &'static str {
        match self {
            ExternKind::Kconfig { .. } => ".kconfig",
            ExternKind::Ksym(_) => ".ksyms",
        }
    }
}

/// What a `.ksyms` extern was resolved to (libbpf's `ext->ksym`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsymValue {
    /// A BTF id in the kernel's BTF (`btf_obj_fd` 0, `fd_index` 0) or in a module's
    /// (`btf_obj_fd` its BTF's fd for an `ld_imm64`, `fd_index` its slot in
    /// `BPF_PROG_LOAD`'s `fd_array` for a kfunc call).
    Btf {
        /// The FUNC or VAR id in that BTF.
        btf_id: u32,
        /// 0 for vmlinux; a module BTF's fd (the second slot of an `ld_imm64`).
        btf_obj_fd: i32,
        /// 0 for vmlinux; the module BTF's slot in `fd_array` (a kfunc call's `off`).
        fd_index: i16,
    },
    /// An address from `/proc/kallsyms` (typeless variables).
    Address(u64),
}

impl fmt::Display for ExternSpec {
    /// `LINUX_KERNEL_VERSION  kconfig int (4 bytes at +0), strong`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strength = if self.weak { "weak" } else { "strong" };
        match self.kind {
            ExternKind::Kconfig {
                ty, offset, size, ..
            } => write!(
                f,
                "{} kconfig {} ({size} bytes at +{offset}), {strength}",
                self.name,
                match ty {
                    KconfigType::Bool => "bool",
                    KconfigType::Char { .. } => "char",
                    KconfigType::Tristate => "tristate",
                    KconfigType::Int { signed: true } => "signed int",
                    KconfigType::Int { signed: false } => "unsigned int",
                    KconfigType::CharArray => "char array",
                }
            ),
            ExternKind::Ksym(kind) => {
                let what = match kind {
                    KsymKind::Func { .. } => "kfunc",
                    KsymKind::Var { .. } => "typed variable",
                    KsymKind::Typeless => "typeless variable",
                };
                write!(f, "{} ksym {what}, {strength}", self.name)?;
                match self.value {
                    Some(KsymValue::Btf {
                        btf_id,
                        btf_obj_fd: 0,
                        fd_index: 0,
                    }) => write!(f, ", kernel BTF id {btf_id}"),
                    Some(KsymValue::Btf {
                        btf_id,
                        btf_obj_fd,
                        fd_index,
                    }) => write!(
                        f,
                        ", module BTF id {btf_id} (BTF fd {btf_obj_fd}, fd_array slot {fd_index})"
                    ),
                    Some(KsymValue::Address(a)) => write!(f, ", address {a:#x}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Why an extern cannot be read or resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternProblem {
    /// The object has externs but no `.BTF` to describe them.
    NoBtf,
    /// No `VAR` or `FUNC` of that name in the object's BTF.
    NoBtfType,
    /// Its BTF `VAR`/`FUNC` does not have `extern` linkage.
    NotExtern,
    /// Its BTF entry is in no DATASEC, or in one other than `.kconfig` and `.ksyms`.
    UnknownSection {
        /// The DATASEC's name (empty: none lists it).
        section: String,
    },
    /// A `.kconfig` extern of a type libbpf does not support (`struct`, `float`, ...).
    KconfigType,
    /// A `.kconfig` FUNC, or a kconfig extern called.
    KconfigFunc,
    /// The BTF could not be read.
    Btf(BtfError),
    /// A strong extern nothing resolved.
    Unresolved,
    /// A strong kfunc or typed `__ksym` the load step looked for in vmlinux's BTF and in
    /// every loaded module's, and found in none.
    NotInKernelBtf,
    /// A `.kconfig` value that does not fit the extern's type (text from the config).
    BadValue {
        /// The value as the input gives it.
        value: String,
        /// Why it does not fit.
        reason: &'static str,
    },
    /// A `LINUX_*` name libbpf does not define, on a strong extern.
    UnknownVirtual,
    /// A `.kconfig` extern named neither `CONFIG_*` nor `LINUX_*`.
    UnknownPrefix,
}

impl fmt::Display for ExternProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternProblem::NoBtf => write!(f, "the object has no .BTF to describe it"),
            ExternProblem::NoBtfType => write!(f, "no BTF VAR or FUNC of that name"),
            ExternProblem::NotExtern => write!(f, "its BTF VAR or FUNC is not extern"),
            ExternProblem::UnknownSection { section } => write!(
                f,
                "in section '{section}', neither .kconfig (__kconfig) nor .ksyms (__ksym)"
            ),
            ExternProblem::KconfigType => write!(
                f,
                "unsupported __kconfig type (bool, char, an integer, enum libbpf_tristate \
                 or a char array)"
            ),
            ExternProblem::KconfigFunc => write!(f, "a __kconfig extern is not a function"),
            ExternProblem::Btf(error) => write!(f, "BTF: {error}"),
            ExternProblem::Unresolved => write!(f, "strong extern not resolved (not __weak)"),
            ExternProblem::NotInKernelBtf => write!(
                f,
                "not in vmlinux nor in any loaded module's BTF (strong extern, not __weak)"
            ),
            ExternProblem::BadValue { value, reason } => write!(f, "value '{value}': {reason}"),
            ExternProblem::UnknownVirtual => {
                write!(f, "unknown LINUX_ extern (libbpf defines LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER)")
            }
            ExternProblem::UnknownPrefix => {
                write!(f, "a __kconfig extern is named CONFIG_* or LINUX_*")
            }
        }
    }
}

impl From<BtfError> for ExternProblem {
    fn from(error: BtfError) -> Self {
        ExternProblem::Btf(error)
    }
}

/// An extern problem with the extern's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternError {
    /// The extern's name (its ELF symbol).
    pub name: String,
    /// What is wrong.
    pub problem: ExternProblem,
}

impl fmt::Display for ExternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "extern {}", self.name)
    }
}

impl std::error::Error for ExternError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.problem)
    }
}

impl std::error::Error for ExternProblem {}

/// libbpf's `sym_is_extern`: undefined, global or weak, no type.
pub(super) fn is_extern(symbol: &Symbol) -> bool {
    symbol.undefined
        && !symbol.name.is_empty()
        && (symbol.st_bind == elf::STB_GLOBAL || symbol.st_bind == elf::STB_WEAK)
        && symbol.st_type == elf::STT_NOTYPE
}

/// Every extern symbol, read against the object's BTF, in libbpf's order, with the
/// `.kconfig` offsets assigned. Returns the externs and the `.kconfig` map's size.
pub(super) fn collect(
    symbols: &[Symbol],
    btf: Option<&Btf>,
) -> Result<(Vec<ExternSpec>, u32), ExternError> {
    let mut externs = Vec::new();
    for (index, symbol) in symbols.iter().enumerate() {
        if !is_extern(symbol) {
            continue;
        }
        let fail = |problem| ExternError {
            name: symbol.name.clone(),
            problem,
        };
        let btf = btf.ok_or_else(|| fail(ExternProblem::NoBtf))?;
        let read = |btf: &Btf| -> Result<ExternSpec, ExternProblem> {
            let btf_id = btf
                .ids_by_name(&symbol.name)
                .into_iter()
                .find(|&id| matches!(btf.kind(id), Ok(Kind::Var | Kind::Func)))
                .ok_or(ExternProblem::NoBtfType)?;
            let entry = btf.type_by_id(btf_id)?;
            let extern_linkage = match entry.body {
                TypeBody::Var { linkage, .. } => linkage == crate::btf::BTF_VAR_GLOBAL_EXTERN,
                TypeBody::Func { linkage, .. } => linkage == crate::btf::BTF_FUNC_EXTERN,
                _ => false,
            };
            if !extern_linkage {
                return Err(ExternProblem::NotExtern);
            }
            let section = datasec_of(btf, btf_id)?;
            let kind = match (section.as_str(), &entry.body) {
                (".kconfig", TypeBody::Var { type_id, .. }) => {
                    let ty = kconfig_type(btf, *type_id)?;
                    let size = btf.resolve_size(*type_id)?;
                    let align = kconfig_align(btf, *type_id)?;
                    ExternKind::Kconfig {
                        ty,
                        offset: 0,
                        size,
                        align,
                    }
                }
                (".kconfig", _) => return Err(ExternProblem::KconfigFunc),
                (".ksyms", TypeBody::Func { proto, .. }) => {
                    ExternKind::Ksym(KsymKind::Func { proto: *proto })
                }
                (".ksyms", TypeBody::Var { type_id, .. }) => {
                    let type_id = btf.skip_mods_and_typedefs(*type_id)?;
                    ExternKind::Ksym(if type_id == 0 {
                        KsymKind::Typeless
                    } else {
                        KsymKind::Var { type_id }
                    })
                }
                _ => return Err(ExternProblem::UnknownSection { section }),
            };
            Ok(ExternSpec {
                name: symbol.name.clone(),
                kind,
                weak: symbol.st_bind == elf::STB_WEAK,
                btf_id,
                symbol: index,
                value: None,
            })
        };
        externs.push(read(btf).map_err(fail)?);
    }
    sort_externs(&mut externs);
    // .kconfig offsets: each at the next multiple of its alignment.
    let mut end = 0u32;
    for ext in &mut externs {
        if let ExternKind::Kconfig {
            offset,
            size,
            align,
            ..
        } = &mut ext.kind
        {
            let overflow = || ExternError {
                name: ext.name.clone(),
                problem: ExternProblem::KconfigType,
            };
            let a = (*align).max(1);
            *offset = end.div_ceil(a).checked_mul(a).ok_or_else(overflow)?;
            end = offset.checked_add(*size).ok_or_else(overflow)?;
        }
    }
    Ok((externs, end))
}

/// libbpf's `cmp_externs`: kconfig before ksyms; kconfig ones by alignment (largest
/// first), then size (smallest first); ties by name.
pub fn sort_externs(externs: &mut [ExternSpec]) {
    externs.sort_by(|a, b| {
        let key = |e: &ExternSpec| match e.kind {
            ExternKind::Kconfig { size, align, .. } => (0, u32::MAX - align, size),
            ExternKind::Ksym(_) => (1, 0, 0),
        };
        key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
    });
}

/// The name of the DATASEC listing type `id`.
fn datasec_of(btf: &Btf, id: u32) -> Result<String, ExternProblem> {
    for sec in 1..btf.len() {
        if btf.kind(sec)? != Kind::Datasec {
            continue;
        }
        let ty = btf.type_by_id(sec)?;
        if let TypeBody::Datasec { vars, .. } = &ty.body {
            if vars.iter().any(|v| v.type_id == id) {
                return Ok(ty.name);
            }
        }
    }
    Err(ExternProblem::UnknownSection {
        section: String::new(),
    })
}

/// libbpf's `find_kcfg_type`: modifiers (`const`, `volatile`) and typedefs are skipped
/// first, at every level. Any 1-byte integer that is no `bool` is a char (clang marks
/// `char` only as signed, `unsigned char` and `u8` not at all: BTF's `CHAR` encoding is
/// not needed), and a char array is an array of at least one of those.
fn kconfig_type(btf: &Btf, type_id: u32) -> Result<KconfigType, ExternProblem> {
    let id = btf.skip_mods_and_typedefs(type_id)?;
    let ty = btf.type_by_id(id)?;
    Ok(match ty.body {
        TypeBody::Int { size, encoding, .. } => {
            if encoding & BTF_INT_BOOL != 0 {
                if size != 1 {
                    return Err(ExternProblem::KconfigType);
                }
                KconfigType::Bool
            } else if size == 1 {
                KconfigType::Char {
                    signed: encoding & BTF_INT_SIGNED != 0,
                }
            } else if matches!(size, 2 | 4 | 8) {
                KconfigType::Int {
                    signed: encoding & BTF_INT_SIGNED != 0,
                }
            } else {
                return Err(ExternProblem::KconfigType);
            }
        }
        TypeBody::Enum { size: 4, .. } if ty.name == "libbpf_tristate" => KconfigType::Tristate,
        TypeBody::Array { elem, nelems, .. } if nelems > 0 => match kconfig_type(btf, elem) {
            Ok(KconfigType::Char { .. }) => KconfigType::CharArray,
            _ => return Err(ExternProblem::KconfigType),
        },
        _ => return Err(ExternProblem::KconfigType),
    })
}

/// libbpf's `btf__align_of` for the types a kconfig extern may have.
fn kconfig_align(btf: &Btf, type_id: u32) -> Result<u32, ExternProblem> {
    let id = btf.skip_mods_and_typedefs(type_id)?;
    Ok(match btf.type_by_id(id)?.body {
        TypeBody::Int { size, .. } | TypeBody::Enum { size, .. } => size.min(8),
        TypeBody::Array { elem, .. } => kconfig_align(btf, elem)?,
        _ => 1,
    })
}

/// The `.kconfig` offsets by name, for the BTF fix-up.
pub(super) fn kconfig_offsets(externs: &[ExternSpec]) -> HashMap<String, u32> {
    externs
        .iter()
        .filter_map(|e| match e.kind {
            ExternKind::Kconfig { offset, .. } => Some((e.name.clone(), offset)),
            ExternKind::Ksym(_) => None,
        })
        .collect()
}

/// The kernel functions and variables of `/proc/kallsyms` text (`ADDRESS TYPE NAME
/// [MODULE]` lines), by name: the addresses typeless `__ksym` externs take. Names that
/// appear with two different addresses (static symbols of the same name) are left out,
/// as libbpf refuses them as ambiguous. Malformed lines are skipped.
pub fn parse_kallsyms(text: &str) -> HashMap<String, u64> {
    let mut symbols: HashMap<String, Option<u64>> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(address), Some(_kind), Some(name)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(address) = u64::from_str_radix(address, 16) else {
            continue;
        };
        symbols
            .entry(name.to_string())
            .and_modify(|seen| {
                if *seen != Some(address) {
                    *seen = None;
                }
            })
            .or_insert(Some(address));
    }
    symbols
        .into_iter()
        .filter_map(|(name, address)| Some((name, address?)))
        .collect()
}

/// The BTF id in `kernel` of what a `__ksym` extern names: a FUNC for a kfunc, a VAR
/// for a typed variable (libbpf's `find_ksym_btf_id`). Typeless externs are found in
/// kallsyms instead: `None`.
pub fn find_ksym_btf_id(kernel: &Btf, ext: &ExternSpec) -> Option<u32> {
    let want = match ext.kind {
        ExternKind::Ksym(KsymKind::Func { .. }) => Kind::Func,
        ExternKind::Ksym(KsymKind::Var { .. }) => Kind::Var,
        _ => return None,
    };
    kernel
        .ids_by_name(&ext.name)
        .into_iter()
        .find(|&id| kernel.kind(id) == Ok(want))
}

/// What the load step answers for a `__ksym` vmlinux's BTF lacks: its value in a module's
/// BTF, or `None` (see [`ObjectSpec::resolve_ksyms_with`](super::ObjectSpec::resolve_ksyms_with)).
pub type ModuleLookup<'a> =
    &'a mut dyn FnMut(&ExternSpec) -> Result<Option<KsymValue>, ExternError>;

impl super::ObjectSpec {
    /// Resolves every `__ksym` extern against the kernel's BTF (kfuncs and typed
    /// variables, as vmlinux BTF ids: `btf_obj_fd` and `fd_index` 0) and `kallsyms`
    /// (typeless variables; see [`parse_kallsyms`]). Module BTF is the load step's (it
    /// needs the modules' BTF fds: see [`resolve_ksyms_with`](Self::resolve_ksyms_with)). A strong
    /// extern not found is an error naming it; a weak one stays unresolved (0). Kconfig
    /// externs are untouched.
    pub fn resolve_ksyms(
        &mut self,
        kernel: &Btf,
        kallsyms: Option<&HashMap<String, u64>>,
    ) -> Result<(), ExternError> {
        self.resolve_ksyms_with(kernel, kallsyms, None)
    }

    /// [`resolve_ksyms`](Self::resolve_ksyms), with `modules` asked for each kfunc or typed
    /// variable that vmlinux's BTF does not have (libbpf's `find_ksym_btf_id` looks in
    /// vmlinux, then in each module's BTF): it answers the module BTF's id with that BTF's
    /// fd and its `fd_array` slot ([`KsymValue::Btf`]), or `None`. Only what vmlinux
    /// lacks is asked, so an object whose externs are all in vmlinux costs nothing more.
    /// With `modules`, a strong extern found nowhere is [`ExternProblem::NotInKernelBtf`].
    pub fn resolve_ksyms_with(
        &mut self,
        kernel: &Btf,
        kallsyms: Option<&HashMap<String, u64>>,
        mut modules: Option<ModuleLookup<'_>>,
    ) -> Result<(), ExternError> {
        for ext in &mut self.externs {
            let ExternKind::Ksym(kind) = ext.kind else {
                continue;
            };
            let value = match kind {
                KsymKind::Typeless => kallsyms
                    .and_then(|k| k.get(&ext.name))
                    .map(|&a| KsymValue::Address(a)),
                _ => match find_ksym_btf_id(kernel, ext) {
                    Some(btf_id) => Some(KsymValue::Btf {
                        btf_id,
                        btf_obj_fd: 0,
                        fd_index: 0,
                    }),
                    None => match modules.as_mut() {
                        Some(modules) => modules(ext)?,
                        None => None,
                    },
                },
            };
            if value.is_none() && !ext.weak {
                let searched_modules = modules.is_some() && kind != KsymKind::Typeless;
                return Err(ExternError {
                    name: ext.name.clone(),
                    problem: if searched_modules {
                        ExternProblem::NotInKernelBtf
                    } else {
                        ExternProblem::Unresolved
                    },
                });
            }
            ext.value = value;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::build::BtfBuilder;

    #[test]
    fn kallsyms_lines() {
        let text = "ffffffff81000000 T _text\nffffffff81001000 t dup\nffffffff81002000 t dup\n\
                    ffffffffc0001000 t mod_fn\t[nf_tables]\nnot a line\nffffffff81003000 D same\n\
                    ffffffff81003000 D same\n";
        let symbols = parse_kallsyms(text);
        assert_eq!(symbols.get("_text"), Some(&0xffff_ffff_8100_0000));
        assert_eq!(symbols.get("mod_fn"), Some(&0xffff_ffff_c000_1000));
        assert_eq!(symbols.get("same"), Some(&0xffff_ffff_8100_3000));
        assert_eq!(symbols.get("dup"), None);
        assert_eq!(symbols.len(), 3);
    }

    #[test]
    fn ksyms_by_kind_in_the_kernel_btf() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, 0); // 1
        let proto = b.add_func_proto(int, &[("pid", int)]); // 2
        let func = b.add_func("bpf_task_from_pid", proto, 1); // 3
        let var = b.add_var("runqueues", int, 1); // 4
        b.add_var("bpf_task_from_pid", int, 1); // 5: same name, other kind
        let kernel = Btf::parse(b.build()).unwrap();
        let ext = |name: &str, kind| ExternSpec {
            name: name.into(),
            kind: ExternKind::Ksym(kind),
            weak: false,
            btf_id: 1,
            symbol: 1,
            value: None,
        };
        let kfunc = ext("bpf_task_from_pid", KsymKind::Func { proto: 9 });
        assert_eq!(find_ksym_btf_id(&kernel, &kfunc), Some(func));
        let typed = ext("runqueues", KsymKind::Var { type_id: 9 });
        assert_eq!(find_ksym_btf_id(&kernel, &typed), Some(var));
        assert_eq!(
            find_ksym_btf_id(&kernel, &ext("runqueues", KsymKind::Func { proto: 9 })),
            None
        );
        assert_eq!(
            find_ksym_btf_id(&kernel, &ext("runqueues", KsymKind::Typeless)),
            None
        );
    }
}
