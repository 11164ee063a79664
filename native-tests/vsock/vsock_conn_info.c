/*
 * vsock_conn_info.c — per-connection diagnosis through vsn_device_get_connections: identity,
 * state, credit both ways and the per-connection counters match what the guest stack and the
 * host peers actually did; capacity/entry_size/NULL rules; entries vanish when connections end.
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <stdlib.h>
#include <string.h>

#define T 5000

static int conns(gs_stack *s, vsn_connection_info *out, uint32_t cap, uint32_t *total)
{
    return vsn_device_get_connections(gs_device(s), out, cap, sizeof *out, total);
}

static const vsn_connection_info *find(const vsn_connection_info *v, int n, uint32_t guest_port)
{
    for (int i = 0; i < n; i++)
        if (v[i].guest_port == guest_port)
            return &v[i];
    return NULL;
}

/* Guest sends g2h bytes, host sends h2g bytes back, each checked. */
static void exchange(gs_stack *s, gs_conn *c, int hfd, size_t g2h, size_t h2g)
{
    bool ok;
    static uint8_t buf[1 << 16], got[1 << 16];
    vt_pat_fill(7, 0, buf, g2h);
    size_t sent = 0, len = 0;
    bool eof = false;
    int err = 0;
    VT_WAIT(s, T, (sent += gs_send(s, c, buf + sent, g2h - sent),
                   vt_drain(hfd, got, sizeof got, &len, &eof, &err), len >= g2h),
            "guest bytes at the host", ok);
    CHECK_EQ(len, g2h);
    CHECK_EQ(vt_pat_check(7, 0, got, len), len);
    vt_pat_fill(8, 0, buf, h2g);
    CHECK_EQ(vt_write(hfd, buf, h2g), (ssize_t)h2g);
    size_t glen = 0;
    VT_WAIT(s, T, (glen += gs_recv(s, c, got + glen, sizeof got - glen), glen >= h2g),
            "host bytes in the guest", ok);
    CHECK_EQ(vt_pat_check(8, 0, got, glen), h2g);
}

int main(void)
{
    char dir[] = "/tmp/vsn_infoXXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char uds[128], lpath[160];
    snprintf(uds, sizeof uds, "%s/vsock", dir);
    snprintf(lpath, sizeof lpath, "%s_6000", uds);
    int lfd = vt_unix_listen(lpath);
    CHECK(lfd >= 0);

    gs_config cfg = gs_config_default();
    cfg.uds_path = uds;
    cfg.dev_buf_alloc = 131072;
    gs_stack *s = NULL;
    CHECK_EQ(gs_create(&cfg, &s), 0);
    if (s == NULL)
        return vsn_check_summary("vsock_conn_info");
    bool ok;
    vsn_connection_info v[4];
    uint32_t total = 99;

    /* no connection yet */
    CHECK_EQ(conns(s, v, 4, &total), 0);
    CHECK_EQ(total, 0);

    /* a guest-initiated connection to <uds>_6000 with data both ways */
    gs_conn *c = gs_connect(s, 6000, 0);
    int hfd = -1;
    VT_WAIT(s, T, c->state != GS_CONNECTING && (hfd >= 0 || (hfd = vt_accept(lfd)) >= 0),
            "RESPONSE and the host accept", ok);
    if (!ok)
        return vsn_check_summary("vsock_conn_info");
    exchange(s, c, hfd, 10000, 3000);

    /* a host-initiated one through vsn_device_connect */
    gs_listen(s, 1500);
    int cfd = -1;
    CHECK_EQ(vsn_device_connect(gs_device(s), 1500, VSN_VIRTIO_VSOCK_TYPE_STREAM, &cfd), 0);
    gs_conn *a = NULL;
    VT_WAIT(s, T, (a = gs_accept(s, 1500)) != NULL, "the guest to accept", ok);
    if (a == NULL)
        return vsn_check_summary("vsock_conn_info");
    exchange(s, a, cfd, 700, 900);

    int n = conns(s, v, 4, &total);
    CHECK_EQ(n, 2);
    CHECK_EQ(total, 2);
    const vsn_connection_info *g = find(v, n, c->guest_port);
    const vsn_connection_info *h = find(v, n, 1500);
    CHECK(g != NULL && h != NULL);
    if (g == NULL || h == NULL)
        return vsn_check_summary("vsock_conn_info");
    CHECK_EQ(g->host_cid, 2);
    CHECK_EQ(g->guest_cid, gs_cid(s));
    CHECK_EQ(g->host_port, 6000);
    CHECK_EQ(g->type, VSN_VIRTIO_VSOCK_TYPE_STREAM);
    CHECK_EQ(g->state, VSN_CONN_STATE_ESTABLISHED);
    CHECK_EQ(g->host_initiated, 0);
    CHECK_EQ(g->end_reason, VSN_CONN_END_NONE);
    CHECK_EQ(g->buf_alloc, 131072);
    CHECK_EQ(g->peer_buf_alloc, c->buf_alloc);
    CHECK_EQ(g->counters.bytes_from_guest, 10000);
    CHECK_EQ(g->counters.bytes_to_host, 10000);
    CHECK_EQ(g->counters.bytes_to_guest, 3000);
    CHECK_EQ(g->rx_cnt - g->fwd_cnt, 0); /* everything reached the host socket */
    CHECK_EQ(g->buffered_to_host, 0);
    CHECK_EQ(g->tx_cnt, c->rx_cnt);      /* device's tx_cnt = guest's rx count */
    CHECK_EQ(g->peer_free, g->peer_buf_alloc - (g->tx_cnt - g->peer_fwd_cnt));
    CHECK_EQ(h->host_initiated, 1);
    CHECK_EQ(h->guest_port, 1500);
    CHECK_EQ(h->state, VSN_CONN_STATE_ESTABLISHED);
    CHECK_EQ(h->counters.bytes_from_guest, 700);
    CHECK_EQ(h->counters.bytes_to_guest, 900);
    CHECK(h->host_port >= (1u << 30) && h->host_port < (1u << 31));

    /* capacity rules: 0 with NULL counts; 1 writes one; NULL with capacity is -EINVAL */
    total = 0;
    CHECK_EQ(vsn_device_get_connections(gs_device(s), NULL, 0, sizeof v[0], &total), 0);
    CHECK_EQ(total, 2);
    CHECK_EQ(conns(s, v, 1, NULL), 1);
    CHECK_EQ(vsn_device_get_connections(gs_device(s), NULL, 1, sizeof v[0], &total), -EINVAL);
    CHECK_EQ(vsn_device_get_connections(gs_device(s), v, 4, 12, &total), -EINVAL);
    CHECK_EQ(vsn_device_get_connections(gs_device(s), v, 4, 0, &total), -EINVAL);
    CHECK_EQ(vsn_device_get_connections(NULL, v, 4, sizeof v[0], &total), -EBADF);

    /* an older caller's smaller entry: only entry_size bytes per entry are written */
    uint8_t raw[2 * 16 + 8];
    memset(raw, 0xAB, sizeof raw);
    CHECK_EQ(vsn_device_get_connections(gs_device(s), (vsn_connection_info *)(void *)raw, 2, 16, NULL), 2);
    uint64_t cid0, cid1;
    memcpy(&cid0, raw + 8, 8);
    memcpy(&cid1, raw + 24, 8);
    CHECK_EQ(cid0, gs_cid(s));
    CHECK_EQ(cid1, gs_cid(s));
    CHECK_EQ(raw[32], 0xAB);
    /* a newer caller's larger entry: the unknown tail is zeroed */
    size_t big = (sizeof(vsn_connection_info) + 16 + 7) / 8 * 8;
    uint8_t *wide = malloc(2 * big);
    memset(wide, 0xCD, 2 * big);
    CHECK_EQ(vsn_device_get_connections(gs_device(s), (vsn_connection_info *)(void *)wide, 2, (uint32_t)big, NULL), 2);
    bool tail_zero = true;
    for (size_t i = sizeof(vsn_connection_info); i < big; i++)
        tail_zero = tail_zero && wide[i] == 0 && wide[big + i] == 0;
    CHECK(tail_zero);
    free(wide);

    /* the guest aborts the first: its entry goes, the other stays */
    gs_rst(s, c);
    VT_WAIT(s, T, (n = conns(s, v, 4, &total), total == 1), "the reset connection to be freed", ok);
    CHECK_EQ(n, 1);
    CHECK_EQ(v[0].guest_port, 1500);
    close(hfd);
    close(cfd);
    VT_WAIT(s, T, a->peer_shutdown == 3, "SHUTDOWN after the host closed", ok);
    gs_shutdown(s, a, 3);
    VT_WAIT(s, T, (conns(s, v, 4, &total), total == 0), "the closed connection to be freed", ok);
    gs_destroy(&s);
    close(lfd);
    unlink(lpath);
    rmdir(dir);
    return vsn_check_summary("vsock_conn_info");
}
