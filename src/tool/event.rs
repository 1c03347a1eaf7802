//! tcpconnect's event: `struct data_t` of `bpf/main.bpf.c`, as it arrives in a perf sample.
//!
//! ABI: the C struct is the contract; its BTF in `bpf/main.bpf.o` (`bpftool btf dump file
//! bpf/main.bpf.o`) gives the offsets below, and a test checks them against that BTF.
//!
//! ```text
//!  0 comm[16]  16 pid  20 uid  24 gid  28 loginuid  32 family  33 proto  34 sport  36 dport
//! 40 saddr  44 saddr6[16]  60 daddr  64 daddr6[16]  80 thesource           (84 bytes)
//! 81 pad[7]  88 cgroup_id (u64)  96 mntns  100 netns                       (104 bytes)
//! ```
//! Numbers are in the host's byte order, ports too; addresses in network byte order, as the
//! kernel stores them. The first 84 bytes are the seed's layout, which objects given with
//! `--object` may still have: a sample shorter than 104 bytes is decoded as that layout,
//! without the container fields. The kernel pads a raw sample to keep records 8-byte
//! aligned (4 + 84 bytes become 88, 4 + 104 become 112), so a seed sample is never 104
//! bytes long, and the tail beyond the struct is ignored.
//!
//! Count mode (`-c`) sends no events: the program adds one to the `counts` hash map at
//! `struct flow_key` instead, and the tool reads the map with `BPF_MAP_GET_NEXT_KEY` and
//! `BPF_MAP_LOOKUP_ELEM`. [`FlowCount::parse`] decodes one key and its `u64` value:
//!
//! ```text
//!  0 saddr[16]  16 daddr[16]  32 dport  34 family  35 pad                  (36 bytes)
//! ```
//! An IPv4 address fills the first 4 bytes of its 16; the rest is zero.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `sizeof(struct data_t)` in the seed's layout, without the container fields.
pub const DATA_T_SIZE: usize = 84;
/// `sizeof(struct data_t)` with the container fields appended.
pub const DATA_T_SIZE_CONTAINERS: usize = 104;
/// `sizeof(struct flow_key)`.
pub const FLOW_KEY_SIZE: usize = 36;
/// The size of a `counts` value (`u64`).
pub const FLOW_VALUE_SIZE: usize = 8;
/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// One outgoing TCP connection, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectEvent {
    /// The process name as the kernel keeps it: up to 16 bytes, not necessarily UTF-8.
    pub comm: Vec<u8>,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    /// The login uid (`/proc/PID/loginuid`); `u32::MAX` when unset.
    pub loginuid: u32,
    pub family: Family,
    /// The IP protocol number (6 for TCP).
    pub proto: u8,
    /// The local (source) port.
    pub sport: u16,
    /// The remote (destination) port.
    pub dport: u16,
    /// The source address; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is given as IPv4.
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    /// Where the process ran; `None` for an object of the seed's layout.
    pub namespaces: Option<Namespaces>,
}

/// Where the connecting process ran, as the kernel saw it. A 0 (unknown: an exiting task
/// has no namespaces left) is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Namespaces {
    /// The cgroup v2 id (`bpf_get_current_cgroup_id`): the inode of the cgroup's directory.
    pub cgroup_id: Option<u64>,
    /// The mount namespace: the inode of `/proc/PID/ns/mnt`.
    pub mntns: Option<u32>,
    /// The socket's network namespace: the inode of `/proc/PID/ns/net`.
    pub netns: Option<u32>,
}

/// The socket's address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The IP version, as tcpconnect prints it (`4` or `6`).
    pub fn version(self) -> u8 {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 6,
        }
    }
}

/// Why a sample is not a `struct data_t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// The sample is shorter than the struct.
    Short { len: usize },
    /// `family` is neither `AF_INET` nor `AF_INET6`.
    UnknownFamily { family: u8 },
    /// A `counts` key or value whose size is not `struct flow_key`'s or `u64`'s.
    FlowSize { key: usize, value: usize },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Short { len } => {
                write!(
                    f,
                    "event of {len} bytes is shorter than struct data_t ({DATA_T_SIZE} bytes)"
                )
            }
            EventError::UnknownFamily { family } => {
                write!(
                    f,
                    "event has address family {family}, neither AF_INET nor AF_INET6"
                )
            }
            EventError::FlowSize { key, value } => write!(
                f,
                "counts entry has a {key}-byte key and a {value}-byte value, \
                 not {FLOW_KEY_SIZE} and {FLOW_VALUE_SIZE}"
            ),
        }
    }
}

impl std::error::Error for EventError {}

fn u16_at(bytes: &[u8; DATA_T_SIZE], offset: usize) -> u16 {
    u16::from_ne_bytes([bytes[offset], bytes[offset + 1]])
}

fn u32_at(bytes: &[u8; DATA_T_SIZE], offset: usize) -> u32 {
    u32::from_ne_bytes([
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    ])
}

fn array_at<const N: usize>(bytes: &[u8; DATA_T_SIZE], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

/// An IPv4-mapped IPv6 address is shown as the IPv4 address it carries.
fn unmap(addr: Ipv6Addr) -> IpAddr {
    match addr.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(addr),
    }
}

impl ConnectEvent {
    /// Decodes a raw perf sample.
    pub fn parse(sample: &[u8]) -> Result<ConnectEvent, EventError> {
        // The offsets below are constants inside a fixed-size array: they cannot go out of
        // bounds once the sample is known to be long enough.
        let bytes: &[u8; DATA_T_SIZE] = sample
            .get(..DATA_T_SIZE)
            .and_then(|head| head.try_into().ok())
            .ok_or(EventError::Short { len: sample.len() })?;
        let comm = &bytes[..COMM_LEN];
        let comm_len = comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
        let (family, saddr, daddr) = match bytes[32] {
            AF_INET => (
                Family::Ipv4,
                IpAddr::V4(Ipv4Addr::from(array_at::<4>(bytes, 40))),
                IpAddr::V4(Ipv4Addr::from(array_at::<4>(bytes, 60))),
            ),
            AF_INET6 => (
                Family::Ipv6,
                unmap(Ipv6Addr::from(array_at::<16>(bytes, 44))),
                unmap(Ipv6Addr::from(array_at::<16>(bytes, 64))),
            ),
            family => return Err(EventError::UnknownFamily { family }),
        };
        Ok(ConnectEvent {
            comm: comm[..comm_len].to_vec(),
            pid: u32_at(bytes, 16),
            uid: u32_at(bytes, 20),
            gid: u32_at(bytes, 24),
            loginuid: u32_at(bytes, 28),
            family,
            proto: bytes[33],
            sport: u16_at(bytes, 34),
            dport: u16_at(bytes, 36),
            saddr,
            daddr,
            namespaces: sample.get(..DATA_T_SIZE_CONTAINERS).map(|tail| Namespaces {
                cgroup_id: nonzero(u64::from_ne_bytes(array_of(tail, 88))),
                mntns: nonzero(u32::from_ne_bytes(array_of(tail, 96))),
                netns: nonzero(u32::from_ne_bytes(array_of(tail, 100))),
            }),
        })
    }
}

/// `N` bytes at `offset` of a struct known to be long enough (else zeros).
fn array_of<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(field) = bytes.get(offset..offset + N) {
        out.copy_from_slice(field);
    }
    out
}

fn nonzero<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// One row of count mode: how many connects went from `saddr` to `daddr`:`dport`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowCount {
    pub connects: u64,
    pub family: Family,
    /// The source address; an IPv4-mapped IPv6 address is given as IPv4, as in events.
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    pub dport: u16,
}

impl FlowCount {
    /// Decodes one entry of the `counts` map: a `struct flow_key` and its `u64` count.
    pub fn parse(key: &[u8], value: &[u8]) -> Result<FlowCount, EventError> {
        let size_error = EventError::FlowSize {
            key: key.len(),
            value: value.len(),
        };
        let key: &[u8; FLOW_KEY_SIZE] = key.try_into().map_err(|_| size_error.clone())?;
        let value: [u8; FLOW_VALUE_SIZE] = value.try_into().map_err(|_| size_error)?;
        let mut saddr = [0u8; 16];
        let mut daddr = [0u8; 16];
        saddr.copy_from_slice(&key[..16]);
        daddr.copy_from_slice(&key[16..32]);
        let (family, saddr, daddr) = match key[34] {
            AF_INET => (
                Family::Ipv4,
                IpAddr::V4(Ipv4Addr::new(saddr[0], saddr[1], saddr[2], saddr[3])),
                IpAddr::V4(Ipv4Addr::new(daddr[0], daddr[1], daddr[2], daddr[3])),
            ),
            AF_INET6 => (
                Family::Ipv6,
                unmap(Ipv6Addr::from(saddr)),
                unmap(Ipv6Addr::from(daddr)),
            ),
            family => return Err(EventError::UnknownFamily { family }),
        };
        Ok(FlowCount {
            connects: u64::from_ne_bytes(value),
            family,
            saddr,
            daddr,
            dport: u16::from_ne_bytes([key[32], key[33]]),
        })
    }
}

/// Sorts count rows as the table shows them: most connects first, then by address and
/// port so that equal counts always come out in the same order.
pub fn sort_flows(flows: &mut [FlowCount]) {
    flows.sort_by(|a, b| {
        b.connects.cmp(&a.connects).then_with(|| {
            (a.family.version(), a.saddr, a.daddr, a.dport).cmp(&(
                b.family.version(),
                b.saddr,
                b.daddr,
                b.dport,
            ))
        })
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds the bytes the kernel would send for one event, field by field.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn raw_event(
        comm: &[u8],
        pid: u32,
        family: u8,
        sport: u16,
        dport: u16,
        saddr: &[u8],
        daddr: &[u8],
    ) -> Vec<u8> {
        let mut raw = vec![0u8; DATA_T_SIZE + 4]; // + the padding the kernel adds
        raw[..comm.len()].copy_from_slice(comm);
        raw[16..20].copy_from_slice(&pid.to_ne_bytes());
        raw[20..24].copy_from_slice(&1000u32.to_ne_bytes());
        raw[24..28].copy_from_slice(&100u32.to_ne_bytes());
        raw[28..32].copy_from_slice(&u32::MAX.to_ne_bytes());
        raw[32] = family;
        raw[33] = 6;
        raw[34..36].copy_from_slice(&sport.to_ne_bytes());
        raw[36..38].copy_from_slice(&dport.to_ne_bytes());
        let (s, d) = if family == AF_INET {
            (40, 60)
        } else {
            (44, 64)
        };
        raw[s..s + saddr.len()].copy_from_slice(saddr);
        raw[d..d + daddr.len()].copy_from_slice(daddr);
        raw[80] = 1;
        raw
    }

    #[test]
    fn decodes_an_ipv4_event() {
        let raw = raw_event(
            b"curl",
            4242,
            AF_INET,
            51000,
            443,
            &[10, 0, 0, 1],
            &[1, 1, 1, 1],
        );
        let event = ConnectEvent::parse(&raw).unwrap();
        assert_eq!(
            event,
            ConnectEvent {
                comm: b"curl".to_vec(),
                pid: 4242,
                uid: 1000,
                gid: 100,
                loginuid: u32::MAX,
                family: Family::Ipv4,
                proto: 6,
                sport: 51000,
                dport: 443,
                saddr: "10.0.0.1".parse().unwrap(),
                daddr: "1.1.1.1".parse().unwrap(),
                namespaces: None,
            }
        );
    }

    /// The same event with the container fields appended.
    pub(crate) fn with_namespaces(
        mut raw: Vec<u8>,
        cgroup_id: u64,
        mntns: u32,
        netns: u32,
    ) -> Vec<u8> {
        raw.resize(DATA_T_SIZE_CONTAINERS + 4, 0);
        raw[88..96].copy_from_slice(&cgroup_id.to_ne_bytes());
        raw[96..100].copy_from_slice(&mntns.to_ne_bytes());
        raw[100..104].copy_from_slice(&netns.to_ne_bytes());
        raw
    }

    #[test]
    fn decodes_the_container_fields_and_zero_as_unknown() {
        let raw = raw_event(b"curl", 1, AF_INET, 1, 2, &[0; 4], &[0; 4]);
        let event =
            ConnectEvent::parse(&with_namespaces(raw.clone(), 7711, 4026532300, 4026531840))
                .unwrap();
        assert_eq!(
            event.namespaces,
            Some(Namespaces {
                cgroup_id: Some(7711),
                mntns: Some(4026532300),
                netns: Some(4026531840),
            })
        );
        let event = ConnectEvent::parse(&with_namespaces(raw.clone(), 1, 0, 0)).unwrap();
        assert_eq!(
            event.namespaces,
            Some(Namespaces {
                cgroup_id: Some(1),
                mntns: None,
                netns: None,
            })
        );
        // 103 bytes: a seed-layout sample (at most 84 + 7 bytes of padding), not the new one.
        let mut short = with_namespaces(raw, 7711, 1, 1);
        short.truncate(DATA_T_SIZE_CONTAINERS - 1);
        assert_eq!(ConnectEvent::parse(&short).unwrap().namespaces, None);
    }

    #[test]
    fn decodes_ipv6_and_unmaps_ipv4_mapped_addresses() {
        let loopback6 = Ipv6Addr::LOCALHOST.octets();
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets();
        let raw = raw_event(b"nc", 1, AF_INET6, 40000, 8080, &loopback6, &mapped);
        let event = ConnectEvent::parse(&raw).unwrap();
        assert_eq!(event.family, Family::Ipv6);
        assert_eq!(event.saddr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(event.daddr, "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_full_comm_has_no_nul_and_keeps_16_bytes() {
        let raw = raw_event(b"0123456789abcdef", 1, AF_INET, 1, 2, &[0; 4], &[0; 4]);
        assert_eq!(ConnectEvent::parse(&raw).unwrap().comm, b"0123456789abcdef");
    }

    #[test]
    fn rejects_short_samples_and_unknown_families() {
        assert_eq!(
            ConnectEvent::parse(&[0u8; 83]),
            Err(EventError::Short { len: 83 })
        );
        let raw = raw_event(b"x", 1, 1, 1, 2, &[0; 4], &[0; 4]);
        assert_eq!(
            ConnectEvent::parse(&raw),
            Err(EventError::UnknownFamily { family: 1 })
        );
    }

    /// A `struct flow_key` as the program writes it, and its count.
    pub(crate) fn raw_flow(family: u8, saddr: &[u8], daddr: &[u8], dport: u16) -> Vec<u8> {
        let mut key = vec![0u8; FLOW_KEY_SIZE];
        key[..saddr.len()].copy_from_slice(saddr);
        key[16..16 + daddr.len()].copy_from_slice(daddr);
        key[32..34].copy_from_slice(&dport.to_ne_bytes());
        key[34] = family;
        key
    }

    #[test]
    fn decodes_count_entries_of_both_families() {
        let key = raw_flow(AF_INET, &[127, 0, 0, 1], &[10, 1, 2, 3], 8080);
        assert_eq!(
            FlowCount::parse(&key, &5u64.to_ne_bytes()),
            Ok(FlowCount {
                connects: 5,
                family: Family::Ipv4,
                saddr: "127.0.0.1".parse().unwrap(),
                daddr: "10.1.2.3".parse().unwrap(),
                dport: 8080,
            })
        );
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets();
        let key = raw_flow(AF_INET6, &Ipv6Addr::LOCALHOST.octets(), &mapped, 443);
        let flow = FlowCount::parse(&key, &u64::MAX.to_ne_bytes()).unwrap();
        assert_eq!(flow.family, Family::Ipv6);
        assert_eq!(flow.saddr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(flow.daddr, "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!((flow.dport, flow.connects), (443, u64::MAX));
    }

    #[test]
    fn rejects_count_entries_of_the_wrong_size_or_family() {
        let key = raw_flow(AF_INET, &[1, 2, 3, 4], &[5, 6, 7, 8], 1);
        assert_eq!(
            FlowCount::parse(&key[..35], &[0; 8]),
            Err(EventError::FlowSize { key: 35, value: 8 })
        );
        assert_eq!(
            FlowCount::parse(&key, &[0; 4]),
            Err(EventError::FlowSize { key: 36, value: 4 })
        );
        assert_eq!(
            FlowCount::parse(&raw_flow(3, &[], &[], 1), &[0; 8]),
            Err(EventError::UnknownFamily { family: 3 })
        );
        assert_eq!(
            EventError::FlowSize { key: 35, value: 8 }.to_string(),
            "counts entry has a 35-byte key and a 8-byte value, not 36 and 8"
        );
    }

    #[test]
    fn sorts_flows_by_count_then_address() {
        let flow = |connects, daddr: &str, dport| FlowCount {
            connects,
            family: Family::Ipv4,
            saddr: "127.0.0.1".parse().unwrap(),
            daddr: daddr.parse().unwrap(),
            dport,
        };
        let mut flows = vec![
            flow(3, "10.0.0.2", 80),
            flow(5, "10.0.0.9", 80),
            flow(3, "10.0.0.1", 443),
            flow(3, "10.0.0.1", 80),
        ];
        sort_flows(&mut flows);
        assert_eq!(
            flows,
            vec![
                flow(5, "10.0.0.9", 80),
                flow(3, "10.0.0.1", 80),
                flow(3, "10.0.0.1", 443),
                flow(3, "10.0.0.2", 80),
            ]
        );
    }
}
