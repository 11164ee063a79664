/*
 * queue_util.c — shared helpers of the queue harnesses (see queue_util.h).
 */

#include "queue_util.h"

#include <stdlib.h>
#include <string.h>

/* ---- memory ---------------------------------------------------------------------------- */

int qu_mem_single(vsn_sim_mem **out)
{
    static const vsn_sim_region_spec spec[] = { { 0x100000, 16u << 20 } };
    vsn_sim_mem_config c = { sizeof c, 1, spec, 0, 0, NULL };
    return vsn_sim_mem_create(&c, out);
}

int qu_mem_multi(vsn_sim_mem **out)
{
    vsn_sim_region_spec spec[QU_MULTI_GROUPS * 4];
    for (uint32_t g = 0; g < QU_MULTI_GROUPS; g++)
        for (uint32_t i = 0; i < 4; i++)
            spec[g * 4 + i] = (vsn_sim_region_spec){ 0x1000000ull + g * 0x40000ull + i * 0x8000ull,
                                                     0x8000 };
    vsn_sim_mem_config c = { sizeof c, QU_MULTI_GROUPS * 4, spec, 4096, 0, NULL };
    return vsn_sim_mem_create(&c, out);
}

int qu_mem_gapped(vsn_sim_mem **out)
{
    static const vsn_sim_region_spec spec[] = { { 0x100000, 1u << 20 }, { 0x300000, 1u << 20 } };
    vsn_sim_mem_config c = { sizeof c, 2, spec, 0, 0, NULL };
    return vsn_sim_mem_create(&c, out);
}

/* ---- packets --------------------------------------------------------------------------- */

uint8_t qu_payload_byte(uint64_t token, uint32_t off)
{
    return (uint8_t)(token * 131u + off * 7u + (off >> 8) + 1u);
}

int qu_add_packet(vsn_sim_queue *q, const vsn_sim_layout *lay, uint32_t payload_len,
                  uint32_t hdr_len_field, uint64_t token, uint16_t *head)
{
    static uint8_t payload[QU_MAX_PAYLOAD];
    struct vsn_virtio_vsock_hdr h;
    if (payload_len > QU_MAX_PAYLOAD)
        return VSN_SIM_E_ARG;
    for (uint32_t i = 0; i < payload_len; i++)
        payload[i] = qu_payload_byte(token, i);
    vsn_sd_hdr(&h, QU_NULL_SRC_CID, 1024 + (uint32_t)(token & 0xffff), 5000, hdr_len_field,
               VSN_VIRTIO_VSOCK_OP_RW);
    return vsn_sim_queue_add_tx(q, &h, QU_HDR, payload, payload_len, lay, token, head);
}

uint32_t qu_tx_desc_lens(uint32_t k, uint32_t payload_len, uint32_t pieces, uint32_t *lens)
{
    uint32_t n = 0;
    if (k > 0)
        lens[n++] = k;
    if (k > 0 && k < QU_HDR)
        lens[n++] = QU_HDR - k;
    uint32_t first = n;
    if (payload_len > 0)
        for (uint32_t i = 0; i < pieces; i++)
            lens[n++] = payload_len / pieces + (i < payload_len % pieces ? 1u : 0u);
    if (k == 0) {
        if (n > first)
            lens[first] += QU_HDR;
        else
            lens[n++] = QU_HDR;
    }
    return n;
}

uint64_t qu_straddle_one(const uint32_t *lens, uint32_t n, uint32_t pick)
{
    uint32_t candidates = 0;
    for (uint32_t i = 0; i < n && i < 64; i++)
        candidates += lens[i] >= 2;
    if (candidates == 0)
        return 0;
    pick %= candidates;
    for (uint32_t i = 0; i < n && i < 64; i++)
        if (lens[i] >= 2 && pick-- == 0)
            return 1ull << i;
    return 0;
}

/* ---- ledger ---------------------------------------------------------------------------- */

int qu_ledger_init(qu_ledger *l, uint32_t n)
{
    memset(l, 0, sizeof *l);
    l->seen = calloc(n ? n : 1, 1);
    l->n = n;
    return l->seen != NULL ? 0 : VSN_SIM_E_NOMEM;
}

void qu_ledger_free(qu_ledger *l)
{
    free(l->seen);
    l->seen = NULL;
}

void qu_ledger_on_used(void *user, const vsn_sim_used *u)
{
    qu_ledger *l = user;
    l->reaped++;
    if (u->len != l->expected_len)
        l->wrong_len++;
    if (u->bad) {
        l->bad_reaped++;
        return;
    }
    if (u->token >= l->n) {
        l->unknown++;
        return;
    }
    if (l->seen[u->token]++ != 0)
        l->duplicates++;
}

uint64_t qu_ledger_missing(const qu_ledger *l, uint32_t upto)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < upto && i < l->n; i++)
        m += l->seen[i] == 0;
    return m;
}
