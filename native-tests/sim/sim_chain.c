/*
 * sim_chain.c — building well-formed chains: generic buffer lists, tx chains cut by a split
 * pattern (header split point, payload pieces, direct/indirect, region-straddling), rx chains.
 */
#include "sim_internal.h"

#include <string.h>

#define MAX_BUFS (VSN_SIM_MAX_PIECES + 2u)

/* ---- generic chains ------------------------------------------------------------------- */

/* Checks order (readable before writable) and byte totals; fills per-direction sums. */
static int check_bufs(const vsn_sim_buf *bufs, uint32_t n, uint32_t *rd, uint32_t *wr)
{
    uint64_t r = 0, w = 0;
    bool seen_write = false;
    for (uint32_t i = 0; i < n; i++) {
        if (bufs[i].writable)
            seen_write = true;
        else if (seen_write)
            return VSN_SIM_E_CHAIN_ORDER;
        *(bufs[i].writable ? &w : &r) += bufs[i].len;
    }
    if (r + w > UINT32_MAX)
        return VSN_SIM_E_CHAIN_BYTES;
    *rd = (uint32_t)r;
    *wr = (uint32_t)w;
    return 0;
}

/* Descriptor flags for a buffer: WRITE if device-writable, NEXT if more follow. */
static uint16_t buf_flags(const vsn_sim_buf *b, bool more)
{
    return (uint16_t)((b->writable ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0));
}

/* Writes bufs[0..n) as ring descriptors starting at head; returns the last one used. */
static uint16_t write_direct(vsn_sim_queue *q, uint16_t head, const vsn_sim_buf *bufs, uint32_t n,
                             bool more_after)
{
    uint16_t d = head;
    for (uint32_t i = 0; i < n; i++) {
        bool more = i + 1 < n || more_after;
        sim_desc_write(q, d, bufs[i].gpa, bufs[i].len, buf_flags(&bufs[i], more),
                       more ? q->link[d] : 0);
        if (i + 1 < n)
            d = q->link[d];
    }
    return d;
}

/* Places the indirect table for bufs[0..n) in guest memory and fills it. */
static int write_table(vsn_sim_queue *q, const vsn_sim_buf *bufs, uint32_t n, bool straddle,
                       uint64_t *gpa)
{
    uint64_t len = 16ull * n;
    int rc = straddle ? vsn_sim_mem_alloc_straddle(q->mem, len, 8 + 16ull * (n / 2), gpa)
                      : vsn_sim_mem_alloc(q->mem, len, VRING_DESC_ALIGN_SIZE, gpa);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        struct vring_desc d;
        bool more = i + 1 < n;
        sim_desc_encode(&d, bufs[i].gpa, bufs[i].len, buf_flags(&bufs[i], more),
                        (uint16_t)(more ? i + 1 : 0));
        rc = vsn_sim_mem_write(q->mem, *gpa + 16ull * i, &d, sizeof(d));
    }
    return rc;
}

/* Argument, feature, length and free-descriptor checks for vsn_sim_queue_add_bufs(). */
static int check_add(const vsn_sim_queue *q, const vsn_sim_buf *bufs, uint32_t n, uint32_t flags,
                     const uint16_t *head)
{
    uint32_t prefix = VSN_SIM_F_PREFIX_OF(flags);
    bool ind = (flags & VSN_SIM_F_INDIRECT) != 0;
    if (bufs == NULL || head == NULL || (!ind && prefix != 0))
        return VSN_SIM_E_ARG;
    if (q->broken)
        return VSN_SIM_E_BROKEN;
    if (n == 0)
        return VSN_SIM_E_CHAIN_EMPTY;
    if (n > q->size)
        return VSN_SIM_E_CHAIN_TOO_LONG;
    if (ind && !q->indirect)
        return VSN_SIM_E_FEATURE;
    if (ind && prefix >= n)
        return VSN_SIM_E_ARG;
    uint32_t ring = ind ? prefix + 1 : n;
    return ring > q->num_free ? VSN_SIM_E_NO_DESC : 0;
}

int vsn_sim_queue_add_bufs(vsn_sim_queue *q, const vsn_sim_buf *bufs, uint32_t n, uint32_t flags,
                           uint64_t token, uint16_t *head)
{
    struct sim_head h = { .token = token };
    int rc = check_add(q, bufs, n, flags, head);
    if (rc == 0)
        rc = check_bufs(bufs, n, &h.readable, &h.writable);
    if (rc != 0)
        return rc;
    bool ind = (flags & VSN_SIM_F_INDIRECT) != 0;
    uint32_t prefix = VSN_SIM_F_PREFIX_OF(flags);
    if (ind) {
        vsn_sim_mem_mark mark;
        vsn_sim_mem_mark_get(q->mem, &mark);
        rc = write_table(q, bufs + prefix, n - prefix, (flags & VSN_SIM_F_STRADDLE_TABLE) != 0,
                         &h.ind_gpa);
        if (rc != 0) {
            vsn_sim_mem_mark_release(q->mem, &mark);
            return rc;
        }
        h.ind_n = n - prefix;
    }
    h.ndesc = (uint16_t)(ind ? prefix + 1 : n);
    (void)sim_desc_alloc(q, h.ndesc, head); /* cannot fail: checked in check_add() */
    uint16_t last = prefix > 0 || !ind ? write_direct(q, *head, bufs, ind ? prefix : n, ind) : *head;
    if (ind) {
        uint16_t d = prefix > 0 ? q->link[last] : *head;
        sim_desc_write(q, d, h.ind_gpa, 16u * h.ind_n, VRING_DESC_F_INDIRECT, 0);
    }
    sim_publish(q, *head, &h);
    return 0;
}

/* ---- cutting bytes into pieces -------------------------------------------------------- */

/* Cuts len bytes into pieces per (pieces, sizes); appends to lens[*n]. */
static int cut(uint32_t len, uint32_t pieces, const uint32_t *sizes, uint32_t *lens, uint32_t *n)
{
    if (pieces == 0 || pieces > VSN_SIM_MAX_PIECES)
        return VSN_SIM_E_PIECES;
    if (sizes != NULL) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < pieces; i++)
            sum += sizes[i];
        if (sum != len)
            return VSN_SIM_E_PIECE_SIZES;
        memcpy(&lens[*n], sizes, pieces * sizeof(*sizes));
    } else {
        if (len < pieces)
            return VSN_SIM_E_PIECES;
        for (uint32_t i = 0; i < pieces; i++)
            lens[*n + i] = len / pieces + (i < len % pieces ? 1u : 0u);
    }
    *n += pieces;
    return 0;
}

/* Descriptor lengths of a tx chain: header split, then payload pieces (see vsn_sim_layout). */
static int tx_lengths(uint32_t hdr_len, uint32_t payload_len, const vsn_sim_layout *lay,
                      uint32_t *lens, uint32_t *n)
{
    uint32_t k = lay->hdr_split;
    *n = 0;
    if (k > hdr_len)
        return VSN_SIM_E_HDR_SPLIT;
    if (k > 0)
        lens[(*n)++] = k;
    if (k > 0 && k < hdr_len)
        lens[(*n)++] = hdr_len - k;
    uint32_t first = *n;
    if (payload_len > 0) {
        int rc = cut(payload_len, lay->pieces, lay->sizes, lens, n);
        if (rc != 0)
            return rc;
    }
    if (k == 0 && hdr_len > 0) {
        if (*n > first)
            lens[first] += hdr_len; /* header merged into the first payload descriptor */
        else
            lens[(*n)++] = hdr_len;
    }
    return *n == 0 ? VSN_SIM_E_CHAIN_EMPTY : 0;
}

/* ---- placing and filling buffers ------------------------------------------------------ */

/* Source of tx bytes: the concatenation hdr || payload. */
struct stream {
    const uint8_t *hdr;
    uint32_t hdr_len;
    const uint8_t *payload;
};

/* Copies stream bytes [off, off+len) to gpa (may span the header/payload seam). */
static int write_stream(vsn_sim_mem *mem, uint64_t gpa, const struct stream *s, uint32_t off,
                        uint32_t len)
{
    int rc = 0;
    if (off < s->hdr_len) {
        uint32_t h = s->hdr_len - off < len ? s->hdr_len - off : len;
        rc = vsn_sim_mem_write(mem, gpa, s->hdr + off, h);
        gpa += h;
        off += h;
        len -= h;
    }
    if (rc == 0 && len > 0)
        rc = vsn_sim_mem_write(mem, gpa, s->payload + (off - s->hdr_len), len);
    return rc;
}

/* Allocates one buffer of len bytes (straddling when asked); 0-length buffers get 1 byte so
 * their address is still valid guest memory. */
static int place(vsn_sim_mem *mem, uint32_t len, bool straddle, uint32_t before, uint64_t *gpa)
{
    if (straddle)
        return len < 2 ? VSN_SIM_E_STRADDLE_MASK : vsn_sim_mem_alloc_straddle(mem, len, before, gpa);
    return vsn_sim_mem_alloc(mem, len > 0 ? len : 1, 1, gpa);
}

/* Places lens[0..n) and fills each from the stream (tx) or with poison (rx, s == NULL). */
static int place_all(vsn_sim_mem *mem, const uint32_t *lens, uint32_t n, const vsn_sim_layout *lay,
                     const struct stream *s, vsn_sim_buf *bufs)
{
    if (n < 64 && (lay->straddle_mask >> n) != 0)
        return VSN_SIM_E_STRADDLE_MASK;
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool str = i < 64 && ((lay->straddle_mask >> i) & 1u);
        int rc = place(mem, lens[i], str, lay->straddle_before, &bufs[i].gpa);
        if (rc == 0)
            rc = s != NULL ? write_stream(mem, bufs[i].gpa, s, off, lens[i])
                           : vsn_sim_mem_fill(mem, bufs[i].gpa, VSN_SIM_RX_POISON, lens[i]);
        if (rc != 0)
            return rc;
        bufs[i].len = lens[i];
        bufs[i].writable = s == NULL;
        off += lens[i];
    }
    return 0;
}

/* Places, fills and adds; rolls the allocator back on any failure. */
static int add_cut(vsn_sim_queue *q, const uint32_t *lens, uint32_t n, const vsn_sim_layout *lay,
                   const struct stream *s, uint64_t token, uint16_t *head)
{
    vsn_sim_buf bufs[MAX_BUFS];
    vsn_sim_mem_mark mark;
    if (q->broken)
        return VSN_SIM_E_BROKEN;
    vsn_sim_mem_mark_get(q->mem, &mark);
    int rc = place_all(q->mem, lens, n, lay, s, bufs);
    if (rc == 0)
        rc = vsn_sim_queue_add_bufs(q, bufs, n, lay->flags, token, head);
    if (rc != 0)
        vsn_sim_mem_mark_release(q->mem, &mark);
    return rc;
}

int vsn_sim_queue_add_tx(vsn_sim_queue *q, const void *hdr, uint32_t hdr_len, const void *payload,
                         uint32_t payload_len, const vsn_sim_layout *lay, uint64_t token,
                         uint16_t *head)
{
    uint32_t lens[MAX_BUFS], n;
    if (q == NULL || lay == NULL || head == NULL || (hdr_len > 0 && hdr == NULL) ||
        (payload_len > 0 && payload == NULL))
        return VSN_SIM_E_ARG;
    if ((uint64_t)hdr_len + payload_len > UINT32_MAX)
        return VSN_SIM_E_CHAIN_BYTES;
    int rc = tx_lengths(hdr_len, payload_len, lay, lens, &n);
    if (rc != 0)
        return rc;
    struct stream s = { .hdr = hdr, .hdr_len = hdr_len, .payload = payload };
    return add_cut(q, lens, n, lay, &s, token, head);
}

int vsn_sim_queue_add_rx(vsn_sim_queue *q, uint32_t len, const vsn_sim_layout *lay,
                         uint64_t token, uint16_t *head)
{
    uint32_t lens[MAX_BUFS], n = 0;
    if (q == NULL || lay == NULL || head == NULL)
        return VSN_SIM_E_ARG;
    if (len == 0)
        return VSN_SIM_E_CHAIN_EMPTY;
    int rc = cut(len, lay->pieces, lay->sizes, lens, &n);
    if (rc != 0)
        return rc;
    return add_cut(q, lens, n, lay, NULL, token, head);
}
