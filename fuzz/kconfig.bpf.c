/* The object the kconfig fuzz target fills (fuzz/bodies.rs): one __kconfig extern of each
 * type libbpf writes, all __weak so that every line of the config text is read. No
 * `char NAME[N]` yet: clang encodes `char` as SIGNED, not CHAR, which elf::externs refuses
 * for arrays today (issue 18, branch rules18, changes that rule; add one once it lands).
 *   clang -target bpf -O2 -g -c kconfig.bpf.c -o kconfig.o && llvm-strip -g kconfig.o -o kconfig.bpf.o */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(x) __attribute__((section(x), used))
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };
extern u32 LINUX_KERNEL_VERSION __kconfig __weak;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig __weak;
extern u64 LINUX_FUTURE __kconfig __weak;
extern _Bool CONFIG_BOOL __kconfig __weak;
extern enum libbpf_tristate CONFIG_TRI __kconfig __weak;
extern char CONFIG_CHAR __kconfig __weak;
extern u8 CONFIG_U8 __kconfig __weak;
extern short CONFIG_S16 __kconfig __weak;
extern int CONFIG_INT __kconfig __weak;
extern u64 CONFIG_U64 __kconfig __weak;
extern long long CONFIG_S64 __kconfig __weak;
SEC("xdp") int prog(void *ctx)
{
    return LINUX_KERNEL_VERSION + LINUX_HAS_BPF_COOKIE + LINUX_HAS_SYSCALL_WRAPPER + LINUX_FUTURE +
           CONFIG_BOOL + CONFIG_TRI + CONFIG_CHAR + CONFIG_U8 + CONFIG_S16 +
           CONFIG_INT + CONFIG_U64 + CONFIG_S64;
}
char LICENSE[] SEC("license") = "GPL";
