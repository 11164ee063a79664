/* vu_test_util.c: see vu_test_util.h. */
#include "vu_test_util.h"
#include "../../src/vhost-user-vsock/vhost_user.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int vt_failures;
static pid_t spawned = -1;

/* A test that gives up (VT_REQUIRE) must not leave its daemon behind. */
static void kill_spawned(void)
{
    if (spawned > 0 && kill(spawned, 0) == 0) {
        kill(spawned, SIGKILL);
        waitpid(spawned, NULL, 0);
    }
}

pid_t vt_spawn(const char *daemon, const char *dir, char *const args[])
{
    char log[512];
    snprintf(log, sizeof log, "%s/daemon.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0) dup2(fd, 2);
        if (null >= 0) {
            dup2(null, 0);  /* stdin and stdout never a pipe of the test's caller */
            dup2(null, 1);
        }
        char *argv[64] = { (char *)daemon };
        int n = 1;
        for (; args[n - 1] != NULL && n < 63; n++) argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(daemon, argv);
        _exit(127);
    }
    spawned = pid;
    atexit(kill_spawned);
    return pid;
}

int vt_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1000;
    if (pid == spawned) spawned = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

int vt_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

int vt_memfd_maps(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, "/memfd:vu_guest") != NULL) n++;
    fclose(f);
    return n;
}

int vt_lowest_free_fd(pid_t pid)
{
    char path[64];
    static bool used[4096];
    memset(used, 0, sizeof used);
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && atoi(e->d_name) < 4096) used[atoi(e->d_name)] = true;
    if (d != NULL) closedir(d);
    int k = 0;
    while (k < 4096 && used[k]) k++;
    return k;
}

double vt_cpu_seconds(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    /* Fields after "pid (comm)": state is field 3, utime 14, stime 15 (clock ticks). */
    char *p = got != NULL ? strrchr(line, ')') : NULL;
    unsigned long long utime, stime;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

void vt_tmpdir(char *dir, size_t size, const char *prefix)
{
    snprintf(dir, size, "/tmp/%s_XXXXXX", prefix);
    VT_REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
}

int vt_connect_reply_ack(const char *path)
{
    vg g0 = { .sock = -1 };
    VT_REQUIRE(vg_vu_connect(&g0, path, 5000) == 0, "connect to %s", path);
    uint64_t want = 1ull << VU_PROTOCOL_F_REPLY_ACK;
    VT_REQUIRE(vg_vu_send(g0.sock, VU_SET_PROTOCOL_FEATURES, VU_VERSION, &want, 8, NULL, 0) == 0, "send");
    return g0.sock;
}

int vt_finish(const char *dir)
{
    if (vt_failures) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 40 %s/daemon.log >&2", dir);
        if (system(cmd) != 0) fprintf(stderr, "(no daemon log)\n");
    }
    printf("%s: %d failure(s)\n", vt_failures ? "FAIL" : "PASS", vt_failures);
    return vt_failures ? 1 : 0;
}

bool vt_log_contains(const char *dir, const char *text)
{
    char path[512], line[2048];
    snprintf(path, sizeof path, "%s/daemon.log", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

size_t vt_host_pump(vt_host *h, uint64_t want_sent)
{
    uint8_t buf[65536];
    size_t moved = 0;
    while (h->sent < want_sent) {
        size_t n = want_sent - h->sent < sizeof buf ? (size_t)(want_sent - h->sent) : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = vg_pattern(h->seed_out, h->sent + i);
        ssize_t w = send(h->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0) break;
        h->sent += (uint64_t)w;
        moved += (size_t)w;
    }
    while (1) {
        ssize_t r = recv(h->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0) h->eof = true;
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != vg_pattern(h->seed_in, h->received + (uint64_t)i)) h->bad++;
        h->received += (uint64_t)r;
        moved += (size_t)r;
    }
    return moved;
}

/* ---- streams (vu_test_util.h) ---- */

void vt_guest_pump(vg *g, vt_host *h, uint64_t host_want)
{
    vg_pump(g);
    if (h != NULL) vt_host_pump(h, host_want);
    vg_wait(g, 2);
}

/* Moves `bytes` more in each direction over (guest conn, host stream), checking the pattern. */
void vt_vu_transfer(vg *g, vg_conn *c, vt_host *h, uint64_t bytes)
{
    uint64_t g_target = c->sent + bytes, h_target = h->sent + bytes;
    bool done; VT_UNTIL(done, 60000, c->sent == g_target && h->received == g_target && c->received == h_target && h->sent == h_target, {
        vg_send(g, c, g_target - c->sent);
        vt_guest_pump(g, h, h_target);
    });
    VT_CHECK(done, "transfer: guest sent %llu/%llu, host got %llu, host sent %llu/%llu, guest got %llu",
             (unsigned long long)c->sent, (unsigned long long)g_target, (unsigned long long)h->received,
             (unsigned long long)h->sent, (unsigned long long)h_target, (unsigned long long)c->received);
    VT_CHECK(c->bad_bytes == 0 && h->bad == 0, "pattern broken: guest saw %llu bad bytes, host %llu",
             (unsigned long long)c->bad_bytes, (unsigned long long)h->bad);
    VT_CHECK(c->credit_violations == 0, "the device sent beyond the guest's credit %llu times", (unsigned long long)c->credit_violations);
}

vg_conn *vt_open_stream(vg *g, int listener, uint32_t port, vt_host *h, uint8_t seed)
{
    vg_conn *c = vg_connect(g, VG_HOST_CID, port, seed);
    VT_REQUIRE(c != NULL, "vg_connect");
    memset(h, 0, sizeof *h);
    h->fd = -1;
    h->seed_out = (uint8_t)(seed + 1);
    h->seed_in = seed;
    bool ok; VT_UNTIL(ok, 10000, c->state == VG_ESTABLISHED && h->fd >= 0, {
        if (h->fd < 0) h->fd = vt_accept(listener);
        vt_guest_pump(g, NULL, 0);
    });
    VT_REQUIRE(ok, "stream not established (state %d, host fd %d)", c->state, h->fd);
    return c;
}
