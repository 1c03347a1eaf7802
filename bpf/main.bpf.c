// SPDX-License-Identifier: GPL-2.0
/*
 * tcpconnect's eBPF side: one event per outgoing TCP connection, IPv4 and IPv6.
 *
 * Two paths see the same connections from two places in the kernel:
 *   kprobe/tcp_connect                    the kernel function that sends the SYN; needs
 *                                         CONFIG_KPROBES. The socket is complete here, and
 *                                         the event is sent at once.
 *   tracepoint/sock/inet_sock_set_state   the socket's state changes; works without
 *   + tracepoint/tcp/tcp_retransmit_skb   kprobes. At CLOSE -> SYN_SENT the kernel has not
 *                                         picked the source port yet, so the process is
 *                                         remembered (map `pending`) and the event is sent,
 *                                         with the real port, at whichever comes first:
 *                                         the socket leaves SYN_SENT (handshake done,
 *                                         refused, or given up), or its SYN is sent again
 *                                         (no answer within the first retransmission
 *                                         timeout, 1 s by default). Either takes the
 *                                         socket out of `pending`, so the other sends
 *                                         nothing: one event per connect.
 * The user-space loader picks the kprobe, or both tracepoints, sets the configuration below,
 * and reads `events`.
 *
 * Containers: each event carries the process's cgroup v2 id and mount namespace and the
 * socket's network namespace, and three filters select processes by container in the
 * kernel: a cgroup v2 directory (`cgroup_filter`, as libbpf-tools' -c), and BCC's pinned
 * maps of cgroup ids (`cgroupset`) and mount namespaces (`mount_ns_set`), whose layout is
 * BCC's contract (docs/special_filtering.md): the loader substitutes the pinned maps.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define TASK_COMM_LEN 16
#define MAX_PORTS 64

/* The event. Its layout is an ABI shared with user space (src/event.rs). Ports are in host
 * byte order; addresses in network byte order, as the kernel stores them. */
struct data_t {
	char comm[TASK_COMM_LEN]; /* command (task_comm_len) */
	u32 pid;                  /* process id (tgid) */
	u32 uid;                  /* user id */
	u32 gid;                  /* group id */
	u32 loginuid;             /* real user (login/terminal); (u32)-1 when unset */
	u8 family;                /* AF_INET or AF_INET6 */
	u8 proto;                 /* IPPROTO_TCP */
	u16 sport;                /* source port */
	u16 dport;                /* destination port */
	u32 saddr;                /* source address (IPv4) */
	struct in6_addr saddr6;   /* source address (IPv6) */
	u32 daddr;                /* destination address (IPv4) */
	struct in6_addr daddr6;   /* destination address (IPv6) */
	u8 thesource;             /* 1: this host originates the connection */
	/* Appended after the seed's layout (84 bytes), which stays a prefix. */
	u8 __pad[7];
	u64 cgroup_id;            /* cgroup v2 id: the inode of the cgroup's directory */
	u32 mntns;                /* mount namespace: inode of /proc/PID/ns/mnt; 0 unknown */
	u32 netns;                /* the socket's network namespace: inode of /proc/PID/ns/net */
};

/* Configuration: .rodata, written by the loader before the programs are loaded, then
 * frozen. The verifier sees the values as constants and prunes the unused paths. */
const volatile u32 filter_pid = 0;              /* tgid to keep; 0: every process */
const volatile u32 filter_uid = (u32)-1;        /* uid to keep; (u32)-1: every user */
const volatile u8 filter_family = 0;            /* AF_INET or AF_INET6; 0: both */
const volatile u32 filter_ports_len = 0;        /* 0: every destination port */
const volatile u16 filter_ports[MAX_PORTS] = {}; /* destination ports to keep */
const volatile bool count_mode = false;         /* count in `counts`, send no events */
const volatile bool filter_cgroup = false;      /* only tasks under cgroup_filter[0] */
const volatile bool filter_cgroupmap = false;   /* only cgroup ids in `cgroupset` */
const volatile bool filter_mntnsmap = false;    /* only mount namespaces in `mount_ns_set` */

/* .bss: connections the tracepoint path could not remember (the `pending` map was full). */
u64 pending_dropped = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

/* --cgroup: the cgroup v2 directory's fd at index 0, set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} cgroup_filter SEC(".maps");

/* --cgroupmap and --mntnsmap: BCC's maps (bcc/containers.py, docs/special_filtering.md),
 * replaced by the pinned ones the user names. Only the keys matter. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);   /* cgroup v2 id */
	__type(value, u64);
} cgroupset SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);   /* mount namespace inode */
	__type(value, u32);
} mount_ns_set SEC(".maps");

/* Who connected, remembered from CLOSE -> SYN_SENT until the event is sent. */
struct pending_connect {
	char comm[TASK_COMM_LEN];
	u32 pid;
	u32 uid;
	u32 gid;
	u32 loginuid;
	u64 cgroup_id;
	u32 mntns;
	u32 netns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, u64); /* the socket's kernel address */
	__type(value, struct pending_connect);
} pending SEC(".maps");

/* Count mode: connections per (source, destination, destination port). */
struct flow_key {
	u8 saddr[16];
	u8 daddr[16];
	u16 dport;
	u8 family;
	u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct flow_key);
	__type(value, u64);
} counts SEC(".maps");

/* The mount namespace of the current task; 0 when it has none (exiting). */
static __always_inline u32 current_mntns(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/* The process filters; in process context (the connecting task is current). */
static __always_inline bool process_filtered_out(void)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	u32 uid = (u32)bpf_get_current_uid_gid();

	if (filter_pid && pid != filter_pid)
		return true;
	if (filter_uid != (u32)-1 && uid != filter_uid)
		return true;
	/* 1: under the cgroup; 0: not; < 0: no cgroup at index 0. */
	if (filter_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
		return true;
	if (filter_cgroupmap) {
		u64 id = bpf_get_current_cgroup_id();

		if (!bpf_map_lookup_elem(&cgroupset, &id))
			return true;
	}
	if (filter_mntnsmap) {
		u64 ns = current_mntns();

		if (!bpf_map_lookup_elem(&mount_ns_set, &ns))
			return true;
	}
	return false;
}

static __always_inline u32 current_loginuid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!bpf_core_field_exists(task->loginuid))
		return (u32)-1;
	return BPF_CORE_READ(task, loginuid.val);
}

static __always_inline void fill_process(char comm[TASK_COMM_LEN], u32 *pid, u32 *uid,
					 u32 *gid, u32 *loginuid)
{
	u64 uid_gid = bpf_get_current_uid_gid();

	*pid = bpf_get_current_pid_tgid() >> 32;
	*uid = (u32)uid_gid;
	*gid = uid_gid >> 32;
	*loginuid = current_loginuid();
	bpf_get_current_comm(comm, TASK_COMM_LEN);
}

/* Where the connecting process runs (current task) and the socket's network namespace. */
static __always_inline void fill_namespaces(struct sock *sk, u64 *cgroup_id, u32 *mntns,
					    u32 *netns)
{
	*cgroup_id = bpf_get_current_cgroup_id();
	*mntns = current_mntns();
	*netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The connection's protocol, ports and addresses, read from a socket whose source port is
 * set (the kernel's struct layout fitted by CO-RE). */
static __always_inline void fill_socket(struct sock *sk, struct data_t *data)
{
	data->proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	data->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	data->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (data->family == AF_INET) {
		data->saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		data->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&data->saddr6, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&data->daddr6, sk, __sk_common.skc_v6_daddr);
	}
}

/* The tracepoint path: copies the process remembered for socket `sk` (found at `who`) into
 * `data` and forgets it. True only for the caller whose delete removed the entry: should
 * both tracepoints see the same socket at once, one of them sends the event. */
static __always_inline bool take_pending(u64 sk, struct pending_connect *who,
					 struct data_t *data)
{
	__builtin_memcpy(data->comm, who->comm, TASK_COMM_LEN);
	data->pid = who->pid;
	data->uid = who->uid;
	data->gid = who->gid;
	data->loginuid = who->loginuid;
	data->cgroup_id = who->cgroup_id;
	data->mntns = who->mntns;
	data->netns = who->netns;
	return bpf_map_delete_elem(&pending, &sk) == 0;
}

/* Shared by every program (a bpf-to-bpf call): port filter, then count or send. */
static __noinline int emit(void *ctx, struct data_t *data)
{
	if (filter_ports_len) {
		bool keep = false;

		for (u32 i = 0; i < MAX_PORTS; i++) {
			if (i >= filter_ports_len)
				break;
			if (filter_ports[i] == data->dport) {
				keep = true;
				break;
			}
		}
		if (!keep)
			return 0;
	}

	if (count_mode) {
		struct flow_key key;
		u64 one = 1, *count;

		__builtin_memset(&key, 0, sizeof(key));
		key.family = data->family;
		key.dport = data->dport;
		if (data->family == AF_INET) {
			__builtin_memcpy(key.saddr, &data->saddr, 4);
			__builtin_memcpy(key.daddr, &data->daddr, 4);
		} else {
			__builtin_memcpy(key.saddr, &data->saddr6, 16);
			__builtin_memcpy(key.daddr, &data->daddr6, 16);
		}
		count = bpf_map_lookup_elem(&counts, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
		else
			bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
		return 0;
	}

	return bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, data, sizeof(*data));
}

SEC("kprobe/tcp_connect")
int BPF_KPROBE(tcp_connect, struct sock *sk)
{
	struct data_t data = {};

	if (process_filtered_out())
		return 0;
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_SYN_SENT)
		return 0;

	data.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (data.family != AF_INET && data.family != AF_INET6)
		return 0;
	if (filter_family && data.family != filter_family)
		return 0;

	fill_process(data.comm, &data.pid, &data.uid, &data.gid, &data.loginuid);
	fill_namespaces(sk, &data.cgroup_id, &data.mntns, &data.netns);
	fill_socket(sk, &data);
	data.thesource = 1;
	return emit(ctx, &data);
}

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *args)
{
	u64 sk = (u64)args->skaddr;
	struct pending_connect *who;
	struct data_t data = {};

	if (args->protocol != IPPROTO_TCP)
		return 0;
	if (args->family != AF_INET && args->family != AF_INET6)
		return 0;
	if (filter_family && args->family != filter_family)
		return 0;

	if (args->oldstate == TCP_CLOSE && args->newstate == TCP_SYN_SENT) {
		/* Process context: this is the connecting process, but the port is not known. */
		struct pending_connect p = {};

		if (process_filtered_out())
			return 0;
		fill_process(p.comm, &p.pid, &p.uid, &p.gid, &p.loginuid);
		fill_namespaces((struct sock *)sk, &p.cgroup_id, &p.mntns, &p.netns);
		if (bpf_map_update_elem(&pending, &sk, &p, BPF_ANY))
			__sync_fetch_and_add(&pending_dropped, 1);
		return 0;
	}
	if (args->oldstate != TCP_SYN_SENT)
		return 0;

	/* Leaving SYN_SENT (maybe in softirq context): the port is set, the process was saved;
	 * not in `pending` when the SYN's retransmit already sent the event. */
	who = bpf_map_lookup_elem(&pending, &sk);
	if (!who)
		return 0;
	if (!take_pending(sk, who, &data))
		return 0;

	/* A connect that failed before sending its SYN (no free port) never got a port. */
	if (args->sport == 0)
		return 0;
	data.family = args->family;
	data.proto = IPPROTO_TCP;
	data.sport = args->sport;
	data.dport = args->dport;
	/* The context may not be read at a computed offset: copy the arrays with a helper. */
	if (data.family == AF_INET) {
		bpf_probe_read_kernel(&data.saddr, 4, args->saddr);
		bpf_probe_read_kernel(&data.daddr, 4, args->daddr);
	} else {
		bpf_probe_read_kernel(&data.saddr6, 16, args->saddr_v6);
		bpf_probe_read_kernel(&data.daddr6, 16, args->daddr_v6);
	}
	data.thesource = 1;
	return emit(args, &data);
}

/* A segment sent again (tcp_retransmit_skb; in the retransmission timer, softirq context).
 * For a socket in SYN_SENT that is its SYN: no answer came within the retransmission
 * timeout. Such a connect may wait minutes before it leaves SYN_SENT, so it is sent now,
 * from the socket (its port is set since the first SYN), and taken out of `pending`.
 * Every retransmit of every TCP connection comes here: the map lookup filters first. */
SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_skb(void *ctx)
{
	struct pending_connect *who;
	struct data_t data = {};
	struct sock *s;
	u64 sk;

	/* The record's type has another name on older kernels (bpf/kernel.h). Which one
	 * exists is a CO-RE constant: the verifier walks only that branch, and the other's
	 * offset, which this kernel cannot resolve, is poisoned where no path reaches it. The
	 * field is copied with a helper: clang merges the two branches' reads into one at a
	 * computed offset, and the context may not be dereferenced at one. */
	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb)) {
		struct trace_event_raw_tcp_retransmit_skb *args = ctx;

		BPF_CORE_READ_INTO(&sk, args, skaddr);
	} else {
		struct trace_event_raw_tcp_event_sk_skb *args = ctx;

		BPF_CORE_READ_INTO(&sk, args, skaddr);
	}

	who = bpf_map_lookup_elem(&pending, &sk);
	if (!who)
		return 0;
	s = (struct sock *)sk;
	if (BPF_CORE_READ(s, __sk_common.skc_state) != TCP_SYN_SENT)
		return 0;
	data.family = BPF_CORE_READ(s, __sk_common.skc_family);
	if (data.family != AF_INET && data.family != AF_INET6)
		return 0;
	if (!take_pending(sk, who, &data))
		return 0;
	fill_socket(s, &data);
	data.thesource = 1;
	return emit(ctx, &data);
}

char LICENSE[] SEC("license") = "GPL";
