/* Source of fuzz/seeds/parse_relocate/tiny.bpf.o, a small seed with every kind of
 * relocation: clang -target bpf -O2 -g -c tiny.bpf.c -o tiny.o && llvm-strip -g tiny.o -o tiny.bpf.o */
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(x) __attribute__((section(x), used))
struct { int (*type)[2]; int (*max_entries)[4]; u32 *key; u64 *value; } m SEC(".maps");
static long (*lookup)(void *, const void *) = (void *)1;
const volatile u32 k = 3;
u64 counter;
static __attribute__((noinline)) int helper(int x) { return x + k; }
SEC("xdp") int prog(void *ctx) {
    u32 key = k;
    u64 *v = (u64 *)lookup(&m, &key);
    counter++;
    return v ? helper((int)*v) : 2;
}
SEC("tp/syscalls/sys_enter_openat") int tp(void *ctx) { return helper(1); }
char LICENSE[] SEC("license") = "GPL";
