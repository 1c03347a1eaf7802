//! x86-64.
//!
//! ABI: `struct pt_regs` of `arch/x86/include/asm/ptrace.h` (the order of the fields, 8
//! bytes each); the wrappers `__x64_sys_NAME` of `arch/x86/include/asm/syscall_wrapper.h`
//! (4.17+); USDT locations in GNU as's AT&T syntax (`%reg`, `OFFSET(%reg)`, `$CONST`), as
//! `<sys/sdt.h>` makes GCC and clang print them.

use super::{integer, Arch, ArgLocation, LocationError};

/// x86-64.
pub const X86_64: Arch = Arch {
    name: "x86_64",
    syscall_prefix: "x64",
    multiarch: "x86_64-linux-gnu",
    pt_regs_offset,
    usdt_location,
};

/// Each register by the names the assembler gives its 64-, 32-, 16- and 8-bit parts, and
/// its offset in `struct pt_regs`.
const REGISTERS: &[(&[&str], i16)] = &[
    (&["r15", "r15d", "r15w", "r15b"], 0),
    (&["r14", "r14d", "r14w", "r14b"], 8),
    (&["r13", "r13d", "r13w", "r13b"], 16),
    (&["r12", "r12d", "r12w", "r12b"], 24),
    (&["rbp", "ebp", "bp", "bpl"], 32),
    (&["rbx", "ebx", "bx", "bl"], 40),
    (&["r11", "r11d", "r11w", "r11b"], 48),
    (&["r10", "r10d", "r10w", "r10b"], 56),
    (&["r9", "r9d", "r9w", "r9b"], 64),
    (&["r8", "r8d", "r8w", "r8b"], 72),
    (&["rax", "eax", "ax", "al"], 80),
    (&["rcx", "ecx", "cx", "cl"], 88),
    (&["rdx", "edx", "dx", "dl"], 96),
    (&["rsi", "esi", "si", "sil"], 104),
    (&["rdi", "edi", "di", "dil"], 112),
    // orig_ax at 120
    (&["rip", "eip"], 128),
    // cs at 136, flags at 144
    (&["rsp", "esp", "sp", "spl"], 152),
];

fn pt_regs_offset(name: &str) -> Option<i16> {
    REGISTERS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|&(_, offset)| offset)
}

fn register(name: &str) -> Result<i16, LocationError> {
    pt_regs_offset(name).ok_or_else(|| LocationError::UnknownRegister(format!("%{name}")))
}

/// `%edi`, `-20(%rbp)`, `(%rax)`, `$5`.
fn usdt_location(text: &str) -> Result<ArgLocation, LocationError> {
    if let Some(constant) = text.strip_prefix('$') {
        integer(constant)
            .map(ArgLocation::Const)
            .ok_or(LocationError::Syntax)
    } else if let Some(reg) = text.strip_prefix('%') {
        register(reg).map(ArgLocation::Reg)
    } else if let Some((offset, rest)) = text.split_once("(%") {
        let reg = rest.strip_suffix(')').ok_or(LocationError::Syntax)?;
        if reg.contains(',') {
            return Err(LocationError::Unsupported);
        }
        let offset = if offset.is_empty() {
            0
        } else {
            integer(offset).ok_or(LocationError::Syntax)?
        };
        Ok(ArgLocation::Deref {
            reg: register(reg)?,
            offset,
        })
    } else {
        Err(LocationError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_in_att_syntax() {
        let loc = X86_64.usdt_location;
        assert_eq!(loc("%edi"), Ok(ArgLocation::Reg(112)));
        assert_eq!(loc("%rsp"), Ok(ArgLocation::Reg(152)));
        assert_eq!(
            loc("-20(%rbp)"),
            Ok(ArgLocation::Deref {
                reg: 32,
                offset: -20
            })
        );
        assert_eq!(loc("(%rax)"), Ok(ArgLocation::Deref { reg: 80, offset: 0 }));
        assert_eq!(loc("$-5"), Ok(ArgLocation::Const(-5)));
        assert_eq!(
            loc("%xmm0"),
            Err(LocationError::UnknownRegister("%xmm0".into()))
        );
        assert_eq!(loc("8(%rax,%rbx,4)"), Err(LocationError::Unsupported));
        assert_eq!(loc("x0"), Err(LocationError::Syntax));
    }
}
