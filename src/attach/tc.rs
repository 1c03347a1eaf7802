//! tc programs (`BPF_PROG_TYPE_SCHED_CLS`) on a network interface's ingress or egress.
//!
//! ABI: TCX (6.6): `BPF_LINK_CREATE` with `link_create.target_ifindex` and attach type
//! `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS` (`include/uapi/linux/bpf.h`, `kernel/bpf/tcx.c`).
//! Before it, the clsact qdisc and a `bpf` classifier in direct-action mode, through
//! rtnetlink as `tc qdisc add dev X clsact` and `tc filter add dev X ingress bpf da fd N`
//! make them (`include/uapi/linux/rtnetlink.h`, `pkt_sched.h`, `pkt_cls.h`, `netlink.h`;
//! `net/sched/sch_ingress.c`, `net/sched/cls_bpf.c`; the messages are in
//! `attach::netlink`). Interface names to indices: `if_nametoindex(3)`.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Mutex;

use super::netlink::{self, netlink_error, open_socket, Failure, Socket};
use super::{AttachError, AttachMethod, AttachOptions, Link, Probe, Via};
use crate::load::Program;
use crate::syscall;
use crate::uapi::AttachType;

/// Which way of the interface's traffic the program sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcDirection {
    /// Packets the interface receives.
    #[default]
    Ingress,
    /// Packets it sends.
    Egress,
}

impl TcDirection {
    /// The direction a section name gives (`tc/egress`, `tcx/egress`: egress), by the
    /// expected attach type libbpf gives it; ingress otherwise (bare `tc`).
    pub fn of_attach_type(attach_type: AttachType) -> TcDirection {
        if attach_type == AttachType::TCX_EGRESS {
            TcDirection::Egress
        } else {
            TcDirection::Ingress
        }
    }

    fn tcx_attach_type(self) -> AttachType {
        match self {
            TcDirection::Ingress => AttachType::TCX_INGRESS,
            TcDirection::Egress => AttachType::TCX_EGRESS,
        }
    }

    fn parent(self) -> u32 {
        match self {
            TcDirection::Ingress => netlink::PARENT_INGRESS,
            TcDirection::Egress => netlink::PARENT_EGRESS,
        }
    }
}

impl fmt::Display for TcDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcDirection::Ingress => "ingress",
            TcDirection::Egress => "egress",
        })
    }
}

impl std::str::FromStr for TcDirection {
    type Err = String;

    fn from_str(s: &str) -> Result<TcDirection, String> {
        match s {
            "ingress" => Ok(TcDirection::Ingress),
            "egress" => Ok(TcDirection::Egress),
            _ => Err(format!("{s:?} is not a direction (ingress or egress)")),
        }
    }
}

/// A network interface: its index, from a name (`lo`) or the index itself (`1`).
pub fn interface_index(interface: &str) -> Result<u32, AttachError> {
    let not_found = || AttachError::InterfaceNotFound {
        interface: interface.to_string(),
    };
    if let Ok(index) = interface.parse::<u32>() {
        return syscall::interface_exists(index)
            .then_some(index)
            .ok_or_else(not_found);
    }
    syscall::interface_index(interface).ok_or_else(not_found)
}

/// A `bpf` filter this process added with rtnetlink: enough to delete it, and whether the
/// clsact qdisc it hangs off was made for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcFilter {
    /// The interface's index.
    pub ifindex: u32,
    /// The direction (the filter's parent, `ffff:fff2` or `ffff:fff3`).
    pub direction: TcDirection,
    /// Its priority (`tc filter ... prio`), as the kernel chose it.
    pub priority: u16,
    /// Its handle, as the kernel chose it.
    pub handle: u32,
    /// Whether this process created the interface's clsact qdisc (for this filter or
    /// another of its filters there): the last of its filters on the interface then
    /// removes it, unless filters of others are on it by then. A qdisc that was there
    /// before is left as it was.
    pub created_qdisc: bool,
}

/// The rtnetlink filter of a [`Link`]: deleted on drop, through the rtnetlink socket it
/// was added with. A socket speaks to the network namespace it was opened in, whichever
/// thread uses it later: the link may be dropped by a thread of another namespace.
#[derive(Debug)]
pub(crate) struct FilterGuard {
    filter: TcFilter,
    /// The namespace of the interface ([`current_netns`] when attached).
    netns: u64,
    socket: Socket,
    removed: bool,
}

impl FilterGuard {
    pub(crate) fn filter(&self) -> TcFilter {
        self.filter
    }

    pub(crate) fn remove(mut self) -> Result<(), AttachError> {
        self.removed = true;
        remove_filter(&self.filter, self.netns, &mut self.socket)
    }
}

impl Drop for FilterGuard {
    fn drop(&mut self) {
        if !self.removed {
            let _ = remove_filter(&self.filter, self.netns, &mut self.socket);
        }
    }
}

/// The calling thread's network namespace, by the inode of its nsfs file: interface
/// indexes are per namespace (every namespace's `lo` is 1), so the qdiscs this process
/// made are counted per (namespace, interface). 0 where /proc cannot say.
fn current_netns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").map_or(0, |m| m.ino())
}

/// The clsact qdiscs this process attaches filters to, by network namespace and interface:
/// whether it created the qdisc, and how many of its filters are on it. Held across each attach and removal,
/// so that the qdisc is created once and removed by the last filter.
static CLSACT_USERS: Mutex<Vec<ClsactUse>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct ClsactUse {
    netns: u64,
    ifindex: u32,
    created: bool,
    filters: usize,
}

fn clsact_users() -> std::sync::MutexGuard<'static, Vec<ClsactUse>> {
    CLSACT_USERS.lock().unwrap_or_else(|e| e.into_inner())
}

fn remove_filter(filter: &TcFilter, netns: u64, socket: &mut Socket) -> Result<(), AttachError> {
    let mut users = clsact_users();
    let last = match users
        .iter()
        .position(|u| u.netns == netns && u.ifindex == filter.ifindex)
    {
        Some(i) => {
            users[i].filters = users[i].filters.saturating_sub(1);
            if users[i].filters == 0 {
                users.remove(i);
                true
            } else {
                false
            }
        }
        None => true,
    };
    let target = format!(
        "tc {} filter prio {} handle {:#x} of ifindex {}",
        filter.direction, filter.priority, filter.handle, filter.ifindex
    );
    let seq = socket.next_seq();
    let request = netlink::delete_bpf_filter(
        filter.ifindex as i32,
        filter.direction.parent(),
        filter.priority,
        filter.handle,
        seq,
    );
    let deleted = socket.request(&request, seq);
    match deleted {
        Ok(_) => {}
        // Gone already (the qdisc was deleted under it, or the interface).
        Err(Failure::Refused { errno, .. }) if errno == libc::ENOENT || errno == libc::ENODEV => {}
        Err(failure) => return Err(netlink_error(&target, "RTM_DELTFILTER", failure)),
    }
    if !filter.created_qdisc || !last {
        return Ok(());
    }
    // The qdisc was made by this process and this was its last filter there: remove it
    // unless someone else's filters use it now (deleting it would delete those too).
    for direction in [TcDirection::Ingress, TcDirection::Egress] {
        if !filters_through(socket, filter.ifindex, direction)?.is_empty() {
            return Ok(());
        }
    }
    let seq = socket.next_seq();
    match socket.request(&netlink::delete_clsact(filter.ifindex as i32, seq), seq) {
        Ok(_) => Ok(()),
        Err(Failure::Refused { errno, .. })
            if errno == libc::ENOENT || errno == libc::EINVAL || errno == libc::ENODEV =>
        {
            Ok(())
        }
        Err(failure) => Err(netlink_error(&target, "RTM_DELQDISC", failure)),
    }
}

/// A filter on an interface's clsact qdisc, as `tc filter show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcFilterInfo {
    /// Its priority.
    pub priority: u16,
    /// Its handle.
    pub handle: u32,
    /// The classifier (`bpf`).
    pub kind: String,
    /// For a `bpf` filter: the name it was given (`tc_ingress:[42]`).
    pub bpf_name: Option<String>,
    /// For a `bpf` filter: the program's id.
    pub program_id: Option<u32>,
}

/// The filters on the interface's clsact qdisc in that direction (`tc filter show dev X
/// ingress`); empty when it has no clsact qdisc.
pub fn filters(ifindex: u32, direction: TcDirection) -> Result<Vec<TcFilterInfo>, AttachError> {
    let target = format!("the tc {direction} filters of ifindex {ifindex}");
    let mut socket = open_socket(&target)?;
    filters_through(&mut socket, ifindex, direction)
}

/// [`filters`], through a socket of the interface's namespace.
fn filters_through(
    socket: &mut Socket,
    ifindex: u32,
    direction: TcDirection,
) -> Result<Vec<TcFilterInfo>, AttachError> {
    let target = format!("the tc {direction} filters of ifindex {ifindex}");
    let seq = socket.next_seq();
    let request = netlink::dump_filters(ifindex as i32, direction.parent(), seq);
    let messages = match socket.request(&request, seq) {
        Ok(messages) => messages,
        // No clsact qdisc: nothing to dump from (EINVAL before 5.x, ENOENT after).
        Err(Failure::Refused { errno, .. }) if errno == libc::EINVAL || errno == libc::ENOENT => {
            return Ok(Vec::new())
        }
        Err(failure) => return Err(netlink_error(&target, "RTM_GETTFILTER", failure)),
    };
    let mut out = Vec::new();
    for message in messages {
        if message.msg_type != netlink::RTM_NEWTFILTER {
            continue;
        }
        let object = netlink::parse_tc_object(&message.payload)
            .map_err(|m| netlink_error(&target, "RTM_GETTFILTER", Failure::Malformed(m)))?;
        // The chain's head (no handle) is listed with the filters of its priority.
        if object.tc.ifindex as u32 != ifindex || object.tc.handle == 0 {
            continue;
        }
        out.push(TcFilterInfo {
            priority: object.tc.priority(),
            handle: object.tc.handle,
            kind: object.kind,
            bpf_name: object.bpf_name,
            program_id: object.bpf_id,
        });
    }
    Ok(out)
}

/// The ids of the programs attached to the interface's TCX hook in that direction
/// (`BPF_PROG_QUERY`), in the order they run; empty on kernels without TCX (before 6.6).
pub fn tcx_programs(ifindex: u32, direction: TcDirection) -> Result<Vec<u32>, AttachError> {
    match syscall::prog_query(ifindex, direction.tcx_attach_type().0) {
        Ok(ids) => Ok(ids),
        // Before 6.6 the attach type is unknown: EINVAL.
        Err(error) if error.errno == libc::EINVAL => Ok(Vec::new()),
        Err(error) => Err(AttachError::Sys {
            target: format!("the TCX {direction} programs of ifindex {ifindex}"),
            error,
        }),
    }
}

/// Does the interface have a clsact qdisc (`tc qdisc show dev X`)?
pub fn has_clsact(ifindex: u32) -> Result<bool, AttachError> {
    let target = format!("the qdiscs of ifindex {ifindex}");
    let mut socket = open_socket(&target)?;
    let seq = socket.next_seq();
    let messages = socket
        .request(&netlink::dump_qdiscs(ifindex as i32, seq), seq)
        .map_err(|failure| netlink_error(&target, "RTM_GETQDISC", failure))?;
    for message in messages {
        if message.msg_type != netlink::RTM_NEWQDISC {
            continue;
        }
        let object = netlink::parse_tc_object(&message.payload)
            .map_err(|m| netlink_error(&target, "RTM_GETQDISC", Failure::Malformed(m)))?;
        if object.tc.ifindex as u32 == ifindex && object.kind == "clsact" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Attaches a tc program (`SEC("tc")`, `tc/ingress`, `tcx/egress`, ...) to network
/// interface `interface` (a name, `lo`, or an index, `1`), in `direction`: as a TCX link
/// where the kernel has them (6.6) unless [`AttachOptions::force_tc_netlink`], else as a
/// `bpf` filter in direct-action mode on the interface's clsact qdisc (created if absent
/// and then removed with the filter). [`Link::method`] says which; dropping the link
/// detaches the program.
///
/// Creating or deleting the clsact qdisc deactivates the interface for a moment, as
/// `tc qdisc add` does (`qdisc_graft` calls `dev_deactivate`): packets in flight on it
/// then are dropped. A program that only watches should return `TC_ACT_UNSPEC`
/// (= `TCX_NEXT`, -1), not `TC_ACT_OK`, which ends the hook's run and hides the
/// packet from the programs and filters after it.
pub fn attach(
    prog: &Program,
    interface: &str,
    direction: TcDirection,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let prog_name = prog.name();
    let prog = prog.as_fd();
    let ifindex = interface_index(interface)?;
    let target = if interface.parse::<u32>().is_ok() {
        format!("tc {direction} of ifindex {ifindex}")
    } else {
        format!("tc {direction} of {interface} (ifindex {ifindex})")
    };
    if !opts.force_tc_netlink {
        match syscall::link_create_raw_target(prog, ifindex as i32, direction.tcx_attach_type().0) {
            Ok(fd) => {
                return Ok(Link::of_bpf_link(
                    AttachMethod {
                        probe: Probe::Tc,
                        via: Via::BpfLink,
                    },
                    target,
                    fd,
                ))
            }
            // Before 6.6 the kernel knows no TCX attach type: EINVAL.
            Err(e) if e.is_not_supported() => {}
            Err(error) => return Err(AttachError::Sys { target, error }),
        }
    }
    attach_filter(prog, prog_name, ifindex, direction, target)
}

/// The way before TCX: the interface's clsact qdisc (made if missing, counted per
/// namespace and interface in [`CLSACT_USERS`]), then a `bpf` filter on it in direct-action
/// mode, as `tc filter add dev IF DIRECTION bpf da` does.
fn attach_filter(
    prog: BorrowedFd<'_>,
    prog_name: &str,
    ifindex: u32,
    direction: TcDirection,
    target: String,
) -> Result<Link, AttachError> {
    let mut socket = open_socket(&target)?;
    let netns = current_netns();
    let mut users = clsact_users();
    let known = users
        .iter()
        .position(|u| u.netns == netns && u.ifindex == ifindex);
    let seq = socket.next_seq();
    // Created here: by this call (a new qdisc), or by an earlier one of this process.
    let (created_qdisc, created_now) =
        match socket.request(&netlink::add_clsact(ifindex as i32, seq), seq) {
            Ok(_) => (true, true),
            Err(Failure::Refused { errno, .. }) if errno == libc::EEXIST => {
                (known.is_some_and(|i| users[i].created), false)
            }
            Err(failure) => return Err(netlink_error(&target, "RTM_NEWQDISC", failure)),
        };
    let echo = match add_filter(&mut socket, prog, prog_name, ifindex, direction, &target) {
        Ok(echo) => echo,
        Err(error) => {
            if created_now {
                let seq = socket.next_seq();
                let _ = socket.request(&netlink::delete_clsact(ifindex as i32, seq), seq);
            }
            return Err(error);
        }
    };
    match known {
        Some(i) => {
            users[i].filters += 1;
            // Deleted under us and made again by this call.
            users[i].created |= created_now;
        }
        None => users.push(ClsactUse {
            netns,
            ifindex,
            created: created_qdisc,
            filters: 1,
        }),
    }
    drop(users);
    let guard = FilterGuard {
        filter: TcFilter {
            ifindex,
            direction,
            priority: echo.tc.priority(),
            handle: echo.tc.handle,
            created_qdisc,
        },
        netns,
        socket,
        removed: false,
    };
    Ok(Link {
        method: AttachMethod {
            probe: Probe::Tc,
            via: Via::Netlink,
        },
        target,
        bpf_link: None,
        perf_event: None,
        kprobe: None,
        owned: Some(Box::new(guard)),
    })
}

/// `RTM_NEWTFILTER` of a `bpf` filter running `prog`, named as libbpf names it
/// (`NAME:[ID]`, so that `tc filter show` tells which program it is), with `NLM_F_ECHO`:
/// the echo is the filter with the priority and handle the kernel chose.
fn add_filter(
    socket: &mut Socket,
    prog: BorrowedFd<'_>,
    prog_name: &str,
    ifindex: u32,
    direction: TcDirection,
    target: &str,
) -> Result<netlink::TcObject, AttachError> {
    let name = match syscall::prog_info(prog) {
        Ok(info) => format!("{prog_name}:[{}]", info.id),
        Err(_) => prog_name.to_string(),
    };
    let seq = socket.next_seq();
    let request = netlink::add_bpf_filter(
        ifindex as i32,
        direction.parent(),
        0,
        0,
        prog.as_raw_fd(),
        &name,
        seq,
    );
    let messages = socket
        .request(&request, seq)
        .map_err(|failure| netlink_error(target, "RTM_NEWTFILTER", failure))?;
    messages
        .iter()
        .filter(|m| m.msg_type == netlink::RTM_NEWTFILTER)
        .find_map(|m| netlink::parse_tc_object(&m.payload).ok())
        .ok_or_else(|| AttachError::NetlinkReply {
            target: target.to_string(),
            request: "RTM_NEWTFILTER",
            reason: "the kernel did not echo the filter it added (NLM_F_ECHO)".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_read_and_print() {
        assert_eq!("ingress".parse::<TcDirection>(), Ok(TcDirection::Ingress));
        assert_eq!("egress".parse::<TcDirection>(), Ok(TcDirection::Egress));
        assert!("in".parse::<TcDirection>().is_err());
        assert_eq!(TcDirection::Egress.to_string(), "egress");
        assert_eq!(
            TcDirection::of_attach_type(AttachType::TCX_EGRESS),
            TcDirection::Egress
        );
        assert_eq!(
            TcDirection::of_attach_type(AttachType::NONE),
            TcDirection::Ingress
        );
    }

    #[test]
    fn an_unknown_interface_is_named_in_the_error() {
        let error = interface_index("no-such-if0").unwrap_err();
        assert_eq!(
            error.to_string(),
            "no network interface no-such-if0 (see `ip link`)"
        );
        assert!(interface_index("4000000000").is_err());
        assert!(interface_index("a\0b").is_err());
    }
}
