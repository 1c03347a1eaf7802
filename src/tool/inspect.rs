//! `tcpconnect inspect [OBJECT] [--bytes] [--core [--btf PATH]]`: the loader's tour of an object
//! (the embedded one by default), and with `--core` what CO-RE does to it on this kernel.

use std::path::Path;

use anyhow::Result;
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;

/// Prints the tour on stdout (a closed pipe, `| head`, is not an error).
pub fn run(path: Option<&Path>, core: bool, btf: Option<&Path>, bytes: bool) -> Result<()> {
    let object = super::read_object(path)?;
    let spec = ObjectSpec::parse(&object)?;
    let title = match path {
        Some(path) => path.display().to_string(),
        None => "bpf/main.bpf.o (embedded in tcpconnect)".to_string(),
    };
    let mut text =
        ebpf_loader::inspect::render_with(&spec, &title, &ebpf_loader::inspect::Options { bytes });
    if core {
        let target = super::kernel_btf(btf)?;
        let target_name = match btf {
            Some(path) => path.display().to_string(),
            None => format!("this kernel ({})", btf::kernel::VMLINUX_BTF),
        };
        text.push_str(&ebpf_loader::inspect::render_core(
            &spec,
            &target,
            &target_name,
        ));
    }
    super::print::write_stdout(&text)?;
    Ok(())
}
