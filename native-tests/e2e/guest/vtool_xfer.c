/*
 * vtool_xfer.c — one connection's transfer.
 *
 * The sender writes its seed (8 bytes, little-endian; one message on seqpacket), then `send`
 * bytes of its stream (e2e_pattern.h), then shutdown(SHUT_WR). The receiver reads the peer's seed,
 * checks every byte at its offset, and requires EOF after exactly `expect` bytes. On seqpacket the
 * data goes in messages whose sizes follow the sender's seed (vt_msg_size), and the receiver checks
 * that each message arrives whole, alone and with its size: boundaries neither merged nor split.
 * Seqpacket records: --eor-every K has the sender set MSG_EOR on the messages its seed picks (about
 * one in K) and on its last; the receiver requires msg_flags to carry MSG_EOR on exactly those (and,
 * without the option, on none). --trunc-every K has the receiver read the messages the peer's seed
 * picks into half their size: recv(MSG_TRUNC) must return the full length with MSG_TRUNC set, and
 * the next recv must get the next message (the rest is dropped; its bytes count as received but do
 * not enter the CRC-32). --rcvtimeo-test MS: before anything moves, a recv under SO_RCVTIMEO must
 * fail with EAGAIN, not before 80% of MS (the peer must stay silent meanwhile: --order recv-first).
 * Duplex runs the sender on its own thread so both directions flow at the same time.
 * A soak: --duration S has the sender stop after S seconds instead of a byte count, --expect-any has
 * the receiver take any count up to EOF (every byte still checked); the CRC-32s of both ends, compared
 * by the case, show that what was sent is what arrived.
 */
#include "vtool.h"
#include "e2e_pattern.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define VT_CHUNK (64 * 1024)

typedef struct side {
    const vt_opts *o;
    int fd;
    uint64_t seed;
    uint64_t bytes;
    uint32_t crc;
    uint64_t messages, records, truncated;
    int err;
    char what[160];
} side;

uint32_t vt_msg_size(uint64_t seed, uint64_t k, uint32_t max_msg)
{
    return 1 + (uint32_t)(e2e_word(seed ^ 0x5EC0ull, k) % max_msg);
}

/* Message k of stream `seed` is one of the ~1 in `every` picked (for MSG_EOR, for truncation). */
static int msg_picked(uint64_t seed, uint64_t salt, uint64_t k, uint32_t every)
{
    return every && e2e_word(seed ^ salt, k) % every == 0;
}

#define VT_SALT_EOR 0xE0Bull
#define VT_SALT_TRUNC 0x7B0Cull

double vt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 3, 4)))
static void side_fail(side *s, int err, const char *fmt, ...)
{
    if (s->what[0])
        return;
    s->err = err;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->what, sizeof s->what, fmt, ap);
    va_end(ap);
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
        side_fail(s, ENOMEM, "send buffer");
        return NULL;
    }
    uint8_t hdr[8];
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(s->seed >> (8 * i));
    if (send_all(s->fd, hdr, 8, &err) < 0) {
        side_fail(s, err, "send seed header");
        goto out;
    }
    double until = o->duration_s ? vt_now() + (double)o->duration_s : 0;
    for (uint64_t k = 0; s->bytes < o->send; k++) {
        if (o->duration_s && vt_now() >= until)
            break; /* --duration: the time is up */
        uint64_t left = o->send - s->bytes;
        size_t n = o->seqpacket ? vt_msg_size(s->seed, k, o->max_msg) : VT_CHUNK;
        if (n > left)
            n = (size_t)left;
        e2e_fill(s->seed, s->bytes, buf, n);
        if (o->corrupt_at && o->corrupt_at - 1 >= s->bytes && o->corrupt_at - 1 < s->bytes + n)
            buf[o->corrupt_at - 1 - s->bytes] ^= 0xFF;
        if (o->seqpacket) {
            int eor = o->eor_every && (msg_picked(s->seed, VT_SALT_EOR, k, o->eor_every) || n == left);
            ssize_t w = send(s->fd, buf, n, MSG_NOSIGNAL | (eor ? MSG_EOR : 0));
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

/* One seqpacket message into p (room bytes): its full length (recv with MSG_TRUNC), 0 at EOF, or -1
 * with errno; *flags gets msg_flags. */
static ssize_t recv_msg(int fd, uint8_t *p, size_t room, int *flags)
{
    struct iovec iov = { .iov_base = p, .iov_len = room };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t r;
    do
        r = recvmsg(fd, &m, MSG_TRUNC);
    while (r < 0 && errno == EINTR);
    *flags = r < 0 ? 0 : m.msg_flags;
    return r;
}

/* Reads exactly n bytes (stream) or one n-byte message (seqpacket; *flags its msg_flags). 1 ok,
 * 0 EOF first, -1 error. */
static int recv_exact(const vt_opts *o, int fd, uint8_t *p, size_t n, int *err, int *flags)
{
    *flags = 0;
    if (o->seqpacket) {
        ssize_t r = recv_msg(fd, p, n, flags);
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

/* n bytes of the peer's stream arrived in buf (checked, and in the CRC-32); `dropped` more after
 * them were cut off (a truncated message): they count as received. */
static void account(side *s, const uint8_t *buf, size_t n, size_t dropped)
{
    size_t bad = e2e_check(s->seed, s->bytes, buf, n);
    if (bad != n) {
        side_fail(s, 0, "received byte at offset %llu is not the peer's stream",
                  (unsigned long long)(s->bytes + bad));
        return;
    }
    s->crc = e2e_crc32(s->crc, buf, n);
    s->bytes += n + dropped;
    if (s->o->die_after && s->bytes >= s->o->die_after) {
        printf("VT killing myself (SIGKILL) after receiving %llu bytes\n", (unsigned long long)s->bytes);
        fflush(stdout);
        kill(getpid(), SIGKILL);
    }
}

/* Seqpacket message k (r bytes by recv(MSG_TRUNC) into room bytes; trunc: a truncated read on
 * purpose) against what the peer's seed says: its length, MSG_TRUNC exactly when cut, MSG_EOR exactly
 * where the sender set it. 0 ok, -1 failed. */
static int check_message(side *s, uint64_t k, ssize_t r, size_t room, int trunc, uint64_t want, int flags)
{
    const vt_opts *o = s->o;
    unsigned long long kk = (unsigned long long)k, at = (unsigned long long)s->bytes;
    if (trunc && (uint64_t)r != want) {
        side_fail(s, 0, "message %llu read into %zu bytes: recv(MSG_TRUNC) returned %zd, not its length %llu",
                  kk, room, r, (unsigned long long)want);
        return -1;
    }
    if ((uint64_t)r != want) {
        side_fail(s, 0, "message boundary lost: a message of %llu bytes", (unsigned long long)r);
        return -1;
    }
    if (trunc != ((flags & MSG_TRUNC) != 0)) {
        side_fail(s, 0, trunc ? "message %llu (%zd bytes) read into %zu bytes: no MSG_TRUNC in msg_flags"
                              : "message %llu (%zd bytes) read whole into %zu bytes: MSG_TRUNC in msg_flags",
                  kk, r, room);
        return -1;
    }
    int eor = o->eor_every && (msg_picked(s->seed, VT_SALT_EOR, k, o->eor_every) ||
                                s->bytes + want == o->expect);
    int got = (flags & MSG_EOR) || (o->fake_eor_at && o->fake_eor_at - 1 == k);
    if (eor != got) {
        side_fail(s, 0, eor ? "message %llu (at byte %llu): MSG_EOR expected, missing"
                            : "message %llu (at byte %llu): MSG_EOR, but it was sent without", kk, at);
        return -1;
    }
    s->messages++;
    s->records += (uint64_t)got;
    s->truncated += (uint64_t)trunc;
    return 0;
}

static void receiver(side *s)
{
    const vt_opts *o = s->o;
    size_t cap = (o->seqpacket ? o->max_msg : VT_CHUNK) + 1;
    uint8_t *buf = malloc(cap), hdr[8];
    int err = 0, flags, rc;
    if (!buf) {
        side_fail(s, ENOMEM, "receive buffer");
        return;
    }
    rc = recv_exact(o, s->fd, hdr, 8, &err, &flags);
    if (rc == 0 && o->expect == 0)
        goto out; /* nothing expected, nothing came: a bare connection */
    if (rc <= 0) {
        side_fail(s, err, rc == 0 ? "EOF before the seed header" : "receive seed header");
        goto out;
    }
    if (flags & MSG_EOR) {
        side_fail(s, 0, "the seed header message came with MSG_EOR, sent without");
        goto out;
    }
    s->seed = 0;
    for (int i = 0; i < 8; i++)
        s->seed |= (uint64_t)hdr[i] << (8 * i);
    for (uint64_t k = 0; !s->what[0]; k++) {
        size_t room = cap - 1;
        uint64_t want = 0;
        int trunc = 0;
        if (o->seqpacket) {
            want = vt_msg_size(s->seed, k, o->max_msg);
            if (want > o->expect - s->bytes)
                want = o->expect - s->bytes;
            trunc = want >= 2 && msg_picked(s->seed, VT_SALT_TRUNC, k, o->trunc_every);
            if (trunc)
                room = (size_t)want / 2;
        }
        ssize_t r = o->seqpacket ? recv_msg(s->fd, buf, room, &flags) : recv(s->fd, buf, room, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            side_fail(s, errno, "receive after %llu bytes", (unsigned long long)s->bytes);
            break;
        }
        if (r == 0) { /* EOF (a seqpacket sender never sends empty messages) */
            if (s->bytes != o->expect && !o->expect_any)
                side_fail(s, 0, "EOF after %llu bytes, short of the expected", (unsigned long long)s->bytes);
            break;
        }
        if (s->bytes + (uint64_t)r > o->expect) {
            side_fail(s, 0, "more than expected: data past byte %llu", (unsigned long long)o->expect);
            break;
        }
        if (o->pace_us)
            usleep((useconds_t)o->pace_us);
        if (o->seqpacket && check_message(s, k, r, room, trunc, want, flags) < 0)
            break;
        account(s, buf, (size_t)r < room ? (size_t)r : room, (size_t)r < room ? 0 : (size_t)r - room);
    }
out:
    free(buf);
}

/* --rcvtimeo-test: before the peer sends anything, a recv under SO_RCVTIMEO must fail with EAGAIN
 * (EWOULDBLOCK), and not before 80% of the timeout; then the timeout is lifted. 0 ok, -1 failed. */
static int rcvtimeo_test(const vt_opts *o, int fd, side *s)
{
    unsigned ms = o->rcvtimeo_ms;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    uint8_t some[64];
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        side_fail(s, errno, "setsockopt(SO_RCVTIMEO)");
        return -1;
    }
    double t0 = vt_now();
    ssize_t r = recv(fd, some, sizeof some, 0);
    int e = errno;
    double took = (vt_now() - t0) * 1000;
    if (r >= 0)
        side_fail(s, 0, "recv under SO_RCVTIMEO %u ms returned %zd after %.0f ms, want EAGAIN (peer not silent?)",
                  ms, r, took);
    else if (e != EAGAIN && e != EWOULDBLOCK)
        side_fail(s, e, "recv under SO_RCVTIMEO %u ms failed after %.0f ms, not with EAGAIN", ms, took);
    else if (took < 0.8 * ms)
        side_fail(s, 0, "recv under SO_RCVTIMEO %u ms: EAGAIN after only %.0f ms (before 80%% of it)", ms, took);
    else
        printf("VT rcvtimeo: EAGAIN after %.0f ms (SO_RCVTIMEO %u ms)\n", took, ms);
    if (s->what[0])
        return -1;
    tv = (struct timeval){ 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        side_fail(s, errno, "setsockopt(SO_RCVTIMEO) back to none");
        return -1;
    }
    return 0;
}

void vt_transfer(const vt_opts *o, int fd, uint64_t my_seed, vt_result *r)
{
    side tx = { .o = o, .fd = fd, .seed = my_seed }, rx = { .o = o, .fd = fd };
    pthread_t th;
    int threaded = 0;
    memset(r, 0, sizeof *r);

    if (o->rcvtimeo_ms && rcvtimeo_test(o, fd, &rx) < 0)
        goto done;
    if (o->order == VT_RECV_FIRST && o->expect_set)
        receiver(&rx);
    if (o->send_set) {
        if (o->order == VT_DUPLEX && o->expect_set && pthread_create(&th, NULL, sender, &tx) == 0)
            threaded = 1;
        else
            sender(&tx);
    } else if (shutdown(fd, SHUT_WR) < 0) {
        side_fail(&tx, errno, "shutdown(SHUT_WR) with nothing to send");
    }
    if (o->order != VT_RECV_FIRST && o->expect_set)
        receiver(&rx);
    if (threaded && rx.what[0])
        shutdown(fd, SHUT_RDWR); /* the receiver gave up: a sender blocked on a peer that gave up too
                                  * (duplex both ways) would otherwise wait for --timeout, reason lost */
    if (threaded)
        pthread_join(th, NULL);

done:
    r->sent = tx.bytes;
    r->sent_crc = tx.crc;
    r->received = rx.bytes;
    r->recv_crc = rx.crc;
    r->messages = rx.messages;
    r->records = rx.records;
    r->truncated = rx.truncated;
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
