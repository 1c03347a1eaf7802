// SPDX-License-Identifier: GPL-2.0
/* A ring buffer of events: one `struct open_event` per openat(2), written by the
 * tracepoint syscalls/sys_enter_openat into the ring buffer `opens`, read by opens.rs as
 * typed records. `target_pid`, a constant of .rodata, is set by the user side before load
 * (0: every process). Built by examples/Makefile. */
#include "../bpf/kernel.h"
#include <bpf/bpf_helpers.h>

#define BPF_MAP_TYPE_RINGBUF 27

/* The tracepoint's record, as /sys/kernel/tracing/events/syscalls/sys_enter_openat/format
 * lays it out: 8 bytes of common fields, the syscall number (padded to 8), then the
 * arguments, each 8 bytes. */
struct sys_enter_openat {
	__u64 common;
	__s64 syscall_nr;
	__s64 dfd;
	const char *filename;
	__s64 flags;
	__u64 mode;
};

struct open_event {
	__u32 pid;		/* the process (tgid) */
	__u32 uid;
	char comm[16];
	char filename[128];	/* as passed, possibly cut short */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} opens SEC(".maps");

const volatile __u32 target_pid = 0;

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct sys_enter_openat *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct open_event *event;

	if (target_pid && pid != target_pid)
		return 0;
	event = bpf_ringbuf_reserve(&opens, sizeof(*event), 0);
	if (!event)
		return 0;	/* the ring is full: this one is lost */
	event->pid = pid;
	event->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	bpf_probe_read_user_str(event->filename, sizeof(event->filename), ctx->filename);
	bpf_ringbuf_submit(event, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
