/*
 * fz_input.h: reading a libFuzzer input as a stream of small decisions, and the checks every
 * native harness makes (header-only; shared by fuzz/native/c-abi and fuzz/native/vhost-user).
 *
 * Every read is total: past the end of the input it returns 0 (or an empty span), so a harness
 * never has to test for the end except to stop its op loop (fz_done).
 */
#ifndef FZ_INPUT_H
#define FZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline bool fz_done(const fz_in *in) { return in->n == 0; }

static inline uint8_t fz_u8(fz_in *in)
{
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(fz_in *in) { return (uint16_t)(fz_u8(in) | (uint16_t)fz_u8(in) << 8); }
static inline uint32_t fz_u32(fz_in *in) { return (uint32_t)fz_u16(in) | (uint32_t)fz_u16(in) << 16; }
static inline uint64_t fz_u64(fz_in *in) { return (uint64_t)fz_u32(in) | (uint64_t)fz_u32(in) << 32; }
static inline bool fz_bool(fz_in *in) { return fz_u8(in) & 1; }

/* A value in 0..n-1 (n > 0) from one byte (two when n > 256). */
static inline uint32_t fz_pick(fz_in *in, uint32_t n)
{
    return n <= 256 ? fz_u8(in) % n : fz_u16(in) % n;
}

/* Up to max bytes of the input: a one- or two-byte length, then that many bytes (fewer at the end). */
static inline size_t fz_bytes(fz_in *in, const uint8_t **out, size_t max)
{
    size_t want = max > 255 ? fz_u16(in) : fz_u8(in);
    if (max > 0) want %= max + 1;
    if (want > in->n) want = in->n;
    *out = in->p;
    in->p += want;
    in->n -= want;
    return want;
}

/* The harness's own bookkeeping and checks (the walks over guest memory, counters and log lines
 * that every input makes alike): without libFuzzer's coverage hooks, which only the code an input
 * steers should feed, and which cost a call per comparison. ASan and UBSan still apply. */
#define FZ_NOCOV __attribute__((no_sanitize("coverage")))

/* A broken invariant: one line naming it, then abort (libFuzzer saves the input as a crash). */
#define FZ_CHECK(cond, ...)                                                                    \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Coverage from inside libvsocknative.so, which libFuzzer cannot instrument (managed code): the
 * harness turns what the device reports (its counters, its log lines) into libFuzzer's extra
 * counters, so an input that makes the device count or log something new is kept. */
#define FZ_EXTRA 8192u
extern uint8_t fz_extra[FZ_EXTRA];
/* Feature slot for a value: its magnitude in libFuzzer's buckets (1, 2, 3, 4-7, ..., 128+). */
FZ_NOCOV static inline void fz_feature(uint32_t slot, uint64_t value)
{
    uint8_t v = value > 255 ? 255 : (uint8_t)value;
    if (v > fz_extra[slot % FZ_EXTRA]) fz_extra[slot % FZ_EXTRA] = v;
}
/* Feature slot for a log line: its words up to the first digit (the numbers vary, the reason not). */
FZ_NOCOV static inline void fz_feature_text(uint32_t base, uint32_t span, const char *text)
{
    uint32_t h = 2166136261u;
    for (const char *p = text; *p != '\0' && (*p < '0' || *p > '9') && p - text < 80; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    uint8_t *slot = &fz_extra[(base + h % span) % FZ_EXTRA];
    if (*slot < 255) (*slot)++;
}

/* A log line of libvsocknative.so: an exception caught at the ABI ("internal error", returned as
 * -EIO) is a bug whatever the input did. */
#define FZ_CHECK_LOG_LINE(message) \
    FZ_CHECK(strstr((message), "internal error") == NULL, "the library logged: %s", (message))

/* Open fds of this process (the /proc/self/fd entries, its own directory fd excluded), pipes only
 * when their inode is one of pipes[0..npipes) (the harness's own: the .NET runtime inside
 * libvsocknative.so opens pipes of its own at moments no input decides). */
int fz_count_fds(const uint64_t *pipes, unsigned npipes);
/* fz_count_fds until it is `expected`, for up to 50 ms: the runtime's own threads (the background
 * GC reading /proc and cgroup files) open and close fds at any moment, so a count that differs
 * once is looked at again; a leaked fd stays. */
int fz_count_fds_settled(const uint64_t *pipes, unsigned npipes, int expected);
/* Lists the open fds on stderr (when a count did not match). */
void fz_dump_fds(void);
/* Lines of /proc/self/maps that contain needle. */
int fz_count_maps(const char *needle);

#endif
