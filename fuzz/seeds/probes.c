/* Source of fuzz/seeds/executable/*: a tiny program with two USDT probes (one with a
 * semaphore), declared as <sys/sdt.h>'s STAP_PROBE macros declare them, without libc:
 *   cc -Os -static -nostdlib -no-pie -Wl,-z,noseparate-code,--build-id=none,-z,norelro -o exec probes.c  (ET_EXEC, with .symtab)
 *   sed 's/\.8byte/.4byte/g; s/%%rbp/%%ebp/; s/-8@%0/-4@%0/' probes.c > probes32.c &&
 *     cc -m32 -Os -static -nostdlib -no-pie -Wl,-z,noseparate-code,--build-id=none,-z,norelro -o exec32 probes32.c  (ELFCLASS32)
 *   cc -Os -nostdlib -fPIE -pie -rdynamic -s -Wl,-z,noseparate-code,--build-id=none,-z,norelro,--hash-style=gnu -o pie probes.c  (ET_DYN, stripped: .dynsym only)
 */
unsigned short fuzz_seed_semaphore __attribute__((section(".probes"), used));

#define PROBE(provider, name, args, ...)                                             \
    __asm__ volatile("990: nop\n"                                                    \
                     ".pushsection .note.stapsdt,\"\",@note\n"                       \
                     ".balign 4\n"                                                   \
                     ".4byte 992f-991f, 994f-993f, 3\n"                              \
                     "991: .asciz \"stapsdt\"\n"                                     \
                     "992: .balign 4\n"                                              \
                     "993: .8byte 990b\n"                                            \
                     ".8byte _.stapsdt.base\n"                                       \
                     ".8byte " SEMA "\n"                                             \
                     ".asciz \"" provider "\"\n"                                     \
                     ".asciz \"" name "\"\n"                                         \
                     ".asciz \"" args "\"\n"                                         \
                     "994: .balign 4\n"                                              \
                     ".popsection\n"                                                 \
                     ".ifndef _.stapsdt.base\n"                                      \
                     ".pushsection .stapsdt.base,\"aG\",@progbits,.stapsdt.base,comdat\n" \
                     ".weak _.stapsdt.base\n"                                        \
                     ".hidden _.stapsdt.base\n"                                      \
                     "_.stapsdt.base: .space 1\n"                                    \
                     ".size _.stapsdt.base, 1\n"                                     \
                     ".popsection\n"                                                 \
                     ".endif\n" ::__VA_ARGS__)

__attribute__((noinline)) int main(long a, int b)
{
#define SEMA "0"
    PROBE("fuzz", "plain", "-8@%0 -4@%1 4@$5", "r"(a), "r"(b));
#undef SEMA
#define SEMA "fuzz_seed_semaphore"
    if (fuzz_seed_semaphore)
        PROBE("fuzz", "guarded", "8@-16(%%rbp) 2@(%0)", "r"(&b));
    return b;
}

void _start(void)
{
    main(1, 2);
    for (;;)
        __asm__ volatile("");
}
