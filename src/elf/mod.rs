//! The object file: an ELF (`EM_BPF`) as clang writes it, read into an [`ObjectSpec`].
//!
//! ABI: the ELF format (`include/uapi/linux/elf.h`) and libbpf's conventions for section
//! names (`Documentation/bpf/libbpf/program_types.rst`).
