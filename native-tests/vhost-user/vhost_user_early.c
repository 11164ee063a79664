/*
 * vhost_user_early.c: what the daemon does before and around the first frontend.
 *
 *  1. The hybrid socket (uds-path) is listening as soon as the daemon runs, before any frontend:
 *     a host client that connects and writes "CONNECT 5000\n" plus stream data at once is served
 *     when the VM's rings come up (OK line, its pipelined bytes reach the guest, data both ways);
 *     a client that wrote half a line early is closed after the handshake timeout (5 s) once the
 *     device runs; one that wrote a bad line early is closed; the listener survives a frontend
 *     disconnect.
 *  2. queue-size: a ring of exactly queue-size entries is accepted, a larger one refused at
 *     SET_VRING_NUM with a log line naming it (error ack with REPLY_ACK, else a disconnect).
 *  3. --metrics: the file exists from the start, is rewritten every --metrics-interval and on
 *     SIGUSR1 (the log says so, with one line in words per VM), shows the open connection and
 *     the counters, and a reader polling it while it is rewritten never sees half a file.
 *
 * Usage: vhost_user_early <daemon binary>
 */
#include "../../src/vhost-user-vsock/vhost_user.h"
#include "vu_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[256], sock_path[300], uds_path[300], metrics_path[300];

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        if (fd >= 0) close(fd);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Reads one line (up to '\n') within timeout_ms; returns its length, -1 on EOF/timeout. */
static int read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = vg_now_ms() + timeout_ms;
    while (n + 1 < cap) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int left = (int)(deadline - vg_now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) return -1;
        if (read(fd, buf + n, 1) != 1) return -1;
        if (buf[n++] == '\n') break;
    }
    buf[n] = '\0';
    return (int)n;
}

/* True when the peer closed fd (EOF or reset) within timeout_ms; data before it is discarded. */
static bool closed_within(int fd, int timeout_ms)
{
    int64_t deadline = vg_now_ms() + timeout_ms;
    char b[256];
    while (vg_now_ms() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 50) == 1) {
            ssize_t r = read(fd, b, sizeof b);
            if (r <= 0) return true;
        }
    }
    return false;
}

static char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf != NULL && (r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    close(fd);
    if (buf != NULL) buf[n] = '\0';
    return buf;
}

/* A whole JSON object: braces and brackets balanced outside strings, ends with "}\n". */
static bool whole_json(const char *s)
{
    int depth = 0;
    bool in_str = false;
    size_t n = strlen(s);
    if (n < 3 || s[0] != '{' || strcmp(s + n - 2, "}\n") != 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') in_str = true;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (--depth < 0) return false;
        }
    }
    return depth == 0 && !in_str;
}

static long long timestamp_of(const char *json)
{
    const char *t = json ? strstr(json, "\"utc_timestamp_ms\": ") : NULL;
    return t ? atoll(t + 20) : -1;
}

static int64_t ring_num(int s, uint32_t index, uint32_t num, bool ack)
{
    vu_vring_state st = { index, num };
    if (ack) return vg_vu_acked(s, VU_SET_VRING_NUM, &st, sizeof st, NULL, 0);
    return vg_vu_send(s, VU_SET_VRING_NUM, VU_VERSION, &st, sizeof st, NULL, 0);
}

static void queue_size_limit(void)
{
    int s = vt_connect_reply_ack(sock_path);
    VT_CHECK(ring_num(s, 0, VG_QSIZE, true) == 0, "a ring of queue-size (%u) entries refused", VG_QSIZE);
    VT_CHECK(ring_num(s, 1, VG_QSIZE / 2, true) == 0, "a smaller ring refused");
    VT_CHECK(ring_num(s, 0, VG_QSIZE * 2, true) > 0, "a ring of %u entries (queue-size %u) accepted", VG_QSIZE * 2, VG_QSIZE);
    VT_CHECK(ring_num(s, 1, 32768, true) > 0, "a ring of 32768 entries accepted");
    char line[128];
    snprintf(line, sizeof line, "SET_VRING_NUM: ring 0 of %u entries is larger than queue-size %u", VG_QSIZE * 2, VG_QSIZE);
    VT_CHECK(vt_log_contains(dir, line), "no log line \"%s\"", line);
    close(s);
    /* Without REPLY_ACK nothing carries the error: the daemon hangs up. */
    vg g1 = { .sock = -1 };
    VT_REQUIRE(vg_vu_connect(&g1, sock_path, 5000) == 0, "connect");
    ring_num(g1.sock, 0, VG_QSIZE * 2, false);
    VT_CHECK(vg_vu_closed(g1.sock, 5000), "a too-large ring without REPLY_ACK did not end the connection");
    close(g1.sock);
}

/* The daemon: one VM with a hybrid socket and queue-size VG_QSIZE, metrics every second. */
static pid_t start_daemon(const char *binary)
{
    vt_tmpdir(dir, sizeof dir, "vu_early");
    snprintf(sock_path, sizeof sock_path, "%s/vhost3.socket", dir);
    snprintf(uds_path, sizeof uds_path, "%s/vm3.vsock", dir);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.json", dir);
    static char vm[760];
    snprintf(vm, sizeof vm, "guest-cid=3,socket=%s,uds-path=%s,queue-size=%u", sock_path, uds_path, VG_QSIZE);
    char *args[] = { "--vm", vm, "--metrics", metrics_path, "--metrics-interval", "1", "--log-level", "info", NULL };
    return vt_spawn(binary, dir, args);
}

int main(int argc, char **argv)
{
    VT_REQUIRE(argc == 2, "usage: vhost_user_early <daemon>");
    pid_t daemon = start_daemon(argv[1]);

    /* 1. The hybrid socket before any frontend. */
    struct stat st;
    bool bound; VT_UNTIL(bound, 10000, stat(uds_path, &st) == 0 && S_ISSOCK(st.st_mode), usleep(10000));
    VT_REQUIRE(bound, "%s not bound while no frontend is connected", uds_path);
    bool m0; VT_UNTIL(m0, 5000, access(metrics_path, R_OK) == 0, usleep(10000));
    VT_CHECK(m0, "no metrics file at start");
    int early = connect_unix(uds_path), half = connect_unix(uds_path), junk = connect_unix(uds_path);
    VT_REQUIRE(early >= 0 && half >= 0 && junk >= 0, "connect to %s before the VM: %s", uds_path, strerror(errno));
    const uint64_t pipelined = 3000;
    char first[16 + 3000];
    int len = snprintf(first, 16, "CONNECT 5000\n");
    for (uint64_t k = 0; k < pipelined; k++) first[len + k] = (char)vg_pattern(21, k);
    VT_CHECK(write(early, first, (size_t)len + pipelined) == (ssize_t)(len + pipelined), "early write");
    VT_CHECK(write(half, "CONN", 4) == 4, "half write");
    VT_CHECK(write(junk, "HELLO 5000\n", 11) == 11, "junk write");
    usleep(300000);  /* nothing may answer while no device runs */
    struct pollfd p = { .fd = early, .events = POLLIN };
    VT_CHECK(poll(&p, 1, 0) == 0, "the early client got an answer before the VM existed");

    /* The VM comes up, its guest listening on 5000: the early client is served. */
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    /* host -> guest: the pipelined bytes are pattern 21; guest -> host 22 */
    VT_REQUIRE(vg_listen_seeded(&g, 5000, 21, 22) == 0, "vg_listen");
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 5000) == 0, "frontend connect");
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation");
    /* The device's loop takes the early clients once it runs: their 5 s handshake clock starts about now. */
    int64_t device_up = vg_now_ms();
    vg_conn *c = NULL;
    VT_UNTIL(bound, 10000, (c = vg_accept(&g, 5000)) != NULL, vg_pump(&g); vg_wait(&g, 2));
    VT_REQUIRE(c != NULL, "the early CONNECT never reached the guest");
    char line[64];
    int n = read_line(early, line, sizeof line, 5000);
    VT_CHECK(n > 3 && strncmp(line, "OK ", 3) == 0, "early client: expected \"OK <port>\", got \"%s\"", n > 0 ? line : "(nothing)");
    fcntl(early, F_SETFL, O_NONBLOCK);
    vt_host h = { .fd = early, .seed_out = 21, .seed_in = 22, .sent = pipelined };
    const uint64_t total = 1u << 20;
    bool moved; VT_UNTIL(moved, 20000, c->received == total && h.received == total, {
        vg_send(&g, c, total - c->sent);
        vg_pump(&g);
        vt_host_pump(&h, total);
        vg_wait(&g, 2);
    });
    VT_CHECK(moved, "early client: guest got %llu/%llu (the first %llu written before the VM), host got %llu/%llu",
             (unsigned long long)c->received, (unsigned long long)total, (unsigned long long)pipelined,
             (unsigned long long)h.received, (unsigned long long)total);
    VT_CHECK(c->bad_bytes == 0 && h.bad == 0, "pattern broken: guest %llu, host %llu bad bytes", (unsigned long long)c->bad_bytes,
             (unsigned long long)h.bad);
    VT_CHECK(closed_within(junk, 3000), "a client that wrote a bad line before the VM was not closed");
    int64_t started = vg_now_ms();
    /* Not closed before its 5 s are up (counted from the device's start, with a margin: on a loaded
     * machine the transfer above may have taken most of them), closed soon after. */
    int64_t left = device_up + 4500 - started;
    if (left > 0) VT_CHECK(!closed_within(half, (int)left), "a half line was closed before the handshake timeout");
    VT_CHECK(closed_within(half, 8000), "a half line written before the VM was not closed after the handshake timeout");
    VT_CHECK(vg_now_ms() - device_up >= 4500, "a half line was closed %lld ms after the device started, before its 5 s",
             (long long)(vg_now_ms() - device_up));
    printf("early: a CONNECT written before the VM was served (%llu pipelined bytes kept), a half line closed after %.1f s\n",
           (unsigned long long)pipelined, (double)(vg_now_ms() - started) / 1000);

    /* 3. Metrics while the connection is open. */
    char *before = slurp(metrics_path);
    long long t0 = timestamp_of(before);
    bool ticked; char *now = NULL;
    VT_UNTIL(ticked, 5000, (free(now), now = slurp(metrics_path), timestamp_of(now) > t0), { vg_pump(&g); usleep(50000); });
    VT_CHECK(ticked, "the metrics file was not rewritten within --metrics-interval 1");
    VT_CHECK(now != NULL && whole_json(now), "metrics file is not one JSON object: %.200s", now ? now : "(none)");
    VT_CHECK(now && strstr(now, "\"guest_cid\": 3"), "no guest_cid in the metrics");
    VT_CHECK(now && strstr(now, "\"open_connections\": 1"), "the open connection is not in the metrics");
    VT_CHECK(now && strstr(now, "\"host_port\": ") && strstr(now, "\"guest_port\": 5000"), "the connection's ports are missing");
    VT_CHECK(now && strstr(now, "\"frontend_connected\": true"), "frontend_connected is not true");
    VT_CHECK(now && strstr(now, "\"rx_packets\": ") && strstr(now, "\"chains_popped\": ") && strstr(now, "\"ended_connections\": "),
             "device, queue or ended-connection counters missing");
    free(before);
    free(now);
    /* SIGUSR1: written at once (rename), logged in words; a reader never sees half a file. */
    int halves = 0, reads = 0;
    for (int i = 0; i < 200; i++) {
        if (i % 4 == 0) kill(daemon, SIGUSR1);
        char *s = slurp(metrics_path);
        reads++;
        if (s == NULL || !whole_json(s)) halves++;
        free(s);
        vg_pump(&g);
    }
    VT_CHECK(halves == 0, "%d of %d reads saw no file or half a file", halves, reads);
    bool logged; VT_UNTIL(logged, 3000, vt_log_contains(dir, "SIGUSR1: counters written to ") && vt_log_contains(dir, "vm3: frontend connected, device running, "), usleep(20000));
    VT_CHECK(logged, "SIGUSR1 not logged (path and the VM's line in words)");
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", metrics_path);
    /* a write may be under way right now (the 1 s interval, the last SIGUSR1): left behind means it stays */
    bool gone; VT_UNTIL(gone, 3000, access(tmp, F_OK) != 0, usleep(10000));
    VT_CHECK(gone, "the temporary metrics file is left behind");

    close(early);
    close(half);
    close(junk);
    vg_vu_disconnect(&g);
    vg_destroy(&g);

    /* The listener outlives the frontend: a client can connect while no VM runs. */
    usleep(100000);
    int again = connect_unix(uds_path);
    VT_CHECK(again >= 0, "the hybrid socket is gone after the frontend disconnected");
    if (again >= 0) close(again);

    /* 2. queue-size. */
    queue_size_limit();

    int status = vt_stop(daemon);
    VT_CHECK(status == 0, "daemon exit status %d after SIGTERM", status);
    VT_CHECK(stat(uds_path, &st) < 0 && errno == ENOENT, "the daemon left %s behind", uds_path);
    VT_CHECK(stat(sock_path, &st) < 0 && errno == ENOENT, "the daemon left %s behind", sock_path);
    return vt_finish(dir);
}
