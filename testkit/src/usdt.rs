//! [`stap_probe!`](crate::stap_probe): a USDT probe in a test binary, as `<sys/sdt.h>`'s
//! `STAP_PROBEn` declares one: a `nop` where the probe is, and a `.note.stapsdt` note (owner
//! `stapsdt`, type 3: the `nop`'s address, `.stapsdt.base`'s, no semaphore, then the
//! provider, the name and the arguments' spec), SystemTap's
//! <https://sourceware.org/systemtap/wiki/UserSpaceProbeImplementation>.

/// Expands to the `asm!` of a USDT probe `PROVIDER:NAME` whose argument spec is `ARGS`
/// (`"-8@{a} -4@{b:e}"`: each `{operand}` is one of the operands that follow, placed in a
/// register). It must be written inside an `unsafe` block: the code is one `nop`; the rest
/// only adds the note (and, once per binary, the one-byte `.stapsdt.base`) to other
/// sections, and touches no memory, stack or flags. For x86-64 (operands in AT&T syntax:
/// `{b:e}` is `%edi`) and arm64 (`{a}` is `x0`, `{b:w}` is `w1`): the spec is the
/// architecture's, as GCC would write it there.
///
/// ```ignore
/// // SAFETY: see stap_probe!: one nop and a note.
/// unsafe { ebpf_testkit::stap_probe!("provider", "name", "8@{x}", x = in(reg) x) };
/// ```
#[cfg(target_arch = "x86_64")]
#[macro_export]
macro_rules! stap_probe {
    ($provider:literal, $name:literal, $args:literal, $($operands:tt)*) => {
        ::std::arch::asm!(
            "990: nop",
            ".pushsection .note.stapsdt,\"\",@note",
            ".balign 4",
            ".4byte 992f-991f, 994f-993f, 3",
            "991: .asciz \"stapsdt\"",
            "992: .balign 4",
            "993: .8byte 990b",
            ".8byte _.stapsdt.base",
            ".8byte 0",
            concat!(".asciz \"", $provider, "\""),
            concat!(".asciz \"", $name, "\""),
            concat!(".asciz \"", $args, "\""),
            "994: .balign 4",
            ".popsection",
            ".ifndef _.stapsdt.base",
            ".pushsection .stapsdt.base,\"aG\",@progbits,.stapsdt.base,comdat",
            ".weak _.stapsdt.base",
            ".hidden _.stapsdt.base",
            "_.stapsdt.base: .space 1",
            ".size _.stapsdt.base, 1",
            ".popsection",
            ".endif",
            $($operands)*,
            options(att_syntax, nomem, nostack, preserves_flags)
        )
    };
}

/// The arm64 twin of the x86-64 macro above (`%note` for `@note`: the same directive).
#[cfg(target_arch = "aarch64")]
#[macro_export]
macro_rules! stap_probe {
    ($provider:literal, $name:literal, $args:literal, $($operands:tt)*) => {
        ::std::arch::asm!(
            "990: nop",
            ".pushsection .note.stapsdt,\"\",%note",
            ".balign 4",
            ".4byte 992f-991f, 994f-993f, 3",
            "991: .asciz \"stapsdt\"",
            "992: .balign 4",
            "993: .8byte 990b",
            ".8byte _.stapsdt.base",
            ".8byte 0",
            concat!(".asciz \"", $provider, "\""),
            concat!(".asciz \"", $name, "\""),
            concat!(".asciz \"", $args, "\""),
            "994: .balign 4",
            ".popsection",
            ".ifndef _.stapsdt.base",
            ".pushsection .stapsdt.base,\"aG\",%progbits,.stapsdt.base,comdat",
            ".weak _.stapsdt.base",
            ".hidden _.stapsdt.base",
            "_.stapsdt.base: .space 1",
            ".size _.stapsdt.base, 1",
            ".popsection",
            ".endif",
            $($operands)*,
            options(nomem, nostack, preserves_flags)
        )
    };
}
