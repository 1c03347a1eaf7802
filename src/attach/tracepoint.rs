//! Tracepoints: a `BPF_PROG_TYPE_TRACEPOINT` program on a perf event of the tracepoint,
//! found by the id tracefs gives it.
//!
//! ABI: tracepoint ids in `events/CATEGORY/NAME/id` (`Documentation/trace/tracepoints.rst`);
//! `perf_event_open(2)` with `PERF_TYPE_TRACEPOINT` (`include/uapi/linux/perf_event.h`).

use std::os::fd::{AsFd, OwnedFd};

use super::{tracefs, AttachError, AttachOptions, Link, Probe};
use crate::load::Program;
use crate::syscall::{self, PerfEventAttr};

/// Attaches a `BPF_PROG_TYPE_TRACEPOINT` program to `category/name`
/// (e.g. `sock`/`inet_sock_set_state`).
pub fn attach(
    prog: &Program,
    category: &str,
    name: &str,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let target = format!("tracepoint {category}/{name}");
    let tracefs = tracefs::tracefs_dir()?;
    let id = tracefs::event_id(&tracefs, category, name)?.ok_or_else(|| {
        AttachError::TracepointNotFound {
            category: category.to_string(),
            name: name.to_string(),
            tracefs: tracefs.clone(),
        }
    })?;
    let perf = open_tracepoint_event(id, &target)?;
    Link::of_perf_event(prog.as_fd(), perf, Probe::Tracepoint, target, opts, 0)
}

pub(super) fn open_tracepoint_event(id: u64, target: &str) -> Result<OwnedFd, AttachError> {
    let attr = PerfEventAttr {
        type_: syscall::PERF_TYPE_TRACEPOINT,
        config: id,
        sample_period: 1,
        wakeup: 1,
        flags: syscall::ATTR_FLAG_DISABLED,
        ..Default::default()
    };
    // pid -1, cpu 0: the program runs for every task on every CPU (it is attached to the
    // event's tracepoint, not to this one CPU's counter).
    syscall::perf_event_open(&attr, -1, 0).map_err(|error| AttachError::Sys {
        target: target.to_string(),
        error,
    })
}
