//! sockmap programs on a sockmap or sockhash (`BPF_MAP_TYPE_SOCKMAP`, 4.14;
//! `BPF_MAP_TYPE_SOCKHASH`, 4.18): `sk_msg` (`BPF_SK_MSG_VERDICT`, 4.17) runs on each
//! message a socket of the map sends (`sendmsg`, `sendfile`) and may pass, drop or
//! redirect it to another socket of a map (`bpf_msg_redirect_map`,
//! `bpf_msg_redirect_hash`); `sk_skb/stream_parser` (`BPF_SK_SKB_STREAM_PARSER`) and
//! `sk_skb/stream_verdict` (`BPF_SK_SKB_STREAM_VERDICT`), 4.14, and `sk_skb/verdict`
//! (`BPF_SK_SKB_VERDICT`, 5.13) run on what a socket of the map receives. The program is
//! attached to the map, not to a socket: it runs for every socket put in the map.
//!
//! Two ways, the first the kernel has:
//! - a BPF link (6.10): `BPF_LINK_CREATE` with `target_fd` the map's fd;
//! - `BPF_PROG_ATTACH` to the map (no flags); the [`Link`] then keeps the map and the
//!   program and detaches exactly this program with `BPF_PROG_DETACH` on drop.
//!
//! As for cgroups, the attempt is the probe: before 6.10 `BPF_LINK_CREATE` answers
//! `EINVAL` for these program types; [`AttachOptions::force_prog_attach`] skips it. libbpf
//! has `bpf_program__attach_sockmap` (the link, 1.5) and `bpf_prog_attach` (the old way,
//! left to the caller); cilium/ebpf `link.RawAttachProgram`; aya `SkMsg::attach(map)`.
//!
//! ABI: `BPF_LINK_CREATE`, `BPF_PROG_ATTACH`, `BPF_PROG_DETACH`, the `BPF_SK_*` attach types
//! and `struct sk_msg_md` / `struct __sk_buff` in `include/uapi/linux/bpf.h`;
//! `Documentation/bpf/map_sockmap.rst` (what each program type does, the helpers, the
//! detach rules), `net/core/sock_map.c` (`sock_map_prog_update`, `sock_map_link_create`).

use std::os::fd::AsFd;

use super::prog_attach::ProgAttachGuard;
use super::{AttachError, AttachMethod, AttachOptions, Link, Probe, Via};
use crate::load::{Map, Program};
use crate::syscall::{self, SysError};
use crate::uapi::{AttachType, MapType, ProgramType};

/// `BPF_MAP_TYPE_SOCKMAP` (4.14): sockets by index.
pub const SOCKMAP: MapType = MapType(15);
/// `BPF_MAP_TYPE_SOCKHASH` (4.18): sockets by a key of the program's choosing.
pub const SOCKHASH: MapType = MapType(18);

/// Attaches an `sk_msg` or `sk_skb` program to `map` (a sockmap or sockhash) as its
/// section says (`sk_msg`, `sk_skb/stream_parser`, `sk_skb/stream_verdict`,
/// `sk_skb/verdict`): a BPF link where the kernel has them (6.10), else `BPF_PROG_ATTACH`
/// ([`Link::method`] says which). A bare `sk_skb` section names no attach type: use
/// [`attach_as`]. Dropping the link detaches the program.
pub fn attach(prog: &Program, map: &Map, opts: &AttachOptions) -> Result<Link, AttachError> {
    attach_as(prog, map, prog.expected_attach_type(), opts)
}

/// As [`attach`], with the attach type given: `BPF_SK_MSG_VERDICT` for an `sk_msg`
/// program; `BPF_SK_SKB_STREAM_PARSER`, `BPF_SK_SKB_STREAM_VERDICT` or
/// `BPF_SK_SKB_VERDICT` for an `sk_skb` program.
pub fn attach_as(
    prog: &Program,
    map: &Map,
    attach_type: AttachType,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    check_program(prog, attach_type)?;
    if map.map_type() != SOCKMAP && map.map_type() != SOCKHASH {
        return Err(AttachError::NotASockmap {
            program: prog.name().to_string(),
            map: map.name().to_string(),
            map_type: map.map_type(),
        });
    }
    let target = format!("sockmap {} ({})", map.name(), attach_type_name(attach_type));
    let (prog, map) = (prog.as_fd(), map.as_fd());
    if !opts.force_prog_attach {
        match syscall::link_create(prog, map, attach_type, 0) {
            Ok(fd) => return Ok(Link::of_bpf_link(method(Via::BpfLink), target, fd)),
            // Before 6.10 `link_create` knows no sockmap program: EINVAL.
            Err(e) if e.is_not_supported() => {}
            Err(error) => return Err(AttachError::Sys { target, error }),
        }
    }
    let guard = ProgAttachGuard::attach(map, prog, attach_type, 0).map_err(|error: SysError| {
        AttachError::Sys {
            target: target.clone(),
            error,
        }
    })?;
    Ok(Link::of_owned(method(Via::ProgAttach), target, guard))
}

/// The kernel's name of a sockmap attach type, for the link's target.
fn attach_type_name(attach_type: AttachType) -> &'static str {
    match attach_type {
        AttachType::SK_MSG_VERDICT => "sk_msg verdict",
        AttachType::SK_SKB_STREAM_PARSER => "sk_skb stream parser",
        AttachType::SK_SKB_STREAM_VERDICT => "sk_skb stream verdict",
        AttachType::SK_SKB_VERDICT => "sk_skb verdict",
        _ => "unknown attach type",
    }
}

/// Refuses a program that is not an `sk_msg` or `sk_skb` one, or an attach type that is
/// not of its kind.
fn check_program(prog: &Program, attach_type: AttachType) -> Result<(), AttachError> {
    let fits = match prog.program_type() {
        ProgramType::SkMsg => attach_type == AttachType::SK_MSG_VERDICT,
        ProgramType::SkSkb => matches!(
            attach_type,
            AttachType::SK_SKB_STREAM_PARSER
                | AttachType::SK_SKB_STREAM_VERDICT
                | AttachType::SK_SKB_VERDICT
        ),
        _ => {
            return Err(AttachError::Unsupported {
                program: prog.name().to_string(),
                target: format!(
                    "a sockmap: its section {:?} is not an sk_msg or sk_skb program's",
                    prog.section()
                ),
            })
        }
    };
    if fits {
        Ok(())
    } else {
        Err(AttachError::NoTarget {
            program: prog.name().to_string(),
            section: prog.section().to_string(),
            method: "attach::sockmap::attach_as(&program, &map, attach type, options) with \
                     the attach type of its kind (sk_msg: AttachType::SK_MSG_VERDICT; sk_skb: \
                     SK_SKB_STREAM_PARSER, SK_SKB_STREAM_VERDICT or SK_SKB_VERDICT)"
                .to_string(),
        })
    }
}

fn method(via: Via) -> AttachMethod {
    AttachMethod {
        probe: Probe::Sockmap,
        via,
    }
}

#[cfg(test)]
mod tests {
    //! The way of attaching on the fake kernel (`syscall::fake`): the exact calls.
    use super::*;
    use crate::elf::ObjectSpec;
    use crate::load::{LoadOptions, Object};
    use crate::syscall::fake::FakeKernel;

    fn loaded() -> (FakeKernel, Object) {
        let path = format!(
            "{}/tests/fixtures/sockmap.bpf.o",
            env!("CARGO_MANIFEST_DIR")
        );
        let spec = ObjectSpec::parse(&std::fs::read(path).unwrap()).unwrap();
        let kernel = FakeKernel::install();
        let object = Object::load(&spec, &LoadOptions::default()).unwrap();
        kernel.take_calls();
        (kernel, object)
    }

    #[test]
    fn before_sockmap_links_the_program_is_attached_to_the_map_and_detached_on_drop() {
        let (kernel, object) = loaded();
        let (program, map) = (
            object.program("redirect_msg").unwrap(),
            object.map("sock_hash").unwrap(),
        );
        let link = attach(program, map, &AttachOptions::default()).unwrap();
        let create = "BPF_LINK_CREATE redirect_msg -> sock_hash attach_type=7".to_string();
        assert_eq!(kernel.take_calls(), std::slice::from_ref(&create));
        assert_eq!(link.method().via, Via::BpfLink);
        drop(link);

        // Before 6.10: EINVAL, then BPF_PROG_ATTACH (no flags), BPF_PROG_DETACH on drop.
        kernel.refuse(|call| (call.op == "BPF_LINK_CREATE").then_some(libc::EINVAL));
        let link = attach(program, map, &AttachOptions::default()).unwrap();
        let attach_call = "BPF_PROG_ATTACH redirect_msg -> sock_hash attach_type=7 flags=0";
        assert_eq!(kernel.take_calls(), [create, attach_call.to_string()]);
        assert_eq!(link.method().via, Via::ProgAttach);
        drop(object);
        drop(link);
        assert_eq!(
            kernel.take_calls(),
            ["BPF_PROG_DETACH redirect_msg -> sock_hash attach_type=7 flags=0"]
        );
        assert_eq!(kernel.open_fds(), Vec::<String>::new());
    }

    #[test]
    fn a_bare_sk_skb_or_a_wrong_attach_type_is_refused_before_any_call() {
        let (kernel, object) = loaded();
        let (program, map) = (
            object.program("skb_stream_verdict").unwrap(),
            object.map("sock_hash").unwrap(),
        );
        let error = attach_as(
            program,
            map,
            AttachType::SK_MSG_VERDICT,
            &AttachOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(error, AttachError::NoTarget { .. }), "{error:?}");
        assert_eq!(kernel.take_calls(), Vec::<String>::new());
        let link = attach_as(
            program,
            map,
            AttachType::SK_SKB_STREAM_VERDICT,
            &AttachOptions {
                force_prog_attach: true,
                ..AttachOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            kernel.take_calls(),
            // The kernel's names are 15 bytes at most (BPF_OBJ_NAME_LEN).
            ["BPF_PROG_ATTACH skb_stream_verd -> sock_hash attach_type=5 flags=0"]
        );
        assert_eq!(link.target(), "sockmap sock_hash (sk_skb stream verdict)");
    }
}
