//! cgroup programs on a cgroup v2 directory of the test's own (root), each proved by what a
//! child process in that cgroup gets from the kernel: a `cgroup/connect4` program refuses
//! its connect to one port (EPERM) and lets another through, attached with a BPF link and
//! with `BPF_PROG_ATTACH`; a `cgroup_skb/egress` program counts exactly the child's
//! datagrams; a `cgroup/sock_create` program refuses it one socket type. The test's own
//! process, outside the cgroup, is never refused. Traffic stays in a network namespace of
//! the test's own (the forked child inherits the thread's). The programs are
//! tests/fixtures/cgroup.bpf.c's. Where the kernel has no cgroup v2 and it cannot be
//! mounted, each test says so and returns.

mod harness;

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use harness::cgroup::{connect4, errno_of, send_datagrams, TestCgroup};

use ebpf_loader::attach::{self, AttachError, AttachMethod, AttachOptions, Probe, Via};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object, TargetBtf};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/cgroup.bpf.o");

/// `program` of cgroup.bpf.o, its `.rodata` set by `configure`.
fn load(program: &str, configure: impl FnOnce(&mut ObjectSpec)) -> Object {
    ebpf_loader::features::memlock::ensure();
    let mut spec = ObjectSpec::parse(OBJECT).unwrap();
    configure(&mut spec);
    let kernel = btf::kernel::load().ok();
    Object::load(
        &spec,
        &LoadOptions {
            programs: vec![program.into()],
            target_btf: kernel.as_ref().map_or(TargetBtf::Off, TargetBtf::Btf),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn denying(port: u16) -> Object {
    load("deny_port", |spec| {
        spec.set_global("denied_port", &port).unwrap()
    })
}

fn counter(object: &Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}

/// The test's cgroup, or `None` (printed why) where there is no cgroup v2.
fn cgroup(name: &str) -> Option<TestCgroup> {
    match TestCgroup::new(name) {
        Ok(cgroup) => Some(cgroup),
        Err(reason) => {
            eprintln!("skipped: {reason}");
            None
        }
    }
}

/// A TCP listener on 127.0.0.1 of the calling thread's namespace, and its port.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The child in `cgroup` connects to `ports` in turn: the errno of each (0: connected).
fn child_connects(cgroup: &TestCgroup, ports: [u16; 2]) -> [i32; 2] {
    cgroup.run(|| {
        [
            connect4(libc::SOCK_STREAM, ports[0]),
            connect4(libc::SOCK_STREAM, ports[1]),
        ]
    })
}

#[test]
fn cgroup_connect4_link_refuses_one_port_to_the_cgroup_only() {
    let Some(cgroup) = cgroup("connect4-link") else {
        return;
    };
    let _ns = harness::netns::NetNs::enter().unwrap();
    let ((_denied_listener, denied), (_other_listener, other)) = (listener(), listener());
    let object = denying(denied);
    let program = object.program("deny_port").unwrap();
    let link = attach::cgroup::attach(program, cgroup.path(), &AttachOptions::default()).unwrap();
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::Cgroup,
            via: Via::BpfLink
        }
    );
    assert_eq!(
        link.target(),
        format!("cgroup {} (cgroup/connect4)", cgroup.path().display())
    );
    assert_eq!(child_connects(&cgroup, [denied, other]), [libc::EPERM, 0]);
    assert_eq!(counter(&object, "connects_denied"), 1);
    assert_eq!(counter(&object, "connects_allowed"), 1);
    // The test's own process is in another cgroup: its connect is not seen.
    std::net::TcpStream::connect(("127.0.0.1", denied)).unwrap();
    assert_eq!(counter(&object, "connects_denied"), 1);
    {
        let _quiet = harness::cgroup::quiet();
        link.detach().unwrap();
    }
    assert_eq!(child_connects(&cgroup, [denied, other]), [0, 0]);
    assert_eq!(counter(&object, "connects_denied"), 1);
}

#[test]
fn cgroup_connect4_prog_attach_detaches_exactly_its_own_program() {
    let Some(cgroup) = cgroup("connect4-attach") else {
        return;
    };
    let _ns = harness::netns::NetNs::enter().unwrap();
    let ((_first_listener, first), (_second_listener, second)) = (listener(), listener());
    let opts = AttachOptions {
        force_prog_attach: true,
        ..Default::default()
    };
    let (deny_first, deny_second) = (denying(first), denying(second));
    let first_link = attach::cgroup::attach(
        deny_first.program("deny_port").unwrap(),
        cgroup.path(),
        &opts,
    )
    .unwrap();
    assert_eq!(
        first_link.method(),
        AttachMethod {
            probe: Probe::Cgroup,
            via: Via::ProgAttach
        }
    );
    assert_eq!(first_link.method().to_string(), "cgroup + BPF_PROG_ATTACH");
    assert!(first_link
        .method()
        .fallback()
        .unwrap()
        .starts_with("BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI instead of a BPF link"));
    // BPF_F_ALLOW_MULTI: the second runs beside the first.
    let second_link = attach::cgroup::attach(
        deny_second.program("deny_port").unwrap(),
        cgroup.path(),
        &opts,
    )
    .unwrap();
    assert_eq!(
        child_connects(&cgroup, [first, second]),
        [libc::EPERM, libc::EPERM]
    );
    // Dropping the first detaches it alone (BPF_PROG_DETACH names the program), even with
    // its object gone first: the link holds its own fd of the program.
    drop(deny_first);
    {
        let _quiet = harness::cgroup::quiet();
        drop(first_link);
    }
    assert_eq!(child_connects(&cgroup, [first, second]), [0, libc::EPERM]);
    {
        let _quiet = harness::cgroup::quiet();
        second_link.detach().unwrap();
    }
    assert_eq!(child_connects(&cgroup, [first, second]), [0, 0]);
    assert_eq!(counter(&deny_second, "connects_denied"), 2);
}

#[test]
fn cgroup_skb_egress_counts_exactly_the_childs_datagrams() {
    let Some(cgroup) = cgroup("egress") else {
        return;
    };
    let _ns = harness::netns::NetNs::enter().unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let object = load("count_egress", |spec| {
        spec.set_global("counted_port", &port).unwrap()
    });
    let link = attach::by_section(
        object.program("count_egress").unwrap(),
        &AttachOptions::default(),
    );
    // The section names no cgroup: the error says which function takes one.
    match link {
        Err(AttachError::NoTarget { method, .. }) => {
            assert!(method.starts_with("attach::cgroup::attach("), "{method}")
        }
        other => panic!("{other:?}"),
    }
    let link = attach::cgroup::attach(
        object.program("count_egress").unwrap(),
        cgroup.path(),
        &AttachOptions::default(),
    )
    .unwrap();
    assert_eq!(cgroup.run(|| [send_datagrams(port, 5)]), [0]);
    assert_eq!(counter(&object, "egress_packets"), 5);
    // Datagrams of the test's own process (another cgroup) are not counted; all arrive
    // (the program returns 1: pass).
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        sender.send_to(&[1; 8], ("127.0.0.1", port)).unwrap();
    }
    let mut buf = [0u8; 16];
    for _ in 0..8 {
        assert_eq!(receiver.recv_from(&mut buf).unwrap().0, 8);
    }
    assert_eq!(counter(&object, "egress_packets"), 5);
    {
        let _quiet = harness::cgroup::quiet();
        drop(link);
    }
    assert_eq!(cgroup.run(|| [send_datagrams(port, 2)]), [0]);
    assert_eq!(counter(&object, "egress_packets"), 5);
}

#[test]
fn cgroup_sock_create_refuses_one_socket_type() {
    let Some(cgroup) = cgroup("sock-create") else {
        return;
    };
    let object = load("refuse_type", |spec| {
        spec.set_global("refused_type", &(libc::SOCK_DGRAM as u32))
            .unwrap()
    });
    let link = attach::cgroup::attach(
        object.program("refuse_type").unwrap(),
        cgroup.path(),
        &AttachOptions::default(),
    )
    .unwrap();
    let socket = |kind: i32| {
        // SAFETY: a plain socket call; the fd is closed at once.
        let fd = unsafe { libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, 0) };
        let errno = errno_of(fd as i64);
        if fd >= 0 {
            // SAFETY: our own fd.
            unsafe { libc::close(fd) };
        }
        errno
    };
    assert_eq!(
        cgroup.run(|| [socket(libc::SOCK_DGRAM), socket(libc::SOCK_STREAM)]),
        [libc::EPERM, 0]
    );
    assert_eq!(counter(&object, "sockets_refused"), 1);
    {
        let _quiet = harness::cgroup::quiet();
        drop(link);
    }
    assert_eq!(
        cgroup.run(|| [socket(libc::SOCK_DGRAM), socket(libc::SOCK_STREAM)]),
        [0, 0]
    );
    assert_eq!(counter(&object, "sockets_refused"), 1);
}

#[test]
fn cgroup_attach_refuses_what_is_not_a_cgroup_v2_directory() {
    let object = denying(1);
    let program = object.program("deny_port").unwrap();
    let error =
        attach::cgroup::attach(program, Path::new("/proc"), &AttachOptions::default()).unwrap_err();
    assert!(matches!(error, AttachError::NotACgroup { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "/proc is not a cgroup v2 directory: not in a cgroup2 filesystem (its filesystem's \
         magic is 0x9fa0; see `mount -t cgroup2`)"
    );
    let missing = Path::new("/sys/fs/cgroup/no-such-cgroup-of-ebpf-loader");
    let error = attach::cgroup::attach(program, missing, &AttachOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} is not a cgroup v2 directory: No such file or directory (os error 2)",
            missing.display()
        )
    );
    // The program is attached nowhere: only the object holds it.
    let info = program.info().unwrap();
    drop(object);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ebpf_loader::load::program_info_by_id(info.id)
        .unwrap()
        .is_some()
    {
        assert!(std::time::Instant::now() < deadline, "program still held");
        std::thread::sleep(Duration::from_millis(10));
    }
}
