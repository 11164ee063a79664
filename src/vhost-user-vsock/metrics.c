/* metrics.c: the metrics file and the SIGUSR1 log lines (see metrics.h). */
#include "metrics.h"
#include "metrics_fields.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(vsn_device_counter_values) == 8 * VSN_DEVICE_COUNTER_VALUES_COUNT, "device counters");
_Static_assert(sizeof(vsn_connection_layer_counter_values) == 8 * VSN_CONNECTION_LAYER_COUNTER_VALUES_COUNT, "connection layer counters");
_Static_assert(sizeof(vsn_dgram_counter_values) == 8 * VSN_DGRAM_COUNTER_VALUES_COUNT, "datagram counters");
_Static_assert(sizeof(vsn_connection_counter_values) == 8 * VSN_CONNECTION_COUNTER_VALUES_COUNT, "connection counters");
_Static_assert(sizeof(vsn_queue_counter_values) == 8 * VSN_QUEUE_COUNTER_VALUES_COUNT, "queue counters");
_Static_assert(sizeof(vsn_syscall_counter_values) == 8 * VSN_SYSCALL_COUNTER_VALUES_COUNT, "syscall counters");

#define VU_QUEUES 3u  /* rx, tx, event */

/* Emits `"name": value` pairs of one counter struct; first tells whether a comma is due. */
#define FIELD(name) fprintf(f, "%s\"" #name "\": %llu", first ? "" : ", ", (unsigned long long)c->name), first = 0;
#define COUNTERS_FN(fn, type, list)                                                   \
    static void fn(FILE *f, const type *c)                                            \
    {                                                                                 \
        int first = 1;                                                                \
        fputc('{', f);                                                                \
        list(FIELD)                                                                   \
        fputc('}', f);                                                                \
    }
COUNTERS_FN(put_device, vsn_device_counter_values, VSN_DEVICE_COUNTER_VALUES)
COUNTERS_FN(put_conn_layer, vsn_connection_layer_counter_values, VSN_CONNECTION_LAYER_COUNTER_VALUES)
COUNTERS_FN(put_dgram, vsn_dgram_counter_values, VSN_DGRAM_COUNTER_VALUES)
COUNTERS_FN(put_connection, vsn_connection_counter_values, VSN_CONNECTION_COUNTER_VALUES)
COUNTERS_FN(put_queue, vsn_queue_counter_values, VSN_QUEUE_COUNTER_VALUES)
COUNTERS_FN(put_syscalls, vsn_syscall_counter_values, VSN_SYSCALL_COUNTER_VALUES)
COUNTERS_FN(put_resources, vsn_resource_counter_values, VSN_RESOURCE_COUNTER_VALUES)

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The open connections (allocated; *count set), or NULL when there are none or on failure. */
static vsn_connection_info *connections(vm *v, uint32_t *count)
{
    *count = 0;
    uint32_t total = 0;
    if (vsn_device_get_connections(v->dev, NULL, 0, sizeof(vsn_connection_info), &total) < 0 || total == 0) return NULL;
    total += 16;  /* room for connections opened meanwhile */
    vsn_connection_info *infos = calloc(total, sizeof *infos);
    if (infos == NULL) return NULL;
    int32_t n = vsn_device_get_connections(v->dev, infos, total, sizeof *infos, NULL);
    if (n <= 0) {
        free(infos);
        return NULL;
    }
    *count = (uint32_t)n;
    return infos;
}

static const char *state_name(uint32_t s)
{
    static const char *names[] = { "connecting", "accepting", "established", "closing", "resetting", "closed" };
    return s < sizeof names / sizeof *names ? names[s] : "?";
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void put_vm(FILE *f, vm *v)
{
    vsn_device_counters dc = { .struct_size = sizeof dc };
    vsn_device_get_counters(v->dev, &dc);
    fprintf(f, "{\"guest_cid\": %llu, \"socket\": ", (unsigned long long)v->opt->guest_cid);
    put_string(f, v->opt->socket);
    fprintf(f, ", \"status\": %u, \"frontend_connected\": %s, ", dc.status, load(&v->connected) ? "true" : "false");
    fprintf(f, "\"vhost_user\": {\"frontends\": %llu, \"messages\": %llu, \"rejected\": %llu, \"starts\": %llu, \"stops\": %llu, "
               "\"regions_sealed\": %llu, \"regions_unsealed\": %llu}, ",
            (unsigned long long)load(&v->connections), (unsigned long long)load(&v->backend.stats.messages),
            (unsigned long long)load(&v->backend.stats.rejected), (unsigned long long)load(&v->backend.stats.starts),
            (unsigned long long)load(&v->backend.stats.stops), (unsigned long long)load(&v->backend.stats.regions_sealed),
            (unsigned long long)load(&v->backend.stats.regions_unsealed));
    if (v->fwd_open)
        fprintf(f, "\"forward\": {\"forward_cid\": %u, \"to_host_opened\": %llu, \"to_host_refused\": %llu, "
                   "\"to_guest_opened\": %llu, \"to_guest_refused\": %llu}, ",
                v->opt->forward_cid, (unsigned long long)load(&v->fwd.to_host_opened),
                (unsigned long long)load(&v->fwd.to_host_refused), (unsigned long long)load(&v->fwd.to_guest_opened),
                (unsigned long long)load(&v->fwd.to_guest_refused));
    fputs("\"device\": ", f);
    put_device(f, &dc.values);
    fputs(", \"connection_layer\": ", f);
    put_conn_layer(f, &dc.connections);
    fputs(", \"datagrams\": ", f);
    put_dgram(f, &dc.datagrams);
    fputs(", \"ended_connections\": ", f);
    put_connection(f, &dc.ended_connections);
    fputs(", \"syscalls\": ", f);
    put_syscalls(f, &dc.syscalls);
    fputs(", \"resources\": ", f);
    put_resources(f, &dc.resources);
    fputs(", \"queues\": [", f);
    for (uint32_t q = 0; q < VU_QUEUES; q++) {
        vsn_queue_counters qc = { .struct_size = sizeof qc };
        if (vsn_queue_get_counters(v->dev, q, &qc) < 0) continue;
        fprintf(f, "%s{\"index\": %u, \"counters\": ", q ? ", " : "", q);
        put_queue(f, &qc.values);
        fputc('}', f);
    }
    uint32_t n;
    vsn_connection_info *infos = connections(v, &n);
    fprintf(f, "], \"open_connections\": %u, \"connections\": [", n);
    for (uint32_t i = 0; i < n; i++) {
        const vsn_connection_info *c = &infos[i];
        fprintf(f,
                "%s{\"host_cid\": %llu, \"host_port\": %u, \"guest_port\": %u, \"type\": \"%s\", \"state\": \"%s\", "
                "\"host_initiated\": %s, \"buf_alloc\": %u, \"peer_buf_alloc\": %u, \"buffered_to_host\": %u, \"counters\": ",
                i ? ", " : "", (unsigned long long)c->host_cid, c->host_port, c->guest_port,
                c->type == VSN_VIRTIO_VSOCK_TYPE_SEQPACKET ? "seqpacket" : "stream", state_name(c->state),
                c->host_initiated ? "true" : "false", c->buf_alloc, c->peer_buf_alloc, c->buffered_to_host);
        put_connection(f, &c->counters);
        fputc('}', f);
    }
    free(infos);
    fputs("]}", f);
}

int metrics_write(const char *path, vm *vms, unsigned n)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "we");
    if (f == NULL) {
        int err = errno;
        vu_log(VSN_LOG_WARN, "metrics: cannot write %s: %s", tmp, strerror(err));
        return -err;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fprintf(f, "{\"utc_timestamp_ms\": %lld, \"vms\": [", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    for (unsigned i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        put_vm(f, &vms[i]);
    }
    fputs("]}\n", f);
    int rc = 0;
    if (fflush(f) != 0 || ferror(f)) rc = -errno;
    if (fclose(f) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0) rc = -errno;
    if (rc < 0) {
        vu_log(VSN_LOG_WARN, "metrics: cannot write %s: %s", path, strerror(-rc));
        unlink(tmp);
    }
    return rc;
}

void metrics_log(vm *vms, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        vm *v = &vms[i];
        vsn_device_counters dc = { .struct_size = sizeof dc };
        vsn_device_get_counters(v->dev, &dc);
        uint32_t open = 0;
        vsn_device_get_connections(v->dev, NULL, 0, sizeof(vsn_connection_info), &open);
        const vsn_connection_counter_values *e = &dc.ended_connections;
        vu_log(VSN_LOG_INFO,
               "%s: frontend %s, device %s, %llu vhost-user message(s) (%llu rejected), %u open connection(s); "
               "ended connections: %llu bytes from the guest, %llu to the guest, %llu resets sent, %llu received",
               v->name, load(&v->connected) ? "connected" : "not connected",
               (dc.status & VSN_DEVICE_STATUS_NEEDS_RESET) ? "needs a reset"
               : (dc.status & VSN_DEVICE_STATUS_RUNNING)   ? "running"
                                                           : "stopped",
               (unsigned long long)load(&v->backend.stats.messages), (unsigned long long)load(&v->backend.stats.rejected), open,
               (unsigned long long)e->bytes_from_guest, (unsigned long long)e->bytes_to_guest,
               (unsigned long long)e->resets_sent, (unsigned long long)e->resets_received);
    }
}
