//! Which container a process belongs to, from its cgroup v2 id: the id the kernel gives
//! (`bpf_get_current_cgroup_id`) is the inode number of the cgroup's directory in the v2
//! hierarchy, so the directory is found again by walking the hierarchy, even after the
//! process has exited; the path names the container, as each runtime lays its cgroups out.
//!
//! ABI: `Documentation/admin-guide/cgroup-v2.rst` (the hierarchy, `/proc/PID/cgroup`'s
//! `0::PATH` line); the cgroup v2 mount is found in `/proc/self/mountinfo` (`proc(5)`).
//! The paths are the runtimes' conventions, with the cgroupfs and the systemd drivers:
//!
//! | runtime | cgroup path (the container id is 64 hex digits) |
//! |---|---|
//! | docker | `/docker/ID`, `/system.slice/docker-ID.scope` |
//! | containerd (CRI) | `/kubepods/burstable/podUID/ID`, `.../kubepods-burstable-podUID.slice/cri-containerd-ID.scope` |
//! | CRI-O | `.../crio-ID.scope`, `/kubepods/.../podUID/crio-ID` |
//! | podman | `/machine.slice/libpod-ID.scope[/container]`, `/libpod_parent/libpod-ID` |
//!
//! Unknown stays unknown: a path that matches none of these names no container.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A container, as its cgroup path names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `docker`, `containerd`, `cri-o` or `podman`.
    pub runtime: &'static str,
    /// The container id: 64 hex digits.
    pub id: String,
    /// The Kubernetes pod's UID, when the path has a `pod...` component.
    pub pod_uid: Option<String>,
}

/// Is `text` a container id: 64 lowercase hex digits?
fn is_container_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The pod UID of a `pod<UID>` or `kubepods-<class>-pod<UID>.slice` component (the systemd
/// driver writes the UID's dashes as underscores).
fn pod_uid(component: &str) -> Option<String> {
    let rest = component.strip_suffix(".slice").unwrap_or(component);
    let uid = rest.rsplit_once("pod").map(|(_, uid)| uid)?;
    let uid = uid.replace('_', "-");
    let ok = uid.len() == 36
        && uid.chars().enumerate().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (c == '-') && (c == '-' || c.is_ascii_hexdigit())
        });
    ok.then_some(uid)
}

/// The container a cgroup path names, if any (see the module's table).
pub fn container_of(cgroup: &str) -> Option<Container> {
    let components: Vec<&str> = cgroup.split('/').filter(|c| !c.is_empty()).collect();
    let pod = components.iter().find_map(|c| pod_uid(c));
    let kubernetes = components.iter().any(|c| c.starts_with("kubepods"));
    // The innermost component that holds an id decides (podman nests `/container` below).
    for (index, component) in components.iter().enumerate().rev() {
        let name = component.strip_suffix(".scope").unwrap_or(component);
        let (prefix, id) = match name.rsplit_once('-') {
            Some((prefix, id)) if is_container_id(id) => (prefix, id),
            _ if is_container_id(name) => ("", name),
            _ => continue,
        };
        let parent = index
            .checked_sub(1)
            .and_then(|i| components.get(i))
            .copied();
        let runtime = match prefix {
            "docker" => "docker",
            "cri-containerd" => "containerd",
            "crio" => "cri-o",
            "libpod" => "podman",
            // A bare id: its parent directory says whose it is.
            "" => match parent {
                Some("docker") => "docker",
                Some(_) if kubernetes => "containerd",
                _ => continue,
            },
            _ => continue,
        };
        return Some(Container {
            runtime,
            id: id.to_string(),
            pod_uid: pod,
        });
    }
    None
}

/// Where the cgroup v2 hierarchy is mounted, from a `/proc/self/mountinfo` text: the mount
/// point of the first `cgroup2` file system (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
/// on a hybrid setup).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fs_type = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fs_type == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// Finds a cgroup's path from its id, remembering what it found; a miss walks the
/// hierarchy again (a cgroup created since the last walk), at most once per id.
pub struct CgroupNames {
    root: PathBuf,
    known: HashMap<u64, String>,
    /// Ids a walk did not find: not looked for again.
    unknown: HashMap<u64, ()>,
}

impl CgroupNames {
    /// Names under the v2 hierarchy mounted at `root`.
    pub fn new(root: PathBuf) -> CgroupNames {
        CgroupNames {
            root,
            known: HashMap::new(),
            unknown: HashMap::new(),
        }
    }

    /// The v2 hierarchy of this system, if it has one.
    pub fn of_this_system() -> Option<CgroupNames> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        cgroup2_mount(&mountinfo).map(CgroupNames::new)
    }

    /// The path (below the hierarchy's root, `/` for the root) of cgroup `id`.
    pub fn path(&mut self, id: u64) -> Option<&str> {
        if !self.known.contains_key(&id) && !self.unknown.contains_key(&id) {
            self.walk();
            if !self.known.contains_key(&id) {
                self.unknown.insert(id, ());
            }
        }
        self.known.get(&id).map(String::as_str)
    }

    /// Records every directory of the hierarchy by inode number.
    fn walk(&mut self) {
        let mut pending = vec![self.root.clone()];
        // Bounded: a hierarchy of more directories than this is cut short.
        let mut budget = 100_000usize;
        while let Some(dir) = pending.pop() {
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            let relative = relative_path(&self.root, &dir);
            self.known.insert(meta.ino(), relative);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if budget == 0 {
                    return;
                }
                budget -= 1;
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(entry.path());
                }
            }
        }
        self.unknown.clear();
    }
}

/// `dir` below `root`, as `/a/b` (`/` for the root itself).
fn relative_path(root: &Path, dir: &Path) -> String {
    let below = dir.strip_prefix(root).unwrap_or(dir);
    format!("/{}", below.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f00";

    #[test]
    fn each_runtimes_paths_name_the_container() {
        let cases = [
            (format!("/docker/{ID}"), "docker", None),
            (format!("/system.slice/docker-{ID}.scope"), "docker", None),
            (
                format!("/kubepods/burstable/pod0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/{ID}"),
                "containerd",
                Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"),
            ),
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/\
                     kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice/\
                     cri-containerd-{ID}.scope"
                ),
                "containerd",
                Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"),
            ),
            (
                format!(
                    "/kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice/crio-{ID}.scope"
                ),
                "cri-o",
                Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"),
            ),
            (format!("/machine.slice/libpod-{ID}.scope/container"), "podman", None),
            (format!("/libpod_parent/libpod-{ID}"), "podman", None),
        ];
        for (path, runtime, pod) in cases {
            let found = container_of(&path).unwrap_or_else(|| panic!("nothing in {path}"));
            assert_eq!(found.runtime, runtime, "{path}");
            assert_eq!(found.id, ID, "{path}");
            assert_eq!(found.pod_uid.as_deref(), pod, "{path}");
        }
    }

    #[test]
    fn paths_of_no_container_name_none() {
        for path in [
            "/",
            "/user.slice/user-1000.slice/session-3.scope",
            "/system.slice/ssh.service",
            "/docker/not-an-id",
            &format!("/something/{}", &ID[..63]),
            // A bare id whose parent says nothing of a runtime: not guessed.
            &format!("/mystery/{ID}"),
        ] {
            assert_eq!(container_of(path), None, "{path}");
        }
    }

    #[test]
    fn the_cgroup2_mount_is_found_in_mountinfo() {
        let hybrid = "31 25 0:27 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let v1_only = "31 25 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(cgroup2_mount(v1_only), None);
    }

    #[test]
    fn this_process_cgroup_is_found_by_its_inode() {
        let Some(mut names) = CgroupNames::of_this_system() else {
            return; // no cgroup v2 hierarchy on this machine
        };
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap()
            .to_string();
        let dir = names.root.join(own.trim_start_matches('/'));
        let id = std::fs::metadata(&dir).unwrap().ino();
        assert_eq!(names.path(id), Some(own.as_str()));
        assert_eq!(names.path(u64::MAX), None);
    }
}
