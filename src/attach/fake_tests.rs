//! The attach step on the fake kernel (`syscall::fake`): each way of attaching, and each
//! fallback to an older way, as the exact calls made. No kernel object is made; the
//! tracepoint ids are read from the real tracefs (a file, not a system call).

use super::*;
use crate::elf::ObjectSpec;
use crate::load::{LoadOptions, Object, Program};
use crate::syscall::fake::FakeKernel;

fn fixture(name: &str) -> ObjectSpec {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    ObjectSpec::parse(&bytes).unwrap()
}

/// The attach calls these tests and `fault_tests` make, in one place.
pub(super) fn by_section(program: &Program, opts: &AttachOptions) -> Result<Link, AttachError> {
    super::by_section(program, opts)
}

/// A tc program on `interface`.
pub(super) fn tc_attach(
    program: &Program,
    interface: &str,
    direction: tc::TcDirection,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    tc::attach(program, interface, direction, opts)
}

/// A socket filter on a packet socket bound to `interface`.
pub(super) fn packet_socket(program: &Program, interface: &str) -> Result<Link, AttachError> {
    socket::attach_packet(program, interface)
}

/// `fixture` loaded on a fake kernel (probed, its calls forgotten).
fn loaded(name: &str) -> (FakeKernel, Object) {
    let kernel = FakeKernel::install();
    let object = Object::load(&fixture(name), &LoadOptions::default()).unwrap();
    kernel.take_calls();
    (kernel, object)
}

/// The id of tracepoint `sock/inet_sock_set_state`, as `perf_event_open` gets it.
fn inet_sock_set_state_id() -> u64 {
    let tracefs = tracefs::tracefs_dir().unwrap();
    tracefs::event_id(&tracefs, "sock", "inet_sock_set_state")
        .unwrap()
        .unwrap()
}

#[test]
fn a_tracepoint_is_bound_with_a_bpf_link_where_the_kernel_has_them() {
    let (kernel, object) = loaded("tagged.bpf.o");
    let id = inet_sock_set_state_id();
    let link = by_section(&object.programs()[0], &AttachOptions::default()).unwrap();
    assert_eq!(
        kernel.take_calls(),
        [
            format!("perf_event_open type=2 config={id:#x} pid=-1 cpu=0"),
            format!("BPF_LINK_CREATE tagged -> tracepoint {id} attach_type=41"),
            format!("PERF_EVENT_IOC_ENABLE tracepoint {id}"),
        ]
    );
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::Tracepoint,
            via: Via::BpfLink
        }
    );
    assert!(kernel
        .open_fds()
        .contains(&format!("link tagged -> tracepoint {id} attach_type=41")));
    link.detach().unwrap();
    // A BPF link: BPF_LINK_DETACH, which a perf event link lacks (the fake answers as a
    // kernel without it): then it detaches when closed; no ioctl.
    assert_eq!(kernel.take_calls(), ["BPF_LINK_DETACH"]);
    drop(object);
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn without_perf_links_the_program_is_set_on_the_event_with_the_ioctl() {
    let (kernel, object) = loaded("tagged.bpf.o");
    // Before 5.15 the kernel does not know BPF_PERF_EVENT.
    kernel.refuse(|call| (call.op == "BPF_LINK_CREATE").then_some(libc::EINVAL));
    let id = inet_sock_set_state_id();
    let link = by_section(&object.programs()[0], &AttachOptions::default()).unwrap();
    assert_eq!(
        kernel.take_calls(),
        [
            format!("perf_event_open type=2 config={id:#x} pid=-1 cpu=0"),
            format!("BPF_LINK_CREATE tagged -> tracepoint {id} attach_type=41"),
            format!("PERF_EVENT_IOC_SET_BPF tracepoint {id} tagged"),
            format!("PERF_EVENT_IOC_ENABLE tracepoint {id}"),
        ]
    );
    assert_eq!(link.method().via, Via::PerfIoctl);
    link.detach().unwrap();
    assert_eq!(
        kernel.take_calls(),
        [format!("PERF_EVENT_IOC_DISABLE tracepoint {id}")]
    );

    // Any other refusal is not a missing feature: the error names the target, and the
    // perf event is closed.
    kernel.refuse(|call| (call.op == "perf_event_open").then_some(libc::EMFILE));
    let error = by_section(&object.programs()[0], &AttachOptions::default()).unwrap_err();
    match &error {
        AttachError::Sys { target, error } => {
            assert_eq!(target, "tracepoint sock/inet_sock_set_state");
            assert_eq!((error.op, error.errno), ("perf_event_open", libc::EMFILE));
        }
        other => panic!("{other:?}"),
    }
    drop(object);
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn a_link_create_refused_for_another_reason_is_an_error_and_closes_the_event() {
    let (kernel, object) = loaded("tagged.bpf.o");
    kernel.refuse(|call| (call.op == "BPF_LINK_CREATE").then_some(libc::EPERM));
    let error = by_section(&object.programs()[0], &AttachOptions::default()).unwrap_err();
    match &error {
        AttachError::Sys { target, error } => {
            assert_eq!(target, "tracepoint sock/inet_sock_set_state");
            assert_eq!((error.op, error.errno), ("BPF_LINK_CREATE", libc::EPERM));
        }
        other => panic!("{other:?}"),
    }
    assert!(!kernel
        .calls()
        .iter()
        .any(|c| c.starts_with("PERF_EVENT_IOC")));
    drop(object);
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn tc_attaches_through_tcx_where_the_kernel_has_it() {
    let (kernel, object) = loaded("net.bpf.o");
    let classifier = object.program("count_tc").unwrap();
    let link = tc_attach(
        classifier,
        "lo",
        tc::TcDirection::Ingress,
        &AttachOptions::default(),
    )
    .unwrap();
    assert_eq!(
        kernel.take_calls(),
        ["BPF_LINK_CREATE count_tc -> ifindex 1 attach_type=46"]
    );
    assert_eq!(link.method().via, Via::BpfLink);
}

#[test]
fn tc_falls_back_from_tcx_to_a_netlink_filter_and_removes_it() {
    let (kernel, object) = loaded("net.bpf.o");
    // Before 6.6: no TCX attach type.
    kernel.refuse(|call| {
        (call.op == "BPF_LINK_CREATE" && call.detail.ends_with("attach_type=46"))
            .then_some(libc::EINVAL)
    });
    let classifier = object.program("count_tc").unwrap();
    let link = tc_attach(
        classifier,
        "lo",
        tc::TcDirection::Ingress,
        &AttachOptions::default(),
    )
    .unwrap();
    let socket = "socket(AF_NETLINK)";
    assert_eq!(
        kernel.take_calls(),
        [
            "BPF_LINK_CREATE count_tc -> ifindex 1 attach_type=46".to_string(),
            format!("{socket} domain=16 protocol=0x0"),
            format!("setsockopt(NETLINK_EXT_ACK) {socket} 1"),
            // RTM_NEWQDISC clsact, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE.
            format!("sendto(NETLINK_ROUTE) {socket} type=36 flags=0x605"),
            format!("recv {socket}"),
            // The filter's name is the program's with its id, as libbpf's.
            "BPF_OBJ_GET_INFO_BY_FD count_tc".to_string(),
            // RTM_NEWTFILTER, with NLM_F_ECHO: the kernel says which handle it chose.
            format!("sendto(NETLINK_ROUTE) {socket} type=44 flags=0x60d"),
            format!("recv {socket}"),
        ]
    );
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::Tc,
            via: Via::Netlink
        }
    );
    link.detach().unwrap();
    assert_eq!(
        kernel.take_calls(),
        [
            // Through the socket the filter was added with (it speaks to the namespace of
            // the interface, whichever thread drops the link): RTM_DELTFILTER.
            format!("sendto(NETLINK_ROUTE) {socket} type=45 flags=0x5"),
            format!("recv {socket}"),
            // This attach made the qdisc: it goes too, unless another filter uses it now
            // (RTM_GETTFILTER dumps, NLM_F_DUMP, of both directions: none here).
            format!("sendto(NETLINK_ROUTE) {socket} type=46 flags=0x301"),
            format!("recv {socket}"),
            format!("sendto(NETLINK_ROUTE) {socket} type=46 flags=0x301"),
            format!("recv {socket}"),
            // RTM_DELQDISC.
            format!("sendto(NETLINK_ROUTE) {socket} type=37 flags=0x5"),
            format!("recv {socket}"),
        ]
    );
    drop(object);
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}

#[test]
fn a_socket_filter_is_attached_to_a_packet_socket_bound_to_the_interface() {
    let (kernel, object) = loaded("net.bpf.o");
    let filter = object.program("count_socket").unwrap();
    let link = packet_socket(filter, "lo").unwrap();
    let socket = "socket(AF_PACKET)";
    assert_eq!(
        kernel.take_calls(),
        [
            format!("{socket} domain=17 protocol=0x300"),
            format!("bind(AF_PACKET) {socket} ifindex=1"),
            format!("setsockopt(SO_ATTACH_BPF) {socket} count_socket"),
        ]
    );
    assert_eq!(link.method().via, Via::Setsockopt);
}

#[test]
fn a_raw_tracepoint_is_opened_by_name() {
    let (kernel, object) = loaded("nested.bpf.o");
    let link = by_section(
        object.program("on_enter").unwrap(),
        &AttachOptions::default(),
    )
    .unwrap();
    assert_eq!(
        kernel.take_calls(),
        ["BPF_RAW_TRACEPOINT_OPEN on_enter task_rename"]
    );
    assert_eq!(link.method().via, Via::RawTracepointOpen);
}

#[test]
fn xdp_links_where_the_probe_finds_them() {
    let (kernel, object) = loaded("xdp.bpf.o");
    let program = object.program("xdp_drop_port").unwrap();
    let generic = xdp::XdpOptions {
        mode: xdp::XdpMode::Generic,
        replace: None,
    };
    let link = xdp::attach(program, "lo", &generic, &AttachOptions::default()).unwrap();
    assert_eq!(
        kernel.take_calls(),
        [
            // The probe: program fd -1, EBADF: the kernel knows BPF_XDP.
            "BPF_LINK_CREATE fd -1 -> ifindex 0 attach_type=37 flags=0x0",
            // XDP_FLAGS_SKB_MODE.
            "BPF_LINK_CREATE xdp_drop_port -> ifindex 1 attach_type=37 flags=0x2",
        ]
    );
    assert_eq!(link.method().via, Via::BpfLink);
    drop(link);
    assert_eq!(kernel.take_calls(), Vec::<String>::new());
}

#[test]
fn xdp_falls_back_to_netlink_without_xdp_links_and_removes_only_its_own_program() {
    let (kernel, object) = loaded("xdp.bpf.o");
    // Before 5.9: BPF_XDP is no attach type.
    kernel.refuse(|call| {
        (call.op == "BPF_LINK_CREATE" && call.detail.contains("attach_type=37"))
            .then_some(libc::EINVAL)
    });
    let program = object.program("xdp_drop_port").unwrap();
    let driver = xdp::XdpOptions {
        mode: xdp::XdpMode::Driver,
        replace: None,
    };
    let link = xdp::attach(program, "lo", &driver, &AttachOptions::default()).unwrap();
    let socket = "socket(AF_NETLINK)";
    let setlink = [
        format!("{socket} domain=16 protocol=0x0"),
        format!("setsockopt(NETLINK_EXT_ACK) {socket} 1"),
        // RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK.
        format!("sendto(NETLINK_ROUTE) {socket} type=19 flags=0x5"),
        format!("recv {socket}"),
    ];
    let mut expected =
        vec!["BPF_LINK_CREATE fd -1 -> ifindex 0 attach_type=37 flags=0x0".to_string()];
    expected.extend(setlink.iter().cloned());
    assert_eq!(kernel.take_calls(), expected);
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::Xdp,
            via: Via::NetlinkXdp
        }
    );
    // IFLA_XDP { FD, FLAGS = DRV_MODE | UPDATE_IF_NOEXIST }.
    let sent = kernel.last_sent();
    let xdp_nest = netlink::attributes(&sent[32..]);
    let inner = netlink::attributes(xdp_nest[0].1);
    assert_eq!(inner[1], (3, &0x5u32.to_ne_bytes()[..]));
    let own_fd = inner[0].1.to_vec();

    link.detach().unwrap();
    assert_eq!(kernel.take_calls(), setlink);
    // The detach: fd -1, DRV_MODE | REPLACE, and the program it attached as the expected
    // one, so that it never removes another.
    let sent = kernel.last_sent();
    let inner = netlink::attributes(netlink::attributes(&sent[32..])[0].1)
        .into_iter()
        .map(|(t, v)| (t, v.to_vec()))
        .collect::<Vec<_>>();
    assert_eq!(
        inner,
        vec![
            (1, (-1i32).to_ne_bytes().to_vec()),
            (3, 0x14u32.to_ne_bytes().to_vec()),
            (8, own_fd),
        ]
    );
    drop(object);
    assert_eq!(kernel.open_fds(), Vec::<String>::new());
}
