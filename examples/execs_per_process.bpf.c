// SPDX-License-Identifier: GPL-2.0
/* Counts execs per program name: each time a process execs, the tracepoint
 * sched/sched_process_exec fires in it (its comm is already the new program's name) and
 * the count of that name in the hash map `execs` goes up by one. The user side
 * (execs_per_process.rs) reads the map. Built by examples/Makefile. */
#include "../bpf/kernel.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, char[16]);	/* the comm, NUL-padded: TASK_COMM_LEN bytes */
	__type(value, __u64);	/* how many execs */
} execs SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int count_exec(void *ctx)
{
	char comm[16] = {};
	__u64 one = 1, *count;

	bpf_get_current_comm(comm, sizeof(comm));
	count = bpf_map_lookup_elem(&execs, comm);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&execs, comm, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
