//! The container filters, applied in the kernel before an event costs any ring space:
//!
//! - `--cgroup PATH`: only tasks in that cgroup v2 directory or below. As libbpf-tools'
//!   `-c`: the directory's fd is stored at index 0 of the object's
//!   `BPF_MAP_TYPE_CGROUP_ARRAY` `cgroup_filter` (`BPF_MAP_UPDATE_ELEM` with the fd as the
//!   value), and the program asks `bpf_current_task_under_cgroup` (both documented in
//!   `include/uapi/linux/bpf.h`).
//! - `--cgroupmap PATH`, `--mntnsmap PATH`: BCC's pinned hash maps (BCC's
//!   `docs/special_filtering.md` and `bcc/containers.py`: `cgroupset`, key u64 cgroup id,
//!   value u64; `mount_ns_set`, key u64 mount namespace inode, value u32), created and filled
//!   by others (bpftool, BCC). The loader takes the pinned map in place of the object's
//!   (`LoadOptions::pinned_maps`, `BPF_OBJ_GET`), its type and key and value sizes checked.
//!   Its capacity is whatever its creator chose (the BCC document says 128 entries, BCC's
//!   code 1024): only keys are looked up, so the object's map is fitted to it.
//!
//! Each filter also sets its switch in `.rodata` (`filter_cgroup`, `filter_cgroupmap`,
//! `filter_mntnsmap`), so the verifier prunes the filters not asked for.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadError, Map, Object};
use ebpf_loader::uapi::BPF_ANY;

use super::cli::Cli;

/// The object's cgroup array for `--cgroup`.
pub const CGROUP_ARRAY: &str = "cgroup_filter";
/// The object's map that `--cgroupmap` replaces (BCC's name).
pub const CGROUP_SET: &str = "cgroupset";
/// The object's map that `--mntnsmap` replaces (BCC's name).
pub const MNTNS_SET: &str = "mount_ns_set";

/// What the filters need once the object is loaded.
#[derive(Debug, Default)]
pub struct Selection {
    /// What was set, for the tour.
    pub settings: Vec<String>,
    /// (object map, pin path) for `LoadOptions::pinned_maps`.
    pub pinned_maps: Vec<(String, PathBuf)>,
    /// `--cgroup`'s directory, open until its fd is in the cgroup array.
    cgroup_dir: Option<File>,
}

/// Sets the switches in `.rodata`, opens `--cgroup`'s directory and fits the object's maps
/// to the pinned ones.
pub fn configure(spec: &mut ObjectSpec, cli: &Cli) -> Result<Selection> {
    let mut selection = Selection::default();
    if let Some(dir) = &cli.cgroup {
        if !dir.is_dir() {
            bail!("--cgroup {}: not a directory", dir.display());
        }
        let file = File::open(dir).with_context(|| format!("--cgroup {}", dir.display()))?;
        spec.set_global("filter_cgroup", &1u8)
            .context("--cgroup needs an object with the container filters")?;
        selection.settings.push(format!(
            "filter_cgroup = 1: only tasks under {} (its fd in map {CGROUP_ARRAY})",
            dir.display()
        ));
        selection.cgroup_dir = Some(file);
    }
    for (flag, path, map, switch) in [
        (
            "--cgroupmap",
            &cli.cgroupmap,
            CGROUP_SET,
            "filter_cgroupmap",
        ),
        ("--mntnsmap", &cli.mntnsmap, MNTNS_SET, "filter_mntnsmap"),
    ] {
        let Some(path) = path else { continue };
        fit_to_pin(spec, map, path).with_context(|| format!("{flag} {}", path.display()))?;
        spec.set_global(switch, &1u8)
            .with_context(|| format!("{flag} needs an object with the container filters"))?;
        selection.settings.push(format!(
            "{switch} = 1: map {map} is the one pinned at {}",
            path.display()
        ));
        selection.pinned_maps.push((map.to_string(), path.clone()));
    }
    Ok(selection)
}

/// Checks the map pinned at `path` against the object's map `name` now, for a clear error,
/// and takes its `max_entries` (the one attribute a creator may choose freely).
fn fit_to_pin(spec: &mut ObjectSpec, name: &str, path: &Path) -> Result<()> {
    let index = spec
        .map_index(name)
        .with_context(|| format!("the object has no map {name}"))?;
    match Map::open_pinned(path, &spec.maps[index]) {
        Ok(_) => Ok(()),
        Err(LoadError::PinMismatch {
            field: "max_entries",
            found,
            ..
        }) => {
            spec.maps[index].max_entries = found;
            Map::open_pinned(path, &spec.maps[index])?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

impl Selection {
    /// Stores `--cgroup`'s directory in the cgroup array; before the programs are attached.
    pub fn apply(&mut self, object: &Object) -> Result<()> {
        let Some(dir) = self.cgroup_dir.take() else {
            return Ok(());
        };
        let map = object
            .map(CGROUP_ARRAY)
            .with_context(|| format!("the object has no map {CGROUP_ARRAY}"))?;
        let fd = dir.as_raw_fd() as u32;
        map.update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), BPF_ANY)
            .context(
                "--cgroup: storing the directory in the cgroup array (a cgroup v2 directory?)",
            )?;
        Ok(())
    }
}
