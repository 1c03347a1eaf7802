#!/usr/bin/env bash
# Where start-up goes, phase by phase, from a strace of one run (BENCHMARKS.md, "Start-up"):
#   exec+parse   execve -> open of /sys/kernel/btf/vmlinux (runtime, arguments, the object)
#   kernel BTF   -> the first bpf() after it (reading and indexing the kernel's BTF)
#   maps+CO-RE   -> the BPF_PROG_LOAD of inet_sock_set_state (BTF load, maps, CO-RE,
#                   and for libbpf its feature probes)
#   verifier     that BPF_PROG_LOAD's own time
#   attach       -> the first perf_event_open of a PERF_COUNT_SW_BPF_OUTPUT ring
#   rings        -> the header written on stdout (ready)
# and the five longest stretches of user-space time between two system calls.
# strace adds some tens of microseconds to each system call: the phases are
# relative, the totals longer than an untraced run (benches/startup.rs).
#
# usage: scripts/bench/phases.sh [COMMAND ARGS...]   (default: both tools, 3 runs each)
set -euo pipefail
cd "$(dirname "$0")/../.."

phases() {
    local out; out=$(mktemp)
    strace -f -ttt -T -s 64 -o "$out" "$@" >/dev/null 2>&1 || true
    awk -v name="$*" '
    function at_end(line,   d) { d = line; sub(/.*</, "", d); sub(/>.*/, "", d); return d + 0 }
    {
        sub(/^[0-9]+ +/, "")                      # the pid column of -f
        ts = $1 + 0
        dur = ($0 ~ /<[0-9.]+>$/) ? at_end($0) : 0
        if (NR == 1) { t0 = ts; start = ts; phase = "exec+parse"; last_end = ts }
        gap = ts - last_end
        if (gap > 0) { gaps[NR] = gap; after[NR] = prev }
        if (phase == "exec+parse" && $0 ~ /open(at)?\(.*btf\/vmlinux/) { mark("kernel BTF", ts) }
        else if (phase == "kernel BTF" && $0 ~ / bpf\(/) { mark("maps+CO-RE", ts) }
        else if (phase == "maps+CO-RE" && $0 ~ /BPF_PROG_LOAD.*prog_name="inet_sock_set/) {
            mark("verifier", ts); mark("attach", ts + dur)
        }
        else if (phase == "attach" && $0 ~ /perf_event_open\(.*PERF_COUNT_SW_BPF_OUTPUT/) { mark("rings", ts) }
        else if (phase == "rings" && $0 ~ /^[0-9.]+ write\(1, "PID/) { mark("ready", ts + dur); done = 1 }
        if (!done) { prev = $2; sub(/\(.*/, "", prev) }
        last_end = ts + dur
        if (done) exit
    }
    function mark(next_phase, t) {
        if (phase != "") { order[++n] = phase; took[phase] = t - start }
        phase = next_phase; start = t
    }
    END {
        printf "%s\n", name
        for (i = 1; i <= n; i++) printf "  %-12s %7.2f ms\n", order[i], took[order[i]] * 1000
        printf "  %-12s %7.2f ms (traced)\n", "exec->ready", (start - t0) * 1000
        # the longest stretches of user-space time
        m = 0; for (k in gaps) { m++; gk[m] = k }
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
            if (gaps[gk[j]] > gaps[gk[i]]) { t = gk[i]; gk[i] = gk[j]; gk[j] = t }
        printf "  longest user-space stretches:"
        for (i = 1; i <= 5 && i <= m; i++) printf " %.2f ms (after %s)", gaps[gk[i]] * 1000, after[gk[i]]
        printf "\n"
    }' "$out"
    rm -f "$out"
}

if [ $# -gt 0 ]; then
    phases "$@"
else
    for i in 1 2 3; do
        phases target/x86_64-unknown-linux-musl/release/tcpconnect --duration 1
        phases target/bench/libbpf_tcpconnect -d 1
    done
fi
