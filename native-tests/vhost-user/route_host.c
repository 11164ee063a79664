/*
 * route_host.c: VSN_DEVICE_F_ROUTE_HOST (what vhost-user-vsock's forward-cid rests on), with an
 * in-process device and a router that plays the forwarder over Unix sockets (no AF_VSOCK here):
 *  - a guest stream connection to the host port 7000 reaches the router with dst_cid 2, even with a
 *    "<uds_path>_7000" listener present; the guest gets RESPONSE only after the router writes
 *    VSN_ROUTE_ACCEPTED, then 1 MiB each way, checked;
 *  - the router refusing (an errno), or closing the fd without the byte: the guest gets RST;
 *  - a vsn_device_listen listener takes precedence over the router for its port;
 *  - a sibling CID still reaches the router with its own CID;
 *  - without the flag, the host port goes to "<uds_path>_P" and the router is not called.
 */
#include "vu_test_util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MiB (1024u * 1024u)

static int held_fd = -1;
static uint64_t last_dst_cid;
static uint32_t last_dst_port;
static int calls;

static int32_t router(void *user, uint32_t type, uint64_t dst_cid, uint32_t dst_port, uint64_t src_cid, uint32_t src_port, int32_t fd)
{
    (void)user, (void)src_cid, (void)src_port;
    calls++;
    last_dst_cid = dst_cid;
    last_dst_port = dst_port;
    if (type != VSN_VIRTIO_VSOCK_TYPE_STREAM || dst_port == 7001) return -ECONNREFUSED;
    held_fd = fd;  /* 7000, 7002, siblings: the test decides */
    return 0;
}

static volatile int accepted_fd = -1;  /* written by the device's loop thread */
static void on_accept(void *user, uint32_t port, uint32_t guest_port, int32_t fd)
{
    (void)user, (void)port, (void)guest_port;
    accepted_fd = fd;
}

static vsn_device *make(uint32_t flags, const char *uds)
{
    vsn_device_config cfg = { .struct_size = sizeof cfg, .guest_cid = 3, .flags = flags, .uds_path = uds };
    vsn_device *d = NULL;
    VT_REQUIRE(vsn_device_create(&cfg, &d) == 0, "vsn_device_create");
    VT_REQUIRE(vsn_device_set_router(d, router, NULL) == 0, "vsn_device_set_router");
    return d;
}

static enum vg_state settle(vg *g, vg_conn *c)
{
    bool done; VT_UNTIL(done, 10000, c->state != VG_CONNECTING, vg_pump(g); vg_wait(g, 1));
    return c->state;
}

int main(void)
{
    char dir[] = "/tmp/vu_route_host_XXXXXX", uds[128], port_path[160];
    VT_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(uds, sizeof uds, "%s/vm3.vsock", dir);
    snprintf(port_path, sizeof port_path, "%s_7000", uds);
    int unix_listener = vt_unix_listen(port_path);
    VT_REQUIRE(unix_listener >= 0, "listen %s", port_path);

    vsn_device *d = make(VSN_DEVICE_F_ROUTE_HOST, uds);
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0 && vg_attach_device(&g, d) == 0, "guest");

    /* Routed, answered only after the acceptance byte, then data both ways. */
    vg_conn *c = vg_connect(&g, VG_HOST_CID, 7000, 1);
    bool got; VT_UNTIL(got, 10000, held_fd >= 0, vg_pump(&g); vg_wait(&g, 1));
    VT_REQUIRE(got, "the router was not called for host port 7000");
    VT_CHECK(last_dst_cid == 2 && last_dst_port == 7000, "router got cid %llu port %u", (unsigned long long)last_dst_cid, last_dst_port);
    for (int i = 0; i < 50; i++) vg_pump(&g), vg_wait(&g, 2);
    VT_CHECK(c->state == VG_CONNECTING, "the guest got an answer (state %d) before VSN_ROUTE_ACCEPTED", c->state);
    VT_CHECK(vt_accept(unix_listener) < 0, "<uds>_7000 was connected although the flag routes host ports");
    uint8_t ok = VSN_ROUTE_ACCEPTED;
    VT_REQUIRE(send(held_fd, &ok, 1, MSG_NOSIGNAL) == 1, "acceptance byte");
    VT_CHECK(settle(&g, c) == VG_ESTABLISHED, "state %d after VSN_ROUTE_ACCEPTED", c->state);
    vt_host h = { .fd = held_fd, .seed_out = 2, .seed_in = 1 };
    held_fd = -1;
    bool moved; VT_UNTIL(moved, 30000, c->received == MiB && h.received == MiB, {
        vg_send(&g, c, MiB - c->sent);
        vg_pump(&g);
        vt_host_pump(&h, MiB);
        vg_wait(&g, 1);
    });
    VT_CHECK(moved && c->bad_bytes == 0 && h.bad == 0, "routed host connection: guest got %llu (%llu bad), host %llu (%llu bad)",
             (unsigned long long)c->received, (unsigned long long)c->bad_bytes, (unsigned long long)h.received,
             (unsigned long long)h.bad);
    vg_rst(&g, c);
    bool eof; VT_UNTIL(eof, 5000, h.eof, vg_pump(&g); vt_host_pump(&h, h.sent); usleep(2000));
    VT_CHECK(eof, "the router's fd did not end after the guest's RST");
    close(h.fd);
    vg_release(c);

    /* The router refuses; the router takes the fd and closes it: RST both times. */
    c = vg_connect(&g, VG_HOST_CID, 7001, 3);
    VT_CHECK(settle(&g, c) == VG_REFUSED, "router error: state %d", c->state);
    vg_release(c);
    c = vg_connect(&g, VG_HOST_CID, 7002, 4);
    VT_UNTIL(got, 10000, held_fd >= 0, vg_pump(&g); vg_wait(&g, 1));
    close(held_fd);
    held_fd = -1;
    VT_CHECK(settle(&g, c) == VG_REFUSED, "fd closed without the byte: state %d", c->state);
    vg_release(c);

    /* A vsn_device_listen listener wins over the router. */
    int before = calls;
    VT_REQUIRE(vsn_device_listen(d, 7003, VSN_VIRTIO_VSOCK_TYPE_STREAM, on_accept, NULL) == 0, "vsn_device_listen");
    c = vg_connect(&g, VG_HOST_CID, 7003, 5);
    /* The accept callback runs on the loop thread after the turn that sent the RESPONSE: the guest
     * may see the connection established first. */
    enum vg_state st = settle(&g, c);
    bool handed; VT_UNTIL(handed, 10000, accepted_fd >= 0, vg_pump(&g); vg_wait(&g, 1));
    VT_CHECK(st == VG_ESTABLISHED && handed && calls == before, "listener on 7003: state %d, accepted %d, router calls %d",
             st, accepted_fd, calls - before);
    if (accepted_fd >= 0) close(accepted_fd);
    vg_rst(&g, c);
    vg_release(c);

    /* Siblings still route with their own CID. */
    c = vg_connect(&g, 4, 5000, 6);
    VT_UNTIL(got, 10000, held_fd >= 0, vg_pump(&g); vg_wait(&g, 1));
    VT_CHECK(got && last_dst_cid == 4, "sibling: router cid %llu", (unsigned long long)last_dst_cid);
    if (held_fd >= 0) close(held_fd);
    held_fd = -1;
    VT_CHECK(settle(&g, c) == VG_REFUSED, "sibling refused: state %d", c->state);
    vg_release(c);
    vsn_device_counters dc = { .struct_size = sizeof dc };
    vsn_device_get_counters(d, &dc);
    VT_CHECK(dc.connections.routes_opened == 1, "routes_opened %llu", (unsigned long long)dc.connections.routes_opened);
    vsn_device_destroy(d);
    vg_destroy(&g);

    /* Without the flag: <uds>_7000, no router call. */
    d = make(0, uds);
    VT_REQUIRE(vg_init(&g, 3) == 0 && vg_attach_device(&g, d) == 0, "guest");
    before = calls;
    c = vg_connect(&g, VG_HOST_CID, 7000, 7);
    int ufd = -1;
    bool est; VT_UNTIL(est, 10000, c->state == VG_ESTABLISHED && ufd >= 0, { if (ufd < 0) ufd = vt_accept(unix_listener); vg_pump(&g); vg_wait(&g, 1); });
    VT_CHECK(est && calls == before, "without the flag: state %d, unix fd %d, router calls %d", c->state, ufd, calls - before);
    if (ufd >= 0) close(ufd);
    vsn_device_destroy(d);
    vg_destroy(&g);
    close(unix_listener);
    unlink(port_path);
    rmdir(dir);
    printf("route_host: host ports routed with VSN_DEVICE_F_ROUTE_HOST (acceptance byte, refusals, listener precedence)\n");
    printf("%s: %d failure(s)\n", vt_failures ? "FAIL" : "PASS", vt_failures);
    return vt_failures ? 1 : 0;
}
