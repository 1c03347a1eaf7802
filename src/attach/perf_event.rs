//! Sampling perf events: a `BPF_PROG_TYPE_PERF_EVENT` program run at each sample of a
//! hardware or software counter, on one CPU or of one thread.
//!
//! ABI: `perf_event_open(2)` (`include/uapi/linux/perf_event.h`: `type`, `config`,
//! `sample_period` / `sample_freq`), then the binding every perf-event kind shares ([`Link`]: a BPF link, or the ioctl).

use std::os::fd::AsFd;

use super::{AttachError, AttachOptions, Link, Probe};
use crate::load::Program;
use crate::syscall::{self, PerfEventAttr};

/// How often a sampling perf event samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRate {
    /// Every this many events (for a clock, nanoseconds).
    Period(u64),
    /// This many times a second (the kernel adjusts the period).
    Frequency(u64),
}

/// A sampling perf event to run a `BPF_PROG_TYPE_PERF_EVENT` program on: `perf_type` and
/// `config` as `perf_event_open(2)` takes them (`PERF_TYPE_SOFTWARE` 1 with
/// `PERF_COUNT_SW_CPU_CLOCK` 0, `PERF_TYPE_HARDWARE` 0 with `PERF_COUNT_HW_CPU_CYCLES` 0,
/// ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfEventSpec {
    /// `perf_event_attr.type`.
    pub perf_type: u32,
    /// `perf_event_attr.config`.
    pub config: u64,
    /// How often it samples.
    pub rate: SampleRate,
}

/// Attaches a perf event program to a new sampling event on `cpu` (every process on that
/// CPU) or of thread `pid` (a thread id, on any CPU); at least one of the two must be given, as
/// `perf_event_open(2)` requires. One link per event: to sample every CPU, attach once
/// per CPU ([`crate::perf::online_cpus`]).
pub fn attach(
    prog: &Program,
    event: &PerfEventSpec,
    pid: Option<u32>,
    cpu: Option<u32>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let (period, freq) = match event.rate {
        SampleRate::Period(n) => (n, 0),
        SampleRate::Frequency(n) => (n, syscall::ATTR_FLAG_FREQ),
    };
    let attr = PerfEventAttr {
        type_: event.perf_type,
        config: event.config,
        sample_period: period,
        flags: syscall::ATTR_FLAG_DISABLED | freq,
        ..Default::default()
    };
    let target = format!(
        "perf event type {} config {} on {}",
        event.perf_type,
        event.config,
        match (pid, cpu) {
            (Some(pid), Some(cpu)) => format!("thread {pid}, cpu {cpu}"),
            (Some(pid), None) => format!("thread {pid}"),
            (None, Some(cpu)) => format!("cpu {cpu}"),
            (None, None) => "no thread and no cpu".to_string(),
        }
    );
    let pid = pid.map_or(-1, |p| p as i32);
    let cpu = cpu.map_or(-1, |c| c as i32);
    let perf = syscall::perf_event_open(&attr, pid, cpu).map_err(|error| AttachError::Sys {
        target: target.clone(),
        error,
    })?;
    Link::of_perf_event(prog.as_fd(), perf, Probe::PerfEvent, target, opts, 0)
}
