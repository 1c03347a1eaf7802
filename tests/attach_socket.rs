//! Socket filters on `lo`, made to count the test's own UDP datagrams (root): a filter on a
//! UDP socket of the test decides what it receives until the link is dropped, one on a raw
//! packet socket bound to `lo` sees each datagram leave and arrive, and libbpf-bootstrap's
//! `sockfilter` reports the test's datagram leaving and arriving. The programs are
//! tests/fixtures/net.bpf.c's; each test sends on the `lo` of a network namespace of its
//! own (`private_lo`).

mod harness;

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use harness::net::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{AttachMethod, Probe, Via};

/// A packet socket on lo sees each datagram twice: leaving (PACKET_OUTGOING) and arriving.
#[test]
fn a_packet_socket_filter_sees_each_datagram_leave_and_arrive() {
    let _ns = private_lo();
    let (receiver, port) = receiver();
    let object = load("count_socket", port);
    let program = object.program("count_socket").unwrap();
    let link = attach::socket::attach_packet(program, "lo").unwrap();
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
    let _ns = private_lo();
    let (receiver, port) = receiver();
    let object = load("count_all", port);
    let program = object.program("count_all").unwrap();
    let link = attach::socket::attach(program, receiver.as_fd()).unwrap();
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

/// libbpf-bootstrap's `sockfilter` on a packet socket on lo, as its sockfilter.c runs it:
/// one `struct so_event { __be32 src_addr, dst_addr; __be16 port16[2]; u32 ip_proto,
/// pkt_type, ifindex; }` in its ring buffer per IPv4 packet. The test's datagram is there
/// twice: leaving (PACKET_OUTGOING, 4) and arriving (PACKET_HOST, 0).
#[test]
fn the_corpus_socket_filter_reports_the_tests_datagram_leaving_and_arriving() {
    let Some(path) = harness::corpus::object("libbpf-bootstrap/sockfilter.bpf.o") else {
        return;
    };
    let _ns = private_lo();
    let object = harness::corpus::load(&path, &["socket_handler"]);
    let link =
        attach::socket::attach_packet(object.program("socket_handler").unwrap(), "lo").unwrap();
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
