/*
 * e2e_pattern.h — the byte stream every end-to-end transfer carries, and a CRC-32 of it.
 *
 * A stream is named by a 64-bit seed. Its byte at offset o is byte (o % 8) of the 64-bit word
 * e2e_word(seed, o / 8), so a receiver can check any byte at any offset without state: a lost,
 * duplicated, reordered or foreign (other connection's) byte shows at its own offset.
 * CRC-32 (IEEE, as zlib's crc32) is printed by sender and receiver so logs can be compared.
 */
#ifndef VSN_E2E_PATTERN_H
#define VSN_E2E_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t e2e_word(uint64_t seed, uint64_t index)
{
    /* murmur3's 64-bit finalizer over (seed, index): distinct streams differ everywhere. */
    uint64_t x = seed * 0xD6E8FEB86659FD93ull ^ (index + 0x2545F4914F6CDD1Dull);
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

/* Fills buf with n bytes of stream `seed` starting at offset off. */
static inline void e2e_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t o = off + i;
        uint64_t w = e2e_word(seed, o >> 3);
        unsigned lane = (unsigned)(o & 7);
        if (lane == 0 && n - i >= 8) {
            memcpy(buf + i, &w, 8); /* x86-64 guest and host: little-endian */
            i += 8;
        } else {
            buf[i++] = (uint8_t)(w >> (8 * lane));
        }
    }
}

/* Index of the first byte of buf (n bytes at offset off) that is not stream `seed`, or n. */
static inline size_t e2e_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t n)
{
    uint8_t want[4096];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof want ? n - done : sizeof want;
        e2e_fill(seed, off + done, want, k);
        if (memcmp(want, buf + done, k) != 0)
            for (size_t j = 0; j < k; j++)
                if (want[j] != buf[done + j])
                    return done + j;
        done += k;
    }
    return n;
}

/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), as zlib's crc32. e2e_crc32_init() once in main
 * (before any thread), then e2e_crc32(0, ...) and feed the chunks in order. */
static uint32_t e2e_crc_table[256];

static inline void e2e_crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        e2e_crc_table[i] = c;
    }
}

static inline uint32_t e2e_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = e2e_crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#endif
