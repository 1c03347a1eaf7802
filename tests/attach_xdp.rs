//! XDP programs on a veth pair between the test's own network namespace and a second one
//! (root). The program (tests/fixtures/xdp.bpf.c) drops the IPv4 UDP datagrams to one
//! port, set before loading, and counts them and the other UDP datagrams it lets through.
//! The test sends from the second namespace to two receivers of its own, one on the
//! dropped port: the datagrams arrive, or not, and the counts are exact, in generic and
//! in driver (native veth) mode, through a BPF link (5.9) and through rtnetlink
//! (`IFLA_XDP`, forced with `force_xdp_netlink`, the way of older kernels). After each
//! detach the interface holds no program (`IFLA_XDP` as `ip link` reads it) and the
//! dropped port receives again.
//!
//! Each test makes its namespaces, so its `xdp0`/`xdp1` are its alone and the tests run in
//! parallel; everything goes with the namespaces when the test ends.

mod harness;

use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use harness::net::wait_gone;
use harness::netns::{self, NetNs};

use ebpf_loader::attach::{self, xdp, AttachError, AttachMethod, AttachOptions, Probe, Via};
use ebpf_loader::attach::{XdpMode, XdpOptions};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object, TargetBtf};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/xdp.bpf.o");

const HERE: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 1);
const THERE: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 2);

/// The test's namespace with `xdp0` (10.20.0.1/24, up), whose peer `xdp1` (10.20.0.2/24,
/// up) is in a second namespace; a UDP socket of that one to send from; two receivers
/// here: one whose port the program is loaded to drop, one it lets through.
struct Pair {
    _ns: NetNs,
    _peer: File,
    sender: UdpSocket,
    kept: UdpSocket,
    dropped: UdpSocket,
}

impl Pair {
    fn new() -> Pair {
        let ns = NetNs::enter().expect("a network namespace for the test");
        let peer = netns::new_namespace().expect("a second network namespace");
        netns::add_veth("xdp0", "xdp1").expect("a veth pair (CONFIG_VETH)");
        netns::move_to("xdp1", peer.as_fd()).unwrap();
        netns::add_address("xdp0", HERE, 24).unwrap();
        netns::set_up("xdp0").unwrap();
        let sender = netns::run_in(peer.as_fd(), || {
            netns::add_address("xdp1", THERE, 24).unwrap();
            netns::set_up("xdp1").unwrap();
            UdpSocket::bind((THERE, 0)).unwrap()
        });
        let receiver = || {
            let socket = UdpSocket::bind((HERE, 0)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            socket
        };
        Pair {
            _ns: ns,
            _peer: peer,
            sender,
            kept: receiver(),
            dropped: receiver(),
        }
    }

    fn dropped_port(&self) -> u16 {
        self.dropped.local_addr().unwrap().port()
    }

    /// Sends `dropped` datagrams to the dropped port, then `kept` to the other, and
    /// receives the `kept` ones: by then the first ones have been through xdp0 too, so
    /// the dropped port's receiver holds them, unless they were dropped. Returns how many
    /// it holds.
    fn exchange(&self, dropped: usize, kept: usize) -> usize {
        let to_dropped = self.dropped.local_addr().unwrap();
        let to_kept = self.kept.local_addr().unwrap();
        for i in 0..dropped {
            self.sender.send_to(&[i as u8; 8], to_dropped).unwrap();
        }
        for i in 0..kept {
            self.sender.send_to(&[i as u8; 8], to_kept).unwrap();
        }
        let mut buf = [0u8; 64];
        for _ in 0..kept {
            let (len, from) = self.kept.recv_from(&mut buf).unwrap();
            assert_eq!(len, 8);
            assert_eq!(from, self.sender.local_addr().unwrap());
        }
        self.dropped.set_nonblocking(true).unwrap();
        let mut arrived = 0;
        while let Ok((_, from)) = self.dropped.recv_from(&mut buf) {
            assert_eq!(from, self.sender.local_addr().unwrap());
            arrived += 1;
        }
        self.dropped.set_nonblocking(false).unwrap();
        arrived
    }
}

fn load(drop_port: u16) -> Object {
    ebpf_loader::features::memlock::ensure();
    let mut spec = ObjectSpec::parse(OBJECT).unwrap();
    spec.set_global("drop_port", &drop_port).unwrap();
    let kernel = btf::kernel::load().ok();
    Object::load(
        &spec,
        &LoadOptions {
            target_btf: kernel.as_ref().map_or(TargetBtf::Off, TargetBtf::Btf),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn counts(object: &Object) -> (u64, u64) {
    (
        object.global::<u64>("xdp_dropped").unwrap(),
        object.global::<u64>("xdp_passed").unwrap(),
    )
}

fn netlink() -> AttachOptions {
    AttachOptions {
        force_xdp_netlink: true,
        ..Default::default()
    }
}

/// Attaches xdp_drop_port to xdp0 in `mode`, the way `opts` says; checks the way taken,
/// the program listed in that mode, the traffic and the counts; detaches and checks that
/// nothing is left.
fn xdp_round_trip(mode: XdpMode, opts: &AttachOptions) {
    let netlink = opts.force_xdp_netlink;
    if !netlink && !xdp::links_supported() {
        eprintln!("skipped: this kernel has no XDP links (5.9); the netlink tests cover it");
        return;
    }
    let pair = Pair::new();
    // Before anything is attached, both ports receive.
    assert_eq!(pair.exchange(2, 1), 2);
    let object = load(pair.dropped_port());
    let program = object.program("xdp_drop_port").unwrap();
    let id = program.info().unwrap().id;

    let link = xdp::attach(
        program,
        "xdp0",
        &XdpOptions {
            mode,
            replace: None,
        },
        opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let index = netns::index_of("xdp0").unwrap();
    assert_eq!(
        link.target(),
        format!("XDP ({mode}) of xdp0 (ifindex {index})")
    );
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::Xdp,
            via: if netlink {
                Via::NetlinkXdp
            } else {
                Via::BpfLink
            },
        }
    );
    // The netlink way is the second choice, and says so.
    assert_eq!(
        link.method()
            .fallback()
            .is_some_and(|why| why.starts_with("rtnetlink IFLA_XDP instead of an XDP BPF link")),
        netlink
    );
    let info = xdp::query("xdp0").unwrap();
    assert_eq!(info.program(mode), Some(id), "{info:?}");
    match mode {
        XdpMode::Generic => assert_eq!(info.driver, None),
        // veth has native XDP: the default is driver mode.
        XdpMode::Driver | XdpMode::Default => {
            assert_eq!(info.driver, Some(id));
            assert_eq!(info.generic, None);
        }
        XdpMode::Offload => unreachable!(),
    }

    assert_eq!(pair.exchange(3, 4), 0, "the dropped port received");
    assert_eq!(counts(&object), (3, 4));

    link.detach().unwrap();
    assert!(xdp::query("xdp0").unwrap().is_empty());
    assert_eq!(pair.exchange(2, 1), 2, "detached, yet the port is dropped");
    assert_eq!(counts(&object), (3, 4));
    drop(object);
    wait_gone(id);
}

#[test]
fn xdp_generic_drops_one_port_through_a_link() {
    xdp_round_trip(XdpMode::Generic, &AttachOptions::default());
}

#[test]
fn xdp_driver_mode_on_veth_drops_one_port_through_a_link() {
    xdp_round_trip(XdpMode::Driver, &AttachOptions::default());
}

#[test]
fn xdp_default_mode_is_the_drivers_on_veth() {
    xdp_round_trip(XdpMode::Default, &AttachOptions::default());
}

#[test]
fn xdp_generic_drops_one_port_through_netlink() {
    xdp_round_trip(XdpMode::Generic, &netlink());
}

#[test]
fn xdp_driver_mode_drops_one_port_through_netlink() {
    xdp_round_trip(XdpMode::Driver, &netlink());
}

/// Through rtnetlink: a second program is refused while one is there (EBUSY of
/// `XDP_FLAGS_UPDATE_IF_NOEXIST`), takes its place when it names it (`XDP_FLAGS_REPLACE`
/// with `IFLA_XDP_EXPECTED_FD`), and the first one's link, dropped then, leaves the second
/// attached: a netlink detach removes only its own program.
#[test]
fn xdp_netlink_refuses_a_second_program_and_replaces_the_one_it_names() {
    let pair = Pair::new();
    let first = load(pair.dropped_port());
    // The second drops nothing the test sends (port 9, discard): it counts all.
    let second = load(9);
    let first_prog = first.program("xdp_drop_port").unwrap();
    let second_prog = second.program("xdp_drop_port").unwrap();
    let first_id = first_prog.info().unwrap().id;
    let second_id = second_prog.info().unwrap().id;
    let generic = XdpOptions {
        mode: XdpMode::Generic,
        replace: None,
    };

    let first_link = xdp::attach(first_prog, "xdp0", &generic, &netlink()).unwrap();
    match xdp::attach(second_prog, "xdp0", &generic, &netlink()) {
        Err(AttachError::AlreadyAttached { error, target, .. }) => {
            assert_eq!(error.errno, libc::EBUSY);
            assert!(target.starts_with("XDP (generic) of xdp0"), "{target}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(xdp::query("xdp0").unwrap().generic, Some(first_id));

    let second_link = xdp::attach(
        second_prog,
        "xdp0",
        &XdpOptions {
            mode: XdpMode::Generic,
            replace: Some(first_prog),
        },
        &AttachOptions::default(),
    )
    .unwrap();
    // A replace goes through rtnetlink whatever the kernel has.
    assert_eq!(second_link.method().via, Via::NetlinkXdp);
    assert_eq!(xdp::query("xdp0").unwrap().generic, Some(second_id));
    assert_eq!(pair.exchange(2, 3), 2);
    assert_eq!(counts(&first), (0, 0));
    assert_eq!(counts(&second), (0, 5));

    // The first link's detach names the first program, which is no longer there.
    first_link.detach().unwrap();
    assert_eq!(xdp::query("xdp0").unwrap().generic, Some(second_id));
    // A replace that names a program no longer attached is refused (EEXIST).
    match xdp::attach(
        first_prog,
        "xdp0",
        &XdpOptions {
            mode: XdpMode::Generic,
            replace: Some(first_prog),
        },
        &AttachOptions::default(),
    ) {
        Err(AttachError::AlreadyAttached { error, .. }) => assert_eq!(error.errno, libc::EEXIST),
        other => panic!("{other:?}"),
    }
    assert_eq!(xdp::query("xdp0").unwrap().generic, Some(second_id));
    drop(second_link);
    assert!(xdp::query("xdp0").unwrap().is_empty());
    drop((first, second));
    wait_gone(first_id);
    wait_gone(second_id);
}

/// A BPF link holds the hook: a second link and a netlink attach are both refused, typed,
/// and the link's program stays.
#[test]
fn xdp_link_refuses_a_second_program_either_way() {
    if !xdp::links_supported() {
        eprintln!("skipped: this kernel has no XDP links (5.9)");
        return;
    }
    let pair = Pair::new();
    let first = load(pair.dropped_port());
    let second = load(9);
    let first_prog = first.program("xdp_drop_port").unwrap();
    let first_id = first_prog.info().unwrap().id;
    let second_prog = second.program("xdp_drop_port").unwrap();
    let generic = XdpOptions {
        mode: XdpMode::Generic,
        replace: None,
    };
    let link = xdp::attach(first_prog, "xdp0", &generic, &AttachOptions::default()).unwrap();
    for opts in [AttachOptions::default(), netlink()] {
        match xdp::attach(second_prog, "xdp0", &generic, &opts) {
            Err(e @ AttachError::AlreadyAttached { .. }) => {
                let AttachError::AlreadyAttached { error, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(error.errno, libc::EBUSY, "{e}");
                assert!(
                    e.to_string()
                        .contains("a program is attached there already"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(xdp::query("xdp0").unwrap().generic, Some(first_id));
    assert_eq!(pair.exchange(1, 1), 0);
    assert_eq!(counts(&first), (1, 1));
    assert_eq!(counts(&second), (0, 0));
    drop(link);
    assert!(xdp::query("xdp0").unwrap().is_empty());
}

/// Refusals: an interface that does not exist, and a mode the interface lacks (offload:
/// veth runs no BPF on a NIC), each one typed error, nothing attached after.
#[test]
fn xdp_refuses_a_missing_interface_and_a_mode_it_lacks() {
    let _pair = Pair::new();
    let object = load(9);
    let program = object.program("xdp_drop_port").unwrap();
    match xdp::attach(
        program,
        "nosuchxdp0",
        &XdpOptions::default(),
        &AttachOptions::default(),
    ) {
        Err(AttachError::InterfaceNotFound { interface }) => {
            assert_eq!(interface, "nosuchxdp0")
        }
        other => panic!("{other:?}"),
    }
    let offload = XdpOptions {
        mode: XdpMode::Offload,
        replace: None,
    };
    for opts in [AttachOptions::default(), netlink()] {
        let refused = xdp::attach(program, "xdp0", &offload, &opts);
        let (op, errno) = match &refused {
            Err(AttachError::Sys { error, .. }) | Err(AttachError::Netlink { error, .. }) => {
                (error.op, error.errno)
            }
            other => panic!("{other:?}"),
        };
        if opts.force_xdp_netlink || !xdp::links_supported() {
            assert_eq!(op, "RTM_SETLINK");
        } else {
            assert_eq!(op, "BPF_LINK_CREATE");
        }
        // The kernel: a program not loaded for the device cannot be offloaded to it.
        assert_eq!(errno, libc::EINVAL, "{refused:?}");
        assert!(xdp::query("xdp0").unwrap().is_empty());
    }
}

/// `SEC("xdp")` names no interface: `by_section` says which function attaches it.
#[test]
fn xdp_section_names_the_function_to_attach_with() {
    let object = load(9);
    let program = object.program("xdp_drop_port").unwrap();
    match attach::by_section(program, &AttachOptions::default()) {
        Err(AttachError::NoTarget {
            program,
            section,
            method,
        }) => {
            assert_eq!(program, "xdp_drop_port");
            assert_eq!(section, "xdp");
            assert!(
                method.starts_with("attach::xdp::attach(&program, interface"),
                "{method}"
            );
        }
        other => panic!("{other:?}"),
    }
}
