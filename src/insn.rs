//! eBPF instructions: the 8-byte encoding, the opcodes the loader looks at, and the
//! pseudo source registers that tell the kernel how to read an instruction's immediate.
//!
//! ABI: `struct bpf_insn` and the `BPF_*` opcode macros in `include/uapi/linux/bpf.h` and
//! `include/uapi/linux/bpf_common.h`; the encoding is described in
//! `Documentation/bpf/standardization/instruction-set.rst`.
//!
//! ```text
//!   byte 0      byte 1            bytes 2-3   bytes 4-7
//!   opcode      src_reg:4|dst_reg:4   off (i16)   imm (i32)        (little-endian host)
//! ```
//! `ld_imm64` (`BPF_LD | BPF_IMM | BPF_DW`, opcode 0x18) is the one instruction that takes
//! two slots: the second slot carries the upper 32 bits of the constant in its `imm`.

pub mod disasm;

use std::fmt;

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;

// Instruction classes (the low 3 bits of the opcode).
/// `BPF_LD`: class of the non-standard loads: `ld_imm64` and the legacy packet loads.
pub const BPF_LD: u8 = 0x00;
/// `BPF_LDX`: class of loads from memory into a register (`dst = *(size *)(src + off)`).
pub const BPF_LDX: u8 = 0x01;
/// `BPF_ST`: class of stores of an immediate to memory (`*(size *)(dst + off) = imm`).
pub const BPF_ST: u8 = 0x02;
/// `BPF_STX`: class of stores of a register to memory, and of atomic operations.
pub const BPF_STX: u8 = 0x03;
/// `BPF_ALU`: class of 32-bit arithmetic (the upper half of `dst` is zeroed).
pub const BPF_ALU: u8 = 0x04;
/// `BPF_JMP`: class of 64-bit compares and jumps, calls and `exit`.
pub const BPF_JMP: u8 = 0x05;
/// `BPF_JMP32`: class of jumps that compare the lower 32 bits of their operands.
pub const BPF_JMP32: u8 = 0x06;
/// `BPF_ALU64`: class of 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

// Size modifiers of loads and stores (bits 3-4).
/// `BPF_W`: a 4-byte (word) access.
pub const BPF_W: u8 = 0x00;
/// `BPF_H`: a 2-byte (half-word) access.
pub const BPF_H: u8 = 0x08;
/// `BPF_B`: a 1-byte access.
pub const BPF_B: u8 = 0x10;
/// `BPF_DW`: an 8-byte (double-word) access.
pub const BPF_DW: u8 = 0x18;

// Mode modifiers of loads and stores (bits 5-7).
/// `BPF_IMM`: the value is an immediate (with `BPF_LD | BPF_DW`: `ld_imm64`).
pub const BPF_IMM: u8 = 0x00;
/// `BPF_ABS`: legacy packet load at an absolute offset (classic BPF, socket filters).
pub const BPF_ABS: u8 = 0x20;
/// `BPF_IND`: legacy packet load at a register-relative offset (classic BPF).
pub const BPF_IND: u8 = 0x40;
/// `BPF_MEM`: a regular load or store at `register + off`.
pub const BPF_MEM: u8 = 0x60;
/// `BPF_MEMSX`: a sign-extending load (`BPF_LDX` only; kernel 6.6 and later).
pub const BPF_MEMSX: u8 = 0x80;
/// `BPF_ATOMIC`: an atomic operation (`BPF_STX` only; the operation is in `imm`).
pub const BPF_ATOMIC: u8 = 0xc0;

// ALU and jump operations (bits 4-7) and the source flag (bit 3).
/// `BPF_K`: the source operand is the 32-bit immediate `imm`.
pub const BPF_K: u8 = 0x00;
/// `BPF_X`: the source operand is the register `src_reg`.
pub const BPF_X: u8 = 0x08;
/// `BPF_ADD`: ALU operation `dst += src`.
pub const BPF_ADD: u8 = 0x00;
/// `BPF_MOV`: ALU operation `dst = src`.
pub const BPF_MOV: u8 = 0xb0;
/// `BPF_JA`: jump operation, unconditional jump by `off` slots.
pub const BPF_JA: u8 = 0x00;
/// `BPF_CALL`: jump operation, call a helper (or a bpf-to-bpf function) given by `imm`.
pub const BPF_CALL: u8 = 0x80;
/// `BPF_EXIT`: jump operation, return from the program with `r0` as its result.
pub const BPF_EXIT: u8 = 0x90;

/// `BPF_LD | BPF_IMM | BPF_DW`: load a 64-bit constant, two slots.
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;
/// `BPF_JMP | BPF_CALL`: a helper call, or a bpf-to-bpf call when `src_reg` is
/// [`BPF_PSEUDO_CALL`].
pub const CALL: u8 = BPF_JMP | BPF_CALL;
/// `BPF_JMP | BPF_EXIT`.
pub const EXIT: u8 = BPF_JMP | BPF_EXIT;

/// `ld_imm64` with this `src_reg`: `imm` is a map fd; the register gets the map.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `ld_imm64` with this `src_reg`: `imm` is a map fd and the second slot's `imm` an offset
/// into the map's single value; the register gets that address (global data).
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// `call` with this `src_reg`: a bpf-to-bpf call; `imm` is the callee's position relative
/// to the instruction after the call, in slots.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// `ld_imm64` with this `src_reg`: `imm` is the slot offset of a function (a callback).
pub const BPF_PSEUDO_FUNC: u8 = 4;

/// The `imm` of the call that stands in for a CO-RE relocation the loader could not
/// resolve (libbpf's convention): the verifier rejects it as an unknown helper
/// (`invalid func unknown#195896080`), and the loader maps that back to the field.
pub const CORE_POISON_IMM: i32 = 0xbad2310;

/// One instruction slot, decoded. Fields are the kernel's (`struct bpf_insn`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// The opcode: class, size or operation, mode or source.
    pub code: u8,
    /// Destination register (0-10).
    pub dst_reg: u8,
    /// Source register (0-10), or a pseudo value (`BPF_PSEUDO_*`) on `ld_imm64` and `call`.
    pub src_reg: u8,
    /// Signed offset: of a memory access, or of a jump in slots.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// An instruction from its five fields, in `struct bpf_insn`'s order.
    pub const fn new(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst_reg,
            src_reg,
            off,
            imm,
        }
    }

    /// Decodes one slot from its 8 little-endian bytes.
    pub fn from_bytes(bytes: [u8; INSN_SIZE]) -> Insn {
        Insn {
            code: bytes[0],
            dst_reg: bytes[1] & 0x0f,
            src_reg: bytes[1] >> 4,
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// Encodes the slot as the kernel reads it.
    pub fn to_bytes(self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.src_reg << 4) | (self.dst_reg & 0x0f),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction class (`BPF_LD` ... `BPF_ALU64`).
    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    /// Is this the first slot of a two-slot `ld_imm64`?
    pub fn is_ld_imm64(self) -> bool {
        self.code == LD_IMM64
    }

    /// Is this a bpf-to-bpf call (`call` with `src_reg = BPF_PSEUDO_CALL`)?
    pub fn is_pseudo_call(self) -> bool {
        self.code == CALL && self.src_reg == BPF_PSEUDO_CALL
    }

    /// Is this a helper call (`call` with `src_reg = 0`)?
    pub fn is_helper_call(self) -> bool {
        self.code == CALL && self.src_reg == 0
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Insn {{ code: {:#04x}, dst: r{}, src: {}, off: {}, imm: {} }}",
            self.code, self.dst_reg, self.src_reg, self.off, self.imm
        )
    }
}

/// Why a byte slice is not an instruction stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedInsns {
    /// Length of the slice in bytes; not a multiple of [`INSN_SIZE`].
    pub len: usize,
}

impl fmt::Display for TruncatedInsns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes of code is not a whole number of {INSN_SIZE}-byte instructions",
            self.len
        )
    }
}

impl std::error::Error for TruncatedInsns {}

/// Decodes a section's bytes into instruction slots.
pub fn decode(bytes: &[u8]) -> Result<Vec<Insn>, TruncatedInsns> {
    if bytes.len() % INSN_SIZE != 0 {
        return Err(TruncatedInsns { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|chunk| {
            let mut slot = [0u8; INSN_SIZE];
            slot.copy_from_slice(chunk);
            Insn::from_bytes(slot)
        })
        .collect())
}

/// Encodes instruction slots into the bytes `BPF_PROG_LOAD` takes.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|insn| insn.to_bytes()).collect()
}

/// The bytes of `insns` as the kernel receives them, in hex, 8 to a slot, slots apart by
/// ` | `: `18 12 00 00 06 00 00 00 | 00 00 00 00 00 00 00 00` for `r2 = map[fd:6] ll`
/// (byte 0 the opcode; byte 1 `src_reg << 4 | dst_reg`; bytes 2-3 `off`; bytes 4-7 `imm`,
/// little-endian on x86-64 and arm64).
pub fn hex(insns: &[Insn]) -> String {
    insns
        .iter()
        .map(|insn| {
            insn.to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_shows_the_slots_as_the_kernel_reads_them() {
        // r2 = map[fd:6] ll: ld_imm64 (0x18), src_reg 1 (BPF_PSEUDO_MAP_FD), dst_reg 2.
        let insns = [Insn::new(LD_IMM64, 2, 1, 0, 6), Insn::new(0, 0, 0, 0, 0)];
        assert_eq!(
            hex(&insns),
            "18 12 00 00 06 00 00 00 | 00 00 00 00 00 00 00 00"
        );
    }

    #[test]
    fn round_trips_every_field() {
        // r1 = map[fd 7] (ld_imm64, src_reg = BPF_PSEUDO_MAP_FD)
        let bytes = [0x18, 0x11, 0xfe, 0xff, 7, 0, 0, 0];
        let insn = Insn::from_bytes(bytes);
        assert_eq!(
            insn,
            Insn {
                code: LD_IMM64,
                dst_reg: 1,
                src_reg: BPF_PSEUDO_MAP_FD,
                off: -2,
                imm: 7
            }
        );
        assert!(insn.is_ld_imm64());
        assert_eq!(insn.to_bytes(), bytes);
    }

    #[test]
    fn decode_rejects_a_partial_slot() {
        assert_eq!(decode(&[0u8; 12]), Err(TruncatedInsns { len: 12 }));
        assert_eq!(decode(&[0u8; 16]).map(|v| v.len()), Ok(2));
    }

    #[test]
    fn recognises_calls() {
        let pseudo = Insn {
            code: CALL,
            src_reg: BPF_PSEUDO_CALL,
            imm: 3,
            ..Insn::default()
        };
        let helper = Insn {
            code: CALL,
            imm: 25,
            ..Insn::default()
        };
        assert!(pseudo.is_pseudo_call() && !pseudo.is_helper_call());
        assert!(helper.is_helper_call() && !helper.is_pseudo_call());
        assert_eq!(encode(&[pseudo, helper]).len(), 16);
    }
}
