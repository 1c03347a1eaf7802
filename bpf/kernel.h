/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types main.bpf.c reads, written by hand.
 *
 * A generated vmlinux.h holds every type of one kernel (megabytes). This header holds
 * only the fields the program touches, and marks each struct with
 * __attribute__((preserve_access_index)): clang then records every field access as a
 * CO-RE relocation (in .BTF.ext), and the loader rewrites the offsets for the kernel it
 * runs on. So the offsets written here do not have to match any real kernel; the field
 * names and types do (Documentation/bpf/libbpf/libbpf_naming_convention.rst,
 * "BPF CO-RE").
 *
 * Fields that sit inside anonymous unions in the kernel (skc_daddr, skc_dport, ...) are
 * declared directly here: the loader finds them by name through anonymous members.
 */
#ifndef TCPCONNECT_KERNEL_H
#define TCPCONNECT_KERNEL_H

/* Tells bpf_tracing.h that pt_regs has the kernel's field names (x86: di, si, ...). */
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

/* include/uapi/linux/bpf.h: the constants this program uses. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4,
	BPF_MAP_TYPE_CGROUP_ARRAY = 8,
};
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_F_CURRENT_CPU 0xffffffffULL

/* include/linux/socket.h, include/uapi/linux/in.h, include/net/tcp_states.h */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

/*
 * A kprobe's context: the registers at the probed instruction. The only part of this file
 * that differs between architectures; bpf/Makefile builds one object per architecture
 * (-D__TARGET_ARCH_x86, -D__TARGET_ARCH_arm64), and bpf_tracing.h's PT_REGS_PARM1 reads
 * the first argument's register by the names below.
 */
#if defined(__TARGET_ARCH_x86)
/* arch/x86/include/asm/ptrace.h: the kernel's own names (di, si, ...). */
struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long cx;
	unsigned long r8;
	unsigned long r9;
	unsigned long r10;
	unsigned long bp;
	unsigned long sp;
	unsigned long ip;
	unsigned long ax;
} __attribute__((preserve_access_index));
#elif defined(__TARGET_ARCH_arm64)
/*
 * arch/arm64/include/uapi/asm/ptrace.h: arm64's pt_regs begins with these fields (a union
 * with `struct user_pt_regs user_regs`), and bpf_tracing.h reads arguments through this
 * type (x0 is regs[0], the first argument). The kernel's pt_regs itself is only named.
 */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));
struct pt_regs;
#else
#error "bpf/kernel.h: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64 (bpf/Makefile does)"
#endif

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

/* include/linux/ns_common.h: what every namespace has; `inum` is the inode number of its
 * /proc/PID/ns/ file (`ls -Li /proc/PID/ns/mnt`). */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

/* include/net/net_namespace.h */
struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

/* fs/mount.h (private to the VFS, but in the kernel's BTF) */
struct mnt_namespace {
	struct ns_common ns;
} __attribute__((preserve_access_index));

/* include/linux/nsproxy.h */
struct nsproxy {
	struct mnt_namespace *mnt_ns;
} __attribute__((preserve_access_index));

/* include/net/sock.h */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	/* A bitfield before 5.6, a u16 since: read with BPF_CORE_READ_BITFIELD_PROBED. */
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

/* include/linux/uidgid.h */
typedef __u32 uid_t;
typedef struct {
	uid_t val;
} kuid_t;

/* include/linux/sched.h: loginuid exists only with CONFIG_AUDIT. */
struct task_struct {
	kuid_t loginuid;
	struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

/* include/linux/trace_events.h and include/trace/events/sock.h: the tracepoint's record. */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __attribute__((preserve_access_index));

struct trace_event_raw_inet_sock_set_state {
	struct trace_entry ent;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

/*
 * include/trace/events/tcp.h: the record of tcp:tcp_retransmit_skb. Its type has had two
 * names: on Debian's 6.1 and 6.12 the event belongs to the class tcp_event_sk_skb (type
 * trace_event_raw_tcp_event_sk_skb, no such type as the one below); by 6.18 (this project's
 * host) it is an event of its own with an `err` field at the end (type
 * trace_event_raw_tcp_retransmit_skb, and tcp_event_sk_skb is gone). The program reads only
 * `skaddr`, through whichever of the two the kernel's BTF has (bpf_core_type_exists), and
 * takes everything else from the socket.
 */
struct trace_event_raw_tcp_event_sk_skb {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_retransmit_skb {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
} __attribute__((preserve_access_index));

#endif /* TCPCONNECT_KERNEL_H */
