// SPDX-License-Identifier: GPL-2.0
/*
 * A program in the style of libbpf-tools (which include the `vmlinux.h` that
 * `bpftool btf dump file /sys/kernel/btf/vmlinux format c` writes): tests/btf_dump.rs builds
 * it twice, against bpftool's header and against ebpf_loader's `btf::dump_c`, and compares
 * the CO-RE relocations of the two objects. Its reads cover what those tools read: nested
 * fields through pointers (execsnoop, tcpconnect), anonymous unions (`__sk_common`),
 * bitfields (`sk_protocol` in older kernels, `sched_*` flags), arrays, field existence and
 * size, type existence and size, and enum values.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u32 pid;
	__u32 ppid;
	__u16 dport;
	__u16 family;
	__u64 start;
	__u64 ino;
	__u32 flags;
	__u32 exists;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(p, tgid);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->start = BPF_CORE_READ(p, start_time);
	e->ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	e->flags = BPF_CORE_READ(p, mm, arg_start);
	e->exists = bpf_core_field_exists(p->loginuid) + bpf_core_type_exists(struct bpf_iter_num) +
		    bpf_core_field_size(p->comm) + bpf_core_type_size(struct sock_common) +
		    bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF) +
		    bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_reserve);
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state, struct sock *sk, int oldstate, int newstate)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->flags = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	e->ino = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32[3]);
	e->start = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(rq, struct request *rq)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(rq, q, disk, major);
	e->start = BPF_CORE_READ(rq, __sector);
	e->flags = BPF_CORE_READ(rq, cmd_flags);
	e->ino = BPF_CORE_READ(rq, mq_hctx, queue_num);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
