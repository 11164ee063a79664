/*
 * route_deadlock.c: two in-process devices (each with its own event-loop thread) whose routers
 * connect to each other, with both guests opening connections to each other at the same moment,
 * round after round. The router runs on the originating device's loop thread and calls
 * vsn_device_connect_from on the other device; if callbacks ran under the device lock, two loops routing
 * to each other at once would each wait for the other's lock forever. Every round must finish
 * (both connections established and accepted) within its deadline; a deadlock fails the round.
 * Also: the routing counters match the rounds, and the connections are direct links (no socket).
 */
#include "vu_test_util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 300

static vsn_device *devs[2];

static int32_t router(void *user, uint64_t dst_cid, uint32_t dst_port, uint64_t src_cid, uint32_t src_port, int32_t fd)
{
    vsn_device *target = devs[(uintptr_t)user];
    (void)dst_cid;
    return vsn_device_connect_from(target, dst_port, VSN_VIRTIO_VSOCK_TYPE_STREAM, src_cid, src_port, fd);
}

static vsn_device *make(uint64_t cid, uintptr_t other)
{
    vsn_device_config cfg = { .struct_size = sizeof cfg, .guest_cid = cid };
    vsn_device *d = NULL;
    VT_REQUIRE(vsn_device_create(&cfg, &d) == 0, "vsn_device_create");
    VT_REQUIRE(vsn_set_router(d, router, (void *)other) == 0, "vsn_set_router");
    return d;
}

int main(void)
{
    devs[0] = make(3, 1);
    devs[1] = make(4, 0);
    vg g[2];
    for (int i = 0; i < 2; i++) {
        VT_REQUIRE(vg_init(&g[i], 3 + (uint64_t)i) == 0, "vg_init");
        VT_REQUIRE(vg_attach_device(&g[i], devs[i]) == 0, "attach");
        vg_listen(&g[i], 5000);
    }
    int rounds = 0;
    for (; rounds < ROUNDS; rounds++) {
        /* Both REQUESTs go out before either guest looks at its rx ring: both loops route at once. */
        vg_conn *out0 = vg_connect(&g[0], 4, 5000, 1);
        vg_conn *out1 = vg_connect(&g[1], 3, 5000, 2);
        VT_REQUIRE(out0 && out1, "vg_connect");
        vg_conn *in0 = NULL, *in1 = NULL;
        bool ok;
        VT_UNTIL(ok, 10000, out0->state == VG_ESTABLISHED && out1->state == VG_ESTABLISHED && in0 && in1, {
            vg_pump(&g[0]);
            vg_pump(&g[1]);
            if (!in0) in0 = vg_accept(&g[0], 5000);
            if (!in1) in1 = vg_accept(&g[1], 5000);
            vg_wait(&g[0], 1);
        });
        /* Exits at once: a deadlocked device could not even be destroyed. */
        VT_REQUIRE(ok, "round %d did not finish (states %d %d, accepted %d %d): deadlock or lost packet", rounds, out0->state,
                   out1->state, in0 != NULL, in1 != NULL);
        if (rounds == 0) /* both devices live in this process: every connection goes device to device */
            for (int i = 0; i < 2; i++) {
                vsn_connection_info info[4];
                uint32_t total = 0;
                int n = vsn_device_get_connections(devs[i], info, 4, sizeof info[0], &total);
                VT_CHECK(n == 2, "device %d: %d connections, expected its own and the sibling's", i, n);
                for (int k = 0; k < n; k++)
                    VT_CHECK(info[k].flags & VSN_CONN_F_DIRECT_LINK, "device %d: connection to port %u is not a direct link", i,
                             info[k].host_port);
            }
        vg_rst(&g[0], out0);
        vg_rst(&g[1], out1);
        vg_rst(&g[0], in0);
        vg_rst(&g[1], in1);
        vg_release(out0);
        vg_release(out1);
        vg_release(in0);
        vg_release(in1);
        for (int k = 0; k < 5; k++) {
            vg_pump(&g[0]);
            vg_pump(&g[1]);
        }
    }
    for (int i = 0; i < 2; i++) {
        vsn_device_counters c = { .struct_size = sizeof c };
        VT_CHECK(vsn_device_get_counters(devs[i], &c) == 0, "counters");
        VT_CHECK(c.connections.routes_opened == (uint64_t)rounds && c.connections.routed_in == (uint64_t)rounds,
                 "device %d: routes_opened %llu, routed_in %llu, rounds %d", i, (unsigned long long)c.connections.routes_opened,
                 (unsigned long long)c.connections.routed_in, rounds);
        VT_CHECK(c.connections.routes_refused == 0, "device %d: %llu routes refused", i, (unsigned long long)c.connections.routes_refused);
    }
    /* A bad argument is refused with a reason, never taken. */
    VT_CHECK(vsn_device_connect_from(devs[0], 1, VSN_VIRTIO_VSOCK_TYPE_STREAM, 2, 1, 0) == -EINVAL, "src_cid 2 (the host)");
    VT_CHECK(vsn_device_connect_from(devs[0], 1, VSN_VIRTIO_VSOCK_TYPE_STREAM, 3, 1, 0) == -EINVAL, "src_cid = the guest's own");
    VT_CHECK(vsn_device_connect_from(devs[0], 1, VSN_VIRTIO_VSOCK_TYPE_STREAM, 4, 1, -1) == -EBADF, "fd -1");
    VT_CHECK(vsn_device_connect_from(devs[0], 1, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, 4, 1, 0) == -ENOTSUP, "seqpacket");
    for (int i = 0; i < 2; i++) {
        vsn_device_destroy(devs[i]);
        vg_destroy(&g[i]);
    }
    VT_CHECK(vsn_device_connect_from(devs[0], 1, VSN_VIRTIO_VSOCK_TYPE_STREAM, 4, 1, 0) == -EBADF, "destroyed device");
    printf("route_deadlock: %d rounds of simultaneous cross-device connects\n", rounds);
    printf("%s: %d failure(s)\n", vt_failures ? "FAIL" : "PASS", vt_failures);
    return vt_failures ? 1 : 0;
}
