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
 *  5. then a clean transfer again, and SIGTERM: exit 0, socket removed.
 *
 * Usage: vhost_user_forward <daemon binary> <dir>
 */
#include "vu_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <string.h>
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

/* Host (1, port) -> the daemon's forward-listen -> the guest's listener. */
static vg_conn *host_to_guest(vg *g, uint32_t port, vt_host *h, uint8_t seed)
{
    int fd = vsock_connect(port);
    VT_REQUIRE(fd >= 0, "connect to AF_VSOCK (1, %u): %s", port, strerror(-fd));
    *h = (vt_host){ .fd = fd, .seed_out = seed, .seed_in = (uint8_t)(seed + 1) };
    vg_conn *c = NULL;
    bool ok; VT_UNTIL(ok, 20000, (c = vg_accept(g, port)) != NULL, vg_pump(g); vg_wait(g, 1));
    VT_REQUIRE(ok, "host -> guest %u: no connection reached the guest", port);
    c->seed_out = (uint8_t)(seed + 1);
    c->seed_in = seed;
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

int main(int argc, char **argv)
{
    VT_REQUIRE(argc == 3, "usage: vhost_user_forward <daemon> <dir>");
    dir = argv[2];
    signal(SIGPIPE, SIG_IGN);
    char sock_path[300], vm[400];
    snprintf(sock_path, sizeof sock_path, "%s/vhost5.socket", dir);
    snprintf(vm, sizeof vm, "guest-cid=5,socket=%s,forward-cid=1,forward-listen=9001+9002", sock_path);
    int listener = vsock_listen(9000);
    VT_REQUIRE(listener >= 0, "AF_VSOCK listener on (1, 9000): %s (vsock_loopback loaded?)", strerror(errno));
    char *args[] = { "--vm", vm, "--log-level", "info", NULL };
    pid_t daemon = vt_spawn(argv[1], dir, args);

    vg g;
    VT_REQUIRE(vg_init(&g, 5) == 0, "vg_init");
    VT_REQUIRE(vg_listen(&g, 9001) == 0, "vg_listen");
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
    int kfd = vsock_connect(9001);
    VT_REQUIRE(kfd >= 0, "connect (1, 9001): %s", strerror(-kfd));
    pid_t peer = streaming_peer(kfd, 51);
    vg_conn *k2 = NULL;
    bool acc; VT_UNTIL(acc, 20000, (k2 = vg_accept(&g, 9001)) != NULL, vg_pump(&g); vg_wait(&g, 1));
    VT_REQUIRE(acc, "host -> guest 9001 (killed peer): no connection");
    k2->seed_in = 51;
    k2->seed_out = 52;
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

    /* 5. A clean transfer after all that. */
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
    VT_CHECK(vt_log_contains(dir, "forwarding guest connections to AF_VSOCK cid 1; 2 host port(s)"), "no forwarding line in the log");
    return vt_finish(dir);
}
