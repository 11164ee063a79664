# boot: the guest boots with the daemon's device: modules load, /dev/vsock exists, the virtio-vsock
# device (virtio id 0x0013) is bound to its driver, and the guest reads its CID (3) from the device
# config that the daemon serves (GET_CONFIG).
CASE_VMS="3"
CASE_TIMEOUT=90

guest_3() { cat <<'GUEST'
step cid sh -c 'vtool cid && test "$(vtool cid | sed -n "s/^VT CID //p")" = 3'
step driver sh -c 'for d in /sys/bus/virtio/devices/*; do
    [ "$(cat $d/device)" = 0x0013 ] && [ "$(basename $(readlink $d/driver))" = vmw_vsock_virtio_transport ] && exit 0
done; echo "no virtio-vsock device bound to vmw_vsock_virtio_transport"; exit 1'
GUEST
}

host_side() { :; }
