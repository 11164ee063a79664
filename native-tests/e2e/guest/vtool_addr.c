/*
 * vtool_addr.c — addresses and the two ways a connection starts.
 *
 *   vsock:CID:PORT   connect to AF_VSOCK CID:PORT          vsock:PORT   listen on AF_VSOCK PORT
 *   unix:PATH        AF_UNIX connect / listen (listen replaces a stale socket file)
 *   hybrid:PATH:PORT the hybrid-vsock convention (Firecracker, vhost-device-vsock): connect to the
 *                    device's Unix socket PATH, write "CONNECT PORT\n", read "OK <hostport>\n";
 *                    EOF before that line means the guest refused (reported as ECONNREFUSED).
 */
#include "vtool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

const char *vt_errname(int err)
{
    const char *n = strerrorname_np(err);
    return n ? n : "E?";
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 0xFFFFFFFFul)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int vt_parse_addr(const char *text, int listen, vt_addr *out)
{
    memset(out, 0, sizeof *out);
    char buf[256];
    if (strlen(text) >= sizeof buf)
        return -1;
    strcpy(buf, text);
    if (strncmp(buf, "vsock:", 6) == 0) {
        out->family = VT_VSOCK;
        char *a = buf + 6, *colon = strchr(a, ':');
        if (listen)
            return colon ? -1 : parse_u32(a, &out->port);
        if (!colon)
            return -1;
        *colon = 0;
        return parse_u32(a, &out->cid) || parse_u32(colon + 1, &out->port) ? -1 : 0;
    }
    if (strncmp(buf, "unix:", 5) == 0) {
        out->family = VT_UNIX;
        if (strlen(buf + 5) == 0 || strlen(buf + 5) >= sizeof out->path)
            return -1;
        strcpy(out->path, buf + 5);
        return 0;
    }
    if (strncmp(buf, "hybrid:", 7) == 0 && !listen) {
        out->family = VT_HYBRID;
        char *colon = strrchr(buf + 7, ':');
        if (!colon || colon == buf + 7)
            return -1;
        *colon = 0;
        if (strlen(buf + 7) >= sizeof out->path)
            return -1;
        strcpy(out->path, buf + 7);
        return parse_u32(colon + 1, &out->port);
    }
    return -1;
}

static int sock_type(const vt_opts *o)
{
    return (o->seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC;
}

static socklen_t unix_sockaddr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, path); /* length checked by vt_parse_addr */
    return (socklen_t)sizeof *sun;
}

int vt_listen(const vt_opts *o)
{
    int fd;
    if (o->addr.family == VT_VSOCK) {
        struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = o->addr.port };
        fd = socket(AF_VSOCK, sock_type(o), 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&svm, sizeof svm) < 0)
            goto fail;
    } else {
        struct sockaddr_un sun;
        socklen_t len = unix_sockaddr(o->addr.path, &sun);
        unlink(o->addr.path);
        fd = socket(AF_UNIX, sock_type(o), 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sun, len) < 0)
            goto fail;
    }
    if (listen(fd, 64) < 0)
        goto fail;
    printf("VT READY listening\n");
    fflush(stdout);
    return fd;
fail:
    printf("VT FAIL listen: %s (%s)\n", vt_errname(errno), strerror(errno));
    return -1;
}

/* Hybrid handshake: "CONNECT <port>\n" out, one "OK <n>\n" line in, read a byte at a time so no
 * payload byte after the line is swallowed. */
static int hybrid_handshake(int fd, uint32_t port, int *out_errno)
{
    char line[64];
    int n = snprintf(line, sizeof line, "CONNECT %u\n", port);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        *out_errno = errno ? errno : EIO;
        return -1;
    }
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t r = recv(fd, &c, 1, 0);
        if (r == 0) {
            *out_errno = ECONNREFUSED; /* the device closed: the guest refused */
            return -1;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *out_errno = errno;
            return -1;
        }
        if (c == '\n')
            break;
        if (len + 1 >= sizeof line) {
            *out_errno = EPROTO;
            return -1;
        }
        line[len++] = c;
    }
    line[len] = 0;
    if (strncmp(line, "OK ", 3) != 0) {
        printf("VT hybrid: unexpected reply \"%s\"\n", line);
        *out_errno = EPROTO;
        return -1;
    }
    return 0;
}

int vt_connect(const vt_opts *o, int *out_errno)
{
    int fd;
    *out_errno = 0;
    if (o->addr.family == VT_VSOCK) {
        struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = o->addr.cid,
                                   .svm_port = o->addr.port };
        fd = socket(AF_VSOCK, sock_type(o), 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&svm, sizeof svm) < 0)
            goto fail;
        return fd;
    }
    struct sockaddr_un sun;
    socklen_t len = unix_sockaddr(o->addr.path, &sun);
    fd = socket(AF_UNIX, sock_type(o), 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, len) < 0)
        goto fail;
    if (o->addr.family == VT_HYBRID && hybrid_handshake(fd, o->addr.port, out_errno) < 0) {
        close(fd);
        return -1;
    }
    return fd;
fail:
    *out_errno = errno;
    if (fd >= 0)
        close(fd);
    return -1;
}
