//! Any bytes as BTF: the first two bytes (little-endian) give the length of the `.BTF`
//! part, the rest is read as its `.BTF.ext`. Every type is decoded and sized.
//! tests/elf/corpus.rs runs the same steps over fuzz/seeds and fuzz/regressions.
#![no_main]

use ebpf_loader::btf::ext::BtfExt;
use ebpf_loader::btf::Btf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (btf, ext) = rest.split_at(len);
    let Ok(btf) = Btf::parse(btf.to_vec()) else {
        return;
    };
    for id in 0..btf.len() {
        let _ = btf.type_by_id(id);
        let _ = btf.resolve_size(id);
        let _ = btf.skip_mods_and_typedefs(id);
    }
    let _ = BtfExt::parse(ext, &btf);
});
