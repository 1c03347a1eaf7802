// SPDX-License-Identifier: GPL-2.0
/* A packet counter on an interface's tc ingress hook: the count of IPv4 packets per IP
 * protocol (1 ICMP, 6 TCP, 17 UDP, ...) in the hash map `packets`, and of the other
 * packets (IPv6, ARP, ...) under the key 256. The program reads the packet from its
 * Ethernet header on (lo has one, of zeros) with bpf_skb_load_bytes, and returns
 * TC_ACT_UNSPEC (-1): the packet goes on as if the program were not there. Built by
 * examples/Makefile. */
#include "../bpf/kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_UNSPEC (-1)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 257);
	__type(key, __u32);	/* the IP protocol, or 256: not IPv4 */
	__type(value, __u64);	/* how many packets */
} packets SEC(".maps");

SEC("tc")
int count_packets(struct __sk_buff *skb)
{
	__u32 key = 256;
	__u16 eth_proto;
	__u8 proto;
	__u64 one = 1, *count;

	if (!bpf_skb_load_bytes(skb, 12, &eth_proto, 2) && eth_proto == bpf_htons(0x0800) &&
	    !bpf_skb_load_bytes(skb, 14 + 9, &proto, 1))
		key = proto;
	count = bpf_map_lookup_elem(&packets, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&packets, &key, &one, BPF_NOEXIST);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
