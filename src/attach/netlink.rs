//! rtnetlink for tc: the messages `tc qdisc add dev X clsact` and
//! `tc filter add dev X ingress bpf da fd N` send, their acknowledgements and dumps; and
//! for XDP: `ip link set dev X xdp fd N` (`RTM_SETLINK` with `IFLA_XDP`) and the XDP state
//! `ip link show` reads from `RTM_GETLINK`.
//!
//! ABI: `struct nlmsghdr`, `struct nlmsgerr`, the `NLM_F_*` flags and the extended ack
//! attributes (`NLMSGERR_ATTR_MSG`) in `include/uapi/linux/netlink.h`
//! (`Documentation/userspace-api/netlink/intro.rst`); `struct tcmsg`, `RTM_*QDISC`,
//! `RTM_*TFILTER` and `TCA_KIND`/`TCA_OPTIONS` in `include/uapi/linux/rtnetlink.h`;
//! `TC_H_CLSACT`, `TC_H_MIN_INGRESS`/`TC_H_MIN_EGRESS` in `include/uapi/linux/pkt_sched.h`;
//! the `bpf` classifier's `TCA_BPF_*` attributes and `TCA_BPF_FLAG_ACT_DIRECT` in
//! `include/uapi/linux/pkt_cls.h` (served by `net/sched/cls_bpf.c`); `struct ifinfomsg`
//! and `RTM_*LINK` in `include/uapi/linux/rtnetlink.h`, `IFLA_XDP` and its nested
//! `IFLA_XDP_*` attributes and the `XDP_FLAGS_*` in `include/uapi/linux/if_link.h`
//! (served by `do_setlink` and `rtnl_xdp_fill` in `net/core/rtnetlink.c`).
//!
//! The building and the parsing are pure (bytes in, bytes out) and bounds-checked; only
//! [`Socket`] does I/O: one `AF_NETLINK`/`NETLINK_ROUTE` socket, a request, and the replies
//! read up to its acknowledgement (or a dump's `NLMSG_DONE`).

use std::os::fd::{AsFd, OwnedFd};

use super::AttachError;
use crate::syscall::{self, SysError};

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
pub(crate) const RTM_NEWQDISC: u16 = 36;
pub(crate) const RTM_DELQDISC: u16 = 37;
pub(crate) const RTM_GETQDISC: u16 = 38;
pub(crate) const RTM_NEWTFILTER: u16 = 44;
pub(crate) const RTM_DELTFILTER: u16 = 45;
pub(crate) const RTM_GETTFILTER: u16 = 46;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_ECHO: u16 = 0x8;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
/// In an `NLMSG_ERROR`: the request was not copied back (`NETLINK_CAP_ACK`).
const NLM_F_CAPPED: u16 = 0x100;
/// In an `NLMSG_ERROR`: extended ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `TC_H_CLSACT` (= `TC_H_INGRESS`): the clsact qdisc's parent.
pub(crate) const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// The clsact qdisc's own handle, `TC_H_MAKE(TC_H_CLSACT, 0)`.
pub(crate) const CLSACT_HANDLE: u32 = 0xFFFF_0000;
/// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`: the parent of ingress filters.
pub(crate) const PARENT_INGRESS: u32 = 0xFFFF_FFF2;
/// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)`: the parent of egress filters.
pub(crate) const PARENT_EGRESS: u32 = 0xFFFF_FFF3;
/// `ETH_P_ALL`: the filter sees every protocol.
const ETH_P_ALL: u16 = 0x0003;

const NLMSG_HDRLEN: usize = 16;
const TCMSG_LEN: usize = 20;
/// `struct ifinfomsg`: family, pad, type, index, flags, change.
const IFINFOMSG_LEN: usize = 16;

/// `IFLA_XDP`: the nest of an interface's XDP attributes.
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
/// 5.7: with `XDP_FLAGS_REPLACE`, the program that must be there for the request to apply.
const IFLA_XDP_EXPECTED_FD: u16 = 8;

/// `XDP_FLAGS_UPDATE_IF_NOEXIST`: refuse (`EBUSY`) if a program is attached already.
pub(crate) const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
/// `XDP_FLAGS_SKB_MODE`: generic XDP, on the skb, for any interface.
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE`: native XDP, in the driver, before any skb.
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `XDP_FLAGS_HW_MODE`: offloaded to the NIC.
pub(crate) const XDP_FLAGS_HW_MODE: u32 = 1 << 3;
/// `XDP_FLAGS_REPLACE` (5.7): apply only if the program now attached is
/// `IFLA_XDP_EXPECTED_FD`'s.
pub(crate) const XDP_FLAGS_REPLACE: u32 = 1 << 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// `struct tcmsg`: which device, object and parent a tc message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TcMsg {
    pub ifindex: i32,
    pub handle: u32,
    pub parent: u32,
    /// For filters: `TC_H_MAKE(priority << 16, htons(protocol))`.
    pub info: u32,
}

impl TcMsg {
    fn bytes(&self) -> [u8; TCMSG_LEN] {
        let mut b = [0u8; TCMSG_LEN];
        // tcm_family (AF_UNSPEC) and the two pads stay 0.
        b[4..8].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[8..12].copy_from_slice(&self.handle.to_ne_bytes());
        b[12..16].copy_from_slice(&self.parent.to_ne_bytes());
        b[16..20].copy_from_slice(&self.info.to_ne_bytes());
        b
    }

    fn parse(payload: &[u8]) -> Option<TcMsg> {
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(
                payload.get(at..at + 4)?.try_into().ok()?,
            ))
        };
        Some(TcMsg {
            ifindex: u32_at(4)? as i32,
            handle: u32_at(8)?,
            parent: u32_at(12)?,
            info: u32_at(16)?,
        })
    }

    /// A filter's priority (`tcm_info`'s upper half).
    pub fn priority(&self) -> u16 {
        (self.info >> 16) as u16
    }
}

/// `tcm_info` for a filter of every protocol at `priority` (0: the kernel chooses).
pub(crate) fn filter_info(priority: u16) -> u32 {
    (u32::from(priority) << 16) | u32::from(ETH_P_ALL.to_be())
}

/// A netlink message under construction: the header, then the payload and attributes.
struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    fn new(msg_type: u16, flags: u16, seq: u32, tc: &TcMsg) -> Builder {
        Builder::with_header(msg_type, flags, seq, &tc.bytes())
    }

    /// A message whose family header (`struct tcmsg`, `struct ifinfomsg`) is `header`.
    fn with_header(msg_type: u16, flags: u16, seq: u32, header: &[u8]) -> Builder {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        // nlmsg_pid 0: to the kernel.
        buf.extend_from_slice(header);
        Builder { buf }
    }

    fn attr(&mut self, attr_type: u16, data: &[u8]) -> &mut Builder {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&attr_type.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    /// A nested attribute holding what `inner` adds.
    fn nested(&mut self, attr_type: u16, inner: impl FnOnce(&mut Builder)) -> &mut Builder {
        let start = self.buf.len();
        self.attr(attr_type | NLA_F_NESTED, &[]);
        inner(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// A NUL-terminated string attribute's bytes.
fn c_string(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
    v.push(0);
    v
}

/// `tc qdisc add dev IFINDEX clsact`, failing with `EEXIST` if it is there already.
pub(crate) fn add_clsact(ifindex: i32, seq: u32) -> Vec<u8> {
    clsact_message(
        RTM_NEWQDISC,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ifindex,
        seq,
    )
}

/// `tc qdisc del dev IFINDEX clsact`.
pub(crate) fn delete_clsact(ifindex: i32, seq: u32) -> Vec<u8> {
    clsact_message(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, ifindex, seq)
}

/// A qdisc message (`kind`: new or del) about the clsact qdisc of `ifindex`.
fn clsact_message(kind: u16, flags: u16, ifindex: i32, seq: u32) -> Vec<u8> {
    let mut b = Builder::new(
        kind,
        flags,
        seq,
        &TcMsg {
            ifindex,
            handle: CLSACT_HANDLE,
            parent: TC_H_CLSACT,
            info: 0,
        },
    );
    b.attr(TCA_KIND, b"clsact\0");
    b.finish()
}

/// `tc filter add dev IFINDEX (ingress|egress) [prio P] [handle H] bpf da fd PROG_FD name
/// NAME`, with `NLM_F_ECHO` so that the kernel sends the filter back with the priority
/// and handle it chose (where `priority`/`handle` are 0).
pub(crate) fn add_bpf_filter(
    ifindex: i32,
    parent: u32,
    priority: u16,
    handle: u32,
    prog_fd: i32,
    name: &str,
    seq: u32,
) -> Vec<u8> {
    let mut b = Builder::new(
        RTM_NEWTFILTER,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
        seq,
        &TcMsg {
            ifindex,
            handle,
            parent,
            info: filter_info(priority),
        },
    );
    b.attr(TCA_KIND, b"bpf\0").nested(TCA_OPTIONS, |o| {
        o.attr(TCA_BPF_FD, &(prog_fd as u32).to_ne_bytes())
            .attr(TCA_BPF_NAME, &c_string(name))
            .attr(TCA_BPF_FLAGS, &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes());
    });
    b.finish()
}

/// `tc filter del dev IFINDEX (ingress|egress) prio P handle H bpf`.
pub(crate) fn delete_bpf_filter(
    ifindex: i32,
    parent: u32,
    priority: u16,
    handle: u32,
    seq: u32,
) -> Vec<u8> {
    let mut b = Builder::new(
        RTM_DELTFILTER,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &TcMsg {
            ifindex,
            handle,
            parent,
            info: filter_info(priority),
        },
    );
    b.attr(TCA_KIND, b"bpf\0");
    b.finish()
}

/// `tc filter show dev IFINDEX (ingress|egress)`.
pub(crate) fn dump_filters(ifindex: i32, parent: u32, seq: u32) -> Vec<u8> {
    Builder::new(
        RTM_GETTFILTER,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        &TcMsg {
            ifindex,
            parent,
            ..TcMsg::default()
        },
    )
    .finish()
}

/// `tc qdisc show`: every device's qdiscs (the kernel ignores the index here unless the
/// socket asked for strict checking).
pub(crate) fn dump_qdiscs(ifindex: i32, seq: u32) -> Vec<u8> {
    Builder::new(
        RTM_GETQDISC,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        &TcMsg {
            ifindex,
            ..TcMsg::default()
        },
    )
    .finish()
}

/// `struct ifinfomsg` for interface `ifindex`: family `AF_UNSPEC`, no flags changed.
fn ifinfomsg(ifindex: i32) -> [u8; IFINFOMSG_LEN] {
    let mut b = [0u8; IFINFOMSG_LEN];
    b[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

/// `ip link set dev IFINDEX xdp...`: `RTM_SETLINK` with `IFLA_XDP { IFLA_XDP_FD,
/// IFLA_XDP_FLAGS[, IFLA_XDP_EXPECTED_FD] }`, as libbpf's `bpf_xdp_attach` sends it.
/// `prog_fd` -1 detaches; `expected_fd` (with [`XDP_FLAGS_REPLACE`] in `flags`) makes the
/// request apply only while that program is the one attached.
pub(crate) fn set_xdp(
    ifindex: i32,
    prog_fd: i32,
    flags: u32,
    expected_fd: Option<i32>,
    seq: u32,
) -> Vec<u8> {
    let mut b = Builder::with_header(
        RTM_SETLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &ifinfomsg(ifindex),
    );
    b.nested(IFLA_XDP, |x| {
        x.attr(IFLA_XDP_FD, &prog_fd.to_ne_bytes());
        if flags != 0 {
            x.attr(IFLA_XDP_FLAGS, &flags.to_ne_bytes());
        }
        if let Some(expected) = expected_fd {
            x.attr(IFLA_XDP_EXPECTED_FD, &expected.to_ne_bytes());
        }
    });
    b.finish()
}

/// `ip link show dev IFINDEX`: `RTM_GETLINK` for one interface, acknowledged (so that the
/// reply ends).
pub(crate) fn get_link(ifindex: i32, seq: u32) -> Vec<u8> {
    Builder::with_header(
        RTM_GETLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        &ifinfomsg(ifindex),
    )
    .finish()
}

/// An interface's XDP programs, as `RTM_NEWLINK`'s `IFLA_XDP` tells them (`rtnl_xdp_fill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct XdpState {
    /// The interface's index (`ifi_index`).
    pub ifindex: i32,
    /// `IFLA_XDP_ATTACHED`: `XDP_ATTACHED_NONE` (0), `_DRV` (1), `_SKB` (2), `_HW` (3),
    /// `_MULTI` (4).
    pub attached: u8,
    /// `IFLA_XDP_PROG_ID`: the program, where one mode alone has one.
    pub prog_id: Option<u32>,
    /// `IFLA_XDP_DRV_PROG_ID`, `IFLA_XDP_SKB_PROG_ID`, `IFLA_XDP_HW_PROG_ID`: per mode,
    /// where several have one.
    pub drv_prog_id: Option<u32>,
    pub skb_prog_id: Option<u32>,
    pub hw_prog_id: Option<u32>,
}

/// Reads the `IFLA_XDP` nest of an `RTM_NEWLINK` message (no nest: nothing attached).
pub(crate) fn parse_link_xdp(payload: &[u8]) -> Result<XdpState, Malformed> {
    let index = payload
        .get(4..8)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Malformed(format!("a link message of {} bytes", payload.len())))?;
    let mut state = XdpState {
        ifindex: index,
        ..XdpState::default()
    };
    let u32_of = |v: &[u8]| {
        v.get(0..4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    for (attr_type, data) in attributes(payload.get(IFINFOMSG_LEN..).unwrap_or(&[])) {
        if attr_type != IFLA_XDP {
            continue;
        }
        for (inner, value) in attributes(data) {
            match inner {
                IFLA_XDP_ATTACHED => state.attached = value.first().copied().unwrap_or(0),
                IFLA_XDP_PROG_ID => state.prog_id = u32_of(value),
                IFLA_XDP_DRV_PROG_ID => state.drv_prog_id = u32_of(value),
                IFLA_XDP_SKB_PROG_ID => state.skb_prog_id = u32_of(value),
                IFLA_XDP_HW_PROG_ID => state.hw_prog_id = u32_of(value),
                _ => {}
            }
        }
    }
    Ok(state)
}

/// One message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: Vec<u8>,
}

/// A reply the kernel should not have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub String);

/// Splits a datagram into its messages (`NLMSG_NEXT`), checking every length.
pub(crate) fn split(mut buf: &[u8]) -> Result<Vec<Message>, Malformed> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let header = buf
            .get(..NLMSG_HDRLEN)
            .ok_or_else(|| Malformed(format!("{} bytes left, less than a header", buf.len())))?;
        let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(Malformed(format!(
                "message length {len} with {} bytes left",
                buf.len()
            )));
        }
        out.push(Message {
            msg_type: u16::from_ne_bytes([header[4], header[5]]),
            flags: u16::from_ne_bytes([header[6], header[7]]),
            seq: u32::from_ne_bytes([header[8], header[9], header[10], header[11]]),
            payload: buf[NLMSG_HDRLEN..len].to_vec(),
        });
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// An `NLMSG_ERROR`'s error (0: the acknowledgement of a success) and the kernel's
/// extended ack message, if it sent one.
pub(crate) fn parse_error(message: &Message) -> Result<(i32, Option<String>), Malformed> {
    let p = &message.payload;
    let error = p
        .get(0..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Malformed(format!("an error message of {} bytes", p.len())))?;
    if message.flags & NLM_F_ACK_TLVS == 0 {
        return Ok((error, None));
    }
    // The request's header, and the request itself unless capped; then the attributes.
    let request_len = match p.get(4..8) {
        Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
        None => return Ok((error, None)),
    };
    let skip = if message.flags & NLM_F_CAPPED != 0 || error == 0 {
        NLMSG_HDRLEN
    } else {
        align4(request_len)
    };
    let text = p.get(4 + skip..).and_then(|tlvs| {
        attributes(tlvs)
            .into_iter()
            .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
            .map(|(_, data)| text_of(data))
    });
    Ok((error, text))
}

/// A string attribute's text, up to its NUL (or the whole of it, unterminated).
fn text_of(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// The attributes (`struct rtattr`/`nlattr`) in `buf`, as (type without flags, data);
/// stops at the first one whose length does not fit.
pub(crate) fn attributes(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let attr_type = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((attr_type, &buf[4..len]));
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    out
}

/// A tc object (qdisc or filter) of a dump or an echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcObject {
    pub tc: TcMsg,
    /// `TCA_KIND`: `clsact`, `bpf`...
    pub kind: String,
    /// For a `bpf` filter: `TCA_BPF_NAME` and `TCA_BPF_ID` (the program's id).
    pub bpf_name: Option<String>,
    pub bpf_id: Option<u32>,
}

/// Reads a qdisc or filter message (`RTM_NEWQDISC`, `RTM_NEWTFILTER`).
pub(crate) fn parse_tc_object(payload: &[u8]) -> Result<TcObject, Malformed> {
    let tc = TcMsg::parse(payload)
        .ok_or_else(|| Malformed(format!("a tc message of {} bytes", payload.len())))?;
    let mut object = TcObject {
        tc,
        kind: String::new(),
        bpf_name: None,
        bpf_id: None,
    };
    for (attr_type, data) in attributes(payload.get(TCMSG_LEN..).unwrap_or(&[])) {
        match attr_type {
            TCA_KIND => object.kind = text_of(data),
            TCA_OPTIONS => {
                for (inner, value) in attributes(data) {
                    match inner {
                        TCA_BPF_NAME => object.bpf_name = Some(text_of(value)),
                        TCA_BPF_ID => {
                            object.bpf_id = value
                                .get(0..4)
                                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(object)
}

/// A failed rtnetlink request as the attach error of `target` (tc's and XDP's): the
/// socket's own system call, the kernel's refusal with its errno and extended ack, or a
/// reply that could not be read.
pub(crate) fn netlink_error(target: &str, op: &'static str, failure: Failure) -> AttachError {
    match failure {
        Failure::Sys(error) => AttachError::Sys {
            target: target.to_string(),
            error,
        },
        Failure::Refused { errno, message } => AttachError::Netlink {
            target: target.to_string(),
            error: SysError::new(op, errno),
            message,
        },
        Failure::Malformed(Malformed(reason)) => AttachError::NetlinkReply {
            target: target.to_string(),
            request: op,
            reason,
        },
    }
}

/// An rtnetlink socket for attaching to `target`.
pub(crate) fn open_socket(target: &str) -> Result<Socket, AttachError> {
    Socket::open().map_err(|error| AttachError::Sys {
        target: target.to_string(),
        error,
    })
}

/// What a request came to.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A system call on the socket failed.
    Sys(SysError),
    /// The kernel refused the request: its errno and its extended ack message.
    Refused { errno: i32, message: Option<String> },
    /// The reply could not be read.
    Malformed(Malformed),
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub fn open() -> Result<Socket, SysError> {
        let fd = syscall::netlink_route_socket()?;
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as u32);
        Ok(Socket { fd, seq })
    }

    /// The next sequence number, for the next request.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, request: &[u8]) -> Result<(), SysError> {
        syscall::netlink_send(self.fd.as_fd(), request)
    }

    fn receive(&self, buf: &mut [u8]) -> Result<usize, SysError> {
        syscall::recv(self.fd.as_fd(), buf, "recv(NETLINK_ROUTE)")
    }

    /// Sends a request made with sequence number `seq` and returns the messages of that
    /// sequence the kernel sent before its acknowledgement (an echo), or, for a dump, up
    /// to `NLMSG_DONE`.
    pub fn request(&self, request: &[u8], seq: u32) -> Result<Vec<Message>, Failure> {
        self.send(request).map_err(Failure::Sys)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = Vec::new();
        loop {
            let n = self.receive(&mut buf).map_err(Failure::Sys)?;
            if n == 0 {
                return Err(Failure::Malformed(Malformed(
                    "the socket closed before the kernel answered".into(),
                )));
            }
            for message in split(&buf[..n]).map_err(Failure::Malformed)? {
                if message.seq != seq {
                    continue; // someone else's (a late answer to an earlier request)
                }
                match message.msg_type {
                    NLMSG_ERROR => {
                        let (error, text) = parse_error(&message).map_err(Failure::Malformed)?;
                        if error == 0 {
                            return Ok(got);
                        }
                        return Err(Failure::Refused {
                            errno: error.saturating_neg(),
                            message: text,
                        });
                    }
                    NLMSG_DONE => return Ok(got),
                    _ => got.push(message),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes(b[at..at + 2].try_into().unwrap())
    }

    #[test]
    fn the_clsact_request_is_what_tc_sends() {
        let m = add_clsact(7, 42);
        assert_eq!(m.len(), 16 + 20 + 12);
        assert_eq!(u32_at(&m, 0) as usize, m.len());
        assert_eq!(u16_at(&m, 4), RTM_NEWQDISC);
        assert_eq!(u16_at(&m, 6), 0x1 | 0x4 | 0x400 | 0x200);
        assert_eq!(u32_at(&m, 8), 42);
        assert_eq!(u32_at(&m, 12), 0);
        // tcmsg: family 0, ifindex 7, handle ffff:0, parent ffff:fff1 (clsact), info 0.
        assert_eq!(&m[16..20], &[0, 0, 0, 0]);
        assert_eq!(u32_at(&m, 20), 7);
        assert_eq!(u32_at(&m, 24), 0xFFFF_0000);
        assert_eq!(u32_at(&m, 28), 0xFFFF_FFF1);
        assert_eq!(u32_at(&m, 32), 0);
        // TCA_KIND "clsact\0": length 11, padded to 12.
        assert_eq!(u16_at(&m, 36), 11);
        assert_eq!(u16_at(&m, 38), TCA_KIND);
        assert_eq!(&m[40..48], b"clsact\0\0");
        let d = delete_clsact(7, 43);
        assert_eq!(u16_at(&d, 4), RTM_DELQDISC);
        assert_eq!(u16_at(&d, 6), 0x1 | 0x4);
        assert_eq!(&d[16..], &m[16..]);
    }

    #[test]
    fn the_filter_request_carries_the_fd_name_and_direct_action() {
        let m = add_bpf_filter(1, PARENT_INGRESS, 0, 0, 9, "tc_ingress:[12]", 5);
        assert_eq!(u32_at(&m, 0) as usize, m.len());
        assert_eq!(u16_at(&m, 4), RTM_NEWTFILTER);
        assert_eq!(u16_at(&m, 6), 0x1 | 0x4 | 0x8 | 0x400 | 0x200);
        assert_eq!(u32_at(&m, 20), 1);
        assert_eq!(u32_at(&m, 24), 0); // handle: the kernel's choice
        assert_eq!(u32_at(&m, 28), 0xFFFF_FFF2);
        // Priority 0 (the kernel's choice), protocol htons(ETH_P_ALL).
        assert_eq!(u32_at(&m, 32), u32::from(0x0003u16.to_be()));
        let attrs = attributes(&m[36..]);
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0], (TCA_KIND, &b"bpf\0"[..]));
        assert_eq!(attrs[1].0, TCA_OPTIONS);
        assert_ne!(u16_at(&m, 36 + 8 + 2) & NLA_F_NESTED, 0);
        let options = attributes(attrs[1].1);
        assert_eq!(
            options,
            vec![
                (TCA_BPF_FD, &9u32.to_ne_bytes()[..]),
                (TCA_BPF_NAME, &b"tc_ingress:[12]\0"[..]),
                (TCA_BPF_FLAGS, &1u32.to_ne_bytes()[..]),
            ]
        );
        let d = delete_bpf_filter(1, PARENT_EGRESS, 0xC000, 3, 6);
        assert_eq!(u16_at(&d, 4), RTM_DELTFILTER);
        assert_eq!(u32_at(&d, 24), 3);
        assert_eq!(u32_at(&d, 28), 0xFFFF_FFF3);
        assert_eq!(u32_at(&d, 32) >> 16, 0xC000);
        assert_eq!(attributes(&d[36..]), vec![(TCA_KIND, &b"bpf\0"[..])]);
        let dump = dump_filters(1, PARENT_INGRESS, 7);
        assert_eq!(u16_at(&dump, 6), 0x1 | 0x300);
        assert_eq!(dump.len(), 36);
    }

    fn message(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&msg_type.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    #[test]
    fn an_error_with_the_kernels_message_is_read() {
        // As the kernel sends it: error -EINVAL, the request copied back, then
        // NLMSGERR_ATTR_MSG.
        let request = add_clsact(1, 9);
        let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
        payload.extend_from_slice(&request);
        let text = b"Exclusivity flag on, cannot modify\0";
        payload.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        let datagram = message(NLMSG_ERROR, NLM_F_ACK_TLVS, 9, &payload);
        let messages = split(&datagram).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].seq, 9);
        assert_eq!(
            parse_error(&messages[0]).unwrap(),
            (
                -libc::EINVAL,
                Some("Exclusivity flag on, cannot modify".to_string())
            )
        );
        // Capped: only the request's header is copied back.
        let mut capped = (-libc::ENOENT).to_ne_bytes().to_vec();
        capped.extend_from_slice(&request[..16]);
        capped.extend_from_slice(&8u16.to_ne_bytes());
        capped.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        capped.extend_from_slice(b"no\0\0");
        let m = &split(&message(
            NLMSG_ERROR,
            NLM_F_ACK_TLVS | NLM_F_CAPPED,
            9,
            &capped,
        ))
        .unwrap()[0];
        assert_eq!(
            parse_error(m).unwrap(),
            (-libc::ENOENT, Some("no".to_string()))
        );
        // A plain ack.
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&request[..16]);
        let m = &split(&message(NLMSG_ERROR, 0, 9, &ack)).unwrap()[0];
        assert_eq!(parse_error(m).unwrap(), (0, None));
    }

    #[test]
    fn broken_replies_are_errors_not_panics() {
        assert!(split(&[1, 2, 3]).is_err());
        let mut m = message(NLMSG_DONE, 0, 1, &[0; 4]);
        m[0] = 200; // longer than the datagram
        assert!(split(&m).is_err());
        let mut m = message(NLMSG_DONE, 0, 1, &[]);
        m[0] = 4; // shorter than a header
        assert!(split(&m).is_err());
        let short = Message {
            msg_type: NLMSG_ERROR,
            flags: NLM_F_ACK_TLVS,
            seq: 1,
            payload: vec![0xff, 0xff],
        };
        assert!(parse_error(&short).is_err());
        // An error whose copied request claims more than there is: no message, no panic.
        let mut p = (-1i32).to_ne_bytes().to_vec();
        p.extend_from_slice(&1000u32.to_ne_bytes());
        let m = Message {
            msg_type: NLMSG_ERROR,
            flags: NLM_F_ACK_TLVS,
            seq: 1,
            payload: p,
        };
        assert_eq!(parse_error(&m).unwrap(), (-1, None));
        assert!(parse_tc_object(&[0; 10]).is_err());
        // Attributes that overrun are cut, not read.
        assert_eq!(attributes(&[200, 0, 1, 0, 1, 2]), vec![]);
        assert_eq!(attributes(&[2, 0, 1, 0]), vec![]);
    }

    /// Against the running kernel (root): a filter for a parent qdisc lo does not have is
    /// refused before anything is made, with the kernel's extended ack (4.12+).
    #[test]
    fn the_kernels_refusal_comes_with_its_words() {
        let mut socket = Socket::open().unwrap();
        let seq = socket.next_seq();
        let request = add_bpf_filter(1, 0xABCD_0000, 0, 0, -1, "none", seq);
        match socket.request(&request, seq) {
            Err(Failure::Refused { errno, message }) => {
                assert_eq!(errno, libc::EINVAL);
                assert_eq!(message.as_deref(), Some("Parent Qdisc doesn't exists"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_xdp_request_is_what_ip_link_set_xdp_sends() {
        let m = set_xdp(
            4,
            9,
            XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
            None,
            21,
        );
        assert_eq!(u32_at(&m, 0) as usize, m.len());
        assert_eq!(u16_at(&m, 4), RTM_SETLINK);
        assert_eq!(u16_at(&m, 6), 0x1 | 0x4);
        assert_eq!(u32_at(&m, 8), 21);
        // ifinfomsg: family, type 0; index 4; flags and change 0.
        assert_eq!(&m[16..20], &[0, 0, 0, 0]);
        assert_eq!(u32_at(&m, 20), 4);
        assert_eq!(&m[24..32], &[0; 8]);
        let attrs = attributes(&m[32..]);
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].0, IFLA_XDP);
        assert_ne!(u16_at(&m, 34) & NLA_F_NESTED, 0);
        assert_eq!(
            attributes(attrs[0].1),
            vec![
                (IFLA_XDP_FD, &9i32.to_ne_bytes()[..]),
                (IFLA_XDP_FLAGS, &3u32.to_ne_bytes()[..]),
            ]
        );
        // A detach of our own program only: fd -1, REPLACE, the expected fd.
        let d = set_xdp(4, -1, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, Some(9), 22);
        assert_eq!(
            attributes(attributes(&d[32..])[0].1),
            vec![
                (IFLA_XDP_FD, &(-1i32).to_ne_bytes()[..]),
                (IFLA_XDP_FLAGS, &0x14u32.to_ne_bytes()[..]),
                (IFLA_XDP_EXPECTED_FD, &9i32.to_ne_bytes()[..]),
            ]
        );
        // Default mode: no flags attribute at all.
        let plain = set_xdp(4, 9, 0, None, 23);
        assert_eq!(
            attributes(attributes(&plain[32..])[0].1),
            vec![(IFLA_XDP_FD, &9i32.to_ne_bytes()[..])]
        );
        let get = get_link(4, 24);
        assert_eq!(get.len(), 32);
        assert_eq!(u16_at(&get, 4), RTM_GETLINK);
        assert_eq!(u32_at(&get, 20), 4);
    }

    #[test]
    fn a_links_xdp_state_is_read_and_a_broken_one_is_an_error() {
        // As rtnl_xdp_fill writes it: IFLA_IFNAME, then IFLA_XDP { ATTACHED, PROG_ID,
        // SKB_PROG_ID }.
        let mut b = Builder::with_header(RTM_NEWLINK, 0, 1, &ifinfomsg(6));
        b.attr(3, b"veth0\0").nested(IFLA_XDP, |x| {
            x.attr(IFLA_XDP_ATTACHED, &[2])
                .attr(IFLA_XDP_PROG_ID, &55u32.to_ne_bytes())
                .attr(IFLA_XDP_SKB_PROG_ID, &55u32.to_ne_bytes());
        });
        let bytes = b.finish();
        let messages = split(&bytes).unwrap();
        assert_eq!(
            parse_link_xdp(&messages[0].payload).unwrap(),
            XdpState {
                ifindex: 6,
                attached: 2,
                prog_id: Some(55),
                skb_prog_id: Some(55),
                ..XdpState::default()
            }
        );
        // No IFLA_XDP: nothing attached.
        assert_eq!(
            parse_link_xdp(&ifinfomsg(6)).unwrap(),
            XdpState {
                ifindex: 6,
                ..XdpState::default()
            }
        );
        assert!(parse_link_xdp(&[0; 6]).is_err());
        // A truncated id is no id, not a panic.
        let mut b = Builder::with_header(RTM_NEWLINK, 0, 1, &ifinfomsg(6));
        b.nested(IFLA_XDP, |x| {
            x.attr(IFLA_XDP_PROG_ID, &[1, 2]);
        });
        let bytes = b.finish();
        assert_eq!(parse_link_xdp(&bytes[16..]).unwrap().prog_id, None);
    }

    #[test]
    fn a_dumped_filter_gives_its_priority_handle_name_and_program_id() {
        // What the kernel echoes for `tc filter add ... bpf da`: the tcmsg, TCA_KIND,
        // TCA_OPTIONS { TCA_BPF_ID, TCA_BPF_NAME, TCA_BPF_FLAGS }, TCA_CHAIN.
        let mut b = Builder::new(
            RTM_NEWTFILTER,
            0,
            3,
            &TcMsg {
                ifindex: 1,
                handle: 1,
                parent: PARENT_INGRESS,
                info: filter_info(0xC000),
            },
        );
        b.attr(TCA_KIND, b"bpf\0")
            .nested(TCA_OPTIONS, |o| {
                o.attr(TCA_BPF_ID, &77u32.to_ne_bytes())
                    .attr(TCA_BPF_NAME, b"count_tc:[77]\0")
                    .attr(TCA_BPF_FLAGS, &1u32.to_ne_bytes());
            })
            .attr(11, &0u32.to_ne_bytes());
        let bytes = b.finish();
        let messages = split(&bytes).unwrap();
        let object = parse_tc_object(&messages[0].payload).unwrap();
        assert_eq!(object.tc.ifindex, 1);
        assert_eq!(object.tc.handle, 1);
        assert_eq!(object.tc.parent, PARENT_INGRESS);
        assert_eq!(object.tc.priority(), 0xC000);
        assert_eq!(object.kind, "bpf");
        assert_eq!(object.bpf_name.as_deref(), Some("count_tc:[77]"));
        assert_eq!(object.bpf_id, Some(77));
    }
}
