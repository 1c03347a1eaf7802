//! struct_ops on the running kernel (root; 5.6+, this host has it): the TCP congestion
//! control of `tests/fixtures/struct_ops.bpf.c`, renamed for this process, is loaded
//! (its map's value built from the kernel's `struct bpf_struct_ops_tcp_congestion_ops`,
//! its programs loaded for the members they implement), registered, and chosen with
//! `setsockopt(TCP_CONGESTION)` for a connection of the test's own in a network namespace
//! of its own; its callbacks are counted in `.bss`. Dropping the link unregisters it:
//! choosing it by name then fails. Where the kernel cannot take a BPF
//! `tcp_congestion_ops`, or has no struct_ops links (before 6.4), the tests say so and
//! check the refusal. Every test name has `struct_ops` in it.

mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ebpf_loader::attach::{self, AttachMethod, Probe, Via};
use ebpf_loader::btf::Kind;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{program_info_by_id, LoadError, LoadOptions, Object};
use harness::netns::NetNs;

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/struct_ops.bpf.o");
/// The same, in `.struct_ops.link`.
const LINK_OBJECT: &[u8] = include_bytes!("fixtures/struct_ops_link.bpf.o");

/// The congestion control's name: one per process and variant (at most 15 bytes).
fn ca_name(variant: &str) -> String {
    format!("ldr{variant}{}", std::process::id())
}

/// Does the kernel's BTF have type `name` of `kind`?
fn kernel_has(name: &str, kind: Kind) -> bool {
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    kernel.find_by_name_kind(name, kind).is_ok()
}

/// The fixture `bytes`, its congestion control named `name`, loaded.
fn load(bytes: &[u8], name: &str) -> Result<Object, LoadError> {
    let mut spec = ObjectSpec::parse(bytes).unwrap();
    let map = spec.maps.iter_mut().find(|m| m.name == "test_ca").unwrap();
    let mut field = [0u8; 16];
    field[..name.len()].copy_from_slice(name.as_bytes());
    map.struct_ops
        .as_mut()
        .unwrap()
        .set_member("name", &field)
        .unwrap();
    Object::load(&spec, &LoadOptions::default())
}

/// `setsockopt(TCP_CONGESTION, name)` on `fd`.
fn set_congestion(fd: i32, name: &str) -> std::io::Result<()> {
    // SAFETY: `name` is a buffer of the length passed, alive across the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `getsockopt(TCP_CONGESTION)` of `fd`.
fn congestion_of(fd: i32) -> String {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` and `len` are live buffers of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A TCP socket of the calling thread's namespace, not connected.
fn tcp_socket() -> std::os::fd::OwnedFd {
    // SAFETY: a plain socket call; the fd is owned right below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    // SAFETY: a new fd nobody else owns.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
}

/// One connection over the namespace's loopback with congestion control `name` chosen
/// before connecting, 256 KiB sent and read, then reset (linger 0, so that the socket is
/// destroyed, and the congestion control released, at once).
fn connection_with(name: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = tcp_socket();
    set_congestion(client.as_raw_fd(), name).unwrap();
    let addr = listener.local_addr().unwrap();
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a sockaddr_in of the size passed.
    let rc = unsafe {
        libc::connect(
            client.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let mut client = TcpStream::from(client);
    assert_eq!(congestion_of(client.as_raw_fd()), name);
    let (mut server, _) = listener.accept().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        got.len()
    });
    client.write_all(&vec![7u8; 256 << 10]).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(reader.join().unwrap(), 256 << 10);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a struct linger of the size passed.
    unsafe {
        libc::setsockopt(
            client.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    drop(client);
}

fn counter(object: &Object, name: &str) -> u64 {
    object.global::<u64>(name).unwrap()
}

/// Waits (bounded) until `name` counts `want`.
fn wait_for(object: &Object, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter(object, name) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(counter(object, name), want, "{name}");
}

fn congestion_control_round_trip(bytes: &[u8], variant: &str, via: Via) {
    let name = ca_name(variant);
    let object = load(bytes, &name).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u32> = object
        .programs()
        .iter()
        .map(|p| p.info().unwrap().id)
        .collect();
    assert_eq!(ids.len(), 5, "every callback loaded");
    let _netns = NetNs::enter().unwrap();
    // Not registered yet: the kernel knows no congestion control of that name.
    let error = set_congestion(tcp_socket().as_raw_fd(), &name).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT), "{error}");

    let link = match attach::struct_ops::register(&object, "test_ca") {
        Ok(link) => link,
        // ENOTSUPP (524): the kernel cannot make the BPF trampoline each callback runs
        // through (arm64 before 6.0: the 5.10 arm64 guest). Everything else is a failure.
        Err(attach::AttachError::Sys { error, .. }) if error.errno == 524 => {
            eprintln!("skipped: this kernel has no BPF trampolines for struct_ops ({error})");
            return;
        }
        Err(e) => panic!("{e}: {:?}", std::error::Error::source(&e)),
    };
    assert_eq!(
        link.method(),
        AttachMethod {
            probe: Probe::StructOps,
            via
        }
    );
    assert_eq!(
        link.target(),
        "struct_ops test_ca (struct tcp_congestion_ops)"
    );
    connection_with(&name);
    // One connection chose it: initialised once, released once (the reset destroys the
    // socket), and its window consulted on the ACKs of the data.
    wait_for(&object, "inits", 1);
    wait_for(&object, "releases", 1);
    assert!(counter(&object, "cong_avoids") >= 1, "cong_avoid never ran");

    drop(link);
    // Unregistered: choosing it by name fails again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let error = loop {
        match set_congestion(tcp_socket().as_raw_fd(), &name) {
            Err(error) => break error,
            Ok(()) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(()) => panic!("{name} is still registered after the link was dropped"),
        }
    };
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT), "{error}");
    drop(object);
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(5);
        while program_info_by_id(id).unwrap().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            program_info_by_id(id).unwrap(),
            None,
            "program {id} left behind"
        );
    }
}

/// Can the kernel take a BPF `tcp_congestion_ops` (5.6 with `CONFIG_BPF_JIT` and
/// `bpf_tcp_ca`)? Its value type is in its BTF where it can.
fn bpf_tcp_ca_available() -> bool {
    kernel_has("bpf_struct_ops_tcp_congestion_ops", Kind::Struct)
}

#[test]
fn struct_ops_tcp_congestion_control_registered_chosen_and_unregistered() {
    if !bpf_tcp_ca_available() {
        eprintln!("this kernel cannot take a BPF tcp_congestion_ops: not run");
        let error = load(OBJECT, &ca_name("r")).map(drop).unwrap_err();
        assert!(matches!(error, LoadError::StructOps { .. }), "{error}");
        return;
    }
    congestion_control_round_trip(OBJECT, "m", Via::MapUpdate);
}

#[test]
fn struct_ops_link_registers_and_unregisters_with_its_link() {
    if !bpf_tcp_ca_available() {
        eprintln!("this kernel cannot take a BPF tcp_congestion_ops: not run");
        return;
    }
    // struct_ops links (6.4): the kernel's BTF has their struct where it has them.
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    if !ebpf_loader::load::has_struct_ops_links(&kernel) {
        eprintln!("this kernel has no struct_ops links (6.4): checking the refusal");
        let error = load(LINK_OBJECT, &ca_name("r")).map(drop).unwrap_err();
        assert_eq!(
            error.to_string(),
            "struct_ops map test_ca: it is in .struct_ops.link, to be registered by a BPF \
             link, and this kernel has no struct_ops links (Linux 6.4: no struct \
             bpf_struct_ops_link in its BTF); put it in .struct_ops instead"
        );
        return;
    }
    congestion_control_round_trip(LINK_OBJECT, "l", Via::BpfLink);
}

#[test]
fn struct_ops_map_and_members_are_read_from_the_object() {
    let spec = ObjectSpec::parse(OBJECT).unwrap();
    let map = spec.maps.iter().find(|m| m.name == "test_ca").unwrap();
    assert_eq!(map.map_type, ebpf_loader::uapi::MapType::STRUCT_OPS);
    assert_eq!((map.key_size, map.max_entries, map.map_flags), (4, 1, 0));
    let ops = map.struct_ops.as_ref().unwrap();
    assert_eq!(ops.type_name, "tcp_congestion_ops");
    let members: Vec<(&str, u32, bool, Option<&str>)> = ops
        .members
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.offset,
                m.is_function,
                m.program.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("ssthresh", 0, true, Some("ca_ssthresh")),
            ("cong_avoid", 8, true, Some("ca_cong_avoid")),
            ("undo_cwnd", 16, true, Some("ca_undo_cwnd")),
            ("init", 24, true, Some("ca_init")),
            ("release", 32, true, Some("ca_release")),
            ("name", 40, false, None),
            ("flags", 56, false, None),
        ]
    );
    assert_eq!(&ops.data[40..52], b"ldr_test_ca\0");
    let link = ObjectSpec::parse(LINK_OBJECT).unwrap();
    let map = link.maps.iter().find(|m| m.name == "test_ca").unwrap();
    assert_eq!(map.map_flags, ebpf_loader::uapi::BPF_F_LINK);
    assert_eq!(map.section, ".struct_ops.link");
}
