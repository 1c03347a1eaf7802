//! tc programs and socket filters on `lo`, made to count the test's own UDP datagrams
//! (root). The programs (tests/fixtures/net.bpf.c) count the IPv4 UDP datagrams to one
//! port, set before loading: each test binds its own receiver on an ephemeral port, so the
//! tests run in parallel without counting each other's traffic.
//!
//! A tc program is attached through TCX where the kernel has it (6.6+: this host, the
//! 6.12 guest), else, and always with `force_tc_netlink`, as a `bpf` filter on lo's
//! clsact qdisc through rtnetlink (the 5.10 and 6.1 guests). The rtnetlink tests take a
//! lock for themselves alone: the clsact qdisc is lo's, one for all of them, whether a
//! test created it decides whether its drop removes it, and creating or deleting it
//! deactivates lo for a moment (`qdisc_graft` calls `dev_deactivate`): a datagram of a
//! test running beside would be dropped. The other tests share the lock.

mod harness;

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use ebpf_loader::attach::{tc, AttachError, AttachMethod, AttachOptions, Probe, TcDirection, Via};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{program_info_by_id, Object};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/net.bpf.o");

/// lo's index (always 1; asked all the same).
fn lo() -> u32 {
    tc::interface_index("lo").unwrap()
}

/// Written by the tests that may create or delete lo's clsact qdisc, read by the others.
static CLSACT: RwLock<()> = RwLock::new(());

/// For a test that may create or delete lo's clsact qdisc.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    CLSACT.write().unwrap_or_else(|e| e.into_inner())
}

/// For a test that only sends datagrams over lo.
fn shared() -> RwLockReadGuard<'static, ()> {
    CLSACT.read().unwrap_or_else(|e| e.into_inner())
}

fn load(program: &str, port: u16) -> Object {
    ebpf_loader::features::memlock::ensure();
    let mut spec = ObjectSpec::parse(OBJECT).unwrap();
    spec.set_global("target_port", &port).unwrap();
    let kernel = btf::kernel::load().ok();
    Object::load(
        &spec,
        &ebpf_loader::load::LoadOptions {
            programs: vec![program.into()],
            target_btf: kernel.as_ref().map_or(
                ebpf_loader::load::TargetBtf::Off,
                ebpf_loader::load::TargetBtf::Btf,
            ),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn counter(object: &Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}

/// A receiver on 127.0.0.1 and its port.
fn receiver() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// Sends `n` datagrams to the receiver and receives them: by then each has been through
/// lo's egress and ingress, and every packet socket on lo has seen it leave and arrive.
fn send_and_receive(receiver: &UdpSocket, n: usize) {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
    for i in 0..n {
        sender.send_to(&[i as u8; 8], to).unwrap();
    }
    let mut buf = [0u8; 64];
    for _ in 0..n {
        let (len, from) = receiver.recv_from(&mut buf).unwrap();
        assert_eq!(len, 8);
        assert_eq!(from, sender.local_addr().unwrap());
    }
}

/// Does this kernel have TCX links (6.6)?
fn kernel_has_tcx() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().unwrap().parse().unwrap();
    let minor: u32 = parts.next().unwrap().parse().unwrap();
    (major, minor) >= (6, 6)
}

/// The program's id, and a wait for it to be gone once its object and link are: the
/// kernel drops a deleted filter's reference after an RCU grace period (bounded wait).
fn wait_gone(id: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while program_info_by_id(id).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "program {id} still in the kernel"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Attaches count_tc in `direction`, sends 3 datagrams, checks the count, where the
/// program is listed (the TCX hook or a filter), and that nothing is left after drop.
fn tc_round_trip(direction: TcDirection, opts: &AttachOptions) {
    let netlink = opts.force_tc_netlink || !kernel_has_tcx();
    let (_exclusive, _shared) = if netlink {
        (Some(exclusive()), None)
    } else {
        (None, Some(shared()))
    };
    let (receiver, port) = receiver();
    let object = load("count_tc", port);
    let program = object.program("count_tc").unwrap();
    let id = program.info().unwrap().id;
    let had_clsact = tc::has_clsact(lo()).unwrap();

    let link = program.attach_tc("lo", direction, opts).unwrap();
    assert_eq!(link.target(), format!("tc {direction} of lo (ifindex 1)"));
    if netlink {
        assert_eq!(
            link.method(),
            AttachMethod {
                probe: Probe::Tc,
                via: Via::Netlink
            }
        );
        let filter = link.tc_filter().unwrap();
        assert_eq!(filter.ifindex, lo());
        assert_eq!(filter.direction, direction);
        assert_eq!(filter.created_qdisc, !had_clsact);
        assert!(tc::has_clsact(lo()).unwrap());
        // Listed as `tc filter show dev lo ingress` lists it, by the program's id.
        let listed = tc::filters(lo(), direction).unwrap();
        let ours: Vec<_> = listed.iter().filter(|f| f.program_id == Some(id)).collect();
        assert_eq!(ours.len(), 1, "{listed:?}");
        assert_eq!(ours[0].priority, filter.priority);
        assert_eq!(ours[0].handle, filter.handle);
        assert_eq!(ours[0].kind, "bpf");
        assert_eq!(
            ours[0].bpf_name.as_deref(),
            Some(format!("count_tc:[{id}]").as_str())
        );
        assert!(!tc::tcx_programs(lo(), direction).unwrap().contains(&id));
    } else {
        assert_eq!(
            link.method(),
            AttachMethod {
                probe: Probe::Tc,
                via: Via::BpfLink
            }
        );
        assert_eq!(link.tc_filter(), None);
        assert!(tc::tcx_programs(lo(), direction).unwrap().contains(&id));
    }

    send_and_receive(&receiver, 3);
    assert_eq!(counter(&object, "tc_packets"), 3);

    link.detach().unwrap();
    assert!(!tc::tcx_programs(lo(), direction).unwrap().contains(&id));
    assert!(!tc::filters(lo(), direction)
        .unwrap()
        .iter()
        .any(|f| f.program_id == Some(id)));
    if netlink {
        assert_eq!(tc::has_clsact(lo()).unwrap(), had_clsact);
    }
    // Detached: no more counting.
    send_and_receive(&receiver, 1);
    assert_eq!(counter(&object, "tc_packets"), 3);
    drop(object);
    wait_gone(id);
}

#[test]
fn tc_ingress_counts_through_tcx_where_the_kernel_has_it() {
    tc_round_trip(TcDirection::Ingress, &AttachOptions::default());
}

#[test]
fn tc_egress_counts_through_tcx_where_the_kernel_has_it() {
    tc_round_trip(TcDirection::Egress, &AttachOptions::default());
}

#[test]
fn tc_ingress_counts_through_a_netlink_filter() {
    tc_round_trip(
        TcDirection::Ingress,
        &AttachOptions {
            force_tc_netlink: true,
            ..Default::default()
        },
    );
}

#[test]
fn tc_egress_counts_through_a_netlink_filter() {
    tc_round_trip(
        TcDirection::Egress,
        &AttachOptions {
            force_tc_netlink: true,
            ..Default::default()
        },
    );
}

/// Two filters at once: each gets its own priority or handle, each counts, and the
/// clsact qdisc stays while one of them is left, whichever goes first.
#[test]
fn two_netlink_filters_live_side_by_side_and_the_qdisc_goes_with_the_last() {
    let _lock = exclusive();
    let netlink = AttachOptions {
        force_tc_netlink: true,
        ..Default::default()
    };
    let (receiver, port) = receiver();
    let first = load("count_tc", port);
    let second = load("count_tc", port);
    let had_clsact = tc::has_clsact(lo()).unwrap();
    let a = first
        .program("count_tc")
        .unwrap()
        .attach_tc("lo", TcDirection::Ingress, &netlink)
        .unwrap();
    let b = second
        .program("count_tc")
        .unwrap()
        .attach_tc("lo", TcDirection::Ingress, &netlink)
        .unwrap();
    let (fa, fb) = (a.tc_filter().unwrap(), b.tc_filter().unwrap());
    // Made by this process (by the first attach) or found there.
    assert_eq!(fa.created_qdisc, !had_clsact);
    assert_eq!(fb.created_qdisc, !had_clsact);
    assert_ne!((fa.priority, fa.handle), (fb.priority, fb.handle));
    send_and_receive(&receiver, 2);
    assert_eq!(counter(&first, "tc_packets"), 2);
    assert_eq!(counter(&second, "tc_packets"), 2);
    // The creator goes first: the qdisc stays for the other's filter.
    drop(a);
    assert!(tc::has_clsact(lo()).unwrap());
    send_and_receive(&receiver, 1);
    assert_eq!(counter(&first, "tc_packets"), 2);
    assert_eq!(counter(&second, "tc_packets"), 3);
    drop(b);
    // The last filter of this process takes the qdisc with it, if this process made it.
    assert_eq!(tc::has_clsact(lo()).unwrap(), had_clsact);
}

/// A packet socket on lo sees each datagram twice: leaving (PACKET_OUTGOING) and arriving.
#[test]
fn a_packet_socket_filter_sees_each_datagram_leave_and_arrive() {
    let _lock = shared();
    let (receiver, port) = receiver();
    let object = load("count_socket", port);
    let program = object.program("count_socket").unwrap();
    let link = program.attach_packet_socket("lo").unwrap();
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::Socket,
            via: Via::Setsockopt
        }
    );
    assert_eq!(link.target(), "AF_PACKET socket on lo (ifindex 1)");
    assert!(link.socket().is_some());
    send_and_receive(&receiver, 3);
    assert_eq!(counter(&object, "socket_packets"), 6);
    link.detach().unwrap();
    send_and_receive(&receiver, 1);
    assert_eq!(counter(&object, "socket_packets"), 6);
}

/// On the receiver itself: the filter keeps 0 bytes of each datagram, so the socket
/// receives nothing; once the link is dropped (SO_DETACH_BPF) it receives again.
#[test]
fn a_filter_on_a_udp_socket_decides_what_it_receives_until_dropped() {
    let _lock = shared();
    let (receiver, port) = receiver();
    let object = load("count_all", port);
    let program = object.program("count_all").unwrap();
    let link = program.attach_socket(receiver.as_fd()).unwrap();
    assert_eq!(
        link.target(),
        format!("socket fd {}", std::os::fd::AsRawFd::as_raw_fd(&receiver))
    );
    assert_eq!(link.method().via, Via::Setsockopt);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        sender.send_to(b"filtered", ("127.0.0.1", port)).unwrap();
    }
    // Each is counted as it reaches the socket (bounded wait), and none is queued.
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(&object, "socket_all") < 3 {
        assert!(Instant::now() < deadline, "the filter saw fewer than 3");
        std::thread::sleep(Duration::from_millis(10));
    }
    receiver.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        receiver.recv_from(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    receiver.set_nonblocking(false).unwrap();
    drop(link);
    sender.send_to(b"through", ("127.0.0.1", port)).unwrap();
    let (len, _) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"through");
    assert_eq!(counter(&object, "socket_all"), 3);
}

#[test]
fn a_bare_tc_or_socket_section_names_the_method_to_use() {
    for (program, section, method) in [
        ("count_tc", "tc", "Program::attach_tc("),
        ("count_socket", "socket", "Program::attach_socket("),
    ] {
        let object = load(program, 9);
        let error = object
            .program(program)
            .unwrap()
            .attach(&AttachOptions::default())
            .unwrap_err();
        let AttachError::NoTarget {
            program: p,
            section: s,
            method: m,
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!((p.as_str(), s.as_str()), (program, section));
        assert!(m.starts_with(method), "{m}");
        assert!(
            error.to_string().starts_with(&format!(
                "program {program}: its section \"{section}\" names no target: attach it with {method}"
            )),
            "{error}"
        );
    }
}

#[test]
fn an_unknown_interface_is_refused_before_the_kernel_is_asked() {
    let object = load("count_tc", 9);
    let program = object.program("count_tc").unwrap();
    let error = program
        .attach_tc("nosuchif0", TcDirection::Ingress, &AttachOptions::default())
        .unwrap_err();
    assert!(
        matches!(&error, AttachError::InterfaceNotFound { interface } if interface == "nosuchif0"),
        "{error:?}"
    );
    let object = load("count_socket", 9);
    let error = object
        .program("count_socket")
        .unwrap()
        .attach_packet_socket("nosuchif0")
        .unwrap_err();
    assert!(matches!(error, AttachError::InterfaceNotFound { .. }));
}

/// A socket filter is not a tc program: the kernel says so, in rtnetlink's words too.
#[test]
fn the_kernels_netlink_refusal_is_a_typed_error() {
    let _lock = exclusive();
    let had_clsact = tc::has_clsact(lo()).unwrap();
    let object = load("count_socket", 9);
    let error = object
        .program("count_socket")
        .unwrap()
        .attach_tc(
            "lo",
            TcDirection::Ingress,
            &AttachOptions {
                force_tc_netlink: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    let AttachError::Netlink { error: sys, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(sys.op, "RTM_NEWTFILTER");
    assert_eq!(sys.errno, libc::EINVAL, "{error}");
    assert_eq!(
        error.to_string(),
        "attaching to tc ingress of lo (ifindex 1): RTM_NEWTFILTER: Invalid argument (EINVAL)"
    );
    // The qdisc made for the filter is removed with the failure.
    assert_eq!(tc::has_clsact(lo()).unwrap(), had_clsact);
}

/// libbpf-bootstrap's `tc` (`SEC("tc") tc_ingress`, which only bpf_printk()s): attached
/// to lo both ways, listed where each way puts it, gone after drop. Exclusive: it returns
/// TC_ACT_OK, which ends the hook's run for the other tests' programs.
#[test]
fn the_corpus_tc_program_attaches_to_lo_both_ways() {
    let Some(path) = harness::corpus::object("libbpf-bootstrap/tc.bpf.o") else {
        return;
    };
    let _lock = exclusive();
    for force_tc_netlink in [false, true] {
        let object = harness::corpus::load(&path, &["tc_ingress"]);
        let program = object.program("tc_ingress").unwrap();
        assert_eq!(program.section(), "tc");
        let id = program.info().unwrap().id;
        let had_clsact = tc::has_clsact(lo()).unwrap();
        let opts = AttachOptions {
            force_tc_netlink,
            ..Default::default()
        };
        let link = program
            .attach_tc("lo", TcDirection::Ingress, &opts)
            .unwrap();
        if force_tc_netlink || !kernel_has_tcx() {
            assert_eq!(link.method().via, Via::Netlink);
            let listed = tc::filters(lo(), TcDirection::Ingress).unwrap();
            let ours = listed.iter().find(|f| f.program_id == Some(id));
            assert_eq!(
                ours.and_then(|f| f.bpf_name.clone()),
                Some(format!("tc_ingress:[{id}]")),
                "{listed:?}"
            );
        } else {
            assert_eq!(link.method().via, Via::BpfLink);
            assert!(tc::tcx_programs(lo(), TcDirection::Ingress)
                .unwrap()
                .contains(&id));
        }
        assert_eq!(link.method().probe, Probe::Tc);
        drop(link);
        assert!(!tc::tcx_programs(lo(), TcDirection::Ingress)
            .unwrap()
            .contains(&id));
        assert!(!tc::filters(lo(), TcDirection::Ingress)
            .unwrap()
            .iter()
            .any(|f| f.program_id == Some(id)));
        assert_eq!(tc::has_clsact(lo()).unwrap(), had_clsact);
        drop(object);
        wait_gone(id);
    }
}

/// libbpf-bootstrap's `sockfilter` on a packet socket on lo, as its sockfilter.c runs it:
/// one `struct so_event { __be32 src_addr, dst_addr; __be16 port16[2]; u32 ip_proto,
/// pkt_type, ifindex; }` in its ring buffer per IPv4 packet. The test's datagram is there
/// twice: leaving (PACKET_OUTGOING, 4) and arriving (PACKET_HOST, 0).
#[test]
fn the_corpus_socket_filter_reports_the_tests_datagram_leaving_and_arriving() {
    let Some(path) = harness::corpus::object("libbpf-bootstrap/sockfilter.bpf.o") else {
        return;
    };
    let _lock = shared();
    let object = harness::corpus::load(&path, &["socket_handler"]);
    let link = object
        .program("socket_handler")
        .unwrap()
        .attach_packet_socket("lo")
        .unwrap();
    let mut rings = ebpf_loader::ringbuf::RingBufReader::open(object.map("rb").unwrap()).unwrap();
    let (receiver, port) = receiver();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sport = sender.local_addr().unwrap().port();
    sender.send_to(b"sockfilter", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 16];
    receiver.recv_from(&mut buf).unwrap();

    let mut ours = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ours.len() < 2 && Instant::now() < deadline {
        rings
            .poll(Some(Duration::from_millis(50)), |_, record| {
                if record.len() == 24
                    && record[8..10] == sport.to_be_bytes()
                    && record[10..12] == port.to_be_bytes()
                {
                    ours.push(record.to_vec());
                }
            })
            .unwrap();
    }
    assert_eq!(ours.len(), 2, "{ours:?}");
    let mut pkt_types = Vec::new();
    for record in &ours {
        assert_eq!(&record[0..4], &[127, 0, 0, 1]); // src_addr
        assert_eq!(&record[4..8], &[127, 0, 0, 1]); // dst_addr
        assert_eq!(record[12], 17); // ip_proto: UDP (one byte of it is written)
        assert_eq!(u32::from_ne_bytes(record[20..24].try_into().unwrap()), lo());
        pkt_types.push(u32::from_ne_bytes(record[16..20].try_into().unwrap()));
    }
    pkt_types.sort();
    assert_eq!(pkt_types, [0, 4]);
    link.detach().unwrap();
}
