//! What the network attach tests share (`attach_tc`, `attach_socket`): the programs of
//! tests/fixtures/net.bpf.c, which count the IPv4 UDP datagrams to one port set before
//! loading, a receiver on an ephemeral port of its own per test, and the loopback of a
//! network namespace of the test's own ([`private_lo`]): the datagrams never reach the
//! host's, and a test that creates or deletes lo's clsact qdisc (which deactivates lo for a
//! moment: `qdisc_graft` calls `dev_deactivate`) disturbs no other test.
#![allow(dead_code)] // each test crate uses a part

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use ebpf_loader::attach::tc;
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{program_info_by_id, Object};

/// Embedded: the guests run this test binary without the source tree.
pub const OBJECT: &[u8] = include_bytes!("../fixtures/net.bpf.o");

/// lo's index in the calling thread's namespace (always 1; asked all the same).
pub fn lo() -> u32 {
    tc::interface_index("lo").unwrap()
}

/// The calling test's thread in a network namespace of its own, `lo` up, until dropped.
pub fn private_lo() -> super::netns::NetNs {
    super::netns::NetNs::enter().expect("a network namespace for the test")
}

pub fn load(program: &str, port: u16) -> Object {
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

pub fn counter(object: &Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}

/// A receiver on 127.0.0.1 and its port.
pub fn receiver() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// Sends `n` datagrams to the receiver and receives them: by then each has been through
/// lo's egress and ingress, and every packet socket on lo has seen it leave and arrive.
pub fn send_and_receive(receiver: &UdpSocket, n: usize) {
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

/// The program's id, and a wait for it to be gone once its object and link are: the
/// kernel drops a deleted filter's reference after an RCU grace period (bounded wait).
pub fn wait_gone(id: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while program_info_by_id(id).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "program {id} still in the kernel"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
