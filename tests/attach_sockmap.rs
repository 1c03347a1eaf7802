//! sockmap programs on a sockhash of connected TCP sockets of the test's own (root), in a
//! network namespace of its own: an `sk_msg` program moves what one socket writes into
//! another socket's receive queue (`bpf_msg_redirect_hash` with `BPF_F_INGRESS`), attached
//! with a BPF link where the kernel has sockmap links (6.10) and with `BPF_PROG_ATTACH`;
//! an `sk_skb/stream_verdict` program, and an `sk_skb/verdict` one (5.13), drop what a
//! socket of the map receives when it starts with one byte; a map that is no sockmap, and
//! a program that is no sockmap
//! program, are refused. The programs are tests/fixtures/sockmap.bpf.c's.

mod harness;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ebpf_loader::attach::{self, AttachError, AttachOptions, Link, Probe, Via};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object, TargetBtf};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/sockmap.bpf.o");

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

fn counter(object: &Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}

/// A connected pair on 127.0.0.1: the connecting end and the accepted one.
fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    for socket in [&client, &server] {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
    (client, server)
}

/// Puts `socket` in the object's sockhash under `key`.
fn put(object: &Object, key: u32, socket: &TcpStream) {
    let map = object.map("sock_hash").unwrap();
    map.update(
        &key.to_ne_bytes(),
        &(socket.as_raw_fd() as u32).to_ne_bytes(),
        0,
    )
    .unwrap();
}

/// Nothing to read on `socket` (non-blocking read: would block).
fn nothing_queued(socket: &TcpStream) {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let read = (&*socket).read(&mut buf);
    assert_eq!(read.unwrap_err().kind(), ErrorKind::WouldBlock);
    socket.set_nonblocking(false).unwrap();
}

fn read_exactly(socket: &TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    (&*socket).read_exact(&mut buf).unwrap();
    buf
}

/// Writes on the first pair's client arrive at the second pair's server: the sk_msg program
/// redirects every message of a socket of the map to the ingress of key 1. Then the link
/// is dropped: a socket put in the map after it runs no program (the kernel gives each
/// socket the map's programs when it is added).
fn sk_msg_redirects(link_of: impl FnOnce(&Object) -> Link) -> Link {
    let _ns = harness::netns::NetNs::enter().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = pair(&listener);
    let (_c, d) = pair(&listener);
    let object = load("redirect_msg", |spec| {
        spec.set_global("redirect_key", &1u32).unwrap()
    });
    let link = link_of(&object);
    assert_eq!(link.method().probe, Probe::Sockmap);
    assert_eq!(link.target(), "sockmap sock_hash (sk_msg verdict)");
    // The program first, then the sockets: each takes the map's programs when added.
    put(&object, 0, &a);
    put(&object, 1, &d);
    (&a).write_all(b"through the sockhash").unwrap();
    assert_eq!(read_exactly(&d, 20), b"through the sockhash");
    nothing_queued(&b);
    assert_eq!(counter(&object, "messages"), 1);

    // Detached: a socket added now is left alone.
    let method = link.method();
    drop(link);
    let (e, f) = pair(&listener);
    put(&object, 2, &e);
    (&e).write_all(b"direct").unwrap();
    assert_eq!(read_exactly(&f, 6), b"direct");
    nothing_queued(&d);
    assert_eq!(counter(&object, "messages"), 1);
    // A link with the method of the dropped one, for the caller's assertions.
    let object = load("redirect_msg", |_| {});
    let again = attach::sockmap::attach(
        object.program("redirect_msg").unwrap(),
        object.map("sock_hash").unwrap(),
        &AttachOptions {
            force_prog_attach: method.via == Via::ProgAttach,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(again.method(), method);
    again
}

#[test]
fn sockmap_sk_msg_redirects_bytes_with_the_kernels_way() {
    let link = sk_msg_redirects(|object| {
        attach::sockmap::attach(
            object.program("redirect_msg").unwrap(),
            object.map("sock_hash").unwrap(),
            &AttachOptions::default(),
        )
        .unwrap()
    });
    // A BPF link on 6.10+, BPF_PROG_ATTACH before: the attempt is the probe.
    eprintln!("sk_msg attached as {}", link.method());
    assert!(matches!(link.method().via, Via::BpfLink | Via::ProgAttach));
}

#[test]
fn sockmap_sk_msg_redirects_bytes_with_prog_attach() {
    let link = sk_msg_redirects(|object| {
        attach::sockmap::attach(
            object.program("redirect_msg").unwrap(),
            object.map("sock_hash").unwrap(),
            &AttachOptions {
                force_prog_attach: true,
                ..Default::default()
            },
        )
        .unwrap()
    });
    assert_eq!(link.method().via, Via::ProgAttach);
    assert_eq!(link.method().to_string(), "sockmap + BPF_PROG_ATTACH");
    link.detach().unwrap();
}

#[test]
fn sockmap_sk_skb_stream_verdict_drops_what_it_says() {
    verdict_drops_what_it_says("skb_stream_verdict");
}

#[test]
fn sockmap_sk_skb_verdict_drops_what_it_says() {
    // `BPF_SK_SKB_VERDICT` came in 5.13: the kernel's `enum bpf_attach_type` says whether
    // it is there (a kernel without it refuses the program's load, EINVAL).
    let kernel = btf::kernel::load().unwrap();
    let has_verdict = kernel
        .find_by_name_kind("bpf_attach_type", btf::Kind::Enum)
        .and_then(|id| kernel.type_by_id(id))
        .is_ok_and(|ty| match &ty.body {
            btf::TypeBody::Enum { values, .. } => {
                values.iter().any(|v| v.name == "BPF_SK_SKB_VERDICT")
            }
            _ => false,
        });
    if !has_verdict {
        eprintln!("skipped: this kernel has no sk_skb/verdict (BPF_SK_SKB_VERDICT, 5.13)");
        return;
    }
    verdict_drops_what_it_says("skb_verdict");
}

/// `program` (an sk_skb verdict program of the fixture) on the sockhash holding the
/// accepted end of a connected pair: a write starting with `!` is dropped (counted, never
/// read), the next one passes.
fn verdict_drops_what_it_says(program: &str) {
    let _ns = harness::netns::NetNs::enter().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = pair(&listener);
    let object = load(program, |spec| {
        spec.set_global("dropped_byte", &b'!').unwrap()
    });
    let _link = attach::sockmap::attach(
        object.program(program).unwrap(),
        object.map("sock_hash").unwrap(),
        &AttachOptions::default(),
    )
    .unwrap();
    put(&object, 0, &b);
    (&a).write_all(b"!dropped").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(&object, "packets_dropped") < 1 {
        assert!(Instant::now() < deadline, "the verdict program saw nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
    (&a).write_all(b"passed").unwrap();
    assert_eq!(read_exactly(&b, 6), b"passed");
    nothing_queued(&b);
    assert_eq!(counter(&object, "packets_dropped"), 1);
    assert_eq!(counter(&object, "packets_passed"), 1);
}

#[test]
fn sockmap_attach_refuses_a_map_that_is_not_a_sockmap() {
    let object = load("redirect_msg", |_| {});
    let error = attach::sockmap::attach(
        object.program("redirect_msg").unwrap(),
        object.map("not_a_sockmap").unwrap(),
        &AttachOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, AttachError::NotASockmap { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "program redirect_msg: map not_a_sockmap is of type array: sk_msg and sk_skb \
         programs attach to a sockmap or sockhash"
    );
    // The section names no map: by_section says which function takes one.
    let error = attach::by_section(
        object.program("redirect_msg").unwrap(),
        &AttachOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "program redirect_msg: its section \"sk_msg\" names no target: attach it with \
         attach::sockmap::attach(&program, &map, options): an sk_msg or sk_skb program runs \
         for the sockets of a sockmap or sockhash"
    );
}

/// An sk_reuseport program (tests/fixtures/reuseport.bpf.c) on a group of two UDP sockets
/// bound to one port with SO_REUSEPORT: every datagram goes to the socket it selects (the
/// second), none to the first, whatever the sender's port; dropped, the kernel's hash picks
/// again (the program counts no more).
#[test]
fn reuseport_program_selects_the_socket_of_its_group() {
    use std::net::UdpSocket;
    use std::os::fd::{AsFd, FromRawFd};

    const REUSEPORT: &[u8] = include_bytes!("fixtures/reuseport.bpf.o");
    let _ns = harness::netns::NetNs::enter().unwrap();
    let bound = |port: u16| {
        // SAFETY: plain socket calls; the fd is owned by the UdpSocket at once.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let socket = UdpSocket::from_raw_fd(fd);
            let one: libc::c_int = 1;
            let rc = libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                (&one as *const libc::c_int).cast(),
                4,
            );
            assert_eq!(rc, 0);
            let addr = harness::cgroup::sockaddr_in(port);
            let rc = libc::bind(
                fd,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            socket
        }
    };
    let first = bound(0);
    let port = first.local_addr().unwrap().port();
    let second = bound(port);

    ebpf_loader::features::memlock::ensure();
    let mut spec = ObjectSpec::parse(REUSEPORT).unwrap();
    spec.set_global("selected", &1u32).unwrap();
    let object = Object::load(&spec, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let group = object.map("group").unwrap();
    for (index, socket) in [&first, &second].into_iter().enumerate() {
        let fd = socket.as_raw_fd() as u32;
        group
            .update(&(index as u32).to_ne_bytes(), &fd.to_ne_bytes(), 0)
            .unwrap();
    }
    let program = object.program("select_socket").unwrap();
    let link = attach::reuseport::attach(program, first.as_fd()).unwrap();
    assert_eq!(
        link.method().to_string(),
        "reuseport group + SO_ATTACH_REUSEPORT_EBPF"
    );
    for i in 0..6u8 {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(&[i; 4], ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 8];
        let (len, from) = second.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..len], from),
            (&[i; 4][..], sender.local_addr().unwrap())
        );
    }
    assert_eq!(counter(&object, "selections"), 6);
    first.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        first.recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    link.detach().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"hash", ("127.0.0.1", port)).unwrap();
    // One of the two gets it, by the kernel's hash; the program no longer runs.
    let deadline = Instant::now() + Duration::from_secs(5);
    second.set_nonblocking(true).unwrap();
    loop {
        if first.recv_from(&mut buf).is_ok() || second.recv_from(&mut buf).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the datagram after detach got lost"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(counter(&object, "selections"), 6);
}
