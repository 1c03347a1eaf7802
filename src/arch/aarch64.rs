//! arm64 (aarch64).
//!
//! ABI: `struct user_pt_regs` of `arch/arm64/include/uapi/asm/ptrace.h` (`u64 regs[31]`,
//! then `sp`, `pc`, `pstate`), which the kernel's `struct pt_regs` begins with; the
//! wrappers `__arm64_sys_NAME` of `arch/arm64/include/asm/syscall_wrapper.h` (4.19+); USDT
//! locations in GNU as's arm64 syntax as `<sys/sdt.h>` makes GCC and clang print them:
//! `x0` (or `w0`, its low 32 bits), `[sp, 16]`, `[x19]`, and a bare constant (`5`).

use super::{integer, Arch, ArgLocation, LocationError};

/// arm64.
pub const AARCH64: Arch = Arch {
    name: "aarch64",
    syscall_prefix: "arm64",
    multiarch: "aarch64-linux-gnu",
    pt_regs_offset,
    usdt_location,
};

/// `sp`'s offset: after the 31 general registers.
const SP_OFFSET: i16 = 31 * 8;

/// `xN` and `wN` are `regs[N]` (N < 31), `sp` follows them.
fn pt_regs_offset(name: &str) -> Option<i16> {
    if name == "sp" {
        return Some(SP_OFFSET);
    }
    let number = name.strip_prefix('x').or_else(|| name.strip_prefix('w'))?;
    // Digits only: "x+1" or "x01" would parse, but no assembler writes them.
    if number.is_empty() || number.len() > 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i16 = number.parse().ok()?;
    (n < 31).then_some(n * 8)
}

fn register(name: &str) -> Result<i16, LocationError> {
    pt_regs_offset(name).ok_or_else(|| LocationError::UnknownRegister(name.to_string()))
}

/// `x0`, `[sp, 16]`, `[x19]`, `5`.
fn usdt_location(text: &str) -> Result<ArgLocation, LocationError> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(LocationError::Syntax)?;
        let (reg, offset) = match inner.split_once(',') {
            Some((reg, offset)) => (
                reg.trim(),
                integer(offset.trim()).ok_or(LocationError::Syntax)?,
            ),
            None => (inner.trim(), 0),
        };
        Ok(ArgLocation::Deref {
            reg: register(reg)?,
            offset,
        })
    } else if let Some(constant) = integer(text) {
        Ok(ArgLocation::Const(constant))
    } else if text.bytes().all(|b| b.is_ascii_alphanumeric()) && !text.is_empty() {
        register(text).map(ArgLocation::Reg)
    } else {
        Err(LocationError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_in_arm64_syntax() {
        let loc = AARCH64.usdt_location;
        assert_eq!(loc("x0"), Ok(ArgLocation::Reg(0)));
        assert_eq!(loc("w3"), Ok(ArgLocation::Reg(24)));
        assert_eq!(loc("x30"), Ok(ArgLocation::Reg(240)));
        assert_eq!(loc("sp"), Ok(ArgLocation::Reg(248)));
        assert_eq!(
            loc("[sp, 16]"),
            Ok(ArgLocation::Deref {
                reg: 248,
                offset: 16
            })
        );
        assert_eq!(
            loc("[x29, -4]"),
            Ok(ArgLocation::Deref {
                reg: 232,
                offset: -4
            })
        );
        assert_eq!(
            loc("[x19]"),
            Ok(ArgLocation::Deref {
                reg: 152,
                offset: 0
            })
        );
        assert_eq!(loc("5"), Ok(ArgLocation::Const(5)));
        assert_eq!(loc("-1"), Ok(ArgLocation::Const(-1)));
        assert_eq!(
            loc("x31"),
            Err(LocationError::UnknownRegister("x31".into()))
        );
        assert_eq!(loc("v0"), Err(LocationError::UnknownRegister("v0".into())));
        assert_eq!(loc("%rdi"), Err(LocationError::Syntax));
        assert_eq!(loc("[x0, "), Err(LocationError::Syntax));
    }
}
