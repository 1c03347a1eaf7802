//! Which container a process belongs to, from its cgroup v2 id: the id the kernel gives
//! (`bpf_get_current_cgroup_id`) is the inode number of the cgroup's directory in the v2
//! hierarchy, so the directory is found again by walking the hierarchy, even after the
//! process has exited; the path names the container, as each runtime lays its cgroups out.
//! A container that connects and exits at once takes its cgroup with it, often before its
//! event is read: so a thread watches the hierarchy with inotify and writes down each new
//! cgroup's inode as it is made, before any process runs in it.
//!
//! ABI: `Documentation/admin-guide/cgroup-v2.rst` (the hierarchy, `/proc/PID/cgroup`'s
//! `0::PATH` line); the cgroup v2 mount is found in `/proc/self/mountinfo` (`proc(5)`);
//! `inotify(7)` (`IN_CREATE` of each directory, which `mkdir(2)` on cgroupfs sends).
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
use std::sync::{Arc, Mutex};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

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

/// Finds a cgroup's path from its id, remembering what it found: first what the watching
/// thread wrote down, then a walk of the hierarchy (a cgroup made while nothing watched),
/// at most once per id.
pub struct CgroupNames {
    root: PathBuf,
    known: HashMap<u64, String>,
    /// Ids a walk did not find: not walked for again.
    unknown: HashMap<u64, ()>,
    /// What the watching thread has seen made since it was last taken.
    watched: Option<Arc<Mutex<HashMap<u64, String>>>>,
}

impl CgroupNames {
    /// Names under the v2 hierarchy mounted at `root`, without a watching thread.
    pub fn new(root: PathBuf) -> CgroupNames {
        CgroupNames {
            root,
            known: HashMap::new(),
            unknown: HashMap::new(),
            watched: None,
        }
    }

    /// The v2 hierarchy of this system, if it has one, watched by a thread from now on
    /// (where inotify is refused, only walked).
    pub fn of_this_system() -> Option<CgroupNames> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mut names = CgroupNames::new(cgroup2_mount(&mountinfo)?);
        names.watched = CgroupWatch::start(names.root.clone());
        Some(names)
    }

    /// The path (below the hierarchy's root, `/` for the root) of cgroup `id`.
    pub fn path(&mut self, id: u64) -> Option<&str> {
        if !self.known.contains_key(&id) {
            self.take_watched();
        }
        if !self.known.contains_key(&id) && !self.unknown.contains_key(&id) {
            self.walk();
            if !self.known.contains_key(&id) {
                self.unknown.insert(id, ());
            }
        }
        self.known.get(&id).map(String::as_str)
    }

    /// Moves what the watching thread has seen into `known`.
    fn take_watched(&mut self) {
        if let Some(watched) = &self.watched {
            if let Ok(mut seen) = watched.lock() {
                self.known.extend(seen.drain());
            }
        }
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

/// The watching thread's state: an inotify watch (`IN_CREATE`) on every directory of the
/// hierarchy, and the inode and path of each directory made since it started.
struct CgroupWatch {
    root: PathBuf,
    inotify: Inotify,
    /// Watch descriptor -> the directory it watches.
    dirs: HashMap<WatchDescriptor, PathBuf>,
    seen: Arc<Mutex<HashMap<u64, String>>>,
}

impl CgroupWatch {
    /// Watches the hierarchy as it is now, here (so that the tool is not ready before
    /// the watch is: a container started just after could otherwise come and go unseen),
    /// then starts the thread that follows it; `None` where inotify cannot be had (the
    /// caller then walks).
    fn start(root: PathBuf) -> Option<Arc<Mutex<HashMap<u64, String>>>> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC).ok()?;
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let mut watch = CgroupWatch {
            root,
            inotify,
            dirs: HashMap::new(),
            seen: Arc::clone(&seen),
        };
        watch.watch_tree(watch.root.clone());
        std::thread::Builder::new()
            .name("cgroup-watch".into())
            .spawn(move || watch.run())
            .ok()?;
        Some(seen)
    }

    fn run(&mut self) {
        // Until the process exits; a read error (none expected) ends the watching.
        while let Ok(events) = self.inotify.read_events() {
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.dirs.remove(&event.wd);
                    continue;
                }
                let is_new_dir = event
                    .mask
                    .contains(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ISDIR);
                if let (true, Some(parent), Some(name)) =
                    (is_new_dir, self.dirs.get(&event.wd), event.name.as_deref())
                {
                    let dir = parent.join(name);
                    self.watch_tree(dir);
                }
            }
        }
    }

    /// Watches `top` and every directory below it (watch first, then list, so that a
    /// directory made meanwhile is either listed or announced), and writes each down.
    fn watch_tree(&mut self, top: PathBuf) {
        let mut pending = vec![top];
        while let Some(dir) = pending.pop() {
            if self.dirs.len() >= MAX_WATCHED {
                return;
            }
            let Ok(wd) = self
                .inotify
                .add_watch(&dir, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ONLYDIR)
            else {
                continue; // gone already, or out of watches
            };
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(meta.ino(), relative_path(&self.root, &dir));
            }
            self.dirs.insert(wd, dir.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(entry.path());
                }
            }
        }
    }
}

/// At most this many directories watched (`fs.inotify.max_user_watches` is often 8192 to
/// a few hundred thousand); beyond it, cgroups are found by walking only.
const MAX_WATCHED: usize = 65_536;

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

    /// A cgroup made and removed before its id is asked for (a container that connects
    /// and exits at once) is still named: the watching thread wrote it down when it was
    /// made. Root, and a cgroup v2 hierarchy, else nothing to test.
    #[test]
    fn a_cgroup_gone_before_it_is_asked_for_is_named_from_the_watch() {
        let Some(mut names) = CgroupNames::of_this_system() else {
            return;
        };
        let Some(watched) = names.watched.clone() else {
            panic!("no inotify watch of the cgroup hierarchy");
        };
        let name = format!("tcpconnect-test-watch-{}", std::process::id());
        let dir = names.root.join(&name);
        if let Err(e) = std::fs::create_dir(&dir) {
            eprintln!("cannot make a cgroup here ({e}): nothing to test");
            return;
        }
        let id = std::fs::metadata(&dir).unwrap().ino();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !watched.lock().unwrap().contains_key(&id) {
            if std::time::Instant::now() > deadline {
                let _ = std::fs::remove_dir(&dir);
                panic!("the watch never saw {}", dir.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(names.path(id), Some(format!("/{name}").as_str()));
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
