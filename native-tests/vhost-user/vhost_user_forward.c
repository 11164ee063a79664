/*
 * vhost_user_forward.c: forward-cid / forward-listen (the AF_VSOCK backend) end to end. It needs a
 * vsock transport that reaches CID 1 (vsock_loopback), so it runs inside the e2e TCG guest
 * (native-tests/e2e/forward.sh), never on the build host; it only ever addresses CID 1. This
 * process plays the VM (the vhost-user frontend of vu_guest.c, guest CID 5) and the host peers
 * (AF_VSOCK sockets on CID 1); the daemon runs with forward-cid=1,forward-listen=9001+9002.
 *
 *  1. guest -> host: the guest connects to host port 9000, reaches our AF_VSOCK listener on
 *     port 9000; 1 MiB each way, every byte checked.
 *  2. host -> guest: we connect to AF_VSOCK (1, 9001), the daemon's listener, and reach the
 *     guest's listener on 9001; 1 MiB each way, checked.
 *  3. refusals: the guest connects to host port 9999 where nobody listens (RST: refused); we
 *     connect to (1, 9002), forwarded, where the guest does not listen (end of stream); we
 *     connect to (1, 9003), not forwarded (the kernel refuses).
 *  4. a peer killed mid-transfer: a host peer process SIGKILLed while it streams to the guest
 *     (guest -> host connection, then host -> guest connection): the guest's connection ends
 *     (RST), never hangs; the guest resetting a connection mid-transfer: the host peer's stream
 *     ends.
 *  5. seqpacket (forward-listen-seqpacket=9011+9012), the host peer being vtool (native-tests/e2e/
 *     guest, /bin/vtool in the initramfs; this guest speaks its protocol: an 8-byte seed message,
 *     then messages whose sizes follow the sender's seed, MSG_EOR on the ones its seed picks):
 *     guest -> (1, 9010) and (1, 9011) -> guest, 1 MiB each way each, every message checked whole
 *     (its size, every byte, boundaries neither merged nor split, vtool's MSG_TRUNC check) and the
 *     record ends: carried both ways on forward-cid; on forward-listen none arrive either way (the
 *     fd API pair does not carry them); refusals (no seqpacket listener, a stream listener, a
 *     seqpacket connect to a stream forward port, a forwarded port the guest does not listen on);
 *     vtool SIGKILLed mid-transfer in each direction (the guest's connection resets), the guest
 *     resetting mid-transfer (vtool's transfer breaks off, it does not hang).
 *  7. no fd left in the daemon (RLIMIT_NOFILE lowered with prlimit): peers connecting to (1, 9001) wait
 *     without the forwarding thread spinning (CPU in 1 s), and reach the guest once the limit is back.
 *  6. then a clean transfer again, and SIGTERM: exit 0, socket removed.
 *
 * Usage: vhost_user_forward <daemon binary> <dir>
 */
#include "vu_test_util.h"
#include "e2e_pattern.h"  /* vtool's byte stream (native-tests/e2e/guest) */

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024u * 1024u)
#define LOCAL_CID 1u  /* VMADDR_CID_LOCAL: vsock_loopback; the only CID this test addresses */

static const char *dir;

static int vsock_listen(uint32_t port)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = LOCAL_CID, .svm_port = port };
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) return -1;
    return fd;
}

/* A blocking connect to (LOCAL_CID, port), then non-blocking: fd, or -errno. */
static int vsock_connect(uint32_t port)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = LOCAL_CID, .svm_port = port };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void transfer(vg *g, vg_conn *c, vt_host *h, uint64_t bytes, const char *what)
{
    uint64_t g_target = c->sent + bytes, h_target = h->sent + bytes;
    bool done; VT_UNTIL(done, 120000, c->sent == g_target && h->received == g_target && c->received == h_target, {
        vg_send(g, c, g_target - c->sent);
        vg_pump(g);
        vt_host_pump(h, h_target);
        vg_wait(g, 1);
    });
    VT_CHECK(done, "%s: guest sent %llu/%llu, host got %llu, host sent %llu/%llu, guest got %llu", what,
             (unsigned long long)c->sent, (unsigned long long)g_target, (unsigned long long)h->received,
             (unsigned long long)h->sent, (unsigned long long)h_target, (unsigned long long)c->received);
    VT_CHECK(c->bad_bytes == 0 && h->bad == 0, "%s: pattern broken: guest %llu, host %llu bad bytes", what,
             (unsigned long long)c->bad_bytes, (unsigned long long)h->bad);
}

/* Guest -> host port 9000 through the daemon to our listener. */
static vg_conn *guest_to_host(vg *g, int listener, vt_host *h, uint8_t seed)
{
    vg_conn *c = vg_connect(g, VG_HOST_CID, 9000, seed);
    VT_REQUIRE(c != NULL, "vg_connect");
    *h = (vt_host){ .fd = -1, .seed_out = (uint8_t)(seed + 1), .seed_in = seed };
    bool ok; VT_UNTIL(ok, 20000, c->state == VG_ESTABLISHED && h->fd >= 0, {
        if (h->fd < 0) h->fd = vt_accept(listener);
        vg_pump(g);
        vg_wait(g, 1);
    });
    VT_REQUIRE(ok, "guest -> host 9000 not established (guest state %d, host fd %d)", c->state, h->fd);
    return c;
}

/* The pattern seeds of the next connection the guest accepts on port, set before its REQUEST can come
 * (its first bytes may arrive in the same pump: seeds set after vg_accept are too late). */
static void accept_seeds(vg *g, uint32_t port, uint8_t seed_in, uint8_t seed_out)
{
    for (unsigned i = 0; i < g->nlistening; i++)
        if (g->listening[i] == port) {
            g->listen_seed_in[i] = seed_in;
            g->listen_seed_out[i] = seed_out;
        }
}

/* Host (1, port) -> the daemon's forward-listen -> the guest's listener. */
static vg_conn *host_to_guest(vg *g, uint32_t port, vt_host *h, uint8_t seed)
{
    accept_seeds(g, port, seed, (uint8_t)(seed + 1));
    int fd = vsock_connect(port);
    VT_REQUIRE(fd >= 0, "connect to AF_VSOCK (1, %u): %s", port, strerror(-fd));
    *h = (vt_host){ .fd = fd, .seed_out = seed, .seed_in = (uint8_t)(seed + 1) };
    vg_conn *c = NULL;
    bool ok; VT_UNTIL(ok, 20000, (c = vg_accept(g, port)) != NULL, vg_pump(g); vg_wait(g, 1));
    VT_REQUIRE(ok, "host -> guest %u: no connection reached the guest", port);
    return c;
}

/* A host peer in its own process, streaming to the guest until it is killed. */
static pid_t streaming_peer(int fd, uint8_t seed)
{
    pid_t pid = fork();
    if (pid == 0) {
        vt_host h = { .fd = fd, .seed_out = seed, .seed_in = (uint8_t)(seed + 1) };
        while (1) {
            vt_host_pump(&h, h.sent + 65536);
            usleep(1000);
        }
    }
    close(fd);
    return pid;
}

/* ---- seqpacket: this guest as vtool's peer (vtool_xfer.c's protocol) ---- */

#define VT_SALT_EOR 0xE0Bull
#define SEQ_MAX_MSG_CAP (256u * 1024u)

/* vtool_xfer.c's vt_msg_size and its MSG_EOR pick. */
static uint32_t vt_msg_size(uint64_t seed, uint64_t k, uint32_t max_msg) { return 1 + (uint32_t)(e2e_word(seed ^ 0x5EC0ull, k) % max_msg); }
static bool vt_eor_picked(uint64_t seed, uint64_t k, uint32_t every) { return every && e2e_word(seed ^ VT_SALT_EOR, k) % every == 0; }

typedef struct seqx {
    uint32_t max_msg;       /* vtool's --max-msg (both directions) */
    uint32_t eor_every;     /* the guest sets MSG_EOR on its seed's picks and its last message */
    uint32_t vt_eor_every;  /* vtool's --eor-every: the record ends that must arrive (0: none may) */
    uint64_t seed, send_total, expect_total;
    uint64_t send_after;    /* the guest sends once this many bytes arrived */
    bool hdr_sent, shut_sent;
    uint64_t sent, k_out;
    uint8_t hdr[8];
    bool hdr_got;
    uint64_t peer_seed, got, k_in, records_in, records_out;
    uint32_t msg_got;
    char why[256];
} seqx;

static void seq_fail(seqx *x, const char *fmt, unsigned long long a, unsigned long long b)
{
    if (x->why[0] == '\0') snprintf(x->why, sizeof x->why, fmt, a, b);
}

#define SEQ_FAIL(...) do { seq_fail(__VA_ARGS__); return; } while (0)

/* Every RW of a seqpacket connection: the seed message, then message k checked as it arrives. */
static void seq_on_data(vg_conn *c, const uint8_t *p, uint32_t len, uint32_t flags)
{
    seqx *x = c->user;
    bool eom = flags & VSN_VIRTIO_VSOCK_SEQ_EOM, eor = flags & VSN_VIRTIO_VSOCK_SEQ_EOR;
    if (!x->hdr_got) {
        if (x->msg_got + len > 8) SEQ_FAIL(x, "the seed message is longer than 8 bytes (%llu)", x->msg_got + len, 0);
        memcpy(x->hdr + x->msg_got, p, len);
        x->msg_got += len;
        if (!eom) return;
        if (x->msg_got != 8) SEQ_FAIL(x, "the seed message has %llu bytes, not 8", x->msg_got, 0);
        if (eor) SEQ_FAIL(x, "the seed message came with EOR, sent without%llu%llu", 0, 0);
        for (int i = 0; i < 8; i++) x->peer_seed |= (uint64_t)x->hdr[i] << (8 * i);
        x->hdr_got = true;
        x->msg_got = 0;
        return;
    }
    uint64_t want = vt_msg_size(x->peer_seed, x->k_in, x->max_msg);
    if (want > x->expect_total - x->got) want = x->expect_total - x->got;
    if (want == 0) SEQ_FAIL(x, "data past the expected %llu bytes%llu", x->expect_total, 0);
    if (e2e_check(x->peer_seed, x->got + x->msg_got, p, len) != len)
        SEQ_FAIL(x, "message %llu: a wrong byte near byte %llu of the stream", x->k_in, x->got + x->msg_got);
    x->msg_got += len;
    if (x->msg_got > want) SEQ_FAIL(x, "message %llu longer than its %llu bytes (boundary lost)", x->k_in, want);
    if (!eom) return;
    if (x->msg_got != want) SEQ_FAIL(x, "message %llu ended after %llu bytes (split)", x->k_in, x->msg_got);
    bool eor_want = x->vt_eor_every && (vt_eor_picked(x->peer_seed, x->k_in, x->vt_eor_every) || x->got + want == x->expect_total);
    if (eor != eor_want) SEQ_FAIL(x, eor_want ? "message %llu: EOR missing%llu" : "message %llu: EOR, sent without%llu", x->k_in, 0);
    x->records_in += eor;
    x->got += want;
    x->k_in++;
    x->msg_got = 0;
}

/* Sends what the credit takes: the seed message, the messages, then SHUTDOWN(send). */
static void seq_send(vg *g, vg_conn *c, seqx *x)
{
    static uint8_t buf[SEQ_MAX_MSG_CAP];
    if (c->state != VG_ESTABLISHED || x->got < x->send_after) return;
    if (!x->hdr_sent) {
        uint8_t hdr[8];
        for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(x->seed >> (8 * i));
        if (vg_send_msg(g, c, hdr, 8, false) != 1) return;
        x->hdr_sent = true;
    }
    while (x->sent < x->send_total) {
        uint64_t left = x->send_total - x->sent;
        uint32_t n = vt_msg_size(x->seed, x->k_out, x->max_msg);
        if (n > left) n = (uint32_t)left;
        bool eor = x->eor_every && (vt_eor_picked(x->seed, x->k_out, x->eor_every) || n == left);
        e2e_fill(x->seed, x->sent, buf, n);
        if (vg_send_msg(g, c, buf, n, eor) != 1) return;
        x->records_out += eor;
        x->sent += n;
        x->k_out++;
    }
    if (!x->shut_sent && x->send_total != UINT64_MAX) {
        vg_shutdown(g, c, 2);  /* VIRTIO_VSOCK_SHUTDOWN_SEND: vtool reads EOF after the last message */
        x->shut_sent = true;
    }
}

/* vtool with args (argv[0] "vtool"), its output on our stdout. */
static pid_t vtool(char *const argv[])
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execvp("vtool", argv);
        perror("exec vtool");
        _exit(127);
    }
    return pid;
}

/* Pumps the guest (sending for x on c when given) until vtool exits or timeout_ms: its exit status, -1 on timeout (killed). */
static int vtool_wait(vg *g, pid_t pid, vg_conn *c, seqx *x, int timeout_ms)
{
    int status = -1;
    int64_t end = vg_now_ms() + timeout_ms;
    while (vg_now_ms() < end) {
        if (c != NULL && x != NULL) seq_send(g, c, x);
        vg_pump(g);
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        vg_wait(g, 1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* A guest seqpacket connection to host port, retried while vtool is not listening yet. */
static vg_conn *seq_connect(vg *g, uint32_t port, seqx *x)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        vg_conn *c = vg_connect_type(g, VG_HOST_CID, port, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
        VT_REQUIRE(c != NULL, "vg_connect_type");
        c->on_data = seq_on_data;
        c->user = x;
        bool answered; VT_UNTIL(answered, 20000, c->state != VG_CONNECTING, vg_pump(g); vg_wait(g, 1));
        if (c->state == VG_ESTABLISHED) return c;
        vg_release(c);
        usleep(100000);
    }
    VT_REQUIRE(false, "guest seqpacket -> host %u: never established", port);
    return NULL;
}

static void seqpacket_cases(vg *g)
{
    static seqx x;
    char max1[16], max2[16];
    /* guest -> (1, 9010): forward-cid; record ends carried both ways */
    x = (seqx){ .max_msg = 50000, .eor_every = 3, .vt_eor_every = 3, .seed = 0x5101, .send_total = MiB, .expect_total = MiB };
    snprintf(max1, sizeof max1, "%u", x.max_msg);
    char *a1[] = { "vtool", "listen", "vsock:9010", "--seqpacket", "--max-msg", max1, "--eor-every", "3", "--send", "1M", "--expect", "1M",
                   "--seed", "5102", "--timeout", "150", NULL };
    pid_t pid = vtool(a1);
    vg_conn *c = seq_connect(g, 9010, &x);
    int st = vtool_wait(g, pid, c, &x, 160000);
    bool all; VT_UNTIL(all, 10000, x.got == x.expect_total && (c->peer_shut & 2), { seq_send(g, c, &x); vg_pump(g); vg_wait(g, 1); });
    VT_CHECK(st == 0, "seqpacket guest -> (1, 9010): vtool exit %d", st);
    VT_CHECK(x.why[0] == '\0', "seqpacket guest -> (1, 9010): %s", x.why);
    VT_CHECK(all && x.sent == x.send_total, "seqpacket guest -> (1, 9010): sent %llu, got %llu of %llu, peer shutdown %u",
             (unsigned long long)x.sent, (unsigned long long)x.got, (unsigned long long)x.expect_total, c->peer_shut);
    VT_CHECK(x.records_in > 0 && x.records_out > 0, "seqpacket guest -> (1, 9010): no record ends (%llu in, %llu out)",
             (unsigned long long)x.records_in, (unsigned long long)x.records_out);
    printf("forward: seqpacket guest -> (1, 9010): 1 MiB each way, %llu + %llu messages of 1..%u bytes whole, %llu + %llu record ends carried\n",
           (unsigned long long)x.k_out, (unsigned long long)x.k_in, x.max_msg, (unsigned long long)x.records_out,
           (unsigned long long)x.records_in);
    vg_rst(g, c);
    vg_release(c);

    /* (1, 9011) -> guest: forward-listen-seqpacket; the guest sets EOR, vtool checks none arrive
     * (and sends none: without --eor-every), the guest checks none arrive */
    x = (seqx){ .max_msg = 256 * 1024, .eor_every = 3, .vt_eor_every = 0, .seed = 0x5201, .send_total = MiB, .expect_total = MiB };
    snprintf(max2, sizeof max2, "%u", x.max_msg);
    g->seq_on_data = seq_on_data;
    g->seq_user = &x;
    char *a2[] = { "vtool", "connect", "vsock:1:9011", "--seqpacket", "--max-msg", max2, "--send", "1M", "--expect", "1M", "--seed", "5202",
                   "--timeout", "150", NULL };
    pid = vtool(a2);
    c = NULL;
    bool acc; VT_UNTIL(acc, 20000, (c = vg_accept(g, 9011)) != NULL, vg_pump(g); vg_wait(g, 1));
    VT_REQUIRE(acc, "seqpacket (1, 9011) -> guest: no connection reached the guest");
    VT_CHECK(c->type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET, "(1, 9011) -> guest: type %u", c->type);
    st = vtool_wait(g, pid, c, &x, 160000);
    VT_UNTIL(all, 10000, x.got == x.expect_total && (c->peer_shut & 2), { seq_send(g, c, &x); vg_pump(g); vg_wait(g, 1); });
    VT_CHECK(st == 0, "seqpacket (1, 9011) -> guest: vtool exit %d", st);
    VT_CHECK(x.why[0] == '\0', "seqpacket (1, 9011) -> guest: %s", x.why);
    VT_CHECK(all && x.sent == x.send_total, "seqpacket (1, 9011) -> guest: sent %llu, got %llu of %llu, peer shutdown %u",
             (unsigned long long)x.sent, (unsigned long long)x.got, (unsigned long long)x.expect_total, c->peer_shut);
    printf("forward: seqpacket (1, 9011) -> guest: 1 MiB each way, %llu + %llu messages of 1..%u bytes whole; record ends not carried (%llu sent by the guest, none arrived)\n",
           (unsigned long long)x.k_out, (unsigned long long)x.k_in, x.max_msg, (unsigned long long)x.records_out);
    vg_rst(g, c);
    vg_release(c);

    /* refusals */
    vg_conn *r = vg_connect_type(g, VG_HOST_CID, 9998, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    bool refused; VT_UNTIL(refused, 15000, r->state != VG_CONNECTING, vg_pump(g); vg_wait(g, 1));
    VT_CHECK(r->state == VG_REFUSED, "seqpacket guest -> host 9998 (nobody listens): state %d, wanted refused", r->state);
    vg_release(r);
    r = vg_connect_type(g, VG_HOST_CID, 9000, 0, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET);
    VT_UNTIL(refused, 15000, r->state != VG_CONNECTING, vg_pump(g); vg_wait(g, 1));
    VT_CHECK(r->state == VG_REFUSED, "seqpacket guest -> host 9000 (a stream listener): state %d, wanted refused", r->state);
    vg_release(r);
    int fd = socket(AF_VSOCK, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = LOCAL_CID, .svm_port = 9001 };
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    VT_CHECK(rc < 0, "a seqpacket connect to (1, 9001), a stream forward port, succeeded");
    close(fd);
    fd = socket(AF_VSOCK, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sa.svm_port = 9012;
    VT_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "seqpacket connect to (1, 9012) (forwarded): %s", strerror(errno));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char b;
    ssize_t got = -1;
    bool ended; VT_UNTIL(ended, 15000, (got = recv(fd, &b, 1, 0)) == 0 || (got < 0 && errno != EAGAIN), { vg_pump(g); usleep(2000); });
    VT_CHECK(ended, "seqpacket (1, 9012) -> guest port 9012 (no listener): the host socket did not end");
    close(fd);
    printf("forward: seqpacket refusals: guest -> 9998 and -> 9000 (stream) RST, (1, 9001) stream port refused, (1, 9012) without a guest listener ended\n");

    /* vtool killed mid-transfer, guest -> host: the guest's connection resets */
    x = (seqx){ .max_msg = 50000, .seed = 0x5301, .send_total = UINT64_MAX, .expect_total = UINT64_MAX };
    char *a3[] = { "vtool", "listen", "vsock:9010", "--seqpacket", "--max-msg", max1, "--expect", "64M", "--die-after", "256K", "--timeout", "100", NULL };
    pid = vtool(a3);
    c = seq_connect(g, 9010, &x);
    int64_t t0 = vg_now_ms();
    st = vtool_wait(g, pid, c, &x, 60000);
    VT_CHECK(st == 128 + SIGKILL, "seqpacket guest -> (1, 9010): vtool --die-after: status %d", st);
    bool reset; VT_UNTIL(reset, 15000, c->state == VG_RESET, { seq_send(g, c, &x); vg_pump(g); vg_wait(g, 1); });
    VT_CHECK(reset, "seqpacket guest -> (1, 9010): the guest's connection did not reset after vtool was killed (state %d)", c->state);
    printf("forward: seqpacket guest -> (1, 9010): vtool killed after %llu bytes, the guest's connection reset %.1f s later\n",
           (unsigned long long)x.sent, (double)(vg_now_ms() - t0) / 1000);
    vg_release(c);

    /* vtool killed mid-transfer, host -> guest */
    x = (seqx){ .max_msg = 256 * 1024, .seed = 0x5401, .send_total = UINT64_MAX, .expect_total = UINT64_MAX, .send_after = 256 * 1024 };
    char *a4[] = { "vtool", "connect", "vsock:1:9011", "--seqpacket", "--max-msg", max2, "--send", "64M", "--expect", "64M", "--die-after", "256K",
                   "--timeout", "100", NULL };
    pid = vtool(a4);
    VT_UNTIL(acc, 20000, (c = vg_accept(g, 9011)) != NULL, vg_pump(g); vg_wait(g, 1));
    VT_REQUIRE(acc, "seqpacket (1, 9011) -> guest (killed peer): no connection");
    st = vtool_wait(g, pid, c, &x, 60000);
    VT_CHECK(st == 128 + SIGKILL, "seqpacket (1, 9011) -> guest: vtool --die-after: status %d", st);
    VT_UNTIL(reset, 15000, c->state == VG_RESET, { seq_send(g, c, &x); vg_pump(g); vg_wait(g, 1); });
    VT_CHECK(reset, "seqpacket (1, 9011) -> guest: the guest's connection did not reset after vtool was killed (state %d)", c->state);
    VT_CHECK(x.why[0] == '\0', "seqpacket (1, 9011) -> guest (killed peer): %s", x.why);
    VT_CHECK(x.got >= x.send_after, "seqpacket (1, 9011) -> guest (killed peer): only %llu bytes arrived", (unsigned long long)x.got);
    printf("forward: seqpacket (1, 9011) -> guest: vtool killed, the guest's connection reset (%llu bytes had arrived, checked)\n",
           (unsigned long long)x.got);
    vg_release(c);

    /* the guest resets mid-transfer: vtool's transfer breaks off (--expect-broken), no hang */
    x = (seqx){ .max_msg = 50000, .seed = 0x5501, .send_total = UINT64_MAX, .expect_total = UINT64_MAX };
    char *a5[] = { "vtool", "listen", "vsock:9010", "--seqpacket", "--max-msg", max1, "--expect", "64M", "--expect-broken", "--timeout", "60", NULL };
    pid = vtool(a5);
    c = seq_connect(g, 9010, &x);
    bool flowing; VT_UNTIL(flowing, 30000, x.sent > 256 * 1024, { seq_send(g, c, &x); vg_pump(g); vg_wait(g, 1); });
    VT_CHECK(flowing, "seqpacket guest -> (1, 9010): did not flow before the guest reset (%llu bytes)", (unsigned long long)x.sent);
    vg_rst(g, c);
    st = vtool_wait(g, pid, NULL, NULL, 30000);
    VT_CHECK(st == 0, "seqpacket guest -> (1, 9010): after the guest reset mid-transfer vtool --expect-broken exit %d", st);
    vg_release(c);
    g->seq_on_data = NULL;
    printf("forward: seqpacket: the guest reset mid-transfer, vtool's transfer broke off\n");
}

static void killed_peer(vg *g, vg_conn *c, pid_t peer, const char *what)
{
    bool flowing; VT_UNTIL(flowing, 20000, c->received > 256 * 1024, vg_pump(g); vg_wait(g, 1));
    VT_CHECK(flowing, "%s: the peer's stream did not flow (%llu bytes)", what, (unsigned long long)c->received);
    kill(peer, SIGKILL);
    waitpid(peer, NULL, 0);
    int64_t t0 = vg_now_ms();
    bool ended; VT_UNTIL(ended, 15000, c->state == VG_RESET, { vg_send(g, c, 4096); vg_pump(g); vg_wait(g, 1); });
    VT_CHECK(ended, "%s: the guest's connection did not end after the host peer was killed (state %d)", what, c->state);
    VT_CHECK(c->bad_bytes == 0, "%s: %llu bad bytes", what, (unsigned long long)c->bad_bytes);
    printf("forward: %s: the guest's connection reset %.1f s after the host peer was SIGKILLed (%llu bytes had arrived)\n", what,
           (double)(vg_now_ms() - t0) / 1000, (unsigned long long)c->received);
    vg_release(c);
}

/* 7. No fd left in the daemon (its RLIMIT_NOFILE lowered to its lowest free fd, prlimit): host peers
 * connecting to a forward-listen port wait in the listener's backlog without the forwarding thread
 * spinning on it (a listener whose accept fails with EMFILE stays readable); once the limit is back
 * each reaches the guest. */
static void no_fds(vg *g, pid_t daemon)
{
    struct rlimit old, low;
    VT_REQUIRE(prlimit(daemon, RLIMIT_NOFILE, NULL, &old) == 0, "prlimit of the daemon: %s", strerror(errno));
    low = (struct rlimit){ (rlim_t)vt_lowest_free_fd(daemon), old.rlim_max };
    VT_REQUIRE(prlimit(daemon, RLIMIT_NOFILE, &low, NULL) == 0, "lower the daemon's RLIMIT_NOFILE: %s", strerror(errno));
    int peers[3];
    for (int i = 0; i < 3; i++) {
        peers[i] = vsock_connect(9001);
        VT_CHECK(peers[i] >= 0, "connect to (1, 9001) with the daemon out of fds: %s", strerror(-peers[i]));
    }
    double before = vt_cpu_seconds(daemon);
    usleep(1000000);
    double used = vt_cpu_seconds(daemon) - before;
    VT_CHECK(before >= 0 && used < 0.1, "the daemon used %.2f s of CPU in 1 s with accept failing (spinning)", used);
    VT_REQUIRE(prlimit(daemon, RLIMIT_NOFILE, &old, NULL) == 0, "restore the daemon's RLIMIT_NOFILE");
    int n = 0;
    vg_conn *got[3];
    bool all; VT_UNTIL(all, 20000, n == 3, {
        vg_conn *c;
        while (n < 3 && (c = vg_accept(g, 9001)) != NULL) got[n++] = c;
        vg_pump(g);
        vg_wait(g, 1);
    });
    VT_CHECK(all, "%d of 3 host peers reached the guest after the daemon's fds came back", n);
    for (int i = 0; i < n; i++) {
        vg_rst(g, got[i]);
        vg_release(got[i]);
    }
    for (int i = 0; i < 3; i++)
        if (peers[i] >= 0) close(peers[i]);
    printf("forward: no fd left in the daemon: 3 peers waited, %.2f s of daemon CPU in 1 s, all served after\n", used);
}

int main(int argc, char **argv)
{
    VT_REQUIRE(argc == 3, "usage: vhost_user_forward <daemon> <dir>");
    dir = argv[2];
    signal(SIGPIPE, SIG_IGN);
    char sock_path[300], vm[400];
    snprintf(sock_path, sizeof sock_path, "%s/vhost5.socket", dir);
    snprintf(vm, sizeof vm, "guest-cid=5,socket=%s,forward-cid=1,forward-listen=9001+9002,forward-listen-seqpacket=9011+9012", sock_path);
    int listener = vsock_listen(9000);
    VT_REQUIRE(listener >= 0, "AF_VSOCK listener on (1, 9000): %s (vsock_loopback loaded?)", strerror(errno));
    char *args[] = { "--vm", vm, "--log-level", "info", NULL };
    pid_t daemon = vt_spawn(argv[1], dir, args);

    vg g;
    VT_REQUIRE(vg_init(&g, 5) == 0, "vg_init");
    g.seqpacket = true;
    VT_REQUIRE(vg_listen(&g, 9001) == 0, "vg_listen");
    VT_REQUIRE(vg_listen(&g, 9011) == 0, "vg_listen");
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 30000) == 0, "connect to %s", sock_path);
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation");

    /* 1 and 2: data both ways, both directions of connection. */
    vt_host h1, h2;
    vg_conn *c1 = guest_to_host(&g, listener, &h1, 11);
    transfer(&g, c1, &h1, 1 * MiB, "guest -> host 9000");
    vg_conn *c2 = host_to_guest(&g, 9001, &h2, 21);
    transfer(&g, c2, &h2, 1 * MiB, "host -> guest 9001");
    printf("forward: 1 MiB each way on guest -> (1, 9000) and on (1, 9001) -> guest, every byte checked\n");

    /* The guest closes: the host peers see their streams end. */
    vg_rst(&g, c1);
    vg_rst(&g, c2);
    bool eof; VT_UNTIL(eof, 10000, h1.eof && h2.eof, { vg_pump(&g); vt_host_pump(&h1, h1.sent); vt_host_pump(&h2, h2.sent); usleep(2000); });
    VT_CHECK(eof, "host peers did not see end of stream after the guest reset its connections (%d %d)", h1.eof, h2.eof);
    close(h1.fd);
    close(h2.fd);
    vg_release(c1);
    vg_release(c2);

    /* 3. Refusals. */
    vg_conn *r = vg_connect(&g, VG_HOST_CID, 9999, 31);
    bool refused; VT_UNTIL(refused, 15000, r->state != VG_CONNECTING, vg_pump(&g); vg_wait(&g, 1));
    VT_CHECK(r->state == VG_REFUSED, "guest -> host 9999 (nobody listens on (1, 9999)): state %d, wanted refused", r->state);
    vg_release(r);
    int fd = vsock_connect(9002);
    VT_CHECK(fd >= 0, "connect to (1, 9002) (forwarded): %s", strerror(-fd));
    if (fd >= 0) {
        vt_host hr = { .fd = fd };
        bool ended; VT_UNTIL(ended, 15000, hr.eof, { vg_pump(&g); vt_host_pump(&hr, 0); usleep(2000); });
        VT_CHECK(ended, "(1, 9002) -> guest port 9002 (no listener): the host socket did not end");
        close(fd);
    }
    fd = vsock_connect(9003);
    VT_CHECK(fd < 0, "connect to (1, 9003), not in forward-listen, succeeded");
    if (fd >= 0) close(fd);
    printf("forward: refusals: guest -> 9999 RST, (1, 9002) without a guest listener ended, (1, 9003) refused (%s)\n",
           fd < 0 ? strerror(-fd) : "?");

    /* 4. Peers killed mid-transfer. */
    vt_host hk;
    vg_conn *k1 = guest_to_host(&g, listener, &hk, 41);
    killed_peer(&g, k1, streaming_peer(hk.fd, 42), "guest -> host 9000");
    accept_seeds(&g, 9001, 51, 52);
    int kfd = vsock_connect(9001);
    VT_REQUIRE(kfd >= 0, "connect (1, 9001): %s", strerror(-kfd));
    pid_t peer = streaming_peer(kfd, 51);
    vg_conn *k2 = NULL;
    bool acc; VT_UNTIL(acc, 20000, (k2 = vg_accept(&g, 9001)) != NULL, vg_pump(&g); vg_wait(&g, 1));
    VT_REQUIRE(acc, "host -> guest 9001 (killed peer): no connection");
    killed_peer(&g, k2, peer, "(1, 9001) -> guest");
    /* The guest side gone mid-transfer: the host peer's stream ends (EOF or ECONNRESET). */
    vt_host hg;
    vg_conn *k3 = guest_to_host(&g, listener, &hg, 61);
    uint64_t goal = 4 * MiB;
    bool some; VT_UNTIL(some, 20000, hg.received > 256 * 1024, { vg_send(&g, k3, goal - k3->sent); vg_pump(&g); vt_host_pump(&hg, 0); vg_wait(&g, 1); });
    VT_CHECK(some, "guest -> host: the stream did not flow before the guest reset");
    vg_rst(&g, k3);
    bool gone; VT_UNTIL(gone, 15000, hg.eof || (recv(hg.fd, &(char){ 0 }, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == ECONNRESET),
                        { vg_pump(&g); vt_host_pump(&hg, 0); usleep(2000); });
    VT_CHECK(gone, "the host peer's stream did not end after the guest reset mid-transfer");
    close(hg.fd);
    vg_release(k3);

    /* 5. Seqpacket. */
    seqpacket_cases(&g);

    /* 7. No fd left in the daemon. */
    no_fds(&g, daemon);

    /* 6. A clean transfer after all that. */
    vg_conn *c5 = guest_to_host(&g, listener, &h1, 71);
    transfer(&g, c5, &h1, 256 * 1024, "guest -> host 9000 after the faults");
    vg_rst(&g, c5);
    close(h1.fd);
    vg_vu_disconnect(&g);
    vg_destroy(&g);
    close(listener);
    int status = vt_stop(daemon);
    VT_CHECK(status == 0, "daemon exit status %d after SIGTERM", status);
    struct stat st;
    VT_CHECK(stat(sock_path, &st) < 0 && errno == ENOENT, "the daemon left %s behind", sock_path);
    VT_CHECK(vt_log_contains(dir, "forwarding guest connections to AF_VSOCK cid 1; 4 host port(s)"), "no forwarding line in the log");
    return vt_finish(dir);
}
