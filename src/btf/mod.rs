//! BTF, the BPF Type Format: the `.BTF` section of an object and the kernel's own
//! `/sys/kernel/btf/vmlinux`.
//!
//! ABI: `include/uapi/linux/btf.h`; described in `Documentation/bpf/btf.rst`.
