//! Iterators with their parameters, on the running kernel (root), each read through its
//! own fd ([`Link::read_iter`]) and compared with what the test made: a map iterator lists
//! exactly the elements the test put in the map it was given, and their sum; a task
//! iterator restricted to this process lists exactly its threads (the test's own among
//! them, by name), one restricted to a thread that thread only; a cgroup iterator started
//! at a cgroup the test made walks exactly the cgroups it made, in each order. Refusals:
//! a map iterator given no map, a task parameter on a kernel whose iterators take none
//! (5.10). The programs are tests/fixtures/iter.bpf.c's. Each test skips, saying why, only
//! where a probe of the running kernel says it lacks the feature
//! (`ebpf_loader::features::iter`).

mod harness;

use std::collections::BTreeSet;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use ebpf_loader::attach::iter::{self, CgroupOrder, CgroupStart, IterParams, TaskScope};
use ebpf_loader::attach::{self, AttachOptions, Link, Probe, Via};
use ebpf_loader::elf::{MapSpec, ObjectSpec};
use ebpf_loader::features::iter::{iter_params, iter_target};
use ebpf_loader::load::{LoadError, LoadOptions, Map, Object, TargetBtf};
use ebpf_loader::uapi::MapType;

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/iter.bpf.o");

/// `programs` of iter.bpf.o, loaded against the kernel's BTF (an iterator program names
/// its target, `bpf_iter_NAME`, by its BTF id).
fn load(programs: &[&str]) -> Object {
    ebpf_loader::features::memlock::ensure();
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    Object::load(
        &ObjectSpec::parse(OBJECT).unwrap(),
        &LoadOptions {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            target_btf: TargetBtf::Btf(&kernel),
            kernel_btf: Some(&kernel),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `sum_elems` loaded, or `None` (said why) where this kernel refuses `iter/bpf_map_elem`
/// programs with `EPERM` before verifying a single instruction: this project's 6.18 host
/// does (under `lockdown=integrity`; libbpf's `bpftool prog loadall` is refused the same),
/// Debian's 5.10, 6.1 and 6.12 load them.
fn load_map_iterator() -> Option<Object> {
    ebpf_loader::features::memlock::ensure();
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    let loaded = Object::load(
        &ObjectSpec::parse(OBJECT).unwrap(),
        &LoadOptions {
            programs: vec!["sum_elems".into()],
            target_btf: TargetBtf::Btf(&kernel),
            kernel_btf: Some(&kernel),
            ..Default::default()
        },
    );
    let error = match loaded {
        Ok(object) => return Some(object),
        Err(error) => error,
    };
    match &error {
        LoadError::Refused { error: refused, .. } | LoadError::Program(refused)
            if refused.error.errno == libc::EPERM =>
        {
            eprintln!("skipped: this kernel refuses iter/bpf_map_elem programs: {error}");
            None
        }
        _ => panic!("{error}"),
    }
}

/// What the iterator wrote, as lines.
fn read(link: &Link) -> Vec<String> {
    let out = link.read_iter().unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn is_iterator(link: &Link) {
    assert_eq!(link.method().probe, Probe::Iterator);
    assert_eq!(link.method().via, Via::BpfLink);
}

/// `key -> value` into a map of `__u32` keys and `__u64` values.
fn put(map: &Map, elems: &[(u32, u64)]) {
    for (key, value) in elems {
        map.update(&key.to_ne_bytes(), &value.to_ne_bytes(), 0)
            .unwrap();
    }
}

/// What `sum_elems` writes for these elements: a line per element (in the map's order:
/// sorted here), then the count and the sum.
fn elem_lines(out: &[String]) -> (BTreeSet<String>, String) {
    let (last, elems) = out.split_last().expect("at least the count line");
    (elems.iter().cloned().collect(), last.clone())
}

fn expected(elems: &[(u32, u64)]) -> (BTreeSet<String>, String) {
    let lines = elems.iter().map(|(k, v)| format!("elem {k} {v}")).collect();
    let sum: u64 = elems.iter().map(|(_, v)| v).sum();
    (lines, format!("count {} sum {sum}", elems.len()))
}

#[test]
fn a_map_iterator_lists_exactly_the_elements_of_the_map_it_was_given() {
    let Some(object) = load_map_iterator() else {
        return;
    };
    let program = object.program("sum_elems").unwrap();
    let elems = object.map("elems").unwrap();
    let put_in: Vec<(u32, u64)> = (1..=5).map(|k| (k, u64::from(k) * 1000 + 7)).collect();
    put(elems, &put_in);
    let link = iter::attach_with(program, &IterParams::Map(elems)).unwrap();
    is_iterator(&link);
    assert_eq!(link.target(), "iter bpf_map_elem (map elems)");
    assert_eq!(elem_lines(&read(&link)), expected(&put_in));
    // Each reading runs the program again over what the map holds then.
    assert!(elems.delete(&3u32.to_ne_bytes()).unwrap());
    let left: Vec<(u32, u64)> = put_in.iter().copied().filter(|(k, _)| *k != 3).collect();
    assert_eq!(elem_lines(&read(&link)), expected(&left));

    // Another map of the same sizes, made by the test: the parameter is what is walked.
    let other = Map::create(&MapSpec {
        name: "iter_other".into(),
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 8,
        ..MapSpec::default()
    })
    .unwrap();
    put(&other, &[(42, 1), (43, 2)]);
    let link = iter::attach_with(program, &IterParams::Map(&other)).unwrap();
    assert_eq!(link.target(), "iter bpf_map_elem (map iter_other)");
    assert_eq!(elem_lines(&read(&link)), expected(&[(42, 1), (43, 2)]));
    let empty = Map::create(&MapSpec {
        name: "iter_empty".into(),
        ..other.spec().clone()
    })
    .unwrap();
    let link = iter::attach_with(program, &IterParams::Map(&empty)).unwrap();
    assert_eq!(read(&link), ["count 0 sum 0"]);
}

#[test]
fn a_map_iterator_given_no_map_is_refused_before_the_kernel_is_asked() {
    let Some(object) = load_map_iterator() else {
        return;
    };
    let program = object.program("sum_elems").unwrap();
    let expected = "program sum_elems (iter/bpf_map_elem): it needs a map (IterParams::Map; 5.9)";
    assert_eq!(iter::attach(program).unwrap_err().to_string(), expected);
    // Attached where its section says: the same refusal.
    let by_section = attach::by_section(program, &AttachOptions::default()).unwrap_err();
    assert_eq!(by_section.to_string(), expected);
    let pid = std::process::id();
    let error = iter::attach_with(program, &IterParams::Task(TaskScope::Process(pid))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "program sum_elems (iter/bpf_map_elem): it takes no task parameter (it takes a map \
         (IterParams::Map; 5.9))"
    );
}

/// The calling thread's id.
fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions (called by number: musl's libc crate may lack
    // the wrapper, and the guests' tests are built for musl).
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// The tids of this process, from `/proc/self/task`.
fn own_threads() -> BTreeSet<u32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// `task TID PID COMM` lines, as (tid, pid, comm).
fn tasks(out: &[String]) -> Vec<(u32, u32, String)> {
    out.iter()
        .map(|line| {
            let mut words = line.splitn(4, ' ');
            assert_eq!(words.next(), Some("task"), "{line}");
            let mut number = || words.next().unwrap().parse::<u32>().unwrap();
            let (tid, pid) = (number(), number());
            (tid, pid, words.next().unwrap_or("").to_string())
        })
        .collect()
}

/// Threads named `iter-N` that wait until dropped: their tids, in order.
struct Threads {
    tids: Vec<u32>,
    stop: Vec<mpsc::Sender<()>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Threads {
    fn spawn(n: usize) -> Threads {
        let mut threads = Threads {
            tids: Vec::new(),
            stop: Vec::new(),
            handles: Vec::new(),
        };
        for i in 0..n {
            let (tid_tx, tid_rx) = mpsc::channel();
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let handle = std::thread::Builder::new()
                .name(format!("iter-{i}"))
                .spawn(move || {
                    tid_tx.send(gettid()).unwrap();
                    let _ = stop_rx.recv();
                })
                .unwrap();
            threads.tids.push(tid_rx.recv().unwrap());
            threads.stop.push(stop_tx);
            threads.handles.push(handle);
        }
        threads
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// `true`, and why not printed, where this kernel's iterators take task parameters.
fn task_params() -> bool {
    let has = iter_params().task;
    if !has {
        eprintln!(
            "skipped: this kernel's union bpf_iter_link_info has no member task (6.1): its \
             task iterators take no thread or process (the refusal is tested by \
             iterator_task_parameters_are_refused_where_the_kernel_lacks_them)"
        );
    }
    has
}

/// Reads `link` until `/proc/self/task` is the same before and after the reading (other
/// tests of this process start and end threads): the tasks read, and that listing.
fn read_threads(link: &Link) -> (Vec<(u32, u32, String)>, BTreeSet<u32>) {
    for _ in 0..50 {
        let before = own_threads();
        let seen = tasks(&read(link));
        if own_threads() == before {
            return (seen, before);
        }
    }
    panic!("this process's threads kept changing across 50 readings");
}

/// `pidfd_open(pid, 0)` (5.3; 434 on every architecture: the syscall tables agree from
/// 5.1 on).
fn pidfd_open(pid: u32) -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(434, pid as libc::c_long, 0 as libc::c_long) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

#[test]
fn a_task_iterator_of_this_process_lists_exactly_its_threads() {
    if !task_params() {
        return;
    }
    let threads = Threads::spawn(3);
    let object = load(&["list_tasks"]);
    let program = object.program("list_tasks").unwrap();
    let pid = std::process::id();
    let pidfd = pidfd_open(pid);
    let by_pid = iter::attach_with(program, &IterParams::Task(TaskScope::Process(pid))).unwrap();
    is_iterator(&by_pid);
    assert_eq!(by_pid.target(), format!("iter task (pid {pid})"));
    let by_pidfd = iter::attach_with(
        program,
        &IterParams::Task(TaskScope::ProcessFd(pidfd.as_fd())),
    )
    .unwrap();
    for link in [&by_pid, &by_pidfd] {
        let (seen, listed) = read_threads(link);
        let tids: BTreeSet<u32> = seen.iter().map(|(tid, _, _)| *tid).collect();
        assert_eq!(tids.len(), seen.len(), "each thread once: {seen:?}");
        assert_eq!(tids, listed, "{}", link.target());
        assert!(seen.iter().all(|(_, p, _)| *p == pid), "{seen:?}");
        for (i, tid) in threads.tids.iter().enumerate() {
            let comm = seen.iter().find(|(t, _, _)| t == tid).map(|(_, _, c)| c);
            assert_eq!(comm, Some(&format!("iter-{i}")), "thread {tid}");
        }
    }
    // Without the parameter: every task of the system, this process's threads among them.
    let all = iter::attach(program).unwrap();
    let every: BTreeSet<u32> = tasks(&read(&all)).iter().map(|(tid, _, _)| *tid).collect();
    assert!(threads.tids.iter().all(|tid| every.contains(tid)));
    // The process that started this one is a task too.
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() } as u32;
    assert!(every.contains(&parent), "{parent}");
}

#[test]
fn a_task_iterator_of_one_thread_lists_that_thread_only() {
    if !task_params() {
        return;
    }
    let threads = Threads::spawn(2);
    let object = load(&["list_tasks"]);
    let program = object.program("list_tasks").unwrap();
    let pid = std::process::id();
    // The process's leader, whose tid is its pid.
    let leader = iter::attach_with(program, &IterParams::Task(TaskScope::Thread(pid))).unwrap();
    assert_eq!(leader.target(), format!("iter task (tid {pid})"));
    let only = tasks(&read(&leader));
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!((only[0].0, only[0].1), (pid, pid));
    // A thread that is not the leader.
    let tid = threads.tids[1];
    let one = iter::attach_with(program, &IterParams::Task(TaskScope::Thread(tid))).unwrap();
    let only = tasks(&read(&one));
    if only.is_empty() {
        // Kernels before "bpf: Fix iter/task tid filtering" look the tid up as a thread
        // group's (PIDTYPE_TGID), which only a leader is: they find nothing.
        eprintln!(
            "skipped the non-leader thread: this kernel's iter/task finds no thread {tid} \
             by its tid (it looks tids up as thread groups; fixed upstream by \"bpf: Fix \
             iter/task tid filtering\")"
        );
        return;
    }
    assert_eq!(only, [(tid, pid, "iter-1".to_string())]);
}

#[test]
fn iterator_task_parameters_are_refused_where_the_kernel_lacks_them() {
    if iter_params().task {
        eprintln!(
            "skipped: this kernel's iterators take task parameters (the refusal on a \
             5.10-like union is tested in src/attach/iter.rs and src/features/iter.rs)"
        );
        return;
    }
    let object = load(&["list_tasks"]);
    let program = object.program("list_tasks").unwrap();
    let error =
        iter::attach_with(program, &IterParams::Task(TaskScope::Thread(gettid()))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "program list_tasks (iter/task): this kernel's iterators take no task parameter (its \
         union bpf_iter_link_info has no member \"task\"; a thread or process \
         (IterParams::Task; 6.1) needs a newer kernel)"
    );
    // Without one, the iterator walks every task, this thread among them.
    let all = iter::attach(program).unwrap();
    assert!(tasks(&read(&all))
        .iter()
        .any(|(tid, _, _)| *tid == gettid()));
}

/// Child cgroups made under a test cgroup, removed (deepest first) when dropped.
struct Children(Vec<PathBuf>);

impl Drop for Children {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// A cgroup's id: its directory's inode number in the cgroup2 filesystem.
fn cgroup_id(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// The ids `list_cgroups` wrote.
fn cgroups(out: &[String]) -> Vec<u64> {
    out.iter()
        .map(|line| {
            let id = line
                .strip_prefix("cgroup ")
                .unwrap_or_else(|| panic!("{line}"));
            id.parse().unwrap()
        })
        .collect()
}

#[test]
fn a_cgroup_iterator_walks_exactly_the_cgroups_the_test_made() {
    if !iter_target("cgroup") || !iter_params().cgroup {
        eprintln!("skipped: this kernel has no cgroup iterator (iter/cgroup, 6.1)");
        return;
    }
    let cgroup = match harness::cgroup::TestCgroup::new("iter") {
        Ok(cgroup) => cgroup,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let (a, b) = (cgroup.path().join("a"), cgroup.path().join("b"));
    let children = Children(vec![a.clone(), b.clone()]);
    for child in &children.0 {
        std::fs::create_dir(child).unwrap();
    }
    let [top, a_id, b_id] = [cgroup.path(), &a, &b].map(cgroup_id);
    let root = cgroup_id(&harness::cgroup::cgroup2_mount().unwrap());
    let object = load(&["list_cgroups"]);
    let program = object.program("list_cgroups").unwrap();
    let directory = std::fs::File::open(cgroup.path()).unwrap();
    let walk = |start: CgroupStart<'_>, order: CgroupOrder| {
        let link = iter::attach_with(program, &IterParams::Cgroup { start, order }).unwrap();
        is_iterator(&link);
        cgroups(&read(&link))
    };
    let from_top = || CgroupStart::Fd(directory.as_fd());
    assert_eq!(walk(from_top(), CgroupOrder::SelfOnly), [top]);
    assert_eq!(
        walk(from_top(), CgroupOrder::DescendantsPre),
        [top, a_id, b_id]
    );
    assert_eq!(
        walk(from_top(), CgroupOrder::DescendantsPost),
        [a_id, b_id, top]
    );
    assert_eq!(walk(CgroupStart::Id(top), CgroupOrder::SelfOnly), [top]);
    assert_eq!(
        walk(CgroupStart::Id(b_id), CgroupOrder::AncestorsUp),
        [b_id, top, root]
    );
    let link = iter::attach_with(
        program,
        &IterParams::Cgroup {
            start: CgroupStart::Id(a_id),
            order: CgroupOrder::DescendantsPre,
        },
    )
    .unwrap();
    assert_eq!(
        link.target(),
        format!("iter cgroup (cgroup id {a_id}, descendants, pre-order)")
    );
    assert_eq!(cgroups(&read(&link)), [a_id]);
    // The root of the hierarchy (a walk of all of it may outgrow the kernel's one
    // session of 8 pages on a machine of many cgroups: EOPNOTSUPP).
    assert_eq!(walk(CgroupStart::Root, CgroupOrder::SelfOnly), [root]);
    drop(link);
    drop(children);
}
