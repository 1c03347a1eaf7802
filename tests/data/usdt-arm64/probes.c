/* An arm64 binary with USDT probes, for the unit tests of the arm64 argument syntax
 * (src/attach/usdt.rs). Built by tests/data/usdt-arm64/Makefile with Debian's
 * aarch64-linux-gnu-gcc and systemtap-sdt-dev's <sys/sdt.h>; never run. */
#include <sys/sdt.h>

struct pair {
	int a;
	long b;
};

volatile long sink;

__attribute__((noinline)) void probe_args(int i, long l, unsigned char c, struct pair *p, short s)
{
	int local[4] = { i, i + 1, i + 2, i + 3 };

	DTRACE_PROBE5(arm64, args, i, l, c, p->b, s);
	DTRACE_PROBE3(arm64, stack, local[2], p->a, 42);
	sink = local[0] + local[3];
}

void _start(void)
{
	struct pair p = { 7, -9 };

	probe_args(1, -3, 200, &p, -5);
	for (;;)
		;
}
