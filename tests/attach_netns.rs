//! Programs of a network namespace (root), each test in a namespace of its own
//! (tests/fixtures/netns.bpf.c):
//! - `sk_lookup` (5.9): a TCP connection to a port nobody listens on is steered to a
//!   listening socket on another port, which the test put in a SOCKMAP; without the
//!   program the same connect is refused.
//! - `flow_dissector`: a frame the test crafts and sends through an `AF_PACKET` socket on
//!   the namespace's `lo` is dissected by the program (the send path dissects it to find
//!   its transport header: `packet_parse_headers`, `skb_probe_transport_header`), which
//!   records the frame's source port; through a BPF link (5.8) and `BPF_PROG_ATTACH`; a
//!   second flow dissector on the namespace is refused, typed, whichever way.
//! - Refusals: a namespace path that does not exist, an fd that is no namespace, a program
//!   of another kind: one typed error each, nothing attached.

mod harness;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use harness::net::wait_gone;
use harness::netns::NetNs;

use ebpf_loader::attach::netns::{self, NetNsKind};
use ebpf_loader::attach::{self, AttachError, AttachMethod, AttachOptions, Probe, Via};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object, TargetBtf};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/netns.bpf.o");

/// The namespace of the calling thread (`/proc/self/ns/net` is the main thread's).
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

fn load(program: &str, steer_port: u16, dissect_port: u16) -> Result<Object, String> {
    ebpf_loader::features::memlock::ensure();
    let mut spec = ObjectSpec::parse(OBJECT).unwrap();
    spec.set_global("steer_port", &steer_port).unwrap();
    spec.set_global("dissect_port", &dissect_port).unwrap();
    let kernel = btf::kernel::load().ok();
    Object::load(
        &spec,
        &LoadOptions {
            programs: vec![program.into()],
            target_btf: kernel.as_ref().map_or(TargetBtf::Off, TargetBtf::Btf),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

fn enter() -> NetNs {
    NetNs::enter().expect("a network namespace for the test")
}

/// A TCP port of 127.0.0.1 nobody listens on (the namespace is the test's own).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn netns_sk_lookup_steers_a_connection_to_the_listener_in_the_sockmap() {
    let ns = enter();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let steered_port = free_port();
    let object = match load("steer", steered_port, 0) {
        Ok(object) => object,
        // Before 5.9 the program type does not exist.
        Err(e) => {
            eprintln!("skipped: sk_lookup programs do not load on this kernel: {e}");
            return;
        }
    };
    let map = object.map("listener").unwrap();
    map.update(
        &0u32.to_ne_bytes(),
        &(listener.as_raw_fd() as u64).to_ne_bytes(),
        0,
    )
    .unwrap();
    let program = object.program("steer").unwrap();
    let id = program.info().unwrap().id;
    // Before: nobody listens there.
    let refused = TcpStream::connect((Ipv4Addr::LOCALHOST, steered_port)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    let link = netns::attach_path(program, Path::new(THREAD_NETNS), &AttachOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::SkLookup,
            via: Via::BpfLink
        }
    );
    assert_eq!(
        link.target(),
        format!("sk_lookup of network namespace {THREAD_NETNS}")
    );
    assert_eq!(
        netns::programs(ns.fd(), NetNsKind::SkLookup).unwrap(),
        vec![id]
    );

    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, steered_port)).unwrap();
    let (mut accepted, from) = listener.accept().unwrap();
    assert_eq!(from, client.local_addr().unwrap());
    // The connection keeps the address it was made to.
    assert_eq!(accepted.local_addr().unwrap().port(), steered_port);
    client.write_all(b"steered").unwrap();
    let mut buf = [0u8; 7];
    accepted.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"steered");
    assert_eq!(object.global::<u64>("steered").unwrap(), 1);

    link.detach().unwrap();
    assert!(netns::programs(ns.fd(), NetNsKind::SkLookup)
        .unwrap()
        .is_empty());
    let refused = TcpStream::connect((Ipv4Addr::LOCALHOST, steered_port)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(object.global::<u64>("steered").unwrap(), 1);
    drop(object);
    wait_gone(id);
}

/// A frame to lo: Ethernet (zeros, `ETH_P_IP`), IPv4 127.0.0.1 -> 127.0.0.1, UDP
/// `sport` -> `dport`, 4 bytes of payload.
fn udp_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = [
        0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&12u16.to_be_bytes());
    f.extend_from_slice(&0u16.to_be_bytes()); // no checksum
    f.extend_from_slice(b"flow");
    f
}

/// Sends `frame` as is on lo through an `AF_PACKET`/`SOCK_RAW` socket (packet(7)).
fn send_on_lo(frame: &[u8]) {
    // SAFETY: a plain socket call; the fd is owned right below.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from((libc::ETH_P_IP as u16).to_be()),
        )
    };
    assert!(raw >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: `raw` is a new fd nobody else owns.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain old data; all zero is a valid value.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = (libc::ETH_P_IP as u16).to_be();
    to.sll_ifindex = harness::netns::index_of("lo").unwrap() as i32;
    to.sll_halen = 6;
    // SAFETY: the frame and the address are live and their lengths passed.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(
        sent,
        frame.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );
}

fn dissected(object: &Object) -> (u64, u16) {
    (
        object.global::<u64>("dissected").unwrap(),
        object.global::<u16>("dissected_sport").unwrap(),
    )
}

/// Attaches `dissect` the way `opts` says, sends one crafted frame, checks that the
/// program dissected it; detaches and checks that it no longer runs.
fn flow_dissector_round_trip(opts: &AttachOptions, via: Via) {
    let ns = enter();
    let dport = 4789;
    let object = load("dissect", 0, dport).unwrap_or_else(|e| panic!("{e}"));
    let program = object.program("dissect").unwrap();
    let id = program.info().unwrap().id;
    let link = netns::attach(program, ns.fd(), opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::FlowDissector,
            via
        }
    );
    assert_eq!(
        link.method()
            .fallback()
            .is_some_and(|why| why.starts_with("BPF_PROG_ATTACH instead of a BPF link")),
        via == Via::ProgAttach
    );
    assert!(
        link.target()
            .starts_with("flow_dissector of network namespace net:["),
        "{}",
        link.target()
    );
    assert_eq!(
        netns::programs(ns.fd(), NetNsKind::FlowDissector).unwrap(),
        vec![id]
    );

    send_on_lo(&udp_frame(31337, dport));
    let (runs, sport) = dissected(&object);
    eprintln!("runs {runs}");
    assert!(runs >= 1, "the program did not dissect the frame");
    assert_eq!(sport, 31337);
    // Another port: declined, not counted.
    send_on_lo(&udp_frame(31338, dport + 1));
    assert_eq!(dissected(&object), (runs, 31337));

    link.detach().unwrap();
    assert!(netns::programs(ns.fd(), NetNsKind::FlowDissector)
        .unwrap()
        .is_empty());
    send_on_lo(&udp_frame(31339, dport));
    assert_eq!(dissected(&object), (runs, 31337));
    drop(object);
    wait_gone(id);
}

#[test]
fn netns_flow_dissector_dissects_a_crafted_frame_through_a_link() {
    flow_dissector_round_trip(&AttachOptions::default(), Via::BpfLink);
}

#[test]
fn netns_flow_dissector_dissects_a_crafted_frame_through_prog_attach() {
    flow_dissector_round_trip(
        &AttachOptions {
            force_prog_attach: true,
            ..Default::default()
        },
        Via::ProgAttach,
    );
}

/// A namespace runs one flow dissector: a second is refused with the kernel's error,
/// typed, whichever way either was attached, and the first stays.
#[test]
fn netns_second_flow_dissector_is_refused_either_way() {
    let ns = enter();
    let first = load("dissect", 0, 1).unwrap();
    let second = load("dissect", 0, 2).unwrap();
    let first_prog = first.program("dissect").unwrap();
    let second_prog = second.program("dissect").unwrap();
    let first_id = first_prog.info().unwrap().id;
    let prog_attach = AttachOptions {
        force_prog_attach: true,
        ..Default::default()
    };
    let expect_refused = |result: Result<attach::Link, AttachError>, errno: i32| match result {
        Err(e @ AttachError::AlreadyAttached { .. }) => {
            let AttachError::AlreadyAttached { error, .. } = &e else {
                unreachable!()
            };
            assert_eq!(error.errno, errno, "{e}");
        }
        other => panic!("{other:?}"),
    };
    for first_opts in [AttachOptions::default(), prog_attach] {
        let link = netns::attach(first_prog, ns.fd(), &first_opts).unwrap();
        // A second link: E2BIG beside a link (one flow dissector per namespace), EEXIST
        // beside PROG_ATTACH ("links are not compatible with attaching prog directly").
        let link_errno = if first_opts.force_prog_attach {
            libc::EEXIST
        } else {
            libc::E2BIG
        };
        expect_refused(
            netns::attach(second_prog, ns.fd(), &AttachOptions::default()),
            link_errno,
        );
        // PROG_ATTACH would replace the first silently: refused as the kernel refuses a
        // second link.
        expect_refused(
            netns::attach(second_prog, ns.fd(), &prog_attach),
            libc::EEXIST,
        );
        assert_eq!(
            netns::programs(ns.fd(), NetNsKind::FlowDissector).unwrap(),
            vec![first_id]
        );
        drop(link);
        assert!(netns::programs(ns.fd(), NetNsKind::FlowDissector)
            .unwrap()
            .is_empty());
    }
}

/// Refusals, each one typed error with nothing attached: a path that does not exist, an
/// fd that is no network namespace, a program that does not run on one.
#[test]
fn netns_refuses_a_missing_path_a_file_that_is_no_namespace_and_a_wrong_kind() {
    let ns = enter();
    let object = load("dissect", 0, 1).unwrap();
    let program = object.program("dissect").unwrap();
    match netns::attach_path(
        program,
        Path::new("/var/run/netns/no-such-netns-xdp20"),
        &AttachOptions::default(),
    ) {
        Err(AttachError::Io { path, error }) => {
            assert_eq!(path, Path::new("/var/run/netns/no-such-netns-xdp20"));
            assert!(
                error.starts_with("opening the network namespace: "),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    let not_a_namespace = std::fs::File::open("/proc/self/stat").unwrap();
    for opts in [
        AttachOptions::default(),
        AttachOptions {
            force_prog_attach: true,
            ..Default::default()
        },
    ] {
        match netns::attach(program, not_a_namespace.as_fd(), &opts) {
            Err(AttachError::Sys { error, .. }) => assert_eq!(error.errno, libc::EINVAL),
            other => panic!("{other:?}"),
        }
    }
    assert!(netns::programs(ns.fd(), NetNsKind::FlowDissector)
        .unwrap()
        .is_empty());
    let xdp = {
        let spec = ObjectSpec::parse(include_bytes!("fixtures/xdp.bpf.o")).unwrap();
        Object::load(&spec, &LoadOptions::default()).unwrap()
    };
    match netns::attach(
        xdp.program("xdp_drop_port").unwrap(),
        ns.fd(),
        &AttachOptions::default(),
    ) {
        Err(AttachError::Unsupported { program, target }) => {
            assert_eq!(program, "xdp_drop_port");
            assert!(
                target.contains("only sk_lookup and flow_dissector"),
                "{target}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// `SEC("sk_lookup")` and `SEC("flow_dissector")` name no namespace: `by_section` says
/// which function attaches them.
#[test]
fn netns_sections_name_the_function_to_attach_with() {
    for (name, section) in [("steer", "sk_lookup"), ("dissect", "flow_dissector")] {
        let object = match load(name, 0, 0) {
            Ok(object) => object,
            Err(e) => {
                eprintln!("skipped {name}: {e}");
                continue;
            }
        };
        match attach::by_section(object.program(name).unwrap(), &AttachOptions::default()) {
            Err(AttachError::NoTarget {
                section: got,
                method,
                ..
            }) => {
                assert_eq!(got, section);
                assert!(
                    method.starts_with("attach::netns::attach(&program, netns fd"),
                    "{method}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
