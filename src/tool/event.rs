//! tcpconnect's event, `struct data_t` of `bpf/main.bpf.c`, and count mode's
//! `struct flow_key`, as `#[repr(C)]` Rust types that mirror them field for field:
//! generated from the object's BTF into [`super::main_bpf`] (`ebpf-loader gen rust
//! bpf/main.bpf.o`), never written by hand.
//!
//! ABI: the C structs are the contract. The Rust types list their fields with
//! `offset_of!` ([`Pod::shape`]), and [`EventLayout::check`] compares them with the
//! object's BTF once it is loaded: every field by name, offset, size and signedness,
//! then the size. A field changed in `bpf/main.bpf.c` makes the tool stop with an error
//! that names it, instead of printing garbage. (`flow_key` is checked by the typed view
//! of the `counts` map, against the map's own BTF key type.)
//!
//! Numbers are in the host's byte order, ports too; addresses in network byte order, as
//! the kernel stores them, and read here as bytes. `struct data_t` has grown once: the
//! seed's layout is its first 84 bytes (up to `thesource`), which objects given with
//! `--object` may still have; the object's BTF says which ([`EventLayout`]). A perf
//! sample carries up to 7 bytes of the kernel's padding after the struct
//! ([`ebpf_loader::perf::read_sample`]).
//!
//! Count mode (`-c`) sends no events: the program adds one to the `counts` hash map at
//! its `struct flow_key`, and [`FlowCount::from_entry`] turns a key and its `u64` count
//! into a row. An IPv4 address fills the first 4 bytes of its 16; the rest is zero.

use std::fmt;
use std::mem::offset_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ebpf_loader::btf::layout::{self, LayoutError};
use ebpf_loader::btf::{Btf, Kind};
use ebpf_loader::perf;
use ebpf_loader::pod::{Pod, Shape, SizeError};

/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// `struct data_t` of `bpf/main.bpf.c`, with the container fields, and `struct
/// flow_key`, the key of the `counts` map: generated from the object's BTF
/// ([`super::main_bpf`]), with their size and offsets asserted at compile time.
pub use super::main_bpf::{DataT, FlowKey};

/// `struct data_t` in the seed's layout: [`DataT`] up to `thesource`, 84 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedDataT {
    pub comm: [u8; COMM_LEN],
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub loginuid: u32,
    pub family: u8,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub _hole: [u8; 2],
    pub saddr: [u8; 4],
    pub saddr6: [u8; 16],
    pub daddr: [u8; 4],
    pub daddr6: [u8; 16],
    pub thesource: u8,
    /// C's tail padding (the struct's size is a multiple of 4), made a field.
    pub _tail: [u8; 3],
}

// SAFETY: repr(C); integers and byte arrays only; the hole at 38 and the tail padding
// are the fields `_hole` and `_tail`.
unsafe impl Pod for SeedDataT {
    fn shape() -> Shape {
        // The same fields as DataT's up to `thesource`, at the same offsets.
        let Shape::Struct { fields } = DataT::shape() else {
            return Shape::Opaque;
        };
        let end = offset_of!(SeedDataT, _tail);
        Shape::Struct {
            fields: fields.into_iter().filter(|f| f.offset < end).collect(),
        }
    }
}

/// Which `struct data_t` the object sends, as its BTF says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLayout {
    /// [`DataT`]: with the container fields.
    Containers,
    /// [`SeedDataT`]: the seed's 84 bytes.
    Seed,
}

impl EventLayout {
    /// Finds `struct data_t` in the object's BTF and checks the Rust type of its size
    /// against it: [`SeedDataT`] if it is the seed's 84 bytes, else [`DataT`] (whose check
    /// names the first field that differs).
    pub fn check(btf: Option<&Btf>) -> Result<EventLayout, EventError> {
        let btf = btf.ok_or(EventError::NoDataT)?;
        let id = btf
            .find_by_name_kind("data_t", Kind::Struct)
            .map_err(|_| EventError::NoDataT)?;
        let seed = btf.resolve_size(id).ok() == Some(size_of::<SeedDataT>() as u32);
        if seed {
            layout::check::<SeedDataT>(btf, id)?;
            Ok(EventLayout::Seed)
        } else {
            layout::check::<DataT>(btf, id)?;
            Ok(EventLayout::Containers)
        }
    }
}

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

/// Why a sample is not a `struct data_t`, or the object's is not the tool's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    /// The sample is not the struct's size (plus the kernel's padding).
    Size(SizeError),
    /// `family` is neither `AF_INET` nor `AF_INET6`.
    UnknownFamily { family: u8 },
    /// The object's BTF has no `struct data_t`.
    NoDataT,
    /// The object's `struct data_t` is not the tool's.
    Layout(Box<LayoutError>),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Size(error) => write!(f, "event: {error}"),
            EventError::UnknownFamily { family } => {
                write!(
                    f,
                    "event has address family {family}, neither AF_INET nor AF_INET6"
                )
            }
            EventError::NoDataT => write!(
                f,
                "the object's BTF has no struct data_t: its events cannot be checked"
            ),
            EventError::Layout(_) => write!(f, "the object's events are not tcpconnect's"),
        }
    }
}

impl std::error::Error for EventError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EventError::Size(error) => Some(error),
            EventError::Layout(error) => Some(error),
            _ => None,
        }
    }
}

impl From<LayoutError> for EventError {
    fn from(error: LayoutError) -> EventError {
        EventError::Layout(Box::new(error))
    }
}

/// An IPv4-mapped IPv6 address is shown as the IPv4 address it carries.
fn unmap(addr: Ipv6Addr) -> IpAddr {
    match addr.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(addr),
    }
}

/// The family and the two addresses: the IPv4 fields or the IPv6 ones, as `family` says.
fn addresses(
    family: u8,
    v4: ([u8; 4], [u8; 4]),
    v6: ([u8; 16], [u8; 16]),
) -> Result<(Family, IpAddr, IpAddr), EventError> {
    match family {
        AF_INET => Ok((
            Family::Ipv4,
            IpAddr::V4(Ipv4Addr::from(v4.0)),
            IpAddr::V4(Ipv4Addr::from(v4.1)),
        )),
        AF_INET6 => Ok((
            Family::Ipv6,
            unmap(Ipv6Addr::from(v6.0)),
            unmap(Ipv6Addr::from(v6.1)),
        )),
        family => Err(EventError::UnknownFamily { family }),
    }
}

/// The process name up to its first NUL.
fn comm(comm: &[u8; COMM_LEN]) -> Vec<u8> {
    let len = comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
    comm.iter().take(len).copied().collect()
}

impl ConnectEvent {
    /// Decodes a raw perf sample of the object's layout.
    pub fn read(sample: &[u8], layout: EventLayout) -> Result<ConnectEvent, EventError> {
        match layout {
            EventLayout::Containers => {
                ConnectEvent::from_data(&perf::read_sample(sample).map_err(EventError::Size)?)
            }
            EventLayout::Seed => {
                ConnectEvent::from_seed(&perf::read_sample(sample).map_err(EventError::Size)?)
            }
        }
    }

    /// The event a [`DataT`] tells. Its IPv4 addresses are `u32`s in network byte
    /// order: their bytes in memory are the address's.
    pub fn from_data(data: &DataT) -> Result<ConnectEvent, EventError> {
        let (family, saddr, daddr) = addresses(
            data.family,
            (data.saddr.to_ne_bytes(), data.daddr.to_ne_bytes()),
            (data.saddr6.in6_u.bytes, data.daddr6.in6_u.bytes),
        )?;
        Ok(ConnectEvent {
            comm: comm(&data.comm),
            pid: data.pid,
            uid: data.uid,
            gid: data.gid,
            loginuid: data.loginuid,
            family,
            proto: data.proto,
            sport: data.sport,
            dport: data.dport,
            saddr,
            daddr,
            namespaces: Some(Namespaces {
                cgroup_id: nonzero(data.cgroup_id),
                mntns: nonzero(data.mntns),
                netns: nonzero(data.netns),
            }),
        })
    }

    /// The event a [`SeedDataT`] tells (no container fields).
    pub fn from_seed(data: &SeedDataT) -> Result<ConnectEvent, EventError> {
        let (family, saddr, daddr) = addresses(
            data.family,
            (data.saddr, data.daddr),
            (data.saddr6, data.daddr6),
        )?;
        Ok(ConnectEvent {
            comm: comm(&data.comm),
            pid: data.pid,
            uid: data.uid,
            gid: data.gid,
            loginuid: data.loginuid,
            family,
            proto: data.proto,
            sport: data.sport,
            dport: data.dport,
            saddr,
            daddr,
            namespaces: None,
        })
    }
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

/// The first 4 bytes of a 16-byte address field (an IPv4 address's place).
fn first4(addr: &[u8; 16]) -> [u8; 4] {
    [addr[0], addr[1], addr[2], addr[3]]
}

impl FlowCount {
    /// One entry of the `counts` map: a `struct flow_key` and its count.
    pub fn from_entry(key: &FlowKey, connects: u64) -> Result<FlowCount, EventError> {
        let (family, saddr, daddr) = addresses(
            key.family,
            (first4(&key.saddr), first4(&key.daddr)),
            (key.saddr, key.daddr),
        )?;
        Ok(FlowCount {
            connects,
            family,
            saddr,
            daddr,
            dport: key.dport,
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
    use crate::tool::EMBEDDED_OBJECT;
    use ebpf_loader::elf::ObjectSpec;
    use ebpf_loader::pod::{self, zeroed};

    /// The event the program would send, field by field.
    pub(crate) fn data_t(
        comm: &[u8],
        pid: u32,
        family: u8,
        ports: (u16, u16),
        saddr: &[u8],
        daddr: &[u8],
    ) -> DataT {
        let mut data: DataT = zeroed();
        data.comm[..comm.len()].copy_from_slice(comm);
        data.pid = pid;
        data.uid = 1000;
        data.gid = 100;
        data.loginuid = u32::MAX;
        data.family = family;
        data.proto = 6;
        (data.sport, data.dport) = ports;
        if family == AF_INET6 {
            data.saddr6.in6_u.bytes.copy_from_slice(saddr);
            data.daddr6.in6_u.bytes.copy_from_slice(daddr);
        } else {
            data.saddr = u32::from_ne_bytes(saddr.try_into().unwrap());
            data.daddr = u32::from_ne_bytes(daddr.try_into().unwrap());
        }
        data.thesource = 1;
        data
    }

    /// Its bytes as a perf sample brings them: with the kernel's padding (4 + 104 bytes
    /// become 112), which holds whatever was in the ring.
    pub(crate) fn sample<T: Pod>(data: &T) -> Vec<u8> {
        let mut raw = pod::bytes_of(data).to_vec();
        raw.resize((4 + raw.len()).next_multiple_of(8) - 4, 0xee);
        raw
    }

    /// The seed's layout of the same event.
    pub(crate) fn seed_of(data: &DataT) -> SeedDataT {
        pod::read(pod::bytes_of(data)).unwrap()
    }

    #[test]
    fn the_rust_structs_are_those_of_main_bpf_c() {
        assert_eq!(size_of::<DataT>(), 104);
        assert_eq!(size_of::<SeedDataT>(), 84);
        assert_eq!(size_of::<FlowKey>(), 36);
        let spec = ObjectSpec::parse(EMBEDDED_OBJECT).unwrap();
        assert_eq!(
            EventLayout::check(spec.btf.as_ref()),
            Ok(EventLayout::Containers)
        );
        let btf = spec.btf.as_ref().unwrap();
        let flow_key = btf.find_by_name_kind("flow_key", Kind::Struct).unwrap();
        layout::check::<FlowKey>(btf, flow_key).unwrap();
        let seed = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/seed_layout.bpf.o"
        ))
        .unwrap();
        let seed = ObjectSpec::parse(&seed).unwrap();
        assert_eq!(EventLayout::check(seed.btf.as_ref()), Ok(EventLayout::Seed));
    }

    /// The object's BTF with one member of `struct data_t` moved `by` bytes: what a
    /// field inserted before it in main.bpf.c does to its offset.
    pub(crate) fn with_member_moved(bytes: &[u8], member: &str, by: u32) -> Vec<u8> {
        let spec = ObjectSpec::parse(bytes).unwrap();
        let btf = spec.btf.as_ref().unwrap();
        let id = btf.find_by_name_kind("data_t", Kind::Struct).unwrap();
        let ty = btf.type_by_id(id).unwrap();
        let m = ty.members().iter().find(|m| m.name == member).unwrap();
        // struct btf_member as it lies in .BTF: name_off, type, offset (bits).
        let record: Vec<u8> = [m.name_off, m.type_id, m.bit_offset]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let at = bytes
            .windows(12)
            .position(|w| w == record.as_slice())
            .unwrap();
        let mut out = bytes.to_vec();
        out[at + 8..at + 12].copy_from_slice(&(m.bit_offset + by * 8).to_ne_bytes());
        out
    }

    #[test]
    fn a_member_changed_in_c_is_named() {
        let moved = with_member_moved(EMBEDDED_OBJECT, "dport", 2);
        let spec = ObjectSpec::parse(&moved).unwrap();
        let error = EventLayout::check(spec.btf.as_ref()).unwrap_err();
        let EventError::Layout(layout) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(layout.field, "dport");
        assert_eq!(
            layout.problem,
            layout::LayoutProblem::Offset { btf: 38, rust: 36 }
        );
        assert_eq!(
            error.to_string(),
            "the object's events are not tcpconnect's"
        );
        assert_eq!(
            std::error::Error::source(&error).unwrap().to_string(),
            "tcpconnect::tool::main_bpf::DataT does not match STRUCT 'data_t': field dport: at \
             byte 38 in the object's BTF, at byte 36 in Rust"
        );
    }

    #[test]
    fn decodes_an_ipv4_event() {
        let data = data_t(
            b"curl",
            4242,
            AF_INET,
            (51000, 443),
            &[10, 0, 0, 1],
            &[1, 1, 1, 1],
        );
        let expected = ConnectEvent {
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
        };
        let seed = sample(&seed_of(&data));
        assert_eq!(seed.len(), 84, "4 + 84 is a multiple of 8: no padding");
        assert_eq!(
            ConnectEvent::read(&seed, EventLayout::Seed),
            Ok(expected.clone())
        );
        assert_eq!(
            ConnectEvent::read(&sample(&data), EventLayout::Containers),
            Ok(ConnectEvent {
                namespaces: Some(Namespaces::default()),
                ..expected
            })
        );
    }

    #[test]
    fn decodes_the_container_fields_and_zero_as_unknown() {
        let mut data = data_t(b"curl", 1, AF_INET, (1, 2), &[0; 4], &[0; 4]);
        (data.cgroup_id, data.mntns, data.netns) = (7711, 4026532300, 4026531840);
        let event = ConnectEvent::read(&sample(&data), EventLayout::Containers).unwrap();
        assert_eq!(
            event.namespaces,
            Some(Namespaces {
                cgroup_id: Some(7711),
                mntns: Some(4026532300),
                netns: Some(4026531840),
            })
        );
        (data.cgroup_id, data.mntns, data.netns) = (1, 0, 0);
        let event = ConnectEvent::read(&sample(&data), EventLayout::Containers).unwrap();
        assert_eq!(
            event.namespaces,
            Some(Namespaces {
                cgroup_id: Some(1),
                mntns: None,
                netns: None,
            })
        );
    }

    #[test]
    fn decodes_ipv6_and_unmaps_ipv4_mapped_addresses() {
        let loopback6 = Ipv6Addr::LOCALHOST.octets();
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets();
        let data = data_t(b"nc", 1, AF_INET6, (40000, 8080), &loopback6, &mapped);
        let event = ConnectEvent::from_data(&data).unwrap();
        assert_eq!(event.family, Family::Ipv6);
        assert_eq!(event.saddr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(event.daddr, "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_full_comm_has_no_nul_and_keeps_16_bytes() {
        let data = data_t(b"0123456789abcdef", 1, AF_INET, (1, 2), &[0; 4], &[0; 4]);
        assert_eq!(
            ConnectEvent::from_data(&data).unwrap().comm,
            b"0123456789abcdef"
        );
    }

    #[test]
    fn rejects_samples_of_the_wrong_size_and_unknown_families() {
        let data = data_t(b"x", 1, AF_INET, (1, 2), &[0; 4], &[0; 4]);
        let raw = sample(&data);
        // A seed-layout sample read as the new layout: too short.
        let short = ConnectEvent::read(&raw[..88], EventLayout::Containers).unwrap_err();
        assert_eq!(
            short.to_string(),
            "event: a record of 88 bytes is shorter than tcpconnect::tool::main_bpf::DataT \
             (104 bytes)"
        );
        // The new layout read as the seed's: longer than the kernel's padding.
        assert!(matches!(
            ConnectEvent::read(&raw, EventLayout::Seed),
            Err(EventError::Size(SizeError {
                size: 84,
                got: 108,
                padding: 7,
                ..
            }))
        ));
        let data = data_t(b"x", 1, 1, (1, 2), &[0; 4], &[0; 4]);
        assert_eq!(
            ConnectEvent::from_data(&data),
            Err(EventError::UnknownFamily { family: 1 })
        );
    }

    /// A `struct flow_key` as the program writes it.
    pub(crate) fn flow_key(family: u8, saddr: &[u8], daddr: &[u8], dport: u16) -> FlowKey {
        let mut key: FlowKey = zeroed();
        key.saddr[..saddr.len()].copy_from_slice(saddr);
        key.daddr[..daddr.len()].copy_from_slice(daddr);
        key.dport = dport;
        key.family = family;
        key
    }

    #[test]
    fn decodes_count_entries_of_both_families() {
        let key = flow_key(AF_INET, &[127, 0, 0, 1], &[10, 1, 2, 3], 8080);
        assert_eq!(
            FlowCount::from_entry(&key, 5),
            Ok(FlowCount {
                connects: 5,
                family: Family::Ipv4,
                saddr: "127.0.0.1".parse().unwrap(),
                daddr: "10.1.2.3".parse().unwrap(),
                dport: 8080,
            })
        );
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets();
        let key = flow_key(AF_INET6, &Ipv6Addr::LOCALHOST.octets(), &mapped, 443);
        let flow = FlowCount::from_entry(&key, u64::MAX).unwrap();
        assert_eq!(flow.family, Family::Ipv6);
        assert_eq!(flow.saddr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(flow.daddr, "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!((flow.dport, flow.connects), (443, u64::MAX));
    }

    #[test]
    fn rejects_count_entries_of_an_unknown_family() {
        assert_eq!(
            FlowCount::from_entry(&flow_key(3, &[], &[], 1), 1),
            Err(EventError::UnknownFamily { family: 3 })
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
