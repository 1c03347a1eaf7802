//! `perf_event_open(2)` and the perf ioctls the loader uses.
//!
//! ABI: `struct perf_event_attr`, `PERF_FLAG_FD_CLOEXEC` and `PERF_EVENT_IOC_*` in
//! `include/uapi/linux/perf_event.h`.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::SysError;

// `enum perf_type_id`.
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `enum perf_sw_ids`: the event `bpf_perf_event_output` writes to.
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
/// `enum perf_event_sample_format`: the sample carries `u32 size; u8 data[size]`.
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// `perf_event_open` flag: the new fd is close-on-exec (3.14).
pub const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

// Bits of the flag word after `read_format`.
/// `disabled`: the event starts off; `PERF_EVENT_IOC_ENABLE` turns it on.
pub const ATTR_FLAG_DISABLED: u64 = 1 << 0;
/// `freq`: `sample_period` is a frequency in Hz (the kernel adjusts the period to it).
pub const ATTR_FLAG_FREQ: u64 = 1 << 10;
/// `watermark`: `wakeup_watermark` is in bytes (otherwise `wakeup_events` counts events).
pub const ATTR_FLAG_WATERMARK: u64 = 1 << 14;

// `_IO('$', 0)`, `_IO('$', 1)`, `_IOW('$', 8, __u32)`.
pub const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
pub const PERF_EVENT_IOC_DISABLE: u64 = 0x2401;
pub const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER5` (112 bytes, 4.1), which every
/// kernel since then accepts. The bit-fields are one `u64` (`flags`, `ATTR_FLAG_*`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerfEventAttr {
    pub type_: u32,
    /// Set by [`perf_event_open`] to the struct's size.
    pub size: u32,
    pub config: u64,
    /// `sample_period` or `sample_freq`.
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    /// `wakeup_events`, or `wakeup_watermark` with `ATTR_FLAG_WATERMARK`.
    pub wakeup: u32,
    pub bp_type: u32,
    /// `config1`: for the kprobe PMU, a pointer to the function name (`kprobe_func`).
    pub config1: u64,
    /// `config2`: for the kprobe PMU, the offset in the function (`probe_offset`).
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub _reserved_2: u16,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 112);

/// Opens a perf event (`pid`: -1 for every process; `cpu`: -1 for every CPU, or one CPU),
/// close-on-exec. Any pointer in `attr.config1` must stay valid across the call.
pub fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32) -> Result<OwnedFd, SysError> {
    let mut attr = *attr;
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    let described = attr;
    let call = super::seam::Call::PerfEventOpen {
        attr: &described,
        pid,
        cpu,
    };
    let rc = super::seam::call(call, || {
        // SAFETY: `attr` is a fully initialised `#[repr(C)]` `perf_event_attr` of
        // `attr.size` bytes that lives across the call; the kernel may write `size` back on
        // E2BIG. Any pointer it holds (config1) is the caller's to keep alive.
        unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &mut attr as *mut PerfEventAttr,
                pid as libc::c_long,
                cpu as libc::c_long,
                -1 as libc::c_long,
                PERF_FLAG_FD_CLOEXEC,
            )
        }
    })
    .map_err(|errno| SysError::new("perf_event_open", errno))?;
    let fd = RawFd::try_from(rc).map_err(|_| SysError::new("perf_event_open", libc::EBADF))?;
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn perf_ioctl(
    op: &'static str,
    fd: BorrowedFd<'_>,
    request: u64,
    arg: libc::c_ulong,
) -> Result<(), SysError> {
    let call = super::seam::Call::PerfIoctl {
        op,
        fd: fd.as_raw_fd(),
        arg,
    };
    super::seam::call(call, || {
        // SAFETY: the PERF_EVENT_IOC_* requests used here take an integer argument (ENABLE
        // and DISABLE a flags word, SET_BPF a program fd), not a pointer; `fd` is open.
        i64::from(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) })
    })
    .map(drop)
    .map_err(|errno| SysError::new(op, errno))
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn perf_event_enable(fd: BorrowedFd<'_>) -> Result<(), SysError> {
    perf_ioctl("PERF_EVENT_IOC_ENABLE", fd, PERF_EVENT_IOC_ENABLE, 0)
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn perf_event_disable(fd: BorrowedFd<'_>) -> Result<(), SysError> {
    perf_ioctl("PERF_EVENT_IOC_DISABLE", fd, PERF_EVENT_IOC_DISABLE, 0)
}

/// `PERF_EVENT_IOC_SET_BPF`: runs `prog` on every occurrence of the event (a kprobe or a
/// tracepoint); the attachment lives as long as the perf event.
pub fn perf_event_set_bpf(fd: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), SysError> {
    perf_ioctl(
        "PERF_EVENT_IOC_SET_BPF",
        fd,
        PERF_EVENT_IOC_SET_BPF,
        prog.as_raw_fd() as libc::c_ulong,
    )
}
