/*
 * sim_device.c — the simulator <-> device binding (see sim_device.h).
 */

#include "sim_device.h"
#include "vsn_sim_bind.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* One queue's wiring: the simulator queue (driver side) and how it talks to the device. */
struct sd_port {
    vsn_sd *sd;
    uint32_t index;
    vsn_sim_queue *q;
    uint64_t sim_features;
    int kick_fd;             /* VSN_SD_F_KICK_FD: the notifier writes it, the device watches it */
    int call_fd;             /* VSN_SD_F_CALL_FD: the device writes it, vsn_sd_irqs reads it */
    int wake_fd;             /* thread mode + interrupt_fn: the callback wakes waiters */
    atomic_uint_fast64_t irqs_cb; /* interrupt_fn calls (device thread or poll caller) */
    uint64_t irqs_fd;        /* call fd counter values read so far */
    uint64_t kicks;          /* notifications delivered */
    int kick_error;
    vsn_sd_irq_hook hook;    /* optional, after each interrupt_fn interrupt */
    void *hook_user;
};

struct vsn_sd {
    vsn_sd_config cfg;
    vsn_device *dev;
    vsn_sim_mem *mem;
    vsn_mem_region *table;
    uint32_t ntable;
    struct sd_port port[VSN_QUEUE_COUNT];
};

/* ---- small helpers --------------------------------------------------------------------- */

int64_t vsn_sd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *vsn_sd_strerror(int rc)
{
    if (rc < -4095)
        return vsn_sim_strerror(rc);
    return rc < 0 ? strerror(-rc) : "ok";
}

vsn_sd_config vsn_sd_config_default(uint32_t flags)
{
    vsn_sd_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.flags = flags;
    return c;
}

void vsn_sd_hdr(struct vsn_virtio_vsock_hdr *h, uint64_t src_cid, uint32_t src_port,
                uint32_t dst_port, uint32_t len, uint16_t op)
{
    memset(h, 0, sizeof *h);
    h->src_cid = htole64(src_cid);
    h->dst_cid = htole64(2);
    h->src_port = htole32(src_port);
    h->dst_port = htole32(dst_port);
    h->len = htole32(len);
    h->type = htole16(VSN_VIRTIO_VSOCK_TYPE_STREAM);
    h->op = htole16(op);
    h->buf_alloc = htole32(65536);
}

static void stderr_log(void *user, int32_t level, const char *message)
{
    (void)user;
    fprintf(stderr, "[vsn %d] %s\n", level, message);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static bool valid_index(const vsn_sd *sd, uint32_t index)
{
    return sd != NULL && index < VSN_QUEUE_COUNT;
}

/* ---- notifications --------------------------------------------------------------------- */

/* The simulator's notifier: one kick, as an eventfd write or a vsn_queue_notify call. */
static int sd_notify(void *user, uint16_t queue_index)
{
    struct sd_port *p = user;
    int rc = 0;
    (void)queue_index;
    if (p->kick_fd >= 0) {
        uint64_t one = 1;
        if (write(p->kick_fd, &one, sizeof one) != (ssize_t)sizeof one)
            rc = -errno;
    } else {
        rc = vsn_queue_notify(p->sd->dev, p->index);
    }
    if (rc < 0)
        p->kick_error = rc;
    else
        p->kicks++;
    return rc;
}

/* The device's interrupt_fn: count, and wake a thread-mode waiter. */
static void sd_interrupt(void *user, uint32_t queue_index)
{
    struct sd_port *p = user;
    (void)queue_index;
    atomic_fetch_add_explicit(&p->irqs_cb, 1, memory_order_release);
    if (p->wake_fd >= 0) {
        uint64_t one = 1;
        (void)!write(p->wake_fd, &one, sizeof one);
    }
    if (p->hook != NULL)
        p->hook(p->hook_user, queue_index);
}

int vsn_sd_set_irq_hook(vsn_sd *sd, uint32_t index, vsn_sd_irq_hook fn, void *user)
{
    if (!valid_index(sd, index))
        return VSN_SIM_E_ARG;
    sd->port[index].hook = fn;
    sd->port[index].hook_user = user;
    return 0;
}

uint64_t vsn_sd_kicks(const vsn_sd *sd, uint32_t index)
{
    return valid_index(sd, index) ? sd->port[index].kicks : 0;
}

int vsn_sd_kick_error(const vsn_sd *sd, uint32_t index)
{
    return valid_index(sd, index) ? sd->port[index].kick_error : 0;
}

uint64_t vsn_sd_irqs(vsn_sd *sd, uint32_t index)
{
    if (!valid_index(sd, index))
        return 0;
    struct sd_port *p = &sd->port[index];
    if (p->call_fd < 0)
        return atomic_load_explicit(&p->irqs_cb, memory_order_acquire);
    uint64_t v;
    while (read(p->call_fd, &v, sizeof v) == (ssize_t)sizeof v)
        p->irqs_fd += v;
    return p->irqs_fd;
}

/* Waits up to timeout_ms for the queue's interrupt fd; 1 ready, 0 timeout, -errno. */
static int wait_irq_fd(struct sd_port *p, int timeout_ms)
{
    int fd = p->call_fd >= 0 ? p->call_fd : p->wake_fd;
    if (fd < 0)
        return -EINVAL;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n > 0) {
        uint64_t v;
        if (read(fd, &v, sizeof v) == (ssize_t)sizeof v && fd == p->call_fd)
            p->irqs_fd += v; /* counted here so a stale readable fd never spins a waiter */
    }
    return n > 0 ? 1 : 0;
}

int vsn_sd_progress(vsn_sd *sd, uint32_t index, int timeout_ms)
{
    if (!valid_index(sd, index))
        return -EINVAL;
    if (!(sd->cfg.flags & VSN_SD_F_THREAD))
        return vsn_device_poll(sd->dev, timeout_ms);
    return wait_irq_fd(&sd->port[index], timeout_ms);
}

/* ---- device configuration -------------------------------------------------------------- */

static int create_device(vsn_sd *sd)
{
    vsn_device_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.flags = (sd->cfg.flags & VSN_SD_F_THREAD) ? 0 : VSN_DEVICE_F_MANUAL_POLL;
    c.guest_cid = sd->cfg.guest_cid;
    c.log_fn = sd->cfg.log_fn;
    c.log_user = sd->cfg.log_user;
    c.log_level = sd->cfg.log_level;
    if (c.log_fn == NULL && getenv("VSN_SD_LOG") != NULL) {
        c.log_fn = stderr_log;
        c.log_level = VSN_LOG_DEBUG;
    }
    return vsn_device_create(&c, &sd->dev);
}

static int setup_queue(vsn_sd *sd, struct sd_port *p)
{
    vsn_queue_config qc = vsn_sim_bind_queue(p->q, p->kick_fd, p->call_fd);
    qc.interrupt_fn = p->call_fd >= 0 ? NULL : sd_interrupt;
    qc.interrupt_user = p;
    return vsn_queue_setup(sd->dev, p->index, &qc);
}

int vsn_sd_configure(vsn_sd *sd)
{
    if (sd == NULL)
        return -EINVAL;
    int rc = vsn_device_set_mem_table(sd->dev, sd->table, sd->ntable);
    if (rc == 0)
        rc = vsn_device_set_features(sd->dev, sd->cfg.features);
    for (uint32_t i = 0; rc == 0 && i < VSN_QUEUE_COUNT; i++)
        if (sd->port[i].q != NULL)
            rc = setup_queue(sd, &sd->port[i]);
    return rc;
}

int vsn_sd_create(const vsn_sd_config *cfg, vsn_sim_mem *mem, const vsn_mem_region *extra,
                  uint32_t nextra, vsn_sd **out)
{
    if (cfg == NULL || cfg->struct_size < sizeof *cfg || mem == NULL || out == NULL ||
        (nextra > 0 && extra == NULL))
        return VSN_SIM_E_ARG;
    vsn_sd *sd = calloc(1, sizeof *sd);
    if (sd == NULL)
        return -ENOMEM;
    sd->cfg = *cfg;
    if (sd->cfg.guest_cid == 0)
        sd->cfg.guest_cid = 3;
    if (sd->cfg.features == 0)
        sd->cfg.features = VSN_SD_DEFAULT_FEATURES;
    sd->mem = mem;
    for (uint32_t i = 0; i < VSN_QUEUE_COUNT; i++) {
        sd->port[i].sd = sd;
        sd->port[i].index = i;
        sd->port[i].kick_fd = sd->port[i].call_fd = sd->port[i].wake_fd = -1;
        atomic_init(&sd->port[i].irqs_cb, 0);
    }
    uint32_t n;
    vsn_sim_mem_regions(mem, &n);
    sd->table = calloc(n + nextra, sizeof *sd->table);
    if (sd->table == NULL) {
        free(sd);
        return -ENOMEM;
    }
    vsn_sim_bind_regions(mem, sd->table, n);
    for (uint32_t i = 0; i < nextra; i++)
        sd->table[n + i] = extra[i];
    sd->ntable = n + nextra;
    int rc = create_device(sd);
    if (rc == 0)
        rc = vsn_sd_configure(sd);
    if (rc != 0) {
        vsn_sd_destroy(&sd);
        return rc;
    }
    *out = sd;
    return 0;
}

void vsn_sd_destroy(vsn_sd **psd)
{
    if (psd == NULL || *psd == NULL)
        return;
    vsn_sd *sd = *psd;
    if (sd->dev != NULL) {
        (void)vsn_device_stop(sd->dev);
        (void)vsn_device_destroy(sd->dev);
        sd->dev = NULL;
    }
    for (uint32_t i = 0; i < VSN_QUEUE_COUNT; i++) {
        struct sd_port *p = &sd->port[i];
        vsn_sim_queue_destroy(&p->q);
        close_fd(&p->kick_fd);
        close_fd(&p->call_fd);
        close_fd(&p->wake_fd);
    }
    free(sd->table);
    free(sd);
    *psd = NULL;
}

vsn_device *vsn_sd_device(const vsn_sd *sd)
{
    return sd != NULL ? sd->dev : NULL;
}

uint32_t vsn_sd_flags(const vsn_sd *sd)
{
    return sd != NULL ? sd->cfg.flags : 0;
}

vsn_sim_queue *vsn_sd_queue(const vsn_sd *sd, uint32_t index)
{
    return valid_index(sd, index) ? sd->port[index].q : NULL;
}

/* Creates the port's eventfds the flags ask for (once; they survive reconnects). */
static int open_fds(vsn_sd *sd, struct sd_port *p)
{
    int *want[3] = { NULL, NULL, NULL };
    if (sd->cfg.flags & VSN_SD_F_KICK_FD)
        want[0] = &p->kick_fd;
    if (sd->cfg.flags & VSN_SD_F_CALL_FD)
        want[1] = &p->call_fd;
    else if (sd->cfg.flags & VSN_SD_F_THREAD)
        want[2] = &p->wake_fd;
    for (int i = 0; i < 3; i++) {
        if (want[i] == NULL || *want[i] >= 0)
            continue;
        *want[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (*want[i] < 0)
            return -errno;
    }
    return 0;
}

static int make_queue(vsn_sd *sd, struct sd_port *p, uint16_t size, uint64_t sim_features)
{
    vsn_sim_queue_config qc = { sizeof qc, size, (uint16_t)p->index, sim_features, sd_notify, p };
    vsn_sim_queue *q = NULL;
    int rc = open_fds(sd, p);
    if (rc == 0)
        rc = vsn_sim_queue_create(sd->mem, &qc, &q);
    if (rc != 0)
        return rc;
    vsn_sim_queue_destroy(&p->q);
    p->q = q;
    p->sim_features = sim_features;
    return setup_queue(sd, p);
}

int vsn_sd_add_queue_ex(vsn_sd *sd, uint32_t index, uint16_t size, uint64_t sim_features,
                        vsn_sim_queue **out)
{
    if (!valid_index(sd, index) || out == NULL)
        return VSN_SIM_E_ARG;
    if (sd->port[index].q != NULL)
        return VSN_SIM_E_ARG;
    int rc = make_queue(sd, &sd->port[index], size, sim_features);
    *out = sd->port[index].q;
    return rc;
}

int vsn_sd_add_queue(vsn_sd *sd, uint32_t index, uint16_t size, vsn_sim_queue **out)
{
    if (sd == NULL)
        return VSN_SIM_E_ARG;
    uint64_t ring = sd->cfg.features & ((1ull << VSN_VIRTIO_RING_F_INDIRECT_DESC) |
                                        (1ull << VSN_VIRTIO_RING_F_EVENT_IDX));
    return vsn_sd_add_queue_ex(sd, index, size, ring, out);
}

int vsn_sd_renew_queue(vsn_sd *sd, uint32_t index, vsn_sim_queue **out)
{
    if (!valid_index(sd, index) || out == NULL || sd->port[index].q == NULL)
        return VSN_SIM_E_ARG;
    vsn_sim_queue_layout lay;
    vsn_sim_queue_layout_get(sd->port[index].q, &lay);
    int rc = make_queue(sd, &sd->port[index], lay.queue_size, sd->port[index].sim_features);
    *out = sd->port[index].q;
    return rc;
}

int vsn_sd_reconnect(vsn_sd *sd)
{
    if (sd == NULL)
        return -EINVAL;
    if (sd->dev != NULL) {
        int rc = vsn_device_destroy(sd->dev);
        sd->dev = NULL;
        if (rc != 0)
            return rc;
    }
    int rc = create_device(sd);
    return rc == 0 ? vsn_sd_configure(sd) : rc;
}

int vsn_sd_start(vsn_sd *sd)
{
    return sd != NULL ? vsn_device_start(sd->dev) : -EINVAL;
}

int vsn_sd_stop(vsn_sd *sd)
{
    return sd != NULL ? vsn_device_stop(sd->dev) : -EINVAL;
}

int vsn_sd_device_counters(const vsn_sd *sd, vsn_device_counter_values *out)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    int rc = vsn_device_get_counters(sd->dev, &c);
    if (rc == 0)
        *out = c.values;
    return rc;
}

int vsn_sd_conn_counters(const vsn_sd *sd, vsn_connection_layer_counter_values *out)
{
    vsn_device_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    int rc = vsn_device_get_counters(sd->dev, &c);
    if (rc == 0)
        *out = c.connections;
    return rc;
}

int vsn_sd_queue_counters(const vsn_sd *sd, uint32_t index, vsn_queue_counter_values *out)
{
    vsn_queue_counters c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    int rc = vsn_queue_get_counters(sd->dev, index, &c);
    if (rc == 0)
        *out = c.values;
    return rc;
}

/* ---- the driver's reap loop ------------------------------------------------------------ */

/* Reaps everything pending; returns the number reaped or a fatal simulator error. */
static int reap_pending(vsn_sim_queue *q, uint32_t room, vsn_sd_used_fn fn, void *user)
{
    int n = 0;
    vsn_sim_used u;
    while ((uint32_t)n < room) {
        int rc = vsn_sim_queue_reap(q, &u, NULL, 0);
        if (rc == 0)
            break;
        if (rc != 1 && rc != VSN_SIM_E_USED_LEN)
            return rc;
        if (fn != NULL)
            fn(user, &u);
        n++;
    }
    return n;
}

int vsn_sd_reap(vsn_sd *sd, uint32_t index, uint32_t want, int timeout_ms, uint32_t flags,
                vsn_sd_used_fn fn, void *user, uint32_t *got)
{
    if (!valid_index(sd, index) || sd->port[index].q == NULL)
        return VSN_SIM_E_ARG;
    struct sd_port *p = &sd->port[index];
    bool thread = (sd->cfg.flags & VSN_SD_F_THREAD) != 0;
    int64_t deadline = vsn_sd_now_ms() + timeout_ms;
    uint32_t done = 0;
    int rc = 0;
    for (;;) {
        int n = reap_pending(p->q, want - done, fn, user);
        if (n < 0) {
            rc = n;
            break;
        }
        done += (uint32_t)n;
        if (done >= want)
            break;
        int64_t left = deadline - vsn_sd_now_ms();
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        int slice = left > 100 ? 100 : (int)left;
        if (!thread) {
            int prc = vsn_device_poll(sd->dev, slice);
            if (prc < 0) {
                rc = prc;
                break;
            }
        } else if (flags & VSN_SD_REAP_KEEP_IRQ) {
            (void)wait_irq_fd(p, 1); /* bounded poll: interrupts may be suppressed */
        } else if (vsn_sim_queue_enable_interrupts(p->q) == 0) {
            /* like virtqueue_enable_cb(): nothing pending after re-enabling, so sleep on the
             * interrupt; a device that owes one and does not send it times this loop out */
            int wrc = wait_irq_fd(p, slice);
            if (wrc < 0) {
                rc = wrc;
                break;
            }
        }
    }
    if (got != NULL)
        *got = done;
    return rc;
}
