//! tc programs and socket filters on `lo`, made to count the test's own UDP datagrams
//! (root). The programs (tests/fixtures/net.bpf.c) count the IPv4 UDP datagrams to one
//! port, set before loading: each test binds its own receiver on an ephemeral port, so the
//! tests run in parallel without counting each other's traffic.
//!
//! A tc program is attached through TCX where the kernel has it (6.6+: this host, the
//! 6.12 guest), else, and always with `force_tc_netlink`, as a `bpf` filter on lo's
//! clsact qdisc through rtnetlink (the 5.10 and 6.1 guests). Each test runs in a network
//! namespace of its own (`private_lo`): its `lo`, and that `lo`'s clsact qdisc, are its
//! alone, so whether a test created the qdisc decides whether its drop removes it, and the
//! datagrams never reach the host's loopback.

mod harness;

use harness::net::*;

use ebpf_loader::attach;
use ebpf_loader::attach::{tc, AttachError, AttachMethod, AttachOptions, Probe, TcDirection, Via};

/// Does this kernel have TCX links (6.6)?
fn kernel_has_tcx() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().unwrap().parse().unwrap();
    let minor: u32 = parts.next().unwrap().parse().unwrap();
    (major, minor) >= (6, 6)
}

/// Attaches count_tc in `direction`, sends 3 datagrams, checks the count, where the
/// program is listed (the TCX hook or a filter), and that nothing is left after drop.
fn tc_round_trip(direction: TcDirection, opts: &AttachOptions) {
    let netlink = opts.force_tc_netlink || !kernel_has_tcx();
    let _ns = private_lo();
    let (receiver, port) = receiver();
    let object = load("count_tc", port);
    let program = object.program("count_tc").unwrap();
    let id = program.info().unwrap().id;
    let had_clsact = tc::has_clsact(lo()).unwrap();

    let link = attach::tc::attach(program, "lo", direction, opts).unwrap();
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
    let _ns = private_lo();
    let netlink = AttachOptions {
        force_tc_netlink: true,
        ..Default::default()
    };
    let (receiver, port) = receiver();
    let first = load("count_tc", port);
    let second = load("count_tc", port);
    let had_clsact = tc::has_clsact(lo()).unwrap();
    let a = attach::tc::attach(
        first.program("count_tc").unwrap(),
        "lo",
        TcDirection::Ingress,
        &netlink,
    )
    .unwrap();
    let b = attach::tc::attach(
        second.program("count_tc").unwrap(),
        "lo",
        TcDirection::Ingress,
        &netlink,
    )
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

/// Interface indexes are per namespace (each namespace's `lo` is 1): the qdisc a filter
/// made in one namespace goes with that filter, whatever filters of the same process live
/// on the `lo` of another, and a link dropped by a thread of another namespace still
/// removes its own (seen in the 6.1 guest before the count was kept per namespace).
#[test]
fn each_namespace_keeps_its_own_qdisc_count() {
    let netlink = AttachOptions {
        force_tc_netlink: true,
        ..Default::default()
    };
    let (attached, attached_rx) = std::sync::mpsc::channel();
    let (done, done_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let _ns = private_lo();
        let object = load("count_tc", 9);
        let program = object.program("count_tc").unwrap();
        let link = attach::tc::attach(program, "lo", TcDirection::Ingress, &netlink).unwrap();
        attached.send(()).unwrap();
        done_rx.recv().unwrap();
        // Dropped in this namespace, after the other namespace's filter is gone.
        drop(link);
        tc::has_clsact(lo()).unwrap()
    });
    attached_rx.recv().unwrap();
    let _ns = private_lo();
    let object = load("count_tc", 9);
    let program = object.program("count_tc").unwrap();
    assert!(!tc::has_clsact(lo()).unwrap());
    let link = attach::tc::attach(program, "lo", TcDirection::Ingress, &netlink).unwrap();
    assert!(link.tc_filter().unwrap().created_qdisc);
    drop(link);
    assert!(
        !tc::has_clsact(lo()).unwrap(),
        "this namespace's qdisc stayed"
    );
    done.send(()).unwrap();
    assert!(!other.join().unwrap(), "the other namespace's qdisc stayed");
}

#[test]
fn a_bare_tc_or_socket_section_names_the_method_to_use() {
    for (program, section, method) in [
        ("count_tc", "tc", "attach::tc::attach(&program, "),
        (
            "count_socket",
            "socket",
            "attach::socket::attach(&program, ",
        ),
    ] {
        let object = load(program, 9);
        let error = attach::by_section(object.program(program).unwrap(), &AttachOptions::default())
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
    let error = attach::tc::attach(
        program,
        "nosuchif0",
        TcDirection::Ingress,
        &AttachOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, AttachError::InterfaceNotFound { interface } if interface == "nosuchif0"),
        "{error:?}"
    );
    let object = load("count_socket", 9);
    let error = attach::socket::attach_packet(object.program("count_socket").unwrap(), "nosuchif0")
        .unwrap_err();
    assert!(matches!(error, AttachError::InterfaceNotFound { .. }));
}

/// A socket filter is not a tc program: the kernel says so, in rtnetlink's words too.
#[test]
fn the_kernels_netlink_refusal_is_a_typed_error() {
    let _ns = private_lo();
    let had_clsact = tc::has_clsact(lo()).unwrap();
    let object = load("count_socket", 9);
    let error = attach::tc::attach(
        object.program("count_socket").unwrap(),
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
    let _ns = private_lo();
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
        let link = attach::tc::attach(program, "lo", TcDirection::Ingress, &opts).unwrap();
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
