//! CO-RE ("compile once, run everywhere"): rewriting the constants clang computed from the
//! object's own BTF (field offsets, sizes, type ids, enum values) into the values the
//! target kernel's BTF gives.
//!
//! ABI: the `.BTF.ext` CO-RE records (`struct bpf_core_relo`, `enum bpf_core_relo_kind` in
//! `include/uapi/linux/bpf.h`), described in `Documentation/bpf/llvm_reloc.rst`
//! ("CO-RE Relocations"); the matching rules are those of libbpf's `relo_core.c`, which
//! is the reference for behaviour.
//!
//! For each record:
//! 1. The *local spec*: walk the access string (`0:1:3`) over the object's BTF. The first
//!    index is an array index on the root pointer; the others are member indexes (struct,
//!    union) or element indexes (array). Anonymous members are walked but not named: the
//!    target is searched by the names of the named members only.
//! 2. *Candidates*: target types of the same kind whose essential name (name without a
//!    `___flavor` suffix) is the local one's.
//! 3. Each candidate is *matched*: members found by name (through anonymous struct/union
//!    members), array indexes checked, types checked compatible. Candidates that do not
//!    match are dropped; the ones that match must all reach the field at the same bit
//!    offset and give the same value, else the relocation is ambiguous: an error that
//!    fails the load, as libbpf's `bpf_core_calc_relo_insn` answers `-EINVAL`. The
//!    candidates that matched are the only ones later records on the same type try.
//!    An array indexed past its end matches only where it is *flexible*: zero elements,
//!    and the last member of its struct (libbpf's `is_flex_arr`), locally and in the
//!    target.
//! 4. The instruction is checked to still hold the locally computed value, then patched.
//!    No matching candidate: `*_EXISTS`, and the type-based kinds (`TYPE_ID_TARGET`,
//!    `TYPE_SIZE`, `TYPE_MATCHES`), give 0 (`bpf_core_calc_type_relo`: "type-based relos
//!    return zero when target type is not found"); the other kinds *poison* the
//!    instruction (`call 0xbad2310`, libbpf's `BPF_CORE_POISON`; the verifier and bpftool
//!    print it in decimal, `call unknown#195896080`, and so does this crate's disassembler,
//!    with the hex beside it): the verifier rejects it only if it is reachable, and the
//!    loader maps that message back to the recorded [`CoreFixup`].

use super::ext::{CoreRelo, CoreReloKind};
use super::{
    essential_name, Btf, BtfError, Kind, Type, TypeBody, BTF_INT_SIGNED, MAX_RESOLVE_DEPTH,
};
use crate::insn::{
    Insn, BPF_ALU, BPF_ALU64, BPF_B, BPF_DW, BPF_H, BPF_LDX, BPF_MEM, BPF_MEMSX, BPF_ST, BPF_STX,
    BPF_W, BPF_X, CALL, CORE_POISON_IMM, INSN_SIZE,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// What relocating one record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreFixup {
    /// The record, as `.BTF.ext` gives it.
    pub relo: CoreRelo,
    /// Index of the patched instruction slot in the slice given to [`relocate`].
    pub insn_index: usize,
    /// The local access spelled out: `struct sock.__sk_common.skc_family`,
    /// `struct in6_addr.in6_u.u6_addr32[2]`, `enum e::B`, `struct task_struct`.
    pub local_access: String,
    /// The value computed from the object's BTF (what clang wrote).
    pub local_value: u64,
    /// The value from the target BTF; `None` when the instruction was poisoned.
    pub target_value: Option<u64>,
    /// The matching target type (root of the access); `None` when none matched.
    pub target_type_id: Option<u32>,
    /// The instruction slot(s) before and after (two for `ld_imm64`).
    pub before: Vec<Insn>,
    /// The same slot(s) after the fix-up.
    pub after: Vec<Insn>,
    /// Replaced by `call CORE_POISON_IMM`.
    pub poisoned: bool,
    /// Why no candidate matched (the missing type or field), when none did.
    pub missing: Option<String>,
}

impl fmt::Display for CoreFixup {
    /// One line: the kind, the access, the value clang computed from the object's BTF ->
    /// the value on the target, the instruction before -> after:
    /// `byte_off  struct sock.__sk_common.skc_family  16 -> 16  r1 = *(u16 *)(r6 + 16)  (unchanged)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self.target_value {
            Some(value) => value.to_string(),
            None => "missing".to_string(),
        };
        // The first instruction only: a fix-up patches one (an `ld_imm64` is two slots).
        let first = |insns: &[Insn]| {
            let slots = if insns.first().is_some_and(|i| i.is_ld_imm64()) {
                2
            } else {
                1
            };
            crate::insn::disasm::text(insns.get(..slots.min(insns.len())).unwrap_or_default())
        };
        write!(
            f,
            "{:<12} {:<54} {:>4} -> {:<6} {}",
            self.relo.kind.name(),
            self.local_access,
            self.local_value,
            target,
            first(&self.before)
        )?;
        if self.before == self.after {
            f.write_str("  (unchanged)")?;
        } else {
            write!(f, "  ->  {}", first(&self.after))?;
        }
        if self.poisoned {
            f.write_str("  [poisoned: the verifier will refuse the program if this path can run]")?;
        }
        if let Some(why) = &self.missing {
            write!(f, " ({why})")?;
        }
        Ok(())
    }
}

/// `code/off/imm` of a slot, for one-line error messages.
fn short(i: &Insn) -> String {
    format!("[{:#04x} off {} imm {}]", i.code, i.off, i.imm)
}

/// Why a CO-RE relocation could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// `insn_off` is not a multiple of 8 or lies past the instructions.
    BadInsnOffset {
        /// `bpf_core_relo.insn_off`: bytes from the first instruction given to [`relocate`].
        insn_off: u32,
        /// How many instruction slots there are.
        insns: usize,
    },
    /// The object's BTF is broken where the record points.
    LocalBtf {
        /// `bpf_core_relo.insn_off` of the record.
        insn_off: u32,
        /// What is broken.
        error: BtfError,
    },
    /// The target BTF is broken where a candidate lies.
    TargetBtf {
        /// `bpf_core_relo.insn_off` of the record.
        insn_off: u32,
        /// What is broken.
        error: BtfError,
    },
    /// The access string does not walk the local type.
    BadAccess {
        /// `bpf_core_relo.insn_off` of the record.
        insn_off: u32,
        /// The local type the access starts from.
        type_id: u32,
        /// The access string (`0:1:3`).
        access: String,
        /// Where and why the walk fails.
        reason: String,
    },
    /// The record names an anonymous local type: there is no name to look for.
    AnonymousType {
        /// `bpf_core_relo.insn_off` of the record.
        insn_off: u32,
        /// The anonymous local type.
        type_id: u32,
    },
    /// Several target candidates match with different results.
    Ambiguous {
        /// Index of the instruction slot to patch.
        insn_index: usize,
        /// The local access spelled out, as in [`CoreFixup::local_access`].
        local_access: String,
        /// (candidate type id, value) of the first two that disagree.
        first: (u32, u64),
        /// (candidate type id, value) of the second.
        second: (u32, u64),
        /// For a field: the bit offsets at which the two candidates have it, when they
        /// differ (libbpf's "field offset ambiguity", even where the values agree).
        bit_offsets: Option<(u64, u64)>,
    },
    /// The instruction is not one a relocation of this kind can patch.
    UnexpectedInsn {
        /// Index of the instruction slot.
        insn_index: usize,
        /// The instruction found there.
        insn: Insn,
        /// The relocation's kind.
        kind: CoreReloKind,
    },
    /// The instruction does not hold the locally computed value.
    ValueMismatch {
        /// Index of the instruction slot.
        insn_index: usize,
        /// The value computed from the object's BTF.
        expected: u64,
        /// The value in the instruction (its `imm` or `off`).
        found: i64,
    },
    /// The target value does not fit the instruction's field.
    ValueTooLarge {
        /// Index of the instruction slot.
        insn_index: usize,
        /// The target's value.
        value: u64,
    },
    /// A load/store of a field whose size differs in the target and cannot be adjusted.
    SizeMismatch {
        /// Index of the instruction slot.
        insn_index: usize,
        /// The field's size in the object's BTF, in bytes.
        local_size: u32,
        /// The field's size in the target BTF, in bytes.
        target_size: u32,
    },
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::BadInsnOffset { insn_off, insns } => write!(
                f,
                "CO-RE: instruction offset {insn_off} is not a slot of the {insns} instructions"
            ),
            CoreError::LocalBtf { insn_off, error } => {
                write!(f, "CO-RE record at insn byte {insn_off}: local {error}")
            }
            CoreError::TargetBtf { insn_off, error } => {
                write!(f, "CO-RE record at insn byte {insn_off}: target {error}")
            }
            CoreError::BadAccess {
                insn_off,
                type_id,
                access,
                reason,
            } => write!(
                f,
                "CO-RE record at insn byte {insn_off}: access '{access}' on local type [{type_id}]: {reason}"
            ),
            CoreError::AnonymousType { insn_off, type_id } => write!(
                f,
                "CO-RE record at insn byte {insn_off}: local type [{type_id}] is anonymous"
            ),
            CoreError::Ambiguous {
                insn_index,
                local_access,
                first,
                second,
                bit_offsets: Some((a, b)),
            } => write!(
                f,
                "CO-RE insn #{insn_index} {local_access}: ambiguous: target [{}] has it at bit \
                 {a}, [{}] at bit {b}",
                first.0, second.0
            ),
            CoreError::Ambiguous {
                insn_index,
                local_access,
                first,
                second,
                bit_offsets: None,
            } => write!(
                f,
                "CO-RE insn #{insn_index} {local_access}: ambiguous: target [{}] gives {}, [{}] gives {}",
                first.0, first.1, second.0, second.1
            ),
            CoreError::UnexpectedInsn {
                insn_index,
                insn,
                kind,
            } => write!(
                f,
                "CO-RE insn #{insn_index}: {kind} relocation on an unexpected instruction {}",
                short(insn)
            ),
            CoreError::ValueMismatch {
                insn_index,
                expected,
                found,
            } => write!(
                f,
                "CO-RE insn #{insn_index}: holds {found}, expected the local value {expected}"
            ),
            CoreError::ValueTooLarge { insn_index, value } => write!(
                f,
                "CO-RE insn #{insn_index}: target value {value} does not fit the instruction"
            ),
            CoreError::SizeMismatch {
                insn_index,
                local_size,
                target_size,
            } => write!(
                f,
                "CO-RE insn #{insn_index}: field is {local_size} bytes locally but {target_size} in the target; the access size cannot be adjusted"
            ),
        }
    }
}

impl std::error::Error for CoreError {}

/// Applies `relos` to `insns` (each `insn_off` in bytes relative to `insns[0]`), resolving
/// types of `local` (the object's BTF) against `target` (the kernel's).
pub fn relocate(
    local: &Btf,
    target: &Btf,
    relos: &[CoreRelo],
    insns: &mut [Insn],
) -> Result<Vec<CoreFixup>, CoreError> {
    let mut candidates: HashMap<u32, Vec<u32>> = HashMap::new();
    let cache = TypeCache::new(target);
    let mut fixups = Vec::with_capacity(relos.len());
    for relo in relos {
        let insn_index = insn_index(relo.insn_off, insns.len())?;
        let spec = LocalSpec::parse(local, relo)?;
        let outcome = if relo.kind == CoreReloKind::TypeIdLocal {
            Outcome::Value(Resolved {
                value: relo.type_id as u64,
                type_id: relo.type_id,
                field: None,
                bit_offset: 0,
            })
        } else {
            let cands = match candidates.get(&relo.type_id) {
                Some(c) => c.clone(),
                None => find_candidates(local, target, relo)?,
            };
            let (outcome, matched) = resolve(&spec, local, &cache, relo, &cands, insn_index)?;
            // Later records on the same type try only the candidates that matched, if any
            // did (libbpf prunes its candidate list the same way).
            candidates.insert(
                relo.type_id,
                if matched.is_empty() { cands } else { matched },
            );
            outcome
        };
        fixups.push(apply(
            local, target, relo, insn_index, spec, outcome, insns,
        )?);
    }
    Ok(fixups)
}

fn insn_index(insn_off: u32, len: usize) -> Result<usize, CoreError> {
    let idx = insn_off as usize / INSN_SIZE;
    if insn_off as usize % INSN_SIZE != 0 || idx >= len {
        return Err(CoreError::BadInsnOffset {
            insn_off,
            insns: len,
        });
    }
    Ok(idx)
}

/// How `bpftool`/C would spell a type: `struct sock`, `typedef u32`, `int`.
fn spell_type(ty: &Type) -> String {
    let kw = match ty.kind() {
        Kind::Struct => "struct ",
        Kind::Union => "union ",
        Kind::Enum | Kind::Enum64 => "enum ",
        Kind::Typedef => "typedef ",
        Kind::Fwd => "fwd ",
        _ => "",
    };
    if ty.name.is_empty() {
        format!("{kw}[{}]", ty.id)
    } else {
        format!("{kw}{}", ty.name)
    }
}

/// One step of an access, kept for matching in the target.
#[derive(Debug, Clone)]
enum Step {
    /// A named member of a struct or union, of type `type_id`.
    Member { name: String, type_id: u32 },
    /// An element of an array.
    Element { index: u32 },
}

/// The longest access string walked (libbpf's `BPF_CORE_SPEC_MAX_LEN`): deeper nesting
/// does not occur in real types.
pub const MAX_ACCESS_LEN: usize = 64;

const OVERFLOW: &str = "the field's offset overflows 64 bits";

/// `base + index * size * 8`: the bit offset of element `index` of `size`-byte elements.
fn bits_at(index: u32, size: u64, base: u64) -> Option<u64> {
    (index as u64)
        .checked_mul(size)?
        .checked_mul(8)?
        .checked_add(base)
}

/// A field's place: bit offset from the root, bitfield width (0 if none), type.
#[derive(Debug, Clone, Copy)]
struct FieldPos {
    bit_offset: u64,
    bitfield_size: u8,
    type_id: u32,
}

/// The record walked over the local BTF.
struct LocalSpec {
    /// Spelled-out access.
    spelled: String,
    /// Field relocations: first index (array index on the root) and the named steps.
    root_index: u32,
    steps: Vec<Step>,
    field: Option<FieldPos>,
    /// Enumerator relocations: the enumerator's name.
    enumerator: Option<String>,
    /// The local value.
    value: Resolved,
}

impl LocalSpec {
    fn parse(btf: &Btf, relo: &CoreRelo) -> Result<LocalSpec, CoreError> {
        let lerr = |error| CoreError::LocalBtf {
            insn_off: relo.insn_off,
            error,
        };
        let access_str = relo
            .access
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(":");
        let bad = |reason: String| CoreError::BadAccess {
            insn_off: relo.insn_off,
            type_id: relo.type_id,
            access: access_str.clone(),
            reason,
        };
        let root = btf.type_by_id(relo.type_id).map_err(lerr)?;
        let mut spelled = spell_type(&root);
        let first = *relo.access.first().ok_or_else(|| bad("empty".into()))?;
        if relo.access.len() > MAX_ACCESS_LEN {
            return Err(bad(format!("more than {MAX_ACCESS_LEN} steps")));
        }
        let kind = relo.kind;

        if kind.is_type() {
            if relo.access.len() != 1 || first != 0 {
                return Err(bad("a type relocation's access must be \"0\"".into()));
            }
            let value = local_type_value(btf, relo).map_err(lerr)?;
            return Ok(LocalSpec {
                spelled,
                root_index: 0,
                steps: Vec::new(),
                field: None,
                enumerator: None,
                value: Resolved {
                    value,
                    type_id: relo.type_id,
                    field: None,
                    bit_offset: 0,
                },
            });
        }

        if kind.is_enumval() {
            let e = btf.type_by_id(btf.skip_mods_and_typedefs(relo.type_id).map_err(lerr)?);
            let e = e.map_err(lerr)?;
            let values = match &e.body {
                TypeBody::Enum { values, .. } | TypeBody::Enum64 { values, .. } => values,
                _ => return Err(bad(format!("{} is not an enum", e.describe()))),
            };
            let v = values
                .get(first as usize)
                .filter(|_| relo.access.len() == 1)
                .ok_or_else(|| bad(format!("no enumerator {first}")))?;
            spelled = format!("{spelled}::{}", v.name);
            let value = match kind {
                CoreReloKind::EnumvalExists => 1,
                _ => v.value,
            };
            return Ok(LocalSpec {
                spelled,
                root_index: 0,
                steps: Vec::new(),
                field: None,
                enumerator: Some(v.name.clone()),
                value: Resolved {
                    value,
                    type_id: relo.type_id,
                    field: None,
                    bit_offset: 0,
                },
            });
        }

        // A field: walk the access string.
        let root_id = btf.skip_mods_and_typedefs(relo.type_id).map_err(lerr)?;
        if first != 0 {
            spelled.push_str(&format!("[{first}]"));
        }
        let root_size = if first != 0 {
            btf.resolve_size(root_id).map_err(lerr)? as u64
        } else {
            0
        };
        let mut pos = FieldPos {
            bit_offset: bits_at(first, root_size, 0).ok_or_else(|| bad(OVERFLOW.into()))?,
            bitfield_size: 0,
            type_id: root_id,
        };
        let mut steps = Vec::new();
        // Was the last named step a struct's last member (where a zero-length array is
        // flexible)?
        let mut at_last_member = false;
        for &index in relo.access.get(1..).unwrap_or(&[]) {
            let cur = btf.skip_mods_and_typedefs(pos.type_id).map_err(lerr)?;
            let ty = btf.type_by_id(cur).map_err(lerr)?;
            match &ty.body {
                TypeBody::Struct { members, .. } | TypeBody::Union { members, .. } => {
                    let m = members
                        .get(index as usize)
                        .ok_or_else(|| bad(format!("{} has no member {index}", ty.describe())))?;
                    if !m.name.is_empty() {
                        at_last_member = index as usize + 1 == members.len();
                    }
                    pos.bit_offset = pos
                        .bit_offset
                        .checked_add(m.bit_offset as u64)
                        .ok_or_else(|| bad(OVERFLOW.into()))?;
                    pos.bitfield_size = m.bitfield_size;
                    pos.type_id = m.type_id;
                    if !m.name.is_empty() {
                        spelled.push('.');
                        spelled.push_str(&m.name);
                        steps.push(Step::Member {
                            name: m.name.clone(),
                            type_id: m.type_id,
                        });
                    }
                }
                TypeBody::Array { elem, nelems, .. } => {
                    if !(at_last_member && *nelems == 0) && index >= *nelems {
                        return Err(bad(format!(
                            "index {index} past the {nelems} elements of {} (an array is \
                             flexible only with 0 elements, as its struct's last member)",
                            ty.describe()
                        )));
                    }
                    at_last_member = false;
                    let size = btf.resolve_size(*elem).map_err(lerr)? as u64;
                    pos.bit_offset =
                        bits_at(index, size, pos.bit_offset).ok_or_else(|| bad(OVERFLOW.into()))?;
                    pos.bitfield_size = 0;
                    pos.type_id = *elem;
                    spelled.push_str(&format!("[{index}]"));
                    steps.push(Step::Element { index });
                }
                _ => return Err(bad(format!("cannot index into {}", ty.describe()))),
            }
        }
        let value = field_value(btf, pos, kind).map_err(|e| match e {
            FieldErr::Btf(error) => lerr(error),
            FieldErr::Layout(reason) => bad(reason),
        })?;
        Ok(LocalSpec {
            spelled,
            root_index: first,
            steps,
            field: Some(pos),
            enumerator: None,
            value: Resolved {
                value: value.0,
                type_id: relo.type_id,
                field: Some(value.1),
                bit_offset: pos.bit_offset,
            },
        })
    }
}

fn local_type_value(btf: &Btf, relo: &CoreRelo) -> Result<u64, BtfError> {
    Ok(match relo.kind {
        CoreReloKind::TypeIdLocal | CoreReloKind::TypeIdTarget => relo.type_id as u64,
        CoreReloKind::TypeSize => btf.resolve_size(relo.type_id)? as u64,
        _ => 1, // TYPE_EXISTS, TYPE_MATCHES
    })
}

/// A value from one BTF, with what is needed to patch loads.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    value: u64,
    /// The root type it came from.
    type_id: u32,
    /// For field relocations: (size in bytes, field type id).
    field: Option<(u32, u32)>,
    /// For field relocations: the field's bit offset from the root (0 for the others).
    bit_offset: u64,
}

/// The outcome of matching the target.
enum Outcome {
    Value(Resolved),
    /// No candidate matched: why (for `*_EXISTS`/`TYPE_MATCHES` the answer is 0).
    Missing(String),
}

enum FieldErr {
    Btf(BtfError),
    Layout(String),
}

impl From<BtfError> for FieldErr {
    fn from(e: BtfError) -> Self {
        FieldErr::Btf(e)
    }
}

/// The value of a field relocation for a field at `pos`, and the field's (size, type).
fn field_value(
    btf: &Btf,
    pos: FieldPos,
    kind: CoreReloKind,
) -> Result<(u64, (u32, u32)), FieldErr> {
    let bit_off = pos.bit_offset;
    let mem_size = match kind {
        // Existence needs no size (the field may be a flexible array, a function...).
        CoreReloKind::FieldExists => btf.resolve_size(pos.type_id).unwrap_or(0),
        _ => btf.resolve_size(pos.type_id)?,
    };
    let (byte_off, byte_sz, bit_sz) = if pos.bitfield_size == 0 {
        if bit_off % 8 != 0 {
            return Err(FieldErr::Layout(format!(
                "field at bit {bit_off} is not byte-aligned"
            )));
        }
        (bit_off / 8, mem_size as u64, mem_size as u64 * 8)
    } else {
        // The smallest naturally aligned load (of at least the member's type size) that
        // holds every bit of the bitfield.
        let bit_sz = pos.bitfield_size as u64;
        let mut byte_sz = (mem_size as u64).max(1);
        let mut byte_off = bit_off / 8 / byte_sz * byte_sz;
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8 {
            if byte_sz >= 8 {
                return Err(FieldErr::Layout(format!(
                    "bitfield at bit {bit_off} ({bit_sz} bits) fits no 8-byte load"
                )));
            }
            byte_sz *= 2;
            byte_off = bit_off / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz, bit_sz)
    };
    let value = match kind {
        CoreReloKind::FieldByteOffset => byte_off,
        CoreReloKind::FieldByteSize => byte_sz,
        CoreReloKind::FieldExists => 1,
        CoreReloKind::FieldSigned => {
            let t = btf.type_by_id(btf.skip_mods_and_typedefs(pos.type_id)?)?;
            match t.body {
                TypeBody::Int { encoding, .. } => (encoding & BTF_INT_SIGNED != 0) as u64,
                TypeBody::Enum { signed, .. } | TypeBody::Enum64 { signed, .. } => signed as u64,
                _ => 0,
            }
        }
        CoreReloKind::FieldLshiftU64 => 64u64.wrapping_sub(bit_off + bit_sz - byte_off * 8),
        CoreReloKind::FieldRshiftU64 => 64u64.wrapping_sub(bit_sz),
        _ => 0,
    };
    Ok((value, (byte_sz as u32, pos.type_id)))
}

/// Target types that may be the local type: same kind (an ENUM and an ENUM64 count as
/// the same), same essential name.
fn find_candidates(local: &Btf, target: &Btf, relo: &CoreRelo) -> Result<Vec<u32>, CoreError> {
    let lerr = |error| CoreError::LocalBtf {
        insn_off: relo.insn_off,
        error,
    };
    let name = local.type_name(relo.type_id).map_err(lerr)?;
    if name.is_empty() {
        return Err(CoreError::AnonymousType {
            insn_off: relo.insn_off,
            type_id: relo.type_id,
        });
    }
    let kind = local.kind(relo.type_id).map_err(lerr)?;
    Ok(target.ids_by_essential_name(essential_name(name), kind))
}

fn kinds_compatible(a: Kind, b: Kind) -> bool {
    a == b || (is_enum(a) && is_enum(b))
}

fn is_enum(k: Kind) -> bool {
    matches!(k, Kind::Enum | Kind::Enum64)
}

/// Matches every candidate: the outcome, and the candidates that matched.
fn resolve(
    spec: &LocalSpec,
    local: &Btf,
    target: &TypeCache,
    relo: &CoreRelo,
    cands: &[u32],
    insn_index: usize,
) -> Result<(Outcome, Vec<u32>), CoreError> {
    let terr = |error| CoreError::TargetBtf {
        insn_off: relo.insn_off,
        error,
    };
    let mut found: Option<Resolved> = None;
    let mut matched = Vec::new();
    let mut first_miss: Option<String> = None;
    for &cand in cands {
        let result = match_candidate(spec, local, target, relo, cand).map_err(terr)?;
        match result {
            Ok(res) => {
                match found {
                    None => found = Some(res),
                    // As libbpf: the same bit offset first (for a field), then the same
                    // value.
                    Some(prev) if prev.bit_offset != res.bit_offset || prev.value != res.value => {
                        return Err(CoreError::Ambiguous {
                            insn_index,
                            local_access: spec.spelled.clone(),
                            first: (prev.type_id, prev.value),
                            second: (res.type_id, res.value),
                            bit_offsets: (prev.bit_offset != res.bit_offset)
                                .then_some((prev.bit_offset, res.bit_offset)),
                        });
                    }
                    Some(_) => {}
                }
                matched.push(cand);
            }
            Err(why) => {
                first_miss.get_or_insert(why);
            }
        }
    }
    let outcome = match found {
        Some(res) => Outcome::Value(res),
        None => Outcome::Missing(first_miss.unwrap_or_else(|| {
            format!(
                "no {} in the target BTF",
                spec.spelled.split(['.', '[', ':']).next().unwrap_or("")
            )
        })),
    };
    Ok((outcome, matched))
}

/// Matches one candidate: `Ok(Ok(value))`, `Ok(Err(why it does not match))`, or a broken
/// target BTF.
fn match_candidate(
    spec: &LocalSpec,
    local: &Btf,
    cache: &TypeCache,
    relo: &CoreRelo,
    cand: u32,
) -> Result<Result<Resolved, String>, BtfError> {
    let target = cache.btf;
    let kind = relo.kind;
    let cand_ty = cache.get(cand)?;
    if kind.is_type() {
        let ok = if kind == CoreReloKind::TypeMatches {
            types_match(local, target, relo.type_id, cand)
        } else {
            types_compatible(local, target, relo.type_id, cand)
        };
        let ok = match ok {
            Ok(ok) => ok,
            Err(Mismatch::Target(e)) => return Err(e),
            Err(Mismatch::Local) | Err(Mismatch::Depth) => false,
        };
        if !ok {
            return Ok(Err(format!("{} is not compatible", cand_ty.describe())));
        }
        let value = match kind {
            CoreReloKind::TypeIdTarget => cand as u64,
            CoreReloKind::TypeSize => target.resolve_size(cand)? as u64,
            _ => 1,
        };
        return Ok(Ok(Resolved {
            value,
            type_id: cand,
            field: None,
            bit_offset: 0,
        }));
    }
    if let Some(name) = &spec.enumerator {
        let t = cache.get(target.skip_mods_and_typedefs(cand)?)?;
        let values = match &t.body {
            TypeBody::Enum { values, .. } | TypeBody::Enum64 { values, .. } => values,
            _ => return Ok(Err(format!("{} is not an enum", t.describe()))),
        };
        let Some(v) = values
            .iter()
            .find(|v| essential_name(&v.name) == essential_name(name))
        else {
            return Ok(Err(format!(
                "{} has no enumerator {name}",
                spell_type(&cand_ty)
            )));
        };
        let value = match kind {
            CoreReloKind::EnumvalExists => 1,
            _ => v.value,
        };
        return Ok(Ok(Resolved {
            value,
            type_id: cand,
            field: None,
            bit_offset: 0,
        }));
    }
    // A field: follow the named steps in the target.
    let root = target.skip_mods_and_typedefs(cand)?;
    let root_size = if spec.root_index != 0 {
        target.resolve_size(root)? as u64
    } else {
        0
    };
    let mut pos = FieldPos {
        bit_offset: match bits_at(spec.root_index, root_size, 0) {
            Some(b) => b,
            None => return Ok(Err(OVERFLOW.into())),
        },
        bitfield_size: 0,
        type_id: root,
    };
    // Was the last step a struct's last member (where a zero-length array is flexible)?
    let mut at_last_member = false;
    for step in &spec.steps {
        let cur = target.skip_mods_and_typedefs(pos.type_id)?;
        let ty = cache.get(cur)?;
        match step {
            Step::Member { name, type_id } => {
                if !matches!(ty.kind(), Kind::Struct | Kind::Union) {
                    return Ok(Err(format!("{} has no members", ty.describe())));
                }
                let Some((off, m, last)) = find_member(cache, &ty, name, 0)? else {
                    return Ok(Err(format!("{} has no field {name}", spell_type(&ty))));
                };
                match fields_compatible(local, target, *type_id, m.type_id) {
                    Ok(true) => {}
                    Ok(false) | Err(Mismatch::Local) | Err(Mismatch::Depth) => {
                        return Ok(Err(format!(
                            "field {name} of {} has an incompatible type",
                            spell_type(&ty)
                        )))
                    }
                    Err(Mismatch::Target(e)) => return Err(e),
                }
                pos.bit_offset = match pos.bit_offset.checked_add(off) {
                    Some(b) => b,
                    None => return Ok(Err(OVERFLOW.into())),
                };
                pos.bitfield_size = m.bitfield_size;
                pos.type_id = m.type_id;
                at_last_member = last;
            }
            Step::Element { index, .. } => {
                let (elem, nelems) = match &ty.body {
                    TypeBody::Array { elem, nelems, .. } => (*elem, *nelems),
                    _ => return Ok(Err(format!("{} is not an array", ty.describe()))),
                };
                // A flexible array (0 elements, its struct's last member) may be indexed
                // past its end; any other array may not.
                let flexible = nelems == 0 && std::mem::take(&mut at_last_member);
                if !flexible && *index >= nelems {
                    return Ok(Err(format!(
                        "index {index} past the {nelems} elements of the target array"
                    )));
                }
                let size = target.resolve_size(elem)? as u64;
                pos.bit_offset = match bits_at(*index, size, pos.bit_offset) {
                    Some(b) => b,
                    None => return Ok(Err(OVERFLOW.into())),
                };
                pos.bitfield_size = 0;
                pos.type_id = elem;
            }
        }
    }
    match field_value(target, pos, kind) {
        Ok((value, field)) => Ok(Ok(Resolved {
            value,
            type_id: cand,
            field: Some(field),
            bit_offset: pos.bit_offset,
        })),
        Err(FieldErr::Btf(e)) => Err(e),
        Err(FieldErr::Layout(why)) => Ok(Err(why)),
    }
}

/// The member named `name` of composite `ty`, searched through anonymous struct/union
/// members: its bit offset from the start of `ty`, the member, and whether it is the last
/// member of the struct or union that holds it.
fn find_member(
    cache: &TypeCache,
    ty: &Type,
    name: &str,
    depth: usize,
) -> Result<Option<(u64, super::Member, bool)>, BtfError> {
    if depth > MAX_RESOLVE_DEPTH {
        return Err(BtfError::TypeLoop { id: ty.id });
    }
    let members = ty.members();
    for (i, m) in members.iter().enumerate() {
        if m.name == name {
            return Ok(Some((
                m.bit_offset as u64,
                m.clone(),
                i + 1 == members.len(),
            )));
        }
        if m.name.is_empty() {
            let inner_id = cache.btf.skip_mods_and_typedefs(m.type_id)?;
            if matches!(cache.btf.kind(inner_id)?, Kind::Struct | Kind::Union) {
                let inner = cache.get(inner_id)?;
                if let Some((off, found, last)) = find_member(cache, &inner, name, depth + 1)? {
                    return Ok(Some((m.bit_offset as u64 + off, found, last)));
                }
            }
        }
    }
    Ok(None)
}

/// Decoded target types, kept for the whole [`relocate`] call: records on the same
/// struct (`sock` has ~100 members in a kernel) decode it once.
struct TypeCache<'a> {
    btf: &'a Btf,
    types: RefCell<HashMap<u32, Rc<Type>>>,
}

impl<'a> TypeCache<'a> {
    fn new(btf: &'a Btf) -> Self {
        TypeCache {
            btf,
            types: RefCell::new(HashMap::new()),
        }
    }

    fn get(&self, id: u32) -> Result<Rc<Type>, BtfError> {
        if let Some(t) = self.types.borrow().get(&id) {
            return Ok(Rc::clone(t));
        }
        let t = Rc::new(self.btf.type_by_id(id)?);
        self.types.borrow_mut().insert(id, Rc::clone(&t));
        Ok(t)
    }
}

/// Why a type comparison stopped.
enum Mismatch {
    Local,
    Target(BtfError),
    Depth,
}

/// A resolved type: its id after modifiers and typedefs, decoded.
fn peel(btf: &Btf, id: u32) -> Result<Type, BtfError> {
    btf.type_by_id(btf.skip_mods_and_typedefs(id)?)
}

/// Field compatibility (what a member's type may become in the target): composites are
/// compatible with composites; otherwise same kind, and: pointers and floats always,
/// enums and forward declarations by essential name, integers unless they are old-style
/// bitfield integers (non-zero bit offset), arrays by their elements.
fn fields_compatible(local: &Btf, target: &Btf, lid: u32, tid: u32) -> Result<bool, Mismatch> {
    let (mut lid, mut tid) = (lid, tid);
    for _ in 0..MAX_RESOLVE_DEPTH {
        let l = peel(local, lid).map_err(|_| Mismatch::Local)?;
        let t = peel(target, tid).map_err(Mismatch::Target)?;
        let (lk, tk) = (l.kind(), t.kind());
        let composite = |k| matches!(k, Kind::Struct | Kind::Union);
        if composite(lk) && composite(tk) {
            return Ok(true);
        }
        if !kinds_compatible(lk, tk) {
            return Ok(false);
        }
        return Ok(match (&l.body, &t.body) {
            (TypeBody::Ptr { .. }, _) | (TypeBody::Float { .. }, _) => true,
            (TypeBody::Fwd { .. }, _)
            | (TypeBody::Enum { .. }, _)
            | (TypeBody::Enum64 { .. }, _) => names_match(&l.name, &t.name),
            (TypeBody::Int { offset: lo, .. }, TypeBody::Int { offset: to, .. }) => {
                *lo == 0 && *to == 0
            }
            (TypeBody::Array { elem: le, .. }, TypeBody::Array { elem: te, .. }) => {
                lid = *le;
                tid = *te;
                continue;
            }
            _ => false,
        });
    }
    Err(Mismatch::Depth)
}

/// Anonymous types match anything; named ones by essential name.
fn names_match(local: &str, target: &str) -> bool {
    local.is_empty() || target.is_empty() || essential_name(local) == essential_name(target)
}

/// Type compatibility for TYPE_* relocations: same kinds down through pointers, arrays
/// and function prototypes; composites, enums and forward declarations are not looked
/// into (their names were matched when the candidate was picked).
fn types_compatible(local: &Btf, target: &Btf, lid: u32, tid: u32) -> Result<bool, Mismatch> {
    types_compatible_depth(local, target, lid, tid, 0)
}

fn types_compatible_depth(
    local: &Btf,
    target: &Btf,
    lid: u32,
    tid: u32,
    depth: usize,
) -> Result<bool, Mismatch> {
    if depth > MAX_RESOLVE_DEPTH {
        return Err(Mismatch::Depth);
    }
    let l = peel(local, lid).map_err(|_| Mismatch::Local)?;
    let t = peel(target, tid).map_err(Mismatch::Target)?;
    if !kinds_compatible(l.kind(), t.kind()) {
        return Ok(false);
    }
    let rec = |a, b| types_compatible_depth(local, target, a, b, depth + 1);
    Ok(match (&l.body, &t.body) {
        (TypeBody::Int { offset: lo, .. }, TypeBody::Int { offset: to, .. }) => {
            *lo == 0 && *to == 0
        }
        (TypeBody::Ptr { target: lp }, TypeBody::Ptr { target: tp }) => rec(*lp, *tp)?,
        (TypeBody::Array { elem: le, .. }, TypeBody::Array { elem: te, .. }) => rec(*le, *te)?,
        (
            TypeBody::FuncProto {
                ret: lr,
                params: lp,
            },
            TypeBody::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            if lp.len() != tp.len() {
                return Ok(false);
            }
            for (a, b) in lp.iter().zip(tp) {
                if !rec(a.type_id, b.type_id)? {
                    return Ok(false);
                }
            }
            rec(*lr, *tr)?
        }
        _ => true, // struct, union, enum, fwd, float, void: kind and name are enough
    })
}

/// TYPE_MATCHES: stricter than compatibility. Names must match; every local member or
/// enumerator must exist in the target by name (members with matching types); integers
/// must have the same size and signedness; arrays the same length; prototypes the same
/// parameters. Behind a pointer, composites are matched by name only.
fn types_match(local: &Btf, target: &Btf, lid: u32, tid: u32) -> Result<bool, Mismatch> {
    types_match_depth(local, target, lid, tid, 0, false)
}

fn types_match_depth(
    local: &Btf,
    target: &Btf,
    lid: u32,
    tid: u32,
    depth: usize,
    behind_ptr: bool,
) -> Result<bool, Mismatch> {
    if depth > MAX_RESOLVE_DEPTH {
        return Err(Mismatch::Depth);
    }
    let l = peel(local, lid).map_err(|_| Mismatch::Local)?;
    let t = peel(target, tid).map_err(Mismatch::Target)?;
    let rec = |a, b, ptr| types_match_depth(local, target, a, b, depth + 1, ptr);
    // A forward declaration matches a struct/union of the same name and flavor of
    // struct-ness.
    match (&l.body, &t.body) {
        (TypeBody::Fwd { is_union }, TypeBody::Struct { .. } | TypeBody::Union { .. })
        | (TypeBody::Struct { .. } | TypeBody::Union { .. }, TypeBody::Fwd { is_union }) => {
            let other_union = matches!(l.body, TypeBody::Union { .. })
                || matches!(t.body, TypeBody::Union { .. });
            return Ok(*is_union == other_union && names_match(&l.name, &t.name));
        }
        _ => {}
    }
    if !kinds_compatible(l.kind(), t.kind()) || !names_match(&l.name, &t.name) {
        return Ok(false);
    }
    Ok(match (&l.body, &t.body) {
        (TypeBody::Struct { members: lm, .. }, TypeBody::Struct { members: tm, .. })
        | (TypeBody::Union { members: lm, .. }, TypeBody::Union { members: tm, .. }) => {
            if behind_ptr {
                return Ok(true);
            }
            if lm.len() > tm.len() {
                return Ok(false);
            }
            for m in lm {
                let Some(tmem) = tm.iter().find(|x| x.name == m.name) else {
                    return Ok(false);
                };
                if !rec(m.type_id, tmem.type_id, false)? {
                    return Ok(false);
                }
            }
            true
        }
        (
            TypeBody::Enum {
                size: ls,
                values: lv,
                ..
            }
            | TypeBody::Enum64 {
                size: ls,
                values: lv,
                ..
            },
            TypeBody::Enum {
                size: ts,
                values: tv,
                ..
            }
            | TypeBody::Enum64 {
                size: ts,
                values: tv,
                ..
            },
        ) => {
            ls == ts
                && lv.iter().all(|v| {
                    tv.iter()
                        .any(|w| essential_name(&w.name) == essential_name(&v.name))
                })
        }
        (
            TypeBody::Int {
                size: ls,
                encoding: le,
                ..
            },
            TypeBody::Int {
                size: ts,
                encoding: te,
                ..
            },
        ) => ls == ts && (le & BTF_INT_SIGNED) == (te & BTF_INT_SIGNED),
        (TypeBody::Float { size: ls }, TypeBody::Float { size: ts }) => ls == ts,
        (TypeBody::Ptr { target: lp }, TypeBody::Ptr { target: tp }) => rec(*lp, *tp, true)?,
        (
            TypeBody::Array {
                elem: le,
                nelems: ln,
                ..
            },
            TypeBody::Array {
                elem: te,
                nelems: tn,
                ..
            },
        ) => ln == tn && rec(*le, *te, behind_ptr)?,
        (
            TypeBody::FuncProto {
                ret: lr,
                params: lp,
            },
            TypeBody::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            if lp.len() != tp.len() {
                return Ok(false);
            }
            for (a, b) in lp.iter().zip(tp) {
                if !rec(a.type_id, b.type_id, behind_ptr)? {
                    return Ok(false);
                }
            }
            rec(*lr, *tr, behind_ptr)?
        }
        (TypeBody::Fwd { is_union: a }, TypeBody::Fwd { is_union: b }) => a == b,
        (TypeBody::Void, TypeBody::Void) => true,
        _ => false,
    })
}

/// Is `kind`'s "missing" answer a value (0) rather than a poisoned instruction? The
/// existence checks, and every type-based kind (libbpf's `bpf_core_calc_type_relo`);
/// field offsets, sizes and enumerator values poison.
fn missing_is_zero(kind: CoreReloKind) -> bool {
    matches!(
        kind,
        CoreReloKind::FieldExists
            | CoreReloKind::EnumvalExists
            | CoreReloKind::TypeExists
            | CoreReloKind::TypeMatches
            | CoreReloKind::TypeIdTarget
            | CoreReloKind::TypeSize
    )
}

/// The slot(s) of the instruction at `idx`: two for `ld_imm64`.
fn slots(insns: &[Insn], idx: usize) -> Vec<Insn> {
    let n = match insns.get(idx) {
        Some(i) if i.is_ld_imm64() => 2,
        Some(_) => 1,
        None => 0,
    };
    insns.iter().skip(idx).take(n).copied().collect()
}

/// `call CORE_POISON_IMM`.
pub fn poison_insn() -> Insn {
    Insn {
        code: CALL,
        imm: CORE_POISON_IMM,
        ..Insn::default()
    }
}

fn apply(
    local: &Btf,
    target: &Btf,
    relo: &CoreRelo,
    insn_index: usize,
    spec: LocalSpec,
    outcome: Outcome,
    insns: &mut [Insn],
) -> Result<CoreFixup, CoreError> {
    let before = slots(insns, insn_index);
    let (target_value, target_type_id, target_field, missing) = match outcome {
        Outcome::Value(r) => (Some(r.value), Some(r.type_id), r.field, None),
        Outcome::Missing(why) if missing_is_zero(relo.kind) => (Some(0), None, None, Some(why)),
        Outcome::Missing(why) => (None, None, None, Some(why)),
    };
    let poisoned = target_value.is_none();
    match target_value {
        None => {
            let was_ld_imm64 = before.len() == 2;
            for slot in insns
                .iter_mut()
                .skip(insn_index)
                .take(if was_ld_imm64 { 2 } else { 1 })
            {
                *slot = poison_insn();
            }
        }
        Some(new) => {
            let bitfield = spec.field.is_some_and(|f| f.bitfield_size != 0);
            let validate = validates(relo.kind, bitfield);
            let sizes = match (relo.kind, spec.value.field, target_field) {
                (CoreReloKind::FieldByteOffset, Some(l), Some(t)) if l.0 != t.0 => Some((l, t)),
                _ => None,
            };
            let p = Patch {
                index: insn_index,
                kind: relo.kind,
                orig: spec.value.value,
                new,
                validate,
                sizes,
            };
            p.apply(local, target, insns)?;
        }
    }
    Ok(CoreFixup {
        relo: relo.clone(),
        insn_index,
        local_access: spec.spelled,
        local_value: spec.value.value,
        target_value,
        target_type_id,
        after: slots(insns, insn_index),
        before,
        poisoned,
        missing,
    })
}

/// Whether the instruction must hold the locally computed value before it is patched:
/// libbpf's rules (`bpf_core_calc_field_relo` and `bpf_core_calc_type_relo` in
/// `tools/lib/bpf/relo_core.c`), decided on the local side alone.
///
/// - A bitfield's byte offset, load size and left shift depend on the load clang chose,
///   which may differ from the smallest aligned load computed here: not checked. Its
///   signedness and right shift (`64 - bit size`) are never ambiguous: checked.
/// - Type ids may be renumbered by linking (`bpftool gen object`): not checked.
/// - Everything else (plain fields, array elements, existence, sizes, enumerators): checked.
pub fn validates(kind: CoreReloKind, bitfield: bool) -> bool {
    match kind {
        CoreReloKind::TypeIdLocal | CoreReloKind::TypeIdTarget => false,
        CoreReloKind::FieldByteOffset
        | CoreReloKind::FieldByteSize
        | CoreReloKind::FieldLshiftU64 => !bitfield,
        CoreReloKind::FieldSigned
        | CoreReloKind::FieldRshiftU64
        | CoreReloKind::FieldExists
        | CoreReloKind::TypeExists
        | CoreReloKind::TypeSize
        | CoreReloKind::TypeMatches
        | CoreReloKind::EnumvalExists
        | CoreReloKind::EnumvalValue => true,
    }
}

/// One instruction rewrite: `orig` (local value) becomes `new` (target value).
struct Patch {
    index: usize,
    kind: CoreReloKind,
    orig: u64,
    new: u64,
    validate: bool,
    /// Field byte offset relocations whose field size differs: ((local size, local type),
    /// (target size, target type)).
    sizes: Option<((u32, u32), (u32, u32))>,
}

const BPF_SIZE_MASK: u8 = 0x18;
const BPF_MODE_MASK: u8 = 0xe0;

fn size_bytes(code: u8) -> u32 {
    match code & BPF_SIZE_MASK {
        BPF_W => 4,
        BPF_H => 2,
        BPF_B => 1,
        _ => 8, // BPF_DW
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    Some(match bytes {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        8 => BPF_DW,
        _ => return None,
    })
}

impl Patch {
    fn mismatch(&self, found: i64) -> CoreError {
        CoreError::ValueMismatch {
            insn_index: self.index,
            expected: self.orig,
            found,
        }
    }

    fn apply(&self, local: &Btf, target: &Btf, insns: &mut [Insn]) -> Result<(), CoreError> {
        let idx = self.index;
        let Some(insn) = insns.get(idx).copied() else {
            return Err(CoreError::BadInsnOffset {
                insn_off: (idx * INSN_SIZE) as u32,
                insns: insns.len(),
            });
        };
        let unexpected = CoreError::UnexpectedInsn {
            insn_index: idx,
            insn,
            kind: self.kind,
        };
        let class = insn.class();
        if class == BPF_ALU || class == BPF_ALU64 {
            if insn.code & BPF_X != 0 {
                return Err(unexpected);
            }
            let held = insn.imm as i64;
            if self.validate && held as u64 != self.orig && held as u32 as u64 != self.orig {
                return Err(self.mismatch(held));
            }
            let imm = i32::try_from(self.new as i64)
                .ok()
                .or_else(|| u32::try_from(self.new).ok().map(|v| v as i32))
                .ok_or(CoreError::ValueTooLarge {
                    insn_index: idx,
                    value: self.new,
                })?;
            if let Some(slot) = insns.get_mut(idx) {
                slot.imm = imm;
            }
            return Ok(());
        }
        if class == BPF_LDX || class == BPF_ST || class == BPF_STX {
            let mode = insn.code & BPF_MODE_MASK;
            if !(mode == BPF_MEM || (class == BPF_LDX && mode == BPF_MEMSX)) {
                return Err(unexpected);
            }
            let held = insn.off as i64;
            if self.validate && held as u64 != self.orig {
                return Err(self.mismatch(held));
            }
            let off = i16::try_from(self.new).map_err(|_| CoreError::ValueTooLarge {
                insn_index: idx,
                value: self.new,
            })?;
            let mut code = insn.code;
            if let Some(((lsz, ltype), (tsz, ttype))) = self.sizes {
                let mismatch = CoreError::SizeMismatch {
                    insn_index: idx,
                    local_size: lsz,
                    target_size: tsz,
                };
                if !load_size_adjustable(local, ltype, target, ttype) || size_bytes(code) != lsz {
                    return Err(mismatch);
                }
                let new_size = size_code(tsz).ok_or(mismatch)?;
                code = (code & !BPF_SIZE_MASK) | new_size;
            }
            if let Some(slot) = insns.get_mut(idx) {
                slot.off = off;
                slot.code = code;
            }
            return Ok(());
        }
        if insn.is_ld_imm64() {
            let Some(hi) = insns.get(idx + 1).copied() else {
                return Err(unexpected);
            };
            let held = (insn.imm as u32 as u64) | ((hi.imm as u32 as u64) << 32);
            if self.validate && held != self.orig {
                return Err(self.mismatch(held as i64));
            }
            if let Some(slot) = insns.get_mut(idx) {
                slot.imm = self.new as u32 as i32;
            }
            if let Some(slot) = insns.get_mut(idx + 1) {
                slot.imm = (self.new >> 32) as u32 as i32;
            }
            return Ok(());
        }
        Err(unexpected)
    }
}

/// A load of a field whose size changed reads the right value only for pointers and
/// unsigned integers (zero extension); anything else would be wrong.
fn load_size_adjustable(local: &Btf, ltype: u32, target: &Btf, ttype: u32) -> bool {
    let (Ok(l), Ok(t)) = (peel(local, ltype), peel(target, ttype)) else {
        return false;
    };
    match (&l.body, &t.body) {
        (TypeBody::Ptr { .. }, TypeBody::Ptr { .. }) => true,
        (TypeBody::Int { encoding: le, .. }, TypeBody::Int { encoding: te, .. }) => {
            le & BTF_INT_SIGNED == 0 && te & BTF_INT_SIGNED == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
