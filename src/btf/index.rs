//! The name index: type ids by essential name (a type's name without its CO-RE
//! `___flavor` suffix), an open-addressing hash table built in [`super::Btf::parse`]'s one
//! pass over the types, so that the kernel's ~127k types are found by name without a scan.
//! The convention is libbpf's (`bpf_core_essential_name_len`, `tools/lib/bpf/relo_core.c`).

/// The essential name of a type: its name without a `___flavor` suffix (CO-RE's
/// convention: `sock___old` is a flavor of `sock`). The suffix starts at the last `___`
/// that has a non-`_` character on both sides.
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    let mut i = b.len().saturating_sub(4);
    while i > 0 {
        // b[i..i+3] == "___", with b[i-1] != '_' and b[i+3] != '_'
        if b.get(i..i + 3) == Some(b"___")
            && b.get(i - 1).is_some_and(|&c| c != b'_')
            && b.get(i + 3).is_some_and(|&c| c != b'_')
        {
            return &name[..i];
        }
        i -= 1;
    }
    name
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a: a small, good-enough hash for type names.
fn name_hash(name: &[u8]) -> u32 {
    name.iter()
        .fold(FNV_OFFSET, |h, &c| (h ^ c as u32).wrapping_mul(FNV_PRIME))
}

/// [`name_hash`] of the essential name of the NUL-terminated string starting `s`, in one
/// pass: the hash state is remembered at each `X___Y` separator and the last one wins.
pub(super) fn essential_hash(s: &[u8]) -> u32 {
    let mut h = FNV_OFFSET;
    let mut at_separator = None;
    let mut prev = 0u8;
    for (i, &c) in s.iter().enumerate() {
        if c == 0 {
            break;
        }
        if c == b'_'
            && i > 0
            && prev != b'_'
            && s.get(i + 1..i + 3) == Some(b"__")
            && s.get(i + 3).is_some_and(|&d| d != b'_' && d != 0)
        {
            at_separator = Some(h);
        }
        h = (h ^ c as u32).wrapping_mul(FNV_PRIME);
        prev = c;
    }
    at_separator.unwrap_or(h)
}

/// Type ids by essential name: an open-addressing table (linear probing) of
/// `(hash, id)` slots. Lookups compare the names of the ids whose hash matches.
#[derive(Clone, Debug)]
pub(super) struct NameIndex {
    /// Power-of-two length; `id == 0` marks an empty slot.
    slots: Vec<(u32, u32)>,
}

impl NameIndex {
    pub(super) fn new(entries: &[(u32, u32)]) -> NameIndex {
        // Load factor at most ~0.7.
        let cap = (entries.len() * 10 / 7 + 1).next_power_of_two().max(16);
        let mut slots = vec![(0u32, 0u32); cap];
        let mask = cap - 1;
        for &(hash, id) in entries {
            let mut i = hash as usize & mask;
            while let Some(slot) = slots.get_mut(i) {
                if slot.1 == 0 {
                    *slot = (hash, id);
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        NameIndex { slots }
    }

    /// Ids whose essential name hashes like `essential`, in id order (the caller compares
    /// names).
    pub(super) fn candidates(&self, essential: &[u8]) -> Vec<u32> {
        let hash = name_hash(essential);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        let mut out = Vec::new();
        while let Some(&(h, id)) = self.slots.get(i) {
            if id == 0 {
                break;
            }
            if h == hash {
                out.push(id);
            }
            i = (i + 1) & mask;
        }
        out.sort_unstable();
        out
    }
}
