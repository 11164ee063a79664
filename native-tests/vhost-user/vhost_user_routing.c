/*
 * vhost_user_routing.c: three VMs in one daemon, two of them with frontends (this process):
 *   vm3 groups g1, vm4 groups g1+g2, vm5 groups g2 (no frontend).
 *  - 3 -> 4: RESPONSE only after guest 4 accepted (3 stays CONNECTING while 4 is not pumped);
 *    8 MiB each way, every byte checked; 4 -> 3 the same, 2 MiB.
 *  - refusals: 3 -> 4 on a port 4 does not listen on (RST), 3 -> 5 (no shared group: RST),
 *    4 -> 5 (shared group but no frontend: RST), 3 -> 3 itself (RST).
 *  - flow control end to end: guest 4 stops consuming; guest 3 can get only a bounded amount out
 *    (credit of each hop), then everything arrives once 4 resumes.
 *  - vm3's frontend disconnects and reconnects while guest 4 keeps a stream with the host going:
 *    that stream is not disturbed; guest 4's routed connection is reset (not hung); after the
 *    reconnect 3 -> 4 works again.
 * Usage: vhost_user_routing <daemon binary>
 */
#include "vu_test_util.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024u * 1024u)

static char dir[256], sock3[300], sock4[300], sock5[300], uds4[300];

static void pump2(vg *a, vg *b)
{
    vg_pump(a);
    vg_pump(b);
    vg_wait(a, 1);
}

/* Connects from->to:port and returns both ends (the accepted one gets matching pattern seeds). */
static vg_conn *route(vg *from, vg *to, uint32_t port, uint8_t seed, vg_conn **accepted)
{
    vg_conn *c = vg_connect(from, to->cid, port, seed);
    VT_REQUIRE(c != NULL, "vg_connect");
    vg_conn *a = NULL;
    bool ok;
    VT_UNTIL(ok, 10000, c->state == VG_ESTABLISHED && a != NULL, {
        pump2(from, to);
        if (a == NULL) a = vg_accept(to, port);
    });
    VT_REQUIRE(ok, "route %llu -> %llu:%u not established (state %d)", (unsigned long long)from->cid, (unsigned long long)to->cid,
               port, c->state);
    a->seed_in = c->seed_out;
    a->seed_out = c->seed_in;
    VT_CHECK(a->peer_cid == from->cid && a->peer_port == c->local_port, "the target guest sees cid %llu port %u, expected %llu port %u",
             (unsigned long long)a->peer_cid, a->peer_port, (unsigned long long)from->cid, c->local_port);
    *accepted = a;
    return c;
}

static void transfer(vg *ga, vg_conn *a, vg *gb, vg_conn *b, uint64_t bytes)
{
    uint64_t ta = a->sent + bytes, tb = b->sent + bytes;
    bool ok;
    VT_UNTIL(ok, 60000, a->sent == ta && b->sent == tb && b->received == ta && a->received == tb, {
        vg_send(ga, a, ta - a->sent);
        vg_send(gb, b, tb - b->sent);
        pump2(ga, gb);
    });
    VT_CHECK(ok, "transfer: a sent %llu got %llu, b sent %llu got %llu (target %llu)", (unsigned long long)a->sent,
             (unsigned long long)a->received, (unsigned long long)b->sent, (unsigned long long)b->received, (unsigned long long)bytes);
    VT_CHECK(a->bad_bytes == 0 && b->bad_bytes == 0, "pattern broken (%llu, %llu bad bytes)", (unsigned long long)a->bad_bytes,
             (unsigned long long)b->bad_bytes);
    VT_CHECK(a->credit_violations == 0 && b->credit_violations == 0, "credit violated");
}

static void expect_refused(vg *from, vg *other, uint64_t cid, uint32_t port, const char *what)
{
    vg_conn *c = vg_connect(from, cid, port, 1);
    VT_REQUIRE(c != NULL, "vg_connect");
    bool ok;
    VT_UNTIL(ok, 10000, c->state != VG_CONNECTING, pump2(from, other));
    VT_CHECK(ok && c->state == VG_REFUSED, "%s: state %d, expected refused (RST)", what, c->state);
    vg_release(c);
}

static void setup(vg *g, uint64_t cid, const char *path)
{
    VT_REQUIRE(vg_init(g, cid) == 0, "vg_init");
    VT_REQUIRE(vg_vu_connect(g, path, 10000) == 0, "connect %s", path);
    VT_REQUIRE(vg_vu_setup(g) == 0, "negotiation for cid %llu", (unsigned long long)cid);
}

int main(int argc, char **argv)
{
    VT_REQUIRE(argc == 2, "usage: vhost_user_routing <daemon>");
    vt_tmpdir(dir, sizeof dir, "vu_routing");
    snprintf(sock3, sizeof sock3, "%s/vhost3.socket", dir);
    snprintf(sock4, sizeof sock4, "%s/vhost4.socket", dir);
    snprintf(sock5, sizeof sock5, "%s/vhost5.socket", dir);
    snprintf(uds4, sizeof uds4, "%s/vm4.vsock", dir);
    char vm3[700], vm4[700], vm5[700];
    snprintf(vm3, sizeof vm3, "guest-cid=3,socket=%s,groups=g1", sock3);
    snprintf(vm4, sizeof vm4, "guest-cid=4,socket=%s,uds-path=%s,groups=g1+g2", sock4, uds4);
    snprintf(vm5, sizeof vm5, "guest-cid=5,socket=%s,groups=g2", sock5);
    char *args[] = { "--vm", vm3, "--vm", vm4, "--vm", vm5, "--log-level", "warn", NULL };
    pid_t daemon = vt_spawn(argv[1], dir, args);

    vg g3, g4;
    setup(&g3, 3, sock3);
    setup(&g4, 4, sock4);
    vg_listen(&g4, 5000);
    vg_listen(&g3, 7000);

    /* RESPONSE waits for the target guest: pump only guest 3 for a while. */
    vg_conn *c3 = vg_connect(&g3, 4, 5000, 11);
    VT_REQUIRE(c3 != NULL, "vg_connect");
    for (int i = 0; i < 100; i++) {
        vg_pump(&g3);
        usleep(2000);
    }
    VT_CHECK(c3->state == VG_CONNECTING, "guest 3 got an answer (state %d) before guest 4 saw the REQUEST", c3->state);
    vg_conn *c4 = NULL;
    bool ok;
    VT_UNTIL(ok, 10000, c3->state == VG_ESTABLISHED && c4 != NULL, {
        pump2(&g3, &g4);
        if (c4 == NULL) c4 = vg_accept(&g4, 5000);
    });
    VT_REQUIRE(ok, "3 -> 4:5000 not established (state %d)", c3->state);
    c4->seed_in = c3->seed_out;
    c4->seed_out = c3->seed_in;
    transfer(&g3, c3, &g4, c4, 8 * MiB);
    printf("routing: 3 -> 4 %llu bytes each way, checked\n", (unsigned long long)c3->sent);

    vg_conn *r4, *r3;
    r4 = route(&g4, &g3, 7000, 21, &r3);
    transfer(&g4, r4, &g3, r3, 2 * MiB);

    expect_refused(&g3, &g4, 4, 5001, "3 -> 4 on a port nobody listens on");
    expect_refused(&g3, &g4, 5, 5000, "3 -> 5 (no shared group)");
    expect_refused(&g4, &g3, 5, 5000, "4 -> 5 (vm5 has no frontend)");
    expect_refused(&g3, &g4, 3, 5000, "3 -> 3 (its own CID)");
    expect_refused(&g3, &g4, 77, 5000, "3 -> 77 (no such VM)");

    /* Flow control: guest 4 stops consuming (not pumped); guest 3 can get only so much out. */
    uint64_t before = c3->sent;
    for (int i = 0; i < 400; i++) {
        vg_send(&g3, c3, 64 * MiB);
        vg_pump(&g3);
        usleep(2500);
    }
    uint64_t stalled = c3->sent - before;
    /* The hops: guest 4's credit (256 KiB) + its rx ring (256 x 4 KiB) + device 4's buffer + the
     * socketpair + device 3's buf_alloc (256 KiB): a few MiB at most, never the 64 MiB asked. */
    VT_CHECK(stalled < 8 * MiB, "guest 3 pushed %llu bytes while guest 4 consumed nothing", (unsigned long long)stalled);
    printf("routing: with guest 4 stalled, guest 3 got %llu bytes out (bounded)\n", (unsigned long long)stalled);
    VT_UNTIL(ok, 30000, c4->received == c3->sent, {
        vg_pump(&g4);
        vg_pump(&g3);
        vg_wait(&g4, 1);
    });
    VT_CHECK(ok && c4->bad_bytes == 0, "after the stall guest 4 got %llu of %llu bytes (%llu bad)", (unsigned long long)c4->received,
             (unsigned long long)c3->sent, (unsigned long long)c4->bad_bytes);

    /* A stream between guest 4 and the host through vm4's hybrid socket. */
    char port_path[320];
    snprintf(port_path, sizeof port_path, "%s_6000", uds4);
    int listener = vt_unix_listen(port_path);
    VT_REQUIRE(listener >= 0, "listen");
    vg_conn *h4 = vg_connect(&g4, VG_HOST_CID, 6000, 31);
    vt_host host = { .fd = -1, .seed_out = 32, .seed_in = 31 };
    VT_UNTIL(ok, 10000, h4->state == VG_ESTABLISHED && host.fd >= 0, {
        if (host.fd < 0) host.fd = vt_accept(listener);
        pump2(&g4, &g3);
    });
    VT_REQUIRE(ok, "4 -> host:6000");

    /* vm3's frontend goes away and comes back while 4 <-> host keeps flowing. */
    vg_vu_disconnect(&g3);
    vg_destroy(&g3);
    uint64_t target = 6 * MiB;
    bool reset_seen = false, reconnected = false;
    int64_t deadline = vg_now_ms() + 60000;
    while (vg_now_ms() < deadline && !(reconnected && h4->sent == target && host.received == target && h4->received == target)) {
        vg_send(&g4, h4, target - h4->sent);
        vg_pump(&g4);
        vt_host_pump(&host, target);
        vg_wait(&g4, 1);
        if (c4->state == VG_RESET || r3 == NULL) reset_seen = reset_seen || c4->state == VG_RESET;
        if (!reconnected && host.received > 2 * MiB) {
            setup(&g3, 3, sock3);
            vg_listen(&g3, 7000);
            reconnected = true;
        }
        if (reconnected) vg_pump(&g3);
    }
    VT_CHECK(h4->sent == target && host.received == target && h4->received == target && host.bad == 0 && h4->bad_bytes == 0,
             "guest 4 <-> host during vm3's reconnect: sent %llu/%llu, host got %llu, guest got %llu, bad %llu/%llu",
             (unsigned long long)h4->sent, (unsigned long long)target, (unsigned long long)host.received,
             (unsigned long long)h4->received, (unsigned long long)host.bad, (unsigned long long)h4->bad_bytes);
    VT_UNTIL(ok, 10000, c4->state == VG_RESET && r4->state == VG_RESET, vg_pump(&g4); vg_wait(&g4, 5));
    VT_CHECK(ok, "guest 4's routed connections were not reset after vm3's frontend left (states %d %d)", c4->state, r4->state);
    (void)reset_seen;

    /* After the reconnect, routing works again. */
    vg_conn *n3, *n4;
    n3 = route(&g3, &g4, 5000, 41, &n4);
    transfer(&g3, n3, &g4, n4, 1 * MiB);
    printf("routing: after vm3 reconnected, 3 -> 4 %llu bytes each way, checked\n", (unsigned long long)n3->sent);

    close(host.fd);
    close(listener);
    vg_destroy(&g3);
    vg_destroy(&g4);
    int status = vt_stop(daemon);
    VT_CHECK(status == 0, "daemon exit status %d", status);
    struct stat st;
    VT_CHECK(stat(sock3, &st) < 0 && stat(sock4, &st) < 0 && stat(uds4, &st) < 0, "sockets left behind");
    return vt_finish(dir);
}
