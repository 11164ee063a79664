/*
 * vu_test_util.h: shared pieces of the vhost-user daemon tests: starting the daemon, host-side
 * stream sockets, daemon fd and mapping counts, checks.
 */
#ifndef VU_TEST_UTIL_H
#define VU_TEST_UTIL_H

#include "vu_guest.h"
#include "vsn_sock.h" /* vt_unix_listen, vt_accept */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

extern int vt_failures;

#define VT_CHECK(cond, ...)                                                                                \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                \
            fprintf(stderr, __VA_ARGS__);                                                                  \
            fprintf(stderr, "\n");                                                                         \
            vt_failures++;                                                                                 \
        }                                                                                                  \
    } while (0)

#define VT_REQUIRE(cond, ...)                                                                              \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            VT_CHECK(cond, __VA_ARGS__);                                                                   \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

/* Starts the daemon binary with the given arguments (NULL-terminated); stderr goes to
 * <dir>/daemon.log. Returns its pid. */
pid_t vt_spawn(const char *daemon, const char *dir, char *const args[]);
/* SIGTERM, then waits; returns the exit status (or -signal). */
int vt_stop(pid_t pid);
/* Number of open fds / memfd mappings of a process. */
int vt_fd_count(pid_t pid);
int vt_memfd_maps(pid_t pid);
/* The lowest fd number a process does not use (the next one the kernel gives it): a RLIMIT_NOFILE
 * lowered to it (prlimit) leaves the process no fd to open. */
int vt_lowest_free_fd(pid_t pid);
/* CPU time (user + system) a process has used, in seconds, from /proc/<pid>/stat; -1 on error. */
double vt_cpu_seconds(pid_t pid);
/* A scratch directory /tmp/<prefix>_XXXXXX into dir (exits on failure). */
void vt_tmpdir(char *dir, size_t size, const char *prefix);
/* A vhost-user connection to the daemon at path with REPLY_ACK negotiated (exits on failure). */
int vt_connect_reply_ack(const char *path);
/* The end of a test: on failure the tail of <dir>/daemon.log to stderr; "PASS"/"FAIL: n failure(s)";
 * returns the exit status (0 or 1). */
int vt_finish(const char *dir);
/* True when <dir>/daemon.log has a line containing text. */
bool vt_log_contains(const char *dir, const char *text);


/* One host-side stream with the pattern in both directions. */
typedef struct vt_host {
    int fd;
    uint8_t seed_out, seed_in;
    uint64_t sent, received, bad;
    bool eof;
} vt_host;
/* Writes up to `want` total bytes and reads what is there; returns bytes moved. */
size_t vt_host_pump(vt_host *h, uint64_t want_sent);

/* One round: the guest pumps its rings, the host stream (if any) moves toward host_want sent, then
 * a short wait for an interrupt. */
void vt_guest_pump(vg *g, vt_host *h, uint64_t host_want);
/* Moves `bytes` more in each direction over (guest conn, host stream), checking the pattern. */
void vt_vu_transfer(vg *g, vg_conn *c, vt_host *h, uint64_t bytes);
/* Opens a guest->host connection to host port `port`, served by the "<uds>_<port>" listener;
 * exits on failure. */
vg_conn *vt_open_stream(vg *g, int listener, uint32_t port, vt_host *h, uint8_t seed);

/* Sets ok to cond, running the statements after it until cond holds or timeout_ms passed. */
#define VT_UNTIL(ok, timeout_ms, cond, ...)                                                                \
    do {                                                                                                   \
        int64_t vt_deadline_ = vg_now_ms() + (timeout_ms);                                                 \
        while (!((ok) = (cond)) && vg_now_ms() < vt_deadline_) {                                           \
            __VA_ARGS__;                                                                                   \
        }                                                                                                  \
    } while (0)

#endif
