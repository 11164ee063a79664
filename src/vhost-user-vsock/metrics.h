/*
 * metrics.h: the daemon's counters, as a JSON file (--metrics PATH, like Firecracker's metrics
 * file) and as log lines (SIGUSR1). The file holds one JSON object: a timestamp and, per VM, the
 * vhost-user session, the device's counters, each ring's counters, the counters of every ended
 * connection added up, and the open connections. It is written to PATH.tmp and renamed over PATH,
 * so a reader sees the previous file or the new one, never half of one.
 */
#ifndef VU_METRICS_H
#define VU_METRICS_H

#include "vm.h"

/* Writes the file. 0 or -errno (the reason logged). */
int metrics_write(const char *path, vm *vms, unsigned n);

/* Logs one line per VM with the main figures in words. */
void metrics_log(vm *vms, unsigned n);

#endif
