/*
 * vtool_xfer.c — one connection's transfer.
 *
 * The sender writes its seed (8 bytes, little-endian; one message on seqpacket), then `send`
 * bytes of its stream (e2e_pattern.h), then shutdown(SHUT_WR). The receiver reads the peer's seed,
 * checks every byte at its offset, and requires EOF after exactly `expect` bytes. On seqpacket the
 * data goes in messages whose sizes follow the sender's seed (vt_msg_size), and the receiver checks
 * that each message arrives whole, alone and with its size: boundaries neither merged nor split.
 * Duplex runs the sender on its own thread so both directions flow at the same time.
 */
#include "vtool.h"
#include "e2e_pattern.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VT_CHUNK (64 * 1024)

typedef struct side {
    const vt_opts *o;
    int fd;
    uint64_t seed;
    uint64_t bytes;
    uint32_t crc;
    uint64_t messages;
    int err;
    char what[160];
} side;

uint32_t vt_msg_size(uint64_t seed, uint64_t k, uint32_t max_msg)
{
    return 1 + (uint32_t)(e2e_word(seed ^ 0x5EC0ull, k) % max_msg);
}

static void side_fail(side *s, int err, const char *fmt, unsigned long long a)
{
    if (s->what[0])
        return;
    s->err = err;
    int n = snprintf(s->what, sizeof s->what, fmt, a);
    if (err && n > 0 && (size_t)n < sizeof s->what)
        snprintf(s->what + n, sizeof s->what - (size_t)n, ": %s", vt_errname(err));
}

static int send_all(int fd, const uint8_t *p, size_t n, int *err)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *sender(void *arg)
{
    side *s = arg;
    const vt_opts *o = s->o;
    size_t cap = o->seqpacket ? o->max_msg : VT_CHUNK;
    uint8_t *buf = malloc(cap > 8 ? cap : 8);
    int err = 0;
    if (!buf) {
        side_fail(s, ENOMEM, "send buffer", 0);
        return NULL;
    }
    uint8_t hdr[8];
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(s->seed >> (8 * i));
    if (send_all(s->fd, hdr, 8, &err) < 0) {
        side_fail(s, err, "send seed header", 0);
        goto out;
    }
    for (uint64_t k = 0; s->bytes < o->send; k++) {
        uint64_t left = o->send - s->bytes;
        size_t n = o->seqpacket ? vt_msg_size(s->seed, k, o->max_msg) : VT_CHUNK;
        if (n > left)
            n = (size_t)left;
        e2e_fill(s->seed, s->bytes, buf, n);
        if (o->corrupt_at && o->corrupt_at - 1 >= s->bytes && o->corrupt_at - 1 < s->bytes + n)
            buf[o->corrupt_at - 1 - s->bytes] ^= 0xFF;
        if (o->seqpacket) {
            ssize_t w = send(s->fd, buf, n, MSG_NOSIGNAL);
            if (w != (ssize_t)n) {
                side_fail(s, w < 0 ? errno : 0, "send message after %llu bytes (short or failed)",
                          (unsigned long long)s->bytes);
                goto out;
            }
        } else if (send_all(s->fd, buf, n, &err) < 0) {
            side_fail(s, err, "send after %llu bytes", (unsigned long long)s->bytes);
            goto out;
        }
        s->crc = e2e_crc32(s->crc, buf, n);
        s->bytes += n;
        s->messages++;
    }
    if (shutdown(s->fd, SHUT_WR) < 0)
        side_fail(s, errno, "shutdown(SHUT_WR) after %llu bytes", (unsigned long long)s->bytes);
out:
    free(buf);
    return NULL;
}

/* Reads exactly n bytes (stream) or one n-byte message (seqpacket). 1 ok, 0 EOF first, -1 error. */
static int recv_exact(const vt_opts *o, int fd, uint8_t *p, size_t n, int *err)
{
    if (o->seqpacket) {
        ssize_t r = recv(fd, p, n, MSG_TRUNC);
        if (r < 0)
            *err = errno;
        else if (r > 0 && (size_t)r != n)
            *err = EMSGSIZE;
        return r < 0 || (r > 0 && (size_t)r != n) ? -1 : r > 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            return -1;
        }
        got += (size_t)r;
    }
    return 1;
}

static void account(side *s, const uint8_t *buf, size_t n)
{
    size_t bad = e2e_check(s->seed, s->bytes, buf, n);
    if (bad != n) {
        side_fail(s, 0, "received byte at offset %llu is not the peer's stream",
                  (unsigned long long)(s->bytes + bad));
        return;
    }
    s->crc = e2e_crc32(s->crc, buf, n);
    s->bytes += n;
    if (s->o->die_after && s->bytes >= s->o->die_after) {
        printf("VT killing myself (SIGKILL) after receiving %llu bytes\n", (unsigned long long)s->bytes);
        fflush(stdout);
        kill(getpid(), SIGKILL);
    }
}

static void receiver(side *s)
{
    const vt_opts *o = s->o;
    size_t cap = (o->seqpacket ? o->max_msg : VT_CHUNK) + 1;
    uint8_t *buf = malloc(cap), hdr[8];
    int err = 0, rc;
    if (!buf) {
        side_fail(s, ENOMEM, "receive buffer", 0);
        return;
    }
    rc = recv_exact(o, s->fd, hdr, 8, &err);
    if (rc == 0 && o->expect == 0)
        goto out; /* nothing expected, nothing came: a bare connection */
    if (rc <= 0) {
        side_fail(s, err, rc == 0 ? "EOF before the seed header" : "receive seed header", 0);
        goto out;
    }
    s->seed = 0;
    for (int i = 0; i < 8; i++)
        s->seed |= (uint64_t)hdr[i] << (8 * i);
    for (uint64_t k = 0; !s->what[0]; k++) {
        ssize_t r = recv(s->fd, buf, cap - 1, o->seqpacket ? MSG_TRUNC : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            side_fail(s, errno, "receive after %llu bytes", (unsigned long long)s->bytes);
            break;
        }
        if (r == 0) { /* EOF (a seqpacket sender never sends empty messages) */
            if (s->bytes != o->expect)
                side_fail(s, 0, "EOF after %llu bytes, short of the expected", (unsigned long long)s->bytes);
            break;
        }
        if (s->bytes + (uint64_t)r > o->expect) {
            side_fail(s, 0, "more than expected: data past byte %llu", (unsigned long long)o->expect);
            break;
        }
        if (o->pace_us)
            usleep((useconds_t)o->pace_us);
        if (o->seqpacket) {
            uint64_t left = o->expect - s->bytes;
            uint64_t want = vt_msg_size(s->seed, k, o->max_msg);
            if (want > left)
                want = left;
            if ((uint64_t)r != want) {
                side_fail(s, 0, "message boundary lost: a message of %llu bytes", (unsigned long long)r);
                break;
            }
            s->messages++;
        }
        account(s, buf, (size_t)r);
    }
out:
    free(buf);
}

void vt_transfer(const vt_opts *o, int fd, uint64_t my_seed, vt_result *r)
{
    side tx = { .o = o, .fd = fd, .seed = my_seed }, rx = { .o = o, .fd = fd };
    pthread_t th;
    int threaded = 0;
    memset(r, 0, sizeof *r);

    if (o->order == VT_RECV_FIRST && o->expect_set)
        receiver(&rx);
    if (o->send_set) {
        if (o->order == VT_DUPLEX && o->expect_set && pthread_create(&th, NULL, sender, &tx) == 0)
            threaded = 1;
        else
            sender(&tx);
    } else if (shutdown(fd, SHUT_WR) < 0) {
        side_fail(&tx, errno, "shutdown(SHUT_WR) with nothing to send", 0);
    }
    if (o->order != VT_RECV_FIRST && o->expect_set)
        receiver(&rx);
    if (threaded)
        pthread_join(th, NULL);

    r->sent = tx.bytes;
    r->sent_crc = tx.crc;
    r->received = rx.bytes;
    r->recv_crc = rx.crc;
    r->messages = rx.messages;
    r->peer_seed = rx.seed;
    r->peer_seed_known = o->expect_set;
    const side *first = rx.what[0] ? &rx : &tx;
    r->err = first->err;
    memcpy(r->what, first->what, sizeof r->what);
}

void vt_xfer_init(void)
{
    e2e_crc32_init();
}
