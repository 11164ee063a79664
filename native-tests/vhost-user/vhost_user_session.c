/*
 * vhost_user_session.c: the daemon against a vhost-user frontend written here (vu_guest.c).
 *
 *  1. A full good session: negotiation with REPLY_ACK, config read (guest_cid), memory table from a
 *     memfd, rings, enable; a guest->host stream through "<uds>_P" with pattern-checked data both
 *     ways; GET_VRING_BASE (stop) in the middle of traffic, then SET_VRING_BASE/KICK (resume): no
 *     byte lost, duplicated or reordered.
 *  2. Frontend disconnect: host sockets of open connections see EOF; a new frontend is served.
 *  3. One case per malformed-message class, each on its own connection: the error reply (REPLY_ACK
 *     status != 0, or a GET_CONFIG reply of size 0) or a clean disconnect, and the daemon still
 *     serves a new connection afterwards.
 *  4. A guest that breaks a ring the device cannot go on with: the daemon signals that ring's err
 *     eventfd (SET_VRING_ERR), lives on, and serves the next frontend.
 *  5. A kick fd that is not an eventfd (a pipe whose writer is closed, a socket whose peer closed):
 *     an error reply (or a disconnect without REPLY_ACK), no spinning device loop, and the session
 *     goes on with an eventfd.
 *  6. No fd or guest-memory mapping left in the daemon after all that; SIGTERM -> exit 0, socket gone.
 *
 * Usage: vhost_user_session <daemon binary>
 */
#include "../../src/vhost-user-vsock/vhost_user.h"
#include "vu_test_util.h"
#include "vsn_case.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024u * 1024u)

static char dir[256], sock_path[300], uds_path[300];

static int64_t ring_state(int s, uint32_t request, uint32_t index, uint32_t num)
{
    vu_vring_state st = { index, num };
    return vg_vu_acked(s, request, &st, sizeof st, NULL, 0);
}

static void good_session(pid_t daemon)
{
    (void)daemon;
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 10000) == 0, "connect to %s", sock_path);
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation");
    char port_path[320];
    snprintf(port_path, sizeof port_path, "%s_5000", uds_path);
    int listener = vt_unix_listen(port_path);
    VT_REQUIRE(listener >= 0, "listen %s", port_path);
    vt_host h;
    vg_conn *c = vt_open_stream(&g, listener, 5000, &h, 1);
    vt_vu_transfer(&g, c, &h, 4 * MiB);

    /* Stop in the middle of traffic: queue data both ways, then GET_VRING_BASE on both rings. */
    vg_send(&g, c, 200000);
    vt_host_pump(&h, h.sent + 200000);
    uint32_t bases[2];
    for (uint32_t i = 0; i < 2; i++) {
        vu_vring_state st = { i, 0 };
        VT_REQUIRE(vg_vu_send(g.sock, VU_GET_VRING_BASE, VU_VERSION, &st, sizeof st, NULL, 0) == 0, "send");
        VT_REQUIRE(vg_vu_reply(g.sock, VU_GET_VRING_BASE, &st, sizeof st, 5000) == 8, "GET_VRING_BASE %u reply", i);
        VT_CHECK(st.index == i, "GET_VRING_BASE answered ring %u for %u", st.index, i);
        bases[i] = st.num;
    }
    VT_CHECK((uint16_t)(vg_avail_idx(&g, 1) - bases[1]) <= VG_QSIZE, "tx base %u vs avail %u", bases[1], vg_avail_idx(&g, 1));
    /* Stopped: the device must not move the rings now. */
    vg_pump(&g);
    uint16_t rx_after = vg_used_idx(&g, VG_RX), tx_after = vg_used_idx(&g, VG_TX);
    usleep(200000);
    VT_CHECK(rx_after == vg_used_idx(&g, VG_RX) && tx_after == vg_used_idx(&g, VG_TX), "the rings moved while stopped");
    /* Resume where it stopped. */
    for (uint32_t i = 0; i < 2; i++) {
        VT_CHECK(ring_state(g.sock, VU_SET_VRING_BASE, i, bases[i]) == 0, "SET_VRING_BASE %u", i);
        uint64_t idx = i;
        VT_CHECK(vg_vu_acked(g.sock, VU_SET_VRING_KICK, &idx, 8, &g.kick[i], 1) == 0, "SET_VRING_KICK %u", i);
    }
    vt_vu_transfer(&g, c, &h, 4 * MiB);
    printf("session: %llu bytes each way, checked, across a stop/resume (bases rx %u tx %u)\n",
           (unsigned long long)c->sent, bases[0], bases[1]);

    /* A second connection, then the frontend goes away: the host side sees EOF. */
    vt_host h2;
    vg_conn *c2 = vt_open_stream(&g, listener, 5000, &h2, 7);
    vt_vu_transfer(&g, c2, &h2, 64 * 1024);
    vg_vu_disconnect(&g);
    bool eof; VT_UNTIL(eof, 5000, h.eof && h2.eof, {
        vt_host_pump(&h, h.sent);
        vt_host_pump(&h2, h2.sent);
        usleep(5000);
    });
    VT_CHECK(eof, "host sockets did not see EOF after the frontend disconnected (%d %d)", h.eof, h2.eof);
    close(h.fd);
    close(h2.fd);
    vg_destroy(&g);

    /* A new frontend (a new guest memory) is served from scratch. */
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 5000) == 0, "reconnect");
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation after reconnect");
    c = vt_open_stream(&g, listener, 5000, &h, 9);
    vt_vu_transfer(&g, c, &h, 1 * MiB);
    vg_rst(&g, c);
    close(h.fd);
    vg_destroy(&g);
    close(listener);
}

/* ---- malformed messages ------------------------------------------------------------------ */

/* A connection with REPLY_ACK negotiated. */
static int fresh(void)
{
    vg g0 = { .sock = -1 };
    VT_REQUIRE(vg_vu_connect(&g0, sock_path, 5000) == 0, "connect");
    int s = g0.sock;
    uint64_t want = 1ull << VU_PROTOCOL_F_REPLY_ACK;
    VT_REQUIRE(vg_vu_send(s, VU_SET_PROTOCOL_FEATURES, VU_VERSION, &want, 8, NULL, 0) == 0, "send");
    return s;
}

/* The connection still answers (after an error reply). */
static bool alive(int s)
{
    uint64_t f = 0;
    return vg_vu_send(s, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0) == 0 && vg_vu_reply(s, VU_GET_FEATURES, &f, 8, 5000) == 8
        && f != 0;
}

static int memfd_of(size_t size)
{
    int fd = memfd_create("vu_guest", MFD_CLOEXEC);
    VT_REQUIRE(fd >= 0 && ftruncate(fd, (off_t)size) == 0, "memfd");
    return fd;
}

typedef struct { uint32_t n, pad; vu_mem_region r[VU_MAX_REGIONS + 1]; } mem_msg; /* room for one too many */

static void expect_nack(const char *what, int s, uint32_t request, const void *p, uint32_t size, const int *fds, unsigned nfds)
{
    int64_t st = vg_vu_acked(s, request, p, size, fds, nfds);
    VT_CHECK(st > 0, "%s: expected an error ack, got %lld", what, (long long)st);
    VT_CHECK(alive(s), "%s: the connection should still work after the error reply", what);
    close(s);
}

static void expect_disconnect(const char *what, int s)
{
    VT_CHECK(vg_vu_closed(s, 5000), "%s: expected the daemon to close the connection", what);
    close(s);
}

static void malformed(void)
{
    uint64_t u = 0;
    int s;
    /* Bad size: SET_FEATURES carries a u64, this one 4 bytes. */
    expect_nack("SET_FEATURES of 4 bytes", fresh(), VU_SET_FEATURES, &u, 4, NULL, 0);
    /* Features never offered (bit 63). */
    u = 1ull << 63;
    expect_nack("SET_FEATURES with bit 63", fresh(), VU_SET_FEATURES, &u, 8, NULL, 0);
    /* Unknown request with need_reply: error ack. */
    expect_nack("request 99 with NEED_REPLY", fresh(), 99, NULL, 0, NULL, 0);
    /* Unknown request without need_reply: nothing to answer with, so a clean disconnect. */
    s = fresh();
    vg_vu_send(s, 99, VU_VERSION, NULL, 0, NULL, 0);
    expect_disconnect("request 99 without NEED_REPLY", s);
    /* Version 2 in the flags. */
    s = fresh();
    vg_vu_send(s, VU_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
    expect_disconnect("version 2", s);
    /* The reply flag on a request. */
    s = fresh();
    vg_vu_send(s, VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, NULL, 0, NULL, 0);
    expect_disconnect("reply flag on a request", s);
    /* Unknown flag bits. */
    s = fresh();
    vg_vu_send(s, VU_GET_FEATURES, VU_VERSION | 0x100, NULL, 0, NULL, 0);
    expect_disconnect("unknown flag bit 8", s);
    /* A size beyond any message (the payload is never read: the stream cannot be trusted). */
    s = fresh();
    vu_header big = { VU_SET_FEATURES, VU_VERSION, 1u << 20 };
    VT_CHECK(send(s, &big, sizeof big, MSG_NOSIGNAL) == sizeof big, "send");
    expect_disconnect("size 1 MiB", s);
    /* Closed in the middle of a payload. */
    s = fresh();
    vu_header half = { VU_SET_FEATURES, VU_VERSION, 8 };
    VT_CHECK(send(s, &half, sizeof half, MSG_NOSIGNAL) == sizeof half && send(s, &u, 4, MSG_NOSIGNAL) == 4, "send");
    close(s);
    /* Stops in the middle of a header and stays connected: dropped after the daemon's message
     * timeout (5 s), so a stalled frontend never holds its thread or the daemon's shutdown. */
    s = fresh();
    VT_CHECK(send(s, &half, 5, MSG_NOSIGNAL) == 5, "send");
    VT_CHECK(vg_vu_closed(s, 15000), "a frontend stalled mid-header was not disconnected");
    close(s);
    /* Too many fds: 12 on one message (at most 8). */
    {
        int fds[12];
        for (int i = 0; i < 12; i++) fds[i] = eventfd(0, EFD_CLOEXEC);
        mem_msg m = { 8, 0, { { 0 } } };
        s = fresh();
        vg_vu_send(s, VU_SET_MEM_TABLE, VU_VERSION | VU_FLAG_NEED_REPLY, &m, 8 + 8 * 32, fds, 12);
        expect_disconnect("12 fds", s);
        for (int i = 0; i < 12; i++) close(fds[i]);
    }
    /* Fds on a message that takes none. */
    {
        int fd = eventfd(0, EFD_CLOEXEC);
        u = 1ull << VSN_VIRTIO_F_VERSION_1;
        expect_nack("SET_FEATURES with an fd", fresh(), VU_SET_FEATURES, &u, 8, &fd, 1);
        close(fd);
    }
    /* Memory tables. */
    {
        int fd = memfd_of(1 * MiB), fd2 = memfd_of(1 * MiB);
        int two[2] = { fd, fd2 };
        mem_msg m = { 1, 0, { { 0x100000, 1 * MiB, 0x7f0000000000ull, 0 } } };
        m.n = 0;
        expect_nack("0 regions", fresh(), VU_SET_MEM_TABLE, &m, 8, NULL, 0);
        m.n = 9;
        expect_nack("9 regions", fresh(), VU_SET_MEM_TABLE, &m, 8 + 9 * 32, NULL, 0);
        m.n = 1;
        expect_nack("1 region, no fd", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, NULL, 0);
        expect_nack("1 region, 2 fds", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, two, 2);
        expect_nack("size says 2 regions, payload 1", fresh(), VU_SET_MEM_TABLE, &m, 8 + 64, &fd, 1);
        m.r[0].memory_size = 2 * MiB;  /* the memfd has only 1 MiB: touching it would SIGBUS */
        expect_nack("region larger than its file", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, &fd, 1);
        m.r[0].memory_size = 1 * MiB;
        m.r[0].mmap_offset = 4096;     /* offset + size beyond the file */
        expect_nack("offset past the file", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, &fd, 1);
        m.r[0].mmap_offset = 0;
        m.r[0].memory_size = 0;
        expect_nack("empty region", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, &fd, 1);
        m.r[0].memory_size = 1 * MiB;
        m.r[0].guest_phys_addr = ~0ull - 4095;  /* gpa + size wraps */
        expect_nack("region wrapping 2^64", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, &fd, 1);
        m.n = 2;
        m.r[0] = (vu_mem_region){ 0x100000, 1 * MiB, 0x7f0000000000ull, 0 };
        m.r[1] = (vu_mem_region){ 0x180000, 1 * MiB, 0x7f1000000000ull, 0 };  /* overlaps in guest-physical */
        expect_nack("overlapping regions (gpa)", fresh(), VU_SET_MEM_TABLE, &m, 8 + 64, two, 2);
        m.r[1] = (vu_mem_region){ 0x800000, 1 * MiB, 0x7f0000080000ull, 0 };  /* overlaps in frontend VA */
        expect_nack("overlapping regions (va)", fresh(), VU_SET_MEM_TABLE, &m, 8 + 64, two, 2);
        int efd = eventfd(0, EFD_CLOEXEC);
        m.n = 1;
        expect_nack("region fd that is not a file", fresh(), VU_SET_MEM_TABLE, &m, 8 + 32, &efd, 1);
        close(efd);
        /* A file of the right size that mmap refuses (sealed against writing: EPERM for a shared
         * writable map), as the second region: the first, already mapped, must be unmapped again
         * (the end of this test checks that no mapping is left). */
        int sealed = memfd_create("vu_sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        VT_REQUIRE(sealed >= 0 && ftruncate(sealed, (off_t)(1 * MiB)) == 0
                   && fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE) == 0, "sealed memfd");
        int good_then_sealed[2] = { fd, sealed };
        m.n = 2;
        m.r[1] = (vu_mem_region){ 0x800000, 1 * MiB, 0x7f1000000000ull, 0 };
        expect_nack("region whose mmap fails", fresh(), VU_SET_MEM_TABLE, &m, 8 + 64, good_then_sealed, 2);
        close(sealed);
        m.n = 1;
        /* Ring messages: index out of range, bad size, ADDR outside memory. */
        s = fresh();
        m.r[0] = (vu_mem_region){ 0x100000, 1 * MiB, 0x7f0000000000ull, 0 };
        VT_CHECK(vg_vu_acked(s, VU_SET_MEM_TABLE, &m, 8 + 32, &fd, 1) == 0, "good table");
        VT_CHECK(ring_state(s, VU_SET_VRING_NUM, 2, 256) > 0, "ring 2 (QEMU gives a vsock backend rings 0 and 1)");
        VT_CHECK(ring_state(s, VU_SET_VRING_NUM, 0, 100) > 0, "ring size 100");
        VT_CHECK(ring_state(s, VU_SET_VRING_NUM, 0, 65536) > 0, "ring size 65536");
        VT_CHECK(ring_state(s, VU_SET_VRING_BASE, 0, 70000) > 0, "base beyond 16 bits");
        VT_CHECK(ring_state(s, VU_SET_VRING_ENABLE, 5, 1) > 0, "enable ring 5");
        vu_vring_addr a = { 0, 0, 0x7f0000000000ull, 0x7f0000002000ull, 0x7f0000001000ull, 0 };
        a.used_user_addr = 0x7f0000100000ull;  /* one byte past the region */
        VT_CHECK(vg_vu_acked(s, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0) > 0, "used ring outside memory");
        a.used_user_addr = 0x7f0000002000ull;
        a.index = 3;
        VT_CHECK(vg_vu_acked(s, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0) > 0, "ADDR for ring 3");
        uint64_t kick = 0x200;  /* unknown bit 9 */
        int kfd = eventfd(0, EFD_CLOEXEC);
        VT_CHECK(vg_vu_acked(s, VU_SET_VRING_KICK, &kick, 8, &kfd, 1) > 0, "KICK with bit 9");
        kick = 0x100;           /* no fd: polling mode, not supported */
        VT_CHECK(vg_vu_acked(s, VU_SET_VRING_KICK, &kick, 8, NULL, 0) > 0, "KICK without fd");
        kick = 0;               /* the no-fd bit clear but no fd sent */
        VT_CHECK(vg_vu_acked(s, VU_SET_VRING_CALL, &kick, 8, NULL, 0) > 0, "CALL without fd");
        close(kfd);
        /* GET_CONFIG outside the 8-byte config space: a reply of size 0. */
        vu_config cfg = { .offset = 4, .size = 8 };
        VT_CHECK(vg_vu_send(s, VU_GET_CONFIG, VU_VERSION, &cfg, VU_CONFIG_HDR + 8, NULL, 0) == 0, "send");
        VT_CHECK(vg_vu_reply(s, VU_GET_CONFIG, &cfg, sizeof cfg, 5000) == 0, "GET_CONFIG past the end: size-0 reply");
        VT_CHECK(alive(s), "connection alive after the ring errors");
        /* GET_VRING_BASE for ring 7: a reply cannot say "error", so the daemon disconnects. */
        vu_vring_state st = { 7, 0 };
        vg_vu_send(s, VU_GET_VRING_BASE, VU_VERSION, &st, sizeof st, NULL, 0);
        expect_disconnect("GET_VRING_BASE ring 7", s);
        close(fd);
        close(fd2);
    }
}

/* ---- the vring err fd ------------------------------------------------------------------------ */

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* A new guest, connected and negotiated: its device runs. */
static void guest_up(vg *g, const char *what)
{
    VT_REQUIRE(vg_init(g, 3) == 0, "%s: vg_init", what);
    VT_REQUIRE(vg_vu_connect(g, sock_path, 5000) == 0, "%s: connect", what);
    VT_REQUIRE(vg_vu_setup(g) == 0, "%s: negotiation", what);
}

/* Moves 256 KiB each way over a new guest->host stream, then the frontend goes. */
static void stream_then_go(vg *g, uint8_t seed)
{
    char port_path[320];
    snprintf(port_path, sizeof port_path, "%s_5000", uds_path);
    int listener = vt_unix_listen(port_path);
    VT_REQUIRE(listener >= 0, "listen %s", port_path);
    vt_host h;
    vg_conn *c = vt_open_stream(g, listener, 5000, &h, seed);
    vt_vu_transfer(g, c, &h, 256 * 1024);
    vg_rst(g, c);
    close(h.fd);
    close(listener);
    vg_destroy(g);
}

/* The guest publishes avail->idx more than a queue ahead of what the device consumed on tx (ring
 * 1): the device needs a reset. Round 0: both rings have an err eventfd: ring 1's gets 1, ring 0's
 * nothing. Round 1: only ring 0 has one: it gets 1 (the ring at fault has none, so every ring's
 * that is set). The daemon answers after each and takes RESET_DEVICE; a new frontend is served. */
static void err_fd_on_needs_reset(pid_t daemon)
{
    int failures = vt_failures;
    for (int round = 0; round < 2; round++) {
        vg g;
        guest_up(&g, "err fd");
        int err[2] = { -1, -1 };
        for (uint32_t i = 0; i < (round == 0 ? 2u : 1u); i++) {
            err[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            uint64_t idx = i;
            VT_CHECK(vg_vu_acked(g.sock, VU_SET_VRING_ERR, &idx, 8, &err[i], 1) == 0, "SET_VRING_ERR %u", i);
        }
        int told = round == 0 ? 1 : 0;
        uint16_t head; /* avail idx published VG_QSIZE + 1 past what the guest queued */
        VT_CHECK(vsn_sim_queue_add_bad(g.q[VG_TX], VSN_SIM_BAD_AVAIL_IDX_JUMP, &head) == 0, "avail idx jump");
        uint64_t v = 1;
        VT_CHECK(write(g.kick[VG_TX], &v, sizeof v) == sizeof v, "kick");
        VT_CHECK(readable(err[told], 5000), "round %d: ring %d's err fd not signalled within 5 s of ring 1's broken avail index",
                 round, told);
        v = 0;
        VT_CHECK(read(err[told], &v, sizeof v) == sizeof v && v == 1, "round %d: ring %d's err fd counter %llu (expected 1)", round,
                 told, (unsigned long long)v);
        if (round == 0) VT_CHECK(!readable(err[0], 200), "ring 0's err fd signalled for a fault of ring 1");
        VT_CHECK(kill(daemon, 0) == 0 && alive(g.sock), "round %d: the daemon does not answer after the device broke", round);
        VT_CHECK(vg_vu_acked(g.sock, VU_RESET_DEVICE, NULL, 0, NULL, 0) == 0, "round %d: RESET_DEVICE after the fault", round);
        vg_destroy(&g);
        for (int i = 0; i < 2; i++)
            if (err[i] >= 0) close(err[i]);
    }
    VT_CHECK(vt_log_contains(dir, "error: vm3: device needs a reset"), "no error line naming vm3 in the daemon's log");
    vg g;
    guest_up(&g, "after the err fd case");
    stream_then_go(&g, 81);
    if (vt_failures == failures) printf("err fd: the faulty ring's (or else every set) err fd signalled once; a new session served after\n");
}

/* ---- kick fds must be eventfds ---------------------------------------------------------------- */

static void kick_must_be_eventfd(pid_t daemon)
{
    int failures = vt_failures;
    vg g;
    guest_up(&g, "kick fds");
    /* A pipe's read end whose writer is closed: always readable (EOF) and hung up. */
    int p[2];
    VT_REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    close(p[1]);
    uint64_t idx = 1;
    VT_CHECK(vg_vu_acked(g.sock, VU_SET_VRING_KICK, &idx, 8, &p[0], 1) > 0, "a pipe as ring 1's kick fd got no error reply");
    close(p[0]);
    /* A bound on spinning, not a timing of our speed: a device loop that watches a hung-up pipe
     * spins on EPOLLHUP and burns about a core (~1 s of CPU per second); an idle daemon uses next
     * to nothing. */
    double before = vt_cpu_seconds(daemon);
    usleep(1000000);
    double used = vt_cpu_seconds(daemon) - before;
    VT_CHECK(before >= 0 && used < 0.3, "the daemon used %.2f s of CPU in 1 s after the pipe kick fd (spinning)", used);
    int sp[2];
    VT_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
    close(sp[1]);
    idx = 0;
    VT_CHECK(vg_vu_acked(g.sock, VU_SET_VRING_KICK, &idx, 8, &sp[0], 1) > 0, "a socket as ring 0's kick fd got no error reply");
    close(sp[0]);
    /* The session goes on: the eventfd again, and data both ways. */
    idx = 1;
    VT_CHECK(vg_vu_acked(g.sock, VU_SET_VRING_KICK, &idx, 8, &g.kick[VG_TX], 1) == 0, "SET_VRING_KICK with an eventfd after the refusals");
    stream_then_go(&g, 91);
    VT_CHECK(vt_log_contains(dir, "vm3: SET_VRING_KICK for ring 1: the fd is pipe:["), "no warning naming the pipe in the daemon's log");
    /* Without NEED_REPLY nothing can carry the error: a clean disconnect. */
    int s = fresh();
    VT_REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    close(p[1]);
    vg_vu_send(s, VU_SET_VRING_KICK, VU_VERSION, &idx, 8, &p[0], 1);
    close(p[0]);
    expect_disconnect("a pipe as kick fd without NEED_REPLY", s);
    if (vt_failures == failures) printf("kick fds: a pipe and a socket refused (%.2f s CPU in the second after), the session went on\n", used);
}

/* The daemon still serves a full session after all of it (or, alone, on a fresh daemon).
 * RESET_DEVICE on a live connection: connections dropped, then a new negotiation on the same
 * socket resumes the rings where the guest left them. */
static void reset_device_resume(pid_t daemon)
{
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 5000) == 0, "connect after the malformed cases");
    VT_CHECK(vg_vu_setup(&g) == 0, "negotiation after the malformed cases");
    VT_CHECK(vt_memfd_maps(daemon) > 0, "the daemon maps the guest memory while a frontend is connected");
    char port_path[320];
    snprintf(port_path, sizeof port_path, "%s_5000", uds_path);
    int listener = vt_unix_listen(port_path);
    VT_REQUIRE(listener >= 0, "listen");
    vt_host h;
    vg_conn *c = vt_open_stream(&g, listener, 5000, &h, 51);
    vt_vu_transfer(&g, c, &h, 256 * 1024);
    /* This guest keeps its rings across the reset (it resumes them with SET_VRING_BASE), so it lets
     * the device finish every tx chain first and reaps every used entry after. */
    bool drained;
    VT_UNTIL(drained, 5000, g.tx_nfree == VG_QSIZE, vg_pump(&g); vg_wait(&g, 2));
    VT_CHECK(drained, "tx ring not drained");
    VT_CHECK(vg_vu_acked(g.sock, VU_RESET_DEVICE, NULL, 0, NULL, 0) == 0, "RESET_DEVICE");
    vg_pump(&g);
    bool eof;
    VT_UNTIL(eof, 5000, h.eof, vt_host_pump(&h, h.sent); usleep(5000));
    VT_CHECK(eof, "the host side of a connection did not see EOF after RESET_DEVICE");
    close(h.fd);
    VT_CHECK(c->state == VG_ESTABLISHED, "the guest's socket is still open before the rings come back");
    VT_CHECK(vg_vu_setup(&g) == 0, "negotiation after RESET_DEVICE");
    /* The same rings resumed: the device tells this guest, unasked, that its connection is gone. */
    bool reset; VT_UNTIL(reset, 5000, c->state == VG_RESET, vt_guest_pump(&g, NULL, 0));
    VT_CHECK(reset, "the guest's connection got no RST once the device ran again (state %d)", c->state);
    vg_release(c);
    c = vt_open_stream(&g, listener, 5000, &h, 61);
    vt_vu_transfer(&g, c, &h, 256 * 1024);
    close(h.fd);
    close(listener);
    vg_destroy(&g);
}

/* Guest memory the frontend could shrink under the daemon would make it die of SIGBUS (with every VM it
 * serves): a sealable memfd is sealed against shrinking at SET_MEM_TABLE, so the frontend's ftruncate
 * fails and the device goes on; an unsealable one is accepted with a warning that names the risk. */
static void memory_cannot_shrink(void)
{
    vg g;
    guest_up(&g, "memory_cannot_shrink");
    int fd = -1;
    uint64_t offset = 0;
    VT_REQUIRE(vsn_sim_mem_region_fd(g.mem, 0, &fd, &offset) == 0, "region fd");
    int seals = fcntl(fd, F_GET_SEALS);
    VT_CHECK(seals >= 0 && (seals & F_SEAL_SHRINK), "the daemon did not seal the guest memory against shrinking (seals 0x%x)", seals);
    errno = 0;
    VT_CHECK(ftruncate(fd, 4096) < 0 && errno == EPERM, "the frontend could shrink the guest memory (errno %d)", errno);
    stream_then_go(&g, 71);  /* the device goes on */

    /* a memfd that cannot be sealed: accepted (as QEMU's seal=off and file backends need), warned */
    int loose = memfd_create("vu_unsealable", MFD_CLOEXEC);
    VT_REQUIRE(loose >= 0 && ftruncate(loose, 1 << 20) == 0, "unsealable memfd");
    mem_msg m = { .n = 1 };
    m.r[0] = (vu_mem_region){ 0x100000, 1 << 20, 0x7f0000000000ull, 0 };
    int s = fresh();
    VT_CHECK(vg_vu_acked(s, VU_SET_MEM_TABLE, &m, 8 + 32, &loose, 1) == 0, "an unsealable memfd was refused");
    VT_CHECK(vt_log_contains(dir, "vm3: region 0: its memfd cannot be sealed against shrinking"),
             "no warning naming the unsealable region in the daemon's log");
    close(s);
    close(loose);
}

/* After good_session (or a warm-up session when a later case runs alone). */
#define CASES(X)                                            \
    X(malformed, malformed())                               \
    X(err_fd_on_needs_reset, err_fd_on_needs_reset(daemon)) \
    X(kick_must_be_eventfd, kick_must_be_eventfd(daemon))   \
    X(reset_device_resume, reset_device_resume(daemon))     \
    X(memory_cannot_shrink, memory_cannot_shrink())
static const char *const CASE_NAMES[] = { "good_session", CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    VT_REQUIRE(argc == 2, "usage: vhost_user_session <daemon>");
    snprintf(dir, sizeof dir, "/tmp/vu_session_XXXXXX");
    VT_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(sock_path, sizeof sock_path, "%s/vhost3.socket", dir);
    snprintf(uds_path, sizeof uds_path, "%s/vm3.vsock", dir);
    char vm[700];
    snprintf(vm, sizeof vm, "guest-cid=3,socket=%s,uds-path=%s", sock_path, uds_path);
    char *args[] = { "--vm", vm, "--log-level", "warn", NULL };
    pid_t daemon = vt_spawn(argv[1], dir, args);

    if (vsn_case("good_session"))
        good_session(daemon);
    else if (vsn_case_single()) {
        /* A case alone: one short session first, as good_session is when all run, so the fds the
         * daemon opens once for good (its first device) are in the count taken below. */
        vg g;
        guest_up(&g, "warm-up");
        stream_then_go(&g, 71);
    }
    usleep(100000);
    int fds_before = vt_fd_count(daemon);
    CASES(VSN_CASE_RUN)
    bool clean; VT_UNTIL(clean, 5000, vt_fd_count(daemon) == fds_before && vt_memfd_maps(daemon) == 0, usleep(10000));
    VT_CHECK(clean, "daemon holds %d fds (%d before the malformed cases) and %d guest mappings", vt_fd_count(daemon), fds_before,
             vt_memfd_maps(daemon));
    int status = vt_stop(daemon);
    VT_CHECK(status == 0, "daemon exit status %d after SIGTERM", status);
    struct stat st;
    VT_CHECK(stat(sock_path, &st) < 0 && errno == ENOENT, "the daemon left its socket %s behind", sock_path);
    if (vt_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tail -n 40 %s/daemon.log >&2", dir);
        if (system(cmd) != 0) fprintf(stderr, "(no daemon log)\n");
    }
    vt_failures += vsn_cases_end();
    printf("%s: %d failure(s)\n", vt_failures ? "FAIL" : "PASS", vt_failures);
    return vt_failures ? 1 : 0;
}
