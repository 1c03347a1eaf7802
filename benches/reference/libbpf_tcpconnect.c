// SPDX-License-Identifier: GPL-2.0
/*
 * The reference for BENCHMARKS.md: tcpconnect's tracepoint path done by libbpf (Debian's
 * libbpf-dev, 1.1), the same work as `tcpconnect --attach tracepoint`:
 *   open bpf/main.bpf.o, load only `inet_sock_set_state` (CO-RE against the kernel's BTF),
 *   attach it, open a perf_buffer on `events` (8 pages per CPU by default), print a header
 *   once ready, then one line per event; on SIGINT/SIGTERM or after -d SECS, print
 *   "lost N events in all" on stderr when there were losses and exit 0.
 *   -d 0 sets everything up and exits, as `tcpconnect --duration 0` does.
 *
 * Built only by scripts/bench/build-reference.sh (static: libbpf.a, libelf.a, libz.a) and
 * never linked into the tool. Not part of the crate.
 *
 * -t prints on stderr the time since main() of each phase (open, load, attach, rings)
 * and, once ready (so that it does not count), how long btf__load_vmlinux_btf() takes:
 * the kernel BTF's share of bpf_object__load().
 *
 * usage: libbpf_tcpconnect [-o OBJECT] [-d SECS] [-p PAGES] [-v] [-t]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define TASK_COMM_LEN 16

/* bpf/main.bpf.c's struct data_t (src/event.rs). */
struct data_t {
	char comm[TASK_COMM_LEN];
	unsigned int pid, uid, gid, loginuid;
	unsigned char family, proto;
	unsigned short sport, dport;
	unsigned int saddr;
	unsigned char saddr6[16];
	unsigned int daddr;
	unsigned char daddr6[16];
	unsigned char thesource;
};

static volatile sig_atomic_t stop;
static unsigned long long lost_total;
static int verbose, timing;
static double t0;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void on_sample(void *ctx, int cpu, void *data, unsigned int size)
{
	const struct data_t *e = data;
	char saddr[INET6_ADDRSTRLEN], daddr[INET6_ADDRSTRLEN];
	(void)ctx;
	(void)cpu;

	if (size < sizeof(*e))
		return;
	if (e->family == AF_INET) {
		inet_ntop(AF_INET, &e->saddr, saddr, sizeof(saddr));
		inet_ntop(AF_INET, &e->daddr, daddr, sizeof(daddr));
	} else {
		inet_ntop(AF_INET6, e->saddr6, saddr, sizeof(saddr));
		inet_ntop(AF_INET6, e->daddr6, daddr, sizeof(daddr));
	}
	printf("%-7u %-16.16s %-2d %-16s %-16s %u\n", e->pid, e->comm,
	       e->family == AF_INET ? 4 : 6, saddr, daddr, e->dport);
}

static void on_lost(void *ctx, int cpu, unsigned long long count)
{
	(void)ctx;
	lost_total += count;
	fprintf(stderr, "libbpf_tcpconnect: lost %llu events on CPU %d\n", count, cpu);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mark(const char *what)
{
	if (timing)
		fprintf(stderr, "phase %8.3f ms %s\n", (now() - t0) * 1e3, what);
}

int main(int argc, char **argv)
{
	const char *path = "bpf/main.bpf.o";
	long duration = -1, pages = 8;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	struct perf_buffer *pb;
	int opt, err;

	t0 = now();
	while ((opt = getopt(argc, argv, "o:d:p:vt")) != -1) {
		switch (opt) {
		case 'o': path = optarg; break;
		case 'd': duration = strtol(optarg, NULL, 10); break;
		case 'p': pages = strtol(optarg, NULL, 10); break;
		case 'v': verbose = 1; break;
		case 't': timing = 1; break;
		default:
			fprintf(stderr, "usage: %s [-o OBJECT] [-d SECS] [-p PAGES] [-v] [-t]\n", argv[0]);
			return 1;
		}
	}
	libbpf_set_print(print_libbpf);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		fprintf(stderr, "libbpf_tcpconnect: opening %s: %s\n", path, strerror(errno));
		return 1;
	}
	mark("bpf_object__open_file");
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog), "inet_sock_set_state") == 0);
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "libbpf_tcpconnect: loading: %s\n", strerror(-err));
		return 1;
	}
	mark("bpf_object__load (kernel BTF, probes, maps, CO-RE, verifier)");
	prog = bpf_object__find_program_by_name(obj, "inet_sock_set_state");
	link = bpf_program__attach(prog);
	if (!link) {
		fprintf(stderr, "libbpf_tcpconnect: attaching: %s\n", strerror(errno));
		return 1;
	}
	mark("attached");
	pb = perf_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), pages,
			      on_sample, on_lost, NULL, NULL);
	if (!pb) {
		fprintf(stderr, "libbpf_tcpconnect: perf buffer: %s\n", strerror(errno));
		return 1;
	}
	mark("rings open (ready)");
	if (timing) {
		double t = now();
		struct btf *vmlinux = btf__load_vmlinux_btf();

		fprintf(stderr, "btf__load_vmlinux_btf alone: %.3f ms\n", (now() - t) * 1e3);
		btf__free(vmlinux);
	}
	if (duration == 0)
		return 0;

	printf("%-7s %-16s %-2s %-16s %-16s %s\n", "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT");
	fflush(stdout);
	double deadline = duration > 0 ? now() + duration : 0;
	while (!stop && (!deadline || now() < deadline)) {
		err = perf_buffer__poll(pb, 100);
		fflush(stdout);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "libbpf_tcpconnect: polling: %s\n", strerror(-err));
			break;
		}
	}
	/* What arrived after the last poll, as the tool reads its rings once more. */
	perf_buffer__consume(pb);
	fflush(stdout);
	if (lost_total)
		fprintf(stderr, "libbpf_tcpconnect: lost %llu events in all\n", lost_total);
	perf_buffer__free(pb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
