#!/bin/busybox sh
# /init of the end-to-end guest: devices, the vsock + virtio modules in dependency order, then the
# case script /case.sh (appended to the initramfs per case), then power off. Every line this
# prints for the harness starts with "E2E-"; the harness reads them from the serial console.
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp && mount -t tmpfs tmp /tmp

kver=$(uname -r)
echo; echo "E2E-INIT kernel $kver"
fails=0
while read -r m; do
    insmod "/lib/modules/$kver/$m" || { echo "E2E-INIT insmod $m FAILED"; fails=$((fails + 1)); }
done < /etc/e2e-modules
echo "E2E-INIT modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
# devtmpfs creates /dev/vsock when vsock.ko registers its misc device; give udev-less boot a moment.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/vsock ] && break; sleep 0.2; done
if [ -c /dev/vsock ]; then echo "E2E-INIT /dev/vsock present"; else echo "E2E-INIT /dev/vsock MISSING"; fails=$((fails + 1)); fi
for d in /sys/bus/virtio/devices/*; do
    [ -e "$d/device" ] && echo "E2E-INIT virtio device $(basename "$d") id $(cat "$d/device") driver $(basename "$(readlink "$d/driver" 2>/dev/null)")"
done
if [ "$fails" = 0 ]; then echo "E2E-INIT OK"; else echo "E2E-INIT FAILED ($fails)"; fi

if [ -f /case.sh ]; then
    . /lib/e2e.sh
    . /case.sh
    e2e_result
fi
echo "E2E-POWEROFF"
poweroff -f
