/*
 * vt_util.h — host-side helpers of the vsock harnesses: Unix sockets (non-blocking, serviced
 * from the test's own loop), a position-dependent byte pattern (every byte checked, so loss,
 * duplication and reordering all show), a running checksum, and the WAIT macro (pump the guest
 * stack until a condition holds or a deadline passes, with a message naming what was awaited).
 * The socket helpers themselves (vt_unix_listen, vt_accept, ...) are in common/vsn_sock.h, shared
 * with the vhost-user harnesses.
 */
#ifndef VSN_VT_UTIL_H
#define VSN_VT_UTIL_H

#include "guest_stack.h"
#include "vsn_check.h"
#include "vsn_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- pattern ------------------------------------------------------------------------------ */

static inline uint64_t vt_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Byte o of stream `seed` is byte (o & 7) of vt_mix(seed * 2^40 + o / 8). */
static inline void vt_pat_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t n)
{
    size_t i = 0;
    while (i < n && ((off + i) & 7) != 0) {
        uint64_t w = vt_mix((seed << 40) + ((off + i) >> 3));
        buf[i] = (uint8_t)(w >> (8 * ((off + i) & 7)));
        i++;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w = vt_mix((seed << 40) + ((off + i) >> 3));
        memcpy(buf + i, &w, 8); /* little-endian host assumed (x86-64 / arm64) */
    }
    for (; i < n; i++) {
        uint64_t w = vt_mix((seed << 40) + ((off + i) >> 3));
        buf[i] = (uint8_t)(w >> (8 * ((off + i) & 7)));
    }
}

/* Returns the index of the first wrong byte, or n when all match. */
static inline size_t vt_pat_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t n)
{
    uint8_t tmp[4096];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < sizeof tmp ? n - done : sizeof tmp;
        vt_pat_fill(seed, off + done, tmp, k);
        if (memcmp(tmp, buf + done, k) != 0) {
            for (size_t j = 0; j < k; j++)
                if (tmp[j] != buf[done + j])
                    return done + j;
        }
        done += k;
    }
    return n;
}

/* Fletcher-style running checksum over a byte stream (order-sensitive). */
typedef struct vt_sum {
    uint64_t a, b;
} vt_sum;

static inline void vt_sum_add(vt_sum *s, const uint8_t *p, size_t n)
{
    uint64_t a = s->a, b = s->b;
    for (size_t i = 0; i < n; i++) {
        a += p[i];
        b += a;
    }
    s->a = a % 0xFFFFFFFBull;
    s->b = b % 0xFFFFFFFBull;
}

/* A pattern stream being received: checks each byte and sums. */
typedef struct vt_rx {
    uint64_t seed, got, bad_at;
    bool bad;
} vt_rx;

static inline void vt_rx_take(vt_rx *r, const uint8_t *p, size_t n)
{
    if (!r->bad) {
        size_t k = vt_pat_check(r->seed, r->got, p, n);
        if (k != n) {
            r->bad = true;
            r->bad_at = r->got + k;
            fprintf(stderr, "pattern %llu: wrong byte at offset %llu\n",
                    (unsigned long long)r->seed, (unsigned long long)r->bad_at);
        }
    }
    r->got += n;
}

/* ---- fast pattern (for GiB transfers) ---------------------------------------------------
 * Byte o of the stream is vt_fp[o % VT_FP_LEN]; VT_FP_LEN is a prime above any chunk, so a lost,
 * repeated or reordered piece shorter than it always shows. vt_fp holds VT_FP_LEN + VT_FP_MAXCHUNK
 * bytes, so any chunk of at most VT_FP_MAXCHUNK bytes is contiguous at vt_fp_at(o). */
#define VT_FP_LEN 1048573u
#define VT_FP_MAXCHUNK 65536u

static inline uint8_t *vt_fp_base(void)
{
    static uint8_t *b;
    if (b == NULL) {
        b = malloc(VT_FP_LEN + VT_FP_MAXCHUNK);
        if (b == NULL)
            abort();
        vt_pat_fill(977, 0, b, VT_FP_LEN);
        memcpy(b + VT_FP_LEN, b, VT_FP_MAXCHUNK);
    }
    return b;
}

static inline const uint8_t *vt_fp_at(uint64_t off)
{
    return vt_fp_base() + off % VT_FP_LEN;
}

/* Checks n received bytes at stream offset off; returns the index of the first bad byte or n. */
static inline size_t vt_fp_check(uint64_t off, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < VT_FP_MAXCHUNK ? n - done : VT_FP_MAXCHUNK;
        const uint8_t *e = vt_fp_at(off + done);
        if (memcmp(e, p + done, k) != 0)
            for (size_t j = 0; j < k; j++)
                if (e[j] != p[done + j])
                    return done + j;
        done += k;
    }
    return n;
}

/* ---- fd API ------------------------------------------------------------------------------- */

/* What a vsn_device_listen callback (vt_on_accept) saw: the last fd and ports, and how many calls. */
typedef struct vt_accepted {
    int fd, n;
    uint32_t port, guest_port;
} vt_accepted;

static inline void vt_on_accept(void *user, uint32_t port, uint32_t guest_port, int32_t fd)
{
    vt_accepted *a = user;
    a->fd = fd;
    a->port = port;
    a->guest_port = guest_port;
    a->n++;
}

/* ---- waiting ------------------------------------------------------------------------------- */

/* Pumps `st` until `cond` holds (evaluated before each pump) or `ms` pass; counts one CHECK.
 * `ok` (a bool lvalue) receives the outcome. */
#define VT_WAIT(st, ms, cond, what, ok)                                                         \
    do {                                                                                        \
        int64_t vt_dl_ = gs_now_ms() + (ms);                                                    \
        (ok) = false;                                                                           \
        for (;;) {                                                                              \
            if (cond) {                                                                         \
                (ok) = true;                                                                    \
                break;                                                                          \
            }                                                                                   \
            if (gs_now_ms() > vt_dl_)                                                           \
                break;                                                                          \
            int vt_r_ = gs_pump((st), 1);                                                       \
            if (vt_r_ < 0) {                                                                    \
                fprintf(stderr, "%s:%d: gs_pump failed: %d\n", __FILE__, __LINE__, vt_r_);      \
                break;                                                                          \
            }                                                                                   \
        }                                                                                       \
        if (!(ok))                                                                              \
            fprintf(stderr, "%s:%d: timed out after %d ms waiting for %s\n", __FILE__,          \
                    __LINE__, (int)(ms), (what));                                               \
        CHECK(ok);                                                                              \
    } while (0)

/* ---- setup --------------------------------------------------------------------------------- */

/* gs_create, or the summary of `test` and exit(1). */
static inline gs_stack *vt_create_stack(const gs_config *cfg, const char *test)
{
    gs_stack *s = NULL;
    int rc = gs_create(cfg, &s);
    CHECK_EQ(rc, 0);
    if (rc != 0) {
        vsn_check_summary(test);
        exit(1);
    }
    return s;
}

/* The guest connects (socket `type`) to "<uds>_port" served by listener lfd; returns the
 * established conn (NULL on failure), *hfd the host end. */
static inline gs_conn *vt_connect_listener(gs_stack *s, int lfd, uint32_t port, uint16_t type, int *hfd)
{
    bool ok;
    gs_conn *c = gs_connect_type(s, port, 0, type);
    CHECK(c != NULL);
    if (c == NULL)
        return NULL;
    *hfd = -1;
    VT_WAIT(s, 5000, c->state != GS_CONNECTING && (*hfd >= 0 || (*hfd = vt_accept(lfd)) >= 0),
            "RESPONSE and the host accept", ok);
    CHECK_EQ(c->state, GS_ESTABLISHED);
    return ok && c->state == GS_ESTABLISHED ? c : NULL;
}

/* ---- a transfer both ways ------------------------------------------------------------------ */

/* A two-way transfer on an established connection: guest sends `g2h` bytes of pattern
 * seed_g, the host fd sends `h2g` bytes of seed_h; both sides check every byte. */
static inline void vt_transfer(gs_stack *s, gs_conn *c, int fd, size_t g2h, size_t h2g, uint64_t seed_g,
                     uint64_t seed_h, const char *what)
{
    static uint8_t buf[65536], chunk[65536];
    vt_rx hrx = { .seed = seed_g }, grx = { .seed = seed_h };
    size_t gsent = 0, hsent = 0;
    bool ok = false;
    int64_t dl = gs_now_ms() + 30000;
    while (gs_now_ms() < dl) {
        int progress = 0;
        if (gsent < g2h) {
            size_t k = g2h - gsent < sizeof chunk ? g2h - gsent : sizeof chunk;
            vt_pat_fill(seed_g, gsent, chunk, k);
            size_t n = gs_send(s, c, chunk, k);
            gsent += n;
            progress += n > 0;
        }
        if (hsent < h2g) {
            size_t k = h2g - hsent < sizeof chunk ? h2g - hsent : sizeof chunk;
            vt_pat_fill(seed_h, hsent, chunk, k);
            ssize_t n = vt_write(fd, chunk, k);
            if (n > 0) {
                hsent += (size_t)n;
                progress++;
            }
        }
        ssize_t n = vt_read(fd, buf, sizeof buf);
        if (n > 0) {
            vt_rx_take(&hrx, buf, (size_t)n);
            progress++;
        }
        size_t m = gs_recv(s, c, buf, sizeof buf);
        if (m > 0) {
            vt_rx_take(&grx, buf, m);
            progress++;
        }
        if (hrx.got >= g2h && grx.got >= h2g) {
            ok = true;
            break;
        }
        if (gs_pump(s, progress ? 0 : 1) < 0)
            break;
    }
    if (!ok)
        fprintf(stderr, "%s: transfer stalled: guest sent %zu/%zu (host got %llu), host sent %zu/%zu (guest got %llu), peer_free %u\n",
                what, gsent, g2h, (unsigned long long)hrx.got, hsent, h2g,
                (unsigned long long)grx.got, gs_peer_free(c));
    CHECK(ok);
    CHECK_EQ(hrx.got, g2h);
    CHECK_EQ(grx.got, h2g);
    CHECK(!hrx.bad);
    CHECK(!grx.bad);
}

#endif /* VSN_VT_UTIL_H */
