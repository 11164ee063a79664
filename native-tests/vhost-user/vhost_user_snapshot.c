/*
 * vhost_user_snapshot.c: the daemon's device state (VHOST_USER_PROTOCOL_F_DEVICE_STATE) with the
 * vhost-user frontend written here (vu_guest.c) playing QEMU; QEMU 7.2 cannot migrate
 * vhost-user-vsock, so no QEMU is involved.
 *
 *  migrate     A guest streams both ways through daemon A; with data in flight both ways the
 *              frontend stops the rings (GET_VRING_BASE), saves the state (SET_DEVICE_STATE_FD save,
 *              read to EOF, CHECK_DEVICE_STATE) and disconnects; daemon A exits and its host peers see
 *              their streams end. A NEW daemon process B on the same sockets gets the same memfd
 *              memory, the rings at the saved bases and the state (SET_DEVICE_STATE_FD load +
 *              CHECK_DEVICE_STATE: 0). The frontend keeps the event queue, so it is the one that
 *              posts TRANSPORT_RESET (as QEMU does after loading): the guest resets its sockets,
 *              the tx chains made available before the save are processed by B, and the guest
 *              reconnects both ways (guest -> host, host -> guest through the hybrid socket) with
 *              pattern-checked data.
 *  new_process The C ABI across processes, without vhost-user: the guest's device runs in this
 *              process (own event loop, the guest's eventfds); with data in flight it is stopped,
 *              saved (the blob into a file) and destroyed (host peers' streams end); this harness
 *              runs itself again (fork + exec, "--child") with the memfd and the eventfds inherited:
 *              the child maps the same memory, creates a device, restores the blob (the queue bases
 *              read back as saved), sets the rings up with the inherited fds and runs it; the guest,
 *              here, reconnects both ways through the child's device with checked data.
 *  bad_state   Garbage as state: CHECK_DEVICE_STATE answers an error, the device starts fresh and
 *              carries a stream; SET_DEVICE_STATE_FD without the feature, with a bad phase or
 *              direction: an error in the reply; without its fd: a disconnect. The daemon serves on
 *              with no fd left behind.
 *
 * Usage: vhost_user_snapshot <daemon binary>
 */
#include "../../src/vhost-user-vsock/vhost_user.h"
#include "vu_test_util.h"
#include "vsn_case.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256], sock_path[300], uds_path[300], daemon_bin[512];

static pid_t spawn_daemon(void)
{
    static char vm[700];
    snprintf(vm, sizeof vm, "guest-cid=3,socket=%s,uds-path=%s", sock_path, uds_path);
    char *args[] = { "--vm", vm, "--log-level", "info", NULL };
    return vt_spawn(daemon_bin, dir, args);
}

static int port_listener(uint32_t port)
{
    char path[320];
    snprintf(path, sizeof path, "%s_%u", uds_path, port);
    unlink(path);
    int fd = vt_unix_listen(path);
    VT_REQUIRE(fd >= 0, "listen %s", path);
    return fd;
}

/* What the guest driver does when the frontend's TRANSPORT_RESET event arrives: every socket reset. */
static void transport_reset(vg *g)
{
    for (unsigned i = 0; i < VG_MAX_CONNS; i++)
        if (g->conns[i].state == VG_CONNECTING || g->conns[i].state == VG_ESTABLISHED) g->conns[i].state = VG_RESET;
}

/* The host end of a hybrid connection into guest port `port`: "CONNECT port\n", then "OK ...\n". */
static vg_conn *hybrid_into_guest(vg *g, uint32_t port, vt_host *h, uint8_t seed)
{
    VT_REQUIRE(vg_listen_seeded(g, port, seed, (uint8_t)(seed + 1)) == 0, "vg_listen");
    memset(h, 0, sizeof *h);
    h->fd = vt_unix_connect(uds_path);
    VT_REQUIRE(h->fd >= 0, "connect %s", uds_path);
    h->seed_out = seed;
    h->seed_in = (uint8_t)(seed + 1);
    char line[32];
    int n = snprintf(line, sizeof line, "CONNECT %u\n", port);
    VT_REQUIRE(write(h->fd, line, (size_t)n) == n, "CONNECT line");
    vg_conn *c = NULL;
    char ok[64];
    size_t got = 0;
    bool done; VT_UNTIL(done, 10000, c != NULL && got > 0 && ok[got - 1] == '\n', {
        if (c == NULL) c = vg_accept(g, port);
        struct pollfd p = { .fd = h->fd, .events = POLLIN };
        if (got < sizeof ok - 1 && poll(&p, 1, 0) == 1) {
            ssize_t r = read(h->fd, ok + got, 1);  /* byte by byte: nothing past the line */
            if (r > 0) got++;
        }
        vt_guest_pump(g, NULL, 0);
    });
    VT_REQUIRE(done, "hybrid connection into guest port %u", port);
    return c;
}

static void migrate(void)
{
    pid_t a = spawn_daemon();
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    g.device_state = true;
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 10000) == 0, "connect to daemon A");
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation with daemon A");
    int listener = port_listener(5000);
    vt_host h;
    vg_conn *c = vt_open_stream(&g, listener, 5000, &h, 1);
    vt_vu_transfer(&g, c, &h, 1u << 20);
    vt_host h0;
    vg_conn *c0 = hybrid_into_guest(&g, 6000, &h0, 51);  /* takes a host port from A's allocator */
    vt_vu_transfer(&g, c0, &h0, 64u * 1024);
    uint32_t port_a = c0->peer_port;

    /* In flight both ways, then stop and save. */
    vg_send(&g, c, 100000);
    vt_host_pump(&h, h.sent + 100000);
    uint8_t state[65536];
    long len = vg_vu_save_state(&g, state, sizeof state);
    VT_REQUIRE(len > 16, "save the device state (%ld)", len);
    VT_CHECK(memcmp(state, "VSNS", 4) == 0, "the state starts with its magic");
    /* chains the guest makes available after the stop: the next device's (the data as far as the
     * credit the guest knows allows, then a SHUTDOWN, which needs none: at least one chain waits) */
    vg_send(&g, c, 30000);
    VT_REQUIRE(vg_shutdown(&g, c, 2) == 0, "a SHUTDOWN chain after the stop");
    uint16_t tx_avail = vg_avail_idx(&g, VG_TX);
    VT_CHECK((uint16_t)(tx_avail - g.bases[1]) <= VG_QSIZE && tx_avail != g.bases[1], "tx base %u vs avail %u", g.bases[1], tx_avail);
    printf("migrate: %ld bytes of state, bases rx %u tx %u, %u tx chains not processed yet\n", len, g.bases[0], g.bases[1],
           (uint16_t)(tx_avail - g.bases[1]));
    vg_vu_disconnect(&g);
    VT_CHECK(vt_stop(a) == 0, "daemon A exit status");
    bool ended; VT_UNTIL(ended, 5000, h.eof, { vt_host_pump(&h, h.sent); usleep(5000); });
    VT_CHECK(ended, "the old host peer's stream did not end when daemon A went");
    VT_UNTIL(ended, 5000, h0.eof, { vt_host_pump(&h0, h0.sent); usleep(5000); });
    VT_CHECK(ended, "the old hybrid peer's stream did not end when daemon A went");
    close(h.fd);
    close(h0.fd);

    /* A new daemon process continues the device from the state. */
    pid_t b = spawn_daemon();
    g.load_state = state;
    g.load_len = (size_t)len;
    g.use_bases = true;
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 10000) == 0, "connect to daemon B");
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation with daemon B");
    VT_CHECK(g.load_check == 0, "CHECK_DEVICE_STATE answered %lld", (long long)g.load_check);
    VT_CHECK(vt_log_contains(dir, "restored"), "daemon B did not log the restore");
    transport_reset(&g);  /* the frontend's TRANSPORT_RESET, as QEMU posts it after loading */
    bool idle; VT_UNTIL(idle, 10000, vg_tx_idle(&g), vt_guest_pump(&g, NULL, 0));
    VT_CHECK(idle, "daemon B did not process the tx chains made available before the save");

    vt_host h2, h3;
    vg_conn *c2 = vt_open_stream(&g, listener, 5000, &h2, 11);
    vt_vu_transfer(&g, c2, &h2, 1u << 20);
    vg_conn *c3 = hybrid_into_guest(&g, 6001, &h3, 21);
    vt_vu_transfer(&g, c3, &h3, 1u << 20);
    /* B's allocator continued from A's: a fresh one would hand out A's port again. */
    VT_CHECK(c3->peer_port != port_a, "host port %u reused after the restore", port_a);
    printf("migrate: guest reconnected through daemon B, 1 MiB each way on two new connections, checked\n");
    close(h2.fd);
    close(h3.fd);
    vg_vu_disconnect(&g);
    vg_destroy(&g);
    close(listener);
    VT_CHECK(vt_stop(b) == 0, "daemon B exit status");
}

/* ---- new_process ---- */

/* The directory part of path (a static copy). */
static const char *dirname_of(const char *path)
{
    static char d[300];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (slash != NULL) *slash = '\0';
    return d;
}

/* The child: argv after "--child": state file, "memfd:offset:size", gpa, then per ring: size desc avail used
 * kick call base; then the fd whose end of file tells it to stop. Exit 0, or the step that failed. */
static int child_main(char **a)
{
    FILE *f = fopen(a[0], "rb");
    static uint8_t state[65536];
    size_t len = f ? fread(state, 1, sizeof state, f) : 0;
    if (f) fclose(f);
    int memfd = -1;
    unsigned long long offset = 0, size = 0;
    uint64_t gpa = strtoull(a[2], NULL, 0);
    struct stat st;
    if (len == 0 || sscanf(a[1], "%d:%llu:%llu", &memfd, &offset, &size) != 3 || fstat(memfd, &st) != 0) return 10;
    uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (base == MAP_FAILED || offset + size > (unsigned long long)st.st_size) return 11;
    void *host = base + offset;
    vsn_device_config dc = { .struct_size = sizeof dc, .guest_cid = 3, .uds_path = uds_path };
    vsn_device *dev = NULL;
    if (vsn_device_create(&dc, &dev) != 0) return 12;
    vsn_mem_region r = { .guest_phys_addr = gpa, .size = size, .host_addr = host };
    if (vsn_device_set_mem_table(dev, &r, 1) != 0) return 13;
    if (vsn_device_restore_state(dev, state, len) != 0) return 14;
    for (uint32_t i = 0; i < 2; i++) {
        char **q = a + 3 + 7 * i;
        uint16_t base = 0;
        if (vsn_queue_get_base(dev, i, &base) != 0 || base != (uint16_t)atoi(q[6])) return 15;  /* resumes where saved */
        vsn_queue_config c = { .struct_size = sizeof c, .size = (uint32_t)atoi(q[0]), .desc_addr = strtoull(q[1], NULL, 0),
                               .avail_addr = strtoull(q[2], NULL, 0), .used_addr = strtoull(q[3], NULL, 0),
                               .kick_fd = atoi(q[4]), .call_fd = atoi(q[5]) };
        if (vsn_queue_setup(dev, i, &c) != 0) return 16;
    }
    if (vsn_device_start(dev) != 0) return 17;
    char b;
    while (read(atoi(a[17]), &b, 1) > 0) {}
    vsn_device_stop(dev);
    vsn_device_destroy(dev);
    return 0;
}

static void keep_across_exec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

static void new_process(void)
{
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    vsn_device_config dc = { .struct_size = sizeof dc, .guest_cid = 3, .uds_path = uds_path };
    vsn_device *dev = NULL;
    VT_REQUIRE(vsn_device_create(&dc, &dev) == 0, "vsn_device_create");
    VT_REQUIRE(vg_attach_device(&g, dev) == 0, "the guest on an in-process device");
    int listener = port_listener(5000);
    vt_host h, h0;
    vg_conn *c = vt_open_stream(&g, listener, 5000, &h, 61);
    vt_vu_transfer(&g, c, &h, 256u * 1024);
    vg_conn *c0 = hybrid_into_guest(&g, 6000, &h0, 63);
    vt_vu_transfer(&g, c0, &h0, 64u * 1024);
    uint32_t port_a = c0->peer_port;
    vg_send(&g, c, 50000);  /* in flight both ways */
    vt_host_pump(&h, h.sent + 50000);

    VT_CHECK(vsn_device_stop(dev) == 0, "stop");
    size_t len = 0;
    static uint8_t state[65536];
    VT_CHECK(vsn_device_save_state(dev, state, sizeof state, &len) == 0, "save");
    uint16_t base[2] = { 0, 0 };
    for (uint32_t i = 0; i < 2; i++) VT_CHECK(vsn_queue_get_base(dev, i, &base[i]) == 0, "get_base");
    VT_CHECK(vsn_device_destroy(dev) == 0, "destroy");
    vg_send(&g, c, 20000);  /* chains made available after the stop: the child's device takes them */
    VT_CHECK(vg_avail_idx(&g, VG_TX) != base[1], "no tx chain waits for the child");
    bool ended; VT_UNTIL(ended, 5000, h.eof && h0.eof, { vt_host_pump(&h, h.sent); vt_host_pump(&h0, h0.sent); usleep(5000); });
    VT_CHECK(ended, "the old device's host peers did not see their streams end");
    close(h.fd);
    close(h0.fd);
    char path[320];
    snprintf(path, sizeof path, "%s/state.bin", dir);
    FILE *f = fopen(path, "wb");
    VT_REQUIRE(f != NULL && fwrite(state, 1, len, f) == len && fclose(f) == 0, "write %s", path);

    int memfd;
    uint64_t off;
    uint32_t nreg = 0;
    const vsn_sim_region *reg = vsn_sim_mem_regions(g.mem, &nreg);
    VT_REQUIRE(nreg == 1 && vsn_sim_mem_region_fd(g.mem, 0, &memfd, &off) == 0, "memfd");
    int done[2];
    VT_REQUIRE(pipe(done) == 0, "pipe");
    static char args[18][320];
    char *argv[22] = { "/proc/self/exe", "--child" };
    snprintf(args[0], sizeof args[0], "%s", path);
    snprintf(args[1], sizeof args[0], "%d:%llu:%llu", memfd, (unsigned long long)off, (unsigned long long)reg[0].size);
    snprintf(args[2], sizeof args[0], "0x%" PRIx64, reg[0].gpa);
    for (uint32_t i = 0; i < 2; i++) {
        vsn_sim_queue_layout lay;
        vsn_sim_queue_layout_get(g.q[i], &lay);
        snprintf(args[3 + 7 * i], sizeof args[0], "%u", lay.queue_size);
        snprintf(args[4 + 7 * i], sizeof args[0], "0x%" PRIx64, lay.desc_gpa);
        snprintf(args[5 + 7 * i], sizeof args[0], "0x%" PRIx64, lay.avail_gpa);
        snprintf(args[6 + 7 * i], sizeof args[0], "0x%" PRIx64, lay.used_gpa);
        snprintf(args[7 + 7 * i], sizeof args[0], "%d", g.kick[i]);
        snprintf(args[8 + 7 * i], sizeof args[0], "%d", g.call[i]);
        snprintf(args[9 + 7 * i], sizeof args[0], "%u", base[i]);
    }
    snprintf(args[17], sizeof args[0], "%d", done[0]);
    for (int i = 0; i < 18; i++) argv[2 + i] = args[i];
    argv[20] = NULL;
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        int keep[] = { memfd, g.kick[0], g.call[0], g.kick[1], g.call[1], done[0] };
        for (unsigned i = 0; i < 6; i++) keep_across_exec(keep[i]);
        close(done[1]);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(done[0]);
    VT_REQUIRE(child > 0, "fork");
    /* The VMM's TRANSPORT_RESET (vg has no event queue: the transport owns it), then the guest goes on. */
    transport_reset(&g);
    bool idle; VT_UNTIL(idle, 10000, vg_tx_idle(&g), vt_guest_pump(&g, NULL, 0));
    VT_CHECK(idle, "the child did not process the tx chains made available before the save");
    vt_host h2, h3;
    vg_conn *c2 = vt_open_stream(&g, listener, 5000, &h2, 65);
    vt_vu_transfer(&g, c2, &h2, 256u * 1024);
    vg_conn *c3 = hybrid_into_guest(&g, 6001, &h3, 67);
    vt_vu_transfer(&g, c3, &h3, 256u * 1024);
    VT_CHECK(c3->peer_port != port_a, "host port %u reused after the restore", port_a);
    close(h2.fd);
    close(h3.fd);
    close(done[1]);
    int status = -1;
    VT_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "the child's status 0x%x (exit code: the step that failed)", status);
    printf("new_process: %zu bytes of state; the guest went on through a device restored in process %d\n", len, (int)child);
    vg_destroy(&g);
    close(listener);
}

static void bad_state(void)
{
    pid_t d = spawn_daemon();
    vg g0;
    VT_REQUIRE(vg_init(&g0, 3) == 0, "vg_init");
    VT_REQUIRE(vg_vu_connect(&g0, sock_path, 10000) == 0, "connect");
    VT_REQUIRE(vg_vu_setup(&g0) == 0, "warm-up negotiation");
    vg_vu_disconnect(&g0);
    vg_destroy(&g0);
    usleep(100000);
    int fds_before = vt_fd_count(d);

    /* Garbage as state: refused at CHECK_DEVICE_STATE; the device starts fresh and works. */
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    vg g;
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    g.device_state = true;
    g.load_state = junk;
    g.load_len = sizeof junk;
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 10000) == 0, "connect");
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation with a garbage state");
    VT_CHECK(g.load_check > 0, "CHECK_DEVICE_STATE answered %lld for garbage", (long long)g.load_check);
    int listener = port_listener(5000);
    vt_host h;
    vg_conn *c = vt_open_stream(&g, listener, 5000, &h, 31);
    vt_vu_transfer(&g, c, &h, 256u * 1024);
    close(h.fd);
    /* A bad phase and a bad direction: an error in the reply, the session goes on. */
    int p[2];
    VT_REQUIRE(pipe(p) == 0, "pipe");
    vu_device_state_params bad[] = { { VU_STATE_SAVE, 1 }, { 7, VU_STATE_PHASE_STOPPED } };
    for (unsigned i = 0; i < 2; i++) {
        uint64_t r = 0;
        VT_CHECK(vg_vu_send(g.sock, VU_SET_DEVICE_STATE_FD, VU_VERSION, &bad[i], sizeof bad[i], &p[0], 1) == 0, "send");
        VT_CHECK(vg_vu_reply(g.sock, VU_SET_DEVICE_STATE_FD, &r, 8, 5000) == 8, "reply");
        VT_CHECK((r & 0xff) != 0, "SET_DEVICE_STATE_FD direction %u phase %u answered 0x%llx", bad[i].direction, bad[i].phase,
                 (unsigned long long)r);
    }
    /* Without its fd: the frontend cannot be told in a u64 it expects with an fd: disconnect. */
    VT_CHECK(vg_vu_send(g.sock, VU_SET_DEVICE_STATE_FD, VU_VERSION, &bad[0], sizeof bad[0], NULL, 0) == 0, "send");
    VT_CHECK(vg_vu_closed(g.sock, 5000), "no disconnect after SET_DEVICE_STATE_FD without an fd");
    vg_vu_disconnect(&g);
    vg_destroy(&g);
    close(p[0]);
    close(p[1]);

    /* Not negotiated: an error in the reply. */
    VT_REQUIRE(vg_init(&g, 3) == 0, "vg_init");
    VT_REQUIRE(vg_vu_connect(&g, sock_path, 10000) == 0, "connect");
    VT_REQUIRE(vg_vu_setup(&g) == 0, "negotiation without DEVICE_STATE");
    VT_CHECK(vg_vu_load_state(g.sock, junk, sizeof junk) != 0, "SET_DEVICE_STATE_FD accepted without the feature");
    c = vt_open_stream(&g, listener, 5000, &h, 41);
    vt_vu_transfer(&g, c, &h, 64u * 1024);
    close(h.fd);
    vg_vu_disconnect(&g);
    vg_destroy(&g);
    close(listener);

    bool clean; VT_UNTIL(clean, 5000, vt_fd_count(d) == fds_before && vt_memfd_maps(d) == 0, usleep(10000));
    VT_CHECK(clean, "daemon holds %d fds (%d before) and %d guest mappings", vt_fd_count(d), fds_before, vt_memfd_maps(d));
    VT_CHECK(vt_stop(d) == 0, "daemon exit status");
}

#define CASES(X) X(migrate, migrate()) X(new_process, new_process()) X(bad_state, bad_state())
static const char *const CASE_NAMES[] = { CASES(VSN_CASE_NAME) };

int main(int argc, char **argv)
{
    if (argc == 20 && strcmp(argv[1], "--child") == 0) {
        snprintf(uds_path, sizeof uds_path, "%.280s/vm3.vsock", dirname_of(argv[2]));
        return child_main(argv + 2);
    }
    VSN_CASES_INIT(argc, argv, CASE_NAMES);
    VT_REQUIRE(argc == 2, "usage: vhost_user_snapshot <daemon>");
    snprintf(daemon_bin, sizeof daemon_bin, "%s", argv[1]);
    vt_tmpdir(dir, sizeof dir, "vu_snapshot");
    snprintf(sock_path, sizeof sock_path, "%s/vhost3.socket", dir);
    snprintf(uds_path, sizeof uds_path, "%s/vm3.vsock", dir);
    CASES(VSN_CASE_RUN)
    vt_failures += vsn_cases_end();
    return vt_finish(dir);
}
