#!/bin/sh
# Runs the kernel tests, including the kprobe ones this project's machines cannot run
# (no CONFIG_KPROBES), in QEMU on a stock Debian kernel that has kprobes.
# See ../shared/notes/vm.md. Usage:
#   scripts/vm-kprobe-tests.sh /path/to/vmlinuz [workdir]
# The kernel comes from Debian's registry:
#   apt-get download linux-image-6.12.<N>+deb12-cloud-amd64-unsigned && dpkg -x *.deb k
# Prints the test output and ends with "VM-RESULT: ok" or "VM-RESULT: FAILED"; exits
# non-zero on failure or when the guest printed no result.
set -eu
kernel=${1:?usage: $0 VMLINUZ [WORKDIR]}
work=${2:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
target=x86_64-unknown-linux-musl

cd "$root"
bins=$(cargo test --target $target --test kernel_kprobe --test kernel_attach \
    --test kernel_syscall --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')

rm -rf "$work/initramfs" && mkdir -p "$work/initramfs/bin" "$work/initramfs/tests"
cp /bin/busybox "$work/initramfs/bin/"
for tool in sh mount mkdir ip poweroff cat echo; do
    ln -s busybox "$work/initramfs/bin/$tool"
done
for b in $bins; do
    case $(basename "$b") in kernel_*) ;; *) continue ;; esac
    cp "$b" "$work/initramfs/tests/$(basename "$b" | sed 's/-[0-9a-f]*$//')"
done
cat > "$work/initramfs/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
ip link set lo up
echo "VM-KERNEL: $(cat /proc/sys/kernel/osrelease)"
status=ok
for t in /tests/*; do
    echo "VM-TEST: $t"
    # tracefs is left unmounted: the tests mount it themselves.
    "$t" --include-ignored --test-threads=2 || status=FAILED
done
echo "VM-RESULT: $status"
poweroff -f
INIT
chmod +x "$work/initramfs/init"
(cd "$work/initramfs" && find . | cpio -o -H newc 2>/dev/null | gzip) > "$work/initramfs.gz"

timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 panic=-1 quiet" | tee "$work/console.log" || true
grep -q "^VM-RESULT: ok" "$work/console.log"
