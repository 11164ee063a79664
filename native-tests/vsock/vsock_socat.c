/*
 * vsock_socat.c — real host programs as peers: socat on both host endpoints of the device, the
 * guest played by the C guest stack. Nothing here knows the device's internals; the bytes are
 * checked against a position-dependent pattern end to end.
 *
 *  1. socat as the service behind "<uds>_5000" (UNIX-LISTEN, EXEC:cat = an echo server): the guest
 *     connects, sends 1 MiB, reads the echo, half-closes (SHUTDOWN SEND); cat sees EOF, exits, and
 *     the guest gets the device's SHUTDOWN once every echoed byte is delivered; the guest's RST
 *     ends it and the device frees the connection.
 *  2. socat as a client of the hybrid socket "<uds>": it writes "CONNECT 1234\n" and 200 000 bytes
 *     from a file, the guest (listening on 1234) checks them and answers 150 000 bytes, then
 *     closes; socat's output is "OK <port>\n" followed by exactly those bytes.
 *  3. socat -u writes "CONNECT 1236\n" and data and leaves before the guest saw the REQUEST: the
 *     guest still accepts, reads the data, then end of stream (SHUTDOWN), never a reset.
 *  4. socat to a port nobody listens on: the device closes the Unix connection without "OK".
 */
#include "guest_stack.h"
#include "vsn_check.h"
#include "vt_util.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T 15000

extern char **environ;
static char g_dir[64], g_uds[128];

static pid_t spawn_sh(const char *cmd)
{
    pid_t pid;
    char *argv[] = { "sh", "-c", (char *)cmd, NULL };
    int rc = posix_spawnp(&pid, "sh", NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "posix_spawnp sh -c '%s': %s\n", cmd, strerror(rc));
        return -1;
    }
    return pid;
}

/* Non-blocking waitpid: true once the child exited (status in *st). */
static bool reaped(pid_t pid, int *st)
{
    return waitpid(pid, st, WNOHANG) == pid;
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void test_echo_listener(gs_stack *s)
{
    bool ok;
    char path[160], cmd[512];
    snprintf(path, sizeof path, "%s_5000", g_uds);
    snprintf(cmd, sizeof cmd, "exec socat UNIX-LISTEN:%s EXEC:cat", path);
    pid_t pid = spawn_sh(cmd);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    int64_t dl = gs_now_ms() + T;
    while (!file_exists(path) && gs_now_ms() < dl)
        gs_pump(s, 5);
    gs_conn *c = gs_connect(s, 5000, 0);
    VT_WAIT(s, T, c->state != GS_CONNECTING, "the device's answer to a REQUEST for socat's listener", ok);
    CHECK_EQ(c->state, GS_ESTABLISHED);
    const size_t total = 1u << 20;
    static uint8_t out[1u << 20], in[1u << 20];
    vt_pat_fill(51, 0, out, total);
    size_t sent = 0, got = 0;
    VT_WAIT(s, T, (sent += gs_send(s, c, out + sent, total - sent),
                   got += gs_recv(s, c, in + got, total - got), got == total),
            "1 MiB echoed by socat", ok);
    CHECK_EQ(vt_pat_check(51, 0, in, got), total);
    CHECK_EQ(gs_shutdown(s, c, VSN_VIRTIO_VSOCK_SHUTDOWN_SEND), 0);
    VT_WAIT(s, T, (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) != 0,
            "SHUTDOWN(SEND) once cat saw EOF and socat closed", ok);
    CHECK_EQ(c->bytes_received, total);
    CHECK_EQ(c->credit_violations, 0);
    int st = 0;
    VT_WAIT(s, T, reaped(pid, &st), "socat to exit", ok);
    if (!ok) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* both directions are shut now: the guest stack ends with RST, as Linux does, and the device
     * frees the connection */
    VT_WAIT(s, T, c->rst_sent, "the guest's RST after the device's full SHUTDOWN", ok);
    uint32_t open_conns = 99;
    VT_WAIT(s, T, (vsn_device_get_connections(gs_device(s), NULL, 0, sizeof(vsn_connection_info), &open_conns), open_conns == 0),
            "the device to free the connection", ok);
    unlink(path);
}

static void test_hybrid_client(gs_stack *s)
{
    bool ok;
    const size_t up = 200000, down = 150000;
    char src[160], dst[160], cmd[768];
    snprintf(src, sizeof src, "%s/up.bin", g_dir);
    snprintf(dst, sizeof dst, "%s/down.bin", g_dir);
    static uint8_t buf[200000];
    vt_pat_fill(61, 0, buf, up);
    FILE *f = fopen(src, "wb");
    CHECK(f != NULL && fwrite(buf, 1, up, f) == up);
    if (f) fclose(f);
    CHECK_EQ(gs_listen(s, 1234), 0);
    /* "connect" in lower case: matched case-insensitively, as Firecracker does */
    snprintf(cmd, sizeof cmd, "(printf 'connect 1234\\n'; cat %s) | exec socat -t 30 - UNIX-CONNECT:%s > %s",
             src, g_uds, dst);
    pid_t pid = spawn_sh(cmd);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    gs_conn *c = NULL;
    VT_WAIT(s, T, (c = gs_accept(s, 1234)) != NULL, "the device's REQUEST for socat's CONNECT", ok);
    if (c == NULL) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return;
    }
    size_t got = 0;
    static uint8_t in[200000], out[150000];
    VT_WAIT(s, T, (got += gs_recv(s, c, in + got, up - got), got == up), "socat's file in the guest", ok);
    CHECK_EQ(vt_pat_check(61, 0, in, got), up);
    vt_pat_fill(62, 0, out, down);
    size_t sent = 0;
    VT_WAIT(s, T, (sent += gs_send(s, c, out + sent, down - sent), sent == down), "the answer sent", ok);
    gs_shutdown(s, c, 3);
    int st = 0;
    VT_WAIT(s, T, reaped(pid, &st), "socat to finish", ok);
    if (!ok) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* socat's output: "OK <host port>\n" then the guest's bytes, nothing else */
    static uint8_t res[150000 + 64];
    f = fopen(dst, "rb");
    size_t n = f ? fread(res, 1, sizeof res, f) : 0;
    if (f) fclose(f);
    char expect[32];
    int el = snprintf(expect, sizeof expect, "OK %u\n", c->host_port);
    CHECK(c->host_port >= (1u << 30) && c->host_port < (1u << 31));
    CHECK_EQ(n, (size_t)el + down);
    CHECK(n >= (size_t)el && memcmp(res, expect, (size_t)el) == 0);
    if (n == (size_t)el + down)
        CHECK_EQ(vt_pat_check(62, 0, res + el, down), down);
    unlink(src);
    unlink(dst);
}

/* socat -u: writes the CONNECT line and its data, then closes at once, before the guest has even
 * seen the REQUEST. Its bytes are the guest's, followed by end of stream (SHUTDOWN), not a reset. */
static void test_hybrid_fire_and_forget(gs_stack *s)
{
    bool ok;
    char cmd[512];
    CHECK_EQ(gs_listen(s, 1236), 0);
    snprintf(cmd, sizeof cmd, "printf 'CONNECT 1236\\nfire-and-forget' | exec socat -u - UNIX-CONNECT:%s", g_uds);
    pid_t pid = spawn_sh(cmd);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    /* The device runs only when pumped: without pumping, socat's connection waits in the hybrid
     * listener's backlog, so the device reads the line, the data and the end together and sends
     * its REQUEST for a client that is already gone. */
    int st = 0;
    int64_t dl = gs_now_ms() + T;
    while (!reaped(pid, &st) && gs_now_ms() < dl)
        usleep(1000);
    if (gs_now_ms() >= dl) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gs_conn *c = NULL;
    VT_WAIT(s, T, (c = gs_accept(s, 1236)) != NULL, "the REQUEST of the departed client", ok);
    if (c == NULL)
        return;
    uint8_t got[32];
    size_t glen = 0;
    VT_WAIT(s, T, (glen += gs_recv(s, c, got + glen, sizeof got - glen),
                   (c->peer_shutdown & VSN_VIRTIO_VSOCK_SHUTDOWN_SEND) != 0 || c->rst_received),
            "the client's bytes, then its end of stream", ok);
    glen += gs_recv(s, c, got + glen, sizeof got - glen);
    CHECK(!c->rst_received);
    CHECK_EQ(glen, 15);
    CHECK(glen == 15 && memcmp(got, "fire-and-forget", 15) == 0);
}

static void test_hybrid_refused(gs_stack *s)
{
    bool ok;
    char dst[160], cmd[512];
    snprintf(dst, sizeof dst, "%s/refused.out", g_dir);
    /* nobody listens on guest port 4321: the guest stack answers the REQUEST with RST */
    snprintf(cmd, sizeof cmd, "printf 'CONNECT 4321\\n' | exec socat -t 30 - UNIX-CONNECT:%s > %s", g_uds, dst);
    pid_t pid = spawn_sh(cmd);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    int st = 0;
    VT_WAIT(s, T, reaped(pid, &st), "socat to see the connection closed", ok);
    if (!ok) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    struct stat sb;
    CHECK(stat(dst, &sb) == 0 && sb.st_size == 0); /* no "OK" for a refused connection */
    unlink(dst);
}

#define CASES(X) \
    X(echo_listener, test_echo_listener(s)) \
    X(hybrid_client, test_hybrid_client(s)) \
    X(hybrid_fire_and_forget, test_hybrid_fire_and_forget(s)) \
    X(hybrid_refused, test_hybrid_refused(s))
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    signal(SIGPIPE, SIG_IGN);
    strcpy(g_dir, "/tmp/vsn_socatXXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_uds, sizeof g_uds, "%s/vsock", g_dir);
    gs_config cfg = gs_config_default();
    cfg.uds_path = g_uds;
    gs_stack *s = vt_create_stack(&cfg, "vsock_socat");
    CASES(VSN_CASE_RUN)
    gs_destroy(&s);
    unlink(g_uds);
    rmdir(g_dir);
    return vsn_check_summary("vsock_socat");
}
