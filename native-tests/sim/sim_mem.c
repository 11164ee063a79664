/*
 * sim_mem.c — simulated guest memory: regions, driver-side translation, bump allocator.
 *
 * Each region is its own anonymous mapping framed by PROT_NONE guard pages, so two regions that
 * are adjacent in guest-physical space are never adjacent in host virtual space: a device that
 * forgets to split a buffer at a region boundary reads a guard page and faults.  With
 * VSN_SIM_MEM_F_MEMFD the readable part between the guards is a memfd mapped MAP_SHARED, so another
 * process (a vhost-user backend) can map the same memory.
 */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- creation ------------------------------------------------------------------------- */

/* Validates the whole configuration before anything is mapped. */
static int check_config(const vsn_sim_mem_config *cfg)
{
    if (cfg == NULL || cfg->regions == NULL)
        return VSN_SIM_E_ARG;
    if (cfg->struct_size < VSN_SIM_MEM_CONFIG_SIZE_V1)
        return VSN_SIM_E_STRUCT_SIZE;
    if (cfg->struct_size >= sizeof(*cfg) && (cfg->flags & ~VSN_SIM_MEM_F_MEMFD) != 0)
        return VSN_SIM_E_ARG;
    if (cfg->nregions == 0 || cfg->nregions > VSN_SIM_MAX_REGIONS)
        return VSN_SIM_E_REGION_COUNT;
    for (uint32_t i = 0; i < cfg->nregions; i++) {
        uint64_t end;
        if (cfg->regions[i].size == 0 || cfg->regions[i].size > VSN_SIM_REGION_MAX)
            return VSN_SIM_E_REGION_SIZE;
        if (__builtin_add_overflow(cfg->regions[i].gpa, cfg->regions[i].size, &end))
            return VSN_SIM_E_REGION_WRAP;
    }
    return 0;
}

/* Insertion sort by gpa (n <= 64), then reject overlaps. */
static int sort_specs(const vsn_sim_region_spec *in, uint32_t n, vsn_sim_region_spec *out)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = i;
        while (j > 0 && out[j - 1].gpa > in[i].gpa) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = in[i];
    }
    for (uint32_t i = 1; i < n; i++)
        if (out[i - 1].gpa + out[i - 1].size > out[i].gpa)
            return VSN_SIM_E_REGION_OVERLAP;
    return 0;
}

/* Maps one region with guard pages; hva % 64 == gpa % 64 and the data ends < 64 bytes
 * before the upper guard page.  memfd_name != NULL: the data pages are a memfd of that name. */
static int map_region(uint64_t gpa, uint64_t size, const char *memfd_name, struct sim_map *m, void **hva)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (size_t)((size + 64 + page - 1) / page * page);
    size_t total = data + 2 * page;
    m->fd = -1;
    uint8_t *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return VSN_SIM_E_NOMEM;
    if (memfd_name != NULL) {
        /* sealable, as QEMU's memfd backends are: the vhost-user daemon seals it against shrinking */
        int fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t)data) != 0 ||
            mmap(base + page, data, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
            if (fd >= 0)
                close(fd);
            munmap(base, total);
            return VSN_SIM_E_NOMEM;
        }
        m->fd = fd;
    } else if (mprotect(base + page, data, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, total);
        return VSN_SIM_E_NOMEM;
    }
    uint64_t g = gpa & 63u;
    uint64_t off = ((data - size - g) & ~(uint64_t)63) + g;
    m->base = base;
    m->len = total;
    m->fd_off = off;
    *hva = base + page + off;
    return 0;
}

/* Straddle reserves only on sides that touch a GPA-adjacent neighbour. */
static void set_reserves(vsn_sim_mem *mem, uint64_t reserve)
{
    for (uint32_t i = 0; i < mem->n; i++) {
        const vsn_sim_region *r = &mem->table[i];
        struct sim_map *m = &mem->map[i];
        bool lower = i > 0 && mem->table[i - 1].gpa + mem->table[i - 1].size == r->gpa;
        bool upper = i + 1 < mem->n && r->gpa + r->size == mem->table[i + 1].gpa;
        m->head_reserve = lower ? (reserve < r->size ? reserve : r->size) : 0;
        uint64_t rest = r->size - m->head_reserve;
        m->tail_reserve = upper ? (reserve < rest ? reserve : rest) : 0;
        m->norm_lo = m->head_reserve;
        m->norm_hi = r->size - m->tail_reserve;
        mem->alloc.lo[i] = m->norm_lo;
    }
    mem->alloc.straddled = 0;
}

int vsn_sim_mem_create(const vsn_sim_mem_config *cfg, vsn_sim_mem **out)
{
    vsn_sim_region_spec sorted[VSN_SIM_MAX_REGIONS];
    int rc = check_config(cfg);
    if (rc == 0 && out == NULL)
        rc = VSN_SIM_E_ARG;
    if (rc == 0)
        rc = sort_specs(cfg->regions, cfg->nregions, sorted);
    if (rc != 0)
        return rc;
    vsn_sim_mem *mem = calloc(1, sizeof(*mem));
    if (mem == NULL)
        return VSN_SIM_E_NOMEM;
    const char *memfd_name = NULL;
    if (cfg->struct_size >= sizeof(*cfg) && (cfg->flags & VSN_SIM_MEM_F_MEMFD) != 0)
        memfd_name = cfg->memfd_name != NULL ? cfg->memfd_name : "vsn_sim";
    for (uint32_t i = 0; i < cfg->nregions; i++) {
        mem->table[i].gpa = sorted[i].gpa;
        mem->table[i].size = sorted[i].size;
        rc = map_region(sorted[i].gpa, sorted[i].size, memfd_name, &mem->map[i], &mem->table[i].hva);
        if (rc != 0) {
            vsn_sim_mem_destroy(&mem);
            return rc;
        }
        mem->n = i + 1;
    }
    set_reserves(mem, cfg->straddle_reserve);
    *out = mem;
    return 0;
}

void vsn_sim_mem_destroy(vsn_sim_mem **mem)
{
    if (mem == NULL || *mem == NULL)
        return;
    for (uint32_t i = 0; i < (*mem)->n; i++) {
        if ((*mem)->map[i].base != NULL)
            munmap((*mem)->map[i].base, (*mem)->map[i].len);
        if ((*mem)->map[i].fd >= 0)
            close((*mem)->map[i].fd);
        (*mem)->map[i].base = NULL;
    }
    free(*mem);
    *mem = NULL;
}

int vsn_sim_mem_region_fd(const vsn_sim_mem *mem, uint32_t i, int *fd, uint64_t *offset)
{
    if (mem == NULL || fd == NULL || offset == NULL || i >= mem->n)
        return VSN_SIM_E_ARG;
    if (mem->map[i].fd < 0)
        return VSN_SIM_E_FEATURE;
    *fd = mem->map[i].fd;
    *offset = mem->map[i].fd_off;
    return 0;
}

const vsn_sim_region *vsn_sim_mem_regions(const vsn_sim_mem *mem, uint32_t *count)
{
    if (count != NULL)
        *count = mem->n;
    return mem->table;
}

/* ---- translation ---------------------------------------------------------------------- */

int sim_mem_find(const vsn_sim_mem *mem, uint64_t gpa)
{
    uint32_t lo = 0, hi = mem->n; /* first region with table.gpa > gpa is in [lo, hi] */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (mem->table[mid].gpa <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const vsn_sim_region *r = &mem->table[lo - 1];
    return gpa - r->gpa < r->size ? (int)(lo - 1) : -1;
}

/* Verifies every byte of [gpa, gpa+len) is mapped; *pieces = regions touched. */
static int span_check(const vsn_sim_mem *mem, uint64_t gpa, uint64_t len, uint32_t *pieces)
{
    uint64_t end;
    *pieces = 0;
    if (__builtin_add_overflow(gpa, len, &end))
        return VSN_SIM_E_RANGE_WRAP;
    while (gpa < end) {
        int i = sim_mem_find(mem, gpa);
        if (i < 0)
            return VSN_SIM_E_UNMAPPED;
        gpa = mem->table[i].gpa + mem->table[i].size; /* no wrap: checked at create */
        (*pieces)++;
    }
    return 0;
}

int vsn_sim_mem_gpa_to_hva(const vsn_sim_mem *mem, uint64_t gpa, uint64_t len, void **hva)
{
    uint32_t pieces;
    int rc = span_check(mem, gpa, len, &pieces);
    if (rc != 0)
        return rc;
    if (pieces > 1)
        return VSN_SIM_E_DISCONTIG;
    int i = sim_mem_find(mem, gpa);
    if (i < 0)
        return VSN_SIM_E_UNMAPPED; /* len == 0 at an unmapped address */
    *hva = (uint8_t *)mem->table[i].hva + (gpa - mem->table[i].gpa);
    return 0;
}

int vsn_sim_mem_hva_to_gpa(const vsn_sim_mem *mem, const void *hva, uint64_t *gpa)
{
    uintptr_t p = (uintptr_t)hva;
    for (uint32_t i = 0; i < mem->n; i++) {
        uintptr_t b = (uintptr_t)mem->table[i].hva;
        if (p >= b && p - b < mem->table[i].size) {
            *gpa = mem->table[i].gpa + (p - b);
            return 0;
        }
    }
    return VSN_SIM_E_HVA_UNMAPPED;
}

/* Direction-agnostic copy over a range that span_check() accepted. */
enum copy_dir { TO_GUEST, FROM_GUEST, FILL_GUEST };

static void span_copy(const vsn_sim_mem *mem, uint64_t gpa, uint8_t *buf, int byte, uint64_t len,
                      enum copy_dir dir)
{
    while (len > 0) {
        const vsn_sim_region *r = &mem->table[sim_mem_find(mem, gpa)];
        uint64_t off = gpa - r->gpa;
        uint64_t chunk = r->size - off < len ? r->size - off : len;
        uint8_t *h = (uint8_t *)r->hva + off;
        if (dir == TO_GUEST)
            memcpy(h, buf, chunk);
        else if (dir == FROM_GUEST)
            memcpy(buf, h, chunk);
        else
            memset(h, byte, chunk);
        if (buf != NULL)
            buf += chunk;
        gpa += chunk;
        len -= chunk;
    }
}

int vsn_sim_mem_write(vsn_sim_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
    uint32_t pieces;
    int rc = span_check(mem, gpa, len, &pieces);
    if (rc == 0 && len > 0 && src == NULL)
        rc = VSN_SIM_E_ARG;
    if (rc == 0)
        span_copy(mem, gpa, (uint8_t *)(uintptr_t)src, 0, len, TO_GUEST);
    return rc;
}

int vsn_sim_mem_read(const vsn_sim_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
    uint32_t pieces;
    int rc = span_check(mem, gpa, len, &pieces);
    if (rc == 0 && len > 0 && dst == NULL)
        rc = VSN_SIM_E_ARG;
    if (rc == 0)
        span_copy(mem, gpa, dst, 0, len, FROM_GUEST);
    return rc;
}

int vsn_sim_mem_fill(vsn_sim_mem *mem, uint64_t gpa, int byte, uint64_t len)
{
    uint32_t pieces;
    int rc = span_check(mem, gpa, len, &pieces);
    if (rc == 0)
        span_copy(mem, gpa, NULL, byte, len, FILL_GUEST);
    return rc;
}

/* ---- allocation ----------------------------------------------------------------------- */

int vsn_sim_mem_alloc(vsn_sim_mem *mem, uint64_t len, uint64_t align, uint64_t *gpa)
{
    if (len == 0 || gpa == NULL)
        return VSN_SIM_E_ARG;
    if (align == 0 || (align & (align - 1)) != 0 || align > 4096)
        return VSN_SIM_E_ALIGN;
    for (uint32_t i = 0; i < mem->n; i++) {
        const vsn_sim_region *r = &mem->table[i];
        uint64_t start = r->gpa + mem->alloc.lo[i], aligned, end;
        if (__builtin_add_overflow(start, align - 1, &aligned))
            continue;
        aligned &= ~(align - 1);
        if (__builtin_add_overflow(aligned, len, &end) || end > r->gpa + mem->map[i].norm_hi)
            continue;
        mem->alloc.lo[i] = end - r->gpa;
        *gpa = aligned;
        return 0;
    }
    return VSN_SIM_E_NO_SPACE;
}

int vsn_sim_mem_alloc_straddle(vsn_sim_mem *mem, uint64_t len, uint64_t before, uint64_t *gpa)
{
    if (gpa == NULL)
        return VSN_SIM_E_ARG;
    if (len < 2)
        return VSN_SIM_E_STRADDLE_LEN;
    if (before == 0)
        before = len / 2;
    if (before >= len)
        return VSN_SIM_E_ARG;
    uint64_t after = len - before;
    for (uint32_t i = 0; i + 1 < mem->n; i++) {
        uint64_t end = mem->table[i].gpa + mem->table[i].size;
        if (end != mem->table[i + 1].gpa || (mem->alloc.straddled >> i) & 1u)
            continue;
        if (before > mem->map[i].tail_reserve || after > mem->map[i + 1].head_reserve)
            continue;
        mem->alloc.straddled |= 1ull << i;
        *gpa = end - before;
        return 0;
    }
    return VSN_SIM_E_NO_BOUNDARY;
}

void vsn_sim_mem_mark_get(const vsn_sim_mem *mem, vsn_sim_mem_mark *mark)
{
    *mark = mem->alloc;
}

void vsn_sim_mem_mark_release(vsn_sim_mem *mem, const vsn_sim_mem_mark *mark)
{
    mem->alloc = *mark;
}

void vsn_sim_mem_reset(vsn_sim_mem *mem)
{
    for (uint32_t i = 0; i < mem->n; i++)
        mem->alloc.lo[i] = mem->map[i].norm_lo;
    mem->alloc.straddled = 0;
}

int vsn_sim_mem_gap_gpa(const vsn_sim_mem *mem, uint64_t *gpa)
{
    for (uint32_t i = 0; i + 1 < mem->n; i++) {
        uint64_t end = mem->table[i].gpa + mem->table[i].size;
        if (end < mem->table[i + 1].gpa) {
            *gpa = end;
            return 0;
        }
    }
    return VSN_SIM_E_NO_GAP;
}

int vsn_sim_mem_outside_gpa(const vsn_sim_mem *mem, uint64_t *gpa)
{
    const vsn_sim_region *last = &mem->table[mem->n - 1];
    uint64_t end = last->gpa + last->size, up;
    /* keep 64 KiB of headroom so callers can place small buffers there without wrapping */
    if (__builtin_add_overflow(end, 4095u + 65536u, &up))
        return VSN_SIM_E_NO_OUTSIDE;
    *gpa = (end + 4095u) & ~(uint64_t)4095u;
    return 0;
}
