/*
 * vsn_sock.h — host-side socket helpers of every C harness (vsock/, vhost-user/): non-blocking
 * Unix stream sockets serviced from the test's own loop. Header-only; every function returns a
 * non-negative value or a negative errno.
 */
#ifndef VSN_SOCK_H
#define VSN_SOCK_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- Unix sockets ------------------------------------------------------------------------- */

/* Fills a Unix socket address; -ENAMETOOLONG when the path does not fit. */
static inline int vt_unix_addr(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path)
        return -ENAMETOOLONG;
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

/* A non-blocking stream listener with the given backlog (0: one pending connect fills it). */
static inline int vt_unix_listen_backlog(const char *path, int backlog)
{
    struct sockaddr_un a;
    int rc = vt_unix_addr(path, &a);
    if (rc != 0)
        return rc;
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static inline int vt_unix_listen(const char *path)
{
    return vt_unix_listen_backlog(path, 16);
}

/* Connects a stream socket created with sock_flags: SOCK_NONBLOCK makes the connect itself
 * non-blocking (-EAGAIN: the listener's backlog is full). */
static inline int vt_unix_connect_as(const char *path, int sock_flags)
{
    struct sockaddr_un a;
    int rc = vt_unix_addr(path, &a);
    if (rc != 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* Connects (blocking connect, then non-blocking fd). */
static inline int vt_unix_connect(const char *path)
{
    int fd = vt_unix_connect_as(path, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static inline int vt_accept(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

/* read(): > 0 bytes, 0 EOF, -EAGAIN nothing now, other -errno. */
static inline ssize_t vt_read(int fd, void *buf, size_t cap)
{
    ssize_t n = read(fd, buf, cap);
    return n >= 0 ? n : -errno;
}

static inline ssize_t vt_write(int fd, const void *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    return n >= 0 ? n : -errno;
}

/* Appends what the fd has now to buf (up to cap; bytes beyond cap are counted in *len but
 * dropped); sets *eof on end of stream, *err on an error other than EAGAIN. */
static inline void vt_drain(int fd, uint8_t *buf, size_t cap, size_t *len, bool *eof, int *err)
{
    for (;;) {
        if (*len >= cap) {
            uint8_t junk[256];
            ssize_t n = vt_read(fd, junk, sizeof junk);
            if (n > 0) {
                *len += (size_t)n; /* over-long: caller sees len > expected */
                continue;
            }
            if (n == 0) *eof = true;
            else if (n != -EAGAIN) *err = (int)n;
            return;
        }
        ssize_t n = vt_read(fd, buf + *len, cap - *len);
        if (n > 0) {
            *len += (size_t)n;
            continue;
        }
        if (n == 0)
            *eof = true;
        else if (n != -EAGAIN)
            *err = (int)n;
        return;
    }
}

#endif /* VSN_SOCK_H */
